"""Reliability under faults, crashes and secrets: every request ends exactly once, keys never leak."""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.teachers import TeacherConfig
from seqit.teachers.complete import CompleteConfig, run_complete

SRC = Path(__file__).resolve().parents[2] / "src"


def write_requests(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}]}) + "\n")
    return path


def out_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


@pytest.mark.slow
def test_fault_mix_every_request_ends_exactly_once_with_bounded_retries(tmp_path, fake_openai):
    fake_openai.faults = {"429": 0.20, "500": 0.10, "hang": 0.05, "garbage": 0.05}
    fake_openai.retry_after_s = 0.02
    fake_openai.hang_s = 1.0
    n, max_retries = 200, 4
    req = write_requests(tmp_path / "req.jsonl", n)
    out = tmp_path / "out.jsonl"
    cfg = CompleteConfig(
        TeacherConfig(model="m", base_url=fake_openai.url, timeout_s=0.3, max_concurrency=16, max_retries=max_retries,
                      backoff_base_s=0.01, backoff_max_s=0.1)
    )
    res = run_complete(req, out, cfg)
    ok = out_ids(out)
    failed = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert len(ok) == len(set(ok)), "duplicated output rows"
    assert set(ok).isdisjoint(r["id"] for r in failed)
    assert set(ok) | {r["id"] for r in failed} == {f"q{i}" for i in range(n)}, "lost requests"
    assert all(r["reason"] and r["stage"] == "teacher" for r in failed)
    assert max(fake_openai.attempts.values()) <= max_retries + 1
    assert res.counts["completed"] + res.counts["failed"] == n
    assert len(ok) >= 0.95 * n  # 40% faults per attempt, 5 attempts: failures are rare
    assert {"429", "500", "hang", "garbage"} <= set(fake_openai.kinds)
    # every output row is a real answer, never placeholder text
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in out.read_text().splitlines()}
    assert all(texts[i] == f"echo: question {i[1:]}" for i in texts)


def test_canary_api_key_never_leaks(tmp_path, fake_openai, monkeypatch, caplog, capfd):
    canary = "sk-CANARY-7f3a9c1e5b2d4086"
    monkeypatch.setenv("SEQIT_CANARY_KEY", canary)
    fake_openai.api_key = canary
    fake_openai.faults = {"429": 0.2, "500": 0.2}
    fake_openai.retry_after_s = 0.01
    req = write_requests(tmp_path / "req.jsonl", 30)
    run_dir = tmp_path / "run"
    caplog.set_level(logging.DEBUG)  # includes openai/httpx debug logging
    base = ["--base-url", fake_openai.url, "--model", "m", "--api-key-env", "SEQIT_CANARY_KEY",
            "teacher.backoff_base_s=0.01", "teacher.max_retries=1"]
    main(["-v", "complete", str(req), "-o", str(run_dir / "out.jsonl"), *base])
    assert fake_openai.auth_headers[f"Bearer {canary}"] > 0  # the key really was used
    # a failing run too: the server rejects the key and echoes it back in its error message
    fake_openai.api_key = "sk-something-else"
    main(["-v", "complete", str(req), "-o", str(tmp_path / "run2" / "out.jsonl"), *base])
    rejects2 = (tmp_path / "run2" / "rejects.jsonl").read_text()
    assert "HTTP 401" in rejects2
    captured = capfd.readouterr()
    files = [p for d in (run_dir, tmp_path / "run2") for p in d.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"out.jsonl", "rejects.jsonl", "manifest.json", "config.yaml", "ledger.sqlite"}
    for p in files:
        assert canary.encode() not in p.read_bytes(), f"API key leaked into {p}"
    assert canary not in caplog.text and canary not in captured.out and canary not in captured.err
    assert "SEQIT_CANARY_KEY" in (run_dir / "manifest.json").read_text()  # the env var NAME is recorded


@pytest.mark.slow
def test_kill_9_then_rerun_outputs_each_id_once_and_resends_at_most_in_flight(tmp_path, fake_openai):
    n, concurrency, kills = 1000, 8, 3
    fake_openai.latency_s = 0.01
    req = write_requests(tmp_path / "req.jsonl", n)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "seqit", "complete", str(req), "-o", str(out), "--base-url", fake_openai.url,
           "--model", "m", "--max-concurrency", str(concurrency)]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    rng = random.Random(1234)
    resent_per_run = []

    def run_once(kill: bool) -> None:
        sent_before = Counter(fake_openai.attempts)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if kill:  # kill -9 at a random moment once this run has made some progress
            target = len(out_ids(out)) + rng.randint(20, 150)
            deadline = time.monotonic() + 60
            while len(out_ids(out)) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.001, 0.02))
            assert proc.poll() is None, "the run finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
        else:
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr[-2000:]
        # requests this run sent that an earlier run had already sent (lost in flight at the crash)
        resent_per_run.append(sum(1 for c in sent_before if fake_openai.attempts[c] > sent_before[c]))

    for _ in range(kills):
        run_once(kill=True)
    assert len(out_ids(out)) < n
    run_once(kill=False)
    assert Counter(out_ids(out)) == Counter(f"q{i}" for i in range(n)), "each id exactly once"
    assert sum(fake_openai.attempts.values()) == n + sum(resent_per_run)  # no faults: only crash re-sends
    assert resent_per_run[0] == 0 and all(r <= concurrency for r in resent_per_run), resent_per_run
