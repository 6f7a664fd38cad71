"""The bad-input corpus: every pathological row class, through every edge reader (validate, convert,
`seqit complete`'s request reader, eval's item reader, caption rows), in JSONL and JSON-list files.

Each bad row must become exactly one reject naming file, line and reason; the good rows around it
are kept; nothing raises; convert writes only strict JSON. Unreadable inputs (a FIFO, no permission)
are one-line errors at once, never a hang or a traceback.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest

from seqit.errors import DataError
from seqit.eval.items import read_items
from seqit.generate.taskdriven.run import read_caption_rows
from seqit.records import Reject, load_records
from seqit.records.convert import run_convert, run_validate
from seqit.runs import sha256_file
from seqit.teachers.complete import read_requests

SUR = "@@SURROGATE@@"  # replaced by a lone surrogate escape in the written line

# Each reader kind: a good row whose text field holds SUR-able text, and how to read a file.
GOOD = {
    "records": {"id": "g", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    "requests": {"id": "g", "messages": [{"role": "user", "content": "hi"}]},
    "eval": {"id": "g", "instruction": "Name a fruit, then spell it.", "iteration": 1},
    "caption": {"id": "g", "image": "a.jpg", "caption": "A cat.", "question": "What is it?", "answer": "a cat"},
}
TEXT_PATH = {"records": ("messages", 1, "content"), "requests": ("messages", 0, "content"),
             "eval": ("instruction",), "caption": ("answer",)}


def _set(row: dict, path: tuple, value):
    row = json.loads(json.dumps(row))
    target = row
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return row


def _with_extra(kind: str, raw_value: str) -> str:
    """The good row (new id) with one more field whose JSON text is `raw_value` (written verbatim)."""
    row = {**GOOD[kind], "id": "b"}
    text = json.dumps(row)
    key = "meta" if kind in ("records", "requests") else "extra"
    return text[:-1] + f', "{key}": {raw_value}}}'


def _text_is(kind: str, value: str) -> str:
    return json.dumps(_set({**GOOD[kind], "id": "b"}, TEXT_PATH[kind], value))


def _id_is(kind: str, value) -> str:
    return json.dumps({**GOOD[kind], "id": value})


DEEP = "[" * 100_000 + "]" * 100_000
# (case name, kinds it applies to, line builder(kind), reason fragment)
CORPUS = [
    ("deep-nesting", "all", lambda k: _with_extra(k, DEEP), "nested too deeply"),
    ("nested-over-limit", "all", lambda k: _with_extra(k, "[" * 150 + "]" * 150), "levels deep"),
    ("huge-integer", "all", lambda k: _with_extra(k, "9" * 5000), "4300 digits"),
    ("lone-surrogate", "all", lambda k: _text_is(k, SUR).replace(SUR, "\\ud800"), "lone surrogate"),
    ("nan-literal", "all", lambda k: _with_extra(k, "NaN"), "NaN is not valid JSON"),
    ("infinity-literal", "all", lambda k: _with_extra(k, "-Infinity"), "-Infinity is not valid JSON"),
    ("float-overflow", "all", lambda k: _with_extra(k, "1e999"), "overflows to infinity"),
    ("invalid-json", "all", lambda k: '{"id": "b", ', "invalid JSON"),
    ("not-an-object", "all", lambda k: "[1, 2]", "must be a JSON object"),
    ("id-true", "all", lambda k: _id_is(k, True), "id"),
    ("id-float", "all", lambda k: _id_is(k, 1.5), "id"),
    ("id-object", "all", lambda k: _id_is(k, {}), "id"),
    ("id-empty", "all", lambda k: _id_is(k, ""), "id"),
    ("id-blank", "all", lambda k: _id_is(k, "   "), "id"),
    ("duplicate-id", "all", lambda k: _id_is(k, "g"), "duplicate id"),
    *[(f"invisible-{ord(c):04x}", ("records", "eval", "caption"), (lambda k, c=c: _text_is(k, c * 3)), "invisible characters only")
      for c in "\u200b\u200c\u200d\ufeff\u2060"],
    ("function-call", ("records", "requests"), lambda k: json.dumps(_set(
        {**GOOD[k], "id": "b"}, (*TEXT_PATH[k][:2], "function_call"), {"name": "f", "arguments": "{}"})), "function/tool calls"),
    ("tool-calls", ("records", "requests"), lambda k: json.dumps(_set(
        {**GOOD[k], "id": "b"}, (*TEXT_PATH[k][:2], "tool_calls"), [{"id": "c", "type": "function"}])), "function/tool calls"),
]
KINDS = ("records", "requests", "eval", "caption")
CASES = [(name, kind, build, frag, layout) for name, kinds, build, frag in CORPUS for kind in KINDS
         if kinds == "all" or kind in kinds
         for layout in ("jsonl", "json-list")
         if not (layout == "json-list" and name == "invalid-json")]  # a JSON list with a syntax error: see below


def read_any(kind: str, path: Path) -> tuple[list[str], list[Reject | dict]]:
    """(ids of good rows, rejects) from the reader of `kind`."""
    if kind == "records":
        loaded = load_records(path)
        return [r.id for r in loaded.records], loaded.rejects
    if kind == "requests":
        good, rejects, _ = read_requests(path)
        return [r.id for r, _ in good], rejects
    if kind == "eval":
        loaded = read_items(path)
        return [i.id for i in loaded.items], loaded.rejects
    good, bad = read_caption_rows(path, None)
    return [rid for rid, _ in good], bad


def _field(rej) -> tuple[int, str]:
    return (rej.line, str(rej)) if isinstance(rej, Reject) else (rej["line"], f"{rej['field']}: {rej['reason']}")


@pytest.mark.parametrize("name, kind, build, fragment, layout", CASES, ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES])
def test_every_bad_row_is_one_reject_with_line_and_reason(tmp_path, name, kind, build, fragment, layout):
    good, bad = json.dumps(GOOD[kind]), build(kind)
    tail = json.dumps({**GOOD[kind], "id": "z"})
    if layout == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text(f"{good}\n{bad}\n{tail}\n", encoding="utf-8")
    else:
        path = tmp_path / "d.json"
        path.write_text(f"[\n{good},\n{bad},\n{tail}\n]\n", encoding="utf-8")
    ids, rejects = read_any(kind, path)
    assert ids == ["g", "z"]
    (rej,) = rejects
    line, text = _field(rej)
    assert line == (2 if layout == "jsonl" else 3) and fragment in text
    json.dumps(rej.to_json() if isinstance(rej, Reject) else rej, ensure_ascii=False, allow_nan=False).encode("utf-8")


def test_json_list_with_a_syntax_error_is_one_line_data_error(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[{"id": "a", "instruction": "x", "output": "y"},\n{"id": ]', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.json:2:\d+: invalid JSON"):
        load_records(path)


def strict_loads(line: str):
    def no(c):
        raise AssertionError(f"{c} written")

    return json.loads(line, parse_constant=no)


def test_validate_flags_and_convert_rejects_every_class_and_writes_strict_json(tmp_path, capsys):
    lines = [json.dumps(GOOD["records"])]
    lines += [build("records") for _, kinds, build, _ in CORPUS if kinds == "all" or "records" in kinds]
    phased = [{"id": "p1", "score": "nan", "data": ["q", "a"]}, {"id": "p2", "score": "inf", "data": ["q", "a"]},
              {"id": "p3", "score": "-Infinity\n\n", "data": ["q", "a"]}, {"id": "p4", "score": "3.5\n\n", "data": ["q", "a"]}]
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n_bad = len(lines) - 1
    assert len(run_validate(src).rejects) == n_bad
    res = run_convert(src, tmp_path / "out" / "records.jsonl")
    assert (res.rows_in, res.records_out, res.rejects) == (len(lines), 1, n_bad)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json", "records.jsonl", "rejects.jsonl"]
    for f in ("records.jsonl", "rejects.jsonl"):
        for line in (tmp_path / "out" / f).read_text(encoding="utf-8").splitlines():
            strict_loads(line)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"] == {"rows_in": len(lines), "records_out": 1, "rejects": n_bad, "balanced": True}

    ph = tmp_path / "phased.jsonl"
    ph.write_text("\n".join(json.dumps(r) for r in phased) + "\n")
    res = run_convert(ph, tmp_path / "ph" / "records.jsonl")
    assert (res.records_out, res.rejects) == (1, 3)
    rej = [json.loads(x) for x in (tmp_path / "ph" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["field"], "finite" in r["reason"]) for r in rej] == [("p1", "score", True), ("p2", "score", True), ("p3", "score", True)]
    for line in (tmp_path / "ph" / "records.jsonl").read_text().splitlines():
        assert strict_loads(line)["meta"]["difficulty"] == 3.5


def test_lone_surrogate_is_flagged_by_validate_and_rejected_by_convert_via_cli(tmp_path, capsys):
    from seqit.cli import main

    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps(GOOD["records"]) + "\n" + _text_is("records", SUR).replace(SUR, "\\ud800") + "\n")
    assert main(["validate", str(src)]) == 1
    assert "lone surrogate" in capsys.readouterr().out
    assert main(["convert", str(src), str(tmp_path / "o" / "out.jsonl")]) == 0  # was: exit 3, internal error
    assert not list((tmp_path / "o").glob("*.tmp"))
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["counts"]["rejects"] == 1


def test_parquet_nan_is_a_missing_value_and_infinity_a_reject(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": ["a", "b", "c"], "score": ["3", "4", "5"], "data": [["q", "x"], ["q", "y"], ["q", "z"]],
                      "w": [1.0, float("nan"), float("inf")]})
    pq.write_table(table, tmp_path / "d.parquet")
    loaded = load_records(tmp_path / "d.parquet")
    assert [r.id for r in loaded.records] == ["a", "b"]  # pandas/arrow write a missing value as NaN
    assert loaded.rejects[0].line == 3 and "not finite" in loaded.rejects[0].reason
    json.dumps(loaded.rejects[0].to_json(), allow_nan=False)


def test_reject_json_is_the_one_shape():
    rej = Reject("d.jsonl", 3, "is empty", "output", {"id": 7, "output": ""})
    assert rej.to_json() == {"id": "7", "file": "d.jsonl", "line": 3, "stage": "read", "reason": "is empty",
                             "field": "output", "row": {"id": 7, "output": ""}}
    assert str(rej) == "d.jsonl:3: output: is empty"
    assert Reject("d.jsonl", 1, "bad", row="{x", stage="input").to_json()["id"] is None


# --- whole files that cannot be read: one-line errors, never a hang ------------------------------


def _returns_within(fn, seconds: float = 10.0):
    """Run fn in a daemon thread; fail (without hanging the suite) if it blocks."""
    box: dict = {}

    def go():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked on the input (a FIFO must be refused before it is opened)"
    return box


FIFO_READERS = {
    "records": lambda p: load_records(p),
    "requests": lambda p: read_requests(p),
    "eval": lambda p: read_items(p),
    "caption": lambda p: read_caption_rows(p, None),
    "sha256_file": lambda p: sha256_file(p),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("reader", sorted(FIFO_READERS))
def test_named_pipe_is_an_error_at_once(tmp_path, reader):
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    box = _returns_within(lambda: FIFO_READERS[reader](fifo))
    err = box.get("error")
    assert isinstance(err, DataError) and "named pipe" in str(err) and "\n" not in str(err)


def test_directory_holding_a_fifo_hashes_only_regular_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text("{}\n")
    os.mkfifo(tmp_path / "d" / "pipe")
    box = _returns_within(lambda: sha256_file(tmp_path / "d"))
    assert len(box["value"]) == 64


def _nobody_uid() -> int | None:
    try:
        import pwd

        return pwd.getpwnam("nobody").pw_uid
    except (ImportError, KeyError):
        return None


PERMISSION_READERS = {**{k: v for k, v in FIFO_READERS.items()}, "validate": lambda p: run_validate(p)}


def _as_user(uid: int, fn) -> str:
    """Run fn in a forked child with the given uid (root reads anything); returns what it raised, as text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, run, report, exit without running pytest's teardown
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(uid)
            try:
                fn()
                msg = "no error"
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                msg = f"{type(e).__name__}: {e}"
            os.write(w, msg.encode("utf-8", "replace"))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode("utf-8")
    os.waitpid(pid, 0)
    return out


@pytest.mark.parametrize("reader", sorted(PERMISSION_READERS))
def test_file_without_read_permission_is_a_one_line_error(reader):
    """As a non-root user (root reads anything): as `nobody` in a forked child when the tests run as root."""
    uid = os.getuid()
    if uid == 0:
        uid = _nobody_uid()
        if uid is None or not hasattr(os, "fork"):
            pytest.skip("running as root with no 'nobody' user to drop to")
    base = Path(tempfile.mkdtemp(prefix="seqit-perm-"))
    try:
        base.chmod(0o755)
        data = base / "secret.jsonl"
        data.write_text(json.dumps(GOOD["requests"]) + "\n")
        data.chmod(0)
        fn = lambda: PERMISSION_READERS[reader](data)  # noqa: E731
        if uid == os.getuid():
            with pytest.raises(DataError) as e:
                fn()
            got = f"DataError: {e.value}"
        else:
            got = _as_user(uid, fn)
        assert got.startswith("DataError: ") and "secret.jsonl" in got and "Permission denied" in got
        assert "\n" not in got
    finally:
        data.chmod(stat.S_IRWXU)
        data.unlink()
        base.rmdir()
