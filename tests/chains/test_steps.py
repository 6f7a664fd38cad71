"""The step library: every step type's function, phrasings, argument sampling and checker."""

from __future__ import annotations

import random

import pytest

from seqit.chains.steps import (
    INT,
    INTS,
    STEP_TYPES,
    TEXT,
    WORDS,
    Step,
    StepError,
    apply_step,
    check_output,
    parse_value,
    render_step,
    render_value,
    sample_step,
    step_type,
    value_type,
)


def S(name: str, **args) -> Step:
    return Step(name, tuple(sorted(args.items())))


# (step, input, expected output) — one row per step type at least.
APPLY_CASES = [
    (S("reverse_text"), "abc", "cba"),
    (S("sort_letters"), "dbca", "abcd"),
    (S("uppercase"), "Abc", "ABC"),
    (S("lowercase"), "AbC", "abc"),
    (S("remove_vowels"), "banana", "bnn"),
    (S("dedupe_letters"), "banana", "ban"),
    (S("rotate_left"), "abcd", "bcda"),
    (S("swap_ends"), "abcd", "dbca"),
    (S("shift_letters"), "azZ", "baA"),
    (S("replace_letter", a="a", b="o"), "banana", "bonono"),
    (S("double_letters"), "ab", "aabb"),
    (S("first_k_letters", k=2), "abcd", "ab"),
    (S("last_k_letters", k=3), "abcd", "bcd"),
    (S("count_letters"), "abcd", 4),
    (S("count_vowels"), "banana", 3),
    (S("split_letters"), "abc", ["a", "b", "c"]),
    (S("join_with", sep="-"), ["a", "bc"], "a-bc"),
    (S("initials"), ["big", "old", "cat"], "boc"),
    (S("reverse_list"), ["a", "b", "c"], ["c", "b", "a"]),
    (S("reverse_list"), [1, 2, 3], [3, 2, 1]),
    (S("sort_items"), ["pear", "apple"], ["apple", "pear"]),
    (S("sort_items"), [10, 9, 100], [9, 10, 100]),
    (S("first_k_items", k=2), [1, 2, 3], [1, 2]),
    (S("last_k_items", k=1), ["a", "b"], ["b"]),
    (S("dedupe_items"), ["a", "b", "a"], ["a", "b"]),
    (S("rotate_items"), [1, 2, 3], [2, 3, 1]),
    (S("count_items"), ["a", "b", "a"], 3),
    (S("uppercase_words"), ["a", "Bc"], ["A", "BC"]),
    (S("keep_longer_than", n=3), ["fig", "pear", "apple"], ["pear", "apple"]),
    (S("keep_starting_with", letter="p"), ["pear", "apple", "Plum"], ["pear", "Plum"]),
    (S("add_n", n=5), 10, 15),
    (S("subtract_n", n=15), 10, -5),
    (S("multiply_n", n=3), 12, 36),
    (S("digit_sum"), 1234, 10),
    (S("add_to_each", n=1), [1, 2], [2, 3]),
    (S("keep_even"), [1, 2, 3, 4], [2, 4]),
    (S("sum_items"), [1, 2, 3], 6),
    (S("max_item"), [4, 9, 2], 9),
    (S("min_item"), [4, 9, 2], 2),
]


def test_library_has_at_least_20_step_types_and_every_one_has_a_case():
    assert len(STEP_TYPES) >= 20
    assert {s.name for s, _, _ in APPLY_CASES} == set(STEP_TYPES)


@pytest.mark.parametrize("step,value,expected", APPLY_CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(APPLY_CASES)])
def test_apply_step_computes_the_expected_result(step, value, expected):
    assert apply_step(step, value) == expected


@pytest.mark.parametrize("step,value,expected", APPLY_CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(APPLY_CASES)])
def test_checker_accepts_the_rendered_expected_result(step, value, expected):
    st = step_type(step.name)
    out_type = st.output_type(value_type(value))
    assert check_output(st, expected, out_type, "  " + render_value(expected, out_type) + " ")
    assert not check_output(st, expected, out_type, render_value(expected, out_type) + "x")


@pytest.mark.parametrize("name", sorted(STEP_TYPES))
def test_every_step_type_has_three_distinct_phrasings_that_all_render(name):
    st = STEP_TYPES[name]
    assert len(set(st.phrasings)) >= 3
    case = next(s for s, _, _ in APPLY_CASES if s.name == name)
    for p in range(len(st.phrasings)):
        text = render_step(case, p)
        assert text and "{" not in text and "}" not in text
        for key, value in case.args:
            assert str(value) in text, f"{name} phrasing {p} does not mention {key}"


@pytest.mark.parametrize("name", sorted(STEP_TYPES))
def test_sample_step_gives_an_applicable_step_and_none_for_a_wrong_type(name):
    rng = random.Random(0)
    case_input = next(v for s, v, _ in APPLY_CASES if s.name == name)
    step = sample_step(rng, name, case_input)
    assert step is not None and step.name == name
    assert apply_step(step, case_input) != case_input or name in ("sort_items",)
    wrong_type = next(v for v in ("abc", ["x", "y"], 7, [1, 2]) if value_type(v) not in STEP_TYPES[name].in_types)
    assert sample_step(rng, name, wrong_type) is None


@pytest.mark.parametrize(
    "step,value",
    [
        (S("first_k_letters", k=4), "abc"),  # keeps everything: not a real step
        (S("replace_letter", a="z", b="y"), "abc"),  # nothing to replace
        (S("keep_even"), [1, 3]),  # empty result
        (S("keep_starting_with", letter="q"), ["a", "b"]),  # empty result
        (S("reverse_text"), ["a", "b"]),  # wrong input type
        (S("multiply_n", n=9), 99_999),  # out of range
        (S("split_letters"), "a b"),  # ambiguous
    ],
)
def test_apply_step_raises_step_error_when_the_step_does_not_fit(step, value):
    with pytest.raises(StepError):
        apply_step(step, value)


@pytest.mark.parametrize(
    "text,vtype,expected",
    [
        (" 12 ", INT, 12),
        ("-3", INT, -3),
        ("12.0", INT, None),
        ("twelve", INT, None),
        ("a,  b ,c", WORDS, ["a", "b", "c"]),
        ("a,,b", WORDS, None),
        ("1, 2,3", INTS, [1, 2, 3]),
        ("1, x", INTS, None),
        ("  hello   world ", TEXT, "hello world"),
    ],
)
def test_parse_value_reads_model_text_strictly(text, vtype, expected):
    assert parse_value(text, vtype) == expected


@pytest.mark.parametrize(
    "name,expected,out_type,output,ok",
    [
        ("reverse_text", "cba", TEXT, "CBA", True),  # case does not matter for reversing
        ("uppercase", "ABC", TEXT, "abc", False),  # ... but it is the point of uppercasing
        ("sort_letters", "Bab", TEXT, "bab", False),  # sorting is case-sensitive
        ("reverse_list", ["b", "a"], WORDS, "B ,  A", True),
        ("uppercase_words", ["A", "B"], WORDS, "a, b", False),
        ("reverse_list", ["b", "a"], WORDS, "b a", False),  # lists are comma-separated
        ("count_items", 3, INT, "3", True),
        ("count_items", 3, INT, "three", False),
        ("sort_items", [1, 2], INTS, "1,2", True),
        ("sort_items", [1, 2], INTS, "2, 1", False),
    ],
)
def test_check_output_is_tolerant_only_where_the_step_allows(name, expected, out_type, output, ok):
    assert check_output(STEP_TYPES[name], expected, out_type, output) is ok


def test_step_round_trips_through_a_dict():
    step = S("replace_letter", a="a", b="b")
    assert Step.from_dict(step.to_dict()) == step
