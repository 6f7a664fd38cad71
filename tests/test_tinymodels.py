"""The in-process tiny model: builds offline, round-trips text, reloads from safetensors, generates."""

from __future__ import annotations


def test_byte_tokenizer_round_trips_any_text():
    from seqit.tinymodels import build_byte_tokenizer

    tok = build_byte_tokenizer()
    text = "Grüße, 世界! <b>tabs\tand\nnewlines</b> 🙂"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert tok.convert_ids_to_tokens(tok.eos_token_id) == "<|end|>"


def test_saved_tiny_model_reloads_and_generates_deterministically(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (tiny_model_dir / "model.safetensors").exists()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        a = model.generate(**ids, max_new_tokens=5, do_sample=False)
        b = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert torch.equal(a, b) and a.shape[1] > ids["input_ids"].shape[1]
