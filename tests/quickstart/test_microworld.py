"""Micro-world model side: the tokenizer, the saved base model, and the product encoder's loss mask on it."""

from __future__ import annotations

import json
import random

import pytest

from seqit.chains.sampling import Chain, letters_sampler, sample_chains
from seqit.chains.steps import Step
from seqit.generate.microworld import EXTRA_MICRO_OPS, MICRO_OPS, MICRO_PHRASES, chain_messages
from seqit.quickstart.microworld import build_micro_tokenizer, main, save_micro_model
from seqit.train.encode import encode_messages


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
    chains = sample_chains(random.Random(0), 100, MICRO_OPS, (1, 2, 3), letters_sampler(3, 6))
    for c in chains:
        ids = tok.apply_chat_template(chain_messages(c), tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) else ids
        assert tok.unk_token_id not in ids


def test_seqit_train_encoder_trains_exactly_the_answer_and_its_end_token(tok):
    chain = Chain("abc", (Step("reverse_text"), Step("uppercase")), (0, 0), 0)
    ex = encode_messages(tok, chain_messages(chain), 256, ["<|end|>"])
    trained = [i for i, t in zip(ex.input_ids, ex.trained, strict=True) if t]
    assert tok.decode(trained) == "Step 1 (Reverse): cba\nStep 2 (Uppercase): CBA<|end|>"


def test_save_micro_model_writes_a_loadable_model_dir(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert main([str(tmp_path / "m"), "--hidden-size", "16", "--intermediate-size", "32", "--layers", "1",
                 "--heads", "2"]) == 0
    shape = json.loads((tmp_path / "m" / "micro_model.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert model.config.hidden_size == 16 and shape["parameters"] == sum(p.numel() for p in model.parameters())
    assert AutoTokenizer.from_pretrained(tmp_path / "m").decode([5]) == build_micro_tokenizer().decode([5])
    a = save_micro_model(tmp_path / "a", 16, 32, 1, 2, seed=0)
    b = save_micro_model(tmp_path / "b", 16, 32, 1, 2, seed=0)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
