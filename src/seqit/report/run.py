"""`seqit report RUN_DIR... [--out report.html]`: one self-contained HTML file for any seqit run dirs.

It recognises eval runs (results.json + samples.jsonl), train runs (metrics.jsonl), split runs
(phase-*.jsonl + manifest), generate runs (sit.jsonl: options per round, depths, rejects by stage and reason),
score runs (scored.jsonl: difficulty histogram, rejects) and quickstart results ({"arms": {...}}), and skips
what is absent.
Plots are matplotlib PNGs embedded as base64; every piece of run text is HTML-escaped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import SeqitError
from seqit.jsonl import read_json, read_jsonl
from seqit.report.html import esc, figure, flatten, fmt, fmt_ci, img, is_num, kv_table, page, table

log = logging.getLogger(__name__)

MAX_SAMPLES = 40  # per eval run, in the browsable sample
MAX_TEXT = 4000  # characters shown per prompt/output before "… (truncated)"


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
    depth = _plot_by_depth([r for r in evals if (r.results.get("metrics") or {}).get("by_iteration")])
    if depth:
        out.append("<h2>Sequence following by depth</h2>" + depth)
    horizon = _plot_horizon([r for r in evals if isinstance((r.results.get("horizon") or {}).get("overall"), dict)])
    if horizon:
        out.append("<h2>Horizon: share of chains still right after k steps</h2>" + horizon)
    bars = _plot_win_rates([r for r in evals if r.results.get("task") == "pairwise"])
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
        scores = [float(s["score"]) for s in _samples(run) if s.get("score") is not None]
        hist = _plot_hist(scores, "judge score (1-5)", bins=[0.75 + 0.5 * i for i in range(10)])
        if hist:
            parts.append("<h3>Judge score histogram</h3>" + hist)
    parts.append(_samples_section(run))
    return "\n".join(parts)


def _depth_table(by_depth: dict[str, Any]) -> str:
    """One row per depth; columns are the scalar metrics (CIs shown as [lo, hi])."""
    cols: list[str] = []
    for m in by_depth.values():
        cols += [k for k, v in m.items() if k not in cols and not isinstance(v, dict)]
    rows = [[depth] + [fmt_ci(m.get(c)) if c.endswith("_ci95") else m.get(c) for c in cols] for depth, m in by_depth.items()]
    return table(["depth", *cols], rows)


def _samples(run: RunInfo) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(run.path / "samples.jsonl"):
        latest[str(row.get("id"))] = row  # resumed runs: the last row per id wins
    return list(latest.values())


def _samples_section(run: RunInfo) -> str:
    samples = _samples(run)
    if not samples:
        return ""
    shown = _pick_samples(samples, MAX_SAMPLES)
    items = []
    for s in shown:
        summary = f"{s.get('id')} · {s.get('status', '')}" + "".join(
            f" · {k}={s[k]}" for k in ("following", "score", "outcome", "iteration", "depth", "chain_ok",
                                       "first_failure") if s.get(k) is not None
        )
        body = []
        for key in ("instruction", "prompt", "output", "expected", "correct", "followed", "reference_output",
                    "target", "judge_replies", "scores_a_first", "scores_b_first", "generation_error", "judge_error",
                    "error"):
            if s.get(key) not in (None, "", []):
                body.append(f"<h4>{esc(key)}</h4><pre>{esc(_clip(s[key]))}</pre>")
        items.append(f"<details><summary>{esc(summary)}</summary>{''.join(body)}</details>")
        if not body:  # a row shape this list does not know: show it whole rather than a blank entry
            body.append(f"<pre>{esc(_clip({k: v for k, v in s.items() if k != 'id'}))}</pre>")
    note = f"<p>{len(shown)} of {len(samples)} samples shown.</p>"
    return "<h3>Samples</h3>" + note + "\n".join(items)


def _failed(s: dict[str, Any]) -> bool:
    return s.get("status", "ok") != "ok" or s.get("chain_ok") is False  # judged failure, or a SeqEval-V miss


def _pick_samples(samples: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Up to k rows in file order, making room for failures (up to half) so they can be inspected."""
    failed = [s for s in samples if _failed(s)][: k // 2]
    ok = [s for s in samples if not _failed(s)][: k - len(failed)]
    keep = {id(s) for s in failed + ok}
    return [s for s in samples if id(s) in keep]


def _usage_table(usage: dict[str, Any]) -> str:
    """One row per role (model, judge, teacher), totals over every attempt of the run (manifest["usage"])."""
    roles = {k: v for k, v in (usage.get("roles") or {}).items() if isinstance(v, dict) and "requests" in v}
    cols = ["requests", "cached", "failed", "prompt_tokens", "completion_tokens", "cost_usd"]
    rows = [[role, *(u.get(c) for c in cols), ", ".join(u.get("models") or {})] for role, u in roles.items()]
    html = table(["role", *cols, "models"], rows) if rows else ""
    total = (usage.get("total") or {}).get("cost_usd")
    return html + (f"<p>total cost (every attempt): ${esc(fmt(total))}</p>" if is_num(total) else "")


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "\n… (truncated)"


def _train_section(run: RunInfo) -> str:
    rows = list(read_jsonl(run.path / "metrics.jsonl"))
    parts = ["<h3>Training</h3>"]
    plot = _plot_loss(rows)
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
    hist = _plot_phase_hist(by_phase, cuts if isinstance(cuts, list) else [], f"{key} score")
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
        plot = _plot_options(rounds, options)
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
    hist = _plot_hist(scores, f"{key} (1-5)", bins=[0.75 + 0.5 * i for i in range(10)])
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
    plot = _plot_arms(arms, metrics)
    if plot:
        parts.append(plot)
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Plots (matplotlib Figure objects directly: no pyplot global state, Agg canvas)


DEPTH_METRICS = ("following_rate", "chain_acc", "win_rate")  # SeqEval / SeqEval-V / pairwise headline rates


DEPTH_LABELS = {
    "following_rate": "SeqEval following rate (LLM judge)",
    "chain_acc": "SeqEval-V chain accuracy (exact)",
    "win_rate": "win rate vs reference (LLM judge)",
}


def _plot_by_depth(runs: list[RunInfo]) -> str:
    """Each run's headline rate by sequence depth, with 95% CIs when the run has them: one axis per metric,
    so a judge's following rate and an exact chain accuracy are never read off one scale."""
    by_metric: dict[str, list[tuple[str, list[tuple[int, dict[str, Any]]]]]] = {}
    for r in runs:
        by = (r.results.get("metrics") or {}).get("by_iteration") or {}
        metric = next((m for m in DEPTH_METRICS if any(is_num(v.get(m)) for v in by.values())), None)
        pts = [(int(k), v) for k, v in by.items() if k.isdigit() and metric and is_num(v.get(metric))]
        if metric and pts:
            by_metric.setdefault(metric, []).append((r.name, pts))
    images = []
    for metric, series in by_metric.items():
        fig, depths = figure(), set()
        ax = fig.add_subplot()
        for name, pts in series:
            ys = [p[1][metric] for p in pts]
            err = _ci_err(ys, [p[1].get(f"{metric}_ci95") for p in pts])
            ax.errorbar([p[0] for p in pts], ys, yerr=err, marker="o", capsize=3, label=name)
            depths.update(p[0] for p in pts)
        ax.set(xlabel="sequence depth (iteration / chain length)", ylabel=DEPTH_LABELS.get(metric, metric),
               ylim=(0, 1.05), title=DEPTH_LABELS.get(metric, metric))
        ax.set_xticks(sorted(depths))
        ax.legend(fontsize="small")
        images.append(img(fig))
    return "\n".join(images)


def _ci_err(ys: list[float], cis: list[Any]) -> list[list[float]]:
    """Matplotlib yerr ([below], [above]) from CIs; a missing CI draws no bar."""
    pairs = [ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (y, y) for y, ci in zip(ys, cis, strict=True)]
    return [[max(0.0, y - lo) for y, (lo, _) in zip(ys, pairs, strict=True)],
            [max(0.0, hi - y) for y, (_, hi) in zip(ys, pairs, strict=True)]]


def _plot_win_rates(runs: list[RunInfo]) -> str:
    pts = [(r.name, r.results.get("metrics") or {}) for r in runs]
    pts = [(n, m) for n, m in pts if m.get("win_rate") is not None]
    if not pts:
        return ""
    fig = figure()
    ax = fig.add_subplot()
    ys = [m["win_rate"] for _, m in pts]
    err = _ci_err(ys, [m.get("win_rate_ci95") for _, m in pts])
    ax.bar(range(len(pts)), ys, yerr=err, capsize=4, color="#4c72b0")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(pts)), [n for n, _ in pts], rotation=20, ha="right", fontsize="small")
    ax.set(ylabel="win rate vs reference", ylim=(0, 1))
    return img(fig)


def _plot_loss(rows: list[dict[str, Any]]) -> str:
    by_phase: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if is_num(r.get("loss")) and is_num(r.get("step")):
            by_phase.setdefault(str(r.get("phase", "all")), []).append((r["step"], r["loss"]))
    if not by_phase:
        return ""
    fig = figure()
    ax = fig.add_subplot()
    for phase, pts in by_phase.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=phase if phase.startswith("phase") else f"phase {phase}")
    ax.set(xlabel="step", ylabel="training loss")
    ax.legend(fontsize="small")
    return img(fig)


def _plot_hist(values: list[float], xlabel: str, bins: Any = 20) -> str:
    if not values:
        return ""
    fig = figure(5.0, 2.8)
    ax = fig.add_subplot()
    ax.hist(values, bins=bins, color="#55a868", edgecolor="white")
    ax.set(xlabel=xlabel, ylabel="count")
    return img(fig)


def _plot_phase_hist(by_phase: dict[str, list[float]], cuts: list[Any], xlabel: str) -> str:
    """Scores stacked by phase, with the split's cut points as dashed lines."""
    series = {name: v for name, v in by_phase.items() if v}
    if not series:
        return ""
    fig = figure(6.0, 3.0)
    ax = fig.add_subplot()
    ax.hist(list(series.values()), bins=20, stacked=True, label=list(series), edgecolor="white")
    for c in cuts:
        if is_num(c):
            ax.axvline(c, color="black", linestyle="--", linewidth=1)
    ax.set(xlabel=xlabel, ylabel="count")
    ax.legend(fontsize="small")
    return img(fig)


def _plot_options(rounds: dict[str, Any], options: list[str]) -> str:
    """Grouped bars: the share of each Self-Seq option (A-D, unparsed) in each round."""
    if not options:
        return ""
    fig = figure(6.0, 3.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(rounds))
    for i, (rnd, d) in enumerate(rounds.items()):
        pct = (d.get("pct") or {}) if isinstance(d, dict) else {}
        ax.bar([j + i * width for j in range(len(options))], [float(pct.get(o, 0)) for o in options], width=width,
               label=f"round {rnd}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(options))], options)
    ax.set(ylabel="% of seeds", xlabel="option")
    ax.legend(fontsize="small")
    return img(fig)


def _plot_arms(arms: dict[str, Any], metrics: list[str]) -> str:
    if not arms or not metrics:
        return ""
    fig = figure(max(6.4, len(metrics) * 1.2), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(arms)
    for i, (arm, vals) in enumerate(arms.items()):
        ys = [float(vals.get(m) or 0.0) for m in metrics]
        ax.bar([j + i * width for j in range(len(metrics))], ys, width=width, label=arm)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics, rotation=20, ha="right", fontsize="small")
    ax.legend(fontsize="small")
    return img(fig)


def _plot_horizon(runs: list[RunInfo]) -> str:
    """SeqEval-V horizon: survival by step per run (and per rendering), step accuracy p and H0.5 in the
    legend; beside it the self-conditioning probe (step k+1 accuracy, clean vs injected context)."""
    curves, probes = [], []
    for r in runs:
        h = r.results["horizon"]
        renderings = r.results.get("renderings") or {}
        named = [(name, v.get("horizon")) for name, v in renderings.items()] if renderings else [("", h)]
        for name, hz in named:
            surv = ((hz or {}).get("overall") or {}).get("survival") or {}
            pts = sorted((int(k), v) for k, v in surv.items() if k.isdigit() and is_num(v))
            if pts:
                o = hz["overall"]
                h50 = "inf" if o.get("h50_unbounded") else o.get("h50")
                curves.append((f"{r.name} {name}".strip() + f" (p={o.get('step_acc')}, H0.5={h50})", pts))
        for k, v in sorted(((h.get("self_conditioning") or {}).get("by_k") or {}).items(), key=lambda kv: int(kv[0])):
            if is_num(v.get("clean_acc")) and is_num(v.get("injected_acc")):
                probes.append((f"{r.name} k={k}", v["clean_acc"], v["injected_acc"]))
    if not curves:
        return ""
    fig = figure(9.6 if probes else 6.4, 3.4)
    ax = fig.add_subplot(1, 2 if probes else 1, 1)
    for label, pts in curves:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set(xlabel="steps k", ylabel="chains with steps 1..k right", ylim=(0, 1.05))
    ax.set_xticks(sorted({p[0] for _, pts in curves for p in pts}))
    ax.legend(fontsize="small")
    if probes:
        bx = fig.add_subplot(1, 2, 2)
        xs = list(range(len(probes)))
        bx.bar([x - 0.2 for x in xs], [p[1] for p in probes], width=0.4, label="clean context")
        bx.bar([x + 0.2 for x in xs], [p[2] for p in probes], width=0.4, label="wrong step k injected")
        bx.set_xticks(xs, [p[0] for p in probes], fontsize="small")
        bx.set(ylabel="step k+1 accuracy", ylim=(0, 1.05), title="self-conditioning")
        bx.legend(fontsize="small")
    return img(fig)
