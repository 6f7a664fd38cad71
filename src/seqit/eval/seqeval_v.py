"""The `seqit eval` task `seqeval_v`: SeqEval-V items (a version name or an items file) answered by the
evaluated model (or read from earlier outputs) and scored exactly, per step, by seqit.chains.

    seqit eval configs/eval/seqeval-v.yaml model.model=runs/train/model
"""

from __future__ import annotations

from typing import Any

from seqit.chains.seqeval_v import load_benchmark, prompt_of, score_outputs, score_samples
from seqit.eval.items import EvalItem, load_outputs
from seqit.jsonl import write_jsonl


def run_task(cfg: Any, run: Any) -> dict[str, Any]:
    """The `seqit eval` task `seqeval_v` (an entry in seqit.eval.run.TASKS): cfg.data = version or
    items file; answers from cfg.outputs (run dir or file, aligned by id) or generated with cfg.model
    through seqit.eval.run.generate_outputs. Writes samples.jsonl, returns the results dict."""
    from seqit.eval.run import generate_outputs

    items = load_benchmark(cfg.data)
    if cfg.limit is not None:
        items = limit_by_depth(items, cfg.limit)
    if cfg.outputs:
        ids = {it["id"] for it in items}
        texts = {k: v for k, v in load_outputs(cfg.outputs).items() if k in ids}
    else:
        evs = [EvalItem(it["id"], tuple(prompt_of(it)), it["meta"]["depth"], it["meta"]) for it in items]
        fields = generate_outputs(cfg, run, evs)
        texts = {k: v["output"] for k, v in fields.items() if v.get("output") is not None}
    write_jsonl(run.file("samples.jsonl"), score_samples(items, texts))
    run.add_counts(items=len(items), missing=len(items) - len(texts))
    return {**score_outputs(items, texts), "benchmark": cfg.data or "v1"}


def limit_by_depth(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """`limit` items spread evenly over chain depths (round-robin, each depth in file order), returned in
    file order. The benchmark file is sorted by depth, so its first N items would all be depth 1."""
    by_depth: dict[Any, list[int]] = {}
    for i, it in enumerate(items):
        by_depth.setdefault(it["meta"]["depth"], []).append(i)
    queues = [by_depth[d] for d in sorted(by_depth)]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(limit, len(items)):
        for q in queues:
            if rank < len(q) and len(picked) < limit:
                picked.append(q[rank])
        rank += 1
    return [items[i] for i in sorted(picked)]
