"""Self-Seq throughput vs teacher concurrency, side by side in one run, on the loopback fake server.

    PYTHONPATH=src python benchmarks/generate_concurrency.py [--latency 0.05] [--seeds 50]

Every request takes `latency` seconds at the server; the chain per seed is sequential, so the speed-up
comes from running many seeds at once (the reference sent one request at a time).

Ideal time at concurrency C: ceil(seeds / C) * stages * L, where stages = the calls per seed (all of a
seed's calls are sequential: IT answer, classify, rewrite, validate, respond, classify again = 6 with
the scripted teacher). Printed as `ratio` = ideal / measured (>= 0.9 is the target).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from seqit.config import load_config  # noqa: E402
from seqit.generate.run import GenerateConfig, run_generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = ap.parse_args()
    # the server runs in its own process (like a real one): in-process, its CPU would share our GIL
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/fakes/openai_server.py"), "--reply", "selfseq",
                             "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    url = f"http://127.0.0.1:{line[1]}/v1"
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            import seqit.teachers.backends.openai  # noqa: F401  (import cost is not throughput)

            for conc in args.concurrency:
                cfg = load_config(
                    GenerateConfig,
                    ROOT / "configs/generate/alpaca-selfseq.yaml",
                    [f"data.path={ROOT / 'src/seqit/resources/sample_alpaca.jsonl'}", f"out_dir={tmp}/c{conc}",
                     f"teacher.base_url={url}", "teacher.model=fake-model", "teacher.api_key_env=null",
                     f"teacher.max_concurrency={conc}", f"limit={args.seeds}"],
                )  # fmt: skip
                t0 = time.perf_counter()
                run = run_generate(cfg, progress=False)
                dt = time.perf_counter() - t0
                m = json.loads((run / "manifest.json").read_text())
                results[conc] = (dt, m["usage"]["total"]["requests"], m["counts"]["seeds"])
    finally:
        proc.terminate()
        proc.wait()
    base = results[args.concurrency[0]][0]
    for conc, (dt, reqs, seeds) in results.items():
        stages = reqs / seeds  # sequential calls per seed
        ideal = math.ceil(seeds / conc) * stages * args.latency
        print(
            f"max_concurrency={conc:>2}: {dt:6.2f} s for {reqs} requests ({reqs / dt:6.1f} req/s), speed-up x{base / dt:.1f}, "
            f"ideal {ideal:.2f} s (ceil({seeds}/{conc}) x {stages:g} stages x {args.latency:g} s), ratio {ideal / dt:.3f}"
        )


if __name__ == "__main__":
    main()
