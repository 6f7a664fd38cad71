"""The real hand-off: a `seqit train` checkpoint (meta.json, template hash, stop strings) evaluated by SeqEval."""

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.errors import SeqitError
from seqit.eval.run import EvalConfig, run_eval
from seqit.jsonl import read_jsonl, write_jsonl

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_seqeval_checks_a_trained_checkpoints_template_and_uses_its_stop_strings(tmp_path, tiny_model_dir, fake_openai):
    from seqit.train import TrainConfig, run_train

    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"Say {i}, then say {i + 1}."},
                                         {"role": "assistant", "content": f"{i}\n{i + 1}"}], "meta": {}} for i in range(12)]
    write_jsonl(tmp_path / "p1.jsonl", rows)
    train_cfg = load_config(TrainConfig, ROOT / "configs/train/tiny-cpu.yaml", [
        f"model.path={tiny_model_dir}", f"out_dir={tmp_path / 'train'}", f"phases=[{{data: {tmp_path / 'p1.jsonl'}}}]"])
    run_train(train_cfg)
    model_dir = tmp_path / "train" / "model"
    meta = json.loads((model_dir / "meta.json").read_text())

    fake_openai.reply = lambda body: "[[No, 1]]"
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([{"instruction": "Say 3, then say 4.", "iteration": 2}]))
    base = ["task=seqeval", f"data={bench}", "model.backend=hf", f"model.model={model_dir}", "model.hf.dtype=float32",
            "generation.max_new_tokens=8", "judge.backend=openai", "judge.model=j", f"judge.base_url={fake_openai.url}",
            "judge.api_key_env=null", "bootstrap_samples=20"]
    run = run_eval(load_config(EvalConfig, None, [*base, f"out_dir={tmp_path / 'eval'}"]))
    results = json.loads((run / "results.json").read_text())
    assert results["template_check"] == {"trained_template": meta["template"], "trained_template_hash": meta["template_hash"],
                                         "eval_template_hash": meta["template_hash"], "match": True}
    assert results["generation"]["stop"] == meta["stop_strings"]
    assert [r["status"] for r in read_jsonl(run / "samples.jsonl")] == ["ok"]

    from seqit.report.run import run_report

    text = run_report([tmp_path / "train", run], tmp_path / "report.html").read_text()
    assert "<h3>Training</h3>" in text and "model/meta.json" in text and "Sequence following by depth" in text

    with pytest.raises(SeqitError, match="chat template mismatch"):
        run_eval(load_config(EvalConfig, None, [*base, f"out_dir={tmp_path / 'eval2'}", "model.hf.template=chatml"]))
