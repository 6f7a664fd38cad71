"""The one edge reader (records.read_rows) used by every row kind, and what the records keep of a row."""

from __future__ import annotations

import json

import pytest

from seqit.errors import DataError
from seqit.records import Parsed, Reject, RowError, load_records, read_rows


def put_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def parse_word(row, fmt):
    if not isinstance(row.get("w"), str):
        raise RowError("w", "must be text")
    return row["w"].upper()


def test_read_rows_yields_parsed_or_reject_with_limit_duplicates_and_fallback_ids(tmp_path):
    p = put_jsonl(tmp_path / "w.jsonl", [{"w": "a"}, {"id": "x", "w": "b"}, {"id": "x", "w": "c"}, {"w": 3}, {"w": "e"}, {"w": "f"}])
    reader = read_rows(p, parse_word, limit=5)
    got = list(reader)
    assert reader.rows_in == 5
    assert [(g.id, g.value, g.line, g.index) for g in got if isinstance(g, Parsed)] == [
        ("w-00001", "A", 1, 1), ("x", "B", 2, 2), ("w-00005", "E", 5, 5)]
    rejects = [g for g in got if isinstance(g, Reject)]
    assert [str(r) for r in rejects] == [f"{p}:3: id: duplicate id 'x' (first at line 2)", f"{p}:4: w: must be text"]


def test_rows_without_id_sharing_a_made_up_id_are_numbered_not_rejected(tmp_path):
    p = put_jsonl(tmp_path / "w.jsonl", [{"w": "a"}, {"w": "a"}, {"w": "a"}])
    got = list(read_rows(p, parse_word, fallback_id=lambda value, file, index: f"h-{value}"))
    assert [g.id for g in got] == ["h-A", "h-A-2", "h-A-3"]


def test_declared_format_is_checked_against_every_row(tmp_path):
    p = put_jsonl(tmp_path / "m.jsonl", [{"kind": "a", "w": "x"}, {"kind": "b", "w": "y"}])
    got = list(read_rows(p, parse_word, detect=lambda row: row.get("kind"), known_formats=("a", "b")))
    assert isinstance(got[0], Parsed) and "mixed formats" in got[1].reason
    with pytest.raises(DataError, match="unknown format 'c'"):
        read_rows(p, parse_word, fmt="c", known_formats=("a", "b"))


def test_lima_source_column_is_kept_as_row_source(tmp_path):
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "source": "stackexchange"}
    p = put_jsonl(tmp_path / "lima.jsonl", [row])
    (rec,) = load_records(p, source="lima").records
    assert rec.meta["source"] == "lima" and rec.meta["row_source"] == "stackexchange"
    (rec,) = load_records(p).records
    assert rec.meta["source"] == "lima" and rec.meta["row_source"] == "stackexchange"  # the file's stem


def test_records_know_where_they_were_read_but_do_not_serialise_it(tmp_path):
    p = put_jsonl(tmp_path / "a.jsonl", [{"instruction": "x", "output": "y"}, {"output": "bad"}, {"instruction": "z", "output": "w"}])
    recs = load_records(p).records
    assert [r.origin for r in recs] == [(str(p), 1, 1), (str(p), 3, 3)]
    assert "origin" not in recs[0].to_json()


def test_function_call_in_an_assistant_turn_is_a_reject_not_dropped(tmp_path):
    msgs = [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "function_call": {"name": "weather", "arguments": "{}"}}]
    loaded = load_records(put_jsonl(tmp_path / "f.jsonl", [{"messages": msgs}]))
    assert not loaded.records and loaded.rejects[0].field == "messages[1].function_call"


def test_generate_reads_the_seed_file_once_with_parallel_data(tmp_path, monkeypatch):
    """Issue 11: the task-driven translate path read the English seed file three times."""
    import seqit.records.reader as reader_mod
    from seqit.config import load_config
    from seqit.generate.run import GenerateConfig, run_generate

    en = [{"instruction": f"Sum {i}.", "input": f"text {i}", "output": f"s{i}"} for i in range(4)]
    de = [{"instruction": "x", "input": f"Text {i}", "output": "y"} for i in range(4)]
    (tmp_path / "en.json").write_text(json.dumps(en))
    (tmp_path / "de.json").write_text(json.dumps(de))
    reads: list[str] = []
    real = reader_mod.iter_raw_rows

    def counting(path):
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(reader_mod, "iter_raw_rows", counting)
    cfg = load_config(GenerateConfig, None, [
        "method=taskdriven", f"data.path={tmp_path / 'en.json'}", "data.format=alpaca", f"out_dir={tmp_path / 'run'}",
        "taskdriven.steps=[translate]", f"taskdriven.parallel={{de: {tmp_path / 'de.json'}}}", "taskdriven.per_language=4"])
    run = run_generate(cfg, progress=False)
    assert sorted(reads) == sorted([str(tmp_path / "en.json"), str(tmp_path / "de.json")])
    sit = [json.loads(x) for x in (run / "sit.jsonl").read_text().splitlines()]
    assert sorted(r["meta"]["input"] for r in sit) == [f"Text {i}" for i in range(4)]
