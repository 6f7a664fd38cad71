"""Local transformers generation (`backend: hf`): micro-batched, left-padded, chat-templated.

Concurrent `generate` calls are queued; a single batcher collects what is queued (waiting at most
`hf.max_wait_ms` for more, up to `hf.batch_size`, same sampling settings, similar prompt lengths),
and runs one decode loop in a worker thread. The loop (`decode`) prefills the left-padded batch once,
then steps with the KV cache; a row leaves the batch as soon as it emits an end token (the tokenizer's
EOS, the checkpoint's generation_config end ids, single-token stop strings), contains a stop string, or
reaches its own max_tokens, so the remaining rows run on a smaller batch. Greedy when temperature == 0;
otherwise sampling from a generator seeded with the request's seed (same batch composition, same
text). Stop strings are cut from the text (OpenAI semantics). `throughput()` reports token counts and
tokens/s for the manifest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from seqit.errors import require
from seqit.teachers.backends.batching import MicroBatcher
from seqit.teachers.types import ChatRequest, Completion, TeacherConfig, Usage

log = logging.getLogger(__name__)


def batch_key(req: ChatRequest) -> tuple:
    """Requests that may share one decode loop (max_tokens differs freely: each row has its own limit)."""
    return (req.temperature if req.temperature > 0 else 0.0, req.top_p, req.seed, req.n, req.stop)


def trim_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; (text, whether a stop string was found)."""
    cut = min((i for s in stops if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generation_kwargs(req: ChatRequest, max_new_tokens: int) -> dict[str, Any]:
    """The same sampling settings as `model.generate` kwargs (pure; used by the benchmark baseline)."""
    kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "num_return_sequences": req.n}
    if req.temperature > 0:
        kw.update(do_sample=True, temperature=req.temperature, top_p=req.top_p, top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw


def end_token_ids(tok: Any, generation_config: Any, stops: tuple[str, ...] = ()) -> set[int]:
    """Token ids that end a row: the tokenizer's EOS, generation_config.eos_token_id (int or list), and
    stop strings that are one special token (decoding skips special tokens, so text search misses them)."""
    ids: set[int] = set()
    if tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    gen_eos = getattr(generation_config, "eos_token_id", None)
    if gen_eos is not None:
        ids.update(int(i) for i in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]))
    special = set(getattr(tok, "all_special_tokens", [])) | set(tok.get_added_vocab())
    for s in stops:
        enc = tok(s, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and s in special:
            ids.add(int(enc[0]))
    return ids


@dataclass
class Row:
    """One generated sequence: its new token ids and why it ended ("stop" or "length")."""

    limit: int
    ids: list[int] = field(default_factory=list)
    reason: str | None = None


def sample_next(torch: Any, logits: Any, temperature: float, top_p: float, gen: Any) -> Any:
    """Next token per row: argmax at temperature 0, else nucleus sampling (top_k off) with `gen`."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(dim=-1) - sorted_p > top_p  # keep the smallest prefix reaching top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


def decode(model: Any, input_ids: Any, attention_mask: Any, rows: list[Row], end_ids: set[int],
           temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
           stop_hit: Any = None) -> int:
    """Greedy/sampled decoding of a left-padded batch with the KV cache; finished rows leave the batch.

    Fills `rows[i].ids` / `.reason` in place; `stop_hit(ids) -> bool` ends a row on a stop string.
    Returns the number of forward passes.
    """
    import torch
    from transformers import DynamicCache

    gen = None
    if temperature > 0:
        gen = torch.Generator(device=input_ids.device)
        gen.manual_seed(seed if seed is not None else torch.seed())
    cache = DynamicCache()
    cache_kw = cache_argument(model)
    live = list(range(len(rows)))
    mask = attention_mask
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    inp = input_ids
    steps = 0
    with torch.inference_mode():
        while live:
            logits = model(input_ids=inp, attention_mask=mask, position_ids=pos, **{cache_kw: cache},
                           use_cache=True, logits_to_keep=1).logits[:, -1, :]
            steps += 1
            nxt = sample_next(torch, logits, temperature, top_p, gen)
            keep = []
            for j, (i, t) in enumerate(zip(live, nxt.tolist(), strict=True)):
                row = rows[i]
                if t in end_ids:
                    row.reason = "stop"
                    continue
                row.ids.append(t)
                if stop_hit is not None and stop_hit(row.ids):
                    row.reason = "stop"
                elif len(row.ids) >= row.limit:
                    row.reason = "length"
                else:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(live):  # shrink the batch: cache, mask, positions
                idx = torch.tensor(keep, device=inp.device)
                cache.batch_select_indices(idx)
                mask, pos, nxt = mask[idx], pos[idx], nxt[idx]
                live = [live[j] for j in keep]
            inp = nxt[:, None]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            pos = pos[:, -1:] + 1
    return steps


def cache_argument(model: Any) -> str:
    """The forward() keyword for the KV cache: `cache` (transformers >= 5.2x) or `past_key_values`."""
    import inspect

    fwd = model.get_base_model().forward if hasattr(model, "get_base_model") else model.forward
    return "cache" if "cache" in inspect.signature(fwd).parameters else "past_key_values"


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
            from seqit.progress import quiet_library_bars

            with quiet_library_bars():
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    cfg.model, dtype=dtype, trust_remote_code=s.trust_remote_code
                )
        self.model = model.to(self.device).eval()
        self._batcher = MicroBatcher(self._generate_batch, s.batch_size, s.max_wait_ms, key=batch_key,
                                     size=self._prompt_size)
        self._warned_format = False
        self._stats = {"batches": 0, "sequences": 0, "prompt_tokens": 0, "completion_tokens": 0,
                       "forward_passes": 0, "seconds": 0.0}

    @property
    def batch_sizes(self) -> list[int]:
        return self._batcher.batch_sizes

    def throughput(self) -> dict[str, Any]:
        """Token counts and speed of everything generated so far (for manifests)."""
        s = dict(self._stats)
        s["seconds"] = round(s["seconds"], 3)
        s["completion_tokens_per_s"] = round(s["completion_tokens"] / s["seconds"], 2) if s["seconds"] else None
        s["mean_batch_size"] = round(s["sequences"] / s["batches"], 2) if s["batches"] else None
        return s

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        if req.response_format and not self._warned_format:
            log.warning("hf backend: response_format is not enforced (no constrained decoding); parse the text")
            self._warned_format = True
        return await self._batcher.submit(req)

    def render(self, req: ChatRequest) -> str:
        return self.tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)

    @staticmethod
    def _prompt_size(req: ChatRequest) -> int:
        return sum(len(m.get("content") or "") for m in req.messages)

    def _generate_batch(self, reqs: list[ChatRequest]) -> list[Completion]:
        t0 = time.perf_counter()
        first = reqs[0]
        enc = self.tok([self.render(r) for r in reqs], return_tensors="pt", padding=True, add_special_tokens=False)
        ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        if first.n > 1:
            ids, mask = ids.repeat_interleave(first.n, dim=0), mask.repeat_interleave(first.n, dim=0)
        rows = [Row(r.max_tokens) for r in reqs for _ in range(r.n)]
        end_ids = end_token_ids(self.tok, getattr(self.model, "generation_config", None), first.stop)
        steps = decode(self.model, ids, mask, rows, end_ids, first.temperature, first.top_p, first.seed,
                       self._stop_checker(first.stop))
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        comps = []
        for i, req in enumerate(reqs):
            texts, reasons, n_tokens = [], [], 0
            for row in rows[i * req.n : (i + 1) * req.n]:
                text = self.tok.decode(row.ids, skip_special_tokens=True)
                text, hit = trim_at_stop(text, req.stop)
                texts.append(text)
                reasons.append("stop" if hit else row.reason or "length")
                n_tokens += len(row.ids)
            comps.append(Completion(req.id, texts, reasons, Usage(int(prompt_lens[i]), n_tokens), self.cfg.model))
        st = self._stats
        st["batches"] += 1
        st["sequences"] += len(rows)
        st["prompt_tokens"] += int(sum(prompt_lens))
        st["completion_tokens"] += sum(len(r.ids) for r in rows)
        st["forward_passes"] += steps
        st["seconds"] += time.perf_counter() - t0
        return comps

    def _stop_checker(self, stops: tuple[str, ...]) -> Any:
        """ids -> whether the decoded tail contains a stop string (only the last few tokens are decoded)."""
        if not stops:
            return None
        window = 4 * max(len(s) for s in stops) + 4  # a stop string spans at most ~4 byte-tokens per char
        tok = self.tok

        def hit(ids: list[int]) -> bool:
            tail = tok.decode(ids[-window:], skip_special_tokens=True)
            return any(s in tail for s in stops)

        return hit

    async def aclose(self) -> None:
        await self._batcher.aclose()
