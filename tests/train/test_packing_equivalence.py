"""Packed rows give exactly the per-example loss: positions restart and attention never crosses examples."""

import pytest

from seqit.templates import install_template
from seqit.train.encode import encode_messages
from seqit.train.pack import build_row

torch = pytest.importorskip("torch")


class _CPU:  # the two Accelerator members _micro_loss uses, for a plain fp32 CPU forward
    device = torch.device("cpu")

    @staticmethod
    def autocast():
        import contextlib

        return contextlib.nullcontext()


def _examples(tok, n):
    import random

    r = random.Random(3)
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"item {i}: " + "ab " * r.randint(1, 20)},
                {"role": "assistant", "content": "yes " * r.randint(1, 6)}]
        ex = encode_messages(tok, msgs, 512)
        out.append((ex.input_ids, ex.targets()))
    return out


@pytest.mark.parametrize("attn", ["sdpa", "eager", "seqit_varlen"])
def test_packed_loss_equals_unpacked_loss(attn):
    from seqit.tinymodels import build_byte_tokenizer, build_tiny_llama
    from seqit.train.loop import _micro_loss

    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    model = build_tiny_llama(len(tok), hidden_size=32, intermediate_size=64, tokenizer=tok, seed=1)
    from seqit.train.attention import VARLEN, register

    register()
    model.set_attn_implementation(attn)
    varlen = attn in VARLEN
    model.eval()
    exs = _examples(tok, 6)
    pad = tok.pad_token_id
    with torch.no_grad():
        unpacked = sum(_micro_loss(_CPU, model, [build_row([e], pad)], pad, False)[0].item() for e in exs)
        packed_rows = [build_row(exs[:4], pad, 400), build_row(exs[4:], pad, 400)]
        packed = _micro_loss(_CPU, model, packed_rows, pad, varlen)[0].item()
        # the same row with continuous positions (naive packing) attends across examples: a different loss
        naive = build_row(exs[:4], pad, 400)
        naive.position_ids = list(range(400))
        naive_loss = _micro_loss(_CPU, model, [naive, packed_rows[1]], pad, False)[0].item()
    assert packed == pytest.approx(unpacked, rel=1e-4)  # measured: ~1e-8
    assert abs(naive_loss - unpacked) / unpacked > 1e-4


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_rows_padded_to_a_common_width_give_each_examples_own_loss(attn):
    """One example per row, rows of different lengths padded to the longest: the tail padding counts
    positions on (a plain 0..n-1 row keeps sdpa's causal fast path) and changes no loss."""
    from seqit.tinymodels import build_byte_tokenizer, build_tiny_llama
    from seqit.train.loop import _micro_loss, _positions

    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    model = build_tiny_llama(len(tok), hidden_size=32, intermediate_size=64, tokenizer=tok, seed=1)
    model.set_attn_implementation(attn)
    model.eval()
    pad = tok.pad_token_id
    rows = [build_row([e], pad) for e in _examples(tok, 5)]
    assert len({len(r.input_ids) for r in rows}) > 1  # the batch really pads
    with torch.no_grad():
        alone = sum(_micro_loss(_CPU, model, [r], pad, False)[0].item() for r in rows)
        batched = _micro_loss(_CPU, model, rows, pad, False)[0].item()
    assert batched == pytest.approx(alone, rel=1e-4)
    width = max(len(r.input_ids) for r in rows)
    short = min(rows, key=lambda r: len(r.input_ids))
    assert _positions(build_row([(short.input_ids, short.targets)], pad, width), short) == list(range(width))
