"""Decontamination: n-gram overlap of training prompts with evaluation prompts (pure, table-driven),
wired into `seqit split` and `seqit generate` (report tags meta.contamination; drop rejects with the eval id)."""

from __future__ import annotations

import json

import pytest

from seqit.chains.seqeval_v import frozen_items
from seqit.cli import main
from seqit.errors import DataError
from seqit.jsonl import read_jsonl, write_jsonl
from seqit.phases.decontam import (
    DecontamConfig,
    best_match,
    build_index,
    load_eval_prompts,
    ngrams,
    open_index,
    prompt_text,
    tokens,
)

EVAL = [("bench", "e1", "Name three rivers in Europe and sort them by length."),
        ("bench", "e2", "Write a short poem about the quiet winter sea at night."),
        ("bench", "e3", "Hi")]


@pytest.mark.parametrize(("text", "n", "want"), [
    ("A b, C!", 2, {("a", "b"), ("b", "c")}),
    ("one two", 5, {("one", "two")}),  # shorter than n: one n-gram of the whole text
    ("", 3, set()),
])
def test_ngrams(text, n, want):
    assert ngrams(tokens(text), n) == want


@pytest.mark.parametrize(("text", "eval_id", "overlap"), [
    ("Name three rivers in Europe and sort them by length.", "e1", 1.0),
    ("Please name three rivers in Europe and sort them by length, thanks!", "e1", 1.0),  # wrapped, punctuation
    ("Name three rivers in Europe and sort them alphabetically.", "e1", 0.7143),  # 5 of e1's 7 4-grams
    ("Name three rivers in Asia.", None, None),
    ("hi there", "e3", 1.0),  # a prompt shorter than n matches as a whole
    ("Write a short poem", None, None),
])
def test_best_match(text, eval_id, overlap):
    m = best_match(build_index(EVAL, n=4), text, min_overlap=0.5)
    assert (m.eval_id if m else None, m.overlap if m else None) == (eval_id, overlap)


def test_boilerplate_shared_by_many_eval_prompts_is_not_evidence():
    prompts = [("b", f"e{i}", f"Apply the following steps in order to the input. Input: word{i} and more{i}") for i in range(50)]
    index = build_index(prompts, n=4)
    assert index.boilerplate > 0
    assert best_match(index, "Apply the following steps in order to the input. Input: something else") is None
    assert best_match(index, "Apply the following steps in order to the input. Input: word7 and more7").eval_id == "e7"


def test_shipped_benchmarks_load_and_match_themselves():
    prompts = load_eval_prompts(["seqeval_v:v2", "seqeval"])
    assert {p[0] for p in prompts} == {"seqeval_v:v2", "seqeval"} and len(prompts) > 800
    index = open_index(DecontamConfig(sources=["seqeval_v:v2"]))
    item = frozen_items("v2")[123]
    m = best_match(index, item["messages"][0]["content"])
    assert m.eval_id == item["id"] and m.overlap == 1.0
    assert open_index(DecontamConfig()) is None
    with pytest.raises(DataError, match="nope.jsonl"):
        load_eval_prompts(["nope.jsonl"])


@pytest.mark.parametrize(("kwargs", "match"), [({"ngram": 0}, "ngram"), ({"min_overlap": 0}, "min_overlap"),
                                                ({"max_doc_share": 2}, "max_doc_share")])
def test_config_is_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecontamConfig(**kwargs)


def test_prompt_text_is_the_user_turns():
    assert prompt_text([{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                        {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}]) == "u1\nu2"


def records(tmp_path):
    """Four records, two of which repeat SeqEval-V v1 prompts (one with a polite wrapper)."""
    items = frozen_items("v1")
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}],
             "meta": {"difficulty": 1 + i}}
            for i, text in enumerate(["Tell me about tides.", items[7]["messages"][0]["content"],
                                      "Please do this: " + items[300]["messages"][0]["content"], "Write a haiku."])]
    write_jsonl(tmp_path / "data.jsonl", rows)
    return items


@pytest.mark.parametrize("action", ["report", "drop"])
def test_split_reports_or_drops_records_overlapping_seqeval_v(tmp_path, action):
    items = records(tmp_path)
    rc = main(["split", "configs/split/thresholds.yaml", f"data={tmp_path / 'data.jsonl'}", "dedup.near=false",
               "decontam.sources=[seqeval_v]", f"decontam.action={action}", "--out", str(tmp_path / "split")])
    assert rc == 0
    m = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert m["counts"]["contaminated"] == 2 and m["decontam"]["hits"] == 2
    assert [e["eval_id"] for e in m["decontam"]["examples"]] == [items[7]["id"], items[300]["id"]]
    kept = list(read_jsonl(tmp_path / "split" / "all.jsonl"))
    rejects = list(read_jsonl(tmp_path / "split" / "rejects.jsonl"))
    if action == "report":
        assert len(kept) == 4
        tagged = {r["id"]: r["meta"]["contamination"]["eval_id"] for r in kept if "contamination" in r["meta"]}
        assert tagged == {"r1": items[7]["id"], "r2": items[300]["id"]}
    else:
        assert [r["id"] for r in kept] == ["r0", "r3"]
        assert {(r["id"], r["stage"], r["detail"]["eval_id"]) for r in rejects} == {
            ("r1", "decontam", items[7]["id"]), ("r2", "decontam", items[300]["id"])}


def test_generate_drops_records_overlapping_a_local_prompt_file_and_still_balances(tmp_path):
    seeds = [json.loads(line) for line in open("src/seqit/resources/sample_alpaca.jsonl", encoding="utf-8")]
    evals = [{"id": "bench-1", "instruction": seeds[1]["instruction"], "input": seeds[1]["input"]},
             {"id": "bench-2", "instruction": seeds[3]["instruction"]}]
    (tmp_path / "bench.json").write_text(json.dumps(evals))
    args = ["generate", "configs/generate/repeat-then-answer.yaml", f"decontam.sources=[{tmp_path / 'bench.json'}]",
            "decontam.action=drop", "--out", str(tmp_path / "gen")]
    assert main(args) == 0
    m = json.loads((tmp_path / "gen" / "manifest.json").read_text())
    rejects = [r for r in read_jsonl(tmp_path / "gen" / "rejects.jsonl") if r["stage"] == "decontam"]
    assert {r["detail"]["eval_id"] for r in rejects} == {"bench-1", "bench-2"}
    kept = [r for name in ("sit.jsonl", "it.jsonl") for r in read_jsonl(tmp_path / "gen" / name)]
    assert not any(seeds[3]["instruction"] in prompt_text(r["messages"]) for r in kept)
    assert m["counts"]["balanced"] is True and m["decontam"]["hits_by_source"] == {str(tmp_path / "bench.json"): len(rejects)}
    assert main(args) == 0  # a rerun (resume) still balances: the drops are counted from rejects.jsonl
    again = json.loads((tmp_path / "gen" / "manifest.json").read_text())["counts"]
    assert again["balanced"] is True and again["decontam_dropped_sit"] + again["decontam_dropped_it"] == len(rejects)
