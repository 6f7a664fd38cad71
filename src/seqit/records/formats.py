"""Row formats (pure): detect a file's format from a row's keys, turn a row of each format into messages,
and export a record as a row of another format. Every problem is a RowError naming the field.
"""

from __future__ import annotations

import math
from typing import Any

from seqit.records.record import Record, RowError
from seqit.records.sources import json_type

ROLES = ("system", "user", "assistant")
FORMATS = ("messages", "alpaca", "sharegpt", "prompt_completion", "phased", "seqeval", "selfseq")
# The SIT authors' released Self-Seq files: the teacher's answer to the new instruction is under this key,
# misspelt as released ("reponse").
SELFSEQ_ANSWER = "final_refined_instruction_reponse"
SELFSEQ_OPTIONS = ("A", "B", "C", "D")
# Characters that print nothing: a text made only of these (and whitespace) counts as empty.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
TOOL_FIELDS = ("function_call", "tool_calls")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "bard": "assistant",
    "bing": "assistant",
}



def detect_format(row: Any) -> str | None:
    """Name the format a row's keys indicate, or None.

    >>> detect_format({"instruction": "x", "input": "", "output": "y"})
    'alpaca'
    """
    if not isinstance(row, dict):
        return None
    keys = set(row)
    if "new_instruction" in keys and "completions" in keys:  # before alpaca: these rows have an instruction too
        return "selfseq"
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    if "data" in keys and "score" in keys:
        return "phased"
    if "instruction" in keys and "iteration" in keys:
        return "seqeval"
    return None


def blank_problem(v: str) -> str | None:
    """Why a text counts as empty ("is empty", "is whitespace only", "is invisible characters only"), or None.

    >>> blank_problem("\u200b"), blank_problem(" x ")
    ('is invisible characters only', None)
    """
    if v == "":
        return "is empty"
    if not v.strip():
        return "is whitespace only"
    t = v.strip()
    while t and (t[0] in INVISIBLE or t[-1] in INVISIBLE):  # normal text: one look at each end
        t = t.strip(INVISIBLE).strip()
    return None if t else "is invisible characters only"


def _text(row: dict[str, Any], key: str, *, required: bool = True, allow_empty: bool = False) -> str:
    if key not in row:
        if required:
            raise RowError(key, "required field is missing")
        return ""
    v = row[key]
    if v is None:
        if required:
            raise RowError(key, "must be text, got null")
        return ""
    if not isinstance(v, str):
        raise RowError(key, f"must be text, got {json_type(v)}")
    if not allow_empty and (problem := blank_problem(v)):
        raise RowError(key, problem)
    return v


def check_messages(messages: Any, field_name: str = "messages", require_response: bool = True) -> list[dict[str, str]]:
    """Validate role order: optional system first, then user/assistant alternating from user."""
    if not isinstance(messages, list):
        raise RowError(field_name, f"must be a list of messages, got {json_type(messages)}")
    if not messages:
        raise RowError(field_name, "has no messages")
    out = []
    for i, m in enumerate(messages):
        where = f"{field_name}[{i}]"
        if not isinstance(m, dict):
            raise RowError(where, f"must be an object with role and content, got {json_type(m)}")
        role = m.get("role")
        for key in TOOL_FIELDS:
            if m.get(key) not in (None, [], {}):
                raise RowError(f"{where}.{key}", "function/tool calls are not supported (seqit trains on text turns "
                               "only); drop the call or the row")
        if role not in ROLES:
            raise RowError(f"{where}.role", f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        content = _content_text(m.get("content"), f"{where}.content")
        out.append({"role": role, "content": content})
    _check_order(out, field_name, require_response)
    return out


def _content_text(v: Any, where: str) -> str:
    if isinstance(v, list):  # OpenAI content parts: keep text parts only if all parts are text
        if all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in v):
            v = "".join(p["text"] for p in v)
        else:
            raise RowError(where, "content parts other than text are not supported")
    if v is None:
        raise RowError(where, "must be text, got null")
    if not isinstance(v, str):
        raise RowError(where, f"must be text, got {json_type(v)}")
    if problem := blank_problem(v):
        raise RowError(where, problem)
    return v


def _check_order(msgs: list[dict[str, str]], field_name: str, require_response: bool) -> None:
    start = 1 if msgs[0]["role"] == "system" else 0
    body = msgs[start:]
    if not body:
        raise RowError(field_name, "has only a system message")
    for j, m in enumerate(body):
        expected = "user" if j % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise RowError(
                f"{field_name}[{start + j}].role",
                f"roles out of order: expected {expected!r}, got {m['role']!r}",
            )
    if require_response and body[-1]["role"] != "assistant":
        raise RowError(field_name, "does not end with an assistant message")


def alpaca_prompt(instruction: str, input_text: str) -> str:
    """The user turn for an alpaca row: instruction, then the input after a blank line."""
    return f"{instruction}\n\n{input_text}" if input_text.strip() else instruction


def from_alpaca(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    instruction = _text(row, "instruction")
    input_text = _text(row, "input", required=False, allow_empty=True)
    system = _text(row, "system", required=False, allow_empty=True) or _text(
        row, "system_prompt", required=False, allow_empty=True
    )
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    msgs.append({"role": "user", "content": alpaca_prompt(instruction, input_text)})
    if require_response or "output" in row:
        msgs.append({"role": "assistant", "content": _text(row, "output")})
    meta: dict[str, Any] = {"instruction": instruction}
    if input_text.strip():
        meta["input"] = input_text
    return msgs, meta


def from_sharegpt(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    conv = row.get("conversations")
    if not isinstance(conv, list):
        raise RowError("conversations", f"must be a list, got {json_type(conv)}")
    msgs = []
    for i, turn in enumerate(conv):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise RowError(where, f"must be an object with from and value, got {json_type(turn)}")
        speaker = turn.get("from")
        if speaker not in SHAREGPT_ROLES:
            raise RowError(f"{where}.from", f"unknown speaker {speaker!r}")
        msgs.append({"role": SHAREGPT_ROLES[speaker], "content": _content_text(turn.get("value"), f"{where}.value")})
    if "system" in row and isinstance(row["system"], str) and row["system"].strip():
        msgs.insert(0, {"role": "system", "content": row["system"]})
    return check_messages(msgs, "conversations", require_response), {}


def from_messages(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    return check_messages(row.get("messages"), "messages", require_response), dict(meta)


def from_prompt_completion(
    row: dict[str, Any], require_response: bool = True
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list):
        msgs = check_messages(prompt, "prompt", require_response=False)
    else:
        msgs = [{"role": "user", "content": _text(row, "prompt")}]
    if isinstance(completion, list):
        comp = check_messages([{"role": "user", "content": "x"}, *completion], "completion", require_response)[1:]
        msgs.extend(comp)
    elif require_response or "completion" in row:
        msgs.append({"role": "assistant", "content": _text(row, "completion")})
    return check_messages(msgs, "prompt", require_response), {}


def from_phased(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Phased-IFT stage files: {"id", "score": "3.5\\n\\n", "data": [user, assistant, ...]}."""
    data = row.get("data")
    if not isinstance(data, list) or not data:
        raise RowError("data", "must be a non-empty list of alternating user/assistant texts")
    msgs = []
    for i, text in enumerate(data):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": _content_text(text, f"data[{i}]")})
    meta: dict[str, Any] = {}
    score = row.get("score")
    if score is not None:
        try:
            meta["difficulty"] = float(str(score).strip())
        except ValueError:
            raise RowError("score", f"is not a number: {score!r}") from None
        if not math.isfinite(meta["difficulty"]):
            raise RowError("score", f"is not a finite number: {score!r}")
        meta["difficulty_raw"] = score
    return check_messages(msgs, "data", require_response), meta


def from_seqeval(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """SeqEval benchmark rows (the SIT authors' seqEval.json): {"instruction", "iteration", optional "input"}.

    A benchmark holds prompts only, so the record is one user turn (a response is never required);
    `iteration` (the number of sequential rounds) becomes meta.depth.
    """
    instruction = _text(row, "instruction")
    input_text = _text(row, "input", required=False, allow_empty=True)
    meta: dict[str, Any] = {"instruction": instruction}
    depth = iteration_of(row)
    if depth is not None:
        meta["depth"] = depth
    if input_text.strip():
        meta["input"] = input_text
    return [{"role": "user", "content": alpaca_prompt(instruction, input_text)}], meta


def from_selfseq(row: dict[str, Any], require_response: bool = True) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The SIT authors' released Self-Seq rows: {"idx", "instruction", "input", "option", "completions",
    "new_instruction", "final_refined_instruction_reponse"} -> the new (sequential) instruction and its answer.

    `instruction` is the seed instruction and `completions` the teacher's raw classification reply (neither is
    trained on). The input goes after a blank line unless the new instruction already holds it (the reference
    merged the input into the instruction before rewriting). A row without the answer is a RowError naming
    the misspelt key: the released files have rows whose last stage never ran.

    >>> from_selfseq({"idx": 3, "instruction": "Add 2 and 3.", "input": "", "option": "B", "completions": "B",
    ...               "new_instruction": "Say what addition is, then add 2 and 3.",
    ...               "final_refined_instruction_reponse": "Addition combines numbers. 5"})[0][0]["content"]
    'Say what addition is, then add 2 and 3.'
    """
    new = _text(row, "new_instruction")
    input_text = _text(row, "input", required=False, allow_empty=True)
    option = row.get("option")
    if option is not None and option not in SELFSEQ_OPTIONS:
        raise RowError("option", f"expected one of {', '.join(SELFSEQ_OPTIONS)} (or null), got {option!r}"[:200])
    separate = bool(input_text.strip()) and input_text.strip() not in new
    msgs = [{"role": "user", "content": alpaca_prompt(new, input_text) if separate else new}]
    if require_response or SELFSEQ_ANSWER in row:
        msgs.append({"role": "assistant", "content": _text(row, SELFSEQ_ANSWER)})
    meta: dict[str, Any] = {"instruction": new, "kind": "sit", "option": option,
                            "original_instruction": _text(row, "instruction", required=False, allow_empty=True)}
    if separate:
        meta["input"] = input_text
    return msgs, meta


def iteration_of(row: dict[str, Any]) -> int | None:
    """SeqEval's `iteration` (a whole number, or its text), or None when absent."""
    value = row.get("iteration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise RowError("iteration", f"expected a whole number, got {value!r}")
    return int(value)


CONVERTERS = {
    "alpaca": from_alpaca,
    "sharegpt": from_sharegpt,
    "messages": from_messages,
    "prompt_completion": from_prompt_completion,
    "phased": from_phased,
    "seqeval": from_seqeval,
    "selfseq": from_selfseq,
}


def row_id(row: dict[str, Any], keys: tuple[str, ...] = ("id", "idx")) -> str | None:
    """The row's own id (`id`, else `idx`), or None when it has none (absent or null).

    An id of the wrong type (true, 1.5, {}, "", "  ") is a RowError, never silently replaced.
    """
    for key in keys:
        v = row.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise RowError(key, f"must be a non-empty string or a whole number, got {json_type(v)} {v!r}"[:200])
        if isinstance(v, str) and blank_problem(v):
            raise RowError(key, blank_problem(v) or "")
        return str(v)
    return None


def to_format(record: Record, fmt: str) -> dict[str, Any]:
    """Export a record as a row of `fmt` (messages, alpaca or sharegpt).

    Alpaca needs a single user turn (and optional system) followed by one assistant turn.
    """
    if fmt == "messages":
        return record.to_json()
    if fmt == "sharegpt":
        names = {"system": "system", "user": "human", "assistant": "gpt"}
        return {"id": record.id, "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in record.messages]}
    if fmt == "alpaca":
        msgs = record.messages
        system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
        body = msgs[1:] if system else msgs
        if len(body) != 2:
            raise RowError("messages", f"alpaca holds one user and one assistant turn; this record has {len(body)} turns")
        instruction, input_text = body[0]["content"], ""
        if "instruction" in record.meta and "input" in record.meta:
            instruction, input_text = record.meta["instruction"], record.meta["input"]
        row = {"id": record.id, "instruction": instruction, "input": input_text, "output": body[1]["content"]}
        if system:
            row["system"] = system
        return row
    raise ValueError(f"unknown output format {fmt!r} (expected messages, alpaca or sharegpt)")
