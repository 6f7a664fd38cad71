"""Run directories: config.yaml, manifest fields, resume attempts, input hashes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import yaml

from seqit import __version__
from seqit.runs import sha256_file, start_run


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
    first.save()
    started = first.manifest["timings"]["started_at"]
    second = start_run(tmp_path / "run", Cfg(), "demo", argv=[])
    assert second.manifest["attempts"] == 2 and second.manifest["timings"]["first_started_at"] == started


def test_directory_hash_depends_on_names_and_contents(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    h1 = sha256_file(tmp_path / "d")
    (tmp_path / "d" / "a").write_text("2")
    assert sha256_file(tmp_path / "d") != h1
