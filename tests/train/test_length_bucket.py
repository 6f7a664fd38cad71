"""batch.length_bucket: unpacked steps of similar lengths, every example once, deterministic."""

from __future__ import annotations

import random

from seqit.train.plan import plan_phase


def test_length_bucket_groups_similar_lengths_and_keeps_every_example_once():
    rng = random.Random(0)
    lengths = [rng.randint(5, 60) for _ in range(96)]
    kw = dict(seed=0, phase=0, epochs=1, shuffle=True, packing=False, row_len=64, window=1, rows_per_step=8)
    plain = plan_phase(lengths, **kw)
    bucketed = plan_phase(lengths, **kw, length_bucket=4)
    assert bucketed == plan_phase(lengths, **kw, length_bucket=4)  # resume rebuilds the same plan
    assert sorted(i for s in bucketed for b in s.bins for i in b) == list(range(96))
    assert len(bucketed) == len(plain) == 12 and all(len(s.bins) == 8 for s in bucketed)

    def padded(steps):  # positions a padded batch processes: rows x longest row, per step
        return sum(len(s.bins) * max(lengths[b[0]] for b in s.bins) for s in steps)

    assert padded(bucketed) < 0.8 * padded(plain)
    assert plan_phase(lengths, **{**kw, "packing": True}, length_bucket=4) == plan_phase(lengths, **{**kw, "packing": True})
