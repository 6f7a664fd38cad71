"""SeqEval: did the model follow every instruction of the sequence, in order? (LLM judge, 1-5 quality)

One coroutine per item: answer (generate or read) -> judge (re-asked while unreadable) -> row.
Row statuses: ok, unparsed (judge never gave a readable verdict: a failure, never Yes/No),
generation_error and judge_error (API failures: retried when the run is resumed).
"""

from __future__ import annotations

from typing import Any

from seqit.eval.generation import Answerer
from seqit.eval.items import EvalItem
from seqit.eval.judging import JudgingConfig, judge_until_parsed
from seqit.eval.verdict import SEQEVAL_PROMPT_VERSION, SEQEVAL_REASK, build_judge_messages, parse_verdict

FINAL_STATUSES = ("ok", "unparsed")  # rows with these are not redone on resume


def base_row(item: EvalItem) -> dict[str, Any]:
    """The fields every judged sample starts with: its id, depth, the instruction the judge sees, and the
    prompt the model was sent (every message)."""
    return {"id": item.id, "iteration": item.iteration, "instruction": item.instruction,
            "prompt": [dict(m) for m in item.messages]}


async def seqeval_sample(item: EvalItem, answer: Answerer, judge: Any, judging: JudgingConfig) -> dict[str, Any]:
    """The finished sample row for one SeqEval item."""
    row = base_row(item)
    row.update(await answer(item))
    if row["output"] is None:
        row["status"] = "generation_error"
        return row
    messages = build_judge_messages(item.instruction, row["output"])
    j = await judge_until_parsed(judge, item.id, messages, parse_verdict, SEQEVAL_REASK, SEQEVAL_PROMPT_VERSION, judging)
    row.update(status=j.status, judge_replies=j.replies)
    if j.error is not None:
        row["judge_error"] = j.error
    if j.parsed is not None:
        row["following"], row["score"] = j.parsed
    return row
