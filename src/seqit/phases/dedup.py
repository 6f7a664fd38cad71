"""Exact and near-duplicate detection for instruction data (pure; numpy only).

Exact: the same text after normalisation (NFKC, lower-case, punctuation and whitespace collapsed).
Near: Jaccard similarity of word 3-gram sets >= threshold (default 0.8). Candidates come from
MinHash signatures with LSH banding; the band size is chosen from the threshold so that a pair *at*
the threshold becomes a candidate with probability >= 0.999 (64 permutations, threshold 0.8: 16
bands of 4 rows, 1 - (1 - 0.8**4)**16 = 0.9998). Every candidate is then verified with the exact
Jaccard, so a reported near-duplicate is never a hashing false positive.
The first occurrence is kept; later ones point at it. Deterministic (crc32, fixed permutation seed).

A text may be a tuple of fields, e.g. (instruction, input): then a duplicate must match in EVERY field
(exactly, or each field's Jaccard >= threshold), so different tasks on one long shared passage
("summarise ...", "state the main arguments of ..." on the same text) are all kept. Candidates still come
from the fields' shingles together (tagged per field), then each field is verified on its own.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.U)
_PRIME = (1 << 31) - 1  # hashes and coefficients < 2**31, so a*h+b fits in uint64


def normalize_text(text: str) -> str:
    """Case-, whitespace- and punctuation-insensitive form used for exact dedup.

    >>> normalize_text("  Give THREE tips,\\n for   staying healthy! ")
    'give three tips for staying healthy'
    """
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def shingles(normalized: str, k: int = 3) -> set[str]:
    """Word k-grams of a normalised text; a text shorter than k words is one shingle.

    >>> sorted(shingles("a b c d", 3))
    ['a b c', 'b c d']
    """
    words = normalized.split()
    if not words:
        return set()
    if len(words) <= k:
        return {" ".join(words)}
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Duplicate:
    index: int  # position of the dropped text
    of: int  # position of the kept text it duplicates
    kind: str  # "exact" | "near"
    similarity: float  # 1.0 for exact


Text = str | tuple[str, ...]


def find_duplicates(
    texts: list[Text],
    *,
    exact: bool = True,
    near: bool = True,
    threshold: float = 0.8,
    shingle_words: int = 3,
    num_perm: int = 64,
) -> list[Duplicate]:
    """Every text that duplicates an earlier kept text, in input order (tuples: every field must match)."""
    norm = [tuple(normalize_text(f) for f in _fields(t)) for t in texts]
    dups: list[Duplicate] = []
    first_seen: dict[tuple[str, ...], int] = {}
    index = _LshIndex(num_perm, lsh_rows(threshold, num_perm)) if near else None
    kept_shingles: dict[int, list[set[str]]] = {}
    for i, n in enumerate(norm):
        if exact:
            if n in first_seen:
                dups.append(Duplicate(i, first_seen[n], "exact", 1.0))
                continue
            first_seen[n] = i
        if index is None:
            continue
        per_field = [shingles(f, shingle_words) for f in n]
        tagged = {f"{k}\x1f{s}" if k else s for k, sh in enumerate(per_field) for s in sh}
        if not tagged:
            continue
        keys = index.band_keys(tagged)
        best = _best_match(per_field, index.candidates(keys), kept_shingles, threshold)
        if best is not None:
            dups.append(Duplicate(i, best[0], "near", round(best[1], 4)))
            continue
        index.add(i, keys)
        kept_shingles[i] = per_field
    return dups


def _fields(text: Text) -> tuple[str, ...]:
    return text if isinstance(text, tuple) else (text,)


def lsh_rows(threshold: float, num_perm: int, recall: float = 0.999) -> int:
    """The largest band size (rows per band, dividing num_perm) that still finds a pair at the threshold
    with probability >= recall; larger bands mean fewer false candidates to verify.

    >>> lsh_rows(0.8, 64), lsh_rows(0.5, 64)
    (4, 2)
    """
    best = 1
    for r in range(1, num_perm + 1):
        if num_perm % r == 0 and 1 - (1 - threshold**r) ** (num_perm // r) >= recall:
            best = r
    return best


def _best_match(
    fields: list[set[str]], candidates: list[int], kept: dict[int, list[set[str]]], threshold: float
) -> tuple[int, float] | None:
    """The earliest candidate whose exact Jaccard reaches the threshold in every field (the lowest is returned)."""
    for c in sorted(candidates):
        sim = min(jaccard(a, b) for a, b in zip(fields, kept[c], strict=True))
        if sim >= threshold:
            return c, sim
    return None


class _LshIndex:
    """MinHash signatures + band buckets over kept texts."""

    def __init__(self, num_perm: int, rows: int):
        import numpy as np

        self._np = np
        rng = np.random.default_rng(20240604)  # fixed: signatures must not vary between runs
        self.a = rng.integers(1, _PRIME, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, _PRIME, size=num_perm, dtype=np.uint64)
        self.mix = rng.integers(1, 1 << 63, size=rows, dtype=np.uint64) | np.uint64(1)
        self.rows = rows
        self.bands = num_perm // rows
        self.buckets: dict[tuple[int, int], list[int]] = {}

    def band_keys(self, sh: set[str]) -> list[tuple[int, int]]:
        """One bucket key per band: (band, a 64-bit mix of the band's MinHash rows)."""
        np = self._np
        h = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in sh), dtype=np.uint64, count=len(sh)) % _PRIME
        sig = ((self.a[:, None] * h[None, :] + self.b[:, None]) % _PRIME).min(axis=1)
        mixed = (sig.reshape(self.bands, self.rows) * self.mix).sum(axis=1)  # wraps mod 2**64; fine for bucketing
        return list(enumerate(mixed.tolist()))

    def candidates(self, keys: list[tuple[int, int]]) -> list[int]:
        found: set[int] = set()
        for key in keys:
            found.update(self.buckets.get(key, ()))
        return list(found)

    def add(self, i: int, keys: list[tuple[int, int]]) -> None:
        for key in keys:
            self.buckets.setdefault(key, []).append(i)
