"""Hostile configs: alias bombs, duplicate keys, dotted keys named in range errors, --out on a file."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from seqit.cli import main
from seqit.config import expanded_size, load_config, read_yaml
from seqit.errors import ConfigError
from seqit.runs import start_run


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Inner:
    lr: float = 1.0

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class Cfg:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_alias_bomb_is_refused_at_load_time_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(9))
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(Cfg, path, ["inner.lr=2"])
    assert time.monotonic() - t0 < 1.0


def test_modest_aliases_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {lr: 0.5}\ninner: *b\n")
    assert read_yaml(path)["inner"] == {"lr": 0.5}


def test_expanded_size_counts_shared_nodes_and_stops_at_the_limit():
    shared = [1, 2, 3]
    assert expanded_size({"a": shared, "b": shared}, 100) == 1 + 2 + 2 * 4
    cyclic: list = []
    cyclic.append(cyclic)
    assert expanded_size(cyclic, 50) == 51


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("name: a\nname: b\n", 2, "'name'"),
        ("inner:\n  lr: 1\n  lr: 2\n", 3, "'lr'"),
        ("name: a\ninner: {lr: 1, lr: 2}\n", 2, "'lr'"),
    ],
)
def test_duplicate_keys_name_file_line_and_key(tmp_path, text, line, key):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, path)
    assert f"{path}:{line}: duplicate key {key}" in str(e.value)


def test_merge_keys_may_override_merged_values(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {lr: 0.5}\nx:\n  <<: *b\n  lr: 2\n")
    assert read_yaml(path)["x"] == {"lr": 2}


@pytest.mark.parametrize("value", ["0", "-1", ".nan", "nan"])
def test_range_errors_name_the_dotted_key(value):
    with pytest.raises(ConfigError, match=r"<overrides>: inner\.lr: lr must be > 0"):
        load_config(Cfg, None, [f"inner.lr={value}"])


def test_out_pointing_at_a_file_is_a_one_line_error(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("not a dir")
    with pytest.raises(ConfigError, match="is a file"):
        start_run(f, Cfg(), "demo", argv=[])
    cfg = tmp_path / "split.yaml"
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "Say hi.", "input": "", "output": "hi", "meta": {"difficulty": 2}}\n')
    cfg.write_text(f"data: {data}\n")
    rc = main(["split", str(cfg), "--out", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and "is a file" in err and "internal error" not in err
    assert f.read_text() == "not a dir"
