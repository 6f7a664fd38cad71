"""Dedup throughput and recall on synthetic instruction prompts, measured side by side in one run.

    PYTHONPATH=src python benchmarks/dedup_bench.py --n 50000

Plants `--planted` near-duplicates (one word changed or appended) and exact duplicates (case and
punctuation changed), then reports seconds for exact-only vs exact+near, their ratio, and the
recall of the planted pairs.
"""

from __future__ import annotations

import argparse
import random
import time

from seqit.phases.dedup import find_duplicates, jaccard, normalize_text, shingles


def corpus(n: int, planted: int, seed: int = 0) -> tuple[list[str], set[int], set[int]]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(12, 60))) for _ in range(n)]
    near, exact = set(), set()
    for j in range(planted):
        src = texts[rng.randrange(n)]
        if j % 2:
            texts.append(src.upper() + "!")
            exact.add(len(texts) - 1)
        else:
            words = src.split()
            words[rng.randrange(len(words))] = "changed"
            t = " ".join(words)
            if jaccard(shingles(normalize_text(t)), shingles(normalize_text(src))) >= 0.8:
                near.add(len(texts) - 1)
            texts.append(t)
    return texts, near, exact


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--planted", type=int, default=1000)
    args = ap.parse_args()
    texts, near, exact = corpus(args.n, args.planted)
    t0 = time.perf_counter()
    ex = find_duplicates(texts, near=False)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    both = find_duplicates(texts, threshold=0.8)
    t_both = time.perf_counter() - t0
    found = {d.index for d in both}
    print(f"texts: {len(texts)}  planted exact: {len(exact)}  planted near (Jaccard >= 0.8): {len(near)}")
    print(f"exact only:   {t_exact:.2f}s  found {len(ex)}")
    print(f"exact + near: {t_both:.2f}s  found {len(both)}  ({t_both / t_exact:.1f}x the exact-only time)")
    print(f"recall: exact {len(found & exact) / len(exact):.3f}  near {len(found & near) / max(1, len(near)):.3f}")
    print(f"throughput exact+near: {len(texts) / t_both:,.0f} texts/s")


if __name__ == "__main__":
    main()
