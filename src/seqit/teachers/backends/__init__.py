"""Backends turn one ChatRequest into one Completion (or raise BackendError for a failed attempt).

    class Backend(Protocol):
        name: str
        async def generate(self, req: ChatRequest, model: str) -> Completion: ...
        async def aclose(self) -> None: ...

Retries, caching and rate limits are NOT the backend's job; `seqit.teachers.teacher` wraps every
backend with them. Backends are looked up in an explicit table and imported lazily, so choosing
`openai` never imports torch.
"""

from __future__ import annotations

from typing import Protocol

from seqit.teachers.types import ChatRequest, Completion, TeacherConfig


class Backend(Protocol):
    name: str

    async def generate(self, req: ChatRequest, model: str) -> Completion: ...

    async def aclose(self) -> None: ...


def make_backend(cfg: TeacherConfig) -> Backend:
    """Build the backend named by `cfg.backend` (lazy imports)."""
    if cfg.backend == "openai":
        from seqit.teachers.backends.openai import OpenAIBackend

        return OpenAIBackend(cfg)
    if cfg.backend == "hf":
        from seqit.teachers.backends.hf import HFBackend

        return HFBackend(cfg)
    if cfg.backend == "vllm":
        from seqit.teachers.backends.vllm import VLLMBackend

        return VLLMBackend(cfg)
    if cfg.backend == "fake":
        from seqit.teachers.backends.fake import FakeBackend

        return FakeBackend(list(cfg.fake.replies) or None, latency_s=cfg.fake.latency_s)
    raise ValueError(f"unknown teacher backend {cfg.backend!r}")


def preflight(cfg: TeacherConfig) -> None:
    """Fail fast, before a run starts, on what would make every request fail: a missing optional
    package or a missing API key. Loads no model and opens no connection."""
    from seqit.errors import ConfigError, require

    if cfg.backend in ("openai", "hf", "vllm") and not cfg.model:
        raise ConfigError(f"teacher.model: required for the {cfg.backend} backend")
    if cfg.mode == "batch" and cfg.backend != "openai":
        raise ConfigError(f"teacher.mode: batch needs backend: openai (an OpenAI-compatible Batch API), "
                          f"not {cfg.backend}; for an offline GPU job use `seqit complete --export-batch`")
    if cfg.backend == "openai":
        from seqit.teachers.backends.openai import api_key_from_env

        api_key_from_env(cfg)
    elif cfg.backend == "hf":
        require("torch", "train", "the hf teacher backend")
        require("transformers", "train", "the hf teacher backend")
        from seqit.train.model import check_model_path

        check_model_path(cfg.model, "teacher.model")
    elif cfg.backend == "vllm":
        require("vllm", "vllm", "the vllm teacher backend")
