import os
from pathlib import Path

import pytest

from seqit.templates import NAMED_TEMPLATES, install_template
from seqit.tinymodels import build_byte_tokenizer
from seqit.train.encode import encode_messages, mark_trained, render_prompt, stop_strings

GOLDEN = Path(__file__).parent / "golden"
CONVO = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Now name a fruit, then make it plural."},
    {"role": "assistant", "content": "Apple, then apples."},
]
# Renders earlier assistant turns differently from the last one (like Qwen3 dropping reasoning):
# not prefix-preserving, so masks cannot come from prefix token lengths.
NON_PREFIX = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' and not loop.last %}<|assistant|>\n{{ m['content'].split('</think>')[-1] | trim }}<|end|>\n"
    "{% else %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _tok(name):
    tok = build_byte_tokenizer()
    install_template(tok, name)
    return tok


@pytest.mark.parametrize("name", ["tokenizer", *NAMED_TEMPLATES])
def test_encoding_matches_golden_render_with_trained_spans(name):
    tok = _tok(name)
    ex = encode_messages(tok, CONVO, 1024, stop_strings(tok, name))
    text = mark_trained(tok, ex)
    path = GOLDEN / f"encode_{name}.txt"
    if os.environ.get("SEQIT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    # both assistant turns and their end-of-turn marker are trained, nothing else
    assert text.count("[[") == 2
    assert "[[Blue." in text and "[[Apple, then apples." in text
    stop = stop_strings(tok, name)[-1]
    assert all(seg.split("]]")[0].endswith(stop) for seg in text.split("[[")[1:])


@pytest.mark.parametrize("name", ["tokenizer", *NAMED_TEMPLATES])
def test_training_prefix_equals_the_inference_prompt(name):
    tok = _tok(name)
    ex = encode_messages(tok, CONVO, 1024, stop_strings(tok, name))
    prompt = render_prompt(tok, CONVO[:-1])
    assert ex.input_ids[: len(prompt)] == prompt
    assert not any(ex.trained[len(prompt) - 1 : len(prompt)])  # the header is not trained
    assert ex.trained[len(prompt)]  # the response starts right after it


def test_non_prefix_preserving_template_trains_every_assistant_turn():
    tok = build_byte_tokenizer(chat_template=NON_PREFIX)
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "<think>hmm</think>a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "<think>ok</think>a2"},
    ]
    ex = encode_messages(tok, msgs, 1024, stop_strings(tok, None))
    text = mark_trained(tok, ex)
    assert text == "<|user|>\nq1<|end|>\n<|assistant|>\n[[a1<|end|>]]\n<|user|>\nq2<|end|>\n<|assistant|>\n[[<think>ok</think>a2<|end|>]]\n"
    assert ex.turns_unlocated == 0


def test_truncation_drops_responses_it_cuts_away_and_counts_them():
    tok = _tok("tulu")
    full = encode_messages(tok, CONVO, 1024)
    first_resp = full.trained.index(True)
    ex = encode_messages(tok, CONVO, first_resp + 3)
    assert ex.truncated and ex.turns_truncated_away == 1 and ex.n_trained == 3
    ex0 = encode_messages(tok, CONVO, first_resp)
    assert ex0.turns_truncated_away == 2 and ex0.n_trained == 0


def test_targets_are_next_tokens_only_where_trained():
    tok = _tok("tulu")
    ex = encode_messages(tok, CONVO[1:3], 1024)
    t = ex.targets()
    assert len(t) == len(ex.input_ids) and t[-1] == -100
    for i in range(len(t) - 1):
        assert t[i] == (ex.input_ids[i + 1] if ex.trained[i + 1] else -100)


def test_template_whose_prompt_is_not_a_prefix_is_refused():
    from seqit.errors import SeqitError

    tok = build_byte_tokenizer(chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}"
                               "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    with pytest.raises(SeqitError, match="not a prefix"):
        encode_messages(tok, CONVO[1:3], 1024)


def test_stop_strings_detect_the_templates_own_end_of_turn_token():
    # a Llama-3-Instruct-like tokenizer: turns end with <|eot|>, which is not the EOS token
    from tokenizers import AddedToken

    tok = build_byte_tokenizer(chat_template=(
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|eot|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"))
    tok.add_special_tokens({"additional_special_tokens": [AddedToken("<|eot|>", special=True)]})
    stops = stop_strings(tok, None)
    assert stops == ["<|end|>", "<|eot|>"]
    ex = encode_messages(tok, CONVO[1:3], 1024, stops)
    assert mark_trained(tok, ex).endswith("[[Blue.<|eot|>]]")
    assert stop_strings(build_byte_tokenizer(), None) == ["<|end|>"]
    from seqit.train.model import stop_token_ids

    # both markers become generation stop ids; a multi-token stop string (byte-level <|im_end|>) does not
    assert stop_token_ids(tok, stops) == [tok.eos_token_id, tok.convert_tokens_to_ids("<|eot|>")]
    assert stop_token_ids(tok, ["<|im_end|>"]) == []
