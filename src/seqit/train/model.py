"""Model side of training: load tokenizer/model, apply full/LoRA/QLoRA, build AdamW, export HF dirs."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

from seqit.errors import ConfigError, MissingExtraError, SeqitError, require
from seqit.progress import quiet_library_bars
from seqit.train.config import LoraSettings, ModelConfig, OptimConfig

log = logging.getLogger(__name__)


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def model_path_problem(path: str, key: str = "model.path") -> str | None:
    """Why `path` cannot be a model (one line, at once), or None when it exists locally or looks like a hub id.

    A path that does not exist is local-looking (starts with '.', '/' or '~', has more than one separator,
    or its first component exists here) and fails at once; anything else must look like `owner/name` to be
    tried on the hub (so a placeholder like REPLACE_WITH_TINY_MODEL_DIR does not wait ~50 s on hub retries).
    """
    text = str(path).strip()
    if not text:
        return f"{key}: empty model path"
    local = Path(text).expanduser()
    if local.exists():
        return None
    parts = text.replace("\\", "/").split("/")
    looks_local = (
        text[0] in "./~" or "\\" in text or len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).exists())
    )
    if looks_local:
        return f"{key}: {text!r} does not exist (a local path: check it, or train/download the model first)"
    if not _HUB_ID.fullmatch(text):
        return (f"{key}: {text!r} is neither an existing local directory nor a hub id of the form owner/name")
    return None


def check_model_path(path: str, key: str = "model.path") -> None:
    if why := model_path_problem(path, key):
        raise ConfigError(why)


def load_tokenizer(mc: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    check_model_path(mc.path, "model.path")
    if mc.tokenizer:
        check_model_path(mc.tokenizer, "model.tokenizer")

    try:
        tok = AutoTokenizer.from_pretrained(mc.tokenizer or mc.path, trust_remote_code=mc.trust_remote_code)
    except OSError as e:
        raise SeqitError(f"model.path: cannot load a tokenizer from {mc.tokenizer or mc.path!r} ({e})") from None
    if not tok.is_fast:
        raise SeqitError("seqit needs a fast tokenizer (character offsets locate the trained spans)")
    if tok.pad_token is None:  # targets mark the loss explicitly, so pad == eos is safe here
        tok.pad_token = tok.eos_token
    return tok


def check_qlora_available() -> Any:
    """bitsandbytes + CUDA, or a clear error saying what is missing."""
    import torch

    if not torch.cuda.is_available():
        raise MissingExtraError(
            "method: qlora needs a CUDA GPU (bitsandbytes 4-bit kernels); none is visible. "
            "Use method: lora (or full) on CPU."
        )
    return require("bitsandbytes", "qlora", "method: qlora")


def load_model(mc: ModelConfig, method: str, lora: LoraSettings, vocab_size: int) -> Any:
    """The base model in the configured dtype, wrapped for LoRA/QLoRA (`method`) when asked."""
    import torch
    from transformers import AutoModelForCausalLM

    from seqit.train.attention import register

    register()
    kwargs: dict[str, Any] = {"dtype": getattr(torch, mc.dtype), "attn_implementation": mc.attn_implementation,
                              "trust_remote_code": mc.trust_remote_code}
    if method == "qlora":
        check_qlora_available()
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    try:
        with quiet_library_bars():
            model = AutoModelForCausalLM.from_pretrained(mc.path, **kwargs)
    except OSError as e:
        raise SeqitError(f"model.path: cannot load a model from {mc.path!r} ({e})") from None
    if vocab_size > model.get_input_embeddings().weight.shape[0]:  # grow only, never shrink
        model.resize_token_embeddings(vocab_size)
    model.config.use_cache = False
    if mc.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method == "full":
        return model
    peft = require("peft", "train", "method: lora")
    if method == "qlora":
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=mc.gradient_checkpointing)
    with warnings.catch_warnings():  # peft asks a deprecated transformers attribute: nothing a user can act on
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = peft.get_peft_model(model, peft.LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ))
    return model


def make_optimizer(model: Any, oc: OptimConfig) -> Any:
    """AdamW over trainable parameters; no weight decay on biases and norm weights (1-D tensors)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": oc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=oc.lr, betas=tuple(oc.betas), eps=oc.eps)


def stop_token_ids(tok: Any, stops: list[str]) -> list[int]:
    """Ids of the stop strings that are single tokens (for generation_config.eos_token_id)."""
    ids = []
    for s in stops:
        enc = tok(s, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] not in ids:
            ids.append(enc[0])
    return ids


def export_model(acc: Any, model: Any, tok: Any, out: Path, adapter: bool, merge: bool, stop_ids: list[int]) -> Path:
    """Save an HF model dir (safetensors + tokenizer with its chat template). `adapter` (LoRA/QLoRA): the
    adapter, or merged into the base weights when `merge`.

    generation_config.eos_token_id lists every single-token end-of-turn marker, so plain
    `model.generate` stops where training taught the model to stop.
    """
    with quiet_library_bars():
        return _export(acc, model, tok, out, adapter, merge, stop_ids)


def _export(acc: Any, model: Any, tok: Any, out: Path, adapter: bool, merge: bool, stop_ids: list[int]) -> Path:
    acc.wait_for_everyone()
    unwrapped = acc.unwrap_model(model)
    if stop_ids:  # PeftModel forwards generation_config to its base model
        unwrapped.generation_config.eos_token_id = stop_ids[0] if len(stop_ids) == 1 else stop_ids
    if adapter and merge:
        merged = unwrapped.merge_and_unload()  # training is over when merge is asked (final export)
        if acc.is_main_process:
            merged.save_pretrained(out)
    elif adapter:
        if acc.is_main_process:
            unwrapped.save_pretrained(out)
    else:
        state = acc.get_state_dict(model)
        unwrapped.save_pretrained(out, is_main_process=acc.is_main_process, state_dict=state)
    if acc.is_main_process:
        tok.save_pretrained(out)
    acc.wait_for_everyone()
    return out
