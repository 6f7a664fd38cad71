"""`seqit generate` with the tiny random model as teacher (hf backend): garbage text everywhere, so every
item is rejected with a reason, nothing crashes and the counts balance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.generate.run import GenerateConfig, run_generate
from seqit.jsonl import read_jsonl

CONFIGS = Path(__file__).parents[2] / "configs" / "generate"


@pytest.mark.slow
def test_tiny_random_teacher_gets_every_item_rejected_with_a_reason(tmp_path, tiny_model_dir, sample_path):
    overrides = [
        f"data.path={sample_path}",
        f"out_dir={tmp_path / 'run'}",
        "teacher.backend=hf",
        f"teacher.model={tiny_model_dir}",
        "teacher.max_concurrency=4",
        "teacher.hf.batch_size=4",
        "selfseq.control_max_tokens=24",
        "respond.max_tokens=24",
        "limit=4",
    ]
    cfg = load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", overrides)
    run = run_generate(cfg, progress=False)
    m = json.loads((run / "manifest.json").read_text())
    c = m["counts"]
    assert c["balanced"] and c["seeds"] == 4
    assert c["sit_records"] == 0 and c["it_records"] == 0 and c["sit_dropped"] == 4 and c["it_dropped"] == 4
    rejects = list(read_jsonl(run / "rejects.jsonl"))
    assert {(r["detail"]["kind"], r["detail"]["dropped"]) for r in rejects} == {("it", True), ("sit", True)}
    assert all(r["reason"] for r in rejects)
    assert {r["id"] for r in rejects if r["detail"]["kind"] == "sit"} == {
        r["id"] for r in rejects if r["detail"]["kind"] == "it"
    }
    assert m["options_per_round"]["1"]["unparsed"] == 4
    assert m["usage"]["total"]["requests"] == 8  # 4 direct answers + 4 classifications, then the chain stops


# --- the same against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1 (conftest fixture) ---


@pytest.mark.slow
def test_tiny_model_behind_transformers_serve_rejects_every_item(tmp_path, served_tiny_model, sample_path):
    base_url, model = served_tiny_model
    overrides = [
        f"data.path={sample_path}",
        f"out_dir={tmp_path / 'run'}",
        f"teacher.base_url={base_url}",
        f"teacher.model={model}",
        "teacher.api_key_env=null",
        "teacher.max_concurrency=2",
        "teacher.timeout_s=60",
        "selfseq.control_max_tokens=16",
        "respond.max_tokens=16",
        "limit=3",
    ]
    run = run_generate(
        load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", overrides), progress=False
    )
    c = json.loads((run / "manifest.json").read_text())["counts"]
    assert c["balanced"] and c["seeds"] == 3 and c["sit_records"] == 0 and c["it_records"] == 0
    rejects = list(read_jsonl(run / "rejects.jsonl"))
    assert rejects and all(r["reason"] and r["detail"]["dropped"] for r in rejects)
