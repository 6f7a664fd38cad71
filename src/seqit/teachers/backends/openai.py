"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM serve, TGI, Ollama, `transformers serve`, ...)
through the official `openai.AsyncOpenAI` client.

Chat completions are plain POSTs on the client's own HTTP client (its pool, headers and base_url),
without the SDK's per-call argument transform; the SDK client itself serves the Files and Batches
APIs (`teacher.mode: batch`). The client's own retries are disabled (`max_retries=0`): the teacher's
retry loop is the only one, so budgets and Retry-After handling are in one place. The request -> payload and response ->
Completion mappings are pure functions (`build_payload`, `parse_response`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import time
from typing import Any

from seqit.errors import ConfigError
from seqit.teachers.errors import BackendError, is_retryable_status, parse_retry_after, redact
from seqit.teachers.types import (
    AUTO_KEY_ENV,
    DEFAULT_KEY_ENV,
    OPENAI_API_HOST,
    ChatRequest,
    Completion,
    TeacherConfig,
    Usage,
    is_openai_api,
    key_env_name,
)

try:  # imported with this module (built only when an openai teacher is), not on the first request
    import aiohttp
except ImportError:  # pragma: no cover - aiohttp is a dependency; httpx is the fallback
    aiohttp = None

log = logging.getLogger(__name__)


def build_payload(req: ChatRequest, cfg: TeacherConfig) -> dict[str, Any]:
    """The JSON body of POST /chat/completions for `req` (extra_body is sent separately)."""
    payload: dict[str, Any] = {
        "model": req.model or cfg.model,
        "messages": [dict(m) for m in req.messages],
        "temperature": req.temperature,
        "top_p": req.top_p,
        cfg.openai.max_tokens_param: req.max_tokens,
    }
    if req.n != 1:
        payload["n"] = req.n
    if req.stop:
        payload["stop"] = list(req.stop)
    if req.seed is not None:
        payload["seed"] = req.seed
    if req.response_format is not None:
        payload["response_format"] = dict(req.response_format)
    return payload


def parse_response(body: Any, request_id: str, model: str, n: int = 1, latency_s: float = 0.0) -> Completion:
    """A chat.completion JSON body -> Completion; a body we cannot use raises a BackendError
    (retryable when it is malformed, not retryable when the server answered but refused)."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        snippet = json.dumps(body)[:200] if not isinstance(body, str) else body[:200]
        raise BackendError(f"unparseable response: no 'choices' list in {snippet}", retryable=True)
    choices = sorted(body["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    texts, reasons = [], []
    for i, choice in enumerate(choices):
        msg = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(msg, dict):
            raise BackendError(f"unparseable response: choice {i} has no 'message'", retryable=True)
        if msg.get("content") is None and msg.get("refusal"):
            raise BackendError(f"the model refused: {str(msg['refusal'])[:200]}", retryable=False)
        texts.append(msg.get("content") or "")
        reasons.append(str(choice.get("finish_reason") or "stop"))
    if len(texts) < n:
        raise BackendError(
            f"the server returned {len(texts)} choices for n={n} (it may not support n > 1)", retryable=False
        )
    usage = body.get("usage") or {}
    return Completion(
        request_id=request_id,
        texts=texts[:n],
        finish_reasons=reasons[:n],
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        model=str(body.get("model") or model),
        latency_s=latency_s,
    )


def api_key_from_env(cfg: TeacherConfig) -> str | None:
    """The API key from the env var NAMED in config (see `key_env_name`: the default OPENAI_API_KEY goes only to
    OpenAI's API); ConfigError when OpenAI's API is the target and there is no key."""
    name = key_env_name(cfg)
    key = os.environ.get(name) if name else None
    if not key and is_openai_api(cfg.base_url):
        raise ConfigError(
            f"teacher.api_key_env: the environment variable {name or '(none configured)'} is not set "
            f"and the target is OpenAI's API ({OPENAI_API_HOST}); export the key or point base_url at a local server"
        )
    return key or None


def _url_password(url: str | None) -> list[str]:
    """The password embedded in a base_url (http://user:pass@host), to redact wherever it shows up."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        return []
    return [password] if password else []


def _has_userinfo(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return bool(parts.username or parts.password)
    except ValueError:
        return False


def auth_hint(cfg: TeacherConfig) -> str:
    """What to check after a 401/403, naming the env var that was (or was not) sent."""
    name = key_env_name(cfg)
    if name is None and cfg.api_key_env == AUTO_KEY_ENV:
        return (f"no API key was sent: the default {DEFAULT_KEY_ENV} goes only to {OPENAI_API_HOST}; if this server "
                "needs a key, set teacher.api_key_env (--api-key-env) to the NAME of the env var holding it")
    if name is None:
        return "no API key was sent (api_key_env is null); set teacher.api_key_env if this server needs one"
    return f"check the API key in ${name} and the base_url"


def _httpx_module(openai: Any) -> Any:
    """The httpx package the openai client is built on (its default HTTP client subclasses httpx's)."""
    return importlib.import_module(openai.DefaultAsyncHttpxClient.__mro__[1].__module__.split(".")[0])


def _http_client(openai: Any, max_concurrency: int, timeout_s: float) -> Any:
    """The client's default HTTP client with a connection pool sized for `max_concurrency`
    (the default keeps only 100 connections alive, so more concurrency would reconnect constantly)."""
    httpx = _httpx_module(openai)
    limits = httpx.Limits(max_connections=max(1000, 2 * max_concurrency),
                          max_keepalive_connections=max(100, max_concurrency))
    return openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout_s)


def http_transport(choice: str) -> str:
    """"aiohttp" (the fast path; a dependency) or "httpx" (the openai client's own transport)."""
    if choice == "auto":
        return "aiohttp" if aiohttp is not None else "httpx"
    if choice == "aiohttp" and aiohttp is None:
        raise ConfigError("teacher.openai.http: aiohttp is not installed (pip install aiohttp, or use httpx)")
    return choice


def error_message(text: str) -> str:
    """The provider's reason from an error body ({"error": {"message": ...}}), else the body's start."""
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text[:200]
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str):
        return err
    return text[:200]


def base_url_for(cfg: TeacherConfig) -> str:
    """The API root: teacher.base_url, else $OPENAI_BASE_URL, else the official API (like the SDK)."""
    return (cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")


def request_headers(key: str | None) -> dict[str, str]:
    """Headers of every request (the SDK's auth and org/project headers; the key never leaves here)."""
    from seqit import __version__

    headers = {"Authorization": f"Bearer {key or 'EMPTY'}", "Content-Type": "application/json",
               "Accept": "application/json", "User-Agent": f"seqit/{__version__}"}
    for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        if os.environ.get(env):
            headers[header] = os.environ[env]
    return headers


class OpenAIBackend:
    """Chat completions are plain POSTs (aiohttp, or the openai SDK's httpx client); the SDK client
    (`sdk()`, imported only when needed: importing openai costs ~1 s) serves the Files and Batches APIs."""

    name = "openai"

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        key = api_key_from_env(cfg)
        self._key = key
        self.secrets = [key] if key else []
        self.secrets += _url_password(cfg.base_url)
        self.base_url = base_url_for(cfg)
        self._url = self.base_url + "/chat/completions"
        self._headers = request_headers(key)
        self.transport = http_transport(cfg.openai.http)
        if self.transport == "aiohttp" and _has_userinfo(self.base_url):
            self.transport = "httpx"  # aiohttp refuses user:pass@ in the URL beside an Authorization header
        self._session: Any = None  # the aiohttp session, opened on first use (on the loop that uses it)
        self._client: Any = None
        if self.transport == "httpx":
            self.sdk()

    def sdk(self) -> Any:
        """The `openai.AsyncOpenAI` client (its own retries off), sharing one sized httpx pool."""
        if self._client is None:
            import openai

            self._httpx = _httpx_module(openai)
            self.http = _http_client(openai, self.cfg.max_concurrency, self.cfg.timeout_s)
            # local servers usually ignore the key; the client insists on a non-empty one
            self._client = openai.AsyncOpenAI(api_key=self._key or "EMPTY", base_url=self.base_url, max_retries=0,
                                              timeout=self.cfg.timeout_s, http_client=self.http)
        return self._client

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        payload = build_payload(req, self.cfg)
        payload["model"] = model
        if self.cfg.extra_body:
            payload.update(self.cfg.extra_body)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        t0 = time.monotonic()
        # a plain POST of our own JSON: `client.chat.completions.create` would first walk every argument
        # through the SDK's TypedDict transform and response machinery (~1.7 ms CPU per request vs
        # ~0.2 ms on aiohttp), which is what limits throughput when 32+ answers land at once.
        # The HTTP timeout is per network operation; wait_for bounds the whole exchange too (a server
        # trickling bytes slowly would otherwise never time out).
        post = self._post_aiohttp if self.transport == "aiohttp" else self._post_httpx
        try:
            status, headers, text = await asyncio.wait_for(post(data), timeout=self.cfg.timeout_s * 2)
        except asyncio.TimeoutError:
            raise BackendError(f"timed out after {self.cfg.timeout_s:g}s", retryable=True) from None
        if status >= 300:
            raise self._status_error(status, headers, text)
        latency = time.monotonic() - t0
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise BackendError(f"unparseable response: not JSON: {text[:120]!r}", retryable=True) from None
        return parse_response(body, req.id, model, n=req.n, latency_s=latency)

    async def _post_httpx(self, data: bytes) -> tuple[int, Any, str]:
        httpx = self._httpx
        try:
            resp = await self.http.post(self._url, content=data, headers=self._headers)
        except httpx.TimeoutException:
            raise BackendError(f"timed out after {self.cfg.timeout_s:g}s", retryable=True) from None
        except httpx.TransportError as e:
            raise BackendError(self._clean(f"connection error: {type(e).__name__}: {e}"), retryable=True) from None
        return resp.status_code, resp.headers, resp.text

    async def _post_aiohttp(self, data: bytes) -> tuple[int, Any, str]:
        if self._session is None or self._session.closed:  # created on the loop that uses it
            t = self.cfg.timeout_s
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(1000, 2 * self.cfg.max_concurrency)),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=t, sock_read=t),
            )
        try:
            async with self._session.post(self._url, data=data, headers=self._headers) as resp:
                raw = await resp.read()
                return resp.status, resp.headers, raw.decode("utf-8", errors="replace")
        except asyncio.TimeoutError:
            raise BackendError(f"timed out after {self.cfg.timeout_s:g}s", retryable=True) from None
        except aiohttp.ClientError as e:
            raise BackendError(self._clean(f"connection error: {type(e).__name__}: {e}"), retryable=True) from None

    def _status_error(self, status: int, headers: Any, text: str) -> BackendError:
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is None and headers.get("retry-after-ms"):
            try:
                retry_after = float(headers["retry-after-ms"]) / 1000.0
            except ValueError:
                retry_after = None
        auth = status in (401, 403)
        msg = f"HTTP {status}: {error_message(text)}"
        if auth:
            msg += f" ({auth_hint(self.cfg)})"
        return BackendError(
            self._clean(msg), retryable=is_retryable_status(status), status=status, retry_after=retry_after, auth=auth
        )

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)[:500]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._client is not None:
            await self._client.close()
