"""Honest exit codes: a run where everything failed, or too much was rejected, exits 1 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.errors import ConfigError
from seqit.runs import outcome_problem

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "rows_in, outputs, rejects, frac, expect",
    [
        (20, 0, 20, 0.5, "no output records from 20 input rows"),
        (20, 0, 0, 1.0, "no output records"),  # nothing out of something: even with the check off
        (10, 4, 6, 0.5, "6 of 10 input rows rejected (60%)"),
        (10, 5, 5, 0.5, None),  # exactly the limit passes
        (10, 9, 1, 0.0, "1 of 10 input rows rejected"),
        (10, 1, 9, 1.0, None),
        (0, 0, 0, 0.5, None),  # empty input is not a failure of the run
    ],
)
def test_outcome_problem(rows_in, outputs, rejects, frac, expect):
    got = outcome_problem(rows_in, outputs, rejects, frac)
    assert got is None if expect is None else expect in got


def test_outcome_problem_checks_the_fraction():
    with pytest.raises(ConfigError, match="--max-reject-frac"):
        outcome_problem(1, 1, 0, 1.5)


def _alpaca(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "alpaca.jsonl"
    p.write_text("".join(json.dumps({"instruction": f"Task {i}: explain topic {i}.", "input": "",
                                     "output": "word " * (i + 2)}) + "\n" for i in range(n)))
    return p


def test_score_with_every_row_rejected_exits_1(tmp_path, capsys):
    args = ["score", str(ROOT / "configs/score/judge-openai.yaml"), f"data={_alpaca(tmp_path, 6)}",
            "judge.backend=fake", "judge.fake.replies=['I cannot rate this.']", "--out", str(tmp_path / "s")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "error" in line] == [
        "error: no output records from 6 input rows (6 rejected; see rejects.jsonl)"]


def test_eval_with_every_verdict_unparsed_exits_1(tmp_path, capsys):
    args = ["eval", str(ROOT / "configs/eval/smoke-fake.yaml"), "--out", str(tmp_path / "e"), "--limit", "4",
            "judge.fake.replies=['no verdict here']"]
    assert main(args) == 1
    err = " ".join(capsys.readouterr().err.split())
    samples = tmp_path / "e" / "samples.jsonl"
    assert [line for line in err.split("error: ")[1:]] == [  # once, saying what failed, where and what to try
        f"judging failed for 4 of 4 items: 4 unparsed: no readable verdict after 2 asks each; the judge's raw "
        f"replies are in {samples} (field judge_replies). Try a judge that follows the verdict format "
        "(judge.model=...), more asks (judging.max_attempts=4) or more room (judging.max_tokens)"]
    assert "rejects.jsonl" not in err and all("no verdict here" in r["judge_replies"][0]
                                               for r in map(json.loads, samples.read_text().splitlines()))
    ok = ["eval", str(ROOT / "configs/eval/smoke-fake.yaml"), "--out", str(tmp_path / "e2"), "--limit", "4"]
    assert main(ok) == 0


def test_generate_with_no_sequential_records_exits_1(tmp_path, sample_path, capsys):
    args = ["generate", str(ROOT / "configs/generate/alpaca-selfseq.yaml"), f"data.path={sample_path}",
            "teacher.backend=fake", "teacher.fake.replies=['???']", "limit=4", "--out", str(tmp_path / "g"),
            "--no-progress"]
    assert main(args) == 1
    assert "error: no sequential record from 4 seeds (4 rewrites dropped: see rejects.jsonl" in capsys.readouterr().err
    m = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert m["counts"]["sit_records"] == 0 and m["status"] == "finished"


def test_convert_fails_above_max_reject_frac(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    good = json.dumps({"instruction": "Say hi.", "input": "", "output": "hi"})
    src.write_text(good + "\n" + "{broken\n" * 3)
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(src), str(out)]) == 1
    assert "3 of 4 input rows rejected (75%), more than --max-reject-frac 0.5" in capsys.readouterr().err
    assert main(["convert", str(src), str(out), "--max-reject-frac", "1"]) == 0
    assert main(["convert", str(src), str(out), "--max-reject-frac", "2"]) == 2
