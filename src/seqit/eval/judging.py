"""Ask a judge until its reply parses, a bounded number of times; never invent a verdict.

Each re-ask is a different request (the judge's unreadable reply plus a short reminder, and the
attempt number in `prompt_version`), so the durable ledger cannot hand back the same reply again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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


FAILURE_HINTS = {
    "unparsed": "no readable verdict after {attempts} asks each; the judge's raw replies are in {samples} "
                "(field judge_replies). Try a judge that follows the verdict format (judge.model=...), more asks "
                "(judging.max_attempts={more}) or more room (judging.max_tokens)",
    "judge_error": "the judge call failed (field judge_error in {samples}); rerun the same command to retry them",
    "generation_error": "the model gave no answer (field generation_error in {samples}); rerun the same command "
                        "to retry them",
}


def judged_outcome_problem(n_items: int, failures: dict[str, int], samples: str, max_attempts: int,
                           max_reject_frac: float) -> str | None:
    """Why a judged eval must exit 1 (every item failed, or more than `max_reject_frac` did), or None: what failed,
    for how many items, where the raw replies are, and what to try.

    >>> print(judged_outcome_problem(8, {"unparsed": 8}, "runs/e/samples.jsonl", 3, 0.5))
    judging failed for 8 of 8 items: 8 unparsed: no readable verdict after 3 asks each; the judge's raw replies are in runs/e/samples.jsonl (field judge_replies). Try a judge that follows the verdict format (judge.model=...), more asks (judging.max_attempts=5) or more room (judging.max_tokens)
    >>> judged_outcome_problem(8, {"unparsed": 1}, "s.jsonl", 3, 0.5) is None
    True
    """
    from seqit.runs import outcome_problem

    bad = sum(failures.values())
    if outcome_problem(n_items, n_items - bad, bad, max_reject_frac) is None:
        return None
    share = "" if bad == n_items else f" (more than --max-reject-frac {max_reject_frac:g})"
    parts = [f"{n} {kind}: " + FAILURE_HINTS.get(kind, "see {samples}").format(
        attempts=max_attempts, samples=samples, more=max_attempts + 2) for kind, n in sorted(failures.items()) if n]
    return f"judging failed for {bad} of {n_items} items{share}: " + "; ".join(parts)


def sample_failures(samples: Path) -> tuple[int, dict[str, int]]:
    """(items, failure kind -> count) of a judged eval's samples.jsonl (its status field)."""
    from collections import Counter

    from seqit.jsonl import read_jsonl

    statuses = Counter(str(r.get("status")) for r in read_jsonl(samples))
    return sum(statuses.values()), {k: v for k, v in sorted(statuses.items()) if k != "ok"}
