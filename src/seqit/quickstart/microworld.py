"""The micro-world: letter-string steps, a tokenizer built in-process (Title-Case words + characters), a
tiny Llama trained from scratch on CPU, and batched greedy evaluation. `seqit.quickstart.run` runs it.

Training here is a small explicit loop (chat template rendering, loss on the assistant answer + its end
token only): the demo needs ~3000 tiny optimizer steps per arm in 2-3 minutes, with length-bucketed
batches and nothing else per step (seqit.train.run_train adds packing, checkpoints and preflight that
real runs want and this one does not).
"""

from __future__ import annotations

import logging
import math
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.chains.sampling import Chain, render_answer, render_prompt
from seqit.tinymodels import SPECIAL_TOKENS, TINY_CHAT_TEMPLATE

log = logging.getLogger(__name__)

# Closed over letter strings, so any composition is valid. Six ops are what a 2-layer model learns
# within the demo's budget (see docs/chains.md, experiment log); the others are slower to learn.
MICRO_OPS = (
    "reverse_text",
    "rotate_left",
    "swap_ends",
    "shift_letters",
    "first_k_letters",
    "last_k_letters",
)
# Also phrased for the micro-world (pass them as `ops=[...]` to the quickstart): slower to learn.
EXTRA_MICRO_OPS = ("uppercase", "lowercase", "double_letters", "replace_letter", "sort_letters", "remove_vowels",
                   "dedupe_letters")
# Short Title-Case phrasings (3 per op). The micro-world tokenizer reads a Title-Case word as one token
# and everything else (values: all-lowercase or all-uppercase letters) one character at a time, so
# prompts are short: sequence length is most of the demo's training compute.
MICRO_PHRASES: dict[str, tuple[str, ...]] = {
    "reverse_text": ("Reverse", "Reverse It", "Write Backwards"),
    "rotate_left": ("Rotate Left", "First Letter To End", "Rotate By One"),
    "swap_ends": ("Swap Ends", "Swap First And Last", "Exchange The Ends"),
    "shift_letters": ("Shift Letters", "Next Letter Each", "Shift By One"),
    "uppercase": ("Uppercase", "To Upper Case", "Capitalize All"),
    "lowercase": ("Lowercase", "To Lower Case", "Make Small"),
    "double_letters": ("Double Letters", "Double Each Letter", "Repeat Each Letter"),
    "first_k_letters": ("First {k}", "Keep First {k}", "Take {k} From Start"),
    "last_k_letters": ("Last {k}", "Keep Last {k}", "Take {k} From End"),
    "replace_letter": ("Replace {a} With {b}", "Turn {a} Into {b}", "Change {a} To {b}"),
    "sort_letters": ("Sort", "Sort Letters", "Alphabetical Order"),
    "remove_vowels": ("Drop Vowels", "Remove Vowels", "No Vowels"),
    "dedupe_letters": ("Dedupe", "Drop Repeats", "Unique Letters"),
}
MICRO_TEMPLATES = ("Input: {input}\n{steps}", "{steps}\nInput: {input}", "Do In Order:\n{steps}\nInput: {input}")
TITLE_WORD = r" ?[A-Z][a-z]+"
CHAR_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"


def micro_words() -> list[str]:
    """Every Title-Case word of the micro-world's phrasings and templates, with and without a leading space."""
    text = " ".join([*MICRO_TEMPLATES, "Step", *(p for ps in MICRO_PHRASES.values() for p in ps)])
    words = sorted(set(re.findall(r"[A-Z][a-z]+", text)))
    return words + [" " + w for w in words]


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


def chain_messages(chain: Chain) -> list[dict[str, str]]:
    return [{"role": "user", "content": render_prompt(chain, MICRO_TEMPLATES, MICRO_PHRASES)},
            {"role": "assistant", "content": render_answer(chain)}]


def chain_record(chain: Chain, rid: str, arm: str) -> dict[str, Any]:
    """A seqit conversation record for a micro-world chain."""
    names = list(chain.composition)
    return {
        "id": rid,
        "messages": chain_messages(chain),
        "meta": {"source": "microworld", "kind": "sit" if len(names) > 1 else "it", "arm": arm,
                 "depth": len(names), "steps": names, "chain": chain.to_dict()},
    }


# ---- encoding (pure given a tokenizer) ---------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 outside the assistant answer (+ its end token)


def encode_messages(tok: Any, conversations: Sequence[list[dict[str, str]]]) -> list[Encoded]:
    """Render with the chat template; train only the assistant content and the end token after it."""
    prompts = tok.apply_chat_template([c[:-1] for c in conversations], tokenize=False, add_generation_prompt=True)
    fulls = tok.apply_chat_template(list(conversations), tokenize=False)
    p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    f_ids = tok(fulls, add_special_tokens=False)["input_ids"]
    out = []
    for p, f in zip(p_ids, f_ids, strict=False):
        assert f[: len(p)] == p, "chat template is not prefix-preserving"
        end = len(f)
        while f[end - 1] != tok.eos_token_id:  # drop what follows the answer's end token
            end -= 1
        ids = f[:end]
        out.append(Encoded(ids, [-100] * len(p) + ids[len(p):]))
    return out


def collate(batch: Sequence[Encoded], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-padded (input_ids, attention_mask, labels) tensors."""
    import torch

    T = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    labels = torch.full((len(batch), T), -100, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(e.labels)
    return ids, mask, labels


def lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    """Linear warmup then cosine decay to 10% of `lr`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ---- training -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    warmup: int
    seed: int


def train_model(
    model: Any,
    batches: Sequence[Sequence[Encoded]],
    settings: TrainSettings,
    pad_id: int,
    on_step: Callable[[int, float], None] | None = None,
) -> list[dict[str, float]]:
    """Train in place on the given batches (one optimizer step each); returns per-step metrics."""
    import torch

    torch.manual_seed(settings.seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01, betas=(0.9, 0.98))
    history = []
    t0, c0 = time.monotonic(), time.process_time()
    for step, batch in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, len(batches), settings.lr, settings.warmup)
        ids, mask, labels = collate(batch, pad_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        history.append({"step": step + 1, "loss": round(loss.item(), 5), "grad_norm": round(float(grad_norm), 4),
                        "lr": opt.param_groups[0]["lr"], "tokens": int(mask.sum()), "elapsed_s": round(time.monotonic() - t0, 2),
                        "cpu_s": round(time.process_time() - c0, 2)})
        if on_step:
            on_step(step + 1, loss.item())
    model.eval()
    return history


def make_batches(encoded: Sequence[Encoded], batch_size: int, steps: int, rng: random.Random,
                 ordered: bool = False, bucket: int = 8) -> list[list[Encoded]]:
    """`steps` batches drawn epoch by epoch. Shuffled mode groups each window of `bucket` batches by
    length (less padding = less compute), then shuffles the batches; ordered mode (phased curricula)
    keeps the given order."""
    batches: list[list[Encoded]] = []
    order: list[int] = []
    while len(batches) < steps:
        if not order:
            order = list(range(len(encoded)))
            if not ordered:
                rng.shuffle(order)
        window, order = order[: batch_size * (1 if ordered else bucket)], order[batch_size * (1 if ordered else bucket):]
        if not ordered:
            window.sort(key=lambda i: len(encoded[i].input_ids))
        chunk = [[encoded[i] for i in window[j:j + batch_size]] for j in range(0, len(window), batch_size)]
        if not ordered:
            rng.shuffle(chunk)
        batches.extend(chunk)
    return batches[:steps]


# ---- greedy decoding --------------------------------------------------------------------------------


def greedy_generate(model: Any, tok: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 128) -> list[str]:
    """Batched greedy decoding (left padding) of chat prompts; returns the assistant texts."""
    import torch

    convs = [[{"role": "user", "content": p}] for p in prompts]
    texts = tok.apply_chat_template(convs, tokenize=False, add_generation_prompt=True)
    tok.padding_side = "left"
    outputs: list[str] = []
    # Similar lengths together means less padding; results are put back in input order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    by_index: dict[int, str] = {}
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tok([texts[i] for i in idx], add_special_tokens=False, return_tensors="pt", padding=True)
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            for i, row in zip(idx, new, strict=False):
                by_index[i] = tok.decode(row, skip_special_tokens=True)
    outputs = [by_index[i] for i in range(len(texts))]
    return outputs


def save_model(model: Any, tok: Any, out_dir: Path, meta: dict[str, Any]) -> Path:
    """Save weights (safetensors) + tokenizer + meta.json."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out_dir
