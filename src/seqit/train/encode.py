"""One render path for training and inference: chat template -> token ids + loss mask.

    hash_ = install_template(tok, "tulu")          # seqit.templates
    ex = encode_messages(tok, messages, max_len=2048)
    ex.input_ids, ex.trained                       # trained[i] = the loss covers token i
    ids = render_prompt(tok, messages[:-1])        # what generation/eval feed the model

Masks are computed on the *rendered text*, not by tokenising pieces: each assistant turn is located
by rendering the conversation again with that turn's content replaced by a sentinel; the common
prefix and suffix of the two renders bound exactly what the template made of the content in this
context, and the span extends over the end-of-turn marker that follows (EOS or the template's stop
string). So templates that re-render earlier turns differently (not prefix-preserving) are masked
correctly; a turn that cannot be located is counted (`turns_unlocated`), never silently mis-masked.
Every turn is also checked to start exactly where generation's prompt (`render_prompt`) ends.
Tokens are trained when they overlap a trained character span (offsets from the fast tokenizer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqit.errors import SeqitError

SENTINEL = "\u2063SEQIT\u2063"  # invisible separator + marker: cannot collide with real content edges
# End-of-turn strings of the named templates whose turns do not end with the tokenizer's EOS.
TEMPLATE_STOP_STRINGS = {"chatml": ("<|im_end|>",), "llama3": ("<|eot_id|>",)}


@dataclass
class Encoded:
    """One tokenised conversation. `trained[i]` is True when token i is a loss target."""

    input_ids: list[int]
    trained: list[bool]
    n_turns: int = 0  # assistant turns in the record
    turns_unlocated: int = 0  # assistant turns whose span was not found in the full render
    truncated: bool = False  # the render was longer than max_len
    turns_truncated_away: int = 0  # assistant turns with no token left after truncation

    @property
    def n_trained(self) -> int:
        return sum(self.trained)

    def targets(self) -> list[int]:
        """Next-token targets aligned with input_ids: targets[i] = input_ids[i+1] if trained, else -100."""
        ids, tr = self.input_ids, self.trained
        return [ids[i + 1] if tr[i + 1] else -100 for i in range(len(ids) - 1)] + [-100]


def render_text(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The template's rendering of `messages` as a string (the template must already be installed)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a prompt for generation: `messages` (ending with a user turn) + the assistant header.

    Identical tokenisation to training (whole string, no extra special tokens), so a model trained
    with `encode_messages` sees exactly this prefix before every trained response.
    """
    text = render_text(tokenizer, messages, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def stop_strings(tokenizer: Any, template_name: str | None) -> list[str]:
    """Strings that end an assistant turn: EOS, the named template's marker, and the special token the
    installed template puts right after an assistant message (e.g. <|eot_id|>, <|im_end|>)."""
    out = [tokenizer.eos_token] if tokenizer.eos_token else []
    for s in (*TEMPLATE_STOP_STRINGS.get(template_name or "", ()), _detected_turn_end(tokenizer)):
        if s and s not in out:
            out.append(s)
    return out


def _detected_turn_end(tokenizer: Any) -> str | None:
    """The added/special token that directly follows an assistant message in the template, if any."""
    msgs = [{"role": "user", "content": "x"}, {"role": "assistant", "content": SENTINEL}]
    try:
        after = render_text(tokenizer, msgs).split(SENTINEL, 1)[1]
    except Exception:  # a template that rejects this probe conversation: nothing detected
        return None
    for tok in sorted(tokenizer.get_added_vocab(), key=len, reverse=True):
        if after.startswith(tok):
            return tok
    return None


def assistant_spans(
    tokenizer: Any, messages: list[dict[str, str]], stops: list[str]
) -> tuple[str, list[tuple[int, int]], int]:
    """Render the conversation; return (text, trained char spans, number of unlocated assistant turns).

    Each assistant turn is located by rendering the conversation again with that turn's content
    replaced by a sentinel: the common prefix and suffix of the two renders bound exactly what the
    template made of the content *in this context*; the span then extends over the end marker.
    """
    full = render_text(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    unlocated = 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        _check_prompt_prefix(tokenizer, messages, i)
        probe = render_text(tokenizer, [*messages[:i], {**m, "content": SENTINEL}, *messages[i + 1 :]])
        start = _common_prefix(full, probe)
        end = len(full) - _common_prefix(full[start:][::-1], probe[start:][::-1])
        if SENTINEL not in probe or (spans and start < spans[-1][1]):
            unlocated += 1
            continue
        spans.append((start, _extend_over_stop(full, end, stops)))
    return full, spans, unlocated


def _check_prompt_prefix(tokenizer: Any, messages: list[dict[str, str]], i: int) -> None:
    """Generation feeds render(messages[:i], generation prompt); it must be a prefix of the trained turn."""
    prompt = render_text(tokenizer, messages[:i], add_generation_prompt=True)
    turn = render_text(tokenizer, messages[: i + 1])
    if not turn.startswith(prompt):
        raise SeqitError(
            "chat template problem: the generation prompt is not a prefix of the rendered assistant "
            f"turn (message {i}); training and inference would see different text. "
            f"prompt ends {prompt[-40:]!r}, turn has {turn[max(0, len(prompt) - 40) : len(prompt)]!r} there"
        )


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _extend_over_stop(full: str, end: int, stops: list[str]) -> int:
    """Include the end-of-turn marker that follows the content (only whitespace may sit between)."""
    best = None
    for s in stops:
        at = full.find(s, end)
        if at >= 0 and not full[end:at].strip() and (best is None or at < best[0]):
            best = (at, at + len(s))
    return best[1] if best else end


def encode_messages(
    tokenizer: Any, messages: list[dict[str, str]], max_len: int, stops: list[str] | None = None
) -> Encoded:
    """Tokenise one conversation and mark the tokens the loss covers (all assistant turns + end marker)."""
    stops = stops if stops is not None else stop_strings(tokenizer, None)
    text, spans, unlocated = assistant_spans(tokenizer, messages, stops)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    trained = _mark(offsets, spans)
    n_turns = sum(m["role"] == "assistant" for m in messages)
    truncated = len(ids) > max_len
    away = 0
    if truncated:
        ids, trained = ids[:max_len], trained[:max_len]
        keep_end = offsets[max_len - 1][1] if max_len else 0
        away = sum(start >= keep_end for start, _ in spans)
    return Encoded(ids, trained, n_turns, unlocated, truncated, away)


def _mark(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[bool]:
    """trained[i] = token i overlaps one of the (sorted, disjoint) char spans.

    A token that straddles the prompt/response boundary (e.g. " Blue" after a template ending in
    "Answer:") is trained: it carries the response's first word, and leaving it out would drop it
    from the loss. Preflight counts such templates (the inference prompt then tokenises differently).
    """
    out = [False] * len(offsets)
    j = 0
    for i, (start, end) in enumerate(offsets):
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        if j == len(spans):
            break
        out[i] = start < spans[j][1] and end > spans[j][0] and end > start
    return out


def mark_trained(tokenizer: Any, ex: Encoded, open_: str = "[[", close: str = "]]") -> str:
    """Decode `ex` with every run of trained tokens wrapped in [[ ]] (preflight samples, golden tests)."""
    parts: list[str] = []
    run: list[int] = []
    state = False
    for tok, tr in zip(ex.input_ids, ex.trained, strict=True):
        if tr != state and run:
            text = tokenizer.decode(run, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            parts.append(f"{open_}{text}{close}" if state else text)
            run = []
        state = tr
        run.append(tok)
    if run:
        text = tokenizer.decode(run, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        parts.append(f"{open_}{text}{close}" if state else text)
    return "".join(parts)
