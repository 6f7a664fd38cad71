"""Prompt builders: versions pinned to wording, reproducible few-shot order, input shown once and clipped."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from seqit.generate.selfseq import prompts
from seqit.generate.taskdriven import builders as td

# Changing any prompt text must come with a new version (the version is in the cache key and in every record).
# If this test fails after an edit: bump the version in VERSIONS, then update the hash here.
PINNED = {
    "selfseq.extract/v1": "a6276843f57b76c5",
    "selfseq.classify/v1": "daba789824d9c3f7",
    "selfseq.rewrite/v1": "8b4b1e8dbae4b7d3",
    "selfseq.validate/v1": "032736e84651336c",
    "selfseq.check/v1": "312110eeef70c415",
    "taskdriven.paraphrase/v1": "58c644f27dbf6212",
    "taskdriven.translate/v1": "968174960fcd5961",
}


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def test_prompt_wording_is_pinned_to_its_version():
    texts = {
        prompts.VERSIONS["extract"]: [prompts.EXTRACT_SYSTEM, prompts.EXTRACT_SHOTS],
        prompts.VERSIONS["classify"]: [prompts.CLASSIFY_SYSTEM, prompts.CLASSIFY_SHOTS],
        prompts.VERSIONS["rewrite"]: [prompts.REWRITE_RULES, prompts.REWRITE_GOALS, prompts.REWRITE_SHOTS],
        prompts.VERSIONS["validate"]: [prompts.VALIDATE_SYSTEM, prompts.VALIDATE_SHOTS],
        prompts.VERSIONS["check"]: [prompts.CHECK_SYSTEM, prompts.CHECK_SHOTS],
        td.VERSIONS["paraphrase"]: td.paraphrase_messages("X"),
        td.VERSIONS["translate"]: td.translate_messages("X", "de"),
    }
    assert {k: _hash(v) for k, v in texts.items()} == PINNED


def test_control_prompts_ask_for_json_and_end_with_the_target():
    rng = random.Random(0)
    for msgs in (
        prompts.extract_messages("Write a poem.", rng),
        prompts.classify_messages("Write a poem.", "", rng),
        prompts.rewrite_messages("C", "Write a poem.", "", rng),
        prompts.validate_messages("Write a poem.", "Write a poem, then title it.", "", rng),
        prompts.check_messages("Write a poem, then title it.", "", "A poem. Title: Rain", rng),
    ):
        assert msgs[0]["role"] == "system" and "JSON object" in msgs[0]["content"]
        assert msgs[-1]["role"] == "user" and "Write a poem" in msgs[-1]["content"]
        assert [m["role"] for m in msgs[1:-1]] == ["user", "assistant"] * ((len(msgs) - 2) // 2)
        for shot_answer in msgs[2:-1:2]:  # every few-shot answer is a JSON object
            assert isinstance(json.loads(shot_answer["content"]), dict)


def test_few_shot_order_depends_only_on_the_rng_seed():
    a = prompts.classify_messages("Write a poem.", "", random.Random("s1"))
    b = prompts.classify_messages("Write a poem.", "", random.Random("s1"))
    orders = {
        tuple(m["content"] for m in prompts.classify_messages("x", "", random.Random(i))[1::2])
        for i in range(20)
    }
    assert a == b and len(orders) > 5


def test_long_inputs_are_clipped_for_control_steps_but_not_for_respond():
    long_input = "word " * 1000
    msgs = prompts.classify_messages("Summarize the text.", long_input, random.Random(0), max_input_chars=100)
    assert "more characters not shown]" in msgs[-1]["content"] and len(msgs[-1]["content"]) < 400
    respond = prompts.respond_messages("", "Summarize the text.", long_input)
    assert respond == [{"role": "user", "content": "Summarize the text.\n\n" + long_input}]


@pytest.mark.parametrize("option", ["D", "E", ""])
def test_rewrite_prompt_exists_only_for_a_b_c(option):
    with pytest.raises(AssertionError):
        prompts.rewrite_messages(option, "x", "", random.Random(0))


def test_respond_keeps_the_system_prompt():
    assert prompts.respond_messages("You are terse.", "Hi", "")[0] == {
        "role": "system",
        "content": "You are terse.",
    }
