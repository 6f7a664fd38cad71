"""Records: format detection, per-format conversion, and every bad-input kind as a reject or error."""

from __future__ import annotations

import json

import pytest

from seqit.errors import DataError
from seqit.records import Record, Reject, RowError, check_messages, detect_format, load_records, to_format


def write_lines(path, lines):
    path.write_bytes(b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines))
    return path


def put(path, text):
    path.write_text(text)
    return path


def jl(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


@pytest.mark.parametrize(
    "row, fmt",
    [
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"conversations": [{"from": "human", "value": "a"}]}, "sharegpt"),
        ({"messages": []}, "messages"),
        ({"prompt": "a", "completion": "b"}, "prompt_completion"),
        ({"id": "1", "score": "3.5\n\n", "data": ["a", "b"]}, "phased"),
        ({"question": "a", "answer": "b"}, None),
        ([1, 2], None),
    ],
)
def test_detect_format_from_keys(row, fmt):
    assert detect_format(row) == fmt


def test_alpaca_row_becomes_record_with_input_after_blank_line(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [jl({"instruction": "Sum", "input": "1, 2", "output": "3", "system": "Be brief."})])
    loaded = load_records(p)
    (rec,) = loaded.records
    assert rec.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Sum\n\n1, 2"},
        {"role": "assistant", "content": "3"},
    ]
    assert rec.meta["instruction"] == "Sum" and rec.meta["input"] == "1, 2"
    assert rec.id == "d-00001"
    assert loaded.notes == [f"{p}: detected format alpaca (from the keys of line 1)"]


def test_sharegpt_roles_are_mapped(tmp_path):
    row = {"id": "x", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    (rec,) = load_records(write_lines(tmp_path / "s.jsonl", [jl(row)])).records
    assert [m["role"] for m in rec.messages] == ["user", "assistant"] and rec.id == "x"


def test_prompt_completion_and_phased_rows(tmp_path):
    (rec,) = load_records(write_lines(tmp_path / "p.jsonl", [jl({"prompt": "Q", "completion": "A"})])).records
    assert rec.messages[-1] == {"role": "assistant", "content": "A"}
    (rec,) = load_records(write_lines(tmp_path / "ph.jsonl", [jl({"id": "5", "score": "3.5\n\n", "data": ["u", "a"]})])).records
    assert rec.meta["difficulty"] == 3.5 and rec.meta["difficulty_raw"] == "3.5\n\n" and rec.id == "5"


BAD_ALPACA_ROWS = [
    ('{"instruction": "a", "output": ', None, "invalid JSON at column"),
    (jl({"input": "", "output": "b"}), "instruction", "required field is missing"),
    (jl({"instruction": 5, "output": "b"}), "instruction", "must be text, got number"),
    (jl({"instruction": ["a"], "output": "b"}), "instruction", "must be text, got list"),
    (jl({"instruction": "a", "output": None}), "output", "must be text, got null"),
    (jl({"instruction": "", "output": "b"}), "instruction", "is empty"),
    (jl({"instruction": "a", "output": ""}), "output", "is empty"),
    (jl({"instruction": " \n\t", "output": "b"}), "instruction", "is whitespace only"),
    (jl([1, 2]), None, "row must be a JSON object, got list"),
    (jl({"messages": [{"role": "user", "content": "a"}]}), None, "row looks like messages but the file's format is alpaca"),
]


@pytest.mark.parametrize("line, field, reason", BAD_ALPACA_ROWS)
def test_bad_alpaca_row_is_rejected_with_line_field_and_reason(tmp_path, line, field, reason):
    p = write_lines(tmp_path / "d.jsonl", [jl({"instruction": "ok", "output": "fine"}), line])
    loaded = load_records(p)
    assert len(loaded.records) == 1 and loaded.rows_in == 2
    (rej,) = loaded.rejects
    assert rej.line == 2 and rej.file == str(p) and rej.field == field
    assert reason in rej.reason


BAD_MESSAGES = [
    ([{"role": "assistant", "content": "a"}], "messages[0].role", "roles out of order"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "messages[1].role", "roles out of order"),
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}], "messages[1].role", "unknown role 'tool'"),
    ([{"role": "user", "content": "a"}], "messages", "does not end with an assistant message"),
    ([{"role": "system", "content": "s"}], "messages", "only a system message"),
    ([], "messages", "has no messages"),
    ([{"role": "user", "content": 3}, {"role": "assistant", "content": "b"}], "messages[0].content", "must be text"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}], "messages[1].content", "whitespace only"),
    ("hello", "messages", "must be a list"),
]


@pytest.mark.parametrize("messages, field, reason", BAD_MESSAGES)
def test_check_messages_names_the_bad_field(messages, field, reason):
    with pytest.raises(RowError) as e:
        check_messages(messages)
    assert e.value.field == field and reason in e.value.reason


def test_prompt_only_messages_allowed_when_response_not_required():
    msgs = check_messages([{"role": "user", "content": "q"}], require_response=False)
    assert msgs == [{"role": "user", "content": "q"}]


def test_sharegpt_unknown_speaker_is_rejected(tmp_path):
    row = {"conversations": [{"from": "narrator", "value": "a"}, {"from": "gpt", "value": "b"}]}
    (rej,) = load_records(write_lines(tmp_path / "s.jsonl", [jl(row)])).rejects
    assert rej.field == "conversations[0].from" and "unknown speaker 'narrator'" in rej.reason


def test_duplicate_ids_keep_first_and_reject_later(tmp_path):
    rows = [jl({"id": "a", "instruction": "x", "output": "y"}), jl({"id": "a", "instruction": "z", "output": "w"})]
    loaded = load_records(write_lines(tmp_path / "d.jsonl", rows))
    assert [r.id for r in loaded.records] == ["a"]
    assert loaded.rejects[0].field == "id" and "duplicate id 'a' (first at line 1)" in loaded.rejects[0].reason


def test_non_utf8_line_is_rejected_and_others_kept(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [jl({"instruction": "a", "output": "b"}), b'{"instruction": "\xff\xfe", "output": "b"}'])
    loaded = load_records(p)
    assert len(loaded.records) == 1 and "not valid UTF-8" in loaded.rejects[0].reason and loaded.rejects[0].line == 2


def test_utf8_bom_is_ignored(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + jl({"instruction": "a", "output": "b"}).encode() + b"\n")
    assert len(load_records(p).records) == 1
    q = tmp_path / "bom.json"
    q.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"instruction": "a", "output": "b"}]).encode())
    assert len(load_records(q).records) == 1


def test_row_over_size_limit_is_rejected(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [jl({"instruction": "a", "output": "b" * 500})])
    (rej,) = load_records(p, max_row_bytes=100).rejects
    assert "over the limit of 100" in rej.reason


def test_json_list_rows_carry_their_line_numbers(tmp_path):
    p = tmp_path / "d.json"
    p.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "", "output": "b"}\n]\n')
    loaded = load_records(p)
    assert loaded.rejects[0].line == 3 and loaded.rejects[0].field == "instruction"


def test_one_line_json_list_rows_get_distinct_fallback_ids(tmp_path):
    p = put(tmp_path / "c.json", json.dumps([{"instruction": f"i{k}", "output": "o"} for k in range(3)]))
    loaded = load_records(p)
    assert [r.id for r in loaded.records] == ["c-00001", "c-00002", "c-00003"] and not loaded.rejects


@pytest.mark.parametrize(
    "text, where",
    [
        ('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a" "output": "b"}\n]', ":3:"),
        ('[\n  {"instruction": "a", "output": "b"}\n  {"instruction": "c", "output": "d"}\n]', ":3:3:"),
        ('[{"instruction": "a", "output": "b"},', ":1:"),
    ],
)
def test_json_list_syntax_error_is_a_data_error_with_line_and_column(tmp_path, text, where):
    p = tmp_path / "d.json"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        load_records(p)
    assert f"{p}{where}" in str(e.value) and "invalid JSON" in str(e.value)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "missing.jsonl", "no such file or directory"),
        (lambda d: put(d / "empty.jsonl", ""), "file is empty"),
        (lambda d: put(d / "blank.jsonl", "\n\n"), "no rows"),
        (lambda d: put(d / "e.json", "[]"), "no rows"),
        (lambda d: (d / "sub").mkdir() or d / "sub", "directory holds no data files"),
        (lambda d: put(d / "odd.jsonl", '{"q": 1}\n'), "cannot detect the dataset format"),
        (lambda d: put(d / "obj.json", '{"instruction": "a"}'), "expected a JSON list of rows"),
    ],
)
def test_unreadable_sources_raise_data_error(tmp_path, setup, message):
    with pytest.raises(DataError) as e:
        load_records(setup(tmp_path))
    assert message in str(e.value)


def test_hub_hint_for_owner_name_paths(tmp_path):
    with pytest.raises(DataError, match="hf:owner/name"):
        load_records("someone/some-dataset")


def test_directory_of_files_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "data"
    d.mkdir()
    pq.write_table(pa.Table.from_pylist([{"instruction": "a", "input": "", "output": "b"}]), d / "a.parquet")
    write_lines(d / "b.jsonl", [jl({"prompt": "p", "completion": "c"})])
    loaded = load_records(d)
    assert len(loaded.records) == 2 and set(loaded.formats.values()) == {"alpaca", "prompt_completion"}


def test_saved_hf_dataset_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"instruction": "a", "input": "", "output": "b"}]).save_to_disk(str(tmp_path / "hfds"))
    assert len(load_records(tmp_path / "hfds").records) == 1


def test_declared_format_overrides_detection(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [jl({"instruction": "a", "output": "b"})])
    loaded = load_records(p, fmt="sharegpt")
    assert not loaded.records and loaded.rejects[0].reason.startswith("row looks like alpaca")
    assert "declared" in loaded.notes[0]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_export_round_trips_through_the_reader(tmp_path, fmt):
    rec = Record("r1", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q\n\nI"}, {"role": "assistant", "content": "A"}],
                 {"instruction": "Q", "input": "I"})
    p = write_lines(tmp_path / "x.jsonl", [jl(to_format(rec, fmt))])
    (back,) = load_records(p).records
    assert back.messages == rec.messages and back.id == "r1"


def test_alpaca_export_refuses_multi_turn():
    rec = Record("r", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                       {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}])
    with pytest.raises(RowError, match="one user and one assistant turn"):
        to_format(rec, "alpaca")


def test_reject_str_is_file_line_field_problem():
    assert str(Reject("d.jsonl", 7, "is empty", "output")) == "d.jsonl:7: output: is empty"
