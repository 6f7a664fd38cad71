"""The teacher LLM layer: one protocol (ChatRequest -> Completion), four backends (openai, hf,
vllm, fake), and wrappers every stage gets for free: durable SQLite ledger, concurrency + RPM/TPM
limits, bounded jittered retries honouring Retry-After, usage and cost.

    from seqit.teachers import ChatRequest, TeacherConfig, open_teacher

    async with open_teacher(cfg.teacher, ledger_path=run.file("ledger.sqlite")) as teacher:
        comp = await teacher.complete(ChatRequest(id="x1", messages=[{"role": "user", "content": "hi"}]))
        if comp.ok: ...
"""

from seqit.teachers.backends.fake import FakeBackend
from seqit.teachers.errors import BackendError
from seqit.teachers.ledger import Ledger
from seqit.teachers.teacher import Teacher, open_teacher
from seqit.teachers.types import (
    ChatRequest,
    Completion,
    FakeSettings,
    HFSettings,
    OpenAISettings,
    Price,
    TeacherConfig,
    Usage,
    VLLMSettings,
    cache_key,
    failed,
    request_id,
)
from seqit.teachers.usage import estimate_cost

__all__ = [
    "BackendError",
    "ChatRequest",
    "Completion",
    "FakeBackend",
    "FakeSettings",
    "HFSettings",
    "Ledger",
    "OpenAISettings",
    "Price",
    "Teacher",
    "TeacherConfig",
    "Usage",
    "VLLMSettings",
    "cache_key",
    "estimate_cost",
    "failed",
    "open_teacher",
    "request_id",
]
