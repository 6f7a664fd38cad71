"""The openai backend against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1
serving the tiny local model (offline). Needs fastapi + uvicorn (`pip install 'seqit[serve]'`);
set SEQIT_SERVE_PYTHONPATH to a directory holding them to use a side install."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from seqit.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


def _env() -> dict:
    extra = os.environ.get("SEQIT_SERVE_PYTHONPATH", "")
    paths = [p for p in (extra, str(SRC), os.environ.get("PYTHONPATH", "")) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "HF_HUB_OFFLINE": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("transformers serve did not become healthy")


@pytest.fixture(scope="module")
def transformers_server(tmp_path_factory):
    env = _env()
    probe = subprocess.run([sys.executable, "-c", "import fastapi, uvicorn"], env=env, capture_output=True)
    if probe.returncode != 0:
        pytest.skip("transformers serve needs fastapi and uvicorn (pip install 'seqit[serve]')")
    from seqit.tinymodels import save_tiny_model

    model_dir = save_tiny_model(tmp_path_factory.mktemp("served-model"), hidden_size=32, num_layers=2, seed=0)
    port = _free_port()
    code = (
        "import sys; from transformers.cli.transformers import main; "
        f"sys.argv = ['transformers', 'serve', {str(model_dir)!r}, '--host', '127.0.0.1', '--port', '{port}', "
        "'--device', 'cpu']; sys.exit(main())"
    )
    log = open(tmp_path_factory.mktemp("serve-log") / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
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
def test_openai_backend_completes_against_transformers_serve(tmp_path, transformers_server):
    base_url, model = transformers_server
    req = tmp_path / "req.jsonl"
    with open(req, "w") as f:
        for i in range(3):
            f.write(json.dumps({"id": f"t{i}", "messages": [{"role": "user", "content": f"say {i}"}], "max_tokens": 8}) + "\n")
    out = tmp_path / "out.jsonl"
    rc = main(["complete", str(req), "-o", str(out), "--base-url", base_url, "--model", model,
               "--max-concurrency", "2", "--timeout", "60"])
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["t0", "t1", "t2"]
    for r in rows:
        assert r["error"] is None and r["finish_reason"] in ("length", "stop")
        assert 1 <= r["usage"]["completion_tokens"] <= 8 and r["usage"]["prompt_tokens"] > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["usage"]["requests"] == 3
