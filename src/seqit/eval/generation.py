"""Generation for evaluation: greedy by default, `max_new_tokens`, through any teacher backend,
with the checkpoint's chat template checked against the one it was trained with.

`seqit train` writes meta.json beside the checkpoint with `template_hash` (seqit.templates); a
different template at eval time silently changes what the model sees (sit-reference §7 item 22),
so a mismatch is an error unless `generation.allow_template_mismatch: true`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.errors import SeqitError
from seqit.eval.items import EvalItem
from seqit.jsonl import read_json
from seqit.progress import drive, progress
from seqit.teachers import ChatRequest, Completion, TeacherConfig, open_teacher
from seqit.templates import NAMED_TEMPLATES, template_hash

log = logging.getLogger(__name__)

GENERATE_PROMPT_VERSION = "eval.generate/v1"


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 1024  # new tokens only (reference bug: max_length counted the prompt)
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    allow_template_mismatch: bool = False  # evaluate even if the chat template differs from training

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("generation.max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("generation.temperature must be >= 0")


def generation_request(item: EvalItem, gen: GenerationConfig, stop: tuple[str, ...] = ()) -> ChatRequest:
    """The request that produces the evaluated model's answer to `item`."""
    return ChatRequest(
        id=f"{item.id}:gen",
        messages=item.messages,
        temperature=gen.temperature,
        top_p=gen.top_p,
        max_tokens=gen.max_new_tokens,
        stop=stop,
        seed=gen.seed,
        prompt_version=GENERATE_PROMPT_VERSION,
    )


def output_fields(comp: Completion) -> dict[str, Any]:
    """The sample-row fields describing one generation (output stripped of surrounding whitespace)."""
    if not comp.ok:
        return {"output": None, "generation_error": comp.error}
    return {
        "output": comp.text.strip(),
        "finish_reason": comp.finish_reason,
        "output_tokens": comp.usage.completion_tokens,
    }


def read_chat_template(model_dir: Path) -> str | None:
    """The chat template saved with a checkpoint (chat_template.jinja or tokenizer_config.json)."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    cfg = model_dir / "tokenizer_config.json"
    if cfg.exists():
        tpl = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(tpl, dict):
            return tpl.get("default") or next(iter(tpl.values()), None)
        return tpl
    return None


def read_checkpoint_meta(model: TeacherConfig) -> dict[str, Any] | None:
    """The meta.json `seqit train` wrote beside a local checkpoint, if there is one."""
    if model.backend not in ("hf", "vllm"):
        return None
    meta_path = Path(model.model) / "meta.json"
    if not meta_path.is_file():
        return None
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise SeqitError(f"{meta_path}: expected a JSON object")
    return meta


def meta_stop_strings(meta: dict[str, Any] | None) -> tuple[str, ...]:
    """The end-of-turn strings recorded at training (EOS + the template's marker), for generation."""
    stops = (meta or {}).get("stop_strings") or []
    return tuple(s for s in stops if isinstance(s, str) and s)


def check_template(model: TeacherConfig, allow_mismatch: bool) -> dict[str, Any] | None:
    """Compare the template generation will use with the training one recorded in meta.json.

    Returns what was checked (for the manifest), or None when there is nothing to check (an API
    model, or a checkpoint without seqit's meta.json). A mismatch raises unless allowed.
    """
    meta = read_checkpoint_meta(model)
    trained = (meta or {}).get("template_hash")
    if not meta or not trained:
        return None
    model_dir = Path(model.model)
    meta_path = model_dir / "meta.json"
    named = model.hf.template if model.backend == "hf" else model.vllm.template
    if named not in (None, "", "tokenizer"):
        if named not in NAMED_TEMPLATES:
            raise SeqitError(f"model.{model.backend}.template: unknown chat template {named!r}")
        used, source = NAMED_TEMPLATES[named], f"named template {named!r}"
    else:
        used, source = read_chat_template(model_dir), f"the chat template saved in {model_dir}"
    used_hash = template_hash(used) if used else None
    info = {"trained_template": meta.get("template"), "trained_template_hash": trained,
            "eval_template_hash": used_hash, "match": used_hash == trained}
    if not info["match"]:
        msg = (f"chat template mismatch: {meta_path} says the model was trained with template "
               f"{meta.get('template')!r} (hash {trained}), but generation would use {source} (hash {used_hash}). "
               "Set model.hf.template to the training template, or generation.allow_template_mismatch=true "
               "to evaluate anyway.")
        if not allow_mismatch:
            raise SeqitError(msg)
        log.warning("%s (allowed by generation.allow_template_mismatch)", msg)
    return info


Answerer = Callable[[EvalItem], Awaitable[dict[str, Any]]]


def generating_answerer(teacher: Any, gen: GenerationConfig, stop: tuple[str, ...] = ()) -> Answerer:
    """Answers produced by the evaluated model through its teacher backend (cached in the ledger)."""

    async def answer(item: EvalItem) -> dict[str, Any]:
        return output_fields(await teacher.complete(generation_request(item, gen, stop)))

    return answer


def precomputed_answerer(outputs: dict[str, str]) -> Answerer:
    """Answers read from earlier outputs (aligned by id beforehand, see items.check_alignment)."""

    async def answer(item: EvalItem) -> dict[str, Any]:
        return {"output": outputs[item.id]}

    return answer


def generate_outputs(model_cfg: TeacherConfig, gen: GenerationConfig, run: Any, items: list[EvalItem]) -> dict[str, dict[str, Any]]:
    """The evaluated model's answers to `items` (id -> output fields), for judge-free tasks.

    Cached in the run's model ledger, so a rerun re-sends nothing that finished. Checks the chat
    template and uses the checkpoint's stop strings like the judged tasks. Usage goes to the manifest.
    """
    template = check_template(model_cfg, gen.allow_template_mismatch)
    stop = meta_stop_strings(read_checkpoint_meta(model_cfg))

    async def go() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        async with open_teacher(model_cfg, ledger_path=run.file("ledger-model.sqlite")) as model:
            answer = generating_answerer(model, gen, stop)

            async def one(item: EvalItem) -> tuple[str, dict[str, Any]]:
                return item.id, await answer(item)

            outs: dict[str, dict[str, Any]] = {}
            with progress("generate", len(items), enabled=bool(items)) as bar:
                async for rid, out in drive(items, one, 4 * model_cfg.max_concurrency):
                    outs[rid] = out
                    bar.advance()
            return outs, model.usage_summary()

    outputs, usage = asyncio.run(go())
    run.record_usage("model", usage)
    run.manifest["template_check"] = template
    return outputs


def turn_request(conv_id: str, turn: int, messages: list[dict[str, str]], gen: GenerationConfig,
                 stop: tuple[str, ...] = ()) -> ChatRequest:
    """The request for turn `turn` of a multi-turn conversation (the whole history so far)."""
    return ChatRequest(id=f"{conv_id}:t{turn}", messages=tuple(dict(m) for m in messages), temperature=gen.temperature,
                       top_p=gen.top_p, max_tokens=gen.max_new_tokens, stop=stop, seed=gen.seed,
                       prompt_version=GENERATE_PROMPT_VERSION)


async def converse(teacher: Any, conv_id: str, user_turns: list[str], gen: GenerationConfig,
                   stop: tuple[str, ...] = (), history: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Model in the loop: send user turn 1, append the model's reply, send turn 2, ... (nothing is
    pre-filled beyond `history`). One output_fields dict per turn; after a failed turn the remaining
    turns are not sent and come back as {"output": None, "generation_error": "not sent: ..."}."""
    messages = [dict(m) for m in history or []]
    out: list[dict[str, Any]] = []
    for i, text in enumerate(user_turns, 1):
        if out and out[-1].get("output") is None:
            out.append({"output": None, "generation_error": f"not sent: turn {i - 1} failed"})
            continue
        messages.append({"role": "user", "content": text})
        fields = output_fields(await teacher.complete(turn_request(conv_id, i, messages, gen, stop)))
        out.append(fields)
        if fields.get("output") is not None:
            messages.append({"role": "assistant", "content": fields["output"]})
    return out
