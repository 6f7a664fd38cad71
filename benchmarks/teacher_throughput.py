"""Teacher throughput: seqit vs a sequential client vs a batch-barrier client, side by side.

A loopback OpenAI-compatible server (tests/fakes/openai_server.py, in its own process) answers each
request after a fixed latency L and serves at most C requests at once (one more gets a 429). The
ideal time for N requests is ceil(N/C) * L. Each client's achieved req/s is divided by the ideal
req/s. All three clients use the same official `openai` AsyncOpenAI transport.

- seqit: `run_complete` (the `seqit complete` path: ledger, limits, retries, JSONL) with max_concurrency=C
- sequential: one request at a time (the SIT reference implementation's pattern); measured on a
  subset (--seq-n) because at L=0.5 s a full run would take N*L seconds
- batch barrier: asyncio.gather over each batch of C requests (distilabel's pattern)

    python benchmarks/teacher_throughput.py                     # L=0.5 s, C=32, N=2000
    python benchmarks/teacher_throughput.py --n 256 --seq-n 16  # quick
    python benchmarks/teacher_throughput.py --slow-frac 0.1 --slow-mult 4   # variable latency

With --slow-frac f the ideal is the perfectly packed time: N*L*(1 + f*(mult-1)) / C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def start_server(latency: float, capacity: int, slow_frac: float, slow_mult: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakes" / "openai_server.py"), "--latency", str(latency),
         "--capacity", str(capacity), "--slow-frac", str(slow_frac), "--slow-mult", str(slow_mult)],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "PORT":
        proc.kill()
        raise RuntimeError("fake server did not start")
    return proc, f"http://127.0.0.1:{line[1]}/v1"


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_stats?reset=1", timeout=10) as r:
        return json.loads(r.read())


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"benchmark request {i} {time.time_ns()}"}]


async def _one(client, i: int) -> bool:
    import openai

    try:
        await client.chat.completions.create(model="m", messages=messages(i), max_tokens=16)
        return True
    except openai.APIError:
        return False


async def sequential(url: str, n: int) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=60)
    ok = 0
    for i in range(n):
        ok += await _one(client, i)
    await client.close()
    return ok


async def batch_barrier(url: str, n: int, c: int) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=60)
    ok = 0
    for start in range(0, n, c):
        ok += sum(await asyncio.gather(*(_one(client, i) for i in range(start, min(n, start + c)))))
    await client.close()
    return ok


def write_requests(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"b{i}", "messages": messages(i), "max_tokens": 16}) + "\n")
    return path


def seqit_complete(url: str, req: Path, c: int, workdir: Path) -> int:
    from seqit.teachers import TeacherConfig
    from seqit.teachers.complete import CompleteConfig, run_complete

    cfg = CompleteConfig(TeacherConfig(model="m", base_url=url, max_concurrency=c, timeout_s=60))
    res = run_complete(req, workdir / "out.jsonl", cfg)
    return res.counts["completed"]


def measure(name: str, n: int, fn, url: str, ideal_s: float) -> dict:
    server_stats(url)  # reset counters
    t0 = time.perf_counter()
    ok = fn()
    wall = time.perf_counter() - t0
    stats = server_stats(url)
    ideal_rps = n / ideal_s
    rps = n / wall
    return {"client": name, "n": n, "ok": ok, "wall_s": round(wall, 2), "req_per_s": round(rps, 2),
            "ideal_req_per_s": round(ideal_rps, 2), "ratio": round(rps / ideal_rps, 3),
            "server_429": stats["kinds"].get("429_capacity", 0), "max_in_flight": stats["max_in_flight"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="requests for seqit and the batch-barrier client")
    ap.add_argument("--seq-n", type=int, default=40, help="requests for the sequential client (subset)")
    ap.add_argument("--latency", type=float, default=0.5, help="L: seconds per request")
    ap.add_argument("--capacity", type=int, default=32, help="C: concurrent requests the server accepts")
    ap.add_argument("--slow-frac", type=float, default=0.0, help="share of requests that take --slow-mult x L")
    ap.add_argument("--slow-mult", type=float, default=1.0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--seqit-only", action="store_true", help="measure only seqit (skip the reference clients)")
    args = ap.parse_args()
    L, C = args.latency, args.capacity
    mean_l = L * (1 + args.slow_frac * (args.slow_mult - 1))

    def ideal(n: int) -> float:
        return math.ceil(n / C) * L if args.slow_frac == 0 else n * mean_l / C

    # import cost is not throughput: load every client's modules before timing anything
    import openai  # noqa: F401

    import seqit.teachers.backends.openai  # noqa: F401
    import seqit.teachers.complete  # noqa: F401

    proc, url = start_server(L, C, args.slow_frac, args.slow_mult)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            req = write_requests(Path(tmp) / "requests.jsonl", args.n)
            results.append(measure("seqit (run_complete)", args.n, lambda: seqit_complete(url, req, C, Path(tmp)), url,
                                   ideal(args.n)))
        if not args.seqit_only:
            results.append(measure("batch barrier (gather per C)", args.n,
                                   lambda: asyncio.run(batch_barrier(url, args.n, C)), url, ideal(args.n)))
            # the sequential client's ideal is the same server's ideal for its N (C/L req/s)
            results.append(measure("sequential (1 at a time)", args.seq_n,
                                   lambda: asyncio.run(sequential(url, args.seq_n)), url, args.seq_n * mean_l / C))
    finally:
        proc.terminate()
        proc.wait()
    print(f"teacher throughput: L={L}s C={C} slow_frac={args.slow_frac} slow_mult={args.slow_mult} "
          f"cpus={os.cpu_count()}")
    cols = ["client", "n", "ok", "wall_s", "req_per_s", "ideal_req_per_s", "ratio", "server_429", "max_in_flight"]
    widths = [max(len(c), *(len(str(r[c])) for r in results)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in results:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
