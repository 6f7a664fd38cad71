"""Shared fixtures. `fake_openai`: a loopback OpenAI-compatible server (tests/fakes/openai_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
