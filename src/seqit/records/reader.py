"""Conversation records and the edge readers that turn user datasets into them.

Inside seqit every example is a record: {"id", "messages": [{"role", "content"}], "meta"}.
Readers accept alpaca, sharegpt, messages, prompt/completion, the Phased-IFT stage format, SeqEval benchmark
rows and the SIT authors' released Self-Seq rows from .json (list), .jsonl, .parquet, a local HF dataset dir, or `hf:owner/name[:split]`.
The format is declared or detected once per file (never guessed per row); every bad row becomes a
Reject naming file, line, field and problem. Rows in = records + rejects, always.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError
from seqit.records.formats import CONVERTERS, FORMATS, detect_format, row_id
from seqit.records.record import Record, Reject, RowError
from seqit.records.sources import RawRow, iter_raw_rows, json_type

DEFAULT_MAX_ROW_BYTES = 1_000_000

RowParser = Callable[[dict[str, Any], "str | None"], Any]  # (row, the file's format) -> value; raises RowError


@dataclass
class Parsed:
    """One good row of any kind: its id, the parsed value, and where it came from."""

    id: str
    value: Any
    file: str
    line: int
    index: int  # 1-based position of the row in its file
    row: Any
    own_id: bool = True  # False: the id was made by `fallback_id`


@functools.lru_cache(maxsize=256)
def file_stem(file: str) -> str:
    return Path(file).stem


def _index_id(prefix: str | None) -> Callable[[Any, str, int], str]:
    return lambda value, file, index: f"{prefix or file_stem(file)}-{index:05d}"


def _own_id(row: dict[str, Any], value: Any) -> str | None:
    return row_id(row)


@dataclass
class RowReader:
    """The one edge reader: iterate any dataset-shaped input as Parsed | Reject.

    Shared by every row kind (conversations, eval items, chat requests, caption rows, benchmark
    items): one source iteration (jsonl / json list / parquet / HF dir / hub), the format declared or
    detected once per file (`detect` on the first readable row; never guessed per row), the row size
    limit, pathological rows as rejects, id checks (`id_of`), duplicate-id detection and `limit`.
    `parse(row, fmt)` turns one row (a dict) into a value or raises RowError naming the field.
    """

    path: str | Path
    parse: RowParser
    fmt: str | None = None
    detect: Callable[[Any], str | None] | None = None  # None: the rows have one fixed kind
    known_formats: tuple[str, ...] = ()
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
    limit: int | None = None  # read at most this many rows
    id_of: Callable[[dict[str, Any], Any], str | None] = _own_id  # the row's own id; may raise RowError
    fallback_id: Callable[[Any, str, int], str] | None = None  # for rows without one (default: stem-00001)
    stage: str = "read"
    format_hint: str = "pass --format"  # how the user declares a format, for the cannot-detect error
    empty_ok: bool = False  # a source with no rows at all is fine (else a DataError)
    rows_in: int = 0
    formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    last_file: str = ""  # where the item just yielded came from
    last_line: int = 0

    def __post_init__(self) -> None:
        if self.fmt is not None and self.known_formats and self.fmt not in self.known_formats:
            raise DataError(f"unknown format {self.fmt!r} (expected one of {', '.join(self.known_formats)})")

    def __iter__(self) -> Iterator[Parsed | Reject]:
        seen: dict[str, tuple[str, int]] = {}
        repeats: dict[str, int] = {}
        per_file: dict[str, int] = {}
        any_rows = False
        for raw in iter_raw_rows(self.path):
            if self.limit is not None and self.rows_in >= self.limit:
                break
            any_rows = True
            self.rows_in += 1
            per_file[raw.file] = index = per_file.get(raw.file, 0) + 1
            self.last_file, self.last_line = raw.file, raw.line
            item = self._parse(raw, index)
            if isinstance(item, Parsed) and item.id in seen:
                if item.own_id:
                    f, ln = seen[item.id]
                    first = f"line {ln}" if f == raw.file else f"{f}:{ln}"
                    item = self._reject(raw, f"duplicate id {item.id!r} (first at {first})", "id")
                else:  # rows without an id whose made-up ids collide (e.g. a repeated instruction): number them
                    repeats[item.id] = n = repeats.get(item.id, 1) + 1
                    item.id = f"{item.id}-{n}"
            if isinstance(item, Parsed):
                seen.setdefault(item.id, (raw.file, raw.line))
            yield item
        if not any_rows and not self.empty_ok:
            raise DataError(f"{self.path}: no rows (the file holds only blank lines or an empty list)")

    def _reject(self, raw: RawRow, reason: str, field_name: str | None = None, row: Any = None) -> Reject:
        return Reject(raw.file, raw.line, reason, field_name, raw.row if row is None else row, stage=self.stage)

    def _file_format(self, raw: RawRow) -> str | None:
        if raw.file in self.formats:
            return self.formats[raw.file]
        if self.fmt is not None:
            self.formats[raw.file] = self.fmt
            self.notes.append(f"{raw.file}: format {self.fmt} (declared)")
            return self.fmt
        assert self.detect is not None
        fmt = self.detect(raw.row)
        if fmt is None:
            keys = sorted(raw.row)[:10] if isinstance(raw.row, dict) else json_type(raw.row)
            raise DataError(
                f"{raw.file}:{raw.line}: cannot detect the dataset format from this row (keys: {keys}); "
                f"{self.format_hint} ({', '.join(self.known_formats)})"
            )
        self.formats[raw.file] = fmt
        self.notes.append(f"{raw.file}: detected format {fmt} (from the keys of line {raw.line})")
        return fmt

    def _parse(self, raw: RawRow, index: int) -> Parsed | Reject:
        if raw.error is not None:
            return self._reject(raw, raw.error)
        if raw.nbytes > self.max_row_bytes:
            return self._reject(raw, f"row is {raw.nbytes} bytes, over the limit of {self.max_row_bytes}", row=_clip(raw.row))
        if not isinstance(raw.row, dict):
            return self._reject(raw, f"row must be a JSON object, got {json_type(raw.row)}")
        fmt = None
        if self.fmt is not None or self.detect is not None:
            fmt = self._file_format(raw)
            row_fmt = self.detect(raw.row) if self.detect is not None else None
            if row_fmt is not None and row_fmt != fmt and not _compatible(fmt, row_fmt, raw.row):
                how = "declared" if self.fmt else "detected"
                return self._reject(raw, f"row looks like {row_fmt} but the file's format is {fmt} ({how}); mixed formats in one file")
        try:
            value = self.parse(raw.row, fmt)
            rid = self.id_of(raw.row, value)
        except RowError as e:
            return self._reject(raw, e.reason, e.field)
        if rid is None:
            made = (self.fallback_id or _index_id(None))(value, raw.file, index)
            return Parsed(made, value, raw.file, raw.line, index, raw.row, own_id=False)
        return Parsed(rid, value, raw.file, raw.line, index, raw.row)


def _compatible(fmt: str | None, row_fmt: str, row: dict[str, Any]) -> bool:
    return fmt == "messages" and "messages" in row


def read_rows(path: str | Path, parse: RowParser, **options: Any) -> RowReader:
    """`RowReader(path, parse, **options)`: iterate it for Parsed | Reject items (see RowReader)."""
    return RowReader(path, parse, **options)


@dataclass
class DatasetReader:
    """Iterate a conversation dataset as Record | Reject items; format fixed once per file.

    `notes` collects the human-readable notes (detected format per file, BOM ignored).
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
        rows = RowReader(
            self.path, self._convert, self.fmt, detect_format, FORMATS, self.max_row_bytes,
            fallback_id=_index_id(self.source), formats=self.formats, notes=self.notes,
        )
        for item in rows:
            self.rows_in, self.last_file, self.last_line = rows.rows_in, rows.last_file, rows.last_line
            if isinstance(item, Parsed):
                messages, meta = item.value
                meta = source_meta(meta, item.row, self.source, item.file)
                yield Record(item.id, messages, meta, origin=(item.file, item.line, item.index))
            else:
                yield item

    def _convert(self, row: dict[str, Any], fmt: str | None) -> tuple[list[dict[str, str]], dict[str, Any]]:
        assert fmt is not None
        return CONVERTERS[fmt](row, self.require_response)


def source_meta(meta: dict[str, Any], row: dict[str, Any], source: str | None, file: str) -> dict[str, Any]:
    """meta.source is the dataset's name: a seqit record's own meta.source, else the configured
    source, else the file's stem. A row's own top-level `source` column (LIMA has one: stackexchange,
    wikihow, ...) is never overwritten: it is kept as meta.row_source."""
    out = {**meta, "source": meta.get("source") or source or file_stem(file)}
    own = row.get("source")
    if own is not None and not isinstance(own, (dict, list)) and str(own).strip() and "row_source" not in out:
        out["row_source"] = own
    return out


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
