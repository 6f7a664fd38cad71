"""Tiny tokenizers and random Llama models built in-process (no downloads), for tests, benchmarks
and the CPU micro-world. Byte-level, so any text round-trips.

    tok = build_byte_tokenizer()
    path = save_tiny_model(tmp_dir, tok, hidden_size=32, num_layers=2, seed=0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A plain role-marker chat template; `{% generation %}` is not needed: seqit computes masks itself.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "<|end|>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_byte_tokenizer(chat_template: str = TINY_CHAT_TEMPLATE, model_max_length: int = 2048) -> Any:
    """A byte-level BPE tokenizer with no merges: 256 byte tokens + role/special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIAL_TOKENS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )
    tok.chat_template = chat_template
    return tok


NOPE_FACTOR = 1e9  # linear RoPE scaling that switches positions off (see build_tiny_llama)


def build_tiny_llama(
    vocab_size: int,
    hidden_size: int = 32,
    intermediate_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    max_position_embeddings: int = 2048,
    seed: int = 0,
    tokenizer: Any | None = None,
    rope: bool = True,
) -> Any:
    """A randomly initialised LlamaForCausalLM (fp32) with a fixed seed. `rope=False` gives a model
    without positional encoding (NoPE) that is still a plain Llama checkpoint: linear RoPE scaling by
    1e9 makes every rotation angle ~0 over any usable context, so attention sees no positions."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    ids: dict[str, Any] = {}
    if tokenizer is not None:
        ids = {
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=False,
        **({} if rope else {"rope_parameters": {"rope_type": "linear", "factor": NOPE_FACTOR, "rope_theta": 10000.0}}),
        **ids,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if tokenizer is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def save_tiny_model(out_dir: str | Path, tokenizer: Any | None = None, **model_kwargs: Any) -> Path:
    """Build and save (safetensors) a tiny tokenizer + random Llama into `out_dir`; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else build_byte_tokenizer()
    model = build_tiny_llama(len(tok), tokenizer=tok, **model_kwargs)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out
