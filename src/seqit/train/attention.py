"""Padding-free attention for packed sequences on any device: `attn_implementation: seqit_varlen`.

A micro-batch is flattened into one sequence of whole examples; `cu_seq_lens_q` (the same kwarg
flash-attention's varlen path uses) marks where each example starts. Each example attends only to
itself through one causal SDPA call per example, so the cost is sum(len_i^2) instead of the
(sum len_i)^2 of a block-diagonal mask, and no mask tensor is ever built. Registered with
transformers' AttentionInterface (no mask function is registered, so transformers builds none).
"""

from __future__ import annotations

from typing import Any

NAME = "seqit_varlen"
VARLEN = (NAME, "flash_attention_2", "flash_attention_3")  # implementations fed flattened rows


def varlen_sdpa(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
    scaling: float | None = None, cu_seq_lens_q: Any = None, **kwargs: Any,
) -> tuple[Any, None]:
    """query (B, H, T, D), key/value (B, Hkv, T, D) -> (B, T, H, D); causal within each example."""
    import torch
    import torch.nn.functional as F

    t = query.shape[2]
    bounds = cu_seq_lens_q.tolist() if cu_seq_lens_q is not None else [0, t]
    gqa = key.shape[1] != query.shape[1]
    outs = [
        F.scaled_dot_product_attention(
            query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], dropout_p=dropout, is_causal=True,
            scale=scaling, enable_gqa=gqa,
        )
        for s, e in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> None:
    """Make `attn_implementation="seqit_varlen"` known to transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_sdpa)
