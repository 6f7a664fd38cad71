"""`seqit report RUN_DIR... [--out report.html]`: one self-contained HTML file for any seqit run dirs.

It recognises eval runs (results.json + samples.jsonl), train runs (metrics.jsonl), split runs
(phase-*.jsonl + manifest), generate runs (sit.jsonl: options per round, depths, rejects by stage and reason),
score runs (scored.jsonl: difficulty histogram, rejects) and quickstart results ({"arms": {...}}), and skips
what is absent.
Plots are matplotlib PNGs embedded as base64; every piece of run text is HTML-escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import SeqitError
from seqit.jsonl import read_json, read_jsonl
from seqit.report.html import esc, flatten, fmt, fmt_ci, is_num, kv_table, page, table
from seqit.report.plots import (
    DEPTH_METRICS,
    plot_arms,
    plot_by_depth,
    plot_hist,
    plot_horizon,
    plot_loss,
    plot_options,
    plot_phase_hist,
    plot_win_rates,
)
from seqit.report.samples import latest_samples, samples_section

log = logging.getLogger(__name__)



@dataclass
class RunInfo:
    path: Path
    name: str
    kinds: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)


def run_report(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """Write the HTML report for `run_dirs`; returns its path (default: report.html in the first run dir)."""
    if not run_dirs:
        raise SeqitError("seqit report needs at least one run directory")
    runs = [inspect_run(Path(p)) for p in run_dirs]
    out_path = Path(out) if out else runs[0].path / "report.html"
    sections = [_overview(runs)] + [s for s in (_cross_run_plots(runs)) if s]
    for run in runs:
        sections.append(_run_section(run))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    title = "seqit quickstart: IT vs SIT on the micro-world" if [r.kinds for r in runs] == [["quickstart"]] else "seqit report"
    out_path.write_text(page(title, "\n".join(sections)), encoding="utf-8")
    log.info("wrote %s", out_path)
    return out_path


def inspect_run(path: Path) -> RunInfo:
    """What a run dir holds; an unreadable or empty dir is an error naming it."""
    if not path.is_dir():
        raise SeqitError(f"{path}: not a directory (seqit report takes run directories)")
    info = RunInfo(path=path, name=path.name or str(path))
    info.manifest = _read_json(path / "manifest.json")
    info.results = _normalise_results(_read_json(path / "results.json"))
    if "arms" in info.results:
        info.kinds.append("quickstart")
    elif info.results:
        info.kinds.append("eval")
    if (path / "metrics.jsonl").exists():
        info.kinds.append("train")
    if sorted(path.glob("phase-*.jsonl")) or info.manifest.get("command") == "split":
        info.kinds.append("split")
    if info.manifest.get("command") == "generate" or (path / "sit.jsonl").exists():
        info.kinds.append("generate")
    if info.manifest.get("command") == "score" or (path / "scored.jsonl").exists():
        info.kinds.append("score")
    if not info.kinds:
        raise SeqitError(
            f"{path}: nothing to report (no results.json, metrics.jsonl, phase-*.jsonl, sit.jsonl or scored.jsonl; "
            "is this a seqit run dir?)"
        )
    return info


def _normalise_results(res: dict[str, Any]) -> dict[str, Any]:
    """Shape checks at the edge, so the renderers can trust: metrics is a dict, by_iteration a dict of dicts."""
    metrics = res.get("metrics", {})
    if not isinstance(metrics, dict):
        metrics = {"value": metrics}
    by = metrics.get("by_iteration")
    if by is not None:
        metrics["by_iteration"] = {str(k): v for k, v in by.items() if isinstance(v, dict)} if isinstance(by, dict) else {}
    return {**res, "metrics": metrics} if res else res


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = read_json(path)
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------------------------
# Sections


def _overview(runs: list[RunInfo]) -> str:
    rows = []
    for r in runs:
        m = r.manifest
        rows.append([r.name, ", ".join(r.kinds), m.get("command", ""), m.get("status", ""), str(r.path)])
    return "<h2>Runs</h2>" + table(["run", "contents", "command", "status", "path"], rows)


def _headline(res: dict[str, Any]) -> tuple[str, Any, Any, Any]:
    """(metric name, value, 95% CI, failed items) of an eval run's main number."""
    m = res.get("metrics") or {}
    scope = m.get("overall") if isinstance(m.get("overall"), dict) else m
    for name in DEPTH_METRICS:
        if name in scope:
            failed = scope.get("n_failed", scope.get("failed", res.get("n_missing")))
            return name, scope[name], scope.get(f"{name}_ci95"), failed
    return "", None, None, None


def _cross_run_plots(runs: list[RunInfo]) -> list[str]:
    evals = [r for r in runs if "eval" in r.kinds]
    out = []
    rows = []
    for r in evals:
        name, value, ci, failed = _headline(r.results)
        if name:
            rows.append([r.name, r.results.get("task"), r.results.get("model"), r.results.get("judge"),
                         r.results.get("n_items"), name, value, fmt_ci(ci), failed])
    if rows:
        out.append("<h2>Summary</h2>" + table(["run", "task", "model", "judge", "items", "metric", "value", "95% CI", "failed"], rows))
    depth = plot_by_depth([(r.name, r.results) for r in evals if (r.results.get("metrics") or {}).get("by_iteration")])
    if depth:
        out.append("<h2>Sequence following by depth</h2>" + depth)
    horizon = plot_horizon([(r.name, r.results) for r in evals
                            if isinstance((r.results.get("horizon") or {}).get("overall"), dict)])
    if horizon:
        out.append("<h2>Horizon: share of chains still right after k steps</h2>" + horizon)
    bars = plot_win_rates([(r.name, r.results) for r in evals if r.results.get("task") == "pairwise"])
    if bars:
        out.append("<h2>Pairwise win rates (95% CI)</h2>" + bars)
    return out


def _run_section(run: RunInfo) -> str:
    parts = [f"<section><h2>{esc(run.name)} <small>{esc(', '.join(run.kinds))}</small></h2>"]
    renderers: dict[str, Callable[[RunInfo], str]] = {
        "eval": _eval_section,
        "train": _train_section,
        "split": _split_section,
        "quickstart": _quickstart_section,
        "generate": _generate_section,
        "score": _score_section,
    }
    for kind in run.kinds:
        parts.append(renderers[kind](run))
    usage = run.manifest.get("usage")
    if isinstance(usage, dict) and usage.get("roles"):
        parts.append("<h3>LLM usage</h3>" + _usage_table(usage))
    parts.append("</section>")
    return "\n".join(parts)


def _eval_section(run: RunInfo) -> str:
    res = run.results
    head = {k: v for k, v in res.items() if not isinstance(v, (dict, list))}
    metrics = {k: v for k, v in (res.get("metrics") or {}).items() if k != "by_iteration"}  # by depth: own table
    parts = ["<h3>Evaluation</h3>", _fake_banner(res.get("fake")), kv_table(head), "<h3>Metrics</h3>",
             kv_table(flatten(metrics))]
    by_depth = (res.get("metrics") or {}).get("by_iteration") or {}
    if by_depth:
        parts.append("<h3>By sequence depth</h3>" + _depth_table(by_depth))
    if res.get("task") == "seqeval":
        scores = [float(s["score"]) for s in latest_samples(run.path / "samples.jsonl") if is_num(s.get("score"))]
        hist = plot_hist(scores, "judge score (1-5)", bins=[0.75 + 0.5 * i for i in range(10)])
        if hist:
            parts.append("<h3>Judge score histogram</h3>" + hist)
    parts.append(samples_section(run.path / "samples.jsonl", run.name))
    return "\n".join(parts)


def _depth_table(by_depth: dict[str, Any]) -> str:
    """One row per depth; columns are the scalar metrics (CIs shown as [lo, hi])."""
    cols: list[str] = []
    for m in by_depth.values():
        cols += [k for k, v in m.items() if k not in cols and not isinstance(v, dict)]
    rows = [[depth] + [fmt_ci(m.get(c)) if c.endswith("_ci95") else m.get(c) for c in cols] for depth, m in by_depth.items()]
    return table(["depth", *cols], rows)


def _usage_table(usage: dict[str, Any]) -> str:
    """One row per role (model, judge, teacher), totals over every attempt of the run (manifest["usage"])."""
    roles = {k: v for k, v in (usage.get("roles") or {}).items() if isinstance(v, dict) and "requests" in v}
    cols = ["requests", "cached", "failed", "prompt_tokens", "completion_tokens", "cost_usd"]
    rows = [[role, *(u.get(c) for c in cols), ", ".join(u.get("models") or {})] for role, u in roles.items()]
    html = table(["role", *cols, "models"], rows) if rows else ""
    total = (usage.get("total") or {}).get("cost_usd")
    return html + (f"<p>total cost (every attempt): ${esc(fmt(total))}</p>" if is_num(total) else "")


def _train_section(run: RunInfo) -> str:
    rows = list(read_jsonl(run.path / "metrics.jsonl"))
    parts = ["<h3>Training</h3>"]
    plot = plot_loss(rows)
    if plot:
        parts.append(plot)
    last_by_phase: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "loss" in r:
            last_by_phase[str(r.get("phase", "-"))] = r
    table_rows = [[p, r.get("step"), fmt(r.get("loss")), fmt(r.get("lr"))] for p, r in last_by_phase.items()]
    if table_rows:
        parts.append("<p>Last logged step per phase:</p>" + table(["phase", "step", "loss", "lr"], table_rows))
    for meta_path in (run.path / "meta.json", run.path / "model" / "meta.json"):  # seqit train: model/meta.json
        meta = {k: v for k, v in _read_json(meta_path).items() if k != "config"}
        if meta:
            parts.append(f"<h4>{esc(meta_path.relative_to(run.path))}</h4>" + kv_table(flatten(meta)))
    return "\n".join(parts)


def _split_section(run: RunInfo) -> str:
    """Phase table (from the split manifest when present) and a per-phase stacked score histogram."""
    key = str(run.manifest.get("score_key") or "difficulty")
    by_phase: dict[str, list[float]] = {}
    for f in sorted(run.path.glob("phase-*.jsonl"), key=lambda q: _phase_number(q.stem)):
        by_phase[f.stem] = [float(r["meta"][key]) for r in read_jsonl(f) if is_num((r.get("meta") or {}).get(key))]
    parts = ["<h3>Phase split</h3>"]
    phases = run.manifest.get("phases")
    if isinstance(phases, list) and phases and all(isinstance(p, dict) for p in phases):
        rows = [[p.get("phase"), p.get("file"), p.get("count"), *(((p.get("score") or {}).get(k)) for k in ("min", "max", "mean")),
                 (p.get("tokens") or {}).get("mean"), (p.get("output_tokens") or {}).get("mean")] for p in phases]
        parts.append(table(["phase", "file", "count", "score min", "score max", "score mean", "tokens mean",
                            "output tokens mean"], rows))
    elif by_phase:
        parts.append(table(["file", "scored rows", "min score", "max score"],
                           [[f"{n}.jsonl", len(v), min(v, default=None), max(v, default=None)] for n, v in by_phase.items()]))
    split = run.manifest.get("split") if isinstance(run.manifest.get("split"), dict) else {}
    cuts = split.get("cuts") or split.get("thresholds")  # quantile/valley cuts, or fixed thresholds
    hist = plot_phase_hist(by_phase, cuts if isinstance(cuts, list) else [], f"{key} score")
    if hist:
        parts.append(f"<h4>{esc(key)} score histogram by phase</h4>" + hist)
    extra = {k: run.manifest.get(k) for k in ("strategy", "phase_sizes", "score_methods", "token_count") if run.manifest.get(k)}
    if extra:
        parts.append(kv_table(flatten(extra)))
    return "\n".join(parts)


def _fake_banner(fake: Any) -> str:
    """A visible label on runs made with the fake backend (scripted replies: no model's real result)."""
    if not fake:
        return ""
    roles = ", ".join(fake) if isinstance(fake, list) else "teacher"
    return (f'<p class="fake"><strong>FAKE backend ({esc(roles)}):</strong> scripted replies, not a real model\'s; '
            "reported as 'fake' and priced at zero.</p>")


def _counts_table(run: RunInfo) -> str:
    counts = {k: v for k, v in (run.manifest.get("counts") or {}).items() if not isinstance(v, (dict, list))}
    return kv_table(counts) if counts else ""


REJECT_REASON_CHARS = 90  # reasons are grouped on their first characters (ids and numbers vary)


def reject_groups(rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(stage, reason, count) over reject rows, most frequent first; numbers in reasons are folded to N."""
    import re
    from collections import Counter

    groups: Counter = Counter()
    for r in rows:
        if not isinstance(r, dict):
            continue
        reason = re.sub(r"\d+(?:\.\d+)?", "N", str(r.get("reason") or "(no reason)"))[:REJECT_REASON_CHARS]
        groups[(str(r.get("stage") or "-"), reason)] += 1
    return [(stage, reason, n) for (stage, reason), n in groups.most_common()]


def _rejects_section(run: RunInfo) -> str:
    path = run.path / "rejects.jsonl"
    if not path.exists():
        return ""
    groups = reject_groups(list(read_jsonl(path)))
    if not groups:
        return "<h4>Rejects</h4><p>none</p>"
    return "<h4>Rejects by stage and reason</h4>" + table(["stage", "reason", "count"], [list(g) for g in groups])


def _generate_section(run: RunInfo) -> str:
    """A `seqit generate` run: counts, option distribution per round, depth histogram, rejects."""
    m = run.manifest
    parts = ["<h3>Generation</h3>", _fake_banner((m.get("teacher") or {}).get("fake")), _counts_table(run)]
    rounds = m.get("options_per_round") if isinstance(m.get("options_per_round"), dict) else {}
    if rounds:
        options = sorted({k for d in rounds.values() if isinstance(d, dict) for k in d if k != "pct"})
        rows = [[rnd, *(f"{d.get(o, 0)} ({(d.get('pct') or {}).get(o, 0)}%)" for o in options)]
                for rnd, d in rounds.items() if isinstance(d, dict)]
        parts.append("<h4>Option distribution per round</h4>" + table(["round", *options], rows))
        plot = plot_options(rounds, options)
        if plot:
            parts.append(plot)
    depths = m.get("depths") if isinstance(m.get("depths"), dict) else {}
    if depths:
        parts.append("<h4>Sequential records by depth</h4>" + table(["depth", "records"], list(depths.items())))
    task = m.get("taskdriven") if isinstance(m.get("taskdriven"), dict) else {}
    if task:
        parts.append("<h4>Task-driven eligibility</h4>" + kv_table(flatten(task)))
    parts.append(_rejects_section(run))
    return "\n".join(p for p in parts if p)


def _score_section(run: RunInfo) -> str:
    """A `seqit score` run: counts, judge, difficulty histogram, rejects."""
    m = run.manifest
    judge = m.get("judge") if isinstance(m.get("judge"), dict) else {}
    config = m.get("config") if isinstance(m.get("config"), dict) else {}
    key = str(judge.get("score_key") or config.get("score_key") or "difficulty")
    parts = ["<h3>Difficulty scoring</h3>", _fake_banner(judge.get("fake")), _counts_table(run)]
    if judge:
        parts.append("<h4>Judge</h4>" + kv_table({k: v for k, v in judge.items() if not isinstance(v, (dict, list))}))
    scores = [float(r["meta"][key]) for r in read_jsonl(run.path / "scored.jsonl")
              if isinstance(r, dict) and isinstance(r.get("meta"), dict) and is_num(r["meta"].get(key))]
    hist = plot_hist(scores, f"{key} (1-5)", bins=[0.75 + 0.5 * i for i in range(10)])
    if hist:
        parts.append(f"<h4>{esc(key)} histogram ({len(scores)} records)</h4>" + hist)
    parts.append(_rejects_section(run))
    return "\n".join(p for p in parts if p)


def _phase_number(stem: str) -> int:
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def _quickstart_section(run: RunInfo) -> str:
    from seqit.report.quickstart import is_full_quickstart, quickstart_section

    if is_full_quickstart(run.path, run.results):  # a `seqit quickstart` dir: the full result page
        return quickstart_section(run.path, run.manifest, run.results)
    arms = run.results.get("arms") or {}
    metrics = sorted({k for a in arms.values() if isinstance(a, dict) for k, v in a.items() if is_num(v)})
    rows = [[arm] + [fmt(vals.get(m)) for m in metrics] for arm, vals in arms.items() if isinstance(vals, dict)]
    parts = ["<h3>Arms</h3>", table(["arm", *metrics], rows)]
    plot = plot_arms(arms, metrics)
    if plot:
        parts.append(plot)
    return "\n".join(parts)
