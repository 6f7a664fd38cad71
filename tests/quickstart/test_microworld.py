"""Micro-world pieces: the tokenizer, the loss mask, batching and the schedule."""

from __future__ import annotations

import random

import pytest

from seqit.chains.sampling import Chain, letters_sampler, sample_chains
from seqit.chains.steps import Step
from seqit.quickstart.microworld import (
    EXTRA_MICRO_OPS,
    MICRO_OPS,
    MICRO_PHRASES,
    build_micro_tokenizer,
    chain_messages,
    encode_messages,
    lr_at,
    make_batches,
)


@pytest.fixture(scope="module")
def tok():
    return build_micro_tokenizer()


@pytest.mark.parametrize("text", ["Input: abc\n1. Reverse It", "Step 1: ABC", "Endx Reversed tpk", "a-b+c/d_e 12!?"])
def test_micro_tokenizer_round_trips_any_text(tok, text):
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_title_words_are_single_tokens_and_values_are_characters(tok):
    pieces = [tok.decode([i]) for i in tok("1. Swap Ends\nStep 1: kpt", add_special_tokens=False)["input_ids"]]
    assert pieces == ["1", ".", " Swap", " Ends", "\n", "Step", " ", "1", ":", " ", "k", "p", "t"]


def test_every_micro_op_has_three_phrasings_and_no_unknown_tokens(tok):
    assert all(len(set(MICRO_PHRASES[op])) >= 3 for op in MICRO_OPS + EXTRA_MICRO_OPS)
    chains = sample_chains(random.Random(0), 200, MICRO_OPS, (1, 2, 3), letters_sampler(3, 6))
    for e in encode_messages(tok, [chain_messages(c) for c in chains]):
        assert tok.unk_token_id not in e.input_ids


def test_loss_mask_covers_exactly_the_answer_and_its_end_token(tok):
    chain = Chain("abc", (Step("reverse_text"), Step("uppercase")), (0, 0), 0)
    (e,) = encode_messages(tok, [chain_messages(chain)])
    trained = [i for i, lab in zip(e.input_ids, e.labels, strict=True) if lab != -100]
    assert tok.decode(trained) == "Step 1: cba\nStep 2: CBA<|end|>"
    assert e.input_ids[-1] == tok.eos_token_id


@pytest.mark.parametrize("ordered", [False, True])
def test_make_batches_gives_exactly_the_requested_steps(tok, ordered):
    chains = sample_chains(random.Random(0), 50, MICRO_OPS, (1, 2), letters_sampler(3, 6))
    enc = encode_messages(tok, [chain_messages(c) for c in chains])
    batches = make_batches(enc, 8, 20, random.Random(0), ordered=ordered)
    assert len(batches) == 20 and all(1 <= len(b) <= 8 for b in batches)
    if ordered:  # the curriculum order is kept
        assert [e for b in batches[:6] for e in b][:48] == enc[:48]


@pytest.mark.parametrize("step,expected", [(0, 0.1), (9, 1.0), (10, 1.0), (100, 0.1)])
def test_lr_warms_up_then_decays_to_a_tenth(step, expected):
    assert lr_at(step, 100, 1.0, 10) == pytest.approx(expected, abs=1e-3)
