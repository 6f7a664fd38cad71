"""Loss-based difficulty proxies from a small local model.

`loss`: mean negative log-likelihood per token of the assistant's final reply given the prompt,
rendered with the chat template. A PROXY (not a judge score): it mixes difficulty with style and with
how well the model knows the domain.

`ifd` (instruction-following difficulty, Cherry-LLM / Superfiltering): the reply's mean loss given the
instruction divided by its mean loss without it. "Without" renders the same template with the user
turn emptied (and earlier turns dropped), so both losses cover exactly the same reply tokens behind the
same role headers and only the instruction differs. IFD near 1 = the instruction barely helps predict
the reply (hard to follow, or misaligned when > 1); low = the reply follows easily from the instruction.
torch/transformers are imported only when this runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from seqit.errors import SeqitError, require
from seqit.records import Record
from seqit.templates import install_template

log = logging.getLogger(__name__)


def response_losses(
    records: list[Record],
    model_dir: str | None,
    template: str | None,
    max_length: int,
    device: str = "cpu",
    tick: Callable[[], None] | None = None,
) -> list[float | str]:
    """Mean NLL (nats/token) of each record's final reply, or a reason string when it cannot be computed.

    `tick` is called after each record (progress bars)."""
    return _per_record("loss", _one_loss, records, model_dir, template, max_length, device, tick)


def ifd_values(
    records: list[Record],
    model_dir: str | None,
    template: str | None,
    max_length: int,
    device: str = "cpu",
    tick: Callable[[], None] | None = None,
) -> list[dict[str, float] | str]:
    """Per record {"ifd", "loss_given_instruction", "loss_alone"}, or a reason string when not computable."""
    return _per_record("ifd", _one_ifd, records, model_dir, template, max_length, device, tick)


def _per_record(kind: str, one: Callable[..., Any], records: list[Record], model_dir: str | None,
                template: str | None, max_length: int, device: str, tick: Callable[[], None] | None) -> list[Any]:
    """Load the local model once, then `one(torch, tok, model, record, max_length, device)` per record."""
    torch = require("torch", "train", f"the {kind} proxy scorer")
    if not model_dir:
        raise SeqitError(f"proxy.kind={kind} needs proxy.model: a local model directory")
    tok, model = _load(model_dir, template, device)
    out: list[Any] = []
    with torch.no_grad():
        for r in records:
            out.append(one(torch, tok, model, r, max_length, device))
            if tick is not None:
                tick()
    return out


def _load(model_dir: str, template: str | None, device: str) -> tuple[Any, Any]:
    transformers = require("transformers", "train", "the loss proxy scorers")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    install_template(tok, template)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=False).to(device)
    return tok, model.eval()


def answer_alone(record: Record) -> Record | str:
    """The record's final reply behind an empty user turn (the IFD denominator), or why there is none."""
    reply = record.response
    if not reply:
        return "no final assistant reply to score"
    return Record(record.id, [{"role": "user", "content": ""}, {"role": "assistant", "content": reply}], {})


def ifd_from_losses(given: float, alone: float) -> dict[str, float] | str:
    """IFD = loss(answer | instruction) / loss(answer alone) (pure)."""
    if alone <= 0:
        return "the reply alone has zero loss (IFD undefined)"
    return {"ifd": round(given / alone, 6), "loss_given_instruction": given, "loss_alone": alone}


def _one_ifd(torch: Any, tok: Any, model: Any, r: Record, max_length: int, device: str) -> dict[str, float] | str:
    alone_rec = answer_alone(r)
    if isinstance(alone_rec, str):
        return alone_rec
    given = _one_loss(torch, tok, model, r, max_length, device)
    if isinstance(given, str):
        return given
    alone = _one_loss(torch, tok, model, alone_rec, max_length, device)
    if isinstance(alone, str):
        return f"reply alone: {alone}"
    return ifd_from_losses(given, alone)


def split_ids(tok: Any, record: Record) -> tuple[list[int], int] | str:
    """(token ids of the whole conversation, number of prompt tokens), or why it cannot be split."""
    prompt = tok.apply_chat_template(record.prompt_messages, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(record.messages, tokenize=False)
    if not full.startswith(prompt):
        return "the chat template does not render the prompt as a prefix of the conversation"
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    f_ids = tok(full, add_special_tokens=False)["input_ids"]
    if f_ids[: len(p_ids)] != p_ids:
        return "prompt tokens are not a prefix of the conversation tokens"
    return f_ids, len(p_ids)


def _one_loss(torch: Any, tok: Any, model: Any, r: Record, max_length: int, device: str) -> float | str:
    split = split_ids(tok, r)
    if isinstance(split, str):
        return split
    ids, n_prompt = split
    ids = ids[:max_length]
    if len(ids) <= n_prompt:
        return f"the prompt alone fills max_length={max_length} tokens; no reply token left to score"
    x = torch.tensor([ids], device=device)
    logits = model(input_ids=x).logits[0, :-1]  # (T-1, V): position t predicts token t+1
    targets = x[0, 1:]
    nll = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
    return round(float(nll[n_prompt - 1 :].mean()), 6)
