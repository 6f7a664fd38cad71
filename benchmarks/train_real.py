"""`seqit train` real tokens/s vs TRL's SFTTrainer (packing=True, and its defaults) on a real model, LoRA and
full, same data, same sequence length, same optimizer steps, measured side by side in one run; plus MFU.

    seqit model import smollm2-135m --out models/smollm2-135m
    PYTHONPATH=src python benchmarks/train_real.py --model models/smollm2-135m --steps 12 --max-seq-len 512

tokens/s counts the real (non-padding) tokens of every step after the first (warm-up) divided by those
steps' wall time. MFU = model FLOPs/s / peak matmul FLOPs/s, the peak measured in this run (a large fp32
matmul on the same threads). Model FLOPs per token: 6·N (full: forward + backward for activations and
weights) or 4·N (LoRA: the frozen weights need no weight gradients), N = parameters used in matmuls
(the tied embedding counted once, as the LM head), plus 12·L·d·s/2 per token for causal attention.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_matmul_flops(torch, n: int = 2048, reps: int = 6) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def flops_per_token(cfg, n_params: int, method: str, seq: int) -> float:
    attn = 12 * cfg.num_hidden_layers * cfg.hidden_size * seq / 2  # causal: half the score matrix
    return (6 if method == "full" else 4) * n_params + (attn if method == "full" else attn * 2 / 3)


def load_rows(path: Path, n: int) -> list[dict]:
    from seqit.records import load_records

    recs = load_records(str(path)).records
    rows = [{"messages": r.messages} for r in recs]
    return (rows * (n // max(1, len(rows)) + 1))[:n]


def run_seqit(model: str, data: Path, method: str, steps: int, seq: int, out: Path) -> dict:
    from seqit.config import load_config
    from seqit.train import TrainConfig, run_train

    cfg = load_config(TrainConfig, ROOT / "configs" / "train" / f"smollm2-135m-{method}.yaml", [
        f"model.path={model}", f"phases=[{{data: {data}, shuffle: false}}]", f"batch.max_seq_len={seq}",
        f"max_steps={steps}", "save_phase_models=false", f"out_dir={out}"])
    run_train(cfg)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    tokens = sum(r["tokens"] for r in rows[1:])
    secs = rows[-1]["time"] - rows[0]["time"]
    return {"tokens": tokens, "seconds": round(secs, 2), "tokens_per_s": round(tokens / secs, 1), "steps": len(rows)}


def run_trl(model: str, rows: list[dict], method: str, steps: int, seq: int, packing: bool, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model)
    m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_config = None
    if method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    args = SFTConfig(output_dir=str(out), max_length=seq, packing=packing, per_device_train_batch_size=1,
                     gradient_accumulation_steps=1, max_steps=steps, learning_rate=1e-3 if method == "lora" else 5e-5,
                     lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1, save_strategy="no", report_to=[],
                     use_cpu=True, dataloader_num_workers=0, seed=0, disable_tqdm=True)
    trainer = SFTTrainer(model=m, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=peft_config)
    counted: list[int] = []
    collate = trainer.data_collator

    def counting(features):
        batch = collate(features)
        mask = batch.get("attention_mask")
        counted.append(int(mask.sum()) if mask is not None else int(batch["input_ids"].numel()))
        return batch

    trainer.data_collator = counting
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

    trainer.add_callback(Clock())
    trainer.train()
    tokens = sum(counted[1 : len(times)])
    secs = times[-1] - times[0]
    return {"tokens": tokens, "seconds": round(secs, 2), "tokens_per_s": round(tokens / secs, 1), "steps": len(times)}


def one_arm(args, name: str) -> dict:
    import subprocess
    import sys

    cmd = [sys.executable, __file__, "--model", args.model, "--data", str(args.data), "--steps", str(args.steps),
           "--max-seq-len", str(args.max_seq_len), "--one", name]
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, default=ROOT / "src" / "seqit" / "resources" / "sample_alpaca.jsonl")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--methods", default="lora,full")
    ap.add_argument("--skip-trl-defaults", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch
    from transformers import AutoConfig

    peak = peak_matmul_flops(torch)
    mcfg = AutoConfig.from_pretrained(args.model)
    from safetensors import safe_open

    with safe_open(str(Path(args.model) / "model.safetensors"), "pt") as f:
        n_params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    rows = load_rows(args.data, 2000)
    tmp = Path(tempfile.mkdtemp(prefix="train_real-"))
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.one:  # one arm in this process (accelerate's state is per process: TRL and seqit cannot share one)
        trainer, method = args.one.rsplit(" ", 1)
        if trainer == "seqit":
            r = run_seqit(args.model, data, method, args.steps, args.max_seq_len, tmp / "seqit")
        else:
            r = run_trl(args.model, rows, method, args.steps, args.max_seq_len, trainer == "trl packing", tmp / "trl")
        print("RESULT " + json.dumps(r), flush=True)
        return
    results: dict[str, dict] = {}
    for method in args.methods.split(","):
        for trainer in ("seqit", "trl packing") + (() if args.skip_trl_defaults else ("trl defaults",)):
            results[f"{trainer} {method}"] = one_arm(args, f"{trainer} {method}")
    peak_end = peak_matmul_flops(torch)
    peak = max(peak, peak_end)
    print(f"{args.model}: {n_params / 1e6:.1f} M params, seq {args.max_seq_len}, {args.steps} steps, torch threads "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); "
          f"peak fp32 matmul {peak / 1e9:.1f} GFLOP/s (best of start/end)")
    for name, r in results.items():
        method = name.rsplit(" ", 1)[1]
        r["mfu"] = round(r["tokens_per_s"] * flops_per_token(mcfg, n_params, method, args.max_seq_len) / peak, 3)
        print(f"  {name:20s} {r['tokens_per_s']:8.1f} tokens/s  MFU {r['mfu']:.2f}  ({r['tokens']} tokens, {r['seconds']} s)")
    for method in args.methods.split(","):
        s = results[f"seqit {method}"]["tokens_per_s"]
        for other in ("trl packing", "trl defaults"):
            if f"{other} {method}" in results:
                print(f"  seqit / {other} ({method}): {s / results[f'{other} {method}']['tokens_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"peak_flops": peak, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
