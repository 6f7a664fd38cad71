"""Small HTML building blocks for `seqit report`: escaping, number formatting, tables, the page shell.

Everything that comes from a run file must pass through `esc` (or `table`/`kv_table`, which escape).
"""

from __future__ import annotations

import html
import json
from typing import Any


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fmt_ci(ci: Any) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "–"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; short lists of numbers (CIs) stay one value."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)) and len(obj) == 2 and all(is_num(x) for x in obj):
        return {prefix: fmt_ci(obj)}
    return {prefix: obj}


def table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(d: dict[str, Any]) -> str:
    if not d:
        return ""
    return table(["key", "value"], [[k, v if not isinstance(v, (dict, list)) else json.dumps(v)] for k, v in d.items()])


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{border-bottom:2px solid #4c72b0} h2{margin-top:1.6em;border-bottom:1px solid #ddd} small{color:#777;font-weight:normal}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f8} pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;border-radius:4px;max-height:24em;overflow:auto}
details{border:1px solid #ddd;border-radius:4px;margin:.3em 0;padding:.3em .6em} summary{cursor:pointer;font-family:monospace}
img{max-width:100%}
table{display:block;max-width:100%;overflow-x:auto} td{overflow-wrap:break-word}
table.samples pre{margin:0;max-height:none} table.steps{display:table;margin:0;font-size:.85em}
.ok{color:#176317;font-weight:600} .bad{color:#b01c1c;font-weight:600}
.smoke{background:#fff3cd;border:1px solid #e0b252;padding:.6em 1em;border-radius:4px}
.samples label{margin-right:1em;cursor:pointer} .samples .show-failed:checked ~ .sample-list .passed{display:none}
details.failed>summary{color:#b01c1c}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n"
    )


def figure(width: float = 6.4, height: float = 3.4) -> Any:
    """A matplotlib Figure (no pyplot state) sized for the page."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def img(fig: Any) -> str:
    """A figure as an inline PNG <img> (the page stays one self-contained file)."""
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'
