"""Conversation records and the edge readers that turn user datasets into them.

Inside seqit every example is a record: {"id", "messages": [{"role", "content"}], "meta"}.
Readers accept alpaca, sharegpt, messages, prompt/completion and the Phased-IFT stage format
from .json (list), .jsonl, .parquet, a local HF dataset dir, or `hf:owner/name[:split]`.
The format is declared or detected once per file (never guessed per row); every bad row becomes a
Reject naming file, line, field and problem. Rows in = records + rejects, always.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError
from seqit.sources import RawRow, iter_raw_rows, json_type

ROLES = ("system", "user", "assistant")
FORMATS = ("messages", "alpaca", "sharegpt", "prompt_completion", "phased")
DEFAULT_MAX_ROW_BYTES = 1_000_000
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


@dataclass
class Record:
    id: str
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "messages": self.messages, "meta": self.meta}

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """Messages up to (not including) the final assistant turn."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[:-1]
        return self.messages

    @property
    def response(self) -> str | None:
        """The final assistant turn's text, if the record ends with one."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return None


@dataclass
class Reject:
    file: str
    line: int
    reason: str
    field: str | None = None
    row: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason, "row": self.row}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class RowError(ValueError):
    """A problem with one row; carries the offending field name."""

    def __init__(self, field_name: str | None, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Format detection and per-format converters (pure)


def detect_format(row: Any) -> str | None:
    """Name the format a row's keys indicate, or None.

    >>> detect_format({"instruction": "x", "input": "", "output": "y"})
    'alpaca'
    """
    if not isinstance(row, dict):
        return None
    keys = set(row)
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
    return None


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
    if not allow_empty:
        if v == "":
            raise RowError(key, "is empty")
        if not v.strip():
            raise RowError(key, "is whitespace only")
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
    if not v.strip():
        raise RowError(where, "is empty" if v == "" else "is whitespace only")
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
        meta["difficulty_raw"] = score
    return check_messages(msgs, "data", require_response), meta


CONVERTERS = {
    "alpaca": from_alpaca,
    "sharegpt": from_sharegpt,
    "messages": from_messages,
    "prompt_completion": from_prompt_completion,
    "phased": from_phased,
}


def row_id(row: dict[str, Any]) -> str | None:
    """The row's own id (`id` or `idx`), if it has a usable one."""
    for key in ("id", "idx"):
        v = row.get(key)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
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


# ---------------------------------------------------------------------------------------------
# The reader


@dataclass
class DatasetReader:
    """Iterate a dataset as Record | Reject items; format fixed once per file.

    `messages_log` collects the human-readable notes (detected format per file, BOM ignored).
    """

    path: str | Path
    fmt: str | None = None
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
    require_response: bool = True
    source: str | None = None
    rows_in: int = 0
    formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    last_file: str = ""  # where the item just yielded came from
    last_line: int = 0

    def __post_init__(self) -> None:
        if self.fmt is not None and self.fmt not in FORMATS:
            raise DataError(f"unknown format {self.fmt!r} (expected one of {', '.join(FORMATS)})")

    def __iter__(self) -> Iterator[Record | Reject]:
        seen: dict[str, tuple[str, int]] = {}
        per_file: dict[str, int] = {}
        any_rows = False
        for raw in iter_raw_rows(self.path):
            any_rows = True
            self.rows_in += 1
            per_file[raw.file] = index = per_file.get(raw.file, 0) + 1
            self.last_file, self.last_line = raw.file, raw.line
            item = self._convert(raw, index)
            if isinstance(item, Record):
                if item.id in seen:
                    f, ln = seen[item.id]
                    first = f"line {ln}" if f == raw.file else f"{f}:{ln}"
                    item = Reject(raw.file, raw.line, f"duplicate id {item.id!r} (first at {first})", "id", raw.row)
                else:
                    seen[item.id] = (raw.file, raw.line)
            yield item
        if not any_rows:
            raise DataError(f"{self.path}: no rows (the file holds only blank lines or an empty list)")

    def _file_format(self, raw: RawRow) -> str | None:
        if raw.file in self.formats:
            return self.formats[raw.file]
        if self.fmt is not None:
            self.formats[raw.file] = self.fmt
            self.notes.append(f"{raw.file}: format {self.fmt} (declared)")
            return self.fmt
        if raw.error is not None:
            return None
        fmt = detect_format(raw.row)
        if fmt is None:
            keys = sorted(raw.row)[:10] if isinstance(raw.row, dict) else json_type(raw.row)
            raise DataError(
                f"{raw.file}:{raw.line}: cannot detect the dataset format from this row (keys: {keys}); "
                f"pass --format ({', '.join(FORMATS)})"
            )
        self.formats[raw.file] = fmt
        self.notes.append(f"{raw.file}: detected format {fmt} (from the keys of line {raw.line})")
        return fmt

    def _convert(self, raw: RawRow, index: int) -> Record | Reject:
        """`index` is the row's 1-based position in its file (rows of a one-line JSON list share a line)."""
        if raw.error is not None:
            return Reject(raw.file, raw.line, raw.error, None, raw.row)
        if raw.nbytes > self.max_row_bytes:
            return Reject(raw.file, raw.line, f"row is {raw.nbytes} bytes, over the limit of {self.max_row_bytes}", None, _clip(raw.row))
        if not isinstance(raw.row, dict):
            return Reject(raw.file, raw.line, f"row must be a JSON object, got {json_type(raw.row)}", None, raw.row)
        fmt = self._file_format(raw)
        assert fmt is not None
        row_fmt = detect_format(raw.row)
        if row_fmt is not None and row_fmt != fmt and (fmt != "messages" or "messages" not in raw.row):
            why = f"row looks like {row_fmt} but the file's format is {fmt} ({'declared' if self.fmt else 'detected'}); mixed formats in one file"
            return Reject(raw.file, raw.line, why, None, raw.row)
        try:
            messages, meta = CONVERTERS[fmt](raw.row, self.require_response)
        except RowError as e:
            return Reject(raw.file, raw.line, e.reason, e.field, raw.row)
        rid = row_id(raw.row) or f"{self.source or Path(raw.file).stem}-{index:05d}"
        meta = {**meta, "source": meta.get("source") or self.source or Path(raw.file).stem}
        return Record(rid, messages, meta)


def _clip(row: Any) -> Any:
    text = json.dumps(row, ensure_ascii=False, default=str)
    return row if len(text) <= 2000 else text[:2000] + "…"


@dataclass
class Loaded:
    records: list[Record]
    rejects: list[Reject]
    formats: dict[str, str]
    notes: list[str]
    rows_in: int


def load_records(
    path: str | Path,
    fmt: str | None = None,
    *,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    require_response: bool = True,
    source: str | None = None,
    limit: int | None = None,
) -> Loaded:
    """Read a dataset (its first `limit` rows, if given) into records + rejects (see DatasetReader)."""
    reader = DatasetReader(path, fmt, max_row_bytes, require_response, source)
    records: list[Record] = []
    rejects: list[Reject] = []
    for item in reader:
        (records if isinstance(item, Record) else rejects).append(item)
        if limit is not None and reader.rows_in >= limit:
            break
    return Loaded(records, rejects, reader.formats, reader.notes, reader.rows_in)


def read_records(path: str | Path) -> Iterator[Record]:
    """Read seqit's own record JSONL (written by a previous stage); torn tails skipped."""
    from seqit.jsonl import read_jsonl

    for row in read_jsonl(path):
        yield Record(str(row["id"]), row["messages"], row.get("meta") or {})
