"""Exact, per-step scoring of chain answers, and the aggregate metrics.

    s = score_chain(chain, "Step 1: cba\\nStep 2: CBA")
    metrics = aggregate([s, ...])   # chain_acc, step_acc, follow_acc, first_failure, by_length

`step_acc` checks step i against the gold intermediate result; `follow_acc` checks step i against
the step applied to the model's *own* previous line (did it follow the instruction, even after an
earlier slip?). A chain is correct when every step is right and no extra "Step N" lines follow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from seqit.chains.sampling import Chain
from seqit.chains.steps import StepError, apply_step, check_output, parse_value, step_type

# "Step 2: x", "**Step 2.** x", "step 2 - x", and with the instruction repeated: "Step 2 (Reverse): x"
_STEP_LINE = re.compile(r"^\s*\**\s*step\s*(\d+)\s*(?:\([^()\n]*\))?\s*\**\s*[:.)\-]\s*\**(.*?)\**\s*$", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ChainScore:
    """Per-step verdicts for one chain answer."""

    length: int
    correct: tuple[bool, ...]  # vs the gold intermediate results
    followed: tuple[bool, ...]  # vs the step applied to the model's own previous line
    extra_steps: int  # "Step N" lines with N > length
    answered: int = 0  # how many of the steps 1..length have a "Step N" line at all

    @property
    def complete(self) -> bool:
        """Every step has an answer line (right or wrong): did the model attempt the whole chain?"""
        return self.answered == self.length

    @property
    def chain_ok(self) -> bool:
        return all(self.correct) and self.extra_steps == 0

    @property
    def first_failure(self) -> int | None:
        """1-based position of the first wrong step; None when all are right."""
        return next((i for i, ok in enumerate(self.correct, 1) if not ok), None)


def parse_step_lines(output: str) -> dict[int, str]:
    """{step number: text} from 'Step N: text' lines (first occurrence wins; reasoning blocks dropped).

    >>> parse_step_lines("Step 1: a\\nstep 2 - b\\nStep 3 (Reverse): c")
    {1: 'a', 2: 'b', 3: 'c'}
    """
    found: dict[int, str] = {}
    for line in _THINK.sub("", output).splitlines():
        m = _STEP_LINE.match(line)
        if m:
            found.setdefault(int(m.group(1)), m.group(2).strip())
    return found


def score_chain(chain: Chain, output: str) -> ChainScore:
    """Score a model's answer to `chain` step by step."""
    lines = parse_step_lines(output)
    gold = chain.results()
    types = chain.types()
    correct, followed = [], []
    prev_model = chain.input
    for i, (step, expected) in enumerate(zip(chain.steps, gold, strict=False), 1):
        st = step_type(step.name)
        text = lines.get(i)
        correct.append(text is not None and check_output(st, expected, types[i], text))
        followed.append(text is not None and _follows(step, prev_model, types[i], text))
        prev_model = parse_value(text, types[i]) if text is not None else None
    extra = sum(1 for n in lines if n > len(chain.steps))
    answered = sum(1 for n in lines if 1 <= n <= len(chain.steps))
    return ChainScore(len(chain.steps), tuple(correct), tuple(followed), extra, answered)


def _follows(step, prev_value, out_type: str, text: str) -> bool:
    if prev_value is None:
        return False
    try:
        expected = apply_step(step, prev_value)
    except StepError:
        return False
    return check_output(step_type(step.name), expected, out_type, text)


def aggregate(scores: Iterable[ChainScore]) -> dict:
    """chain_acc, step_acc, follow_acc, complete_rate (all steps answered), n, first-failure histogram,
    and the same rates per chain length."""
    scores = list(scores)
    if not scores:
        return {"n": 0, "chain_acc": None, "step_acc": None, "follow_acc": None, "complete_rate": None,
                "first_failure": {}, "by_length": {}}
    hist = Counter(str(s.first_failure) if s.first_failure else "none" for s in scores)
    by_len: dict[str, dict] = {}
    for k in sorted({s.length for s in scores}):
        group = [s for s in scores if s.length == k]
        by_len[str(k)] = _rates(group)
    return {**_rates(scores), "first_failure": dict(sorted(hist.items())), "by_length": by_len}


def _rates(scores: list[ChainScore]) -> dict:
    steps = [ok for s in scores for ok in s.correct]
    follows = [ok for s in scores for ok in s.followed]
    return {
        "n": len(scores),
        "chain_acc": round(sum(s.chain_ok for s in scores) / len(scores), 4),
        "step_acc": round(sum(steps) / len(steps), 4),
        "follow_acc": round(sum(follows) / len(follows), 4),
        "complete_rate": round(sum(s.complete for s in scores) / len(scores), 4),
    }
