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
from seqit.records.formats import CONVERTERS, FORMATS, detect_format, row_id
from seqit.records.record import Record, Reject, RowError
from seqit.records.sources import RawRow, iter_raw_rows, json_type

DEFAULT_MAX_ROW_BYTES = 1_000_000


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
