"""SeqEval-V v2: new step types (numbers, lists, strings), depths 1-8, held-out compositions marked,
frozen by sha256; v1 is still rebuilt byte for byte."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter

import pytest

from seqit.chains import seqeval_v
from seqit.chains.sampling import Chain, adjacent_pairs, render_answer
from seqit.chains.seqeval_v import (
    VERSIONS,
    build_items,
    file_sha256,
    frozen_items,
    heldout_pairs,
    score_outputs,
)
from seqit.chains.steps import (
    INT,
    INTS,
    STEP_TYPES,
    STEP_TYPES_V2,
    TEXT,
    WORDS,
    Step,
    StepError,
    apply_step,
    check_output,
    render_step,
    render_value,
    sample_step,
    step_type,
    value_type,
)
from seqit.cli import main
from seqit.errors import DataError
from seqit.jsonl import write_jsonl


def S(name: str, **args) -> Step:
    return Step(name, tuple(sorted(args.items())))


V2_CASES = [
    (S("reverse_digits"), 120, 21), (S("reverse_digits"), -123, -321),
    (S("remainder_n", n=7), 50, 1), (S("integer_divide_n", n=4), 50, 12),
    (S("square"), -12, 144), (S("count_digits"), -4096, 4),
    (S("round_to_ten"), 45, 50), (S("round_to_ten"), 44, 40),
    (S("sort_descending"), [3, 10, 2], [10, 3, 2]), (S("sort_descending"), ["fig", "pear"], ["pear", "fig"]),
    (S("drop_first_item"), ["a", "b"], ["b"]), (S("drop_last_item"), [1, 2, 3], [1, 2]),
    (S("every_other_item"), [1, 2, 3, 4, 5], [1, 3, 5]), (S("keep_odd"), [1, 2, 3], [1, 3]),
    (S("multiply_each_n", n=3), [1, -2], [3, -6]), (S("range_of_items"), [4, 9, 2], 7),
    (S("word_lengths"), ["fig", "pear"], [3, 4]),
    (S("capitalize_text"), "hELLO", "Hello"), (S("append_text", suffix="er"), "farm", "farmer"),
    (S("prepend_text", prefix="un"), "do", "undo"), (S("mirror_text"), "ab", "abba"),
    (S("remove_letter", letter="a"), "banana", "bnn"), (S("count_letter", letter="a"), "Banana", 3),
    (S("last_letters"), ["big", "old", "cat"], "gdt"), (S("lowercase_words"), ["A", "Bc"], ["a", "bc"]),
    (S("sort_by_length"), ["pear", "fig", "kiwi", "ox"], ["ox", "fig", "pear", "kiwi"]),
]
FAILS = [(S("remainder_n", n=3), -5), (S("integer_divide_n", n=2), -5), (S("round_to_ten"), -5),
         (S("drop_first_item"), [1]), (S("every_other_item"), [1, 2]), (S("remove_letter", letter="z"), "abc"),
         (S("square"), 400), (S("keep_odd"), [2, 4])]


def test_every_v2_step_type_has_a_case_and_none_replaces_a_v1_type():
    assert {s.name for s, _, _ in V2_CASES} == set(STEP_TYPES_V2)
    assert not set(STEP_TYPES_V2) & set(STEP_TYPES) and len(STEP_TYPES_V2) >= 20
    kinds = Counter(value_type(v) for _, v, _ in V2_CASES)
    assert kinds[INT] >= 5 and kinds[INTS] + kinds[WORDS] >= 8 and kinds[TEXT] >= 5  # numbers, lists, strings


@pytest.mark.parametrize(("step", "value", "expected"), V2_CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(V2_CASES)])
def test_v2_step_results_and_checker(step, value, expected):
    assert apply_step(step, value) == expected
    st = step_type(step.name)
    out_type = st.output_type(value_type(value))
    assert check_output(st, expected, out_type, " " + render_value(expected, out_type) + " ")
    assert not check_output(st, expected, out_type, render_value(expected, out_type) + "9")


@pytest.mark.parametrize(("step", "value"), FAILS, ids=[c[0].name for c in FAILS])
def test_v2_steps_refuse_values_they_do_not_fit(step, value):
    with pytest.raises(StepError):
        apply_step(step, value)


@pytest.mark.parametrize("name", sorted(STEP_TYPES_V2))
def test_v2_step_types_have_three_phrasings_mentioning_their_arguments_and_sample(name):
    st = STEP_TYPES_V2[name]
    step, value, _ = next(c for c in V2_CASES if c[0].name == name)
    assert len(set(st.phrasings)) >= 3
    for p in range(len(st.phrasings)):
        text = render_step(step, p)
        assert "{" not in text and all(str(v) in text for _, v in step.args)
    sampled = sample_step(random.Random(0), name, value)
    assert sampled is not None and apply_step(sampled, value) is not None


def test_shipped_v1_is_rebuilt_byte_for_byte(tmp_path):
    write_jsonl(tmp_path / "v1.jsonl", build_items("v1"))
    assert (tmp_path / "v1.jsonl").read_bytes() == seqeval_v.data_path("v1").read_bytes()
    assert file_sha256(seqeval_v.data_path("v1")) == VERSIONS["v1"]["sha256"]


def test_shipped_v2_is_rebuilt_byte_for_byte_and_its_sha256_is_pinned(tmp_path):
    write_jsonl(tmp_path / "v2.jsonl", build_items("v2"))
    assert (tmp_path / "v2.jsonl").read_bytes() == seqeval_v.data_path("v2").read_bytes()
    assert file_sha256(seqeval_v.data_path("v2")) == VERSIONS["v2"]["sha256"]


def test_a_modified_shipped_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "seqeval_v_v2.jsonl"
    shutil.copy(seqeval_v.data_path("v2"), copy)
    copy.write_bytes(copy.read_bytes().replace(b"Step 1: ", b"Step 1:  ", 1))
    monkeypatch.setattr(seqeval_v, "data_path", lambda version: copy)
    with pytest.raises(DataError, match="is not the frozen SeqEval-V v2 .*modified"):
        frozen_items("v2")


@pytest.fixture(scope="module")
def v2():
    return frozen_items("v2")


def test_v2_depths_held_out_compositions_and_step_coverage(v2):
    assert Counter(it["meta"]["depth"] for it in v2) == {k: 100 for k in range(1, 9)}
    held = heldout_pairs("v2")
    assert len(held) >= 20
    for it in v2:
        pairs = set(adjacent_pairs(it["meta"]["steps"]))
        assert it["meta"]["heldout"] == bool(pairs & held), it["id"]
    assert Counter(it["meta"]["depth"] for it in v2 if it["meta"]["heldout"]) == {k: 25 for k in range(2, 9)}
    used = {s for it in v2 for s in it["meta"]["steps"]}
    assert used >= set(STEP_TYPES_V2) and len(used) >= 55
    assert len({it["id"] for it in v2}) == 800 and {it["meta"]["version"] for it in v2} == {"v2"}


def test_v2_expected_answers_are_the_chain_results_and_score_one(v2):
    for it in v2[::40]:
        assert it["messages"][-1]["content"] == render_answer(Chain.from_dict(it["meta"]["chain"]))
    res = score_outputs(v2, {it["id"]: it["messages"][-1]["content"] for it in v2})
    assert res["version"] == "v2" and res["metrics"]["overall"]["chain_acc"] == 1.0
    assert set(res["metrics"]["by_iteration"]) == {str(k) for k in range(1, 9)}


def test_data_v2_selects_v2_in_seqit_eval(tmp_path, v2):
    write_jsonl(tmp_path / "outs.jsonl", [{"id": it["id"], "output": it["messages"][-1]["content"]} for it in v2])
    assert main(["eval", "configs/eval/seqeval-v.yaml", "data=v2", f"outputs={tmp_path / 'outs.jsonl'}",
                 "--out", str(tmp_path / "run")]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["version"] == "v2" and res["n_items"] == 800 and res["horizon"]["overall"]["h50_unbounded"] is True
    assert set(res["horizon"]["by_depth"]) == {str(k) for k in range(1, 9)}


def test_v2_results_split_seen_and_heldout_compositions(v2):
    outputs = {it["id"]: it["messages"][-1]["content"] if not it["meta"]["heldout"] else "Step 1: ?" for it in v2}
    m = score_outputs(v2, outputs)["metrics"]
    assert m["by_heldout"]["seen"]["n"] == 625 and m["by_heldout"]["seen"]["chain_acc"] == 1.0
    assert m["by_heldout"]["heldout"]["n"] == 175 and m["by_heldout"]["heldout"]["chain_acc"] == 0.0
    assert set(m["by_heldout"]["heldout"]["by_length"]) == {str(k) for k in range(2, 9)}
    assert "by_heldout" not in score_outputs(frozen_items("v1")[:3], {})["metrics"]  # v1 has no held-out marks
