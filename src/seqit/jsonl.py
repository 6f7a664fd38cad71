"""Append-only JSONL files that survive `kill -9`: one write per line, torn tails repaired, resume by id.

A record is only ever read back if its line ends in a newline. A writer opening a file whose last
line is torn (the process died mid-write) truncates that tail first, so a rerun re-does exactly
the records that were not completely written.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seqit.errors import DataError


def dumps_line(row: dict[str, Any]) -> bytes:
    """One JSON object as a UTF-8 line (compact, key order kept, non-ASCII kept readable).

    Never writes what is not JSON: a non-finite float (a NaN loss, DeepSpeed's unknown grad norm) is
    written as null, as JavaScript's JSON.stringify does, never as bare NaN/Infinity. (User rows with
    NaN never get this far: the edge reader rejects them.)
    """
    try:
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(row), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def repair_torn_tail(path: Path) -> int:
    """Drop a final line that has no trailing newline; returns the number of bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # walk back to the previous newline in blocks
        pos, block = size, 1 << 16
        keep = 0
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        f.truncate(keep)
        return size - keep


class JsonlWriter:
    """Append JSON objects to a file, one `os.write` per line (atomic w.r.t. `kill -9`).

    `fsync_every_s` bounds what a power loss (not a process kill) can lose.
    """

    def __init__(self, path: str | Path, fsync_every_s: float = 5.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_torn_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        data = dumps_line(row)
        written = os.write(self._fd, data)
        while written < len(data):  # regular files write fully; loop only for exotic filesystems
            written += os.write(self._fd, data[written:])
        self.count += 1
        if time.monotonic() - self._last_sync > self._fsync_every_s:
            os.fsync(self._fd)
            self._last_sync = time.monotonic()

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a JSONL file written by seqit; a torn last line is skipped.

    A malformed complete line is a DataError naming file:line (our own outputs are never malformed;
    use `seqit.records` for user datasets, which turns bad lines into rejects).
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                return  # torn tail from a crash: never read back as a record
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e})") from None
            except (RecursionError, ValueError) as e:  # nesting too deep; an integer too long to convert
                raise DataError(f"{path}:{lineno}: unreadable JSON ({type(e).__name__}: {str(e)[:80]})") from None


def read_json(path: str | Path) -> Any:
    """A whole JSON document (a file a user or another tool may have written): one that is not valid
    JSON is a DataError naming the file, never a traceback. The caller checks the document's shape."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    except (RecursionError, ValueError) as e:  # nesting too deep; an integer too long to convert
        raise DataError(f"{path}: unreadable JSON ({type(e).__name__}: {str(e)[:80]})") from None


def read_ids(path: str | Path, key: str = "id") -> set[str]:
    """The set of `key` values already written to a JSONL output (for resume)."""
    return {str(row[key]) for row in read_jsonl(path) if key in row}


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows to a fresh file atomically (tmp + rename); returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "wb") as f:
        for row in rows:
            f.write(dumps_line(row))
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write a JSON document atomically (tmp + rename), pretty-printed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
