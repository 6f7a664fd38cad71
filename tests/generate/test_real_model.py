"""`seqit generate` (Self-Seq) with a real teacher (SmolLM2-135M-Instruct): in-process through the hf backend,
and served by `transformers serve` through the openai backend. A 135M model follows the control prompts
only sometimes, so the assertions are about the pipeline: every seed accounted for, every reject with a
stage and reason, and real replies parsed (classification options that are not all "unparsed")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.generate.run import GenerateConfig, run_generate
from seqit.jsonl import read_jsonl

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).parents[2] / "configs" / "generate"
SMALL = ["selfseq.max_depth=1", "selfseq.control_max_tokens=40", "respond.max_tokens=32", "respond.temperature=0"]


def _check(run: Path, seeds: int) -> dict:
    m = json.loads((run / "manifest.json").read_text())
    c = m["counts"]
    assert c["balanced"] and c["seeds"] == seeds and c["pending"] == 0
    assert c["sit_records"] + c["kept_unconverted"] + c["sit_dropped"] == seeds
    assert c["it_records"] + c["it_dropped"] == seeds
    rejects = list(read_jsonl(run / "rejects.jsonl")) if (run / "rejects.jsonl").exists() else []
    assert len([r for r in rejects if r["detail"]["dropped"]]) == c["sit_dropped"] + c["it_dropped"]
    assert all(r["reason"] and r["stage"] for r in rejects)
    assert all(r["detail"].get("raw") for r in rejects if r["stage"] != "rules")  # the teacher's real reply is kept
    assert m["usage"]["total"]["requests"] >= 2 * seeds and m["usage"]["total"]["completion_tokens"] > 0
    for rec in read_jsonl(run / "it.jsonl") if (run / "it.jsonl").exists() else []:
        assert rec["messages"][-1]["role"] == "assistant" and rec["messages"][-1]["content"].strip()
    return m


def test_selfseq_with_smollm2_in_process(smollm2_dir, sample_path, tmp_path):
    overrides = [f"data.path={sample_path}", f"out_dir={tmp_path / 'run'}", "teacher.backend=hf",
                 f"teacher.model={smollm2_dir}", "teacher.max_concurrency=4", "teacher.hf.batch_size=4",
                 "teacher.hf.dtype=float32", "limit=3", *SMALL]
    run = run_generate(load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", overrides), progress=False)
    m = _check(run, 3)
    options = m["options_per_round"]["1"]
    assert sum(v for k, v in options.items() if k not in ("pct", "unparsed")) >= 1  # a real reply was parsed
    assert m["usage"]["this_attempt"]["teacher"]["generation"]["completion_tokens_per_s"] > 0


@pytest.fixture(scope="module")
def served_smollm2(smollm2_dir, tmp_path_factory):
    from fakes.transformers_server import can_serve, serve_env, serve_model

    env = serve_env()
    if not can_serve(env):
        pytest.skip("transformers serve needs fastapi and uvicorn (pip install 'seqit[serve]')")
    with serve_model(smollm2_dir, tmp_path_factory.mktemp("serve-smollm2") / "serve.log", env) as url:
        yield url


def test_selfseq_with_smollm2_behind_transformers_serve(served_smollm2, smollm2_dir, sample_path, tmp_path):
    overrides = [f"data.path={sample_path}", f"out_dir={tmp_path / 'run'}", f"teacher.base_url={served_smollm2}",
                 f"teacher.model={smollm2_dir}", "teacher.api_key_env=null", "teacher.max_concurrency=2",
                 "teacher.timeout_s=300", "selfseq.json_mode=false", "limit=2", *SMALL]
    run = run_generate(load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", overrides), progress=False)
    m = _check(run, 2)
    assert m["usage"]["total"]["failed"] == 0  # every request got a real HTTP reply
