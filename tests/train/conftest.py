"""Fixtures for training tests: a tiny saved Llama + byte tokenizer and small record files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest


def write_records(path: Path, n: int, seed: int, turns: int = 1, pad_words: int = 12) -> Path:
    """Arithmetic conversations (deterministic), in seqit's own record JSONL."""
    r = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            a, b = r.randint(0, 99), r.randint(0, 99)
            msgs = [{"role": "user", "content": f"add {a} {b}" + " x" * r.randint(0, pad_words)},
                    {"role": "assistant", "content": str(a + b)}]
            for _ in range(turns - 1):
                msgs += [{"role": "user", "content": "double it"},
                         {"role": "assistant", "content": str(2 * (a + b))}]
            f.write(json.dumps({"id": f"{path.stem}-{i}", "messages": msgs, "meta": {}}) + "\n")
    return path


@pytest.fixture(scope="session")
def train_world(tmp_path_factory):
    """{'model': dir, 'p1': records, 'p2': records} shared by the training tests."""
    from seqit.tinymodels import save_tiny_model

    root = tmp_path_factory.mktemp("train_world")
    model = save_tiny_model(root / "model", hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2)
    return {
        "root": root,
        "model": model,
        "p1": write_records(root / "p1.jsonl", 24, seed=1),
        "p2": write_records(root / "p2.jsonl", 16, seed=2, turns=2),
    }


@pytest.fixture
def tiny_cfg(train_world):
    """Factory: TrainConfig from configs/train/tiny-cpu.yaml pointed at the tiny world (+ overrides)."""
    from seqit.config import load_config
    from seqit.train import TrainConfig

    def make(out: Path, *extra: str, phases: str | None = None) -> TrainConfig:
        phases = phases or f"[{{data: {train_world['p1']}}}]"
        base = [f"model.path={train_world['model']}", f"out_dir={out}", f"phases={phases}"]
        return load_config(TrainConfig, CONFIG, [*base, *extra])

    return make


CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny-cpu.yaml")


@pytest.fixture
def make_records():
    """The record writer above, as a fixture (test modules cannot import conftest)."""
    return write_records


@pytest.fixture
def tiny_config_path():
    return CONFIG
