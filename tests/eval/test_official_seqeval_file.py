"""The SIT authors' seqEval.json layout (a pretty-printed JSON list of {instruction, iteration}; one item
has an empty instruction): `seqit validate` detects its format, `seqit eval` rejects that one item
(rejects.jsonl in the run dir, counted in the manifest) and runs the others, also with --limit.

The file here is synthetic, in the same layout (nothing is downloaded).
"""

from __future__ import annotations

import json

import pytest

from seqit.cli import main
from seqit.jsonl import read_jsonl

N = 12
EMPTY_AT = 5  # 0-based position of the item with an empty instruction (the official file has one)
CONFIG = """\
task: seqeval
data: {data}
model: {{backend: fake, model: echo}}
judge:
  backend: fake
  model: scripted-judge
  fake: {{replies: ["All steps are addressed in order. [[Yes, 4]]"]}}
bootstrap_samples: 50
"""


@pytest.fixture
def seqeval_file(tmp_path):
    rows = [{"instruction": f"Item {i}: name a fruit, then spell it backwards.", "iteration": 1 + i % 4} for i in range(N)]
    rows[EMPTY_AT]["instruction"] = ""
    path = tmp_path / "seqEval.json"
    path.write_text(json.dumps(rows, indent=4), encoding="utf-8")  # the official file is indented by 4
    return path


def empty_item_line(path) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, ln in enumerate(lines, 1) if '"instruction": ""' in ln) - 1  # the item's "{" line


def test_validate_detects_the_seqeval_format_and_flags_the_empty_item(seqeval_file, capsys):
    assert main(["validate", str(seqeval_file)]) == 1
    out = capsys.readouterr().out
    assert "detected format seqeval" in out
    assert f"seqEval.json:{empty_item_line(seqeval_file)}: instruction: is empty" in out
    assert f"rows: {N}  good: {N - 1}  bad: 1" in out


@pytest.mark.parametrize("limit", [None, 4])
def test_eval_rejects_the_empty_item_and_runs_the_rest(tmp_path, seqeval_file, limit, capsys, caplog):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(CONFIG.format(data=seqeval_file))
    run = tmp_path / "run"
    argv = ["eval", str(cfg), "-o", str(run)] + (["--limit", str(limit)] if limit else [])
    assert main(argv) == 0
    assert caplog.text.count("benchmark rows rejected") == 1  # said once, not by the plan and the task each
    samples = list(read_jsonl(run / "samples.jsonl"))
    assert len(samples) == (limit or N - 1)
    (rej,) = read_jsonl(run / "rejects.jsonl")
    assert rej["file"] == str(seqeval_file) and rej["line"] == empty_item_line(seqeval_file)
    assert (rej["stage"], rej["field"], rej["row"]["instruction"]) == ("read", "instruction", "")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["counts"]["rows_in"] == N and manifest["counts"]["rejects"] == 1
    assert manifest["status"] == "finished"
    results = json.loads((run / "results.json").read_text())
    assert results["n_rejected"] == 1 and results["n_items"] == (limit or N - 1)


def test_eval_dry_run_counts_the_rejected_item(tmp_path, seqeval_file, capsys):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(CONFIG.format(data=seqeval_file))
    assert main(["eval", str(cfg), "-o", str(tmp_path / "run"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"rejects": 1' in out and f'"items": {N - 1}' in out
