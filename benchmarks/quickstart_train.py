"""The quickstart's training throughput: `seqit train` (what `seqit quickstart` runs) vs the private
loop the quickstart used before (kept here, only as the baseline), on the same micro-world data,
model and batch size, measured side by side in one process.

    PYTHONPATH=src python benchmarks/quickstart_train.py [--steps 300] [--batch 32] [--threads 1] [--repeats 2]

Both train a fresh copy of the same random tiny Llama for `--steps` optimizer steps of `--batch`
examples from one `seqit generate` (method microworld) run. Reported: seconds per step and real
(non-padding) tokens per second (steady state: the training loop only) and wall seconds of the whole call (seqit train also encodes,
writes preflight, checkpoints and exports the model), and ratio = old / new (>= 1: not slower).
Pairs run in ABBA order (old, new, new, old) so that load from other jobs hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# ---- the old private loop (baseline only; seqit itself trains with seqit.train) ---------------------


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def old_encode(tok: Any, conversations: Sequence[list[dict[str, str]]]) -> list[Encoded]:
    prompts = tok.apply_chat_template([c[:-1] for c in conversations], tokenize=False, add_generation_prompt=True)
    fulls = tok.apply_chat_template(list(conversations), tokenize=False)
    p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    f_ids = tok(fulls, add_special_tokens=False)["input_ids"]
    out = []
    for p, f in zip(p_ids, f_ids, strict=False):
        end = len(f)
        while f[end - 1] != tok.eos_token_id:
            end -= 1
        ids = f[:end]
        out.append(Encoded(ids, [-100] * len(p) + ids[len(p):]))
    return out


def old_collate(batch: Sequence[Encoded], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    T = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    labels = torch.full((len(batch), T), -100, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(e.labels)
    return ids, mask, labels


def old_lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def old_batches(encoded: Sequence[Encoded], batch_size: int, steps: int, rng: random.Random, bucket: int = 8) -> list:
    batches: list[list[Encoded]] = []
    order: list[int] = []
    while len(batches) < steps:
        if not order:
            order = list(range(len(encoded)))
            rng.shuffle(order)
        window, order = order[: batch_size * bucket], order[batch_size * bucket:]
        window.sort(key=lambda i: len(encoded[i].input_ids))
        chunk = [[encoded[i] for i in window[j:j + batch_size]] for j in range(0, len(window), batch_size)]
        rng.shuffle(chunk)
        batches.extend(chunk)
    return batches[:steps]


def old_train(model: Any, batches: Sequence[Sequence[Encoded]], lr: float, warmup: int, pad_id: int) -> list[float]:
    """The old loop; returns per-step wall times."""
    import torch

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    times = []
    for step, batch in enumerate(batches):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = old_lr_at(step, len(batches), lr, warmup)
        ids, mask, labels = old_collate(batch, pad_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        times.append(time.perf_counter() - t0)
    return times


# ---- the measurement ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attn", default="sdpa", help="seqit train model.attn_implementation (sdpa, eager, seqit_varlen)")
    ap.add_argument("--repeats", type=int, default=2, help="old/new pairs, run in ABBA order")
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seqit.config import load_config
    from seqit.generate.run import GenerateConfig, run_generate
    from seqit.jsonl import read_jsonl
    from seqit.quickstart.microworld import save_micro_model
    from seqit.quickstart.run import QuickstartConfig, stage_configs
    from seqit.train import TrainConfig, run_train

    torch.set_num_threads(a.threads)
    cfg = QuickstartConfig(steps=a.steps, batch_size=a.batch, warmup=min(30, a.steps // 10), arms=("sit",))
    skip = min(10, a.steps // 10)  # warm-up steps excluded from the steady state
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        confs = stage_configs(out, cfg)
        confs["train-sit"]["model"]["attn_implementation"] = a.attn
        (out / "generate.yaml").write_text(yaml.safe_dump(confs["generate"]), encoding="utf-8")
        run_generate(load_config(GenerateConfig, out / "generate.yaml"), progress=False)
        model_dir = save_micro_model(out / "model", cfg.hidden_size, cfg.intermediate_size, cfg.num_layers,
                                     cfg.num_heads, cfg.seed)
        records = [r["messages"] for r in read_jsonl(out / "generate" / "sit.jsonl")]

        def old() -> tuple[float, float]:
            t0 = time.perf_counter()
            tok = AutoTokenizer.from_pretrained(model_dir)
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            batches = old_batches(old_encode(tok, records), a.batch, a.steps, random.Random(0))
            times = old_train(model, batches, cfg.lr, cfg.warmup, tok.pad_token_id)
            tokens = [sum(len(e.input_ids) for e in b) for b in batches]
            return (sum(times[skip:]) / len(times[skip:]), time.perf_counter() - t0,
                    sum(tokens[skip:]) / sum(times[skip:]))

        def new(k: int) -> tuple[float, float]:  # seqit train, exactly as the quickstart configures it
            conf = {**confs["train-sit"], "out_dir": str(out / f"train-{k}")}  # a fresh dir: no resume
            (out / "train.yaml").write_text(yaml.safe_dump(conf), encoding="utf-8")
            t0 = time.perf_counter()
            run_train(load_config(TrainConfig, out / "train.yaml"))
            wall = time.perf_counter() - t0
            rows = list(read_jsonl(out / f"train-{k}" / "metrics.jsonl"))
            times = [r["tokens"] / r["tokens_per_s"] for r in rows]
            tokens = [r["tokens"] for r in rows]
            return sum(times[skip:]) / len(times[skip:]), wall, sum(tokens[skip:]) / sum(times[skip:])

        # ABBA order (old, new, new, old, ...): a load change on the shared machine hits both sides alike
        olds, news = [], []
        for r in range(a.repeats):
            pair = [("old", old), ("new", lambda r=r: new(r))]
            for name, fn in (pair if r % 2 == 0 else pair[::-1]):
                (olds if name == "old" else news).append(fn())
    old_step, old_wall, old_tps = (sum(x[i] for x in olds) / len(olds) for i in (0, 1, 2))
    new_step, new_wall, new_tps = (sum(x[i] for x in news) / len(news) for i in (0, 1, 2))
    report = {
        "steps": a.steps, "batch": a.batch, "threads": a.threads, "attn": a.attn, "repeats": a.repeats,
        "old_loop_s_per_step": round(old_step, 5), "seqit_train_s_per_step": round(new_step, 5),
        "ratio_per_step_old_over_new": round(old_step / new_step, 3),
        # the two sides batch the same records differently (different tokens per step): tokens/s is the fair rate
        "old_loop_tokens_per_s": round(old_tps), "seqit_train_tokens_per_s": round(new_tps),
        "ratio_tokens_per_s_new_over_old": round(new_tps / old_tps, 3),
        "old_loop_wall_s": round(old_wall, 2), "seqit_train_wall_s": round(new_wall, 2),
        "ratio_wall_old_over_new": round(old_wall / new_wall, 3),
        "per_repeat_step_ratios": [round(o[0] / n[0], 3) for o, n in zip(olds, news, strict=True)],
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
