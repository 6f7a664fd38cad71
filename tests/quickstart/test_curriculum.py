"""The phased arm's replay curriculum and its random-order control."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from seqit.errors import DataError
from seqit.jsonl import read_jsonl, write_jsonl
from seqit.quickstart.curriculum import control_order, main, with_replay


def phases(sizes=(8, 8, 16)):
    return [[{"id": f"d{k}-{i}", "meta": {"depth": k}} for i in range(n)] for k, n in enumerate(sizes, 1)]


def test_replay_keeps_phase_sizes_and_draws_only_from_earlier_phases():
    out = with_replay(phases(), 0.25, seed=0)
    assert [len(p) for p in out] == [8, 8, 16]
    assert out[0] == phases()[0]  # nothing to replay before phase 1
    for k, p in enumerate(out, 1):
        replayed = [r for r in p if r["meta"].get("replayed")]
        assert len(replayed) == round(0.25 * len(phases()[k - 1])) if k > 1 else not replayed
        assert all(r["meta"]["depth"] < k for r in replayed)
        assert len({r["id"] for r in p}) == len(p)  # replayed copies get their own ids
    assert out == with_replay(phases(), 0.25, seed=0) and out != with_replay(phases(), 0.25, seed=1)


def test_no_replay_is_the_plain_depth_split_and_bad_shares_are_rejected():
    assert [sorted(r["id"] for r in p) for p in with_replay(phases(), 0.0, 0)] == \
        [sorted(r["id"] for r in p) for p in phases()]
    with pytest.raises(ValueError, match="replay share"):
        with_replay(phases(), 1.0, 0)


def test_control_is_the_same_records_in_another_order():
    ph = with_replay(phases(), 0.25, 0)
    ctrl = control_order(ph, 0)
    assert Counter(r["id"] for r in ctrl) == Counter(r["id"] for p in ph for r in p)
    assert [r["id"] for r in ctrl] != [r["id"] for p in ph for r in p]


def test_cli_writes_phases_control_and_manifest(tmp_path, capsys):
    for k, p in enumerate(phases(), 1):
        write_jsonl(tmp_path / "split" / f"phase-{k}.jsonl", p)
    assert main([str(tmp_path / "split"), str(tmp_path / "cur"), "--replay", "0.5"]) == 0
    m = json.loads((tmp_path / "cur" / "manifest.json").read_text())
    assert m["status"] == "finished" and m["phase_sizes"] == [8, 8, 16] and m["replayed_per_phase"] == [0, 4, 8]
    assert len(list(read_jsonl(tmp_path / "cur" / "control.jsonl"))) == 32


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no phase-"):
        main([str(tmp_path), str(tmp_path / "cur")])
