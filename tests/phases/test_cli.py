"""`seqit score` / `seqit split` in-process through the CLI, and every shipped config loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.config import load_config
from seqit.phases.score import ScoreConfig
from seqit.phases.split import SplitConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "score").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_score_configs_load_and_name_their_command(path):
    assert path.read_text().startswith(f"# seqit score configs/score/{path.name}")
    load_config(ScoreConfig, path)


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "split").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_split_configs_load_and_name_their_command(path):
    assert path.read_text().startswith(f"# seqit split configs/split/{path.name}")
    load_config(SplitConfig, path)


def _alpaca(tmp_path: Path, n: int) -> Path:
    rows = [{"instruction": f"Task {i}: explain topic {i} to someone new to it.", "input": "",
             "output": "word " * (3 * i + 1)} for i in range(n)]  # fmt: skip
    p = tmp_path / "alpaca.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_score_then_split_through_the_cli_with_a_fake_judge(tmp_path, capsys):
    data = _alpaca(tmp_path, 12)
    replies = "[" + ", ".join(f"'{{\"score\": {s}}}'" for s in (1, 1, 2, 3, 4, 5)) + "]"
    rc = main(["score", str(ROOT / "configs/score/judge-openai.yaml"), f"data={data}", "judge.backend=fake",
               f"judge.fake.replies={replies}", "--out", str(tmp_path / "score")])  # fmt: skip
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    scored = tmp_path / "score" / "scored.jsonl"
    assert len(scored.read_text().splitlines()) == 12
    rc = main(["split", str(ROOT / "configs/split/thresholds.yaml"), f"data={scored}", "--out", str(tmp_path / "split")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "phase 1:" in out and "phase 3:" in out
    m = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert sum(m["phase_sizes"]) == 12 and (tmp_path / "split" / "scores.png").exists()
    assert m["score_methods"] == {"judge": 12}
    assert [p["count"] for p in m["phases"]] == [4, 4, 4]  # replies cycle 1, 1, 2, 3, 4, 5


def test_score_dry_run_prints_the_prompt_and_cost_and_writes_nothing(tmp_path, capsys):
    data = _alpaca(tmp_path, 4)
    rc = main(["score", str(ROOT / "configs/score/judge-openai.yaml"), f"data={data}", "--out", str(tmp_path / "s"),
               "--dry-run"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "Rate the difficulty" in out and "to judge: 4" in out and "upper-bound cost: $" in out
    assert not (tmp_path / "s").exists()


def test_split_limit_and_dry_run(tmp_path, capsys):
    data = _alpaca(tmp_path, 6)
    main(["score", str(ROOT / "configs/score/proxy-length.yaml"), f"data={data}", "--out", str(tmp_path / "s")])
    rc = main(["split", str(ROOT / "configs/split/quantiles.yaml"), f"data={tmp_path / 's' / 'scored.jsonl'}",
               "--out", str(tmp_path / "q"), "--limit", "5", "--dry-run"])  # fmt: skip
    assert rc == 0 and "dry run: nothing written" in capsys.readouterr().out
    assert not (tmp_path / "q").exists()


def test_bad_override_is_a_clear_error_naming_the_key(tmp_path, capsys):
    rc = main(["split", str(ROOT / "configs/split/thresholds.yaml"), "strategy=kmeans"])
    assert rc == 2
    assert "strategy" in capsys.readouterr().err
