"""SeqEval-V as a `seqit eval` task: outputs from a file or a (fake) model, exact per-step results."""

from __future__ import annotations

import json

from seqit.chains.seqeval_v import frozen_items
from seqit.cli import main
from seqit.eval.seqeval_v import limit_by_depth
from seqit.jsonl import read_jsonl, write_jsonl


def test_seqit_eval_scores_precomputed_outputs_exactly(tmp_path):
    items = limit_by_depth(frozen_items("v1"), 20)  # what limit=20 evaluates
    outputs = [{"id": it["id"], "output": it["messages"][-1]["content"]} for it in items[:10]]
    outputs += [{"id": it["id"], "output": "Step 1: nonsense"} for it in items[10:20]]
    write_jsonl(tmp_path / "outs.jsonl", outputs)
    rc = main(["eval", "configs/eval/seqeval-v.yaml", f"outputs={tmp_path / 'outs.jsonl'}", "limit=20",
               "--out", str(tmp_path / "run")])
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["task"] == "seqeval_v" and res["n_items"] == 20 and res["n_missing"] == 0
    assert res["metrics"]["overall"]["chain_acc"] == 0.5
    rows = list(read_jsonl(tmp_path / "run" / "samples.jsonl"))
    assert [r["chain_ok"] for r in rows] == [True] * 10 + [False] * 10


def test_seqit_eval_generates_with_a_fake_model_and_counts_wrong_answers(tmp_path):
    rc = main(["eval", "configs/eval/seqeval-v.yaml", "model.backend=fake", "model.model=echo", "limit=5",
               "--out", str(tmp_path / "run")])
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["n_items"] == 5 and res["metrics"]["overall"]["chain_acc"] == 0.0  # an echo follows no step
