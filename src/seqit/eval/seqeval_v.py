"""The `seqit eval` task `seqeval_v`: SeqEval-V items (a version name or an items file) answered by the
evaluated model (or read from earlier outputs) and scored exactly, per step, by seqit.chains.

    seqit eval configs/eval/seqeval-v.yaml model.model=runs/train/model
"""

from __future__ import annotations

from typing import Any

from seqit.chains.seqeval_v import load_benchmark, prompt_of, score_outputs, score_samples
from seqit.eval.items import EvalItem, load_outputs
from seqit.eval.metrics import horizon_metrics
from seqit.jsonl import write_jsonl


def run_task(cfg: Any, run: Any) -> dict[str, Any]:
    """The `seqit eval` task `seqeval_v` (an entry in seqit.eval.run.TASKS): cfg.data = version or
    items file; answers from cfg.outputs (run dir or file, aligned by id) or generated with cfg.model
    through seqit.eval.run.generate_outputs. Writes samples.jsonl, returns the results dict."""
    from seqit.eval.run import generate_outputs

    items = load_benchmark(cfg.data)
    if cfg.limit is not None:
        items = items[: cfg.limit]
    if cfg.outputs:
        ids = {it["id"] for it in items}
        texts = {k: v for k, v in load_outputs(cfg.outputs).items() if k in ids}
    else:
        evs = [EvalItem(it["id"], tuple(prompt_of(it)), it["meta"]["depth"], it["meta"]) for it in items]
        fields = generate_outputs(cfg, run, evs)
        texts = {k: v["output"] for k, v in fields.items() if v.get("output") is not None}
    rows = score_samples(items, texts)
    write_jsonl(run.file("samples.jsonl"), rows)
    run.add_counts(items=len(items), missing=len(items) - len(texts))
    return {**score_outputs(items, texts), "benchmark": cfg.data or "v1", "horizon": horizon_metrics(rows)}
