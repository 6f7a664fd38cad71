"""The chain generator: hold-outs never leak into training, inputs are split, rendering is exact."""

from __future__ import annotations

import random

import pytest

from seqit.chains.sampling import (
    PLAIN_TEMPLATES,
    Chain,
    adjacent_pairs,
    choose_heldout_pairs,
    compatible_pairs,
    has_heldout_pair,
    is_eval_input,
    letters_sampler,
    mixed_sampler,
    render_answer,
    render_prompt,
    sample_chains,
)
from seqit.chains.steps import STEP_TYPES, TEXT, Step
from seqit.quickstart.microworld import MICRO_OPS


@pytest.fixture(scope="module")
def heldout():
    return choose_heldout_pairs(random.Random(0), MICRO_OPS, TEXT, 0.25)


def test_heldout_pairs_are_a_quarter_and_every_op_is_still_trained_on_both_sides(heldout):
    pairs = compatible_pairs(MICRO_OPS, TEXT)
    assert len(pairs) == len(MICRO_OPS) * (len(MICRO_OPS) - 1)
    assert abs(len(heldout) - 0.25 * len(pairs)) <= 1
    seen = [p for p in pairs if p not in heldout]
    assert {a for a, _ in seen} == set(MICRO_OPS) == {b for _, b in seen}


@pytest.mark.parametrize("lengths", [(1,), (2,), (2, 3), (3, 4, 5)])
def test_training_chains_never_contain_a_heldout_pair_or_an_eval_input(heldout, lengths):
    chains = sample_chains(random.Random(1), 300, MICRO_OPS, lengths, letters_sampler(3, 6), heldout, "train")
    assert len(chains) == 300
    assert not any(has_heldout_pair(c.composition, heldout) for c in chains)
    assert not any(is_eval_input(c.input) for c in chains)
    assert {len(c.steps) for c in chains} == set(lengths)


def test_unseen_chains_start_with_a_heldout_pair_and_use_eval_inputs(heldout):
    chains = sample_chains(random.Random(2), 200, MICRO_OPS, (2, 3), letters_sampler(3, 6), heldout, "unseen")
    assert all(adjacent_pairs(c.composition)[0] in heldout for c in chains)
    assert all(is_eval_input(c.input) for c in chains)
    assert len({c.composition[:2] for c in chains}) > len(heldout) // 2  # covers many held-out pairs


def test_seen_eval_chains_use_only_trained_pairs_and_eval_inputs(heldout):
    chains = sample_chains(random.Random(3), 200, MICRO_OPS, (2, 3, 4), letters_sampler(3, 6), heldout, "seen")
    assert all(is_eval_input(c.input) and not has_heldout_pair(c.composition, heldout) for c in chains)


def test_chains_have_no_noop_steps_and_no_immediate_repeats():
    chains = sample_chains(random.Random(4), 300, tuple(STEP_TYPES), (1, 2, 3, 4), mixed_sampler())
    for c in chains:
        values = [c.input, *c.results()]
        assert all(a != b for a, b in zip(values, values[1:], strict=False))
        assert all(a != b for a, b in adjacent_pairs(c.composition))


def test_generation_is_deterministic_for_a_seed(heldout):
    a = sample_chains(random.Random(7), 50, MICRO_OPS, (1, 2, 3), letters_sampler(3, 6), heldout)
    b = sample_chains(random.Random(7), 50, MICRO_OPS, (1, 2, 3), letters_sampler(3, 6), heldout)
    assert a == b


def test_unseen_split_needs_heldout_pairs():
    with pytest.raises(ValueError, match="held-out"):
        sample_chains(random.Random(0), 1, MICRO_OPS, (2,), letters_sampler(3, 6), frozenset(), "unseen")


def test_render_prompt_and_answer_list_every_step_and_result():
    chain = Chain("abc", (Step("reverse_text"), Step("first_k_letters", (("k", 2),))), (0, 1), template=0)
    assert render_prompt(chain) == "Input: abc\n1. reverse the letters\n2. take the first 2 letters"
    assert render_answer(chain) == "Step 1: cba\nStep 2: cb"
    assert render_prompt(Chain("abc", chain.steps, (0, 1), template=1)).startswith("1. reverse")
    assert len(PLAIN_TEMPLATES) >= 3


def test_chain_round_trips_through_a_dict():
    chain = Chain(["a", "b"], (Step("join_with", (("sep", "-"),)),), (2,), 1)
    assert Chain.from_dict(chain.to_dict()) == chain
