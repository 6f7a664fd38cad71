"""`seqit validate` and `seqit convert` in-process: exit codes, file:line messages, balanced counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from seqit.cli import main

GOOD = json.dumps({"instruction": "a", "output": "b"})
# Every kind of bad row the issue lists, each as (line bytes, expected message fragment).
BAD_ROWS = [
    (b'{"instruction": "a", "output": "b"', "invalid JSON"),
    (json.dumps({"output": "b"}).encode(), "instruction: required field is missing"),
    (json.dumps({"instruction": 1, "output": "b"}).encode(), "instruction: must be text, got number"),
    (json.dumps({"instruction": "a", "output": ["b"]}).encode(), "output: must be text, got list"),
    (json.dumps({"instruction": "a", "output": None}).encode(), "output: must be text, got null"),
    (json.dumps({"instruction": "", "output": "b"}).encode(), "instruction: is empty"),
    (json.dumps({"instruction": "a", "output": ""}).encode(), "output: is empty"),
    (json.dumps({"instruction": "a", "output": "   "}).encode(), "output: is whitespace only"),
    (b'{"instruction": "\xc3\x28", "output": "b"}', "not valid UTF-8"),
    (json.dumps({"instruction": "a", "output": "b" * 3000}).encode(), "over the limit of 2000"),
    (json.dumps({"id": "dup", "instruction": "a", "output": "b"}).encode(), "duplicate id 'dup'"),
    (json.dumps({"conversations": [{"from": "human", "value": "a"}]}).encode(), "mixed formats in one file"),
]


@pytest.fixture
def messy(tmp_path):
    lines = [json.dumps({"id": "dup", "instruction": "first", "output": "ok"}).encode()]
    lines += [row for row, _ in BAD_ROWS] + [GOOD.encode()]
    p = tmp_path / "messy.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


def test_validate_reports_every_bad_row_with_file_line_and_exits_1(messy, capsys):
    code = main(["validate", str(messy), "--max-row-bytes", "2000"])
    out = capsys.readouterr().out
    assert code == 1
    assert "detected format alpaca" in out
    for i, (_, fragment) in enumerate(BAD_ROWS, start=2):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"{messy}:{i}:"))
        assert fragment in line, line
    assert f"rows: {len(BAD_ROWS) + 2}  good: 2  bad: {len(BAD_ROWS)}" in out
    assert "Traceback" not in out


def test_validate_good_file_exits_0(sample_path, capsys):
    assert main(["validate", str(sample_path)]) == 0
    assert "rows: 50  good: 50  bad: 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "nope.jsonl", "no such file or directory"),
        (lambda d: _put(d / "empty.jsonl", b""), "file is empty"),
        (lambda d: _put(d / "bad.json", b'[\n {"instruction": "a", "output": "b"},\n {"instruction" "a"}\n]'), "bad.json:3:"),
        (lambda d: _put(d / "x.jsonl", b'{"foo": 1}\n'), "cannot detect the dataset format"),
        (lambda d: (d / "emptydir").mkdir() or d / "emptydir", "directory holds no data files"),
    ],
)
def test_unreadable_input_exits_2_with_message_not_traceback(tmp_path, capsys, make, fragment):
    code = main(["validate", str(make(tmp_path))])
    captured = capsys.readouterr()
    assert code == 2
    assert fragment in captured.err and "error:" in captured.err and "Traceback" not in captured.err


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


def test_unknown_format_flag_is_a_clear_error(sample_path, capsys):
    assert main(["validate", str(sample_path), "--format", "csv"]) == 2
    assert "unknown format 'csv'" in capsys.readouterr().err


def test_convert_balances_rows_and_writes_rejects_beside_output(messy, tmp_path, capsys):
    out = tmp_path / "out" / "records.jsonl"
    # 12 of 14 rows are bad on purpose: past the default --max-reject-frac 0.5 the command exits 1
    assert main(["convert", str(messy), str(out), "--max-row-bytes", "2000"]) == 1
    records = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in (out.parent / "rejects.jsonl").read_text().splitlines()]
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert len(records) == 2 and len(rejects) == len(BAD_ROWS)
    assert manifest["counts"] == {"rows_in": len(BAD_ROWS) + 2, "records_out": 2, "rejects": len(BAD_ROWS), "balanced": True}
    assert all({"file", "line", "reason", "row"} <= set(r) for r in rejects)
    assert records[0]["messages"][-1] == {"role": "assistant", "content": "ok"} and records[0]["id"] == "dup"
    assert manifest["inputs"]["data"]["sha256"]


def test_convert_to_alpaca_rejects_multi_turn_rows(tmp_path):
    src = tmp_path / "chat.jsonl"
    turns = [{"role": r, "content": c} for r, c in [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")]]
    src.write_text(json.dumps({"messages": turns}) + "\n" + json.dumps({"messages": turns[:2]}) + "\n")
    out = tmp_path / "alpaca.jsonl"
    assert main(["convert", str(src), str(out), "--to", "alpaca"]) == 0
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    (rej,) = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert row["instruction"] == "a" and row["output"] == "b"
    assert rej["line"] == 1 and "one user and one assistant turn" in rej["reason"]


def test_convert_limit_and_dry_run(sample_path, tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["convert", str(sample_path), str(out), "--limit", "5", "--to", "sharegpt"]) == 0
    assert len(out.read_text().splitlines()) == 5
    assert json.loads(out.read_text().splitlines()[0])["conversations"][0]["from"] == "human"
    dry = tmp_path / "dry.jsonl"
    assert main(["convert", str(sample_path), str(dry), "--dry-run"]) == 0
    assert not dry.exists() and "dry run: nothing written" in capsys.readouterr().out


def test_help_is_fast_and_does_not_import_torch():
    code = "import sys, seqit.cli; seqit.cli.main(['--help']); assert 'torch' not in sys.modules, 'torch imported'"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "validate" in proc.stdout and "convert" in proc.stdout
    assert elapsed < 3.0  # < 1 s on an idle machine; slack for loaded CI cores


def test_version_flag(capsys):
    from seqit import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_error_text_with_brackets_is_printed_verbatim(tmp_path, capsys):
    missing = tmp_path / "data[vllm].jsonl"
    assert main(["validate", str(missing)]) == 2
    assert f"{missing}: no such file or directory" in capsys.readouterr().err
