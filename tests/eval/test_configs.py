"""Every shipped eval config loads strictly and says how to run it; the offline smoke config runs."""

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.eval.run import EvalConfig, run_eval

ROOT = Path(__file__).parents[2]
CONFIGS = sorted((ROOT / "configs" / "eval").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_eval_config_loads_and_starts_with_its_command(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# seqit eval configs/eval/{path.name}")
    cfg = load_config(EvalConfig, path)
    assert cfg.task in ("seqeval", "pairwise", "lm_eval")


def test_smoke_config_runs_offline_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(EvalConfig, ROOT / "configs/eval/smoke-fake.yaml", [f"out_dir={tmp_path / 'smoke'}"])
    run = run_eval(cfg)
    overall = json.loads((run / "results.json").read_text())["metrics"]["overall"]
    assert overall["n_items"] == 12 and overall["n_judged"] + overall["n_failed"] == 12
    assert 0.0 <= overall["following_rate"] <= 1.0
