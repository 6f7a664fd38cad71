"""SeqEval-V: the shipped item set is exactly what the generator builds, and scoring is exact."""

from __future__ import annotations

from collections import Counter

import pytest

from seqit.chains.sampling import Chain, render_answer
from seqit.chains.seqeval_v import build_items, frozen_items, prompt_of, score_outputs, score_samples
from seqit.errors import DataError


@pytest.fixture(scope="module")
def items():
    return frozen_items("v1")


def test_shipped_v1_items_match_the_generator_byte_for_byte(items):
    assert items == build_items("v1")


def test_v1_has_100_items_per_length_1_to_5_with_unique_ids(items):
    assert Counter(it["meta"]["depth"] for it in items) == {k: 100 for k in range(1, 6)}
    assert len({it["id"] for it in items}) == len(items)
    used = {s for it in items for s in it["meta"]["steps"]}
    assert len(used) >= 30  # most of the step library is exercised


def test_expected_answers_are_the_chain_results(items):
    for it in items[::25]:
        assert it["messages"][-1]["content"] == render_answer(Chain.from_dict(it["meta"]["chain"]))
        assert [m["role"] for m in prompt_of(it)] == ["user"]


def test_perfect_outputs_score_one_and_missing_outputs_score_zero(items):
    gold = {it["id"]: it["messages"][-1]["content"] for it in items}
    res = score_outputs(items, gold)
    assert res["task"] == "seqeval_v" and res["version"] == "v1" and res["n_missing"] == 0
    assert res["metrics"]["overall"]["chain_acc"] == 1.0
    assert set(res["metrics"]["by_iteration"]) == {"1", "2", "3", "4", "5"}
    empty = score_outputs(items, {})
    assert empty["n_missing"] == len(items) and empty["metrics"]["overall"]["chain_acc"] == 0.0


def test_only_first_steps_right_gives_partial_step_accuracy(items):
    sub = [it for it in items if it["meta"]["depth"] == 2][:10]
    first_only = [it["messages"][-1]["content"].splitlines()[0] for it in sub]
    res = score_outputs(sub, first_only)
    assert res["metrics"]["overall"]["chain_acc"] == 0.0
    assert res["metrics"]["overall"]["step_acc"] == 0.5
    assert res["metrics"]["overall"]["first_failure"] == {"2": 10}
    rows = score_samples(sub, first_only)
    assert all(r["correct"] == [True, False] for r in rows)


@pytest.mark.parametrize("outputs,match", [(["x"], "1 outputs for 2 items"), ({"nope": "x"}, "unknown item ids")])
def test_score_outputs_rejects_misaligned_outputs(items, outputs, match):
    with pytest.raises(DataError, match=match):
        score_outputs(items[:2], outputs)


def test_unknown_version_is_a_clear_error():
    with pytest.raises(DataError, match="unknown SeqEval-V version"):
        build_items("v0")


def test_load_benchmark_reads_a_version_or_an_items_file(tmp_path, items):
    from seqit.chains.seqeval_v import load_benchmark
    from seqit.jsonl import write_jsonl

    assert load_benchmark(None) == items
    write_jsonl(tmp_path / "mine.jsonl", items[:3])
    assert load_benchmark(str(tmp_path / "mine.jsonl")) == items[:3]
    write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "messages": []}])
    with pytest.raises(DataError, match="bad.jsonl:1: meta.chain"):
        load_benchmark(str(tmp_path / "bad.jsonl"))
    with pytest.raises(DataError, match="not a SeqEval-V version"):
        load_benchmark("v9")
