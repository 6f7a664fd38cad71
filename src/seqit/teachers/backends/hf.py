"""Local transformers generation (`backend: hf`): micro-batched, left-padded, chat-templated.

Concurrent `generate` calls are queued; a single batcher collects what is queued (waiting at most
`hf.max_wait_ms` for more, up to `hf.batch_size`, same sampling settings), runs one
`model.generate` in a worker thread and hands each caller its own Completion. Greedy when
temperature == 0; otherwise sampling seeded with the request's seed (the same batch composition
gives the same text). Stop strings end a row early and are cut from the text (OpenAI semantics).
"""

from __future__ import annotations

import logging
from typing import Any

from seqit.errors import require
from seqit.teachers.backends.batching import MicroBatcher
from seqit.teachers.types import ChatRequest, Completion, TeacherConfig, Usage

log = logging.getLogger(__name__)


def batch_key(req: ChatRequest) -> tuple:
    """Requests that may share one generate() call (max_tokens differs freely: rows are trimmed)."""
    return (req.temperature if req.temperature > 0 else 0.0, req.top_p, req.seed, req.n, req.stop)


def trim_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; (text, whether a stop string was found)."""
    cut = min((i for s in stops if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generation_kwargs(req: ChatRequest, max_new_tokens: int) -> dict[str, Any]:
    """Sampling settings for model.generate (pure)."""
    kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "num_return_sequences": req.n}
    if req.temperature > 0:
        kw.update(do_sample=True, temperature=req.temperature, top_p=req.top_p, top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw


class HFBackend:
    name = "hf"

    def __init__(self, cfg: TeacherConfig, model: Any = None, tokenizer: Any = None):
        self.cfg = cfg
        self.settings = cfg.hf
        self._torch = require("torch", "train", "the hf teacher backend")
        transformers = require("transformers", "train", "the hf teacher backend")
        from seqit.templates import resolve_template

        s = self.settings
        if tokenizer is None:
            from seqit.train.model import check_model_path

            check_model_path(cfg.model, "teacher.model")
            tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=s.trust_remote_code)
        tokenizer.chat_template = resolve_template(tokenizer, s.template)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tok = tokenizer
        self.device = ("cuda" if self._torch.cuda.is_available() else "cpu") if s.device == "auto" else s.device
        if model is None:
            dtype = "auto" if s.dtype == "auto" else getattr(self._torch, s.dtype)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                cfg.model, dtype=dtype, trust_remote_code=s.trust_remote_code
            )
        self.model = model.to(self.device).eval()
        self._batcher = MicroBatcher(self._generate_batch, s.batch_size, s.max_wait_ms, key=batch_key)
        self._warned_format = False

    @property
    def batch_sizes(self) -> list[int]:
        return self._batcher.batch_sizes

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        if req.response_format and not self._warned_format:
            log.warning("hf backend: response_format is not enforced (no constrained decoding); parse the text")
            self._warned_format = True
        return await self._batcher.submit(req)

    def render(self, req: ChatRequest) -> str:
        return self.tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)

    def _generate_batch(self, reqs: list[ChatRequest]) -> list[Completion]:
        torch = self._torch
        first = reqs[0]
        enc = self.tok([self.render(r) for r in reqs], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        max_new = max(r.max_tokens for r in reqs)
        kw = generation_kwargs(first, max_new)
        if first.stop:
            kw["stopping_criteria"] = [_StopStrings(self.tok, first.stop, enc["input_ids"].shape[1])]
        if first.temperature > 0 and first.seed is not None:
            torch.manual_seed(first.seed)
        with torch.no_grad():
            out = self.model.generate(
                **enc, pad_token_id=self.tok.pad_token_id, eos_token_id=self.tok.eos_token_id, **kw
            )
        new = out[:, enc["input_ids"].shape[1] :]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        comps = []
        for i, req in enumerate(reqs):
            texts, reasons, n_tokens = [], [], 0
            for j in range(req.n):
                text, reason, used = self._decode_row(new[i * req.n + j], req)
                texts.append(text)
                reasons.append(reason)
                n_tokens += used
            comps.append(Completion(req.id, texts, reasons, Usage(int(prompt_lens[i]), n_tokens), self.cfg.model))
        return comps

    def _decode_row(self, ids: Any, req: ChatRequest) -> tuple[str, str, int]:
        ids = ids.tolist()[: req.max_tokens]
        reason = "length"
        eos = self.tok.eos_token_id
        if eos in ids:
            ids = ids[: ids.index(eos)]
            reason = "stop"
        elif self.tok.pad_token_id in ids and self.tok.pad_token_id != eos:
            ids = ids[: ids.index(self.tok.pad_token_id)]  # a row that ended on a stop string
            reason = "stop"
        text = self.tok.decode(ids, skip_special_tokens=True)
        text, hit = trim_at_stop(text, req.stop)
        return text, ("stop" if hit else reason), len(ids)

    async def aclose(self) -> None:
        await self._batcher.aclose()


class _StopStrings:
    """StoppingCriteria: per row, True once the decoded new text contains a stop string."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], prompt_len: int):
        self.tok, self.stops, self.prompt_len = tokenizer, stops, prompt_len

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tok.batch_decode(input_ids[:, self.prompt_len :], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)
