"""Exact and near-duplicate detection."""

from __future__ import annotations

import random

import pytest

from seqit.phases.dedup import find_duplicates, jaccard, normalize_text, shingles


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Give three tips for staying healthy.", "give three tips for staying healthy"),
        ("Give  three\ttips, for staying healthy!", "Give three tips for staying healthy"),
        ("Ｆｕｌｌｗｉｄｔｈ text", "fullwidth text"),
    ],
)
def test_normalize_text_ignores_case_whitespace_punctuation_and_width(a, b):
    assert normalize_text(a) == normalize_text(b)


def test_exact_duplicates_point_at_the_first_occurrence():
    texts = ["Name a colour.", "Add 2 and 3.", "name a colour", "Name a COLOUR!"]
    dups = find_duplicates(texts, near=False)
    assert [(d.index, d.of, d.kind) for d in dups] == [(2, 0, "exact"), (3, 0, "exact")]


def test_near_duplicates_are_found_and_verified_by_jaccard():
    base = "Write a short story about a robot who learns to paint landscapes in the mountains during winter"
    near = base.replace("winter", "the winter season")  # small edit
    other = "Explain how photosynthesis converts light energy into chemical energy in plant cells"
    dups = find_duplicates([base, other, near], exact=True, near=True, threshold=0.7)
    assert len(dups) == 1
    d = dups[0]
    assert (d.index, d.of, d.kind) == (2, 0, "near")
    assert d.similarity == pytest.approx(jaccard(shingles(normalize_text(near)), shingles(normalize_text(base))), abs=1e-4)
    assert d.similarity >= 0.7


def test_texts_below_the_threshold_are_kept():
    a = "List five fruits that are red and sweet and grow on trees in warm places"
    b = "List five vegetables that are green and bitter and grow underground in cold places"
    assert find_duplicates([a, b], threshold=0.8) == []


def test_near_dedup_can_be_switched_off():
    a = "Write a short story about a robot who learns to paint landscapes in the mountains"
    b = a + " today"
    assert find_duplicates([a, b], near=False) == []
    assert len(find_duplicates([a, b], near=True, threshold=0.8)) == 1


def test_find_duplicates_is_deterministic_and_scales_to_thousands():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    texts = [" ".join(rng.choices(words, k=30)) for _ in range(3000)]
    texts += [t + " extra" for t in texts[:50]]  # 50 planted near-duplicates
    first = find_duplicates(texts, threshold=0.8)
    assert first == find_duplicates(texts, threshold=0.8)
    assert {(d.index, d.of) for d in first} == {(3000 + i, i) for i in range(50)}


@pytest.mark.parametrize(("threshold", "rows"), [(0.8, 4), (0.5, 2), (0.9, 4), (1.0, 64)])
def test_lsh_band_size_keeps_recall_at_the_threshold(threshold, rows):
    from seqit.phases.dedup import lsh_rows

    assert lsh_rows(threshold, 64) == rows
    assert 1 - (1 - threshold**rows) ** (64 // rows) >= 0.999


def test_low_thresholds_still_find_moderately_similar_pairs():
    a = "Name three primary colours for a painting class."
    b = "Name the three primary colours for a painting class."  # Jaccard 0.625
    assert [(d.index, d.of) for d in find_duplicates([a, b], exact=False, threshold=0.6)] == [(1, 0)]


_WORDS = "river town mill market bridge harvest grain weaver lantern orchard quarry ferry chapel tavern meadow".split()
PASSAGE = " ".join(f"{random.Random(i).choice(_WORDS)}{i}" for i in range(120))  # one long passage, 118 3-grams


def test_fields_must_all_match_different_tasks_on_one_passage_are_kept():
    texts = [
        ("Summarise the passage in two sentences.", PASSAGE),
        ("State the main arguments of the passage.", PASSAGE),
        ("Summarise the passage in two sentences!", PASSAGE),  # same task, same passage: a duplicate
    ]
    dups = find_duplicates(texts, threshold=0.8)
    assert [(d.index, d.of, d.kind) for d in dups] == [(2, 0, "exact")]
    # as one joined prompt, the long shared passage made all three "near duplicates"
    joined = find_duplicates([f"{a}\n\n{b}" for a, b in texts], threshold=0.8)
    assert {d.index for d in joined} == {1, 2}


def test_near_duplicate_fields_verified_per_field():
    a = ("Give three tips for staying healthy in winter months.", PASSAGE)
    b = ("Give three tips for staying healthy in the winter months.", PASSAGE + " One more line.")
    dups = find_duplicates([a, b], threshold=0.5)  # instructions: Jaccard 5/10
    assert [(d.index, d.of, d.kind) for d in dups] == [(1, 0, "near")] and dups[0].similarity == 0.5
    assert find_duplicates([a, ("Write a poem about the sea and its moods.", PASSAGE)], threshold=0.5) == []
