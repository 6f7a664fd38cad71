"""seqit's hf generation vs a plain batched `model.generate` loop (and `transformers serve` + the openai
backend), on the same prompts and settings, measured side by side in one run.

    seqit model import smollm2-135m --out models/smollm2-135m
    PYTHONPATH=src python benchmarks/hf_generation.py --model models/smollm2-135m --n 24 --batch-size 8
    PYTHONPATH=src python benchmarks/hf_generation.py --model models/smollm2-135m --serve   # + transformers serve

Prompts are SeqEval-V items spread over depths (what `seqit eval` sends), greedy, max_new_tokens each.
Plain loop: the prompts in file order, batch_size at a time, left-padded, `model.generate` stopping at
EOS. seqit: every request submitted at once to the hf backend (same model object, same batch size).
Prints completion tokens, seconds and tokens/s for each, the ratios, and how many greedy outputs match.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path


def prompts(n: int) -> list[list[dict[str, str]]]:
    from seqit.chains.seqeval_v import frozen_items, prompt_of
    from seqit.eval.seqeval_v import limit_by_depth

    return [list(prompt_of(it)) for it in limit_by_depth(frozen_items("v1"), n)]


def plain_loop(model, tok, msgs, batch_size: int, max_new: int) -> tuple[list[str], int, float]:
    import torch

    tok.padding_side = "left"
    texts, n_tokens = [], 0
    t0 = time.perf_counter()
    for k in range(0, len(msgs), batch_size):
        chunk = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs[k : k + batch_size]]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, temperature=None, top_p=None,
                                 top_k=None, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            ids = row[: row.index(tok.eos_token_id)] if tok.eos_token_id in row else row
            n_tokens += len(ids)
            texts.append(tok.decode(ids, skip_special_tokens=True))
    return texts, n_tokens, time.perf_counter() - t0


def via_teacher(cfg, msgs, max_new: int, backend=None) -> tuple[list[str], int, float, dict]:
    from seqit.teachers import ChatRequest, open_teacher

    async def go():
        async with open_teacher(cfg, backend=backend) as t:
            reqs = [ChatRequest(id=f"p{i}", messages=m, max_tokens=max_new, temperature=0.0) for i, m in enumerate(msgs)]
            t0 = time.perf_counter()
            comps = await asyncio.gather(*(t.complete(r) for r in reqs))
            return comps, time.perf_counter() - t0, t.usage_summary()

    comps, secs, usage = asyncio.run(go())
    bad = [c for c in comps if not c.ok]
    if bad:
        raise SystemExit(f"{len(bad)} requests failed, e.g. {bad[0].error}")
    return [c.text for c in comps], sum(c.usage.completion_tokens for c in comps), secs, usage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model dir (e.g. from `seqit model import smollm2-135m`)")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--serve", action="store_true", help="also time `transformers serve` + the openai backend")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seqit.teachers import HFSettings, TeacherConfig
    from seqit.teachers.backends.hf import HFBackend

    if args.threads:
        torch.set_num_threads(args.threads)
    msgs = prompts(args.n)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    cfg = TeacherConfig(backend="hf", model=args.model, max_concurrency=args.n,
                        hf=HFSettings(batch_size=args.batch_size, max_wait_ms=50))
    backend = HFBackend(cfg, model=model, tokenizer=AutoTokenizer.from_pretrained(args.model))

    via_teacher(cfg, msgs[:2], 4, backend=backend)  # warm-up (first-call allocations), not timed
    res: dict[str, dict] = {}
    plain_texts, n, s = plain_loop(model, tok, msgs, args.batch_size, args.max_new_tokens)
    res["plain_generate"] = {"tokens": n, "seconds": round(s, 2), "tokens_per_s": round(n / s, 2)}
    backend = HFBackend(cfg, model=model, tokenizer=AutoTokenizer.from_pretrained(args.model))
    texts, n, s, usage = via_teacher(cfg, msgs, args.max_new_tokens, backend=backend)
    res["seqit_hf"] = {"tokens": n, "seconds": round(s, 2), "tokens_per_s": round(n / s, 2),
                       "same_text_as_plain": sum(a == b for a, b in zip(texts, plain_texts, strict=True)),
                       "backend": usage.get("generation")}
    if args.serve:
        res["serve_openai"] = serve_run(args, msgs)
    seqit = res["seqit_hf"]["tokens_per_s"]
    print(f"{args.n} SeqEval-V prompts, greedy, max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    for name, r in res.items():
        print(f"  {name:15s} {r['tokens']:6d} tokens  {r['seconds']:8.2f} s  {r['tokens_per_s']:8.2f} tokens/s")
    print(f"  seqit / plain generate: {seqit / res['plain_generate']['tokens_per_s']:.2f}x "
          f"(same greedy text on {res['seqit_hf']['same_text_as_plain']}/{args.n} prompts)")
    if "serve_openai" in res:
        print(f"  seqit / transformers serve + openai backend: {seqit / res['serve_openai']['tokens_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


def serve_run(args, msgs) -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fakes.transformers_server import can_serve, serve_env, serve_model
    from seqit.teachers import TeacherConfig

    env = serve_env()
    if not can_serve(env):
        raise SystemExit("--serve needs fastapi and uvicorn (pip install 'seqit[serve]')")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "hf_generation_serve.log"
    with serve_model(Path(args.model), log, env) as url:
        cfg = TeacherConfig(backend="openai", model=str(Path(args.model)), base_url=url, api_key_env=None,
                            max_concurrency=args.batch_size, timeout_s=600)
        via_teacher(cfg, msgs[:1], 4)  # warm-up
        _, n, s, _ = via_teacher(cfg, msgs, args.max_new_tokens)
    return {"tokens": n, "seconds": round(s, 2), "tokens_per_s": round(n / s, 2)}


if __name__ == "__main__":
    main()
