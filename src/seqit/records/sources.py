"""Raw row sources: (file, line, row-or-error) from .jsonl, .json lists, .parquet, directories of such
files, saved Hugging Face dataset directories and `hf:owner/name[:split]` hub ids.

Nothing here interprets a row; `seqit.records` turns rows into records or rejects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.errors import DataError

DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


def json_type(v: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "object", str: "text"}.get(
        type(v), type(v).__name__
    )





@dataclass
class RawRow:
    file: str
    line: int
    row: Any = None
    error: str | None = None  # row could not be decoded at all
    nbytes: int = 0


def _iter_jsonl(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RawRow(str(path), lineno, raw[:200].decode("utf-8", "replace"), f"not valid UTF-8 (byte {e.start})", len(raw))
                continue
            try:
                yield RawRow(str(path), lineno, json.loads(text), None, len(raw))
            except json.JSONDecodeError as e:
                yield RawRow(str(path), lineno, text[:200], f"invalid JSON at column {e.colno}: {e.msg}", len(raw))


def _iter_json_list(path: Path) -> Iterator[RawRow]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {e.start}); cannot read a JSON file with bad bytes") from None
    dec = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
        if isinstance(obj, dict):  # a single object or {"data": [...]}-style wrappers are not guessed
            raise DataError(f"{path}: expected a JSON list of rows (or JSONL), got an object with keys {sorted(obj)[:8]}")
        raise DataError(f"{path}: expected a JSON list of rows, got {json_type(obj)}")
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
        yield RawRow(str(path), text.count("\n", 0, i) + 1, obj, None, len(text[i:end].encode("utf-8")))
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        raise DataError(f"{path}:{line}:{col}: invalid JSON: expected ',' or ']' between list items")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _iter_parquet(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read parquet file ({e})") from None
    for i, row in enumerate(table.to_pylist(), 1):
        yield RawRow(str(path), i, row, None, len(json.dumps(row, default=str)))


def _iter_hf(name: str, data: Any) -> Iterator[RawRow]:
    for i, row in enumerate(data, 1):
        yield RawRow(name, i, dict(row), None, len(json.dumps(row, default=str)))


def _load_hf_dir(path: Path) -> Any:
    from seqit.errors import require

    datasets = require("datasets", "train", "reading a saved Hugging Face dataset directory")
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        return ds[split]
    return ds


def _load_hub(spec: str) -> tuple[str, Any]:
    from seqit.errors import require

    datasets = require("datasets", "train", "reading a Hugging Face hub dataset")
    name, _, split = spec[len("hf:") :].partition(":")
    try:
        return f"hf:{name}:{split or 'train'}", datasets.load_dataset(name, split=split or "train")
    except Exception as e:  # network, auth, missing split: all user-facing
        raise DataError(f"{spec}: cannot load hub dataset ({type(e).__name__}: {e})") from None


def iter_raw_rows(path: str | Path) -> Iterator[RawRow]:
    """Rows of any supported source, each with its file and line (or row number)."""
    spec = str(path)
    if spec.startswith("hf:"):
        name, ds = _load_hub(spec)
        yield from _iter_hf(name, ds)
        return
    p = Path(spec)
    if not p.exists():
        hint = " (for a hub dataset write hf:owner/name)" if spec.count("/") == 1 and not spec.startswith((".", "/")) else ""
        raise DataError(f"{p}: no such file or directory{hint}")
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            yield from _iter_hf(str(p), _load_hf_dir(p))
            return
        files = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix in DATA_SUFFIXES)
        if not files:
            raise DataError(f"{p}: directory holds no data files ({', '.join(DATA_SUFFIXES)}) and is not a saved HF dataset")
        for q in files:
            yield from iter_raw_rows(q)
        return
    if p.stat().st_size == 0:
        raise DataError(f"{p}: file is empty")
    if p.suffix == ".parquet":
        yield from _iter_parquet(p)
    elif p.suffix == ".json" and _first_char(p) == "[":
        yield from _iter_json_list(p)
    elif p.suffix == ".json" and _is_single_json_document(p):
        raise DataError(f"{p}: expected a JSON list of rows or one JSON object per line (JSONL), got a single JSON object")
    else:  # .jsonl, or JSONL content named .json (the SIT reference writes such files)
        yield from _iter_jsonl(p)


def _is_single_json_document(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_bytes().decode("utf-8-sig")), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _first_char(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    s = head.lstrip()
    return chr(s[0]) if s else ""
