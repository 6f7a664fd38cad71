"""Evaluation items and model outputs: load a benchmark, load outputs, align them by item id.

A benchmark is a JSON list / JSONL / parquet / HF dataset of SeqEval rows {"instruction", "iteration"}
(optional "id", "input") or of seqit records {"id", "messages", "meta"}. Items without an id get a
content id (a hash of the instruction), so a reference file of {"instruction", "output"} rows aligns
with them too. Outputs are always aligned by id, never by position (reference bug: positional zip).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError
from seqit.jsonl import read_jsonl
from seqit.records import check_messages, row_id
from seqit.records.sources import RawRow, iter_raw_rows

SHOW_IDS = 10


@dataclass(frozen=True)
class EvalItem:
    id: str
    messages: tuple[dict[str, str], ...]  # the prompt: every turn before the answer
    iteration: int | None = None  # SeqEval depth (number of sequential rounds); None if unknown
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def instruction(self) -> str:
        """The text shown to the judge: the last user turn."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")


def content_id(instruction: str, prefix: str = "item") -> str:
    """A stable id for a row that has none: prefix + 12 hex of sha256(instruction)."""
    return f"{prefix}-{hashlib.sha256(instruction.encode('utf-8')).hexdigest()[:12]}"


def load_items(spec: str | Path, prefix: str = "item") -> list[EvalItem]:
    """All items of a benchmark, in file order; a bad row is a DataError naming file:line:field."""
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for raw in iter_raw_rows(spec):
        item = _item_from_row(raw, prefix)
        if item.id in seen:
            n = seen[item.id] = seen[item.id] + 1
            if row_id(raw.row) is not None:
                raise DataError(f"{raw.file}:{raw.line}: id: duplicate id {item.id!r}")
            item = EvalItem(f"{item.id}-{n}", item.messages, item.iteration, item.meta)  # repeated instruction
        seen.setdefault(item.id, 1)
        items.append(item)
    if not items:
        raise DataError(f"{spec}: the benchmark has no items")
    return items


def _item_from_row(raw: RawRow, prefix: str) -> EvalItem:
    where = f"{raw.file}:{raw.line}"
    row = raw.row
    if raw.error:
        raise DataError(f"{where}: {raw.error}")
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with 'instruction' or 'messages', got {type(row).__name__}")
    iteration = _iteration(row, where)
    if "messages" in row:
        try:
            msgs = check_messages(row["messages"], require_response=False)
        except ValueError as e:
            raise DataError(f"{where}: messages: {e}") from None
        if msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]  # a record with a reference answer: evaluate on its prompt
        if not msgs or msgs[-1]["role"] != "user":
            raise DataError(f"{where}: messages: the prompt must end with a user turn")
        rid = row_id(row) or content_id(msgs[-1]["content"], prefix)
        return EvalItem(rid, tuple(msgs), iteration, {"source": raw.file})
    instruction = row.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise DataError(f"{where}: instruction: missing or empty (rows need 'instruction' or 'messages')")
    extra = row.get("input")
    if isinstance(extra, str) and extra.strip():  # the SeqEval convention: input after a blank line
        instruction = f"{instruction}\n\n{extra}"
    rid = row_id(row) or content_id(instruction, prefix)
    return EvalItem(rid, ({"role": "user", "content": instruction},), iteration, {"source": raw.file})


def _iteration(row: dict[str, Any], where: str) -> int | None:
    """SeqEval's `iteration`, or a seqit record's `meta.depth`; None when the row has neither."""
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    value = row["iteration"] if "iteration" in row else meta.get("depth")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise DataError(f"{where}: iteration: expected a whole number, got {value!r}")
    return int(value)


def load_outputs(spec: str | Path, prefix: str = "item") -> dict[str, str]:
    """Model outputs by item id, from a seqit eval run dir (its samples.jsonl) or a file of rows
    {"id" or "instruction", "output"}. Duplicate ids in a user file are an error."""
    path = Path(spec)
    if not str(spec).startswith("hf:") and not path.exists():
        raise DataError(f"{spec}: not found (expected a seqit eval run dir or a file of {{id or instruction, output}} rows)")
    if path.is_dir() and (path / "samples.jsonl").exists():
        return _outputs_from_run(path / "samples.jsonl")
    outputs: dict[str, str] = {}
    for raw in iter_raw_rows(spec):
        where = f"{raw.file}:{raw.line}"
        row = raw.row
        if raw.error or not isinstance(row, dict):
            raise DataError(f"{where}: {raw.error or 'expected an object with id/instruction and output'}")
        output = row.get("output")
        if not isinstance(output, str):
            raise DataError(f"{where}: output: missing or not a string")
        rid = row_id(row)
        if rid is None:
            instruction = row.get("instruction")
            if not isinstance(instruction, str) or not instruction.strip():
                raise DataError(f"{where}: id: the row has neither an id nor an instruction to align it by")
            if isinstance(row.get("input"), str) and row["input"].strip():
                instruction = f"{instruction}\n\n{row['input']}"
            rid = content_id(instruction, prefix)
        if rid in outputs:
            raise DataError(f"{where}: id: duplicate output for item {rid!r}")
        outputs[rid] = output
    return outputs


def _outputs_from_run(samples: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for row in read_jsonl(samples):  # resumed runs may hold a retried row later: the last one wins
        if isinstance(row.get("output"), str):
            outputs[str(row["id"])] = row["output"]
        else:
            outputs.pop(str(row.get("id")), None)
    return outputs


def check_alignment(item_ids: Iterable[str], output_ids: Iterable[str], what: str) -> None:
    """Raise DataError listing the ids missing from `what` and the ids `what` has in excess."""
    items, outs = list(item_ids), set(output_ids)
    wanted = set(items)
    missing = [i for i in items if i not in outs]
    extra = sorted(outs - wanted)
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} item id(s) have no output in {what}: {_show(missing)}")
    if extra:
        parts.append(f"{len(extra)} id(s) in {what} are not in the benchmark: {_show(extra)}")
    raise DataError("outputs are aligned by item id, never by position; " + "; ".join(parts))


def _show(ids: list[str]) -> str:
    head = ", ".join(ids[:SHOW_IDS])
    return head + (f", ... ({len(ids) - SHOW_IDS} more)" if len(ids) > SHOW_IDS else "")
