"""The teacher protocol: ChatRequest in, Completion out, plus the config that picks a backend.

Plain dataclasses only (no I/O here), so every stage can import them without pulling in
`openai`, `torch` or `transformers`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from seqit.config import LocalOrName

Message = dict[str, str]
AUTO_KEY_ENV = "auto"  # TeacherConfig.api_key_env default; see key_env_name
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
OPENAI_API_HOST = "api.openai.com"
BackendName = Literal["openai", "hf", "vllm", "fake"]


@dataclass(frozen=True)
class ChatRequest:
    """One chat request. `messages` may be given as a list; it is stored as a tuple of dicts."""

    id: str
    messages: tuple[Message, ...]
    model: str | None = None  # None -> TeacherConfig.model
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1
    response_format: dict | None = None  # e.g. {"type": "json_object"}
    prompt_version: str = ""  # e.g. "selfseq.classify/v1"; part of the cache key

    def __post_init__(self) -> None:
        if not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ValueError(f"request {self.id}: n must be >= 1, got {self.n}")
        if self.max_tokens < 1:
            raise ValueError(f"request {self.id}: max_tokens must be >= 1, got {self.max_tokens}")

    def params(self) -> dict[str, Any]:
        """The sampling parameters (everything that changes the output except model and messages)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
            "n": self.n,
            "response_format": self.response_format,
        }


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """The result of one request. On failure `error` is set and `texts` is empty (never placeholder text)."""

    request_id: str
    texts: list[str]
    finish_reasons: list[str]
    usage: Usage
    model: str
    latency_s: float = 0.0
    error: str | None = None
    cached: bool = False
    attempts: int = 1

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def finish_reason(self) -> str | None:
        return self.finish_reasons[0] if self.finish_reasons else None


def failed(request_id: str, model: str, error: str, attempts: int = 1, latency_s: float = 0.0) -> Completion:
    """A recorded failure: no texts, the reason in `error`."""
    return Completion(request_id, [], [], Usage(), model, latency_s=latency_s, error=error, attempts=attempts)


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float = 0.0
    output: float = 0.0


@dataclass(frozen=True)
class HFSettings:
    """Local transformers generation (`backend: hf`); `TeacherConfig.model` is a local dir or hub id."""

    template: str | None = None  # None/"tokenizer" = the tokenizer's own; or tulu/chatml/llama3/alpaca
    batch_size: int = 8  # max requests per generate() call
    max_wait_ms: float = 5.0  # how long to wait for more queued requests before a batch starts
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "cpu"  # "cpu", "cuda", "cuda:0", ... ("auto" = cuda if available)
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("hf.batch_size must be >= 1")


@dataclass(frozen=True)
class VLLMSettings:
    """Offline vLLM engine (`backend: vllm`, needs `pip install 'seqit[vllm]'` and a GPU)."""

    template: str | None = None
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    dtype: str = "auto"
    trust_remote_code: bool = False
    batch_size: int = 256
    max_wait_ms: float = 20.0


@dataclass(frozen=True)
class OpenAISettings:
    """Wire details for `backend: openai`."""

    # newer OpenAI reasoning models accept only max_completion_tokens; most other servers want max_tokens
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # chat-completion transport: aiohttp (~0.2 ms CPU per request) when installed, else httpx (the
    # openai client's own, ~1 ms); both plain POSTs with the same headers and error mapping
    http: Literal["auto", "aiohttp", "httpx"] = "auto"


@dataclass(frozen=True)
class FakeSettings:
    """Scripted replies for `backend: fake` (dry runs): cycled in order; empty = echo the last user message."""

    replies: tuple[str, ...] = ()
    latency_s: float = 0.0


@dataclass(frozen=True)
class BatchSettings:
    """`mode: batch` (OpenAI-compatible backends): pending requests go through the provider's Batch API
    (Files upload -> batch -> poll -> output/error files), folded into the same ledger as streamed ones."""

    completion_window: str = "24h"
    discount: float = 0.5  # batch price = discount x teacher.prices (OpenAI: half price)
    max_requests: int = 50_000  # per batch (OpenAI's limit); more pending requests = more batches
    collect_s: float = 1.0  # a batch is submitted once no new request arrived for this long
    poll_s: float = 5.0  # first status poll; the interval grows x1.5 up to poll_max_s
    poll_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.discount <= 1:
            raise ValueError("batch.discount must be between 0 and 1")
        if self.max_requests < 1:
            raise ValueError("batch.max_requests must be >= 1")
        if self.poll_s <= 0 or self.poll_max_s < self.poll_s:
            raise ValueError("batch.poll_s must be > 0 and <= batch.poll_max_s")


@dataclass(frozen=True)
class TeacherConfig:
    """Which LLM answers and how hard we may push it. Nested under `teacher:` / `judge:` in stage configs."""

    backend: BackendName = "openai"
    mode: Literal["stream", "batch"] = "stream"  # batch: the provider's Batch API (openai backend; cheaper, slower)
    model: LocalOrName = ""  # a model name, or a local dir for hf/vllm (relative to the config file)
    base_url: str | None = None
    # NAME of the env var holding the key (the key itself never in config). "auto": OPENAI_API_KEY, sent only
    # to OpenAI's own API (no base_url, or an api.openai.com one); any other base_url gets no key unless named here
    api_key_env: str | None = AUTO_KEY_ENV
    max_concurrency: int = 16
    adaptive_concurrency: bool = True  # halve the concurrency on 429 bursts, creep back up on success (AIMD)
    min_concurrency: int = 1  # the floor the adaptive limit never cuts below
    rpm: int | None = None  # requests per minute (token bucket)
    tpm: int | None = None  # tokens per minute (estimate: prompt chars/4 + max_tokens, corrected by usage)
    timeout_s: float = 120.0
    max_retries: int = 6  # retries after the first attempt
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_budget_s: float | None = 600.0  # total seconds one request may spend retrying
    prices: dict[str, Price] = field(default_factory=dict)  # per model, USD per 1M tokens
    extra_body: dict[str, Any] = field(default_factory=dict)  # openai: extra JSON fields for the server
    openai: OpenAISettings = field(default_factory=OpenAISettings)
    hf: HFSettings = field(default_factory=HFSettings)
    vllm: VLLMSettings = field(default_factory=VLLMSettings)
    fake: FakeSettings = field(default_factory=FakeSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if not 1 <= self.min_concurrency <= self.max_concurrency:
            raise ValueError("min_concurrency must be between 1 and max_concurrency")
        if self.rpm is not None and self.rpm < 1:
            raise ValueError("rpm must be >= 1 (or null for no limit)")
        if self.tpm is not None and self.tpm < 1:
            raise ValueError("tpm must be >= 1 (or null for no limit)")
        if not self.timeout_s > 0:  # also refuses NaN
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        for name in ("backoff_base_s", "backoff_max_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.retry_budget_s is not None and not self.retry_budget_s >= 0:
            raise ValueError(f"retry_budget_s must be >= 0 (or null for no budget), got {self.retry_budget_s}")
        if self.api_key_env is not None and not self.api_key_env.strip():
            raise ValueError("api_key_env must name an environment variable (or be null for no key)")


FAKE_LABEL = "fake"  # the model name a fake backend's runs are reported (and priced: zero) under


def model_label(cfg: TeacherConfig) -> str:
    """The model name to report for `cfg`: "fake" for the fake backend (scripted replies are nobody's
    model: a smoke result must never pass for the configured model's), else the configured model."""
    return FAKE_LABEL if cfg.backend == "fake" else cfg.model


def is_openai_api(base_url: str | None) -> bool:
    """True for OpenAI's own API: no base_url (the client's default) or one whose host is api.openai.com."""
    if not base_url:
        return True
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(base_url.strip()).hostname or "").lower()
    except ValueError:
        return False
    return host == OPENAI_API_HOST


def key_env_name(cfg: TeacherConfig) -> str | None:
    """The env var whose value is sent as the API key, or None for no key.

    The default ("auto") is OPENAI_API_KEY for OpenAI's API only, so the user's OpenAI key never goes to a
    local server or a colleague's endpoint; any other base_url needs its key's env var named explicitly.
    """
    if cfg.api_key_env == AUTO_KEY_ENV:  # the URL requests really go to: base_url, else $OPENAI_BASE_URL
        return DEFAULT_KEY_ENV if is_openai_api(cfg.base_url or os.environ.get("OPENAI_BASE_URL")) else None
    return cfg.api_key_env


def content_hash(obj: Any, length: int = 32) -> str:
    """Hex sha256 of the canonical JSON of `obj` (sorted keys, compact)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def request_id(*parts: Any) -> str:
    """A stable id from any JSON-able parts, e.g. `request_id(item_id, "classify", messages)`."""
    return content_hash(list(parts), length=24)


def cache_key(req: ChatRequest, backend: str, model: str) -> str:
    """The ledger key: content hash of (backend, model, messages, params, prompt_version).

    Never includes the request id, base_url or any secret, so identical requests from different
    runs or stages share one ledger entry.
    """
    return content_hash(
        {
            "backend": backend,
            "model": model,
            "messages": list(req.messages),
            "params": req.params(),
            "prompt_version": req.prompt_version,
        },
        length=64,
    )
