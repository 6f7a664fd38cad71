"""The per-seed Self-Seq chain against an in-process scripted teacher: every path ends in a record or a
reject with its stage and reason."""

from __future__ import annotations

import asyncio
import json

import pytest

from fakes.teacher_scripts import good_reply, stage_of, target_instruction
from seqit.generate.selfseq import prompts
from seqit.generate.selfseq.pipeline import Seed, SelfSeqSettings, run_seed
from seqit.teachers import BackendError, Completion, FakeBackend, TeacherConfig, Usage, open_teacher

SEED = Seed(
    id="s1",
    prompt="Name the largest planet in the solar system.",
    instruction="Name the largest planet in the solar system.",
)
SEED_WITH_INPUT = Seed(
    id="s2",
    prompt="Summarize the text in one sentence.\n\nThe council approved 12 new bike lanes on Monday.",
    instruction="Summarize the text in one sentence.",
    input="The council approved 12 new bike lanes on Monday.",
)


def run(seed: Seed, reply, **settings):
    fake = FakeBackend(reply)

    async def go():
        async with open_teacher(TeacherConfig(backend="fake", model="teacher-x"), backend=fake) as teacher:
            return await run_seed(seed, teacher, SelfSeqSettings(**settings))

    return asyncio.run(go()), fake


def scripted(overrides: dict):
    """good_reply, except stages (or (stage, round) pairs via request id) listed in overrides."""

    def reply(req):
        stage = stage_of(list(req.messages))
        rnd = req.id.rsplit(":r", 1)[-1]
        for key in (f"{stage}:r{rnd}", stage):
            if key in overrides:
                v = overrides[key]
                return v(req) if callable(v) else v
        return good_reply(list(req.messages))

    return reply


def test_option_d_in_round_one_keeps_the_seed_and_reuses_the_it_answer():
    out, fake = run(SEED, scripted({"classify": '{"option": "D", "reason": "simple fact"}'}))
    assert [stage_of(list(r.messages)) for r in fake.calls] == ["respond", "classify"]
    assert out.sit["meta"]["option"] == "D" and out.sit["meta"]["depth"] == 0
    assert out.sit["messages"] == out.it["messages"]
    assert out.options == ["D"] and out.rejects == []


def test_option_d_without_it_baseline_answers_the_kept_instruction():
    out, fake = run(SEED, scripted({"classify": "D"}), it_baseline=False)
    assert [stage_of(list(r.messages)) for r in fake.calls] == ["classify", "respond"]
    assert out.it is None and out.sit["meta"]["depth"] == 0 and out.sit["id"] == "s1:sit:d0"


def test_two_rounds_record_depth_steps_options_and_provenance():
    out, _ = run(SEED, scripted({"classify:r2": "Option A is wrong here; I choose C."}), max_depth=2)
    meta = out.sit["meta"]
    assert meta["depth"] == 2 and meta["options"] == ["B", "C"] and meta["option"] == "C"
    assert len(meta["steps"]) == 3 and meta["steps"][0] == SEED.instruction
    assert out.sit["messages"][0]["content"] == meta["steps"][-1]
    assert meta["teacher_model"] == "fake" and meta["seed_id"] == "s1"  # fake replies: never the configured name
    assert meta["prompt_versions"]["classify"] == prompts.VERSIONS["classify"]
    assert out.sit["id"] == "s1:sit:d2"


def test_d_in_round_two_freezes_the_round_one_record():
    out, fake = run(SEED, scripted({}), max_depth=4)
    assert out.options == ["B", "D"]
    assert out.sit["meta"]["depth"] == 1
    assert sum(stage_of(list(r.messages)) == "classify" for r in fake.calls) == 2


@pytest.mark.parametrize(
    "overrides,stage,reason",
    [
        ({"classify": "Hmm, the U.S.A. has many planets?"}, "classify", "unparseable classification"),
        ({"classify": "THIS EVALUATION FAILED AFTER 5 ATTEMPTS."}, "classify", "unparseable classification"),
        ({"rewrite": "Let me think about how to extend this task."}, "rewrite", "missing"),
        (
            {"rewrite": '{"new_instruction": "Name the largest planet in the solar system."}'},
            "validate",
            "unchanged",
        ),
        (
            {"validate": '{"verdict": "fail", "reason": "the added step has no output"}'},
            "validate",
            "validator: the added step",
        ),
        ({"validate": "It looks okay-ish to me."}, "validate", "unparseable validator verdict"),
        ({"respond:r1": ""}, "respond", "empty response"),
        ({"respond:r1": "Jupiter " * 40}, "respond", "degenerate response"),
    ],
)
def test_round_one_failures_drop_the_seed_with_stage_and_reason(overrides, stage, reason):
    out, _ = run(SEED, scripted(overrides))
    assert out.sit is None and out.it is not None
    [rej] = out.rejects
    assert rej["stage"] == stage and rej["reason"].startswith(reason) and rej["detail"]["dropped"] is True


def test_rewrite_that_drops_numbers_of_the_original_is_rejected():
    seed = Seed(id="n", prompt="Sum 3 and 4.", instruction="Sum 3 and 4.")
    bad = '{"new_instruction": "First explain addition. Then add the two numbers."}'
    out, _ = run(seed, scripted({"rewrite": bad}))
    assert out.rejects[0]["stage"] == "validate"
    assert out.rejects[0]["reason"] == "drops key content of the original: 3, 4"


def test_round_two_failure_keeps_the_depth_one_record_and_logs_the_reject():
    out, _ = run(
        SEED,
        scripted({"classify:r2": '{"option": "A"}', "rewrite:r2": "#New Instruction#: N/A ###"}),
        max_depth=3,
    )
    assert out.sit["meta"]["depth"] == 1
    [rej] = out.rejects
    assert rej["stage"] == "rewrite" and rej["detail"]["round"] == 2 and rej["detail"]["dropped"] is False


def test_optional_response_check_rejects_answers_that_skip_a_task():
    fail = '{"reason": "the list of facts is missing", "verdict": "fail"}'
    out, fake = run(SEED, scripted({"check": fail}), llm_check_response=True)
    assert out.sit is None and out.rejects[0]["stage"] == "check"
    assert out.rejects[0]["reason"] == "response misses a task: the list of facts is missing"
    ok, fake = run(SEED, scripted({}), llm_check_response=True, max_depth=1)
    assert ok.sit["meta"]["depth"] == 1 and ok.sit["meta"]["prompt_versions"]["check"] == "selfseq.check/v1"
    assert [stage_of(list(r.messages)) for r in fake.calls][-1] == "check"


def test_truncated_response_is_rejected():
    def truncated(req):
        return Completion(req.id, ["Jupiter is the"], ["length"], Usage(10, 5), "teacher-x")

    out, _ = run(SEED, scripted({"respond:r1": truncated}))
    assert out.rejects[0]["reason"] == "truncated response (finish_reason=length)"


def test_teacher_errors_become_rejects_not_exceptions():
    out, _ = run(SEED, scripted({"classify": BackendError("400 bad request", retryable=False)}))
    assert out.sit is None
    assert out.rejects[0]["stage"] == "classify" and out.rejects[0]["reason"].startswith(
        "teacher error: 400 bad request"
    )
    assert out.retry, "a failed teacher call leaves the seed unfinished (retried on the next run)"


def test_it_reject_does_not_stop_the_sit_chain():
    out, _ = run(SEED, scripted({"respond:r0": "   "}))
    assert out.it is None and out.sit["meta"]["depth"] == 1
    assert out.rejects[0]["detail"]["kind"] == "it" and out.rejects[0]["reason"] == "empty response"


def test_input_is_sent_once_and_kept_out_of_the_rewrite():
    out, fake = run(SEED_WITH_INPUT, scripted({}), max_depth=1)
    user = out.sit["messages"][-2]["content"]
    assert user.count(SEED_WITH_INPUT.input) == 1 and user.endswith("\n\n" + SEED_WITH_INPUT.input)
    assert SEED_WITH_INPUT.input not in out.sit["meta"]["instruction"]
    responds = [r for r in fake.calls if stage_of(list(r.messages)) == "respond"]
    assert all(r.messages[-1]["content"].count(SEED_WITH_INPUT.input) == 1 for r in responds)


def test_extraction_splits_monolithic_prompts_before_classifying():
    seed = Seed(
        id="f1",
        prompt="Which of these is a mammal?\nOptions: (a) trout (b) dolphin (c) gecko",
        system="Be brief.",
    )
    out, fake = run(seed, scripted({}), max_depth=1)
    assert stage_of(list(fake.calls[1].messages)) == "extract"
    meta = out.sit["meta"]
    assert meta["input"] == "Options: (a) trout (b) dolphin (c) gecko"
    assert out.sit["messages"][0] == {"role": "system", "content": "Be brief."}


def test_unfaithful_extraction_is_rejected():
    bad = json.dumps({"instruction": "Pick the animal that is a mammal from a list.", "input": ""})
    seed = Seed(id="f2", prompt="Which of these is a mammal?\nOptions: (a) trout (b) dolphin (c) gecko")
    out, _ = run(seed, scripted({"extract": bad}))
    assert out.sit is None and out.rejects[0]["stage"] == "extract"


def test_control_steps_run_at_temperature_zero_with_json_mode_and_respond_uses_settings():
    _, fake = run(SEED, scripted({}), respond_temperature=0.9, respond_max_tokens=333)
    for req in fake.calls:
        if stage_of(list(req.messages)) == "respond":
            assert req.temperature == 0.9 and req.max_tokens == 333 and req.response_format is None
        else:
            assert req.temperature == 0.0 and req.response_format == {"type": "json_object"}
            assert req.prompt_version.startswith("selfseq.")


def test_prompts_are_reproducible_per_seed_and_cached_on_rerun():
    _, a = run(SEED, scripted({}))
    _, b = run(SEED, scripted({}))
    assert [r.messages for r in a.calls] == [r.messages for r in b.calls]
    assert target_instruction(list(a.calls[1].messages)) == SEED.instruction


def test_a_generic_prefix_rewrite_that_drops_the_task_is_a_validate_reject():
    generic = "First, list two key facts about the topic. Then, answer the original question using them."
    out, _ = run(SEED, scripted({"rewrite": json.dumps({"reason": "prefix", "new_instruction": generic})}))
    assert out.sit is None or out.sit["meta"]["depth"] == 0
    stages = [(r["stage"], r["reason"]) for r in out.rejects]
    assert any(st == "validate" and why.startswith("drops the original task: a prefix task") for st, why in stages), stages
