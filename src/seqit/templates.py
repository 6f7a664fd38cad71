"""Named chat templates for base models, as Jinja strings for `tokenizer.apply_chat_template`.

One render path for training, generation and evaluation: a named template (or the tokenizer's own)
is installed on the tokenizer, and every stage renders with `apply_chat_template`. The template's
hash is stored with checkpoints and checked at evaluation.

    tok.chat_template = resolve_template(tok, "tulu")
"""

from __future__ import annotations

import hashlib
from typing import Any

from seqit.errors import SeqitError

# Tulu (the SIT paper's format). Unlike the reference, the system block is rendered only when a
# system message exists, identically at train and inference time (reference bug: train always
# had <|system|>, eval dropped it).
TULU = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>\n{{ m['content'] | trim }}\n"
    "{% elif m['role'] == 'user' %}<|user|>\n{{ m['content'] | trim }}\n"
    "{% else %}<|assistant|>\n{{ m['content'] | trim }}{{ eos_token }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAMA3 = (
    "{{ bos_token }}"
    "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

ALPACA = (
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] | trim }}\n\n"
    "{% else %}Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n{% endif %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] | trim }}\n\n"
    "{% elif m['role'] == 'assistant' %}### Response:\n{{ m['content'] | trim }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)

NAMED_TEMPLATES = {"tulu": TULU, "chatml": CHATML, "llama3": LLAMA3, "alpaca": ALPACA}


def resolve_template(tokenizer: Any, name: str | None) -> str:
    """The Jinja template for `name` ("tokenizer"/None = the tokenizer's own)."""
    if name in (None, "", "tokenizer"):
        tpl = getattr(tokenizer, "chat_template", None)
        if not tpl:
            raise SeqitError(
                "the tokenizer has no chat template; set a named template "
                f"({', '.join(NAMED_TEMPLATES)}) in the config, e.g. template: tulu"
            )
        if isinstance(tpl, dict):  # multi-template tokenizers: use the default one
            tpl = tpl.get("default") or next(iter(tpl.values()))
        return tpl
    if name not in NAMED_TEMPLATES:
        raise SeqitError(f"unknown chat template {name!r} (known: tokenizer, {', '.join(NAMED_TEMPLATES)})")
    return NAMED_TEMPLATES[name]


def install_template(tokenizer: Any, name: str | None) -> str:
    """Set the resolved template on the tokenizer (so save_pretrained keeps it); returns its hash."""
    tokenizer.chat_template = resolve_template(tokenizer, name)
    return template_hash(tokenizer.chat_template)


def template_hash(template: str) -> str:
    """Short, stable hash of a chat template string."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]
