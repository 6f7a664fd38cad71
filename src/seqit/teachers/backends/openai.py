"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM serve, TGI, Ollama, `transformers serve`, ...)
through the official `openai.AsyncOpenAI` client.

The client's own retries are disabled (`max_retries=0`): the teacher's retry loop is the only one,
so budgets and Retry-After handling are in one place. The request -> payload and response ->
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


def auth_hint(cfg: TeacherConfig) -> str:
    """What to check after a 401/403, naming the env var that was (or was not) sent."""
    name = key_env_name(cfg)
    if name is None and cfg.api_key_env == AUTO_KEY_ENV:
        return (f"no API key was sent: the default {DEFAULT_KEY_ENV} goes only to {OPENAI_API_HOST}; if this server "
                "needs a key, set teacher.api_key_env (--api-key-env) to the NAME of the env var holding it")
    if name is None:
        return "no API key was sent (api_key_env is null); set teacher.api_key_env if this server needs one"
    return f"check the API key in ${name} and the base_url"


def _http_client(openai: Any, max_concurrency: int, timeout_s: float) -> Any:
    """The client's default HTTP client with a connection pool sized for `max_concurrency`
    (the default keeps only 100 connections alive, so more concurrency would reconnect constantly)."""
    client_cls = openai.DefaultAsyncHttpxClient
    try:
        httpx = importlib.import_module(client_cls.__mro__[1].__module__.split(".")[0])
        limits = httpx.Limits(max_connections=max(1000, 2 * max_concurrency),
                              max_keepalive_connections=max(100, max_concurrency))
        return client_cls(limits=limits, timeout=timeout_s)
    except (ImportError, AttributeError, TypeError):
        log.debug("openai backend: using the default HTTP connection pool")
        return None


class OpenAIBackend:
    name = "openai"

    def __init__(self, cfg: TeacherConfig):
        import openai

        self._openai = openai
        self.cfg = cfg
        key = api_key_from_env(cfg)
        self.secrets = [key] if key else []
        self.secrets += _url_password(cfg.base_url)
        # local servers usually ignore the key; the client insists on a non-empty one
        self.client = openai.AsyncOpenAI(
            api_key=key or "EMPTY",
            base_url=cfg.base_url,
            max_retries=0,
            timeout=cfg.timeout_s,
            http_client=_http_client(openai, cfg.max_concurrency, cfg.timeout_s),
        )

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        openai = self._openai
        payload = build_payload(req, self.cfg)
        payload["model"] = model
        t0 = time.monotonic()
        try:
            # the client's timeout is per network operation; this bounds the whole exchange too
            # (a server trickling bytes slowly would otherwise never time out)
            raw = await asyncio.wait_for(
                self.client.chat.completions.with_raw_response.create(**payload, extra_body=self.cfg.extra_body or None),
                timeout=self.cfg.timeout_s * 2,
            )
            text = raw.http_response.text
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise BackendError(f"timed out after {self.cfg.timeout_s:g}s", retryable=True) from None
        except openai.APIConnectionError as e:
            raise BackendError(self._clean(f"connection error: {e}"), retryable=True) from None
        except openai.APIStatusError as e:
            raise self._status_error(e) from None
        latency = time.monotonic() - t0
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise BackendError(f"unparseable response: not JSON: {text[:120]!r}", retryable=True) from None
        return parse_response(body, req.id, model, n=req.n, latency_s=latency)

    def _status_error(self, e: Any) -> BackendError:
        status = int(e.status_code)
        headers = e.response.headers
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is None and headers.get("retry-after-ms"):
            try:
                retry_after = float(headers["retry-after-ms"]) / 1000.0
            except ValueError:
                retry_after = None
        auth = status in (401, 403)
        msg = f"HTTP {status}: {e.message}"
        if auth:
            msg += f" ({auth_hint(self.cfg)})"
        return BackendError(
            self._clean(msg), retryable=is_retryable_status(status), status=status, retry_after=retry_after, auth=auth
        )

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)[:500]

    async def aclose(self) -> None:
        await self.client.close()
