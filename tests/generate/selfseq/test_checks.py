"""Rule checks on rewrites, extractions and responses: every failure names its reason."""

from __future__ import annotations

import random

import pytest

from seqit.generate.selfseq.checks import (
    check_extraction,
    check_response,
    check_rewrite,
    degenerate_reason,
    key_spans,
)

REWRITE_CASES = [
    ("Name the largest planet.", "Name the largest planet, and then give two facts about it.", None),
    ("Sum 3 and 4.", "First explain what a sum is. Then sum 3 and 4.", None),
    ("Sum 3 and 4.", "First explain addition. Then sum the two numbers.", "drops key content"),
    ("Give 3 tips for sleep.", "First name a common sleep problem. Then give three tips for sleep.", None),
    (
        "Which is a mammal? (a) trout (b) dolphin",
        "First define a mammal. Then say which animal is one.",
        "drops key content",
    ),
    (
        'Translate "good morning" into French.',
        "First translate it into French, then into German.",
        "drops key content",
    ),
    ("Fix this: `x = 1 +`", "First explain the error in `x = 1 +`. Then fix it.", None),
    ("Name the largest planet.", "Name the largest planet.", "unchanged"),
    ("Name the largest planet.", "name the largest planet!", "unchanged"),
    ("Name the largest planet.", None, "missing"),
    ("Name the largest planet.", "   ", "missing"),
    ("Name the largest planet.", "THIS EVALUATION FAILED AFTER 5 ATTEMPTS.", "placeholder"),
    (
        "Name the largest planet in our solar system.",
        "Name the largest planet in our solar system please",
        "unchanged",
    ),
    (
        "Describe a sunset over the sea.",
        "Describe a beautiful, colourful sunset over the calm sea",
        "not sequential",
    ),
]


def test_check_rewrite_rejects_answers_and_copied_inputs():
    passage = "The council approved 12 new bike lanes on Monday after a long debate."
    assert check_rewrite("Summarize the text.", "First list the key facts, then summarize.", passage) is None
    copied = f"First list the key facts of this text: {passage} Then summarize it."
    assert check_rewrite("Summarize the text.", copied, passage).startswith("copies the input")
    assert check_rewrite("Name a planet.", "Jupiter is the largest planet. " * 25).startswith("too long")


@pytest.mark.parametrize("original,rewritten,reason", REWRITE_CASES)
def test_check_rewrite_rejects_with_a_named_reason(original, rewritten, reason):
    got = check_rewrite(original, rewritten)
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason)


@pytest.mark.parametrize(
    "text,spans",
    [
        ("Is 12 > 7? Options: (a) yes (b) no", ["12", "7", "yes", "no"]),
        ("Which is a mammal?\nA. trout\nB. dolphin\nC. gecko", ["trout", "dolphin", "gecko"]),
        ('Say "hello world" in 3 languages.', ["3", "hello world"]),
        ("Write a poem about rain.", []),
        (
            "Which city is larger?\n| city | people |\n|---|---|\n| Oslo | 0.7m |",
            ["0.7", "city", "people", "Oslo", "0.7m"],
        ),
    ],
)
def test_key_spans_finds_numbers_quotes_and_options(text, spans):
    assert key_spans(text) == spans


@pytest.mark.parametrize(
    "prompt,instruction,input_text,reason",
    [
        (
            "Which is a mammal? Options: (a) trout (b) dolphin",
            "Which is a mammal?",
            "Options: (a) trout (b) dolphin",
            None,
        ),
        ("Write a poem about snow.", "Write a poem about snow.", "", None),
        (
            "Which is a mammal? Options: (a) trout (b) dolphin",
            "Which animal is a mammal?",
            "",
            "extraction loses text",
        ),
        (
            "Write a poem.",
            "Write a long poem about the beautiful winter snow in the mountains.",
            "",
            "extraction adds",
        ),
        ("Write a poem.", "", "", "empty extraction"),
    ],
)
def test_check_extraction_requires_verbatim_split(prompt, instruction, input_text, reason):
    got = check_extraction(prompt, instruction, input_text)
    assert (got is None) if reason is None else got.startswith(reason)


def _random_bytes_text(n: int) -> str:
    rng = random.Random(0)
    return bytes(rng.randrange(256) for _ in range(n)).decode("utf-8", "replace")


@pytest.mark.parametrize(
    "text,finish,reason",
    [
        ("Jupiter is the largest planet.", "stop", None),
        ("1. Plan meals.\n2. Store leftovers.\n3. Freeze bread.", "stop", None),
        ("", "stop", "empty response"),
        ("   \n", "stop", "empty response"),
        ("Jupiter is the largest", "length", "truncated"),
        ("THIS EVALUATION FAILED AFTER 5 ATTEMPTS.", "stop", "placeholder"),
        ("None.", "stop", None),
        (
            "French: bonjour. Russian: привет. Chinese: 你好. Arabic: مرحبا. Hindi: नमस्ते.",
            "stop",
            None,
        ),  # a legitimate short answer ("Which of these numbers is prime?")
        ("the cat sat on the mat " * 12, "stop", "degenerate"),
        ("Sure!\n" * 10, "stop", "degenerate"),
        ("ab " * 30, "stop", "degenerate"),
        ("#$%^&*(){}[]<>|~" * 5, "stop", "degenerate"),
        (_random_bytes_text(300), "stop", "degenerate"),
        ("GJY,\ufffd\ufffd", "stop", "degenerate"),
    ],
)
def test_check_response_rejects_empty_truncated_and_degenerate(text, finish, reason):
    got = check_response(text, finish)
    assert (got is None) if reason is None else got.startswith(reason)


def test_degenerate_reason_accepts_long_normal_text():
    text = (
        "Reducing food waste starts with planning. Write a weekly menu, check what is already in the fridge, and buy "
        "only what the menu needs. Store leftovers in clear containers at eye level so they get eaten first. Freeze "
        "bread, ripe fruit and cooked grains before they spoil, and label them with the date."
    )
    assert degenerate_reason(text) is None


GENERIC = "First, list two key facts about the topic. Then, answer the original question using them."
SEEDS = [
    "What is the boiling point of water at sea level?",
    "Explain why the sky appears blue during the day.",
    "Write a haiku about autumn leaves.",
    "Describe the water cycle for a ten-year-old.",
    "Suggest a name for a bakery that sells vegan cakes.",
    "Compare the economies of Norway and Sweden.",
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("option", ["B", "C", None])
def test_generic_rewrite_that_drops_the_task_is_rejected(seed, option):
    got = check_rewrite(seed, GENERIC, option=option)
    assert got is not None and got.startswith("drops the original task"), got


@pytest.mark.parametrize(
    "original, rewritten, option",
    [
        ("Write a haiku about autumn leaves.", "First list three images of autumn leaves. Then write a haiku about them.", "B"),
        ("Compare the economies of Norway and Sweden.",
         "Compare the economies of Norway and Sweden, then say which one grew faster last decade.", "C"),
        ("Explain why the sky appears blue during the day.",
         "First describe how sunlight scatters in air. Then explain why the sky looks blue by day.", "A"),
        ("Summarize the text.", "First list the key facts, then summarize.", "B"),
        ("Translate the sentence into French.", "First find the verbs. Then give a French translation.", "B"),
    ],
)
def test_rewrites_that_keep_the_task_pass(original, rewritten, option):
    assert check_rewrite(original, rewritten, option=option) is None


def test_coverage_reason_names_the_missing_words():
    from seqit.generate.selfseq.checks import content_words, coverage_problem

    assert content_words("What is the boiling point of water at sea level?") == ["boiling", "point", "water", "sea", "level"]
    why = coverage_problem("Describe the water cycle for a ten-year-old.", GENERIC, "B")
    assert "a prefix task must keep its content" in why and "water" in why and "cycle" in why
    assert coverage_problem("Do it.", GENERIC, "B") is None  # nothing to cover
