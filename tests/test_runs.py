"""Run directories: config.yaml, manifest fields, resume attempts, input hashes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from seqit import __version__
from seqit.errors import SeqitError
from seqit.runs import reject_row, sha256_file, start_run

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True)
class Cfg:
    name: str = "x"
    n: int = 1


def test_run_writes_config_and_manifest(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n')
    run = start_run(tmp_path / "run", Cfg(), "demo", inputs={"data": data}, argv=["seqit", "demo"])
    run.finish(counts={"rows_in": 1, "records_out": 1})
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["seqit_version"] == __version__ and m["command"] == "demo" and m["argv"] == ["seqit", "demo"]
    assert m["inputs"]["data"]["sha256"] == hashlib.sha256(b'{"a": 1}\n').hexdigest()
    assert m["counts"] == {"rows_in": 1, "records_out": 1} and m["status"] == "finished"
    assert m["timings"]["seconds"] >= 0 and "git_sha" in m
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text()) == {"name": "x", "n": 1}


def test_rerun_counts_attempts_and_keeps_first_start(tmp_path):
    first = start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    first.close("stopped")
    started = first.manifest["timings"]["started_at"]
    second = start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    assert second.manifest["attempts"] == 2 and second.manifest["timings"]["first_started_at"] == started


def test_directory_hash_depends_on_names_and_contents(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    h1 = sha256_file(tmp_path / "d")
    (tmp_path / "d" / "a").write_text("2")
    assert sha256_file(tmp_path / "d") != h1


# --- the lock --------------------------------------------------------------------------------------


def test_a_second_run_on_the_same_dir_is_refused_naming_the_holder_then_allowed_after_finish(tmp_path):
    first = start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    with pytest.raises(SeqitError) as e:
        start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(e.value) and "in use" in str(e.value)
    first.finish()
    second = start_run(tmp_path / "run", Cfg(), "demo", argv=[])  # released: the next attempt may start
    assert second.manifest["attempts"] == 2
    second.finish()


def test_a_finished_or_failed_run_dir_keeps_no_lock_file_and_neither_does_an_extra_locked_output(tmp_path):
    run = start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    run.lock(tmp_path / "out.jsonl", "output")
    assert (tmp_path / "run" / ".lock").exists() and (tmp_path / "out.jsonl.lock").exists()
    run.finish()
    assert not (tmp_path / "run" / ".lock").exists() and not (tmp_path / "out.jsonl.lock").exists()
    with pytest.raises(RuntimeError), start_run(tmp_path / "run", Cfg(), "demo", argv=[]):
        raise RuntimeError("boom")
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_lock_removed_by_its_releasing_holder_is_never_held_twice(tmp_path):
    """A taker that opened the old lock file before the holder removed it must not keep that file: it
    would lock an unlinked inode while a third process locks the new file."""
    from seqit.runs import RunLock

    (tmp_path / "run").mkdir()
    holder = RunLock(tmp_path / "run", "run").acquire()
    stale_fd = os.open(holder.path, os.O_RDWR)  # what a taker holds between its open() and its flock()
    holder.release()
    assert not holder.path.exists()
    import fcntl

    fcntl.flock(stale_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the stale inode is free, but no longer the lock
    try:
        second = RunLock(tmp_path / "run", "run").acquire()  # locks the file at the path, a new inode
        with pytest.raises(SeqitError, match="in use"):
            RunLock(tmp_path / "run", "run").acquire()
        second.release()
    finally:
        os.close(stale_fd)


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    code = ("import sys, time; from seqit.runs import start_run; start_run(sys.argv[1], None, 'demo', argv=[]); "
            "print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.stdout.readline().strip() == "locked"
    with pytest.raises(SeqitError, match=f"pid {proc.pid} "):
        start_run(tmp_path / "run", None, "demo", argv=[])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = start_run(tmp_path / "run", None, "demo", argv=[])  # the kernel dropped the dead holder's lock
    assert run.manifest["attempts"] == 2
    run.finish()


def test_leaving_a_run_without_finishing_records_why(tmp_path):
    with pytest.raises(RuntimeError), start_run(tmp_path / "run", None, "demo", argv=[]):
        raise RuntimeError("boom")
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "failed"
    start_run(tmp_path / "run", None, "demo", argv=[]).finish()  # and the lock is free again


def test_a_run_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SeqitError, match="is a file, not a run directory"):
        start_run(tmp_path / "f", None, "demo", argv=[])


# --- usage over every attempt ------------------------------------------------------------------------


def test_usage_of_earlier_attempts_is_in_the_manifest_from_the_start_of_the_next(tmp_path):
    first = start_run(tmp_path / "run", None, "demo", argv=[])
    first.record_usage("judge", {"requests": 3, "cost_usd": 0.25, "models": {"j": {"requests": 3}}})
    first.record_usage("model", {"requests": 2, "cost_usd": 0.0})
    first.finish()
    second = start_run(tmp_path / "run", None, "demo", argv=[])  # e.g. killed right after it started
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())["usage"]
    assert on_disk["total"]["requests"] == 5 and on_disk["roles"]["judge"]["cost_usd"] == 0.25
    second.record_usage("judge", {"requests": 1, "cost_usd": 0.5, "models": {"j": {"requests": 1}}})
    second.finish()
    u = json.loads((tmp_path / "run" / "manifest.json").read_text())["usage"]
    assert u["this_attempt"] == {"judge": {"requests": 1, "cost_usd": 0.5, "models": {"j": {"requests": 1}}}}
    assert u["roles"]["judge"] == {"requests": 4, "cost_usd": 0.75, "models": {"j": {"requests": 4}}}
    assert u["total"]["requests"] == 6 and u["total"]["cost_usd"] == 0.75


def test_reject_rows_have_one_shape():
    keys = ["id", "file", "line", "stage", "field", "reason", "row"]
    assert list(reject_row("a", "read", "bad", file="f.jsonl", line=3, row={"x": 1}, field="x")) == keys
    assert reject_row("a", "judge", "bad", raw="?")["detail"] == {"raw": "?"}


# --- commands that share a run dir or an output ---------------------------------------------------------


def _requests(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"q {i}"}]}) + "\n"
                            for i in range(n)))
    return path


@pytest.mark.slow
def test_two_complete_processes_on_one_output_second_refused_and_every_id_once(tmp_path, fake_openai):
    fake_openai.latency_s = 0.5  # 60 requests at concurrency 4: ~8 s, long enough to start two more processes
    n = 60
    req, out = _requests(tmp_path / "req.jsonl", n), tmp_path / "out" / "out.jsonl"
    cmd = [sys.executable, "-m", "seqit", "complete", str(req), "-o", str(out), "--base-url", fake_openai.url,
           "--model", "m", "--max-concurrency", "4"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    third = subprocess.Popen([*cmd, "--run-dir", str(tmp_path / "other")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)  # the same output through another run dir
    err2, err3 = second.communicate(timeout=60)[1], third.communicate(timeout=60)[1]
    assert first.poll() is None, "the first run finished before the others could try"
    assert second.returncode == 2 and "in use by another seqit process" in err2 and f"pid {first.pid}" in err2
    assert third.returncode == 2 and f"output {out}" in err3
    assert first.wait(timeout=120) == 0, first.stderr.read()[-2000:]
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(n)) and sum(fake_openai.attempts.values()) == n


def test_save_usage_every_writes_at_most_once_per_interval(tmp_path):
    run = start_run(tmp_path / "run", None, "demo", argv=[])
    calls = []

    def summary():
        calls.append(1)
        return {"requests": len(calls)}

    run.save_usage_every("teacher", summary, every_s=3600)  # not due yet: nothing asked, nothing written
    assert calls == [] and json.loads((tmp_path / "run" / "manifest.json").read_text())["usage"]["roles"] == {}
    run.save_usage_every("teacher", summary, every_s=0)  # due: recorded and on disk at once
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())["usage"]
    assert calls == [1] and on_disk["roles"]["teacher"] == {"requests": 1}
    run.finish()
