"""Pure metrics: seeded bootstrap confidence intervals, SeqEval summaries by depth, win-rate summaries.

Everything here takes plain lists of per-item values and is deterministic given `seed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqit.eval.winrate import outcome_value, win_rate


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean over items; None for an empty list.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    if not values:
        return None
    import numpy as np

    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // len(x))  # bound memory: at most ~2M draws at once
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, len(x), size=(stop - start, len(x)))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return round(float(lo), 6), round(float(hi), 6)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize_verdicts(
    rows: Sequence[dict[str, Any]], n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Following rate and mean score over parsed items (failures counted apart), with CIs.

    Each row has "status" ("ok" or a failure kind), and for ok rows "following" (bool) and "score".
    """
    ok = [r for r in rows if r["status"] == "ok"]
    following = [1.0 if r["following"] else 0.0 for r in ok]
    scores = [float(r["score"]) for r in ok]
    failures: dict[str, int] = {}
    for r in rows:
        if r["status"] != "ok":
            failures[r["status"]] = failures.get(r["status"], 0) + 1
    return {
        "n_items": len(rows),
        "n_judged": len(ok),
        "n_failed": len(rows) - len(ok),
        "failures": dict(sorted(failures.items())),
        "following_rate": mean(following),
        "following_rate_ci95": bootstrap_ci(following, n_resamples, seed),
        "mean_score": mean(scores),
        "mean_score_ci95": bootstrap_ci(scores, n_resamples, seed),
    }


def summarize_seqeval(rows: Sequence[dict[str, Any]], n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Overall SeqEval metrics plus the same metrics per `iteration` (sequence depth)."""
    by_depth = _group_by_depth(rows)
    outputs = [r["output"] for r in rows if isinstance(r.get("output"), str)]
    return {
        "overall": {**summarize_verdicts(rows, n_resamples, seed),
                    "mean_output_words": mean([len(o.split()) for o in outputs]),  # judges favour length
                    "n_truncated": count_truncated(rows)},
        "by_iteration": {
            k: summarize_verdicts(v, n_resamples, seed) for k, v in by_depth.items()
        },
    }


def _group_by_depth(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by str(iteration), depths in numeric order (unknown depth last)."""
    by_depth: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_depth.setdefault(str(r.get("iteration")), []).append(r)
    return dict(sorted(by_depth.items(), key=_depth_key))


def _depth_key(item: tuple[str, Any]) -> tuple[int, str]:
    k = item[0]
    return (int(k), k) if k.isdigit() else (1 << 30, k)


def sign_test_p(wins: int, losses: int) -> float | None:
    """Two-sided exact sign test of wins vs losses (ties dropped): is A really better or worse than B?

    >>> sign_test_p(9, 1)
    0.021484
    """
    n = wins + losses
    if n == 0:
        return None
    from math import comb

    tail = sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return round(min(1.0, 2 * tail), 6)


def count_truncated(rows: Sequence[dict[str, Any]]) -> int:
    """Outputs cut off by max_new_tokens (finish_reason 'length'): a confound worth seeing."""
    return sum(1 for r in rows if r.get("finish_reason") == "length")


def pairwise_counts(rows: Sequence[dict[str, Any]], n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """win/tie/lose/failed, win rate with a bootstrap CI, and the sign test, for some pairwise rows."""
    outcomes = [r["outcome"] if r["status"] == "ok" else None for r in rows]
    summary = win_rate(outcomes)
    values = [outcome_value(o) for o in outcomes if o is not None]
    summary["win_rate_ci95"] = bootstrap_ci(values, n_resamples, seed)
    summary["sign_test_p"] = sign_test_p(summary["win"], summary["lose"])
    # position bias: the two orders disagreed outright (A won one order and lost the other)
    flips = sum(1 for r in rows if r["status"] == "ok" and sorted(r.get("order_results") or []) == ["lose", "win"])
    summary["order_disagreement_rate"] = flips / summary["n"] if summary["n"] else None
    return summary


def summarize_pairwise(rows: Sequence[dict[str, Any]], n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Win rate of A vs B (overall and by depth when known), failures apart, mean lengths beside it."""
    summary = pairwise_counts(rows, n_resamples, seed)
    for unit, size in (("words", lambda t: len(t.split())), ("chars", len)):
        summary[f"mean_length_{unit}"] = {
            side: mean([size(r[key]) for r in rows if isinstance(r.get(key), str)])
            for side, key in (("model", "output"), ("reference", "reference_output"))
        }
    summary["n_truncated"] = count_truncated(rows)
    by_depth = _group_by_depth(rows)
    if set(by_depth) != {"None"}:
        summary["by_iteration"] = {k: pairwise_counts(v, n_resamples, seed) for k, v in by_depth.items()}
    return summary


# ---------------------------------------------------------------------------------------------
# Horizon metrics (Long-Horizon Execution, arXiv 2509.09677): how many steps until a chain is more
# likely wrong than right, from per-step accuracy, plus where chains first fail.


def horizon_length(p: float | None, s: float = 0.5) -> float | None:
    """H_s = ln s / ln p: the chain length at which a model with step accuracy p (steps failing
    independently) gets a whole chain right with probability s. p=0 -> 0.0; p=1 -> None (unbounded:
    no failure observed); p=None (no steps) -> None.

    >>> horizon_length(0.5)
    1.0
    """
    if p is None:
        return None
    if not 0.0 <= p <= 1.0 or not 0.0 < s < 1.0:
        raise ValueError(f"horizon_length: need 0 <= p <= 1 and 0 < s < 1 (got p={p}, s={s})")
    if p == 1.0:
        return None
    if p == 0.0:
        return 0.0
    import math

    return round(math.log(s) / math.log(p), 4)


def first_failure(correct: Sequence[bool]) -> int | None:
    """1-based position of the first wrong step, None when every step is right."""
    return next((i for i, ok in enumerate(correct, 1) if not ok), None)


def horizon_summary(chains: Sequence[Sequence[bool]]) -> dict[str, Any]:
    """Step accuracy p, H0.5, the first-failure distribution (counts and shares, 'none' = chain right)
    and survival (share of chains whose first k steps are all right), for per-chain step verdicts."""
    steps = [ok for c in chains for ok in c]
    p = round(sum(steps) / len(steps), 4) if steps else None
    counts: dict[str, int] = {}
    for c in chains:
        ff = first_failure(c)
        key = "none" if ff is None else str(ff)
        counts[key] = counts.get(key, 0) + 1
    order = sorted(counts, key=lambda k: (k == "none", int(k) if k != "none" else 0))
    depth = max((len(c) for c in chains), default=0)
    survival = {}
    for k in range(1, depth + 1):
        long_enough = [c for c in chains if len(c) >= k]
        survival[str(k)] = round(sum(all(c[:k]) for c in long_enough) / len(long_enough), 4)
    return {
        "n_chains": len(chains),
        "n_steps": len(steps),
        "step_acc": p,
        "h50": horizon_length(p),
        "h50_unbounded": p == 1.0,
        "first_failure": {k: counts[k] for k in order},
        "first_failure_share": {k: round(counts[k] / len(chains), 4) for k in order},
        "survival": survival,
    }


def horizon_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`horizon` for results.json: horizon_summary overall and by depth, from SeqEval-V sample rows
    (each with `correct`: per-step verdicts, and `depth`)."""
    by_depth: dict[str, list[Sequence[bool]]] = {}
    for r in rows:
        by_depth.setdefault(str(r.get("depth", len(r["correct"]))), []).append(r["correct"])
    return {
        "overall": horizon_summary([r["correct"] for r in rows]),
        "by_depth": {k: horizon_summary(v) for k, v in sorted(by_depth.items(), key=_depth_key)},
    }


def self_conditioning_summary(probes: Sequence[dict[str, Any]], run_rows: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Per k: step k+1's accuracy after a right step-k result pre-filled (`clean_acc`) vs a wrong one
    (`injected_acc`, judged against the wrong value actually in context), their difference, how often
    the model still gave the gold answer after the wrong context (`injected_gold_acc`), and, from the
    model-in-the-loop run rows of the same chains, its own step k+1 accuracy (`run_acc`).

    `probes`: rows {id, k, context: clean|injected, followed, gold}; `run_rows`: sample rows with `correct`.
    """
    run = {r["id"]: r["correct"] for r in run_rows}
    out: dict[str, Any] = {}
    for k in sorted({p["k"] for p in probes}):
        clean = {p["id"]: p for p in probes if p["k"] == k and p["context"] == "clean"}
        injected = {p["id"]: p for p in probes if p["k"] == k and p["context"] == "injected"}
        ids = sorted(set(clean) & set(injected))  # paired: the same chains in both contexts
        c, i = _rate([clean[x] for x in ids], "followed"), _rate([injected[x] for x in ids], "followed")
        in_run = [run[x][k] for x in ids if x in run and len(run[x]) > k]
        out[str(k)] = {
            "n": len(ids),
            "clean_acc": c,
            "injected_acc": i,
            "delta": round(i - c, 4) if c is not None and i is not None else None,
            "injected_gold_acc": _rate([injected[x] for x in ids], "gold"),
            "run_acc": round(sum(in_run) / len(in_run), 4) if in_run else None,
        }
    return out


def _rate(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 4) if rows else None


CHAIN_RATES = {"chain_acc": "chain_ok", "step_acc": "correct", "follow_acc": "followed"}


def chain_rate_cis(rows: Sequence[dict[str, Any]], n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Bootstrap 95% CIs of SeqEval-V's rates from its sample rows: chain accuracy over chains, step and follow
    accuracy over steps; {"<rate>_ci95": (lo, hi) | None}.

    >>> chain_rate_cis([{"chain_ok": True, "correct": [True], "followed": [True]}])
    {'chain_acc_ci95': (1.0, 1.0), 'step_acc_ci95': (1.0, 1.0), 'follow_acc_ci95': (1.0, 1.0)}
    """
    out = {}
    for rate, key in CHAIN_RATES.items():
        values = [float(v) for r in rows for v in (r[key] if isinstance(r[key], list) else [r[key]])]
        out[f"{rate}_ci95"] = bootstrap_ci(values, n_resamples, seed)
    return out
