"""`seqit score` throughput against the loopback fake OpenAI server with a fixed latency per call,
at two concurrency limits, side by side in one run (also shows the rerun is free: all cached).

    PYTHONPATH=src python benchmarks/score_bench.py --n 300 --latency 0.2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.openai_server import FakeOpenAIServer  # noqa: E402
from seqit.config import load_config  # noqa: E402
from seqit.phases.score import ScoreConfig, run_score  # noqa: E402


def _reply(body: dict) -> str:
    return json.dumps({"rationale": "bench", "score": 1 + len(body["messages"][-1]["content"]) % 5})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, nargs=2, default=[4, 32])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import os

    os.environ["BENCH_KEY"] = "sk-bench"
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(reply=_reply, latency_s=args.latency) as server:
        data = Path(tmp) / "d.jsonl"
        data.write_text("".join(json.dumps({"instruction": f"Task {i}: do thing {i}.", "output": "x" * (i % 50 + 1)}) + "\n"
                                for i in range(args.n)))  # fmt: skip
        results = []
        for c in args.concurrency:
            out = Path(tmp) / f"run-{c}"
            cfg = load_config(ScoreConfig, None, [f"data={data}", f"out_dir={out}", "judge.model=bench",
                                                  f"judge.base_url={server.url}", "judge.api_key_env=BENCH_KEY",
                                                  f"judge.max_concurrency={c}"])  # fmt: skip
            t0 = time.perf_counter()
            run_score(cfg)
            first = time.perf_counter() - t0
            (out / "scored.jsonl").unlink()  # force every item again: all served from the ledger
            t0 = time.perf_counter()
            run_score(cfg)
            rerun = time.perf_counter() - t0
            usage = json.loads((out / "manifest.json").read_text())["usage"]["this_attempt"]["judge"]
            results.append((c, first, rerun, usage["cached"]))
        print(f"{args.n} records, {args.latency:.2f}s per judge call (fake server)")
        for c, first, rerun, cached in results:
            print(f"  max_concurrency={c:3d}: {first:6.2f}s  {args.n / first:7.1f} records/s  "
                  f"(ideal {c / args.latency:.0f}/s);  rerun from ledger {rerun:.2f}s, {cached} cached")
        print(f"  speed-up {results[0][1] / results[1][1]:.1f}x for {args.concurrency[1] / args.concurrency[0]:.0f}x concurrency")


if __name__ == "__main__":
    main()
