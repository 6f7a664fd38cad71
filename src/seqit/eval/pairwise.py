"""Pairwise win rate of the model (A) against reference outputs (B), judged in both orders.

Outputs are aligned by item id before anything is sent. Per item: the judge scores (A, B) with A
shown first and again with B shown first; the two order results combine by the Phased-IFT rule.
"""

from __future__ import annotations

import asyncio
from typing import Any

from seqit.eval.generation import Answerer
from seqit.eval.items import EvalItem
from seqit.eval.judging import JudgingConfig, judge_until_parsed
from seqit.eval.seqeval import base_row
from seqit.eval.winrate import (
    PAIRWISE_PROMPT_VERSION,
    PAIRWISE_REASK,
    build_pair_messages,
    combine_orders,
    order_result,
    parse_pair_scores,
)


async def pairwise_sample(
    item: EvalItem, answer: Answerer, reference: dict[str, str], judge: Any, judging: JudgingConfig
) -> dict[str, Any]:
    """The finished sample row for one item: both judged orders and the WIN/TIE/LOSE outcome."""
    row = base_row(item)
    row.update(await answer(item))
    row["reference_output"] = reference[item.id]
    if row["output"] is None:
        row.update(status="generation_error", outcome=None)
        return row
    a, b, q = row["output"], row["reference_output"], item.instruction
    ab, ba = await asyncio.gather(
        judge_until_parsed(judge, f"{item.id}:ab", build_pair_messages(q, a, b), parse_pair_scores,
                           PAIRWISE_REASK, PAIRWISE_PROMPT_VERSION, judging),
        judge_until_parsed(judge, f"{item.id}:ba", build_pair_messages(q, b, a), parse_pair_scores,
                           PAIRWISE_REASK, PAIRWISE_PROMPT_VERSION, judging),
    )
    row["judge_replies"] = {"a_first": ab.replies, "b_first": ba.replies}
    errors = [j.error for j in (ab, ba) if j.error is not None]
    if errors:
        row.update(status="judge_error", outcome=None, judge_error="; ".join(errors))
        return row
    if ab.parsed is None or ba.parsed is None:
        row.update(status="unparsed", outcome=None)
        return row
    # ab.parsed = (score A, score B); ba.parsed = (score B, score A): B was shown first there
    row["scores_a_first"] = list(ab.parsed)
    row["scores_b_first"] = list(ba.parsed)
    first, second = order_result(*ab.parsed), order_result(ba.parsed[1], ba.parsed[0])
    row.update(status="ok", order_results=[first, second], outcome=combine_orders(first, second))
    return row
