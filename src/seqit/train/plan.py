"""Pure step planning: which rows each optimizer step trains on, and the learning rate at every step.

The whole plan is a deterministic function of (data, seed, config), identical on every process,
so resuming = rebuilding the plan and starting at the saved (phase, step); no data-loader replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqit.train.data import epoch_order
from seqit.train.pack import pack_bins, single_bins


@dataclass(frozen=True)
class Step:
    epoch: int
    bins: list[list[int]]  # rows of this global step; each row = example indices


def plan_phase(
    lengths: list[int],
    *,
    seed: int,
    phase: int,
    epochs: int,
    shuffle: bool,
    packing: bool,
    row_len: int,
    window: int,
    rows_per_step: int,
    length_bucket: int = 0,
) -> list[Step]:
    """Order examples per epoch, pack them into rows, and cut the rows into optimizer steps.

    length_bucket=k > 1 (unpacked rows only): each run of k steps' examples is sorted by length
    before it is cut into steps, and those k steps are shuffled (seeded): rows of a step have
    similar lengths, so padded batches waste little compute (order is kept only up to k steps)."""
    steps: list[Step] = []
    for epoch in range(epochs):
        order = epoch_order(len(lengths), seed, phase, epoch, shuffle)
        if packing:
            bins = pack_bins([lengths[i] for i in order], row_len, window)
        else:
            bins = single_bins(len(order))
        rows = [[order[j] for j in b] for b in bins]
        if length_bucket > 1 and not packing:
            rows = _bucket_by_length(rows, lengths, rows_per_step, length_bucket, f"{seed}:{phase}:{epoch}:bucket")
        for s in range(0, len(rows), rows_per_step):
            steps.append(Step(epoch, rows[s : s + rows_per_step]))
    return steps


def cut_to_max_steps(plans: list[list[Step]], max_steps: int | None) -> list[list[Step]]:
    """The phase plans as they will run: the first `max_steps` optimizer steps in total (phases past the cut get
    no steps). The schedule, the progress total and meta.json are all sized from this, not the uncut plan.

    >>> [len(p) for p in cut_to_max_steps([[Step(0, [])] * 3, [Step(0, [])] * 4, [Step(0, [])] * 2], 5)]
    [3, 2, 0]
    """
    if max_steps is None:
        return plans
    out, left = [], max_steps
    for plan in plans:
        out.append(plan[:left])
        left -= len(out[-1])
    return out


def _bucket_by_length(rows: list[list[int]], lengths: list[int], per_step: int, k: int, seed: str) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    out: list[list[int]] = []
    for w in range(0, len(rows), per_step * k):
        window = sorted(rows[w : w + per_step * k], key=lambda r: lengths[r[0]])
        chunks = [window[j : j + per_step] for j in range(0, len(window), per_step)]
        rng.shuffle(chunks)
        out.extend(r for c in chunks for r in c)
    return out


def rank_micro_batches(step: Step, rank: int, world: int, grad_accum: int, micro_rows: int) -> list[list[list[int]]]:
    """This process's micro-batches of a step: rows rank::world, grouped; short steps get empty rows."""
    mine = step.bins[rank::world]
    out = []
    for m in range(grad_accum):
        out.append(mine[m * micro_rows : (m + 1) * micro_rows])
    return out


@dataclass(frozen=True)
class Group:
    """Consecutive phases that share one lr schedule (the later ones have schedule: carry)."""

    start: int  # global step where the schedule starts
    total: int  # steps in the schedule
    peak: float


def schedule_groups(phase_steps: list[int], phase_lrs: list[float], carry: list[bool]) -> list[Group]:
    """One schedule per 'reset' phase, extended over following 'carry' phases."""
    groups: list[Group] = []
    start = 0
    for n, lr, c in zip(phase_steps, phase_lrs, carry, strict=True):
        if c and groups:
            g = groups[-1]
            groups[-1] = Group(g.start, g.total + n, g.peak)
        else:
            groups.append(Group(start, n, lr))
        start += n
    return groups


def lr_at(step: int, groups: list[Group], kind: str, warmup_ratio: float) -> float:
    """Learning rate for global step `step` (0-based, before its update), HF schedule conventions."""
    g = next(g for g in reversed(groups) if g.start <= step)
    t, total = step - g.start, max(1, g.total)
    warm = math.ceil(warmup_ratio * total)
    if t < warm:
        return g.peak * t / warm
    if kind == "constant":
        return g.peak
    frac = (t - warm) / max(1, total - warm)
    if kind == "linear":
        return g.peak * max(0.0, 1.0 - frac)
    return g.peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))
