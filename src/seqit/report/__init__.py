"""`seqit report`: one self-contained HTML page for eval, train, split, generate, score and quickstart run dirs."""
