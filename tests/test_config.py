"""Strict configs: unknown keys, wrong types, overrides, and no code execution."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from seqit.config import apply_overrides, dump_yaml, load_config, parse_override
from seqit.errors import ConfigError


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-5
    warmup_ratio: float = 0.0
    schedule: Literal["linear", "cosine"] = "linear"


@dataclass(frozen=True)
class Phase:
    data: Path
    epochs: int = 1


@dataclass(frozen=True)
class Cfg:
    name: str
    optim: Optim = field(default_factory=Optim)
    phases: list[Phase] = field(default_factory=list)
    seed: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stop: tuple[str, ...] = ()
    packing: bool = True

    def __post_init__(self):
        if self.optim.lr <= 0:
            raise ValueError("optim.lr must be > 0")


def cfg_file(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_nested_config_with_overrides(tmp_path):
    p = cfg_file(tmp_path, "name: x\noptim:\n  lr: 2e-5\nphases:\n  - data: a.jsonl\n    epochs: 2\n")
    cfg = load_config(Cfg, p, ["optim.schedule=cosine", "seed=3", 'stop=["###", "\\n\\n"]'])
    assert cfg.optim == Optim(lr=2e-5, schedule="cosine")
    assert cfg.phases == [Phase(Path("a.jsonl"), 2)] and cfg.seed == 3 and cfg.stop == ("###", "\n\n")


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("name: x\noptim:\n  lrr: 1\n", [], "c.yaml: optim.lrr: unknown key (known keys here: lr, schedule, warmup_ratio)"),
        ("name: x\noptim:\n  lr: fast\n", [], "c.yaml: optim.lr: expected float, got str 'fast'"),
        ("name: x\npacking: 1\n", [], "c.yaml: packing: expected bool, got int 1"),
        ("name: 3\n", [], "c.yaml: name: expected str, got int 3"),
        ("name: x\nphases:\n  - epochs: 1\n", [], "c.yaml: phases[0].data: required key is missing"),
        ("name: x\nphases:\n  - data: a\n    epochs: 1.5\n", [], "c.yaml: phases[0].epochs: expected int, got float 1.5"),
        ("name: x\noptim:\n  schedule: step\n", [], "c.yaml: optim.schedule: must be one of 'linear', 'cosine', got str 'step'"),
        ("optim: {}\n", [], "c.yaml: name: required key is missing"),
        ("name: x\noptim: 3\n", [], "c.yaml: optim: expected a mapping, got int 3"),
        ("name: x\n", ["optim.lr=0"], "c.yaml: <root>: optim.lr must be > 0"),
        ("name: x\n", ["optim.nope=1"], "c.yaml: optim.nope: unknown key"),
        ("name: x\nseed: null\ntags: [a]\n", [], "c.yaml: tags: expected a mapping, got list"),
    ],
)
def test_config_errors_name_file_and_dotted_key(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, cfg_file(tmp_path, text), overrides)
    assert str(e.value).endswith(message) or message in str(e.value), str(e.value)
    assert str(tmp_path / "c.yaml") in str(e.value)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml:3:1: invalid YAML: expected ',' or ']'"):
        load_config(Cfg, cfg_file(tmp_path, "name: x\noptim: [1, 2\n"))


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    text = "name: !!python/object/apply:os.system ['touch pwned']\n"
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(Cfg, cfg_file(tmp_path, text))
    assert not Path("pwned").exists()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Cfg, tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text, keys, value",
    [("a.b=3", ["a", "b"], 3), ("x=1e-4", ["x"], "1e-4"), ("x=[1, 2]", ["x"], [1, 2]), ("x=", ["x"], ""), ("x=null", ["x"], None)],
)
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("text", ["novalue", "=3"])
def test_bad_override_is_a_config_error(text):
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        parse_override(text)


def test_override_into_scalar_is_an_error():
    with pytest.raises(ConfigError, match="'a' is not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_dump_round_trips(tmp_path):
    cfg = load_config(Cfg, cfg_file(tmp_path, "name: x\nphases:\n  - data: a.jsonl\n"))
    p = tmp_path / "resolved.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_config(Cfg, p) == cfg
