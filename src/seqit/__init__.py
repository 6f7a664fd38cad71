"""seqit: Sequential Instruction Tuning toolkit (generate, score, split, train, eval, report)."""

__version__ = "0.1.0"
