import pytest

from seqit.eval import parse_verdict
from seqit.eval.verdict import SEQEVAL_PROMPT_VERSION, build_judge_messages


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[Yes, 4]]", (True, 4.0)),
        ("[[No, 2]]", (False, 2.0)),
        ("[[yes,5]]", (True, 5.0)),
        ("[[YES ; 3]]", (True, 3.0)),
        ("[Yes, 4]", (True, 4.0)),
        ("No, 2.5", (False, 2.5)),
        ("No, 4]]", (False, 4.0)),
        ("Yes, 4]", (True, 4.0)),
        ("[[Yes, 4/5]]", (True, 4.0)),
        ("[[No, score: 1]]", (False, 1.0)),
        ("**[[Yes, 3]]**", (True, 3.0)),
        ("**Verdict:** [[No, 2]]", (False, 2.0)),
        ("**Yes, 5**", (True, 5.0)),
        ("Verdict: No, 3", (False, 3.0)),
        ("### Final verdict: Yes, 4.", (True, 4.0)),
        ("`[[Yes, 4]]`", (True, 4.0)),
        ("The response covers the translation and then answers. [[Yes, 4]]", (True, 4.0)),
        ("The answer skips step 2.\n\n[[No, 3]]\n\nThanks!", (False, 3.0)),
        # the judge quotes the format first; its own verdict (the last one) wins
        ("I must answer like [[Yes, 4]] or [[No, 2]]. Here it is: [[No, 1]]", (False, 1.0)),
        ("Line one\n  No, 2  \nmore text after", (False, 2.0)),
        ("[[Yes 4]]", (True, 4.0)),
        ("[[No - 2]]", (False, 2.0)),
        ("[[Yes, 4]].", (True, 4.0)),
        ("[[ Yes , 4 ]]", (True, 4.0)),
        ("YES, 4", (True, 4.0)),
        ("Following: Yes\nScore: 4", (True, 4.0)),
        ("**Followed:** No\n**Quality:** 2/5", (False, 2.0)),
    ],
)
def test_parse_verdict_reads_strict_and_loose_forms(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot evaluate this response.",
        "[[Maybe, 3]]",
        "[[Yes]]",
        "[[Yes, 7]]",  # score out of the 1-5 range
        "[[No, 0]]",
        "No, 3 of the tasks were skipped.",  # prose, not a verdict
        "Yes, the response is good and deserves 4 points",
        "Score: 4",
        "Following: Yes",  # no score
        "Yes 4",  # a bare space-separated pair is too ambiguous outside brackets
    ],
)
def test_parse_verdict_returns_none_when_no_readable_verdict(text):
    assert parse_verdict(text) is None


def test_judge_messages_show_instruction_and_response_and_require_the_format():
    msgs = build_judge_messages("Translate X, then answer it.", "Answer <b>here</b>")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "Translate X, then answer it." in msgs[1]["content"]
    assert "Answer <b>here</b>" in msgs[1]["content"]
    assert "[[Yes, 4]]" in msgs[1]["content"]
    assert SEQEVAL_PROMPT_VERSION.endswith("/v1")
