"""`seqit eval` with a real model (SmolLM2-135M-Instruct, fp32 CPU): SeqEval-V across depths, SeqEval with
SmolLM2 as its own judge through the hf backend, and the lm-eval bridge on a local task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.jsonl import read_jsonl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_seqeval_v_limit_spans_depths_and_records_generation_speed(smollm2_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "ev"
    rc = main(["eval", "configs/eval/seqeval-v.yaml", f"model.model={smollm2_dir}", "limit=5",
               "generation.max_new_tokens=24", "model.hf.dtype=float32", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_items"] == 5 and res["n_missing"] == 0
    assert sorted(res["metrics"]["by_iteration"]) == ["1", "2", "3", "4", "5"]  # one chain per depth
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert all(r["output"].strip() for r in rows)  # real text, stopped by EOS or the token limit
    gen = json.loads((out / "manifest.json").read_text())["usage"]["this_attempt"]["model"]["generation"]
    assert gen["sequences"] == 5 and 5 <= gen["completion_tokens"] <= 5 * 24
    assert gen["completion_tokens_per_s"] > 0


def test_seqeval_with_smollm2_as_its_own_judge(smollm2_dir, tmp_path, monkeypatch):
    """Counts balance and every failure carries a reason; real judge replies reach the verdict parser."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "se"
    hf = "{dtype: float32, device: cpu, batch_size: 4}"
    rc = main(["eval", "configs/eval/seqeval.yaml", f"model.model={smollm2_dir}", "limit=2",
               "generation.max_new_tokens=16", f"model.hf={hf}", "judge.backend=hf", f"judge.model={smollm2_dir}",
               "judge.api_key_env=null", f"judge.hf={hf}", "judging.max_attempts=1", "judging.max_tokens=24",
               "bootstrap_samples=50", "--out", str(out)])
    res = json.loads((out / "results.json").read_text())
    o = res["metrics"]["overall"]
    assert o["n_judged"] + o["n_failed"] == 2
    assert rc == (0 if o["n_judged"] else 1)  # every verdict unparsed: the run says so in its exit code
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert len(rows) == 2
    for r in rows:
        assert r["output"]  # the evaluated model's answer
        assert r["status"] in ("ok", "unparsed")  # a 135M judge rarely writes the verdict format
        assert r["judge_replies"] and all(isinstance(t, str) and t.strip() for t in r["judge_replies"])
    m = json.loads((out / "manifest.json").read_text())
    assert m["usage"]["this_attempt"]["judge"]["generation"]["sequences"] >= 2 and m["usage"]["total"]["cost_usd"] == 0


def test_lm_eval_bridge_on_a_local_task(smollm2_dir, tmp_path):
    from seqit.config import load_config
    from seqit.eval.run import EvalConfig, run_eval

    data = tmp_path / "capitals.jsonl"
    rows = [("France", "Paris", "Rome"), ("Italy", "Rome", "Paris"), ("Japan", "Tokyo", "Berlin"), ("Germany", "Berlin", "Tokyo")]
    data.write_text("".join(json.dumps({"country": c, "choices": [a, b], "label": 0}) + "\n" for c, a, b in rows))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "capitals.yaml").write_text(
        "task: seqit_real_capitals\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "What is the capital of {{country}}?"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{label}}"\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\nmetadata:\n  version: 1.0\n"
    )
    cfg = load_config(EvalConfig, None, [
        "task=lm_eval", f"out_dir={tmp_path / 'run'}", "model.backend=hf", f"model.model={smollm2_dir}",
        "model.hf.dtype=float32", f"lm_eval.include_path={tasks}", "lm_eval.bootstrap_iters=0",
        "lm_eval.batch_size=4", "lm_eval.tasks=[seqit_real_capitals]"])
    run = run_eval(cfg)
    res = json.loads((run / "results.json").read_text())
    assert res["n_samples"] == {"seqit_real_capitals": 4}
    assert res["metrics"]["seqit_real_capitals"]["acc"] >= 0.75  # a real model knows its capitals
    sample = next(iter(read_jsonl(run / "samples.jsonl")))
    assert sample["prompt"].startswith("<|im_start|>system\n")  # SmolLM2's own template, default system prompt
