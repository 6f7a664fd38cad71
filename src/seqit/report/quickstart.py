"""The `seqit report` page of a `seqit quickstart` dir: headline grouped bars with bootstrap CIs,
accuracy by chain length, first-failure positions, training loss by phase per arm, per-arm samples
with each step marked right or wrong, the run's status, timings and the recipe.

Reads only files the stages wrote: results.json, manifest.json, train-<arm>/metrics.jsonl,
eval/<arm>-<split>/samples.jsonl and generate/eval-<split>.jsonl (the prompts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqit.jsonl import read_jsonl
from seqit.report.html import esc, figure, fmt, fmt_ci, img, is_num, table

SPLITS = ("single", "seen", "unseen", "longer")
SPLIT_LABELS = {
    "single": "single step",
    "seen": "chains of trained pairs",
    "unseen": "chains starting with an untrained pair",
    "longer": "one step longer than training",
}
ARM_LABELS = {
    "it": "IT (single steps only)",
    "sit": "SIT (chains of 1-3 steps)",
    "phased": "phased SIT (depth curriculum + replay)",
    "control": "control (phased data, random order)",
}
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52", "#937860")
SAMPLES_PER_SPLIT = 3


def is_full_quickstart(path: Path, results: dict[str, Any]) -> bool:
    arms = results.get("arms") or {}
    return bool(arms) and all(isinstance(a, dict) and isinstance(a.get("splits"), dict) for a in arms.values())


def quickstart_section(path: Path, manifest: dict[str, Any], results: dict[str, Any]) -> str:
    arms: dict[str, Any] = results["arms"]
    parts = []
    if results.get("smoke"):
        parts.append("<p class='smoke'><b>Smoke run</b> (<code>--size fast</code>): a model far too small and too "
                     "briefly trained to learn the ops. It exercises every stage for real; "
                     "<b>its numbers mean nothing</b>.</p>")
    parts.append(_status(manifest, results))
    parts.append("<h3>Held-out accuracy by arm</h3>" + _headline_plot(arms) + _headline_table(arms))
    parts.append("<h3>Accuracy by chain length</h3>" + _length_plot(arms, results))
    parts.append("<h3>Where chains first go wrong</h3>" + _first_failure_plot(arms))
    parts.append("<h3>Training loss by phase</h3>" + _loss_plot(path, arms) + _train_table(arms))
    parts.append("<h3>Samples</h3><p>Per arm, a few held-out items per split (failures first); each step "
                 "is marked <span class='ok'>✓ right</span> or <span class='bad'>✗ wrong</span> against the exact "
                 "intermediate result.</p>" + _samples(path, arms))
    parts.append("<h3>Timings</h3>" + _timings(results))
    recipe = path / "recipe.sh"
    if recipe.exists():
        parts.append("<h3>Rerun by hand</h3><p>Every stage above is a plain seqit command with its config in "
                     f"<code>configs/</code>:</p><pre>{esc(recipe.read_text(encoding='utf-8'))}</pre>")
    return "\n".join(parts)


# ---- status, tables -----------------------------------------------------------------------------------


def _status(manifest: dict[str, Any], results: dict[str, Any]) -> str:
    t = manifest.get("timings") or {}
    held = ", ".join(p.replace(">", " → ") for p in results.get("heldout_pairs", []))
    rows = [
        ["status", manifest.get("status", "?")],
        ["started / finished", f"{t.get('started_at', '?')} / {t.get('finished_at', '–')}"],
        ["total time", f"{fmt(t.get('seconds'))} s"],
        ["ops", ", ".join(results.get("ops", []))],
        ["held-out pairs (never adjacent in training)", held],
        ["training examples per arm", results.get("examples_per_arm")],
        ["training chain lengths (mix)", ", ".join(str(x) for x in results.get("train_lengths", []))],
    ]
    return table(["run", ""], rows)


def _headline_table(arms: dict[str, Any]) -> str:
    head = ["arm"] + [f"{s}: chain acc [95% CI]" for s in SPLITS] + ["longer: step acc"]
    rows = []
    for arm, a in arms.items():
        sp = a["splits"]
        rows.append([arm] + [f"{fmt(sp[s].get('chain_acc'))} {fmt_ci(sp[s].get('chain_acc_ci95'))}" for s in SPLITS]
                    + [f"{fmt(sp['longer'].get('step_acc'))} {fmt_ci(sp['longer'].get('step_acc_ci95'))}"])
    return table(head, rows)


def _train_table(arms: dict[str, Any]) -> str:
    rows = [[arm, a["train"].get("steps"), a["train"].get("tokens"), a["train"].get("trained_tokens"),
             fmt(a["train"].get("seconds"))] for arm, a in arms.items()]
    return table(["arm", "optimizer steps", "tokens seen", "trained tokens", "seconds"], rows)


def _timings(results: dict[str, Any]) -> str:
    groups: dict[str, list[float]] = {}
    cpu = results.get("stage_cpu_seconds") or {}
    for name, s in (results.get("stage_seconds") or {}).items():
        key = "eval (" + name.split("-")[1] + ")" if name.startswith("eval-") else name
        g = groups.setdefault(key, [0.0, 0.0])
        g[0] += float(s)
        g[1] += float(cpu.get(name, 0.0))
    rows = [[k, f"{w:.1f}", f"{c:.1f}"] for k, (w, c) in groups.items()]
    rows.append(["total", f"{sum(g[0] for g in groups.values()):.1f}", f"{sum(g[1] for g in groups.values()):.1f}"])
    return (table(["stage", "wall seconds", "CPU seconds (all threads)"], rows)
            + "<p>On a shared machine wall time includes waiting for other jobs; CPU time does not.</p>")


# ---- plots ----------------------------------------------------------------------------------------------


def _img(fig: Any, alt: str) -> str:
    return img(fig).replace('alt="plot"', f'alt="{esc(alt)}"')


def _err(value: Any, ci: Any) -> tuple[float, float]:
    if not is_num(value) or not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return 0.0, 0.0
    return max(0.0, value - ci[0]), max(0.0, ci[1] - value)


def _headline_plot(arms: dict[str, Any]) -> str:
    fig = figure(8.0, 4.3)
    ax = fig.add_subplot()
    n = len(arms)
    width = 0.8 / n
    for i, (arm, a) in enumerate(arms.items()):
        sp = a["splits"]
        ys = [float(sp[s].get("chain_acc") or 0.0) for s in SPLITS]
        errs = [_err(sp[s].get("chain_acc"), sp[s].get("chain_acc_ci95")) for s in SPLITS]
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(SPLITS))]
        ax.bar(xs, ys, width=width * 0.95, yerr=[[e[0] for e in errs], [e[1] for e in errs]], capsize=3,
               color=COLORS[i % len(COLORS)], label=ARM_LABELS.get(arm, arm))
        for x, y, e in zip(xs, ys, errs, strict=True):
            ax.text(x, y + e[1] + 0.015, f"{y:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(SPLITS)), [SPLIT_LABELS[s].replace(" starting", "\nstarting").replace(" than", "\nthan")
                                       for s in SPLITS], fontsize=8)
    ax.set(ylim=(0, 1.12), ylabel="chain accuracy (every step right)", xlabel="held-out evaluation split")
    ax.set_title("Held-out chain accuracy, 95% bootstrap CIs", fontsize=10)
    # below the axes: inside, it covered the value labels of bars near 1.0
    fig.legend(fontsize=7, loc="outside lower center", ncol=min(n, 4), frameon=False)
    return _img(fig, "grouped bar chart: chain accuracy per arm and split")


def _length_plot(arms: dict[str, Any], results: dict[str, Any]) -> str:
    fig = figure(8.0, 3.2)
    axes = fig.subplots(1, 2, sharey=True)
    lengths: set[int] = set()
    for i, (arm, a) in enumerate(arms.items()):
        pts: dict[int, dict[str, Any]] = {}
        for split in ("single", "seen", "longer"):  # trained pairs only: the pure effect of length
            for k, m in (a["splits"][split].get("by_length") or {}).items():
                if str(k).isdigit():
                    pts[int(k)] = m
        xs = sorted(pts)
        lengths.update(xs)
        for ax, metric in zip(axes, ("chain_acc", "step_acc"), strict=True):
            ax.plot(xs, [pts[x].get(metric) or 0.0 for x in xs], marker="o", color=COLORS[i % len(COLORS)],
                    label=ARM_LABELS.get(arm, arm))
    longest = max((x for x in results.get("train_lengths", [])), default=None)
    for ax, label in zip(axes, ("chain accuracy", "step accuracy"), strict=True):
        ax.set(xlabel="chain length (steps)", ylabel=label, ylim=(-0.03, 1.05))
        ax.set_xticks(sorted(lengths))
        if longest:
            ax.axvline(longest + 0.5, color="grey", linestyle="--", linewidth=1)
            ax.text(longest + 0.55, 0.95, "untrained\nlength", fontsize=7, color="grey", va="top")
    axes[0].legend(fontsize=7, loc="lower left")
    return (_img(fig, "accuracy by chain length per arm")
            + "<p>Chains of trained step pairs (single-step, seen and longer splits).</p>")


def _first_failure_plot(arms: dict[str, Any]) -> str:
    fig = figure(8.0, 3.0)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, split in zip(axes, ("seen", "unseen", "longer"), strict=True):
        keys: list[str] = sorted({k for a in arms.values() for k in a["splits"][split].get("first_failure", {})},
                                 key=lambda k: (k == "none", int(k) if k.isdigit() else 0))
        width = 0.8 / max(1, len(arms))
        for i, (arm, a) in enumerate(arms.items()):
            hist = a["splits"][split].get("first_failure", {})
            total = sum(hist.values()) or 1
            xs = [j - 0.4 + width * (i + 0.5) for j in range(len(keys))]
            ax.bar(xs, [hist.get(k, 0) / total for k in keys], width=width * 0.95, color=COLORS[i % len(COLORS)],
                   label=arm)
        ax.set_xticks(range(len(keys)), [f"step {k}" if k.isdigit() else "all right" for k in keys], fontsize=7)
        ax.set_title(SPLIT_LABELS[split], fontsize=8)
        ax.set_xlabel("first wrong step", fontsize=8)
    axes[0].set_ylabel("share of chains")
    axes[0].legend(fontsize=7)
    return _img(fig, "first-failure position per arm")


def _smooth(ys: list[float], window: int = 25) -> list[float]:
    """Trailing mean over `window` steps (the raw per-step loss is drawn faintly underneath)."""
    out, total = [], 0.0
    for i, y in enumerate(ys):
        total += y - (ys[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def _plain(v: float, _pos: Any = None) -> str:
    return f"{v:g}"


def _plain_minor(v: float, _pos: Any = None) -> str:
    """Label the minor ticks 2x and 5x a power of ten (a log axis over a short range still has numbers)."""
    import math

    lead = v / 10 ** math.floor(math.log10(v)) if v > 0 else 0
    return f"{v:g}" if round(lead) in (2, 5) and abs(lead - round(lead)) < 1e-6 else ""


def _loss_plot(path: Path, arms: dict[str, Any]) -> str:
    curves = {arm: [r for r in read_jsonl(path / f"train-{arm}" / "metrics.jsonl") if is_num(r.get("loss"))]
              for arm in arms}
    curves = {a: c for a, c in curves.items() if c}
    if not curves:
        return "<p>No training metrics found.</p>"
    fig = figure(8.0, 2.6 * ((len(curves) + 1) // 2))
    axes = fig.subplots((len(curves) + 1) // 2, 2, sharex=True, sharey=True, squeeze=False).flatten()
    for ax, (arm, rows) in zip(axes, curves.items(), strict=False):
        phases: dict[str, list[tuple[int, float]]] = {}
        for r in rows:
            phases.setdefault(str(r.get("phase", "all")), []).append((r["step"], r["loss"]))
        for j, (phase, pts) in enumerate(phases.items()):
            xs, ys = [p[0] for p in pts], [max(p[1], 1e-5) for p in pts]
            ax.plot(xs, ys, linewidth=0.5, alpha=0.3, color=COLORS[j % len(COLORS)])
            ax.plot(xs, _smooth(ys), linewidth=1.4, color=COLORS[j % len(COLORS)], label=phase)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_plain)
        ax.yaxis.set_minor_formatter(_plain_minor)
        ax.set_title(ARM_LABELS.get(arm, arm), fontsize=9)
        ax.set(xlabel="optimizer step", ylabel="training loss (log)")
        ax.legend(fontsize=7, title="phase (line: mean of 25 steps)", title_fontsize=7)
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    return _img(fig, "training loss by phase per arm")


# ---- samples ------------------------------------------------------------------------------------------------


def _samples(path: Path, arms: dict[str, Any]) -> str:
    from seqit.chains.scoring import parse_step_lines

    prompts: dict[str, dict[str, str]] = {}
    for split in SPLITS:
        items = path / "generate" / f"eval-{split}.jsonl"
        prompts[split] = {str(it["id"]): it["messages"][0]["content"] for it in read_jsonl(items)} if items.exists() else {}
    out = []
    for arm in arms:
        rows = []
        for split in SPLITS:
            samples = list(read_jsonl(path / "eval" / f"{arm}-{split}" / "samples.jsonl"))
            shown = ([s for s in samples if not s.get("chain_ok")][:2] + [s for s in samples if s.get("chain_ok")])
            for s in shown[:SAMPLES_PER_SPLIT]:
                got = parse_step_lines(s.get("output") or "")
                expected = parse_step_lines(s.get("expected") or "")
                steps = []
                for k, ok in enumerate(s.get("correct", []), 1):
                    mark = "<span class='ok'>✓</span>" if ok else "<span class='bad'>✗</span>"
                    steps.append(f"<tr><td>{mark} step {k}</td><td><code>{esc(expected.get(k, ''))}</code></td>"
                                 f"<td><code>{esc(got.get(k, '(missing)'))}</code></td></tr>")
                extra = sorted(n for n in got if n > len(s.get("correct", [])))
                if extra:
                    steps.append(f"<tr><td><span class='bad'>✗ extra</span></td><td></td><td><code>"
                                 f"{esc('; '.join(f'Step {n}: {got[n]}' for n in extra))}</code></td></tr>")
                verdict = "<span class='ok'>chain right</span>" if s.get("chain_ok") else "<span class='bad'>chain wrong</span>"
                rows.append(f"<tr><td>{esc(split)}<br>{verdict}</td><td><pre>{esc(prompts[split].get(str(s['id']), ''))}</pre>"
                            f"</td><td><table class='steps'><tr><th>step</th><th>expected</th><th>model</th></tr>"
                            f"{''.join(steps)}</table></td></tr>")
        body = "<table class='samples'><tr><th>split</th><th>prompt</th><th>answer, step by step</th></tr>" + "".join(rows) + "</table>"
        out.append(f"<details{' open' if arm == next(iter(arms)) else ''}><summary>{esc(ARM_LABELS.get(arm, arm))}</summary>"
                   f"{body}</details>")
    return "\n".join(out)
