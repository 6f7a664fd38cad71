"""The SQLite ledger: round trip, WAL, only successes stored, durable across kill -9."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from seqit.teachers import Completion, Ledger, Usage, failed
from seqit.teachers.ledger import cached_keys

SRC = Path(__file__).resolve().parents[2] / "src"


def test_round_trip_marks_cached_and_keeps_fields(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.put("k1", "openai", Completion("a", ["x", "y"], ["stop", "length"], Usage(3, 4), "m", latency_s=0.5, attempts=2))
    got = led.get("k1")
    assert got == Completion("a", ["x", "y"], ["stop", "length"], Usage(3, 4), "m", latency_s=0.5, cached=True, attempts=2)
    assert led.get("nope") is None and len(led) == 1
    assert led._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    led.close()


def test_failures_are_refused(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    with pytest.raises(ValueError):
        led.put("k", "openai", failed("a", "m", "HTTP 500"))
    led.close()


def test_rows_committed_before_kill_9_survive(tmp_path):
    path = tmp_path / "l.sqlite"
    code = (
        "import os, signal\n"
        "from seqit.teachers import Completion, Ledger, Usage\n"
        f"led = Ledger({str(path)!r})\n"
        "for i in range(50):\n"
        "    led.put(f'k{i}', 'openai', Completion(f'r{i}', [f't{i}'], ['stop'], Usage(1, 1), 'm'))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.returncode == -signal.SIGKILL
    assert cached_keys(path, [f"k{i}" for i in range(60)]) == {f"k{i}" for i in range(50)}
    led = Ledger(path)
    assert len(led) == 50 and led.get("k49").text == "t49"
    led.close()
