"""The openai backend against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1
serving the tiny local model (offline); the `served_tiny_model` fixture is in tests/conftest.py."""

import json

import pytest

from seqit.cli import main


@pytest.mark.slow
def test_openai_backend_completes_against_transformers_serve(tmp_path, served_tiny_model):
    base_url, model = served_tiny_model
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
    assert manifest["usage"]["total"]["requests"] == 3
