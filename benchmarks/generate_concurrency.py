"""Self-Seq throughput vs teacher concurrency, side by side in one run, on the loopback fake server.

    PYTHONPATH=src python benchmarks/generate_concurrency.py [--latency 0.05] [--seeds 50]

Every request takes `latency` seconds at the server; the chain per seed is sequential, so the speed-up
comes from running many seeds at once (the reference sent one request at a time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "generate"))

from teacher_scripts import good_reply  # noqa: E402

from fakes.openai_server import FakeOpenAIServer  # noqa: E402
from seqit.config import load_config  # noqa: E402
from seqit.generate.run import GenerateConfig, run_generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=50)
    args = ap.parse_args()
    server = FakeOpenAIServer(reply=lambda body: good_reply(body["messages"]), latency_s=args.latency).start()
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for conc in (1, 4, 16):
                cfg = load_config(
                    GenerateConfig,
                    ROOT / "configs/generate/alpaca-selfseq.yaml",
                    [f"data.path={ROOT / 'src/seqit/resources/sample_alpaca.jsonl'}", f"out_dir={tmp}/c{conc}",
                     f"teacher.base_url={server.url}", "teacher.model=fake-model", "teacher.api_key_env=null",
                     f"teacher.max_concurrency={conc}", f"limit={args.seeds}"],
                )  # fmt: skip
                t0 = time.perf_counter()
                run = run_generate(cfg, progress=False)
                dt = time.perf_counter() - t0
                m = json.loads((run / "manifest.json").read_text())
                results[conc] = (dt, m["usage"]["total"]["requests"])
    finally:
        server.stop()
    base = results[1][0]
    for conc, (dt, reqs) in results.items():
        print(
            f"max_concurrency={conc:>2}: {dt:6.2f} s for {reqs} requests ({reqs / dt:6.1f} req/s), speed-up x{base / dt:.1f}"
        )


if __name__ == "__main__":
    main()
