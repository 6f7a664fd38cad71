"""The SIT effect on a real model: LoRA on SmolLM2-135M-Instruct with verifiable chains (SIT) vs single
steps (IT), same compute, then SeqEval-V chain accuracy by depth before and after (held-out compositions).

    seqit model import smollm2-135m --out models/smollm2-135m
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sit_real.py --model models/smollm2-135m --out runs/sit-real

Data: chains over SeqEval-V's step library, prompt framing and input sampler (seqit.chains), answers
computed exactly. SIT arm: chains of 1-3 steps; IT arm: single steps. No training chain has the
composition (ordered step names) of any SeqEval-V v1 item, and depths 4-5 are longer than any training
chain, so every multi-step eval item is a held-out composition. Same compute: both arms train the same
number of optimizer steps on packed rows of the same length (configs/train/smollm2-135m-lora.yaml).
Every stage is a plain `seqit` command (printed as it runs); the table goes to OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from seqit.chains.sampling import SEQEVAL_TEMPLATES, mixed_sampler, render_answer, render_prompt, sample_chain
from seqit.chains.seqeval_v import frozen_items
from seqit.chains.steps import INT, STEP_TYPES


def build_records(n: int, lengths: tuple[int, ...], exclude: set[tuple[str, ...]], seed: int) -> list[dict]:
    """`n` chain records (SeqEval-V framing), lengths drawn uniformly, compositions in `exclude` skipped."""
    rng = random.Random(seed)
    names = tuple(sorted(STEP_TYPES))
    sampler = mixed_sampler()
    out = []
    while len(out) < n:
        chain = sample_chain(rng, names, rng.choice(lengths), sampler(rng), len(SEQEVAL_TEMPLATES))
        if chain is None or tuple(chain.composition) in exclude:
            continue
        if chain.types()[0] != INT and INT in chain.types()[1:-1]:  # SeqEval-V's rule: counting steps go last
            continue
        out.append({"id": f"chain-{len(out):05d}",
                    "messages": [{"role": "user", "content": render_prompt(chain, SEQEVAL_TEMPLATES)},
                                 {"role": "assistant", "content": render_answer(chain)}],
                    "meta": {"kind": "sit" if len(chain.steps) > 1 else "it", "depth": len(chain.steps),
                             "steps": list(chain.composition)}})
    return out


def seqit(*args: str) -> None:
    cmd = [sys.executable, "-m", "seqit", *args]
    print("$ seqit " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def metrics(run: Path) -> dict[str, float]:
    """Chain accuracy overall and by depth, plus the overall step / follow accuracy and complete rate."""
    m = json.loads((run / "results.json").read_text())["metrics"]
    o = m["overall"]
    return {"all": o["chain_acc"], **{d: v["chain_acc"] for d, v in sorted(m["by_iteration"].items())},
            "step_acc": o["step_acc"], "follow_acc": o["follow_acc"], "complete_rate": o["complete_rate"]}


def write_table(out: Path, steps: int, eval_limit: int, seconds: float | None) -> str:
    rows = {"base (no fine-tuning)": metrics(out / "eval-base"),
            f"IT: LoRA on single steps, {steps} steps": metrics(out / "eval-it"),
            f"SIT: LoRA on 1-3 step chains, {steps} steps": metrics(out / "eval-sit")}
    tokens = {arm: json.loads((out / f"train-{arm}" / "model" / "meta.json").read_text())["tokens_seen"] for arm in ("it", "sit")}
    depths = [k for k in next(iter(rows.values())) if k.isdigit()]
    extra = ["step_acc", "follow_acc", "complete_rate"]
    lines = [f"| model | chain acc | {' | '.join('depth ' + d for d in depths)} | {' | '.join(extra)} |",
             "|" + "---|" * (len(depths) + len(extra) + 2)]
    lines += [f"| {name} | {r['all']:.2f} | {' | '.join(f'{r[d]:.2f}' for d in depths)} | "
              f"{' | '.join(f'{r[k]:.2f}' for k in extra)} |" for name, r in rows.items()]
    lines.append(f"\nSeqEval-V v1, {eval_limit} items spread over depths 1-5 (chain acc by depth); training tokens "
                 f"seen: IT {tokens['it']}, SIT {tokens['sit']}" + (f"; wall time {seconds:.0f} s." if seconds else "."))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({"rows": rows, "tokens_seen": tokens}, indent=2) + "\n")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/sit-real"))
    ap.add_argument("--records", type=int, default=600)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per arm (same for both)")
    ap.add_argument("--eval-limit", type=int, default=50, help="SeqEval-V items, spread over depths 1-5")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--table-only", action="store_true", help="rebuild results.md from the eval dirs in OUT")
    args = ap.parse_args()
    out = args.out
    if args.table_only:
        print(write_table(out, args.steps, args.eval_limit, None))
        return
    out.mkdir(parents=True, exist_ok=True)
    exclude = {tuple(it["meta"]["steps"]) for it in frozen_items("v1") if it["meta"]["depth"] > 1}
    t0 = time.monotonic()
    for arm, lengths in (("sit", (1, 2, 3)), ("it", (1,))):
        path = out / f"{arm}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in build_records(args.records, lengths, exclude, seed=1)))
    ev = ["configs/eval/seqeval-v.yaml", f"limit={args.eval_limit}", f"generation.max_new_tokens={args.max_new_tokens}",
          "model.hf.dtype=float32", "model.hf.batch_size=8"]
    seqit("eval", *ev, f"model.model={args.model}", "--out", str(out / "eval-base"))
    for arm in ("sit", "it"):
        seqit("train", "configs/train/smollm2-135m-lora.yaml", f"model.path={args.model}",
              f"phases=[{{data: {out / (arm + '.jsonl')}}}]", f"max_steps={args.steps}", "save_phase_models=false",
              "--out", str(out / f"train-{arm}"))
        seqit("eval", *ev, f"model.model={out / f'train-{arm}' / 'model'}", "--out", str(out / f"eval-{arm}"))
    print(write_table(out, args.steps, args.eval_limit, time.monotonic() - t0))

if __name__ == "__main__":
    main()
