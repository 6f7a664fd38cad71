"""details.html for a quickstart run (beside the `seqit report` page report.html): the results table,
per-split, per-length and first-failure breakdowns, training loss curves (inline SVG) and sample
outputs per arm. Self-contained, no plotting library."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from seqit.jsonl import read_jsonl

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}pre{background:#f6f6f6;padding:6px;margin:0;font-size:12px}
.ok{color:#176317}.bad{color:#a11}"""


def write_details(out: Path, results: dict[str, Any], cfg: Any) -> Path:
    """Write OUT/details.html from results.json data and the run's samples/metrics files."""
    arms = list(results["arms"])
    parts = [f"<html><head><meta charset='utf-8'><title>seqit quickstart</title><style>{CSS}</style></head><body>",
             "<h1>seqit quickstart — IT vs SIT on the micro-world</h1>",
             f"<p>Ops: {html.escape(', '.join(results['ops']))}. Held-out pairs (never adjacent in training): "
             f"{html.escape(', '.join(results['heldout_pairs']))}. Total time {results.get('seconds', '?')} s.</p>",
             _main_table(results, arms), "<h2>Accuracy by chain length and first failure</h2>", _split_tables(results, arms),
             "<h2>Training loss</h2>", _loss_svg(out, arms), "<h2>Sample outputs</h2>", _samples(out, arms),
             f"<h2>Config</h2><pre>{html.escape(json.dumps(_cfg_dict(cfg), indent=1))}</pre></body></html>"]
    path = out / "details.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _cfg_dict(cfg: Any) -> dict[str, Any]:
    from seqit.config import to_dict

    return to_dict(cfg)


def _main_table(results: dict[str, Any], arms: list[str]) -> str:
    head = "".join(f"<th>{html.escape(a)}</th>" for a in arms)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in results_rows(results))
    train = "".join(f"<td>{results['arms'][a]['train']['steps']} steps / {results['arms'][a]['train']['tokens']} tok / "
                    f"{results['arms'][a]['train']['seconds']} s</td>" for a in arms)
    return f"<table><tr><th>metric</th>{head}</tr>{rows}<tr><td>training</td>{train}</tr></table>"


def _split_tables(results: dict[str, Any], arms: list[str]) -> str:
    out = []
    for split in ("single", "seen", "unseen", "longer"):
        rows = []
        for a in arms:
            m = results["arms"][a]["splits"][split]
            by_len = "; ".join(f"len {k}: chain {v['chain_acc']:.2f}, step {v['step_acc']:.2f}" for k, v in m["by_length"].items())
            hist = ", ".join(f"{k}: {v}" for k, v in m["first_failure"].items())
            rows.append(f"<tr><td>{a}</td><td>{m['n']}</td><td>{m['chain_acc']:.2f}</td><td>{m['step_acc']:.2f}</td>"
                        f"<td>{m['follow_acc']:.2f}</td><td>{html.escape(by_len)}</td><td>{html.escape(hist)}</td></tr>")
        out.append(f"<h3>{split}</h3><table><tr><th>arm</th><th>n</th><th>chain acc</th><th>step acc</th><th>follow acc</th>"
                   f"<th>by length</th><th>first failure at step</th></tr>{''.join(rows)}</table>")
    return "".join(out)


def _loss_svg(out: Path, arms: list[str], w: int = 640, h: int = 240) -> str:
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    curves = {a: [r["loss"] for r in read_jsonl(out / "train" / a / "metrics.jsonl")] for a in arms}
    top = max((max(c) for c in curves.values() if c), default=1.0)
    lines = []
    for i, (a, c) in enumerate(curves.items()):
        if len(c) < 2:
            continue
        pts = " ".join(f"{j * w / (len(c) - 1):.1f},{h - min(v, top) * h / top:.1f}" for j, v in enumerate(c))
        lines.append(f"<polyline fill='none' stroke='{colors[i % 4]}' stroke-width='1.5' points='{pts}'/>"
                     f"<text x='{w - 80}' y='{20 + 16 * i}' fill='{colors[i % 4]}'>{html.escape(a)}</text>")
    return f"<svg width='{w}' height='{h}' style='border:1px solid #ccc'>{''.join(lines)}</svg><p>y: loss 0…{top:.2f}; x: step</p>"


def _samples(out: Path, arms: list[str], per_split: int = 3) -> str:
    rows = []
    for a in arms:
        seen: dict[str, int] = {}
        for s in read_jsonl(out / f"samples-{a}.jsonl"):
            if seen.get(s["split"], 0) >= per_split or s["split"] == "single":
                continue
            seen[s["split"]] = seen.get(s["split"], 0) + 1
            cls = "ok" if s["chain_ok"] else "bad"
            rows.append(f"<tr><td>{a}</td><td>{s['split']}</td><td><pre>{html.escape(s['prompt'])}</pre></td>"
                        f"<td><pre>{html.escape(s['expected'])}</pre></td><td class='{cls}'><pre>{html.escape(s['output'])}</pre></td></tr>")
    return f"<table><tr><th>arm</th><th>split</th><th>prompt</th><th>expected</th><th>output</th></tr>{''.join(rows)}</table>"


def results_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(metric, arm1, arm2, ...) rows for the printed table and the README."""
    arms = list(results["arms"])
    keys = ("single_acc", "chain_acc_seen", "step_acc_seen", "chain_acc_unseen", "step_acc_unseen",
            "chain_acc_longer", "step_acc_longer")
    return [(k, *(f"{results['arms'][a][k]:.2f}" for a in arms)) for k in keys]
