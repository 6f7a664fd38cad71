"""Training mixes of IT and SIT records (pure, seeded).

- replace (the paper's setting): every seed appears once, as its SIT record when it has one, else as
  its IT record; the IT file is the controlled baseline of the same seeds.
- union: all IT records plus round(sit_ratio x len(IT)) SIT records drawn without replacement.

    >>> it = [{"id": "a:it", "meta": {"seed_id": "a"}}, {"id": "b:it", "meta": {"seed_id": "b"}}]
    >>> sit = [{"id": "a:sit:d1", "meta": {"seed_id": "a"}}]
    >>> [r["id"] for r in mix_records(it, sit, "replace", 1.0, seed=0, shuffle=False)]
    ['a:sit:d1', 'b:it']
"""

from __future__ import annotations

import random
from typing import Any

Row = dict[str, Any]


def mix_records(
    it: list[Row], sit: list[Row], mode: str, sit_ratio: float, seed: int, shuffle: bool = True
) -> list[Row]:
    """The mixed training rows, in seed order or shuffled with `random.Random(seed)`."""
    if mode == "replace":
        by_seed = {r["meta"]["seed_id"]: r for r in sit}
        rows = [by_seed.pop(r["meta"]["seed_id"], r) for r in it]
        rows += list(by_seed.values())  # SIT rows whose IT answer was rejected still count
    elif mode == "union":
        n = min(len(sit), round(sit_ratio * len(it)))
        rows = list(it) + random.Random(f"{seed}:union").sample(sit, n)
    else:
        raise ValueError(f"unknown mix mode {mode!r} (expected replace or union)")
    if shuffle:
        rows = list(rows)
        random.Random(f"{seed}:shuffle").shuffle(rows)
    return rows


def mix_summary(rows: list[Row]) -> dict[str, int]:
    """How many rows of each kind the mix holds."""
    out: dict[str, int] = {}
    for r in rows:
        kind = str(r["meta"].get("kind", "?"))
        out[kind] = out.get(kind, 0) + 1
    return out
