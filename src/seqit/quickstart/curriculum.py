"""The phased arm's data from a `seqit split` (strategy depth) run: each phase after the first gives a
share of its slots to records replayed from earlier phases (so single steps are not forgotten), and
the control is the same records in one random order. Every file has as many records as the split
had, so the phased, control and plain SIT arms train the same number of examples.

    python -m seqit.quickstart.curriculum runs/quickstart/split runs/quickstart/curriculum --replay 0.25

Writes phase-1.jsonl ... phase-K.jsonl, control.jsonl and manifest.json (sizes, replayed counts).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

from seqit.errors import DataError
from seqit.jsonl import read_jsonl, write_jsonl
from seqit.runs import start_run

Row = dict[str, Any]


def with_replay(phases: list[list[Row]], share: float, seed: int) -> list[list[Row]]:
    """Phase k >= 2 keeps its first round((1-share) * n_k) records and fills the rest with records
    drawn (seeded, without replacement where possible) from phases 1..k-1 as the split made them.

    >>> [len(p) for p in with_replay([[{"id": 1}] * 4, [{"id": 2}] * 4], 0.25, 0)]
    [4, 4]
    """
    if not 0 <= share < 1:
        raise ValueError(f"replay share must be in [0, 1), got {share}")
    rng = random.Random(f"{seed}:replay")
    out = [list(phases[0])] if phases else []
    for k in range(1, len(phases)):
        own = phases[k]
        n_replay = round(share * len(own))
        earlier = [r for p in phases[:k] for r in p]
        picked = rng.sample(earlier, n_replay) if n_replay <= len(earlier) else rng.choices(earlier, k=n_replay)
        phase = own[: len(own) - n_replay] + [
            {**r, "id": f"{r.get('id')}:replay{k + 1}", "meta": {**r.get("meta", {}), "replayed": True}} for r in picked]
        rng.shuffle(phase)
        out.append(phase)
    return out


def control_order(phases: list[list[Row]], seed: int) -> list[Row]:
    """The phased arm's records in one random order (the curriculum control)."""
    rows = [r for p in phases for r in p]
    random.Random(f"{seed}:control").shuffle(rows)
    return rows


def run_curriculum(split_dir: str | Path, out_dir: str | Path, share: float = 0.25, seed: int = 0) -> Path:
    split_dir, out = Path(split_dir), Path(out_dir)
    files = sorted(split_dir.glob("phase-*.jsonl"), key=lambda p: int(p.stem.split("-")[-1]))
    if not files:
        raise DataError(f"{split_dir}: no phase-*.jsonl (run `seqit split` with strategy depth first)")
    run = start_run(out, {"split_dir": str(split_dir), "replay": share, "seed": seed}, "quickstart.curriculum",
                    inputs={f"phase{k + 1}": f for k, f in enumerate(files)})
    phases = with_replay([list(read_jsonl(f)) for f in files], share, seed)
    for k, rows in enumerate(phases, 1):
        write_jsonl(out / f"phase-{k}.jsonl", rows)
    write_jsonl(out / "control.jsonl", control_order(phases, seed))
    sizes = [len(p) for p in phases]
    replayed = [sum(1 for r in p if r.get("meta", {}).get("replayed")) for p in phases]
    run.finish(counts={"records": sum(sizes), "replayed": sum(replayed)}, phase_sizes=sizes, replayed_per_phase=replayed)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seqit.quickstart.curriculum", description=__doc__.splitlines()[0])
    ap.add_argument("split_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--replay", type=float, default=0.25, help="share of each later phase replayed from earlier ones")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(run_curriculum(a.split_dir, a.out_dir, a.replay, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
