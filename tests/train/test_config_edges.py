"""Train configs refused before any model loads: ranges (dotted key named), phase names, model paths."""

from __future__ import annotations

import time

import pytest

from seqit.cli import main
from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.teachers import TeacherConfig
from seqit.train import TrainConfig
from seqit.train.config import phase_name_problem
from seqit.train.model import model_path_problem


@pytest.mark.parametrize(
    "override, key",
    [
        ("optim.lr=0", "optim.lr"),
        ("optim.lr=-1e-4", "optim.lr"),
        ("optim.lr=.nan", "optim.lr"),
        ("lora.r=0", "lora.r"),
        ("max_steps=0", "max_steps"),
        ("save_every_steps=-1", "save_every_steps"),
        ("keep_last=-2", "keep_last"),
        ("optim.max_grad_norm=-1", "optim.max_grad_norm"),
        ("optim.max_grad_norm=.nan", "optim.max_grad_norm"),
        ("phases=[{data: x.jsonl, lr: 0}]", "phases[0].lr"),
    ],
)
def test_train_ranges_name_the_dotted_key(tiny_config_path, override, key):
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, tiny_config_path, ["phases=[{data: x.jsonl}]", override])
    assert f"{tiny_config_path}: {key}: " in str(e.value)


@pytest.mark.parametrize(
    "override, key",
    [("timeout_s=.nan", "timeout_s"), ("timeout_s=-1", "timeout_s"), ("backoff_base_s=-0.5", "backoff_base_s"),
     ("backoff_base_s=.nan", "backoff_base_s"), ("retry_budget_s=-1", "retry_budget_s"),
     ("retry_budget_s=.nan", "retry_budget_s")],
)
def test_teacher_ranges_name_the_dotted_key(override, key):
    from seqit.teachers.complete import CompleteConfig

    with pytest.raises(ConfigError, match=rf"<overrides>: teacher\.{key}: "):
        load_config(CompleteConfig, None, [f"teacher.{override}"])
    assert TeacherConfig(retry_budget_s=None, backoff_base_s=0).retry_budget_s is None


@pytest.mark.parametrize(
    "name, ok",
    [("phase-1", True), ("easy_2.v1", True), ("../../X", False), ("/abs/dir", False), ("a/b", False),
     ("..", False), (".hidden", False), ("model", False), ("checkpoints", False), ("Manifest.json", False),
     ("metrics.jsonl", False), ("", False), ("a\\b", False)],
)
def test_phase_names_must_be_plain_unreserved_dir_names(name, ok):
    assert (phase_name_problem(name) is None) is ok


def test_bad_phase_name_is_refused_with_its_key(tiny_config_path):
    with pytest.raises(ConfigError, match=r"phases\[1\]\.name: '\.\./\.\./X' is not a plain directory name"):
        load_config(TrainConfig, tiny_config_path, ["phases=[{data: a.jsonl}, {data: b.jsonl, name: ../../X}]"])
    with pytest.raises(ConfigError, match=r"phases\[0\]\.name: 'model' is reserved"):
        load_config(TrainConfig, tiny_config_path, ["phases=[{data: a.jsonl, name: model}]"])
    with pytest.raises(ConfigError, match="unique"):  # an explicit name equal to another phase's default
        load_config(TrainConfig, tiny_config_path, ["phases=[{data: a.jsonl}, {data: b.jsonl, name: phase-1}]"])


@pytest.mark.parametrize(
    "path, problem",
    [("REPLACE_WITH_TINY_MODEL_DIR", "neither an existing local directory nor a hub id"),
     ("./models/tiny", "does not exist"), ("/nonexistent/model", "does not exist"), ("~/no-such-model", "does not exist"),
     ("runs/train/model", "does not exist"), ("", "empty"), ("Qwen/Qwen2.5-0.5B", None)],
)
def test_model_path_problem(path, problem):
    why = model_path_problem(path)
    assert (why is None) if problem is None else (problem in why)


def test_exists_partially_is_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert "does not exist" in model_path_problem("models/tiny")  # owner/name-shaped, but models/ is here
    assert model_path_problem("models") is None


def test_train_with_the_placeholder_model_fails_at_once(tmp_path, train_world, capsys):
    t0 = time.monotonic()
    rc = main(["train", "configs/train/tiny-cpu.yaml", f"phases=[{{data: {train_world['p1']}}}]",
               "--out", str(tmp_path / "run"), "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and "model.path: 'REPLACE_WITH_TINY_MODEL_DIR' is neither" in err
    assert len(err.strip().splitlines()) == 1 and time.monotonic() - t0 < 10


def test_hf_teacher_with_a_missing_model_dir_fails_at_once(tmp_path, capsys):
    req = tmp_path / "r.jsonl"
    req.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n')
    rc = main(["complete", str(req), "-o", str(tmp_path / "o" / "out.jsonl"), "--backend", "hf",
               "--model", str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert rc == 2 and "teacher.model:" in err and "does not exist" in err


def test_train_without_a_terminal_logs_loss_lines(tmp_path, train_world, caplog):
    import logging

    caplog.set_level(logging.INFO)
    rc = main(["train", "configs/train/tiny-cpu.yaml", f"model.path={train_world['model']}",
               f"phases=[{{data: {train_world['p1']}}}]", "max_steps=3", "--out", str(tmp_path / "run")])
    assert rc == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "seqit.progress" and r.getMessage().startswith("phase-1: ")]
    assert lines and "(100%)" in lines[-1] and "loss" in lines[-1] and "tok/s" in lines[-1]  # the closing line
