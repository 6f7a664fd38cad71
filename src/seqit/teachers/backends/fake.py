"""A scripted backend for tests and `--dry-run`: replies from a list (in order, cycled) or a function.

    FakeBackend(["a", "b"])                       # "a", "b", "a", ...
    FakeBackend(lambda req: req.messages[-1]["content"].upper())
    FakeBackend(lambda req: BackendError("boom", retryable=True))   # returned or raised errors are attempts that fail
    FakeBackend()                                 # echoes the last user message

Usage is counted as characters / 4, like the estimate the rate limiter uses.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from seqit.teachers.types import ChatRequest, Completion, Usage

Reply = str | Completion | BaseException


class FakeBackend:
    name = "fake"

    def __init__(
        self,
        replies: list[str] | tuple[str, ...] | Callable[[ChatRequest], Any] | None = None,
        latency_s: float = 0.0,
        model: str = "fake",
    ):
        self._fn: Callable[[ChatRequest], Any]
        if replies is None:
            self._fn = _echo
        elif callable(replies):
            self._fn = replies
        else:
            if not replies:
                raise ValueError("FakeBackend needs at least one reply")
            cycle = itertools.cycle(list(replies))
            self._fn = lambda req: next(cycle)
        self.latency_s = latency_s
        self.model = model
        self.calls: list[ChatRequest] = []  # every attempt, in order (tests count re-sends with it)

    async def generate(self, req: ChatRequest, model: str) -> Completion:
        self.calls.append(req)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        reply = self._fn(req)
        if asyncio.iscoroutine(reply):
            reply = await reply
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        texts = [str(reply)] * req.n
        prompt_chars = sum(len(m.get("content") or "") for m in req.messages)
        usage = Usage(prompt_tokens=max(1, prompt_chars // 4), completion_tokens=max(1, len(texts[0]) // 4) * req.n)
        return Completion(req.id, texts, ["stop"] * req.n, usage, model or self.model)

    async def aclose(self) -> None:
        return None


def _echo(req: ChatRequest) -> str:
    users = [m.get("content", "") for m in req.messages if m.get("role") == "user"]
    return users[-1] if users else ""
