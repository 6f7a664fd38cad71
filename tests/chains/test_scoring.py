"""Scoring: per-step verdicts, chain accuracy, first failure and aggregation (table-driven)."""

from __future__ import annotations

import pytest

from seqit.chains.sampling import Chain
from seqit.chains.scoring import aggregate, parse_step_lines, score_chain
from seqit.chains.steps import Step

# input "abc": reverse -> "cba", uppercase -> "CBA", count_letters -> 3
CHAIN = Chain("abc", (Step("reverse_text"), Step("uppercase"), Step("count_letters")), (0, 0, 0))


@pytest.mark.parametrize(
    "output,correct,followed,chain_ok,first_failure",
    [
        ("Step 1: cba\nStep 2: CBA\nStep 3: 3", (True, True, True), (True, True, True), True, None),
        ("step 1:  cba \n STEP 2: CBA\nStep 3: 3\n", (True, True, True), (True, True, True), True, None),
        ("<think>Step 1: x</think>Step 1: cba\nStep 2: CBA\nStep 3: 3", (True, True, True), (True, True, True), True, None),
        ("**Step 1:** cba\nStep 2: **CBA**\nStep 3: 3", (True, True, True), (True, True, True), True, None),
        ("Step 1: cba\nStep 2: cba\nStep 3: 3", (True, False, True), (True, False, True), False, 2),
        ("Step 1: abc\nStep 2: ABC\nStep 3: 3", (False, False, True), (False, True, True), False, 1),
        ("Step 1: cba", (True, False, False), (True, False, False), False, 2),
        ("cba\nCBA\n3", (False, False, False), (False, False, False), False, 1),
        ("", (False, False, False), (False, False, False), False, 1),
        ("Step 3: 3\nStep 2: CBA\nStep 1: cba", (True, True, True), (True, True, True), True, None),
        # the instruction named in the line (the micro-world's answers; real models write it too)
        ("Step 1 (Reverse): cba\nStep 2 (Uppercase): CBA\nStep 3 (Count): 3", (True,) * 3, (True,) * 3, True, None),
        ("**Step 1 (reverse it):** cba\nStep 2 (x) - CBA\nStep 3 () : 3", (True,) * 3, (True,) * 3, True, None),
        ("Step 1 (Reverse) cba\nStep 2 (a (b)): CBA", (False, False, False), (False, False, False), False, 1),
    ],
)
def test_score_chain_table(output, correct, followed, chain_ok, first_failure):
    s = score_chain(CHAIN, output)
    assert s.correct == correct
    assert s.followed == followed
    assert s.chain_ok is chain_ok
    assert s.first_failure == first_failure


def test_extra_step_lines_make_the_chain_wrong_but_keep_step_accuracy():
    s = score_chain(CHAIN, "Step 1: cba\nStep 2: CBA\nStep 3: 3\nStep 4: 4")
    assert s.correct == (True, True, True) and s.extra_steps == 1 and not s.chain_ok


@pytest.mark.parametrize("output,answered", [("Step 1: cba", 1), ("Step 1: x\nStep 3: y", 2), ("", 0), ("Step 2: a\nStep 1: b\nStep 3: c", 3)])
def test_answered_counts_step_lines_right_or_wrong(output, answered):
    s = score_chain(CHAIN, output)
    assert s.answered == answered and s.complete is (answered == 3)


def test_parse_step_lines_keeps_the_first_occurrence():
    assert parse_step_lines("Step 1: a\nStep 1: b\nnoise\nStep 2) c") == {1: "a", 2: "c"}


def test_aggregate_counts_rates_histogram_and_lengths():
    one = Chain("abc", (Step("reverse_text"),), (0,))
    scores = [
        score_chain(CHAIN, "Step 1: cba\nStep 2: CBA\nStep 3: 3"),  # all right
        score_chain(CHAIN, "Step 1: cba\nStep 2: x\nStep 3: 3"),  # fails at 2
        score_chain(one, "Step 1: cba"),
        score_chain(one, "Step 1: abc"),
    ]
    m = aggregate(scores)
    assert m["n"] == 4
    assert m["chain_acc"] == 0.5
    assert m["step_acc"] == round(6 / 8, 4)
    assert m["first_failure"] == {"1": 1, "2": 1, "none": 2}
    assert m["by_length"]["3"] == {"n": 2, "chain_acc": 0.5, "step_acc": round(5 / 6, 4), "follow_acc": round(4 / 6, 4),
                                   "complete_rate": 1.0}
    assert m["by_length"]["1"]["chain_acc"] == 0.5


def test_aggregate_of_nothing_is_empty_not_an_error():
    assert aggregate([])["n"] == 0
