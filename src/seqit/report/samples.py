"""The sample browser of an eval run's section in `seqit report`: every sample with the prompt that produced it,
the expected steps of a chain, the output and its verdicts; a switch shows only the failures (CSS only, so the
page stays one self-contained file that works without scripts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqit.jsonl import read_jsonl
from seqit.report.html import esc

MAX_SAMPLES = 5000  # per eval run; samples.jsonl holds them all
MAX_TEXT = 4000  # characters shown per field before "… (truncated)"
MAX_TEXT_MANY = 1500  # the same when a run has more than MANY samples (the page stays a few MB)
MANY = 1000
BODY_FIELDS = ("instruction", "output", "expected", "correct", "followed", "reference_output", "target",
               "judge_replies", "scores_a_first", "scores_b_first", "turns", "generation_error", "judge_error",
               "error")
SUMMARY_FIELDS = ("following", "score", "outcome", "iteration", "depth")


def latest_samples(path: Path) -> list[dict[str, Any]]:
    """The last row per id (a resumed run appends retried rows), in file order."""
    latest: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(path):
        if isinstance(row, dict):
            latest[str(row.get("id"))] = row
    return list(latest.values())


def is_failed(s: dict[str, Any]) -> bool:
    """A judged failure (status other than ok), a judged No, or a SeqEval-V chain with a wrong step."""
    return s.get("status", "ok") != "ok" or s.get("chain_ok") is False or s.get("following") is False


def summary_line(s: dict[str, Any]) -> str:
    """The one-line summary of a sample: only fields it has (no empty ones).

    >>> summary_line({"id": "c1", "depth": 2, "chain_ok": False, "first_failure": 2})
    'c1 · failed at step 2 · depth=2'
    >>> summary_line({"id": "q", "status": "ok", "following": True, "score": 4, "iteration": 1})
    'q · ok · following=True · score=4 · iteration=1'
    """
    parts = [str(s.get("id"))]
    if s.get("status"):
        parts.append(str(s["status"]))
    if s.get("chain_ok") is not None:
        parts.append("chain right" if s["chain_ok"] else
                     f"failed at step {s['first_failure']}" if s.get("first_failure") else "failed")
    parts += [f"{k}={s[k]}" for k in SUMMARY_FIELDS if s.get(k) not in (None, "")]
    return " · ".join(parts)


def clip(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return text if len(text) <= limit else text[:limit] + "\n… (truncated)"


def prompt_text(prompt: Any) -> str:
    """A sample's prompt as the model saw it: each message as `role:` and its text (a plain string as is)."""
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return "\n\n".join(f"{m.get('role')}:\n{m.get('content')}" for m in prompt)
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


def _mark(flags: Any, i: int, yes: str, no: str) -> str:
    flag = flags[i] if isinstance(flags, list) and i < len(flags) else None
    return "" if flag is None else f'<span class="ok">{yes}</span>' if flag else f'<span class="bad">{no}</span>'


def steps_table(steps: Any, correct: Any, followed: Any = None) -> str:
    """A chain's expected steps (instruction and result), with the verdicts per step when the sample has them."""
    if not isinstance(steps, list) or not all(isinstance(x, dict) for x in steps):
        return ""
    rows = [f"<tr><td>{esc(st.get('step', i + 1))}</td><td>{esc(st.get('instruction') or '')}</td>"
            f"<td>{esc(st.get('expected') or '')}</td><td>{_mark(correct, i, 'right', 'wrong')}</td>"
            f"<td>{_mark(followed, i, 'yes', 'no')}</td></tr>" for i, st in enumerate(steps)]
    return ('<h4>expected steps</h4><table class="steps"><thead><tr><th>step</th><th>instruction</th>'
            f"<th>expected</th><th>result</th><th>followed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def sample_html(s: dict[str, Any], limit: int = MAX_TEXT) -> str:
    body = []
    if s.get("prompt") not in (None, "", []):
        body.append(f"<h4>prompt</h4><pre>{esc(clip(prompt_text(s['prompt']), limit))}</pre>")
    table = steps_table(s.get("steps"), s.get("correct"), s.get("followed"))
    body.append(table)
    for key in BODY_FIELDS:
        if (key == "instruction" and s.get("prompt")) or (key in ("correct", "followed") and table):
            continue  # the prompt, or the steps table, shows it
        if s.get(key) not in (None, "", []):
            body.append(f"<h4>{esc(key)}</h4><pre>{esc(clip(s[key], limit))}</pre>")
    if not any(body):  # a row shape this list does not know: show it whole rather than a blank entry
        body.append(f"<pre>{esc(clip({k: v for k, v in s.items() if k != 'id'}, limit))}</pre>")
    cls = "sample failed" if is_failed(s) else "sample passed"
    return f'<details class="{cls}"><summary>{esc(summary_line(s))}</summary>{"".join(body)}</details>'


def samples_section(path: Path, key: str) -> str:
    """Every sample of `path` (up to MAX_SAMPLES), with an all / failures-only switch; "" when there are none.
    `key` makes the switch's ids unique on a page with several runs."""
    samples = latest_samples(path)
    if not samples:
        return ""
    shown = samples[:MAX_SAMPLES]
    limit = MAX_TEXT_MANY if len(samples) > MANY else MAX_TEXT
    n_failed = sum(is_failed(s) for s in samples)
    name = "samples-" + "".join(ch if ch.isalnum() else "-" for ch in key)
    switch = (f'<input type="radio" name="{name}" id="{name}-all" class="show-all" checked>'
              f'<label for="{name}-all">all {len(samples)}</label> '
              f'<input type="radio" name="{name}" id="{name}-failed" class="show-failed">'
              f'<label for="{name}-failed">failures only {n_failed}</label>')
    note = ("" if len(shown) == len(samples) else
            f"<p>The first {len(shown)} of {len(samples)} samples; every one is in {esc(path)}.</p>")
    items = "\n".join(sample_html(s, limit) for s in shown)
    return f'<h3>Samples</h3><div class="samples">{switch}{note}<div class="sample-list">{items}</div></div>'
