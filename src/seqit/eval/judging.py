"""Ask a judge until its reply parses, a bounded number of times; never invent a verdict.

Each re-ask is a different request (the judge's unreadable reply plus a short reminder, and the
attempt number in `prompt_version`), so the durable ledger cannot hand back the same reply again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seqit.teachers import ChatRequest


@dataclass(frozen=True)
class JudgingConfig:
    max_attempts: int = 3  # asks per judgement: the first + re-asks when the reply cannot be parsed
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("judging.max_attempts must be >= 1")


@dataclass
class Judgement:
    parsed: Any | None  # the parser's result, None if every reply was unreadable (or the call failed)
    replies: list[str] = field(default_factory=list)
    error: str | None = None  # transport/API failure after the teacher's retries

    @property
    def status(self) -> str:
        if self.error is not None:
            return "judge_error"
        return "ok" if self.parsed is not None else "unparsed"


def judge_request(
    request_id: str, messages: list[dict[str, str]], prompt_version: str, attempt: int, cfg: JudgingConfig
) -> ChatRequest:
    version = prompt_version if attempt == 0 else f"{prompt_version}#reask{attempt}"
    return ChatRequest(
        id=f"{request_id}:judge{attempt}",
        messages=messages,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
        prompt_version=version,
    )


async def judge_until_parsed(
    teacher: Any,
    request_id: str,
    messages: list[dict[str, str]],
    parse: Callable[[str], Any | None],
    reask: str,
    prompt_version: str,
    cfg: JudgingConfig,
) -> Judgement:
    """Ask `teacher`; re-ask with `reask` while `parse(reply)` is None, up to `cfg.max_attempts` asks."""
    result = Judgement(parsed=None)
    current = list(messages)
    for attempt in range(cfg.max_attempts):
        comp = await teacher.complete(judge_request(request_id, current, prompt_version, attempt, cfg))
        if not comp.ok:
            result.error = comp.error
            return result
        result.replies.append(comp.text)
        result.parsed = parse(comp.text)
        if result.parsed is not None:
            return result
        current = [*messages, {"role": "assistant", "content": comp.text}, {"role": "user", "content": reask}]
    return result
