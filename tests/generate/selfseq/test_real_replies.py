"""Self-Seq's rewrite and extract steps on real replies of the packaged SmolLM2-135M-Instruct (data/
smollm2_replies.jsonl, made once by data/make_smollm2_replies.py with the pipeline's own prompts).

A reply cut by max_tokens is never accepted where a complete text is required; JSON fragments, echoes of the
prompt, statements and empty rewrites are rejected, each with its reason. The replies go through the pipeline's
own step code (`_Chain.rewrite` / `_Chain.extract`) with a teacher that returns them as the model did.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from seqit.generate.selfseq.checks import TRUNCATED, fragment_problem
from seqit.generate.selfseq.pipeline import Seed, SelfSeqSettings, _Chain
from seqit.teachers import ChatRequest, Completion
from seqit.teachers.types import Usage

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "smollm2_replies.jsonl").open()]


class Replay:
    """A teacher that answers with one recorded reply (and its finish reason), recording the request."""

    def __init__(self, text: str, finish_reason: str):
        self.text, self.finish_reason, self.requests = text, finish_reason, []

    async def complete(self, req: ChatRequest) -> Completion:
        self.requests.append(req)
        return Completion(req.id, [self.text], [self.finish_reason], Usage(), "SmolLM2-135M-Instruct")


def run_step(row: dict, text: str | None = None, finish_reason: str | None = None) -> tuple[object, list[dict]]:
    """(what the step returned, its reject rows) for a corpus row, replayed through the pipeline."""
    seed_id = row["id"].split(":")[0]
    teacher = Replay(row["reply"] if text is None else text, finish_reason or row["finish_reason"])
    settings = SelfSeqSettings(json_mode=False, control_max_tokens=row["max_tokens"])
    if row["stage"] == "extract":
        ch = _Chain(Seed(seed_id, row["instruction"]), teacher, settings, lambda st, ok: None)
        out = asyncio.run(ch.extract())
    else:
        ch = _Chain(Seed(seed_id, row["instruction"], instruction=row["instruction"], input=row["input"]), teacher,
                    settings, lambda st, ok: None)
        out = asyncio.run(ch.rewrite(row["option"], row["instruction"], row["input"], 1))
    assert [m["content"] for m in teacher.requests[0].messages] == [m["content"] for m in row["messages"]]
    return out, ch.out.rejects


def test_the_corpus_is_real_and_holds_every_case():
    assert len(CORPUS) >= 40 and {r["model"] for r in CORPUS} == {"SmolLM2-135M-Instruct"}
    assert sum(r["finish_reason"] == "length" for r in CORPUS) >= 10
    assert {r["stage"] for r in CORPUS} == {"rewrite", "extract"}


@pytest.mark.parametrize("row", [r for r in CORPUS if r["finish_reason"] == "length"], ids=lambda r: r["id"])
def test_a_reply_cut_by_max_tokens_is_never_accepted(row):
    out, rejects = run_step(row)
    assert out is None and [r["reason"] for r in rejects] == [TRUNCATED]
    assert rejects[0]["stage"] == row["stage"] and rejects[0]["detail"]["raw"] == row["reply"][:2000]


@pytest.mark.parametrize("row", [r for r in CORPUS if r["stage"] == "rewrite"], ids=lambda r: r["id"])
def test_no_accepted_rewrite_is_a_fragment_or_an_echo_even_without_a_finish_reason(row):
    """A server that never says "length" still gets no fragment through: the same replies, marked "stop"."""
    out, rejects = run_step(row, finish_reason="stop")
    if out is None:
        assert len(rejects) == 1 and rejects[0]["reason"]
    else:
        assert fragment_problem(out) is None and '"' not in out[:2] and "new_instruction" not in out
        few_shots = " ".join(m["content"] for m in row["messages"][1:-1])
        assert out not in few_shots


def test_the_reported_fragment_is_rejected_with_its_reason():
    """sample-001's cut reply parses to `": "The temperature is ...`: cut, it is truncated; marked complete, it is
    still a fragment of the reply's JSON, never a rewrite."""
    row = next(r for r in CORPUS if r["id"] == "sample-001:rewrite:A:40")
    _, rejects = run_step(row)
    assert rejects[0]["reason"] == TRUNCATED
    _, rejects = run_step(row, finish_reason="stop")
    assert rejects[0]["stage"] == "validate" and rejects[0]["reason"].startswith("fragment of the reply's JSON")


@pytest.mark.parametrize("rid", ["sample-001:rewrite:C:512", "sample-006:rewrite:C:512"])
def test_a_rewrite_that_repeats_a_few_shot_example_is_an_echo(rid):
    row = next(r for r in CORPUS if r["id"] == rid)
    _, (reject,) = run_step(row)
    assert reject["reason"].startswith("echoes the prompt instead of rewriting the instruction")


def test_a_statement_where_a_task_should_be_is_rejected():
    row = next(r for r in CORPUS if r["id"] == "sample-007:rewrite:C:512")
    _, (reject,) = run_step(row)
    assert reject["reason"] == "states something instead of asking for a task: 'the input is unchanged'"


@pytest.mark.parametrize("text, reason", [
    ('{"reason": "It adds a step.", "new_instruction": ""}', "empty rewrite: the reply's new_instruction is empty"),
    ('{"reason": "It adds a step.", "new_instruction": "   "}', "empty rewrite: the reply's new_instruction is empty"),
    ("", "empty reply"),
])
def test_an_empty_rewrite_is_rejected_with_its_reason(text, reason):
    row = next(r for r in CORPUS if r["id"] == "sample-010:rewrite:C:512")
    out, rejects = run_step(row, text=text, finish_reason="stop")
    assert out is None and [r["reason"] for r in rejects] == [reason]


def test_complete_useful_replies_still_pass():
    accepted = {r["id"]: run_step(r)[0] for r in CORPUS if r["finish_reason"] == "stop"}
    assert accepted["sample-010:rewrite:C:512"].startswith("Suggest a name for a bakery that specialises in rye")
    assert accepted["sample-001:extract:24"] == ("Convert the temperature to Fahrenheit.", "25 degrees Celsius")
