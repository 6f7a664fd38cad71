"""Pairwise win rate end to end: model A (echo) vs reference B, judged in both orders by a scripted server."""

import json
import re

import pytest

from seqit.config import load_config
from seqit.errors import DataError
from seqit.eval.items import content_id
from seqit.eval.run import EvalConfig, run_eval
from seqit.jsonl import read_jsonl

BENCH = [
    {"id": "q1", "instruction": "Explain rain, then explain snow."},
    {"id": "q2", "instruction": "Name a planet, then describe it."},
    {"id": "q3", "instruction": "POSITION-BIASED: pick a number, then double it."},
    {"id": "q4", "instruction": "GARBLED: say hi, then bye."},
]
REFERENCE = {"q1": "Rain falls.", "q2": "Mars is a red planet with two moons and thin air, cold deserts.", "q3": "7, 14", "q4": "hi bye"}


def pair_judge(body):
    """Scores the longer answer higher (judges favour length); position-biased and garbled items too."""
    user = body["messages"][1]["content"]
    if "GARBLED" in user:
        return "Both are fine."
    if "POSITION-BIASED" in user:
        return "[[8, 6]]"  # always prefers whichever answer is shown first
    a1 = re.search(r"Assistant 1's Answer\]\n(.*?)\n\[The End", user, re.S).group(1)
    a2 = re.search(r"Assistant 2's Answer\]\n(.*?)\n\[The End", user, re.S).group(1)
    return f"Reasoning. [[{min(10, 2 + len(a1) // 10)}, {min(10, 2 + len(a2) // 10)}]]"


def write_inputs(tmp_path, reference=REFERENCE):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in BENCH), encoding="utf-8")
    ref = tmp_path / "reference.jsonl"
    ref.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in reversed(list(reference.items()))))
    return bench, ref


def pairwise_config(tmp_path, server, bench, ref, extra=()):
    return load_config(EvalConfig, None, [
        "task=pairwise", f"out_dir={tmp_path / 'run'}", f"data={bench}", f"reference={ref}",
        "model.backend=fake", "model.model=echo", "judge.backend=openai", "judge.model=judge-1",
        f"judge.base_url={server.url}", "judge.api_key_env=null", "judging.max_attempts=2", "bootstrap_samples=200",
        *extra,
    ])


def test_pairwise_judges_both_orders_and_applies_the_phased_ift_rule(tmp_path, fake_openai):
    fake_openai.reply = pair_judge
    bench, ref = write_inputs(tmp_path)  # the reference file is in reverse order: alignment is by id
    run = run_eval(pairwise_config(tmp_path, fake_openai, bench, ref))
    rows = {r["id"]: r for r in read_jsonl(run / "samples.jsonl")}
    # echo model: A's answer is the instruction itself
    assert rows["q1"]["output"] == BENCH[0]["instruction"] and rows["q1"]["reference_output"] == REFERENCE["q1"]
    assert rows["q1"]["outcome"] == "win"  # A longer than "Rain falls." in both orders
    assert rows["q2"]["outcome"] == "lose"
    assert rows["q3"]["order_results"] == ["win", "lose"] and rows["q3"]["outcome"] == "tie"
    assert rows["q4"]["status"] == "unparsed" and rows["q4"]["outcome"] is None
    assert len(rows["q4"]["judge_replies"]["a_first"]) == 2
    m = json.loads((run / "results.json").read_text())["metrics"]
    assert (m["win"], m["tie"], m["lose"], m["failed"], m["n"]) == (1, 1, 1, 1, 3)
    assert m["win_rate"] == pytest.approx(0.5)
    assert m["order_disagreement_rate"] == pytest.approx(1 / 3)  # the position-biased item
    assert m["mean_length_words"]["reference"] == pytest.approx(sum(len(v.split()) for v in REFERENCE.values()) / 4)
    assert len(m["win_rate_ci95"]) == 2


def test_pairwise_reference_with_missing_and_extra_ids_is_an_error_before_any_request(tmp_path, fake_openai):
    ref_rows = {k: v for k, v in REFERENCE.items() if k != "q2"} | {"q9": "extra"}
    bench, ref = write_inputs(tmp_path, ref_rows)
    with pytest.raises(DataError, match=r"never by position.*1 item id\(s\) have no output in reference .*: q2; 1 id\(s\) .* not in the benchmark: q9"):
        run_eval(pairwise_config(tmp_path, fake_openai, bench, ref))
    assert fake_openai.attempts.total() == 0 and not (tmp_path / "run").exists()


def test_pairwise_reference_without_ids_aligns_by_instruction_content(tmp_path, fake_openai):
    fake_openai.reply = pair_judge
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([{k: v for k, v in b.items() if k != "id"} for b in BENCH]))
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps([{"instruction": b["instruction"], "output": REFERENCE[b["id"]]} for b in reversed(BENCH)]))
    run = run_eval(pairwise_config(tmp_path, fake_openai, bench, ref))
    rows = {r["id"]: r for r in read_jsonl(run / "samples.jsonl")}
    assert rows[content_id(BENCH[0]["instruction"])]["reference_output"] == REFERENCE["q1"]


def test_duplicate_reference_ids_are_an_error(tmp_path, fake_openai):
    bench, _ = write_inputs(tmp_path)
    ref = tmp_path / "dup.jsonl"
    ref.write_text('{"id": "q1", "output": "a"}\n{"id": "q1", "output": "b"}\n')
    with pytest.raises(DataError, match=r"dup.jsonl:2: id: duplicate output for item 'q1'"):
        run_eval(pairwise_config(tmp_path, fake_openai, bench, ref))


def test_cli_prints_the_pairwise_summary(tmp_path, fake_openai, capsys):
    from seqit.cli import main

    fake_openai.reply = pair_judge
    bench, ref = write_inputs(tmp_path)
    cfg = tmp_path / "pw.yaml"
    cfg.write_text(f"task: pairwise\ndata: {bench}\nreference: {ref}\nmodel: {{backend: fake, model: echo}}\n"
                   f"judge: {{backend: openai, model: j, base_url: '{fake_openai.url}', api_key_env: null}}\n")
    assert main(["eval", str(cfg), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "win rate" in out and "1 / 1 / 1 / 1" in out and "order disagreement" in out
