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
from seqit.records import Reject, RowError, blank_problem, check_messages, read_rows, row_id
from seqit.records.formats import iteration_of

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


EVAL_FORMATS = ("seqeval", "messages")


def detect_eval_format(row: Any) -> str | None:
    """A benchmark file's format, from its first readable row: seqit records (messages) or SeqEval rows."""
    if not isinstance(row, dict):
        return None
    if "messages" in row:
        return "messages"
    if "instruction" in row or "iteration" in row:
        return "seqeval"
    return None


def parse_item(row: dict[str, Any], fmt: str | None) -> tuple[tuple[dict[str, str], ...], int | None]:
    """One benchmark row of format `fmt` -> (prompt messages, iteration); a RowError names the field."""
    if fmt == "messages":
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        iteration = _whole(meta.get("depth"), "meta.depth") if "iteration" not in row else iteration_of(row)
        try:
            msgs = check_messages(row.get("messages"), require_response=False)
        except RowError as e:  # keep the field's path in the reason: "messages: messages[0].role: ..."
            raise RowError("messages", e.reason if e.field == "messages" else f"{e.field}: {e.reason}") from None
        if msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]  # a record with a reference answer: evaluate on its prompt
        if not msgs or msgs[-1]["role"] != "user":
            raise RowError("messages", "the prompt must end with a user turn")
        return tuple(msgs), iteration
    instruction = row.get("instruction")
    if not isinstance(instruction, str):
        raise RowError("instruction", "missing or empty (rows need 'instruction' or 'messages')")
    if problem := blank_problem(instruction):
        raise RowError("instruction", f"{problem} (rows need 'instruction' or 'messages')")
    iteration = iteration_of(row)
    extra = row.get("input")
    if isinstance(extra, str) and not blank_problem(extra):  # the SeqEval convention: input after a blank line
        instruction = f"{instruction}\n\n{extra}"
    return ({"role": "user", "content": instruction},), iteration


def _whole(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise RowError(name, f"expected a whole number, got {value!r}")
    return int(value)


@dataclass
class LoadedItems:
    items: list[EvalItem]
    rejects: list[Reject]
    rows_in: int
    formats: dict[str, str]


def read_items(spec: str | Path, prefix: str = "item", fmt: str | None = None) -> LoadedItems:
    """Every item of a benchmark in file order, through the records edge reader: the format is
    declared or detected once per file; a bad row (e.g. the official seqEval.json's one item with an
    empty instruction) is a Reject naming file, line and field. No usable item at all is a DataError."""
    loaded = _read_items(spec, prefix, fmt)
    if not loaded.items:
        rejects = loaded.rejects
        first = f"; {len(rejects)} row(s) rejected, first: {rejects[0]}" if rejects else ""
        raise DataError(f"{spec}: the benchmark has no items{first}")
    return loaded


def _read_items(spec: str | Path, prefix: str, fmt: str | None) -> LoadedItems:
    reader = read_rows(
        spec, parse_item, fmt=fmt, detect=detect_eval_format, known_formats=EVAL_FORMATS,
        fallback_id=lambda value, file, index: content_id(value[0][-1]["content"], prefix),
        format_hint="rows need 'instruction' (SeqEval) or 'messages' (seqit records)", empty_ok=True,
    )
    items: list[EvalItem] = []
    rejects: list[Reject] = []
    for got in reader:
        if isinstance(got, Reject):
            rejects.append(got)
        else:
            msgs, iteration = got.value
            items.append(EvalItem(got.id, msgs, iteration, {"source": got.file}))
    return LoadedItems(items, rejects, reader.rows_in, reader.formats)


def load_items(spec: str | Path, prefix: str = "item") -> list[EvalItem]:
    """All items of a benchmark, strictly: any bad row is a DataError naming file:line:field
    (`seqit eval` uses read_items, which keeps bad rows as rejects)."""
    loaded = _read_items(spec, prefix, None)
    if loaded.rejects:
        raise DataError(str(loaded.rejects[0]))
    if not loaded.items:
        raise DataError(f"{spec}: the benchmark has no items")
    return loaded.items


def load_outputs(spec: str | Path, prefix: str = "item") -> dict[str, str]:
    """Model outputs by item id, from a seqit eval run dir (its samples.jsonl) or a file of rows
    {"id" or "instruction", "output"}. Duplicate ids in a user file are an error."""
    path = Path(spec)
    if not str(spec).startswith("hf:") and not path.exists():
        raise DataError(f"{spec}: not found (expected a seqit eval run dir or a file of {{id or instruction, output}} rows)")
    if path.is_dir() and (path / "samples.jsonl").exists():
        return _outputs_from_run(path / "samples.jsonl")
    outputs: dict[str, str] = {}
    for got in read_rows(spec, _parse_output, id_of=lambda row, value: _output_id(row, prefix)):
        if isinstance(got, Reject):
            if got.field == "id" and got.reason.startswith("duplicate id"):
                raise DataError(f"{got.file}:{got.line}: id: duplicate output for item {_output_id(got.row, prefix)!r}")
            raise DataError(str(got) if got.field or "expected" in got.reason else f"{got}: expected an object with id/instruction and output")
        outputs[got.id] = got.value
    return outputs


def _parse_output(row: dict[str, Any], fmt: str | None) -> str:
    output = row.get("output")
    if not isinstance(output, str):
        raise RowError("output", "missing or not a string")
    return output


def _output_id(row: dict[str, Any], prefix: str) -> str:
    rid = row_id(row)
    if rid is not None:
        return rid
    instruction = row.get("instruction")
    if not isinstance(instruction, str) or blank_problem(instruction):
        raise RowError("id", "the row has neither an id nor an instruction to align it by")
    if isinstance(row.get("input"), str) and row["input"].strip():
        instruction = f"{instruction}\n\n{row['input']}"
    return content_id(instruction, prefix)


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
