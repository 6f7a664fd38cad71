"""How a backend reports a failed attempt, and which failures are worth retrying."""

from __future__ import annotations

import re
from typing import Any

# HTTP statuses that are retried: timeouts, conflicts, rate limits and server errors.
RETRYABLE_STATUS = frozenset({408, 409, 429})


class BackendError(Exception):
    """One failed attempt. `retryable` decides whether the teacher tries again."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        auth: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.auth = auth


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret (len >= 4) and every credential inside a URL in `text` with '***'."""
    text = redact_url_credentials(text)
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


# scheme://user[:password]@host -> scheme://***@host (credentials embedded in a URL)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@'\"<>]+@")


def redact_url_credentials(text: str) -> str:
    """'http://user:pass@host/v1' -> 'http://***@host/v1' anywhere in `text` (URLs without credentials unchanged)."""
    return _URL_USERINFO.sub(r"\1***@", text) if "@" in text else text


def redact_tree(obj: Any) -> Any:
    """A copy of JSON-like data with URL credentials redacted in every string (keys included)."""
    if isinstance(obj, str):
        return redact_url_credentials(obj)
    if isinstance(obj, dict):
        return {redact_tree(k) if isinstance(k, str) else k: redact_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_tree(v) for v in obj]
    return obj
