"""XQuAD and MGSM (SIT reference layout, base and translate-then-answer modes) through `seqit eval`,
on tiny local samples with a scripted OpenAI-compatible model; the metrics are pure and table-driven."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fakes.multilingual_replies import mgsm_reply, xquad_reply
from seqit.cli import main
from seqit.errors import DataError
from seqit.eval.multilingual import (
    extract_answer,
    last_number,
    mgsm_prompt,
    mgsm_verdict,
    normalize_answer,
    read_mgsm,
    read_xquad,
    summarize_by_language,
    xquad_verdict,
)
from seqit.jsonl import read_jsonl

ASSETS = Path(__file__).parent / "assets" / "multilingual"


@pytest.mark.parametrize(("output", "want"), [
    ("Translation: ...\nAnswer: Ada Munro", ("ada munro", True)),
    ("The result is 1871. Answer: 1871", ("1871. answer: 1871", True)),  # the first marker in the text wins
    ("Ada Munro", ("ada munro", False)),
    ("answer:", ("", True)),
])
def test_extract_answer(output, want):
    assert extract_answer(output) == want


@pytest.mark.parametrize(("output", "gold", "want"), [
    ("Answer: Ada Munro", "Ada Munro", (True, True, True, True)),
    ("Answer: the north.", "north", (True, True, True, True)),
    ("Ada Munro", "Ada Munro", (False, True, False, True)),
    ("Answer: 340 km", "340 kilometres", (True, False, False, False)),
    ("Answer: ", "1871", (True, False, False, False)),  # empty prediction: wrong (the reference counted it right)
    ("", "1871", (False, False, False, False)),
    (None, "1871", (False, False, False, False)),
    ("Answer: Munro\nbecause she was the engineer", "Ada Munro", (True, True, True, False)),  # substring, first line
])
def test_xquad_verdict(output, gold, want):
    v = xquad_verdict(output, gold)
    assert (v["follow"], v["ac"], v["ac_with_follow"], v["em"]) == want


@pytest.mark.parametrize(("output", "gold", "em"), [
    ("3 x 4 = 12. The Answer is: 12", "12", True), ("The Answer is: 1,200", "1200", True),
    ("12 pens, so 13", "12", False), ("no idea", "12", False), (None, "12", False), ("-3.0", "-3", True)])
def test_mgsm_verdict_takes_the_last_number(output, gold, em):
    assert mgsm_verdict(output, gold) == {"em": em}


def test_helpers():
    assert normalize_answer("The  North!") == "north" and last_number("a 1,234 b 5.5") == 5.5
    rows = [{"mode": "base", "lang": "en", "em": True}, {"mode": "base", "lang": "en", "em": False},
            {"mode": "base", "lang": "de", "em": True}, {"mode": "translate", "lang": "de", "em": False}]
    assert summarize_by_language(rows, ("em",)) == {
        "base": {"de": {"n": 1, "em": 1.0}, "en": {"n": 2, "em": 0.5}, "avg": {"em": 0.75}},
        "translate": {"de": {"n": 1, "em": 0.0}, "avg": {"em": 0.0}}}


def test_mgsm_prompt_modes_and_demos():
    demos = [{"question": "Q1", "question_en": "Q1 en", "cot_en": "2 + 5 = 7.", "answer": 7}]
    base, trans = mgsm_prompt("Frage?", "base", demos), mgsm_prompt("Frage?", "translate", demos)
    assert base.startswith("First think step-by-step about the question in English, then answer")
    assert trans.startswith("first translate the question to English, then think step by step, finally answer")
    assert "Question: Q1\nAnswer: 2 + 5 = 7. The Answer is: 7" in base and "Translation: Q1 en" in trans
    assert base.endswith("Question: Frage?\nAnswer:") and "Question: Question:" not in base  # reference bug 27


def served(fake_openai, reply):
    fake_openai.reply = reply
    return ["model.backend=openai", "model.model=m", f"model.base_url={fake_openai.url}", "model.api_key_env=null"]


def test_xquad_runs_both_modes_by_language(tmp_path, fake_openai):
    rc = main(["eval", "configs/eval/xquad.yaml", f"data={ASSETS / 'xquad'}", *served(fake_openai, xquad_reply),
               "--out", str(tmp_path / "run")])
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    m = res["metrics"]
    assert res["modes"] == ["base", "translate"] and res["n_items"] == 14
    assert m["translate"]["en"] == {"n": 3, "ac": 1.0, "ac_with_follow": 1.0, "follow": 1.0, "em": 1.0}
    assert m["translate"]["de"] == {"n": 2, "ac": 0.5, "ac_with_follow": 0.5, "follow": 1.0, "em": 0.5}
    assert m["translate"]["ar"] == {"n": 2, "ac": 1.0, "ac_with_follow": 1.0, "follow": 1.0, "em": 1.0}
    assert m["base"]["en"] == {"n": 3, "ac": 0.6667, "ac_with_follow": 0.0, "follow": 0.0, "em": 0.6667}
    assert m["base"]["de"] == {"n": 2, "ac": 0.5, "ac_with_follow": 0.5, "follow": 1.0, "em": 0.5}
    assert m["base"]["ar"]["ac"] == 0.0 and m["translate"]["avg"]["ac"] == round((1 + 0.5 + 1) / 3, 4)
    rows = list(read_jsonl(tmp_path / "run" / "samples.jsonl"))
    ar = next(r for r in rows if r["lang"] == "ar" and r["mode"] == "translate")
    assert ar["kind"] == "trans" and ar["prompt"].startswith("First, translate the input into English.")
    assert " Input: Context: " in ar["prompt"]


def test_mgsm_runs_both_modes_by_language_with_demos(tmp_path, fake_openai):
    rc = main(["eval", "configs/eval/mgsm.yaml", f"data={ASSETS / 'mgsm'}", *served(fake_openai, mgsm_reply),
               "--out", str(tmp_path / "run")])
    assert rc == 0
    m = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]
    assert m["base"]["en"] == {"n": 3, "em": 0.6667} and m["base"]["de"] == {"n": 2, "em": 1.0}
    assert m["translate"]["en"] == {"n": 3, "em": 1.0} and m["translate"]["de"] == {"n": 2, "em": 0.5}
    rc = main(["eval", "configs/eval/mgsm.yaml", f"data={ASSETS / 'mgsm'}", *served(fake_openai, mgsm_reply),
               "multilingual.shots=2", "multilingual.languages=[en]", "multilingual.mode=translate", "--limit", "1",
               "--out", str(tmp_path / "shots")])
    assert rc == 0
    (row,) = list(read_jsonl(tmp_path / "shots" / "samples.jsonl"))
    assert row["prompt"].count("Question: ") == 3 and "Translation: Sam has 2 apples" in row["prompt"]


def test_layout_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DataError, match="has no files named xquad_"):
        read_xquad(tmp_path, [])
    with pytest.raises(DataError, match="not a directory"):
        read_mgsm(tmp_path / "nope", [], 0)
    with pytest.raises(DataError, match="no data for fr"):
        read_mgsm(ASSETS / "mgsm", ["fr"], 0)
    with pytest.raises(DataError, match=re.escape("mgsm_de_exemplars.jsonl: missing")):
        read_mgsm(ASSETS / "mgsm", ["de"], 2)
    shutil.copy(ASSETS / "mgsm" / "mgsm_en.tsv", tmp_path / "mgsm_en.tsv")
    with (tmp_path / "mgsm_en.tsv").open("a") as f:
        f.write("How many?\tmany\n")
    with pytest.raises(DataError, match=r"mgsm_en.tsv:4: answer: not a number"):
        read_mgsm(tmp_path, [], 0)
    (tmp_path / "xquad_base_en.json").write_text(json.dumps([{"input": "Context: x\nQuestion: y", "output": ""}]))
    with pytest.raises(DataError, match=r"xquad_base_en.json: row 0: output: missing or empty"):
        read_xquad(tmp_path, [])


def test_xquad_needs_a_data_dir(tmp_path, capsys):
    assert main(["eval", "configs/eval/xquad.yaml", "data=null", "--out", str(tmp_path / "r")]) != 0
    assert "needs the directory" in capsys.readouterr().err
