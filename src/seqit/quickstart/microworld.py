"""The micro-world's model side: a tokenizer built in-process (Title-Case words + characters) and a
random tiny Llama saved as an HF model dir, which `seqit train` then trains like any other model.

    python -m seqit.quickstart.microworld runs/quickstart/model --hidden-size 128 --layers 2

The data side (ops, phrasings, records) is `seqit generate` method `microworld`
(seqit.generate.microworld); training, evaluation and the report are the ordinary seqit stages.
"""

from __future__ import annotations

import argparse
import json
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqit.generate.microworld import (  # re-exported: the micro-world's ops live with its generate method
    EXTRA_MICRO_OPS,
    MICRO_OPS,
    MICRO_PHRASES,
    MICRO_TEMPLATES,
    chain_messages,
    micro_words,
)
from seqit.tinymodels import SPECIAL_TOKENS, TINY_CHAT_TEMPLATE

__all__ = ["CHAR_ALPHABET", "EXTRA_MICRO_OPS", "MICRO_OPS", "MICRO_PHRASES", "MICRO_TEMPLATES", "build_micro_tokenizer",
           "POSITIONS", "chain_messages", "main", "save_micro_model"]
TITLE_WORD = r" ?[A-Z][a-z]+"
POSITIONS = ("rope", "nope")  # positional encoding of the micro model: RoPE, or none (see tinymodels.build_tiny_llama)
CHAR_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"


def build_micro_tokenizer(alphabet: str = CHAR_ALPHABET, words: Sequence[str] | None = None,
                          chat_template: str = TINY_CHAT_TEMPLATE) -> Any:
    """Title-Case words are single tokens; every other character is its own token (plus the chat
    template's role/special tokens). Any text over `alphabet` round-trips."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for piece in [*alphabet, *(micro_words() if words is None else words)]:
        vocab.setdefault(piece, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Unknown Title-Case words would become <unk>: split them into characters instead.
    known = sorted((w for w in vocab if re.fullmatch(TITLE_WORD, w)), key=len, reverse=True)
    pattern = "|".join(re.escape(w) + r"(?![a-z])" for w in known) + r"|[\s\S]" if known else r"[\s\S]"
    core.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIAL_TOKENS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>", unk_token="<unk>",
        model_max_length=1024,
    )
    tok.chat_template = chat_template
    return tok


def save_micro_model(out_dir: str | Path, hidden_size: int = 128, intermediate_size: int = 256, num_layers: int = 2,
                     num_heads: int = 4, seed: int = 0, position: str = "rope") -> Path:
    """The quickstart's base model: micro tokenizer + a random tiny Llama (fp32, safetensors) in `out_dir`."""
    from seqit.tinymodels import build_tiny_llama

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_micro_tokenizer()
    model = build_tiny_llama(len(tok), hidden_size=hidden_size, intermediate_size=intermediate_size,
                             num_layers=num_layers, num_heads=num_heads, max_position_embeddings=1024, seed=seed,
                             tokenizer=tok, rope=position == "rope")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    shape = {"hidden_size": hidden_size, "intermediate_size": intermediate_size, "num_layers": num_layers,
             "num_heads": num_heads, "seed": seed, "position": position, "parameters": sum(p.numel() for p in model.parameters())}
    (out / "micro_model.json").write_text(json.dumps(shape, indent=1), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seqit.quickstart.microworld", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--intermediate-size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--position", choices=POSITIONS, default="rope",
                    help="positional encoding: rope, or none at all (nope)")
    a = ap.parse_args(argv)
    print(save_micro_model(a.out_dir, a.hidden_size, a.intermediate_size, a.layers, a.heads, a.seed, a.position))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
