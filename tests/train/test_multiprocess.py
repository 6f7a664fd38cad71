"""Real processes: 2-process gloo DDP via `accelerate launch`, and kill -9 + rerun resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqit.train import run_train

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _newest_step(out):
    done = [p for p in (out / "checkpoints").glob("step-*") if not p.name.endswith(".tmp")]
    return max((int(p.name.split("-")[1]) for p in done), default=0)


def test_two_process_gloo_run_matches_single_process_loss(train_world, tiny_cfg, tiny_config_path, make_records, tmp_path):
    """Same global batch: 2 processes x 1 micro-batch == 1 process x 2 accumulated micro-batches."""
    single = tmp_path / "single"
    run_train(tiny_cfg(single, "batch.grad_accum=2"))
    multi = tmp_path / "multi"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29561",
           "-m", "seqit", "train", tiny_config_path, f"model.path={train_world['model']}",
           f"phases=[{{data: {train_world['p1']}}}]", "batch.grad_accum=1", "--out", str(multi)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((multi / "model" / "meta.json").read_text())["world_size"] == 2
    ls, lm = _metrics(single), _metrics(multi)
    assert [r["trained_tokens"] for r in lm] == [r["trained_tokens"] for r in ls]
    assert [r["loss"] for r in lm] == pytest.approx([r["loss"] for r in ls], rel=1e-5)


def test_kill_9_mid_phase_then_rerun_continues_and_matches(train_world, tiny_cfg, tiny_config_path, make_records, tmp_path):
    data = make_records(tmp_path / "big.jsonl", 160, seed=5)
    phases = f"[{{data: {data}}}]"
    args = ["batch.max_seq_len=64", "save_every_steps=2", "keep_last=1"]
    ref = tmp_path / "ref"
    run_train(tiny_cfg(ref, *args, phases=phases))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "seqit", "train", tiny_config_path, f"model.path={train_world['model']}",
           f"phases={phases}", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and _newest_step(out) < 4:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "model").exists(), "the run finished before it could be killed"
    rerun = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    lr, lk = _metrics(ref), _metrics(out)
    assert [r["step"] for r in lk] == [r["step"] for r in lr]
    assert lk[-1]["loss"] == pytest.approx(lr[-1]["loss"], rel=1e-6)
    assert json.loads((out / "manifest.json").read_text())["attempts"] == 2
