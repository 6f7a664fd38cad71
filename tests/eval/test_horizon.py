"""Horizon metrics (step accuracy p, H0.5 = ln 0.5 / ln p, first failures, survival): pure and table-driven."""

from __future__ import annotations

import json
import math

import pytest

from seqit.chains.seqeval_v import frozen_items
from seqit.cli import main
from seqit.eval.metrics import first_failure, horizon_length, horizon_metrics, horizon_summary
from seqit.jsonl import write_jsonl


@pytest.mark.parametrize(("p", "s", "want"), [
    (0.5, 0.5, 1.0),
    (0.9, 0.5, round(math.log(0.5) / math.log(0.9), 4)),  # 6.5788 steps
    (0.99, 0.5, 68.9676),
    (0.5, 0.25, 2.0),
    (0.0, 0.5, 0.0),  # every step fails: no step is more likely right than wrong
    (1.0, 0.5, None),  # no failure seen: unbounded
    (None, 0.5, None),  # no steps at all
])
def test_horizon_length(p, s, want):
    assert horizon_length(p, s) == want


@pytest.mark.parametrize(("p", "s"), [(1.5, 0.5), (-0.1, 0.5), (0.5, 1.0), (0.5, 0.0)])
def test_horizon_length_rejects_out_of_range_values(p, s):
    with pytest.raises(ValueError, match="horizon_length"):
        horizon_length(p, s)


@pytest.mark.parametrize(("correct", "want"), [
    ((), None), ((True,), None), ((False,), 1), ((True, True, False, False), 3), ((True, False, True), 2)])
def test_first_failure(correct, want):
    assert first_failure(correct) == want


def test_horizon_summary_counts_first_failures_and_survival():
    chains = [(True, True, True), (True, False, True), (False, True), (True,), (True, True, False)]
    h = horizon_summary(chains)
    assert h["n_chains"] == 5 and h["n_steps"] == 12 and h["step_acc"] == round(9 / 12, 4)
    assert h["h50"] == round(math.log(0.5) / math.log(0.75), 4) and h["h50_unbounded"] is False
    assert h["first_failure"] == {"1": 1, "2": 1, "3": 1, "none": 2}
    assert h["first_failure_share"] == {"1": 0.2, "2": 0.2, "3": 0.2, "none": 0.4}
    # step 1 right in 4/5 chains; first two right in 2/4 chains that have two steps; all three in 1/3
    assert h["survival"] == {"1": 0.8, "2": 0.5, "3": round(1 / 3, 4)}


@pytest.mark.parametrize(("chains", "p", "h50", "unbounded"), [
    ([(True, True)], 1.0, None, True),
    ([(False, False)], 0.0, 0.0, False),
    ([], None, None, False),
])
def test_horizon_summary_edges(chains, p, h50, unbounded):
    h = horizon_summary(chains)
    assert (h["step_acc"], h["h50"], h["h50_unbounded"]) == (p, h50, unbounded)


def test_horizon_metrics_by_depth():
    rows = [{"depth": 1, "correct": [True]}, {"depth": 2, "correct": [True, False]}, {"depth": 2, "correct": [False, False]},
            {"depth": 10, "correct": [True] * 10}]
    h = horizon_metrics(rows)
    assert list(h["by_depth"]) == ["1", "2", "10"]  # numeric order
    assert h["by_depth"]["2"]["first_failure"] == {"1": 1, "2": 1}
    assert h["by_depth"]["10"]["h50_unbounded"] is True
    assert h["overall"]["n_steps"] == 15 and h["overall"]["step_acc"] == round(12 / 15, 4)


def test_seqit_eval_writes_horizon_into_results(tmp_path):
    items = frozen_items("v1")[:200]  # depths 1 and 2
    outs = [{"id": it["id"], "output": it["messages"][-1]["content"] if i % 2 else "Step 1: x"} for i, it in enumerate(items)]
    write_jsonl(tmp_path / "outs.jsonl", outs)
    write_jsonl(tmp_path / "items.jsonl", items)  # an items file (--limit would spread over every depth)
    assert main(["eval", "configs/eval/seqeval-v.yaml", f"outputs={tmp_path / 'outs.jsonl'}",
                 f"data={tmp_path / 'items.jsonl'}", "--out", str(tmp_path / "run")]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    h = res["horizon"]
    assert h["overall"]["step_acc"] == res["metrics"]["overall"]["step_acc"]
    assert set(h["by_depth"]) == {"1", "2"} and h["by_depth"]["1"]["first_failure"] == {"1": 50, "none": 50}
    assert h["by_depth"]["2"]["first_failure"]["none"] == 50
