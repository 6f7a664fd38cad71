"""Regenerate smollm2_replies.jsonl: real SmolLM2-135M-Instruct replies to Self-Seq control prompts.

    seqit model import smollm2-135m --out models/smollm2-135m
    OMP_NUM_THREADS=2 python tests/generate/selfseq/data/make_smollm2_replies.py models/smollm2-135m

The prompts are the pipeline's own (seqit.generate.selfseq.prompts, the same per-seed shot order), sent
greedily through the hf teacher backend as `seqit generate ... selfseq.json_mode=false` sends them; some with
a small max_tokens, so the corpus holds replies cut by the limit (finish_reason "length"). One JSON row per
reply: the stage, option, seed instruction and input, the messages sent, the reply text and finish reason.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

from seqit.generate.selfseq import prompts
from seqit.records import load_records
from seqit.teachers import ChatRequest, TeacherConfig, open_teacher

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[3] / "src" / "seqit" / "resources" / "sample_alpaca.jsonl"
OUT = HERE / "smollm2_replies.jsonl"


def jobs() -> list[dict]:
    """(stage, option, seed, max_tokens) for 12 seeds: B and C rewrites in full, A rewrites and extracts cut short."""
    records = load_records(SAMPLE, "alpaca").records[:12]
    out = []
    for i, rec in enumerate(records):
        instr, inp = rec.meta["instruction"], rec.meta.get("input", "")
        for option, max_tokens in (("B", 512), ("C", 512), ("A", 40)):
            rng = random.Random(f"0:{rec.id}:rewrite:1")  # the pipeline's rng for round 1 (seed 0)
            out.append({"id": f"{rec.id}:rewrite:{option}:{max_tokens}", "stage": "rewrite", "option": option,
                        "instruction": instr, "input": inp, "max_tokens": max_tokens,
                        "messages": prompts.rewrite_messages(option, instr, inp, rng)})
        if i < 6:
            rng = random.Random(f"0:{rec.id}:extract:0")
            prompt = rec.messages[-2]["content"]
            out.append({"id": f"{rec.id}:extract:{24 if i % 2 else 512}", "stage": "extract", "option": None,
                        "instruction": prompt, "input": "", "max_tokens": 24 if i % 2 else 512,
                        "messages": prompts.extract_messages(prompt, rng)})
    return out


async def main(model: str) -> None:
    cfg = TeacherConfig(backend="hf", model=model, max_concurrency=8)
    todo = jobs()
    async with open_teacher(cfg) as teacher:
        comps = await asyncio.gather(*(teacher.complete(ChatRequest(
            id=j["id"], messages=j["messages"], temperature=0.0, max_tokens=j["max_tokens"])) for j in todo))
    with open(OUT, "w", encoding="utf-8") as f:
        for j, c in zip(todo, comps, strict=True):
            assert c.ok, c.error
            f.write(json.dumps({**j, "reply": c.text, "finish_reason": c.finish_reason, "model": "SmolLM2-135M-Instruct"},
                               ensure_ascii=False) + "\n")
    print(f"wrote {len(todo)} replies to {OUT}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
