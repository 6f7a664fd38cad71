"""SeqEval pipeline throughput against a slow judge: concurrency, re-asks and resume, side by side.

    PYTHONPATH=src python benchmarks/eval_throughput.py [--items 200] [--latency 0.2]

The judge is the loopback fake OpenAI server (tests/fakes/openai_server.py) answering after
`--latency` seconds; 10% of first replies are unreadable (re-asked once). The evaluated "model" is
the fake echo backend, so the numbers isolate seqit's own scheduling: items/s at concurrency 1 vs
32 (same work), and the cost of a rerun (everything resumed: zero judge calls).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.openai_server import FakeOpenAIServer  # noqa: E402
from seqit.config import load_config  # noqa: E402
from seqit.eval.run import EvalConfig, run_eval  # noqa: E402
from seqit.eval.verdict import SEQEVAL_REASK  # noqa: E402


def judge(body: dict) -> str:
    msgs = body["messages"]
    if msgs[-1]["content"] != SEQEVAL_REASK and zlib.crc32(msgs[1]["content"].encode()) % 10 == 0:
        return "unsure"
    return "[[Yes, 4]]" if len(msgs[1]["content"]) % 2 else "[[No, 3]]"


def one_run(tmp: Path, bench: Path, server: FakeOpenAIServer, concurrency: int, name: str) -> tuple[float, int]:
    cfg = load_config(EvalConfig, None, [
        "task=seqeval", f"out_dir={tmp / name}", f"data={bench}", "model.backend=fake", "model.model=echo",
        "judge.backend=openai", "judge.model=judge", f"judge.base_url={server.url}", "judge.api_key_env=null",
        f"judge.max_concurrency={concurrency}", "bootstrap_samples=1000",
    ])
    before = sum(server.attempts.values())
    t0 = time.perf_counter()
    run_eval(cfg)
    return time.perf_counter() - t0, sum(server.attempts.values()) - before


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, FakeOpenAIServer(reply=judge, latency_s=args.latency) as server:
        tmp = Path(d)
        bench = tmp / "bench.json"
        bench.write_text(json.dumps([{"instruction": f"Step A {i}, then step B {i}.", "iteration": 1 + i % 4}
                                     for i in range(args.items)]))
        serial_items = max(10, args.items // 10)  # concurrency 1 on a slice, scaled (it is slow by design)
        small = tmp / "small.json"
        small.write_text(json.dumps(json.loads(bench.read_text())[:serial_items]))
        t1, calls1 = one_run(tmp, small, server, 1, "c1")
        t32, calls32 = one_run(tmp, bench, server, 32, "c32")
        t_resume, calls_resume = one_run(tmp, bench, server, 32, "c32")
    per_item_1 = t1 / serial_items
    per_item_32 = t32 / args.items
    print(f"judge latency {args.latency:.2f}s, {args.items} items")
    print(f"concurrency  1: {serial_items} items in {t1:.2f}s ({calls1} judge calls) -> {serial_items / t1:.1f} items/s")
    print(f"concurrency 32: {args.items} items in {t32:.2f}s ({calls32} judge calls) -> {args.items / t32:.1f} items/s")
    print(f"speed-up per item (c32 vs c1): {per_item_1 / per_item_32:.1f}x")
    print(f"rerun (resume): {t_resume:.2f}s, {calls_resume} judge calls")


if __name__ == "__main__":
    main()
