"""--limit on SeqEval-V samples across chain depths (the file is sorted by depth)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from seqit.chains.seqeval_v import frozen_items
from seqit.cli import main
from seqit.eval.seqeval_v import limit_by_depth


def _items(depths):
    return [{"id": f"i{k}", "meta": {"depth": d}} for k, d in enumerate(depths)]


@pytest.mark.parametrize(
    ("depths", "limit", "want"),
    [
        ([1, 1, 1, 2, 2, 2, 3, 3, 3], 3, ["i0", "i3", "i6"]),
        ([1, 1, 1, 2, 2, 2, 3, 3, 3], 5, ["i0", "i1", "i3", "i4", "i6"]),  # shallow depths first per round
        ([1, 1, 1, 1, 2], 3, ["i0", "i1", "i4"]),  # a depth that runs out leaves room to the others
        ([1, 2], 10, ["i0", "i1"]),  # limit above the size: everything
        ([2, 1, 2, 1], 2, ["i0", "i1"]),  # result keeps file order
        ([1, 2, 3], 0, []),
    ],
)
def test_limit_by_depth_round_robin_in_file_order(depths, limit, want):
    assert [it["id"] for it in limit_by_depth(_items(depths), limit)] == want


def test_v1_limit_covers_every_depth_evenly():
    items = frozen_items("v1")
    assert Counter(it["meta"]["depth"] for it in items[:30]) == {1: 30}  # why a plain head is wrong
    picked = limit_by_depth(items, 30)
    assert Counter(it["meta"]["depth"] for it in picked) == {1: 6, 2: 6, 3: 6, 4: 6, 5: 6}


def test_seqit_eval_limit_reports_every_depth(tmp_path):
    rc = main(["eval", "configs/eval/seqeval-v.yaml", "model.backend=fake", "model.model=echo", "limit=10",
               "--out", str(tmp_path / "run")])
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["n_items"] == 10
    assert sorted(res["metrics"]["by_iteration"]) == ["1", "2", "3", "4", "5"]
