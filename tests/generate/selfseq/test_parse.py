"""Table-driven tests of the Self-Seq reply parsers on real-looking teacher text (JSON, free text, markdown, junk)."""

from __future__ import annotations

import pytest

from seqit.generate.selfseq import parse_extraction, parse_new_instruction, parse_option, parse_verdict
from seqit.generate.selfseq.parse import find_json_object, is_placeholder

OPTION_CASES = [
    # structured output
    ('{"reason": "Listing selling points first helps.", "option": "B"}', "B"),
    ('```json\n{\n  "reason": "Already a single calculation.",\n  "option": "D"\n}\n```', "D"),
    ('Here is my answer:\n{"option": "c", "reason": "a follow-up fits"}', "C"),
    ('{"option": "Option A", "reason": "two hidden steps"}', "A"),
    ('{"option": "prefix", "reason": "..."}', "B"),
    ('{"option": "E", "reason": "none fit"}', None),
    ('{"reason": "I could not decide"}', None),
    ('{"reason": "a follow-up fits"}\nSo the option is: C', "C"),  # JSON without the key: read the text
    # the reference's free-text form
    (
        'The instruction is: "Describe the structure of an atom."\n\nLet\'s think step by step. The instruction asks for '
        "a description; a follow-up about how the structure determines chemical properties builds on it.\n"
        "So the option is: C.",
        "C",
    ),
    (
        "Let's think step by step. This is one arithmetic question with a single answer. So the option is: D",
        "D",
    ),
    ("So the option is **B**.", "B"),
    ("Final answer: A", "A"),
    ("Answer: B", "B"),
    ("Choice: C", "C"),
    ("I would go with D since the instruction already has two parts.", "D"),
    ("Therefore, the best option is b.", "B"),
    # decisions beat earlier mentions
    ("Option A is wrong here because nothing is hidden, so I choose C.", "C"),
    ("option A is wrong, choose C", "C"),
    ("Option A would split it awkwardly. Option B adds a useful first step. The option is B.", "B"),
    ("We need a plan B for the trip. I select option D.", "D"),
    # bare replies
    ("C", "C"),
    ("**B**", "B"),
    ("(A)", "A"),
    ("D.", "D"),
    ("Option C", "C"),
    ("I think adding a prefix task is best: option B.", "B"),
    # never a letter inside a word or an abbreviation; never a silent D
    ("The U.S.A. declared independence in 1776.", None),
    ("A.I. models can help here.", None),
    ("Options A and C both seem reasonable.", None),
    ("Option A: too short.\nOption D: fine as is.", None),
    ("A good approach would be to keep it simple.", None),
    ("Choose a different wording for the task.", None),
    ("Vitamin C is important for health.", None),
    ("", None),
    ("THIS EVALUATION FAILED AFTER 5 ATTEMPTS.", None),
    ("I'm sorry, I can't help with that.", None),
    # garbage from a random model: broken bytes and control characters around a letter
    ("\ufffd\x1fC", None),
    ("\x05B\x05", None),
    ("--- C ---", None),
]


@pytest.mark.parametrize("text,expected", OPTION_CASES)
def test_parse_option_reads_the_decision_or_returns_none(text, expected):
    assert parse_option(text) == expected


NEW_INSTRUCTION_CASES = [
    (
        '{"reason": "adds a prefix", "new_instruction": "First, list three selling points. Then, write the description."}',
        "First, list three selling points. Then, write the description.",
    ),
    (
        '```json\n{"new_instruction": "Name the planet, and then give two facts about it."}\n```',
        "Name the planet, and then give two facts about it.",
    ),
    (
        "#Original Instruction#: 'Name the largest planet.'\nA natural follow-up is to ask for facts.\n"
        "#New Instruction#: “Name the largest planet, then give two facts about it.”###",
        "Name the largest planet, then give two facts about it.",
    ),
    (
        'Reasoning first. New instruction: "Translate the sentence into French, and then into German."\n###\nExplanation: ...',
        "Translate the sentence into French, and then into German.",
    ),
    (
        '**New Instruction:** "First identify the main claim. Then summarize the article in two sentences."\n\n'
        "**Explanation:** the first step feeds the summary.",
        "First identify the main claim. Then summarize the article in two sentences.",
    ),
    (
        "### New Instruction\nFirst list the ingredients, then give the steps.\nExplanation: splits the task.",
        "First list the ingredients, then give the steps.",
    ),
    # the LAST marker wins (the reference's few-shot echoes contain earlier markers)
    (
        "#New Instruction#: example one ###\nNow yours:\n#New Instruction#: 'Sort the list, then print the first item.'###",
        "Sort the list, then print the first item.",
    ),
    # missing markers, empty and placeholder texts
    ("First list the ingredients, then give the steps.", None),
    ("#New Instruction#: ###", None),
    ("#New Instruction#: [insert new instruction here]###", None),
    ("New instruction: N/A", None),
    ("THIS EVALUATION FAILED AFTER 5 ATTEMPTS.", None),
    ('{"new_instruction": ""}', None),
    ('{"new_instruction": null, "reason": "cannot rewrite"}', None),
    (
        '{"reason": "prefix"}\n#New Instruction#: First list the facts, then answer.###',
        "First list the facts, then answer.",
    ),
    ("", None),
]


@pytest.mark.parametrize("text,expected", NEW_INSTRUCTION_CASES)
def test_parse_new_instruction_extracts_the_rewrite_or_returns_none(text, expected):
    assert parse_new_instruction(text) == expected


EXTRACTION_CASES = [
    (
        '{"instruction": "Which of these is a mammal?", "input": "Options: (a) trout (b) dolphin"}',
        ("Which of these is a mammal?", "Options: (a) trout (b) dolphin"),
    ),
    ('{"instruction": "Write a poem about snow.", "input": ""}', ("Write a poem about snow.", "")),
    (
        'Instruction: "Is the hypothesis entailed?"###\nInput: Premise: A man sleeps. Hypothesis: A man is awake.###',
        ("Is the hypothesis entailed?", "Premise: A man sleeps. Hypothesis: A man is awake."),
    ),
    ("Instruction: Summarize the text.\nInput: None", ("Summarize the text.", "")),
    ("I think the prompt is a question about mammals.", None),
    ('{"instruction": "", "input": "x"}', None),
    ("THIS TRANSLATION FAILED AFTER 10 ATTEMPTS.", None),
]


@pytest.mark.parametrize("text,expected", EXTRACTION_CASES)
def test_parse_extraction_splits_instruction_and_input(text, expected):
    assert parse_extraction(text) == expected


VERDICT_CASES = [
    ('{"reason": "keeps everything", "verdict": "pass"}', (True, "keeps everything")),
    (
        '{"reason": "drops the options (a) coal (b) wind", "verdict": "fail"}',
        (False, "drops the options (a) coal (b) wind"),
    ),
    ('{"verdict": true}', (True, "")),
    ("Verdict: PASS - the rewrite keeps the question.", (True, "the rewrite keeps the question")),
    ("Answer: No. It drops the numbers.", (False, "It drops the numbers")),
    # "know"/"not" in the first words must not read as a No (reference bug 15)
    ("I know this looks fine and it is not missing anything. Verdict: pass", (True, "")),
    ("It is hard to say.", None),
    ('{"verdict": "maybe"}', None),
]


@pytest.mark.parametrize("text,expected", VERDICT_CASES)
def test_parse_verdict_reads_whole_word_verdicts_only(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("THIS EVALUATION FAILED AFTER 5 ATTEMPTS.", True),
        ("this translation failed after 10 attempts", True),
        ("N/A", True),
        ("   ", True),
        ("[Your new instruction here]", True),
        ("Name the largest planet.", False),
        ("An error in the proof is on line 3.", False),
        ("Error: 429 Too Many Requests", True),
        ("Error-check the function, then fix the bug you find.", False),
    ],
)
def test_is_placeholder_flags_failure_text(text, expected):
    assert is_placeholder(text) is expected


def test_find_json_object_skips_braces_that_are_not_json_and_objects_without_the_keys():
    assert find_json_object('use {x} then {"option": "A"}') == {"option": "A"}
    assert find_json_object("no json {here}") is None
    assert find_json_object('{"a": 1} {"Option": "B"}', ("option",)) == {"Option": "B"}


CODING = ("Write a function that returns the sum of a list.\nExample:\nInput: [1, 2]\nOutput: 3\n"
          "Explanation: 1 + 2 = 3.\nThen write two unit tests for it.")


@pytest.mark.parametrize(
    "text, expected",
    [
        # an Explanation line inside the instruction's own worked example does not cut it short
        (f'#New Instruction#: "{CODING}"\n###\nExplanation: adds a suffix task.', CODING),
        (f"#New Instruction#: {CODING}\n\nExplanation: adds a suffix task.", CODING),
        (f"#New Instruction#: {CODING} ###", CODING),
        ('#New Instruction#: "First read it. Then say \\"hi\\"." \n\nExplanation: it says "hi".',
         'First read it. Then say \\"hi\\".'),
        ('New instruction: "Translate "hello" into French, then into German."\nReason: two steps.',
         'Translate "hello" into French, then into German.'),
        # the user's own bracketed placeholders are content, not template leftovers
        ("#New Instruction#: First fill in [Your name] and [date]. Then proofread the cover letter. ###",
         "First fill in [Your name] and [date]. Then proofread the cover letter."),
        ('{"new_instruction": "Sign the letter as [Your name] on [date], then summarise it."}',
         "Sign the letter as [Your name] on [date], then summarise it."),
        ("#New Instruction#: [Your new instruction here] ###", None),
        ("#New Instruction#: [Your name] ###", None),  # a lone bracket is a stand-in, not an instruction
        ('#New Instruction#: "" ###', None),
        ('#New Instruction#: "**"', None),
    ],
)
def test_parse_new_instruction_on_real_teacher_replies(text, expected):
    assert parse_new_instruction(text) == expected


@pytest.mark.parametrize("text", ['#New Instruction#: "" ###', '{"new_instruction": "  "}', "#New Instruction#: ``",
                                  "#New Instruction#: \"'\"", "New instruction: **", "#New Instruction#: [date]"])
def test_parse_new_instruction_never_returns_an_empty_string(text):
    got = parse_new_instruction(text)
    assert got is None or (isinstance(got, str) and got.strip())
