"""Verifiable chains: a step library, a seeded chain generator, exact scoring, and SeqEval-V."""
