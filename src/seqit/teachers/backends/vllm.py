"""Offline vLLM engine (`backend: vllm`): optional extra (`pip install 'seqit[vllm]'`, GPU).

vLLM is imported only when this backend is built; without it you get a MissingExtraError naming
the extra. Concurrent requests are micro-batched into one `LLM.generate` call (each prompt with its
own SamplingParams), run in a worker thread. The request -> SamplingParams mapping is the pure
function `sampling_params_kwargs`, tested without vLLM.
"""

from __future__ import annotations

from typing import Any

from seqit.errors import require
from seqit.teachers.backends.batching import MicroBatcher
from seqit.teachers.types import ChatRequest, Completion, TeacherConfig, Usage


def sampling_params_kwargs(req: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams` (greedy when temperature == 0)."""
    kw: dict[str, Any] = {
        "n": req.n,
        "temperature": req.temperature,
        "top_p": req.top_p if req.temperature > 0 else 1.0,
        "max_tokens": req.max_tokens,
    }
    if req.stop:
        kw["stop"] = list(req.stop)
    if req.seed is not None:
        kw["seed"] = req.seed
    return kw


def wants_json(req: ChatRequest) -> bool:
    return bool(req.response_format) and req.response_format.get("type") in ("json_object", "json_schema")


def engine_kwargs(cfg: TeacherConfig) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM` (pure)."""
    s = cfg.vllm
    kw: dict[str, Any] = {
        "model": cfg.model,
        "tensor_parallel_size": s.tensor_parallel_size,
        "gpu_memory_utilization": s.gpu_memory_utilization,
        "dtype": s.dtype,
        "trust_remote_code": s.trust_remote_code,
    }
    if s.max_model_len is not None:
        kw["max_model_len"] = s.max_model_len
    return kw


class VLLMBackend:
    name = "vllm"

    def __init__(self, cfg: TeacherConfig):
        self._vllm = require("vllm", "vllm", "the vllm teacher backend")
        from seqit.templates import resolve_template

        self.cfg = cfg
        self.llm = self._vllm.LLM(**engine_kwargs(cfg))
        self.tok = self.llm.get_tokenizer()
        self.tok.chat_template = resolve_template(self.tok, cfg.vllm.template)
        self._batcher = MicroBatcher(self._generate_batch, cfg.vllm.batch_size, cfg.vllm.max_wait_ms)

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        return await self._batcher.submit(req)

    def _sampling_params(self, req: ChatRequest) -> Any:
        kw = sampling_params_kwargs(req)
        if wants_json(req):  # structured output API name differs across vLLM versions
            sampling = self._vllm.sampling_params
            if hasattr(sampling, "StructuredOutputsParams"):
                kw["structured_outputs"] = sampling.StructuredOutputsParams(json_object=True)
            elif hasattr(sampling, "GuidedDecodingParams"):
                kw["guided_decoding"] = sampling.GuidedDecodingParams(json_object=True)
        return self._vllm.SamplingParams(**kw)

    def _generate_batch(self, reqs: list[ChatRequest]) -> list[Completion]:
        prompts = [
            self.tok.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True) for r in reqs
        ]
        outs = self.llm.generate(prompts, [self._sampling_params(r) for r in reqs], use_tqdm=False)
        comps = []
        for req, out in zip(reqs, outs, strict=True):
            texts = [o.text for o in out.outputs]
            reasons = [str(o.finish_reason or "stop") for o in out.outputs]
            usage = Usage(len(out.prompt_token_ids or []), sum(len(o.token_ids) for o in out.outputs))
            comps.append(Completion(req.id, texts, reasons, usage, self.cfg.model))
        return comps

    async def aclose(self) -> None:
        await self._batcher.aclose()
