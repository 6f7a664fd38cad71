"""The SIT authors' released Self-Seq files: rows {completions, idx, input, instruction, new_instruction, option}
with the answer under `final_refined_instruction_reponse` (misspelt as released). Detected once per file; a row
without the answer is a reject naming that key; the official SeqEval and Phased-IFT layouts read as before.

The files here are synthetic, in the released layout (nothing is downloaded).
"""

from __future__ import annotations

import json
import re

import pytest

from seqit.cli import main
from seqit.records import detect_format, load_records
from seqit.records.formats import SELFSEQ_ANSWER

ANSWER = "final_refined_instruction_reponse"


def released_row(idx: int, *, option: str = "B", input_text: str = "", answer: str | None = "ok") -> dict:
    """One row in the released key order (the answer key last, absent when its stage never ran)."""
    row = {
        "completions": f"The instruction can be improved by adding a prefix task. Option {option}",
        "idx": idx,
        "input": input_text,
        "instruction": f"Summarise text {idx}.",
        "new_instruction": f"First list the key points of text {idx}, then summarise it.",
        "option": option,
    }
    if answer is not None:
        row[ANSWER] = answer
    return row


@pytest.fixture
def released_file(tmp_path):
    rows = [released_row(0), released_row(1, answer=None), released_row(2, input_text="Cats sleep a lot."),
            released_row(3, option="D"), released_row(4, answer="")]
    rows[3]["new_instruction"] = rows[3]["instruction"]  # option D: the instruction is kept as it is
    path = tmp_path / "selfseq-release.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_misspelt_answer_key_is_the_released_one():
    assert SELFSEQ_ANSWER == ANSWER


@pytest.mark.parametrize("answer", ["x", None])
def test_a_released_row_is_detected_as_selfseq_with_or_without_its_answer(answer):
    assert detect_format(released_row(0, answer=answer)) == "selfseq"


def test_released_rows_become_sit_records_and_rows_without_an_answer_are_rejects(released_file):
    loaded = load_records(released_file)
    assert loaded.notes == [f"{released_file}: detected format selfseq (from the keys of line 1)"]
    assert [r.id for r in loaded.records] == ["0", "2", "3"]
    first = loaded.records[0]
    assert first.messages == [
        {"role": "user", "content": "First list the key points of text 0, then summarise it."},
        {"role": "assistant", "content": "ok"},
    ]
    assert first.meta["kind"] == "sit" and first.meta["option"] == "B"
    assert first.meta["original_instruction"] == "Summarise text 0."
    with_input = loaded.records[1]
    assert with_input.messages[0]["content"].endswith("then summarise it.\n\nCats sleep a lot.")
    assert loaded.records[2].meta["option"] == "D"
    assert [(r.line, r.field) for r in loaded.rejects] == [(2, ANSWER), (5, ANSWER)]
    assert "required field is missing" in loaded.rejects[0].reason and "is empty" in loaded.rejects[1].reason
    assert loaded.rows_in == len(loaded.records) + len(loaded.rejects)


def test_an_input_the_new_instruction_already_holds_is_not_appended_twice(tmp_path):
    row = released_row(7, input_text="Cats sleep a lot.")
    row["new_instruction"] = "List the key points of 'Cats sleep a lot.', then summarise them."
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (rec,) = load_records(path).records
    assert rec.messages[0]["content"] == row["new_instruction"] and "input" not in rec.meta


def test_an_unknown_option_is_a_reject_naming_the_field(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(released_row(1, option="E")) + "\n", encoding="utf-8")
    (rej,) = load_records(path).rejects
    assert rej.field == "option" and "'E'" in rej.reason


def test_seqit_validate_reads_a_released_file_and_counts_its_rejects(released_file, capsys):
    assert main(["validate", str(released_file)]) == 1  # some rows bad
    out = capsys.readouterr().out
    assert "detected format selfseq" in out and "rows: 5  good: 3  bad: 2" in out
    assert f"{released_file}:2: {ANSWER}: required field is missing" in out


def test_seqit_convert_writes_records_and_the_answerless_rows_as_rejects(released_file, tmp_path, capsys):
    out = tmp_path / "out" / "records.jsonl"
    assert main(["convert", str(released_file), str(out), "--max-reject-frac", "0.5"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in (out.parent / "rejects.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and len(rejects) == 2 and {r["field"] for r in rejects} == {ANSWER}


def test_the_format_can_be_declared_and_every_help_lists_every_format(released_file, capsys):
    from seqit.records import FORMATS

    assert len(load_records(released_file, "selfseq").records) == 3
    for command in ("validate", "convert"):
        main([command, "--help"])
        text = re.sub(r"[\s│]", "", capsys.readouterr().out)  # rich wraps the help inside a box
        assert all(name in text for name in FORMATS), command
