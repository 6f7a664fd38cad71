"""parse_score / parse_judgement on realistic judge replies (table-driven)."""

from __future__ import annotations

import pytest

from seqit.phases.difficulty import parse_judgement, parse_score

ACCEPTED = [
    # (reply, score) — plain numbers, as in the released stage files
    ("3.5", 3.5),
    ("3.5\n\n", 3.5),
    ("  4  ", 4.0),
    ("1", 1.0),
    ("5.0", 5.0),
    ("4.699999999999999", 4.699999999999999),
    ("4.", 4.0),
    # labelled
    ("Score: 4", 4.0),
    ("score:4", 4.0),
    ("**Score:** 3.5", 3.5),
    ("Difficulty: 2", 2.0),
    ("Difficulty score = 4.5", 4.5),
    ("I would give this a score of 3.", 3.0),
    ("The rating is 2 because the task is a simple lookup.", 2.0),
    ("Difficulty Score: 3.5/5", 3.5),
    ("Rating: 4/5 - the task needs several steps.", 4.0),
    ("I'd rate this a **3**.", 3.0),
    ("I would give it a 4 since it needs careful proofs.", 4.0),
    ("I rate this task as 2.5 overall.", 2.5),
    # fractions over 5
    ("**4/5**", 4.0),
    ("4 / 5", 4.0),
    ("Score: 4/5", 4.0),
    ("3 out of 5", 3.0),
    ("This one is moderately hard, I'd say 3/5 overall.", 3.0),
    # leading number followed by words
    ("4 - hard", 4.0),
    ("4 – hard: needs multi-step reasoning", 4.0),
    ("2 (easy)", 2.0),
    ("3: moderate", 3.0),
    ("5\nThe task requires expert knowledge of tax law.", 5.0),
    # JSON, as the prompt asks
    ('{"rationale": "Simple recall.", "task_complexity": 1, "transformation_difficulty": 1, "score": 1}', 1.0),
    ('{"score": 4, "rationale": "Needs a 5-step derivation."}', 4.0),
    ('{"score": "3.5"}', 3.5),
    ('{"Score": 2.5}', 2.5),
    ('```json\n{"rationale": "Translation plus summary.", "score": 3.25}\n```', 3.25),
    ('Here is my assessment:\n{"rationale": "Open-ended essay.", "score": 4.5}\nHope this helps.', 4.5),
    ('{"difficulty": 2}', 2.0),
    # a score stated after list-marker lines: the list markers are never read as the score
    ("1. The task asks for a haiku.\n2. The output follows 5-7-5.\n\nScore: 3", 3.0),
    ("1. Task complexity is low.\n2. Output is a single word.\nOverall score: 1.5", 1.5),
    ("Task complexity: 2\nTransformation difficulty: 4\nOverall difficulty: 3", 3.0),
    ("Reasoning: the model must sort 12 items and explain 3 steps.\nFinal score: 4", 4.0),
]


@pytest.mark.parametrize(("reply", "expected"), ACCEPTED)
def test_parse_score_reads_the_stated_score(reply, expected):
    assert parse_score(reply) == pytest.approx(expected)


NO_SCORE = [
    "",
    "   \n\n",
    "I cannot rate this example.",
    "1. The task asks for a list of fruits.\n2. The output lists 12 fruits.",
    "The instruction has 3 parts and the answer has 200 words.",
    '{"rationale": "Hard to say."}',
    '{"score": null, "rationale": "unclear"}',
    '{"score": "hard"}',
    "N/A",
    "Give it 3 tries and then stop.",
]


@pytest.mark.parametrize("reply", NO_SCORE)
def test_parse_score_returns_none_when_no_score_is_stated(reply):
    assert parse_score(reply) is None


OUT_OF_RANGE = [
    ("7", "outside 1-5"),
    ("0", "outside 1-5"),
    ("0.5", "outside 1-5"),
    ("Score: 8/10", "1-10 scale"),
    ('{"score": 6}', "outside 1-5"),
    ('{"score": 0}', "outside 1-5"),
    ("Score: 12", "outside 1-5"),
]


@pytest.mark.parametrize(("reply", "why"), OUT_OF_RANGE)
def test_out_of_range_scores_are_rejected_not_clamped(reply, why):
    j = parse_judgement(reply)
    assert j.score is None
    assert why in j.error


def test_parse_judgement_keeps_json_sub_scores_and_rationale():
    j = parse_judgement(
        '{"rationale": "Two chained steps.", "task_complexity": 2, "transformation_difficulty": 4, "score": 3}'
    )
    assert (j.score, j.task_complexity, j.transformation_difficulty) == (3.0, 2.0, 4.0)
    assert j.rationale == "Two chained steps."
    assert j.source == "json"
    assert j.error is None


def test_parse_judgement_names_the_missing_field_for_json_without_score():
    j = parse_judgement('{"task_complexity": 2, "transformation_difficulty": 4}')
    assert j.score is None
    assert "score" in j.error
    assert j.task_complexity == 2.0


def test_parse_judgement_explains_empty_replies():
    assert parse_judgement("").error == "empty reply"
    assert parse_judgement("no idea").error == "no score found in the reply"
