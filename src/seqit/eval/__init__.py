"""Evaluation: SeqEval (LLM judge), pairwise win rates, lm-eval tasks. Run with `seqit eval CONFIG`."""

from seqit.eval.verdict import parse_verdict
from seqit.eval.winrate import win_rate

__all__ = ["parse_verdict", "win_rate"]
