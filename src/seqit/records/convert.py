"""`seqit validate` and `seqit convert`: check a dataset and rewrite it as records or another format.

    seqit validate data.jsonl
    seqit convert data.json out/records.jsonl --to messages
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seqit.jsonl import JsonlWriter, write_json_atomic
from seqit.records import (
    DEFAULT_MAX_ROW_BYTES,
    DatasetReader,
    Record,
    Reject,
    RowError,
    load_records,
    to_format,
)
from seqit.runs import describe_input, now_iso

OUTPUT_FORMATS = ("messages", "alpaca", "sharegpt")


@dataclass
class ValidateResult:
    rows_in: int = 0
    good: int = 0
    rejects: list[Reject] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.rejects else 0


def run_validate(path: str | Path, fmt: str | None = None, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES, limit: int | None = None) -> ValidateResult:
    """Read every row and collect the bad ones; raises DataError if the source cannot be read."""
    loaded = load_records(path, fmt, max_row_bytes=max_row_bytes, limit=limit)
    return ValidateResult(loaded.rows_in, len(loaded.records), loaded.rejects, loaded.formats, loaded.notes)


@dataclass
class ConvertResult:
    out: Path
    rejects_path: Path
    manifest_path: Path
    rows_in: int
    records_out: int
    rejects: int
    formats: dict[str, str]
    notes: list[str]
    reasons: dict[str, int]


def run_convert(
    src: str | Path,
    out: str | Path,
    from_fmt: str | None = None,
    to_fmt: str = "messages",
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    limit: int | None = None,
    dry_run: bool = False,
    argv: list[str] | None = None,
) -> ConvertResult:
    """Convert `src` to `to_fmt` JSONL at `out`; bad rows go to `out`'s sibling rejects.jsonl.

    Rows that read fine but cannot be expressed in `to_fmt` (e.g. a multi-turn chat as alpaca) are
    rejects too, so rows in = rows out + rejects always holds. Outputs are written atomically.
    """
    if to_fmt not in OUTPUT_FORMATS:
        from seqit.errors import DataError

        raise DataError(f"--to {to_fmt!r}: expected one of {', '.join(OUTPUT_FORMATS)}")
    out = Path(out)
    rejects_path = out.with_name("rejects.jsonl")
    manifest_path = out.with_name("manifest.json")
    reader = DatasetReader(src, from_fmt, max_row_bytes)
    tmp_out, tmp_rej = out.with_name(out.name + ".tmp"), rejects_path.with_name(rejects_path.name + ".tmp")
    n_out = n_rej = 0
    reasons: dict[str, int] = {}
    writers = None if dry_run else (JsonlWriter(_fresh(tmp_out)), JsonlWriter(_fresh(tmp_rej)))
    try:
        for item in reader:
            if isinstance(item, Record):
                try:
                    row = to_format(item, to_fmt)
                except RowError as e:
                    item = Reject(reader.last_file, reader.last_line, e.reason, e.field, item.to_json())
                else:
                    n_out += 1
                    if writers:
                        writers[0].write(row)
            if isinstance(item, Reject):
                n_rej += 1
                key = f"{item.field or 'row'}: {item.reason.split(' (')[0].split(' at column')[0]}"
                reasons[key] = reasons.get(key, 0) + 1
                if writers:
                    writers[1].write(item.to_json())
            if limit is not None and reader.rows_in >= limit:
                break
    except BaseException:  # never leave half-written .tmp files behind
        if writers:
            writers[0].close()
            writers[1].close()
            tmp_out.unlink(missing_ok=True)
            tmp_rej.unlink(missing_ok=True)
        raise
    if writers:
        writers[0].close()
        writers[1].close()
    assert reader.rows_in == n_out + n_rej, "row accounting is broken"
    if writers:
        tmp_out.replace(out)
        tmp_rej.replace(rejects_path)
        write_json_atomic(
            manifest_path,
            {
                "command": "convert",
                "argv": argv,
                "created_at": now_iso(),
                "inputs": {"data": describe_input(src) if not str(src).startswith("hf:") else {"path": str(src)}},
                "formats": reader.formats,
                "to": to_fmt,
                "counts": {"rows_in": reader.rows_in, "records_out": n_out, "rejects": n_rej, "balanced": True},
                "reject_reasons": reasons,
                "outputs": {"records": str(out), "rejects": str(rejects_path)},
            },
        )
    return ConvertResult(out, rejects_path, manifest_path, reader.rows_in, n_out, n_rej, reader.formats, reader.notes, reasons)


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path
