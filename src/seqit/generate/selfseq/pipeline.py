"""The per-seed Self-Seq chain as one coroutine: extract -> (classify -> rewrite -> validate -> respond) x depth,
plus the IT baseline (the same seed answered directly by the same teacher).

Every teacher call goes through `teacher.complete` (cache, limits, retries); every failure becomes a
reject row with its stage and reason. Nothing here touches files: `run_seed` returns an Outcome that
`seqit.generate.run` writes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from seqit.generate.selfseq import prompts
from seqit.generate.selfseq.checks import (
    check_extraction,
    check_response,
    check_rewrite,
    control_reply_problem,
    echo_problem,
)
from seqit.generate.selfseq.parse import parse_extraction, parse_new_instruction, parse_option, parse_verdict
from seqit.records import Record, alpaca_prompt
from seqit.runs import reject_row
from seqit.teachers import ChatRequest, Completion

JSON_MODE = {"type": "json_object"}


class TeacherLike(Protocol):
    async def complete(self, req: ChatRequest) -> Completion: ...


@dataclass(frozen=True)
class Seed:
    """One seed item: its instruction/input split (if known) and the exact original user prompt."""

    id: str
    prompt: str  # the original user turn (what the IT baseline answers)
    system: str = ""
    instruction: str | None = None  # None -> needs extraction
    input: str = ""
    source: str = ""
    index: int = 0  # position in the input (outputs are sorted by it)


@dataclass(frozen=True)
class SelfSeqSettings:
    max_depth: int = 2
    extract: str = "auto"  # auto: only seeds without a separate instruction; always; never
    llm_validate: bool = True
    json_mode: bool = True
    control_max_tokens: int = 512
    max_input_chars: int = 2000  # input shown to control steps (the respond step always gets all of it)
    respond_temperature: float = 0.7
    respond_top_p: float = 1.0
    respond_max_tokens: int = 1024
    respond_seed: int | None = None
    it_baseline: bool = True
    llm_check_response: bool = False
    seed: int = 0


@dataclass
class Outcome:
    """Everything one seed produced: records, rejects, the option chosen in each round and stage counts."""

    seed_id: str
    it: dict[str, Any] | None = None
    sit: dict[str, Any] | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)
    options: list[str | None] = field(default_factory=list)  # per round; None = classification failed
    stages: Counter = field(default_factory=Counter)
    kept: bool = False  # task-driven: not selected for conversion (not a reject)
    retry: bool = False  # a teacher call failed (transport/API): not finished, a rerun retries it

    def summary(self) -> dict[str, Any]:
        return {
            "seed_id": self.seed_id,
            "it": self.it is not None,
            "sit": self.sit is not None,
            "kept": self.kept,
            "depth": (self.sit or {}).get("meta", {}).get("depth"),
            "options": self.options,
            "stages": dict(self.stages),
            "rejects": [(r["stage"], r["reason"]) for r in self.rejects],
        }


def seed_from_record(rec: Record, index: int, extract: str) -> Seed:
    """A Seed from a loaded record: alpaca rows carry instruction/input in meta (no extraction needed)."""
    system = rec.messages[0]["content"] if rec.messages[0]["role"] == "system" else ""
    users = [m["content"] for m in rec.prompt_messages if m["role"] == "user"]
    prompt = users[0] if users else ""
    instruction = rec.meta.get("instruction") if extract != "always" else None
    if extract == "never" and instruction is None:
        instruction = prompt
    return Seed(
        id=rec.id,
        prompt=prompt,
        system=system,
        instruction=instruction if isinstance(instruction, str) else None,
        input=str(rec.meta.get("input", "")) if instruction is not None else "",
        source=str(rec.meta.get("source", "")),
        index=index,
    )


class _Chain:
    """State and helpers for one seed's run (kept small: one method per stage)."""

    def __init__(
        self, seed: Seed, teacher: TeacherLike, s: SelfSeqSettings, tick: Callable[[str, bool], None]
    ):
        self.seed, self.teacher, self.s, self.tick = seed, teacher, s, tick
        self.out = Outcome(seed.id)
        self.model = ""
        self.versions: dict[str, str] = {}

    def rng(self, stage: str, rnd: int) -> random.Random:
        return random.Random(f"{self.s.seed}:{self.seed.id}:{stage}:{rnd}")

    def reject(
        self, stage: str, reason: str, rnd: int, dropped: bool, kind: str = "sit", raw: str | None = None
    ) -> None:
        self.out.stages[f"{stage}.rejected"] += 1
        self.tick(stage, False)
        extra = {"raw": raw[:2000]} if raw is not None else {}
        self.out.rejects.append(reject_row(self.seed.id, stage, reason, kind=kind, round=rnd, dropped=dropped, **extra))

    def passed(self, stage: str) -> None:
        self.out.stages[f"{stage}.ok"] += 1
        self.tick(stage, True)

    async def call(
        self, stage: str, rnd: int, messages: list[dict[str, str]], control: bool, kind: str = "sit"
    ) -> Completion:
        s = self.s
        version = prompts.VERSIONS[stage]
        self.versions[stage] = version
        req = ChatRequest(
            id=f"{self.seed.id}:{kind}:{stage}:r{rnd}",
            messages=messages,
            temperature=0.0 if control else s.respond_temperature,
            top_p=1.0 if control else s.respond_top_p,
            max_tokens=s.control_max_tokens if control else s.respond_max_tokens,
            seed=None if control else s.respond_seed,
            response_format=JSON_MODE if control and s.json_mode else None,
            prompt_version=version,
        )
        comp = await self.teacher.complete(req)
        if not comp.ok:
            self.out.retry = True
        elif comp.model:
            self.model = comp.model
        return comp

    async def respond(
        self, instruction: str, input_text: str, rnd: int, kind: str, dropped: bool
    ) -> str | None:
        msgs = prompts.respond_messages(self.seed.system, instruction, input_text)
        comp = await self.call("respond", rnd, msgs, control=False, kind=kind)
        reason = (
            f"teacher error: {comp.error}" if not comp.ok else check_response(comp.text, comp.finish_reason)
        )
        if reason:
            self.reject("respond", reason, rnd, dropped, kind, comp.text or None)
            return None
        self.passed("respond")
        return comp.text.strip()

    async def extract(self) -> tuple[str, str] | None:
        comp = await self.call(
            "extract", 0, prompts.extract_messages(self.seed.prompt, self.rng("extract", 0)), True
        )
        if not comp.ok:
            self.reject("extract", f"teacher error: {comp.error}", 0, True)
            return None
        parsed = parse_extraction(comp.text)
        reason = control_reply_problem(comp.text, comp.finish_reason, ("instruction", "task")) or (
            "unparseable extraction reply" if parsed is None else check_extraction(self.seed.prompt, *parsed)
        )
        if reason:
            self.reject("extract", reason, 0, True, raw=comp.text)
            return None
        self.passed("extract")
        return parsed

    async def classify(self, instruction: str, input_text: str, rnd: int) -> str | None:
        msgs = prompts.classify_messages(
            instruction, input_text, self.rng("classify", rnd), self.s.max_input_chars
        )
        comp = await self.call("classify", rnd, msgs, True)
        option = parse_option(comp.text) if comp.ok else None
        self.out.options.append(option)
        if option is None:
            why = (
                f"teacher error: {comp.error}"
                if not comp.ok
                else "unparseable classification (no option A-D)"
            )
            self.reject("classify", why, rnd, rnd == 1, raw=comp.text or None)
            return None
        self.passed("classify")
        return option

    async def rewrite(self, option: str, instruction: str, input_text: str, rnd: int) -> str | None:
        msgs = prompts.rewrite_messages(
            option, instruction, input_text, self.rng("rewrite", rnd), self.s.max_input_chars
        )
        comp = await self.call("rewrite", rnd, msgs, True)
        if not comp.ok:
            self.reject("rewrite", f"teacher error: {comp.error}", rnd, rnd == 1)
            return None
        new = parse_new_instruction(comp.text)
        reason = control_reply_problem(comp.text, comp.finish_reason) or (
            "missing: no new instruction in the reply" if new is None else None)
        if reason or new is None:
            self.reject("rewrite", reason or "missing", rnd, rnd == 1, raw=comp.text)
            return None
        self.passed("rewrite")
        reason = echo_problem(new, msgs, instruction) or check_rewrite(instruction, new, input_text, option=option)
        if reason:
            self.reject("validate", reason, rnd, rnd == 1, raw=new)
            return None
        return new

    async def validate(self, original: str, new: str, input_text: str, rnd: int) -> bool:
        msgs = prompts.validate_messages(
            original, new, input_text, self.rng("validate", rnd), self.s.max_input_chars
        )
        comp = await self.call("validate", rnd, msgs, True)
        verdict = parse_verdict(comp.text) if comp.ok else None
        if verdict is None or not verdict[0]:
            if not comp.ok:
                why = f"teacher error: {comp.error}"
            else:
                why = (
                    "unparseable validator verdict"
                    if verdict is None
                    else f"validator: {verdict[1] or 'fail'}"
                )
            self.reject("validate", why, rnd, rnd == 1, raw=comp.text or None)
            return False
        self.passed("validate")
        return True

    async def check(self, instruction: str, input_text: str, response: str, rnd: int) -> bool:
        rng = self.rng("check", rnd)
        msgs = prompts.check_messages(instruction, input_text, response, rng, self.s.max_input_chars)
        comp = await self.call("check", rnd, msgs, True)
        verdict = parse_verdict(comp.text) if comp.ok else None
        if verdict is None or not verdict[0]:
            if not comp.ok:
                why = f"teacher error: {comp.error}"
            elif verdict is None:
                why = "unparseable check verdict"
            else:
                why = f"response misses a task: {verdict[1] or 'fail'}"
            self.reject("check", why, rnd, rnd == 1, raw=comp.text or None)
            return False
        self.passed("check")
        return True

    def record(
        self, kind: str, instruction: str, input_text: str, response: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        msgs = prompts.respond_messages(self.seed.system, instruction, input_text)
        msgs.append({"role": "assistant", "content": response})
        depth = extra.get("depth", 0)
        rid = f"{self.seed.id}:{kind}" + (f":d{depth}" if kind == "sit" else "")
        meta = {
            "source": self.seed.source,
            "seed_id": self.seed.id,
            "kind": kind,
            **extra,
            "instruction": instruction,
            "input": input_text,
            "teacher_model": self.model,
            "prompt_versions": dict(sorted(self.versions.items())),
        }
        return {"id": rid, "messages": msgs, "meta": meta}


async def run_seed(
    seed: Seed,
    teacher: TeacherLike,
    s: SelfSeqSettings,
    tick: Callable[[str, bool], None] = lambda st, ok: None,
) -> Outcome:
    """Run one seed through the IT baseline and the Self-Seq chain; never raises for bad teacher output."""
    ch = _Chain(seed, teacher, s, tick)
    it_response = None
    if s.it_baseline:
        it_response = await ch.respond(seed.prompt, "", 0, "it", dropped=True)
        if it_response is not None:
            ch.out.it = ch.record("it", seed.prompt, "", it_response, {"depth": 0, "steps": [seed.prompt]})
            ch.out.it["meta"].update(instruction=seed.instruction or seed.prompt, input=seed.input)
    ch.versions.clear()
    await _sit_chain(ch, it_response)
    return ch.out


async def _sit_chain(ch: _Chain, it_response: str | None) -> None:
    seed, s = ch.seed, ch.s
    if seed.instruction is None:
        parsed = await ch.extract()
        if parsed is None:
            return
        instruction, input_text = parsed
    else:
        instruction, input_text = seed.instruction, seed.input
    steps, responses, options = [instruction], [], []
    for rnd in range(1, s.max_depth + 1):
        option = await ch.classify(steps[-1], input_text, rnd)
        if option is None:
            break
        options.append(option)
        if option == "D":
            break
        new = await ch.rewrite(option, steps[-1], input_text, rnd)
        if new is None:
            break
        if not s.llm_validate:
            ch.passed("validate")
        elif not await ch.validate(steps[-1], new, input_text, rnd):
            break
        response = await ch.respond(new, input_text, rnd, "sit", dropped=rnd == 1)
        if response is None or (s.llm_check_response and not await ch.check(new, input_text, response, rnd)):
            break
        steps.append(new)
        responses.append(response)
    if responses:
        depth = len(responses)
        extra = {"option": options[depth - 1], "options": options, "depth": depth, "steps": steps}
        ch.out.sit = ch.record("sit", steps[-1], input_text, responses[-1], extra)
    elif options[:1] == ["D"]:
        await _keep_as_is(ch, instruction, input_text, it_response)


async def _keep_as_is(ch: _Chain, instruction: str, input_text: str, it_response: str | None) -> None:
    """Option D in round 1: the seed stays as it is; reuse the IT answer when the prompt is identical."""
    same_prompt = alpaca_prompt(instruction, input_text) == ch.seed.prompt
    response = it_response if same_prompt and it_response is not None else None
    if response is None:
        if same_prompt and ch.s.it_baseline:  # the IT answer for this very prompt was already rejected
            ch.reject(
                "respond",
                "the direct answer to the kept instruction was rejected (see the it reject)",
                0,
                True,
            )
            return
        response = await ch.respond(instruction, input_text, 0, "sit", dropped=True)
        if response is None:
            return
    ch.versions["respond"] = prompts.VERSIONS["respond"]
    extra = {"option": "D", "options": ["D"], "depth": 0, "steps": [instruction]}
    ch.out.sit = ch.record("sit", instruction, input_text, response, extra)
