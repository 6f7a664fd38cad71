"""Raw row sources: (file, line, row-or-error) from .jsonl, .json lists, .parquet, directories of such
files, saved Hugging Face dataset directories and `hf:owner/name[:split]` hub ids.

Nothing here interprets a row; `seqit.records` turns rows into records or rejects.
"""

from __future__ import annotations

import json
import math
import os
import stat
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


MAX_DEPTH = 100  # rows nested deeper than this are rejects (no seqit format nests beyond a few levels)
NOT_JSON_CONSTANTS = {"NaN", "Infinity", "-Infinity"}


class _BadValue(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _BadValue(f"{name} is not valid JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _BadValue(f"number {text[:20]} overflows to infinity")
    return v


def loads_row(text: str) -> tuple[Any, str | None]:
    """(row, None) or (None, problem) for one JSON document: never raises on pathological input
    (recursion, over-long integers, NaN/Infinity, lone surrogates, over-deep nesting)."""
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON at column {e.colno}: {e.msg}"
    except RecursionError:
        return None, "nested too deeply to read (over Python's recursion limit)"
    except _BadValue as e:
        return None, str(e)
    except ValueError as e:  # e.g. an integer literal over Python's 4,300-digit limit
        return None, f"cannot read this JSON: {str(e).split(';')[0]}"
    return obj, check_value(obj) if _may_be_odd(text) else None


def _may_be_odd(text: str) -> bool:
    """Can decoded JSON `text` hold a lone surrogate (only via a \\u escape) or nest over MAX_DEPTH?
    (NaN and infinities are refused by the decoder hooks.) False for almost every row: no walk needed."""
    return "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH


def check_value(obj: Any) -> str | None:
    """A problem that makes a decoded row unusable (lone surrogate, non-finite number, nesting over
    MAX_DEPTH), or None. Iterative: safe on any depth."""
    stack = [(obj, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            if _has_surrogate(v):
                return f"text holds a lone surrogate ({_surrogate_of(v)}): not valid Unicode"
        elif isinstance(v, float):
            if not math.isfinite(v):
                return f"number {v} is not finite (NaN and Infinity are not valid JSON)"
        elif isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(k, str) and _has_surrogate(k):
                        return f"a key holds a lone surrogate ({_surrogate_of(k)}): not valid Unicode"
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)
    return None


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogate_of(s: str) -> str:
    c = next(ch for ch in s if 0xD800 <= ord(ch) <= 0xDFFF)
    return f"\\u{ord(c):04x}"


def check_readable(p: Path) -> os.stat_result:
    """stat a local path; a FIFO, socket or device is an error at once (reading one would block)."""
    try:
        st = p.stat()
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror or e})") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise DataError(f"{p}: is {kind}; seqit reads regular files and directories only")
    return st


def _read_error(p: Path, e: OSError) -> DataError:
    return DataError(f"{p}: cannot read ({e.strerror or e})")

@dataclass
class RawRow:
    file: str
    line: int
    row: Any = None
    error: str | None = None  # row could not be decoded at all
    nbytes: int = 0


def _iter_jsonl(path: Path) -> Iterator[RawRow]:
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; OSError mid-read is a DataError too)
    except OSError as e:
        raise _read_error(path, e) from None
    with f:
        try:
            yield from _jsonl_rows(path, f)
        except OSError as e:
            raise _read_error(path, e) from None


def _jsonl_rows(path: Path, f: Any) -> Iterator[RawRow]:
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
        row, problem = loads_row(text)
        if problem is not None:
            yield RawRow(str(path), lineno, _clip_text(text), problem, len(raw))
        else:
            yield RawRow(str(path), lineno, row, None, len(raw))


def _clip_text(text: str, n: int = 200) -> str:
    """The start of an unreadable row, as text that can always be written back as JSON."""
    return text[:n].encode("utf-8", "backslashreplace").decode("utf-8")


def _iter_json_list(path: Path) -> Iterator[RawRow]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _read_error(path, e) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {e.start}); cannot read a JSON file with bad bytes") from None
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
        except (RecursionError, ValueError) as e:
            raise DataError(f"{path}: cannot read this JSON document ({type(e).__name__})") from None
        if isinstance(obj, dict):  # a single object or {"data": [...]}-style wrappers are not guessed
            raise DataError(f"{path}: expected a JSON list of rows (or JSONL), got an object with keys {sorted(obj)[:8]}")
        raise DataError(f"{path}: expected a JSON list of rows, got {json_type(obj)}")
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    dec = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
    line, counted = 1, 0
    while True:
        line += text.count("\n", counted, i)
        counted = i
        problem = None
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
        except RecursionError:
            problem = "nested too deeply to read (over Python's recursion limit)"
        except _BadValue as e:
            problem = str(e)
        except ValueError as e:  # an integer literal over Python's 4,300-digit limit
            problem = f"cannot read this JSON: {str(e).split(';')[0]}"
        if problem is not None:  # skip just this item: find where it ends without decoding it
            end = _value_end(text, i)
            yield RawRow(str(path), line, _clip_text(text[i:end]), problem, end - i)
        else:
            problem = check_value(obj) if _may_be_odd(text[i:end]) else None
            nbytes = len(text[i:end].encode("utf-8", "surrogatepass"))
            if problem is not None:
                yield RawRow(str(path), line, _clip_text(text[i:end]), problem, nbytes)
            else:
                yield RawRow(str(path), line, obj, None, nbytes)
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        raise DataError(f"{path}:{line}:{col}: invalid JSON: expected ',' or ']' between list items")


def _value_end(text: str, i: int) -> int:
    """End offset of the JSON value starting at `i` (strings and brackets matched, iteratively)."""
    depth, n, j = 0, len(text), i
    while j < n:
        c = text[j]
        if c == '"':
            j += 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if depth == 0:
                return min(j + 1, n)
        elif c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                return j
            depth -= 1
            if depth == 0:
                return j + 1
        elif c == "," and depth == 0:
            return j
        j += 1
    return n


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
        yield _decoded_row(str(path), i, row)


def _decoded_row(name: str, i: int, row: Any) -> RawRow:
    """A row from a columnar source (parquet, HF). NaN there is how pandas/arrow write a missing value,
    so it reads as null; an infinite number is still a reject."""
    row = _nan_to_none(row)
    problem = check_value(row)
    if problem is not None:
        return RawRow(name, i, _clip_text(json.dumps(row, default=str)), problem, 0)
    return RawRow(name, i, row, None, len(json.dumps(row, default=str)))


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return v


def _iter_hf(name: str, data: Any) -> Iterator[RawRow]:
    for i, row in enumerate(data, 1):
        yield _decoded_row(name, i, dict(row))


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
    if not p.exists() and not p.is_symlink():
        hint = " (for a hub dataset write hf:owner/name)" if spec.count("/") == 1 and not spec.startswith((".", "/")) else ""
        raise DataError(f"{p}: no such file or directory{hint}")
    st = check_readable(p)
    if stat.S_ISDIR(st.st_mode):
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            yield from _iter_hf(str(p), _load_hf_dir(p))
            return
        try:
            files = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix in DATA_SUFFIXES)
        except OSError as e:
            raise _read_error(p, e) from None
        if not files:
            raise DataError(f"{p}: directory holds no data files ({', '.join(DATA_SUFFIXES)}) and is not a saved HF dataset")
        for q in files:
            yield from iter_raw_rows(q)
        return
    if st.st_size == 0:
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
    except (ValueError, RecursionError):
        return False
    except OSError as e:
        raise _read_error(path, e) from None


def _first_char(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise _read_error(path, e) from None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    s = head.lstrip()
    return chr(s[0]) if s else ""
