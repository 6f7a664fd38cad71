"""Pairwise judging of model A vs a reference B: prompt, score parser, WIN/TIE/LOSE rule, win rate.

The judge sees both answers twice, A first and B first (position bias). Per item, the two orders
combine by the Phased-IFT (AlpaGasus) rule: WIN = wins both orders or wins one and ties the other;
TIE = ties both or wins one and loses the other; LOSE mirrors WIN. An unreadable judgement makes the
item a failure, excluded from the denominator and reported (reference bug: failures counted in N).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

PAIRWISE_PROMPT_VERSION = "pairwise.judge/v1"

PAIRWISE_SYSTEM = "You are a helpful and precise assistant for checking the quality of answers."

PAIRWISE_USER = """[Question]
{question}

[The Start of Assistant 1's Answer]
{answer_1}
[The End of Assistant 1's Answer]

[The Start of Assistant 2's Answer]
{answer_2}
[The End of Assistant 2's Answer]

We would like your feedback on the two answers to the question above. Rate the helpfulness, relevance, accuracy and level of detail of each, and whether each carries out every task the question asks for, in order. Give each assistant an overall score from 1 to 10 (higher is better). Do not let the order of the answers or their length sway you.

Explain your rating in at most three sentences. Then end your reply with the two scores on a line of their own, Assistant 1 first, in exactly this form: [[8, 6]]"""

PAIRWISE_REASK = (
    "Your reply did not end with two scores I could read. Reply with the scores only, "
    "Assistant 1 first, in exactly this form: [[8, 6]] (each from 1 to 10)."
)

OUTCOMES = ("win", "tie", "lose")
PAIR_MIN, PAIR_MAX = 1.0, 10.0

_NUM = r"(\d+(?:\.\d+)?)"
_PAIR_BRACKETED = re.compile(r"\[\[?\s*" + _NUM + r"\s*(?:/\s*10)?\s*[,;\s]\s*" + _NUM + r"\s*(?:/\s*10)?\s*\]\]?")
_PAIR_LINE = re.compile(r"^\s*(?:\*\*)?\s*" + _NUM + r"\s*(?:\*\*)?\s*[,;\s]\s*(?:\*\*)?\s*" + _NUM + r"\s*(?:\*\*)?\s*$", re.MULTILINE)


def build_pair_messages(question: str, answer_1: str, answer_2: str) -> list[dict[str, str]]:
    """The pairwise judge conversation, answer_1 shown first."""
    user = PAIRWISE_USER.format(question=question, answer_1=answer_1, answer_2=answer_2)
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


def parse_pair_scores(text: str) -> tuple[float, float] | None:
    """Read '[[8, 6]]' (or a bare '8 6' / '8, 6' line) -> (8.0, 6.0); None if absent or out of 1-10.

    >>> parse_pair_scores("Assistant 1 is more complete. [[8, 6.5]]")
    (8.0, 6.5)
    """
    if not text:
        return None
    matches = [(m.start(), m.groups()) for m in _PAIR_BRACKETED.finditer(text)]
    matches += [(m.start(), m.groups()) for m in _PAIR_LINE.finditer(text)]
    if not matches:
        return None
    _, (a, b) = max(matches, key=lambda m: m[0])
    scores = float(a), float(b)
    if not all(PAIR_MIN <= s <= PAIR_MAX for s in scores):
        return None
    return scores


def order_result(score_a: float, score_b: float) -> str:
    """A's result in one judged order: 'win', 'tie' or 'lose'."""
    if score_a > score_b:
        return "win"
    if score_a < score_b:
        return "lose"
    return "tie"


def combine_orders(first: str, second: str) -> str:
    """Combine A's results from the two orders into WIN/TIE/LOSE (Phased-IFT rule), lower-case.

    >>> combine_orders("win", "tie"), combine_orders("win", "lose"), combine_orders("tie", "lose")
    ('win', 'tie', 'lose')
    """
    assert first in OUTCOMES and second in OUTCOMES, (first, second)
    points = {"win": 1, "tie": 0, "lose": -1}
    total = points[first] + points[second]
    return "win" if total > 0 else "lose" if total < 0 else "tie"


def win_rate(outcomes: Iterable[str | None]) -> dict[str, Any]:
    """Counts and win rate = (win + tie/2) / (win + tie + lose); failures are excluded and counted.

    `outcomes` holds "win"/"tie"/"lose" (any case) per item; None, "" or "failed" mark a failed item.
    `win_rate_pp` is the Phased-IFT reporting unit: (win rate - 0.5) in percentage points.

    >>> win_rate(["WIN", "tie", "lose", None])["win_rate"]
    0.5
    """
    counts = {"win": 0, "tie": 0, "lose": 0, "failed": 0}
    for o in outcomes:
        key = (o or "failed").lower()
        if key not in counts:
            raise ValueError(f"unknown outcome {o!r} (expected win, tie, lose or failed)")
        counts[key] += 1
    n = counts["win"] + counts["tie"] + counts["lose"]
    rate = (counts["win"] + counts["tie"] / 2) / n if n else None
    return {
        **counts,
        "n": n,
        "win_rate": rate,
        "win_rate_pp": None if rate is None else round((rate - 0.5) * 100, 4),
        "tie_rate": counts["tie"] / n if n else None,
    }


def outcome_value(outcome: str) -> float:
    """An item's contribution to the win rate (for bootstrap CIs): win 1, tie 0.5, lose 0."""
    return {"win": 1.0, "tie": 0.5, "lose": 0.0}[outcome]
