"""Phase statistics for `seqit split`: score and token-length stats, how scores were made, and the
score histogram (matplotlib on an Agg canvas, imported only when drawing)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from seqit.phases.difficulty import estimate_tokens
from seqit.records import Record


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def stats(values: list[float]) -> dict[str, float] | None:
    """min / max / mean / median / p90 / total of a list of numbers (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    return {
        "min": v[0],
        "max": v[-1],
        "mean": round(sum(v) / n, 4),
        "median": v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2,
        "p90": v[min(n - 1, int(0.9 * n))],
        "total": sum(v),
    }


def token_counter(tokenizer_dir: str | None):
    """A text -> token count function: the given local tokenizer, or the regex estimate."""
    if tokenizer_dir is None:
        return estimate_tokens
    from seqit.errors import require

    transformers = require("transformers", "train", "token statistics with a tokenizer")
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def describe_phase(records: list[Record], count_tokens, key: str = "difficulty") -> dict[str, Any]:
    """Counts, score range and mean, token-length stats (whole conversation and output) of a phase."""
    scores = [float(r.meta[key]) for r in records if _is_number(r.meta.get(key))]
    depths: dict[str, int] = {}
    for r in records:
        if _is_number(r.meta.get("depth")):
            depths[str(r.meta["depth"])] = depths.get(str(r.meta["depth"]), 0) + 1
    sc = stats(scores)
    return {
        "count": len(records),
        "score": None if sc is None else {k: sc[k] for k in ("min", "max", "mean", "median")},
        "tokens": stats([float(sum(count_tokens(m["content"]) for m in r.messages)) for r in records]),
        "output_tokens": stats([float(count_tokens(r.response or "")) for r in records]),
        "depths": dict(sorted(depths.items())) or None,
    }


def score_methods(records: list[Record], key: str = "difficulty") -> dict[str, int]:
    """How the scores were made: judge, proxy:<kind>, or 'given' (a score without seqit's detail)."""
    out: dict[str, int] = {}
    for r in records:
        if not _is_number(r.meta.get(key)):
            continue
        d = r.meta.get(f"{key}_detail")
        m = str(d.get("method")) if isinstance(d, dict) and d.get("method") else "given"
        out[m] = out.get(m, 0) + 1
    return dict(sorted(out.items()))


def plot_histogram(path: Path, scores_by_phase: list[list[float]], cuts: list[float], title: str) -> None:
    """Stacked histogram of scores per phase, cut points as dashed lines (Agg canvas, no GUI state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    flat = [s for ph in scores_by_phase for s in ph]
    lo, hi = min([1.0, *flat]), max([5.0, *flat])
    bins = [lo + (hi - lo) * i / 32 for i in range(33)]
    labels = [f"phase {i + 1} (n={len(ph)})" for i, ph in enumerate(scores_by_phase)]
    ax.hist(scores_by_phase, bins=bins, stacked=True, label=labels)
    for c in cuts:
        ax.axvline(c, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{c:g}", (c, 1), xycoords=("data", "axes fraction"), ha="left", va="top", fontsize=8)
    ax.set_xlabel("difficulty score")
    ax.set_ylabel("records")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
