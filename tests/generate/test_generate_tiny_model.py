"""`seqit generate` with the tiny random model as teacher (hf backend): garbage text everywhere, so every
item is rejected with a reason, nothing crashes and the counts balance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.generate import GenerateConfig, run_generate
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
    assert {(r["kind"], r["dropped"]) for r in rejects} == {("it", True), ("sit", True)}
    assert all(r["reason"] for r in rejects)
    assert {r["seed_id"] for r in rejects if r["kind"] == "sit"} == {
        r["seed_id"] for r in rejects if r["kind"] == "it"
    }
    assert m["options_per_round"]["1"]["unparsed"] == 4
    assert m["usage"]["requests"] == 8  # 4 direct answers + 4 classifications, then the chain stops


# --- the same against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1 -------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_tiny_model(tmp_path_factory):
    """`transformers serve` for the tiny model (needs fastapi + uvicorn, or SEQIT_SERVE_PYTHONPATH to a side install)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    src = str(Path(__file__).resolve().parents[2] / "src")
    paths = [
        p for p in (os.environ.get("SEQIT_SERVE_PYTHONPATH", ""), src, os.environ.get("PYTHONPATH", "")) if p
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "HF_HUB_OFFLINE": "1"}
    if subprocess.run(
        [sys.executable, "-c", "import fastapi, uvicorn"], env=env, capture_output=True
    ).returncode:
        pytest.skip("transformers serve needs fastapi and uvicorn (pip install 'seqit[serve]')")
    from seqit.tinymodels import save_tiny_model

    model_dir = save_tiny_model(tmp_path_factory.mktemp("served"), hidden_size=32, num_layers=2, seed=0)
    port = _free_port()
    code = (
        "import sys; from transformers.cli.transformers import main; "
        f"sys.argv = ['transformers', 'serve', {str(model_dir)!r}, '--host', '127.0.0.1', '--port', '{port}', "
        "'--device', 'cpu']; sys.exit(main())"
    )
    log = open(tmp_path_factory.mktemp("serve-log") / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "transformers serve did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(model_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
    assert rejects and all(r["reason"] and r["dropped"] for r in rejects)
