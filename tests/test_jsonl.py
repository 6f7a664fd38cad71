"""Durable JSONL: torn tails are never read back, appends after a crash repair the tail, kill -9 safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from seqit.errors import DataError
from seqit.jsonl import JsonlWriter, read_ids, read_json, read_jsonl, repair_torn_tail, write_jsonl


def test_torn_last_line_is_skipped_and_repaired_on_next_append(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b"]
    with JsonlWriter(p) as w:
        assert w.repaired_bytes == len(b'{"id": "c", "te')
        w.write({"id": "c"})
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b", "c"]


def test_complete_json_without_newline_counts_as_torn(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}')
    assert read_ids(p) == {"a"}
    assert repair_torn_tail(p) == len(b'{"id": "b"}')


def test_malformed_complete_line_names_file_and_line(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\n{oops\n')
    with pytest.raises(DataError, match=r"out\.jsonl:2: not valid JSON"):
        list(read_jsonl(p))


@pytest.mark.parametrize("line,match", [("[" * 100_000 + "]" * 100_000, "RecursionError"),
                                        ('{"n": ' + "9" * 5000 + "}", "ValueError")])
def test_pathologically_nested_or_huge_lines_are_a_data_error_not_a_crash(tmp_path, line, match):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": 1}\n' + line + "\n")
    with pytest.raises(DataError, match=rf"x.jsonl:2: unreadable JSON \({match}"):
        list(read_jsonl(p))


@pytest.mark.parametrize("text,match", [("{oops", r"x.json: not valid JSON"), (b"\xff\xfe{}", r"x.json: not valid JSON"),
                                        ("[" * 100_000 + "]" * 100_000, r"x.json: unreadable JSON \(RecursionError")])
def test_read_json_names_the_file_for_anything_unreadable(tmp_path, text, match):
    p = tmp_path / "x.json"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError, match=match):
        read_json(p)
    p.write_text('{"a": [1]}')
    assert read_json(p) == {"a": [1]}


def test_write_jsonl_is_atomic_and_counts(tmp_path):
    p = tmp_path / "x.jsonl"
    assert write_jsonl(p, ({"i": i} for i in range(3))) == 3
    assert [r["i"] for r in read_jsonl(p)] == [0, 1, 2] and not (tmp_path / "x.jsonl.tmp").exists()


WRITER = """
import sys
from seqit.jsonl import JsonlWriter, read_ids
path = sys.argv[1]
done = read_ids(path)
with JsonlWriter(path) as w:
    for i in range(200000):
        if str(i) in done:
            continue
        w.write({"id": str(i), "payload": "x" * (i % 97)})
"""


@pytest.mark.slow
def test_kill_9_then_resume_gives_each_id_exactly_once(tmp_path):
    p = tmp_path / "out.jsonl"
    for delay in (0.4, 0.7, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(p)])
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run([sys.executable, "-c", WRITER, str(p)], check=True, timeout=120)
    ids = [json.loads(line)["id"] for line in p.read_bytes().splitlines()]
    assert len(ids) == 200000 and len(set(ids)) == 200000
