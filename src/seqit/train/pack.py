"""Contamination-free packing: examples -> fixed-length rows with restarting positions.

    bins = pack_bins([len(x) for x in examples], row_len=2048, window=8)
    rows = [build_row([examples[i] for i in b], pad_id) for b in bins]

Each row concatenates whole examples (never split) and ends with padding. `position_ids` restart
at 0 for every example *and* for the padding tail, so transformers (>= 4.5x, incl. 5.x) sees the
restarts and builds a block-diagonal causal mask when no attention_mask is passed (sdpa/eager), or
uses varlen kernels with flash-attention: attention never crosses examples. Targets are shifted
per example before concatenation, so an example's last token never predicts the next example.

Order: `window=1` keeps the exact input order; `window=k` is a first-fit over the k most recently
opened rows, so an example can only move into a row opened at most k-1 rows earlier (order is kept
up to that bound) while padding drops from ~half an example per row to ~1%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IGNORE = -100


@dataclass
class Row:
    """One packed row (python lists; collated into tensors by the training loop)."""

    input_ids: list[int]
    position_ids: list[int]
    targets: list[int]  # next-token targets, IGNORE where no loss
    n_real: int  # non-pad tokens
    n_examples: int

    @property
    def n_trained(self) -> int:
        return sum(t != IGNORE for t in self.targets)


def pack_bins(lengths: list[int], row_len: int, window: int = 8) -> list[list[int]]:
    """Group example indices into rows of at most `row_len` tokens, nearly in order (see module doc)."""
    if window < 1:
        raise ValueError("window must be >= 1")
    closed: list[list[int]] = []
    open_rows: list[list[int]] = []  # oldest first
    room: list[int] = []
    for i, n in enumerate(lengths):
        if n > row_len:
            raise ValueError(f"example {i} has {n} tokens > row_len {row_len} (truncate first)")
        for k in range(len(open_rows)):
            if room[k] >= n:
                open_rows[k].append(i)
                room[k] -= n
                break
        else:
            open_rows.append([i])
            room.append(row_len - n)
            if len(open_rows) > window:
                closed.append(open_rows.pop(0))
                room.pop(0)
    return closed + open_rows


def single_bins(n: int) -> list[list[int]]:
    """No packing: one example per row."""
    return [[i] for i in range(n)]


def build_row(examples: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, length: int | None = None) -> Row:
    """Concatenate (input_ids, targets) examples and pad to `length` (default: no padding)."""
    ids: list[int] = []
    pos: list[int] = []
    tgt: list[int] = []
    for x, t in examples:
        ids.extend(x)
        tgt.extend(t)
        pos.extend(range(len(x)))
    n_real = len(ids)
    pad = 0 if length is None else length - n_real
    if pad < 0:
        raise ValueError(f"row has {n_real} tokens > length {length}")
    ids.extend([pad_id] * pad)
    tgt.extend([IGNORE] * pad)
    pos.extend(range(pad))
    return Row(ids, pos, tgt, n_real, len(examples))
