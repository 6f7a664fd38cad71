"""Manifest statistics: option distribution per round, reason grouping, depth histogram, lengths."""

from __future__ import annotations

from seqit.generate.stats import mean_lengths, summarize


def test_summarize_counts_options_per_round_and_groups_reasons():
    done = [
        {"seed_id": "a", "sit": True, "depth": 2, "options": ["B", "A"], "stages": {"classify.ok": 2}},
        {"seed_id": "b", "sit": True, "depth": 0, "options": ["D"], "stages": {"classify.ok": 1}},
        {"seed_id": "c", "sit": False, "depth": None, "options": [None], "stages": {"classify.rejected": 1}},
        {"seed_id": "d", "sit": True, "depth": 1, "options": ["B", "D"], "stages": {"classify.ok": 2}},
    ]
    rejects = [
        {"stage": "validate", "reason": "drops key content of the original: 3, 4"},
        {"stage": "validate", "reason": "drops key content of the original: trout"},
        {"stage": "classify", "reason": "teacher error: 500: internal error (gave up after 7 attempts)"},
    ]
    s = summarize(done, rejects)
    assert s["options_per_round"]["1"] == {
        "B": 2,
        "D": 1,
        "unparsed": 1,
        "pct": {"B": 50.0, "D": 25.0, "unparsed": 25.0},
    }
    assert s["options_per_round"]["2"] == {"A": 1, "D": 1, "pct": {"A": 50.0, "D": 50.0}}
    assert s["reject_reasons"] == {
        "validate: drops key content of the original": 2,
        "classify: teacher error": 1,
    }
    assert s["depths"] == {"0": 1, "1": 1, "2": 1} and s["stages"] == {
        "classify.ok": 5,
        "classify.rejected": 1,
    }


def test_mean_lengths_per_depth():
    def rec(depth, user, answer):
        return {
            "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
            "meta": {"depth": depth},
        }

    got = mean_lengths([rec(0, "ab", "abcd"), rec(0, "abcd", "ab"), rec(1, "abcdef", "a")])
    assert got == {
        "0": {"n": 2, "prompt_chars": 3.0, "response_chars": 3.0},
        "1": {"n": 1, "prompt_chars": 6.0, "response_chars": 1.0},
    }
