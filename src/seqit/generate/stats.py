"""Run statistics for `seqit generate` manifests (pure): per-stage counts, reject reasons, option
distribution per round, depth histogram, prompt/response lengths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


def summarize(done: list[dict[str, Any]], rejects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per-stage counts, reject reasons, depth histogram and option distribution per round."""
    stages: Counter = Counter()
    rounds: dict[int, Counter] = {}
    depths: Counter = Counter()
    for d in done:
        stages.update(d.get("stages", {}))
        for i, opt in enumerate(d.get("options", []), 1):
            rounds.setdefault(i, Counter())[opt or "unparsed"] += 1
        if d.get("sit"):
            depths[str(d.get("depth"))] += 1
    reasons = Counter(f"{r['stage']}: {_reason_key(r['reason'])}" for r in rejects)
    return {
        "stages": dict(sorted(stages.items())),
        "reject_reasons": dict(reasons.most_common()),
        "depths": dict(sorted(depths.items())),
        "options_per_round": {
            str(i): {**dict(sorted(c.items())), "pct": _pct(c)} for i, c in sorted(rounds.items())
        },
    }


def mean_lengths(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean prompt and response length in characters, per depth (the reference's instruction/output growth)."""
    by_depth: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        prompt = sum(len(m["content"]) for m in r["messages"][:-1] if m["role"] == "user")
        by_depth.setdefault(str(r["meta"].get("depth", 0)), []).append(
            (prompt, len(r["messages"][-1]["content"]))
        )
    return {
        d: {
            "n": len(v),
            "prompt_chars": round(sum(p for p, _ in v) / len(v), 1),
            "response_chars": round(sum(a for _, a in v) / len(v), 1),
        }
        for d, v in sorted(by_depth.items())
    }


def _reason_key(reason: str) -> str:
    """Group reasons that differ only in details ('drops key content of the original: 3, 4')."""
    return reason.split(":", 1)[0] if not reason.startswith("teacher error") else "teacher error"


def _pct(c: Counter) -> dict[str, float]:
    total = sum(c.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in sorted(c.items())}
