"""`kill -9` in the middle of `seqit eval`, then rerun: every item exactly once, finished work not re-sent."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqit.jsonl import read_jsonl

SRC = Path(__file__).parents[2] / "src"


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_finishes_without_duplicates_or_resending(tmp_path, fake_openai):
    fake_openai.reply = lambda body: "[[Yes, 4]]"
    fake_openai.latency_s = 0.05
    n = 40
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([{"instruction": f"Do {i}, then do {i + 1}.", "iteration": 2} for i in range(n)]))
    out = tmp_path / "run"
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        f"task: seqeval\nout_dir: {out}\ndata: {bench}\nmodel: {{backend: fake, model: echo}}\n"
        f"judge: {{backend: openai, model: j, base_url: '{fake_openai.url}', api_key_env: null, max_concurrency: 2}}\n"
        "bootstrap_samples: 50\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "seqit", "eval", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(read_jsonl(samples))) < 10:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(list(read_jsonl(samples)))
    assert 10 <= before < n, "the run must be killed mid-way"
    sent_before = sum(fake_openai.attempts.values())

    from seqit.cli import main

    assert main(["eval", str(cfg)]) == 0
    rows = list(read_jsonl(samples))
    assert sorted(r["id"] for r in rows) == sorted({r["id"] for r in rows}) and len(rows) == n
    resent = sum(fake_openai.attempts.values()) - sent_before
    assert resent <= n - before + 2  # only unfinished items (+ at most the 2 in flight) are judged again
    overall = json.loads((out / "results.json").read_text())["metrics"]["overall"]
    assert overall["n_judged"] == n and overall["following_rate"] == 1.0
