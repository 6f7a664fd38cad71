"""CLI wiring that every command shares: --limit and --dry-run mean the same everywhere."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seqit.cli import app

DATA_COMMANDS = ["convert", "score", "split", "generate", "complete", "train", "eval"]


@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_every_data_command_takes_limit_and_dry_run_with_one_meaning(command):
    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"}).output
    text = " ".join(out.replace("│", " ").split())  # rich wraps help text inside a box
    assert "--limit" in text and "Process only the first N rows" in text
    assert "--dry-run" in text and "send nothing, train nothing" in text


def test_limit_is_the_config_key_limit_for_every_config_command(tmp_path, monkeypatch):
    from seqit.cli import _load
    from seqit.eval.run import EvalConfig
    from seqit.generate.config import GenerateConfig
    from seqit.phases.score import ScoreConfig
    from seqit.phases.split import SplitConfig
    from seqit.teachers.complete import CompleteConfig
    from seqit.train import TrainConfig

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("")  # the CLI checks that inputs exist before anything runs
    cases = [(ScoreConfig, ["data=x"]), (SplitConfig, ["data=x"]), (GenerateConfig, ["data.path=x", "out_dir=o"]),
             (CompleteConfig, []), (TrainConfig, ["model.path=m", "phases=[{data: x}]"]), (EvalConfig, ["data=x"])]
    for cls, base in cases:
        assert _load(cls, None, base, limit=7).limit == 7, cls.__name__
        assert _load(cls, None, base).limit is None, cls.__name__
