"""`--dry-run` support: scripted stage replies for the fake teacher and the worst-case request list for
the cost estimate (every seed going through every round; real runs stop earlier at option D)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from seqit.generate.selfseq import prompts
from seqit.generate.selfseq.pipeline import JSON_MODE, Seed, SelfSeqSettings, run_seed
from seqit.generate.taskdriven.builders import lower_first
from seqit.teachers import ChatRequest, FakeBackend, TeacherConfig, estimate_cost, open_teacher


@dataclass
class Plan:
    """What a run would do: the first rendered prompts and an upper-bound cost estimate."""

    seeds: int
    prompts: list[tuple[str, list[dict[str, str]]]]
    estimate: dict[str, Any]


def plan_selfseq(seeds: list[Seed], s: SelfSeqSettings, teacher: TeacherConfig, max_prompts: int) -> Plan:
    """Walk the first seed through every stage with scripted replies; estimate the cost of all seeds."""
    fake = FakeBackend(dry_run_reply)

    async def first() -> None:
        async with open_teacher(teacher, ledger_path=None, backend=fake) as t:
            await run_seed(seeds[0], t, s)

    asyncio.run(first())
    shown = [(f"{req.prompt_version} ({req.id})", list(req.messages)) for req in fake.calls[:max_prompts]]
    return Plan(len(seeds), shown, estimate_cost(upper_bound_requests(seeds, s), teacher))


def dry_run_reply(req: ChatRequest) -> str:
    """A well-formed reply for each stage, so a dry run walks the whole chain once."""
    stage = req.prompt_version.split("/")[0].split(".")[-1]
    last = req.messages[-1]["content"]
    if stage == "extract":
        return json.dumps({"instruction": last.removeprefix("Prompt:\n"), "input": ""})
    if stage == "classify":
        return json.dumps({"reason": "dry run", "option": "B"})
    if stage == "rewrite":
        task = last.split("Instruction:\n", 1)[-1].split("\n\nInput (", 1)[0]
        return json.dumps(
            {
                "reason": "dry run",
                "new_instruction": f"First, list the key facts this task needs. Then, {lower_first(task)}",
            }
        )
    if stage in ("validate", "check"):
        return json.dumps({"reason": "dry run", "verdict": "pass"})
    return "This is where the teacher's answer would go in a real run."


def upper_bound_requests(seeds: list[Seed], s: SelfSeqSettings) -> Iterator[ChatRequest]:
    """Requests a run could send at most: IT answer, extraction, and max_depth full rounds per seed."""
    for seed in seeds:
        rng = random.Random(0)
        instruction = seed.instruction or seed.prompt
        control = dict(
            temperature=0.0,
            max_tokens=s.control_max_tokens,
            response_format=JSON_MODE if s.json_mode else None,
        )
        respond = dict(temperature=s.respond_temperature, max_tokens=s.respond_max_tokens)
        if s.it_baseline:
            yield ChatRequest(
                f"{seed.id}:it", prompts.respond_messages(seed.system, seed.prompt, ""), **respond
            )
        if seed.instruction is None:
            yield ChatRequest(f"{seed.id}:extract", prompts.extract_messages(seed.prompt, rng), **control)
        for rnd in range(1, s.max_depth + 1):
            yield ChatRequest(
                f"{seed.id}:c{rnd}", prompts.classify_messages(instruction, seed.input, rng), **control
            )
            yield ChatRequest(
                f"{seed.id}:r{rnd}", prompts.rewrite_messages("B", instruction, seed.input, rng), **control
            )
            if s.llm_validate:
                msgs = prompts.validate_messages(instruction, instruction, seed.input, rng)
                yield ChatRequest(f"{seed.id}:v{rnd}", msgs, **control)
            yield ChatRequest(
                f"{seed.id}:a{rnd}", prompts.respond_messages(seed.system, instruction, seed.input), **respond
            )
            if s.llm_check_response:
                answer = "x" * 4 * s.respond_max_tokens  # the longest answer the respond step may return
                yield ChatRequest(
                    f"{seed.id}:k{rnd}",
                    prompts.check_messages(instruction, seed.input, answer, rng),
                    **control,
                )
