"""The plots of `seqit report` (matplotlib Figure objects directly: no pyplot global state, Agg canvas), each
returned as an inline PNG <img> or "" when there is nothing to draw. Series that coincide (several runs at 0)
are dodged sideways with their own markers, so none hides another; counts get whole-number ticks.
"""

from __future__ import annotations

from typing import Any

from seqit.report.html import figure, img, is_num

Named = list[tuple[str, dict[str, Any]]]  # (run name, its results.json)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINES = ("-", "--", "-.", ":")


def dodge(i: int, n: int, width: float = 0.12) -> float:
    """The sideways offset of series i of n, so series with the same values stay side by side, all visible.

    >>> [round(dodge(i, 3), 2) for i in range(3)], dodge(0, 1)
    ([-0.12, 0.0, 0.12], 0.0)
    """
    return 0.0 if n < 2 else (i - (n - 1) / 2) * width


def style(i: int) -> dict[str, str]:
    """Series i's own marker and line style (colour alone cannot tell overlapping lines apart)."""
    return {"marker": MARKERS[i % len(MARKERS)], "linestyle": LINES[i // len(MARKERS) % len(LINES)]}


def integer_ticks(axis: Any) -> None:
    """Whole-number ticks on an axis of counts (steps, items)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))



DEPTH_METRICS = ("following_rate", "chain_acc", "win_rate")  # SeqEval / SeqEval-V / pairwise headline rates


DEPTH_LABELS = {
    "following_rate": "SeqEval following rate (LLM judge)",
    "chain_acc": "SeqEval-V chain accuracy (exact)",
    "win_rate": "win rate vs reference (LLM judge)",
}


def plot_by_depth(runs: Named) -> str:
    """Each run's headline rate by sequence depth, with 95% CIs when the run has them: one axis per metric,
    so a judge's following rate and an exact chain accuracy are never read off one scale."""
    by_metric: dict[str, list[tuple[str, list[tuple[int, dict[str, Any]]]]]] = {}
    for run_name, results in runs:
        by = (results.get("metrics") or {}).get("by_iteration") or {}
        metric = next((m for m in DEPTH_METRICS if any(is_num(v.get(m)) for v in by.values())), None)
        pts = [(int(k), v) for k, v in by.items() if k.isdigit() and metric and is_num(v.get(metric))]
        if metric and pts:
            by_metric.setdefault(metric, []).append((run_name, pts))
    images = []
    for metric, series in by_metric.items():
        fig, depths = figure(), set()
        ax = fig.add_subplot()
        for i, (name, pts) in enumerate(series):
            ys = [p[1][metric] for p in pts]
            err = _ci_err(ys, [p[1].get(f"{metric}_ci95") for p in pts])
            ax.errorbar([p[0] + dodge(i, len(series)) for p in pts], ys, yerr=err, capsize=3, label=name, **style(i))
            depths.update(p[0] for p in pts)
        ax.set(xlabel="sequence depth (iteration / chain length)", ylabel=DEPTH_LABELS.get(metric, metric),
               ylim=(-0.05, 1.05), title=DEPTH_LABELS.get(metric, metric))
        ax.set_xticks(sorted(depths))
        ax.legend(fontsize="small")
        images.append(img(fig))
    return "\n".join(images)


def _ci_err(ys: list[float], cis: list[Any]) -> list[list[float]]:
    """Matplotlib yerr ([below], [above]) from CIs; a missing CI draws no bar."""
    pairs = [ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (y, y) for y, ci in zip(ys, cis, strict=True)]
    return [[max(0.0, y - lo) for y, (lo, _) in zip(ys, pairs, strict=True)],
            [max(0.0, hi - y) for y, (_, hi) in zip(ys, pairs, strict=True)]]


def plot_win_rates(runs: Named) -> str:
    pts = [(name, results.get("metrics") or {}) for name, results in runs]
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


def plot_loss(rows: list[dict[str, Any]]) -> str:
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
    integer_ticks(ax.xaxis)
    ax.legend(fontsize="small")
    return img(fig)


def plot_hist(values: list[float], xlabel: str, bins: Any = 20) -> str:
    if not values:
        return ""
    fig = figure(5.0, 2.8)
    ax = fig.add_subplot()
    ax.hist(values, bins=bins, color="#55a868", edgecolor="white")
    ax.set(xlabel=xlabel, ylabel="count")
    integer_ticks(ax.yaxis)
    return img(fig)


def plot_phase_hist(by_phase: dict[str, list[float]], cuts: list[Any], xlabel: str) -> str:
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
    integer_ticks(ax.yaxis)
    ax.legend(fontsize="small")
    return img(fig)


def plot_options(rounds: dict[str, Any], options: list[str]) -> str:
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


def plot_arms(arms: dict[str, Any], metrics: list[str]) -> str:
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


def plot_horizon(runs: Named) -> str:
    """SeqEval-V horizon: survival by step per run (and per rendering), step accuracy p and H0.5 in the
    legend; beside it the self-conditioning probe (step k+1 accuracy, clean vs injected context)."""
    curves, probes = [], []
    for run_name, results in runs:
        h = results["horizon"]
        renderings = results.get("renderings") or {}
        named = [(name, v.get("horizon")) for name, v in renderings.items()] if renderings else [("", h)]
        for name, hz in named:
            surv = ((hz or {}).get("overall") or {}).get("survival") or {}
            pts = sorted((int(k), v) for k, v in surv.items() if k.isdigit() and is_num(v))
            if pts:
                o = hz["overall"]
                h50 = "inf" if o.get("h50_unbounded") else o.get("h50")
                curves.append((f"{run_name} {name}".strip() + f" (p={o.get('step_acc')}, H0.5={h50})", pts))
        for k, v in sorted(((h.get("self_conditioning") or {}).get("by_k") or {}).items(), key=lambda kv: int(kv[0])):
            if is_num(v.get("clean_acc")) and is_num(v.get("injected_acc")):
                probes.append((f"{run_name} k={k}", v["clean_acc"], v["injected_acc"]))
    if not curves:
        return ""
    fig = figure(9.6 if probes else 6.4, 3.4)
    ax = fig.add_subplot(1, 2 if probes else 1, 1)
    for i, (label, pts) in enumerate(curves):
        ax.plot([p[0] + dodge(i, len(curves)) for p in pts], [p[1] for p in pts], label=label, **style(i))
    ax.set(xlabel="steps k", ylabel="chains with steps 1..k right", ylim=(-0.05, 1.05))
    ax.set_xticks(sorted({p[0] for _, pts in curves for p in pts}))
    ax.legend(fontsize="small")
    if probes:
        bx = fig.add_subplot(1, 2, 2)
        xs = list(range(len(probes)))
        bx.bar([x - 0.2 for x in xs], [p[1] for p in probes], width=0.4, label="clean context")
        bx.bar([x + 0.2 for x in xs], [p[2] for p in probes], width=0.4, label="wrong step k injected")
        bx.set_xticks(xs, [p[0] for p in probes], fontsize="small")
        bx.set(ylabel="step k+1 accuracy", ylim=(-0.05, 1.05), title="self-conditioning")
        bx.legend(fontsize="small")
    return img(fig)
