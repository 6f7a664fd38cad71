"""The judge prompt, record triplets and the proxy scorers."""

from __future__ import annotations

import json

import pytest

from seqit.phases.difficulty import (
    PROMPT_VERSION,
    Triplet,
    depth_value,
    estimate_tokens,
    judge_messages,
    length_value,
    mean_score,
    rank_to_scale,
    record_triplet,
)
from seqit.records import Record, load_records


def _rec(messages, **meta):
    return Record("r1", messages, meta)


def test_judge_messages_show_instruction_input_and_output_and_ask_for_json():
    msgs = judge_messages(Triplet("Translate to French.", "Good morning", "Bonjour"))
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "### Instruction\nTranslate to French." in user
    assert "### Input\nGood morning" in user
    assert "### Expected output\nBonjour" in user
    assert '"score"' in user and "1 to 5" in msgs[0]["content"]
    assert PROMPT_VERSION.startswith("phased.difficulty/")


def test_judge_messages_mark_a_missing_input():
    user = judge_messages(Triplet("Name a colour.", "", "Red"))[1]["content"]
    assert "### Input\n(none)" in user


def test_record_triplet_uses_alpaca_fields_when_present(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"instruction": "Add the numbers.", "input": "2, 3", "output": "5"}) + "\n")
    rec = load_records(p).records[0]
    assert record_triplet(rec) == Triplet("Add the numbers.", "2, 3", "5")


def test_record_triplet_shows_earlier_turns_as_context():
    rec = _rec(
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Now count to 3."},
            {"role": "assistant", "content": "1 2 3"},
        ]
    )
    t = record_triplet(rec)
    assert t.instruction == "Now count to 3."
    assert t.input == "User: Hi\n\nAssistant: Hello!"
    assert t.output == "1 2 3"


def test_record_triplet_refuses_a_record_without_a_response():
    with pytest.raises(ValueError, match="assistant"):
        record_triplet(_rec([{"role": "user", "content": "Hi"}]))


@pytest.mark.parametrize(
    ("text", "n"),
    [("", 0), ("hello", 1), ("Give three tips, please.", 6), ("x=1+2", 5), ("naïve café", 2)],
)
def test_estimate_tokens_counts_words_and_punctuation(text, n):
    assert estimate_tokens(text) == n


def test_length_value_counts_the_whole_conversation():
    rec = _rec([{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there!"}])
    assert length_value(rec) == 6.0


def test_depth_value_reads_meta_depth_and_refuses_missing_depth():
    assert depth_value(_rec([], depth=3)) == 3.0
    with pytest.raises(ValueError, match="meta.depth"):
        depth_value(_rec([]))
    with pytest.raises(ValueError):
        depth_value(_rec([], depth="2"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([7.0], [3.0]),
        ([1.0, 2.0], [1.0, 5.0]),
        ([10.0, 30.0, 20.0, 20.0], [1.0, 5.0, 3.0, 3.0]),
        ([5.0, 5.0, 5.0], [3.0, 3.0, 3.0]),
        ([3.0, 1.0, 2.0, 4.0, 5.0], [3.0, 1.0, 2.0, 4.0, 5.0]),
    ],
)
def test_rank_to_scale_maps_ranks_onto_one_to_five(values, expected):
    assert rank_to_scale(values) == expected


def test_mean_score_averages_and_rounds():
    assert mean_score([3.0, 4.0, 4.0]) == 3.6667


def test_score_summary_reports_distribution_shares_and_agreement():
    from seqit.phases.difficulty import score_summary

    s = score_summary([1.0, 1.0, 1.5, 3.5, 5.0], spreads=[0.0, 1.0])
    assert (s["n"], s["mean"], s["min"], s["max"]) == (5, 2.4, 1.0, 5.0)
    assert s["share_per_phase"] == [0.4, 0.2, 0.4]
    assert s["share_exactly_1"] == 0.4
    assert s["agreement"] == {"records_with_2plus_samples": 2, "mean_spread": 0.5, "share_spread_le_0.5": 0.5}
    assert score_summary([]) == {"n": 0}
