"""`seqit generate` method microworld: deterministic, verifiable SIT data + held-out SeqEval-V item files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.chains.sampling import Chain, adjacent_pairs, is_eval_input, render_answer
from seqit.chains.scoring import score_chain
from seqit.cli import main
from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.generate.microworld import MICRO_PHRASES
from seqit.generate.run import GenerateConfig, run_generate
from seqit.jsonl import read_jsonl, write_jsonl

CONFIG = Path(__file__).parents[2] / "configs" / "generate" / "microworld.yaml"


def small(tmp: Path, *extra: str) -> GenerateConfig:
    return load_config(GenerateConfig, CONFIG, [f"out_dir={tmp}", "microworld.examples=60", "microworld.eval_n=12",
                                                *extra])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mw")
    assert main(["generate", str(CONFIG), "--out", str(out), "--no-progress", "microworld.examples=60",
                 "microworld.eval_n=12"]) == 0
    return out


def test_microworld_writes_the_generate_contract(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "finished" and m["command"] == "generate"
    c = m["counts"]
    assert (c["seeds"], c["sit_records"], c["it_records"], c["rejects_rows"], c["balanced"]) == (60, 60, 60, 0, True)
    assert m["depths"] == {"1": 15, "2": 15, "3": 30}  # lengths [1, 2, 3, 3] cycled
    assert len(list(read_jsonl(run_dir / "mix.jsonl"))) == 60
    assert m["microworld"]["longer_length"] == 4 and m["microworld"]["heldout_pairs"]


def test_every_record_is_correct_by_construction_and_avoids_heldout_pairs(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    held = {tuple(p.split(">")) for p in m["microworld"]["heldout_pairs"]}
    for name, kind_depths in (("sit.jsonl", {1, 2, 3}), ("it.jsonl", {1})):
        rows = list(read_jsonl(run_dir / name))
        assert {r["meta"]["depth"] for r in rows} == kind_depths
        for r in rows:
            chain = Chain.from_dict(r["meta"]["chain"])
            assert r["messages"][-1]["content"] == render_answer(chain, MICRO_PHRASES, named=True)
            assert score_chain(chain, r["messages"][-1]["content"]).chain_ok
            assert not held & set(adjacent_pairs(chain.composition))
            assert not is_eval_input(chain.input)  # training never sees an eval input
            assert r["meta"]["seed_id"] in r["id"]


def test_eval_item_files_hold_the_four_heldout_splits(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    held = {tuple(p.split(">")) for p in m["microworld"]["heldout_pairs"]}
    items = {s: list(read_jsonl(run_dir / f"eval-{s}.jsonl")) for s in ("single", "seen", "unseen", "longer")}
    assert all(len(v) == 12 for v in items.values())
    comps = {s: [tuple(it["meta"]["steps"]) for it in v] for s, v in items.items()}
    assert {len(c) for c in comps["single"]} == {1} and {len(c) for c in comps["longer"]} == {4}
    assert all(c[:2] in held for c in comps["unseen"])
    assert not any(held & set(adjacent_pairs(c)) for c in comps["seen"] + comps["longer"])
    assert all(is_eval_input(it["meta"]["chain"]["input"]) for v in items.values() for it in v)


def test_seqit_eval_scores_the_item_files_exactly(run_dir, tmp_path):
    items = list(read_jsonl(run_dir / "eval-seen.jsonl"))
    outs = [{"id": it["id"], "output": it["messages"][-1]["content"] if i % 2 == 0 else "Step 1: zzz"}
            for i, it in enumerate(items)]
    write_jsonl(tmp_path / "outs.jsonl", outs)
    assert main(["eval", str(Path(__file__).parents[2] / "configs" / "eval" / "seqeval-v.yaml"), "--out",
                 str(tmp_path / "ev"), f"data={run_dir / 'eval-seen.jsonl'}", f"outputs={tmp_path / 'outs.jsonl'}"]) == 0
    res = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert res["metrics"]["overall"]["chain_acc"] == 0.5 and res["n_items"] == 12


def test_microworld_is_deterministic(run_dir, tmp_path):
    again = run_generate(small(tmp_path))
    for name in ("sit.jsonl", "it.jsonl", "eval-unseen.jsonl", "eval-longer.jsonl"):
        assert (again / name).read_bytes() == (run_dir / name).read_bytes()
    other = run_generate(small(tmp_path / "s1", "seed=1"))
    assert (other / "sit.jsonl").read_bytes() != (run_dir / "sit.jsonl").read_bytes()


def test_named_answers_repeat_each_instruction_as_the_prompt_phrased_it(run_dir):
    for r in read_jsonl(run_dir / "sit.jsonl"):
        prompt, answer = (m["content"] for m in r["messages"])
        listed = dict(line.split(". ", 1) for line in prompt.splitlines() if line[:1].isdigit())
        for i, line in enumerate(answer.splitlines(), 1):
            assert line.startswith(f"Step {i} ({listed[str(i)]}): ")
        assert not any(ch.isdigit() for line in listed.values() for ch in line)  # counts are words: "First Two"


def test_plain_answers_and_shuffled_listings(tmp_path):
    plain = run_generate(small(tmp_path / "p", "microworld.answer=plain"))
    assert all("(" not in r["messages"][-1]["content"] for r in read_jsonl(plain / "sit.jsonl"))
    mixed = run_generate(small(tmp_path / "s", "microworld.shuffled_listing=1.0"))
    for r in read_jsonl(mixed / "sit.jsonl"):
        numbers = [line.split(".")[0] for line in r["messages"][0]["content"].splitlines() if line[:1].isdigit()]
        assert numbers == [str(i + 1) for i in r["meta"]["listing"]] if r["meta"]["depth"] > 1 else numbers == ["1"]
        if r["meta"]["depth"] > 1:
            assert numbers != sorted(numbers)  # never the identity order
        assert score_chain(Chain.from_dict(r["meta"]["chain"]), r["messages"][-1]["content"]).chain_ok
    for split in ("single", "seen", "unseen", "longer"):  # evaluation always lists the steps in order
        for it in read_jsonl(mixed / f"eval-{split}.jsonl"):
            numbers = [line.split(".")[0] for line in it["messages"][0]["content"].splitlines() if line[:1].isdigit()]
            assert numbers == sorted(numbers) and "listing" not in it["meta"]


def test_limit_caps_the_examples_and_is_counted(tmp_path):
    m = json.loads((run_generate(small(tmp_path, "limit=10")) / "manifest.json").read_text())
    assert m["counts"]["seeds"] == 10 and m["counts"]["skipped_by_limit"] == 50 and m["counts"]["balanced"]


@pytest.mark.parametrize("extra,match", [
    (["microworld.ops=[reverse_text,fly]"], "microworld.ops: unknown op 'fly'"),
    (["microworld.lengths=[0]"], "lengths must be >= 1"),
    (["microworld.heldout_fraction=1.5"], "heldout_fraction"),
    (["microworld.answer=loud"], "microworld.answer must be one of named, plain"),
    (["microworld.shuffled_listing=2"], "shuffled_listing"),
])
def test_bad_microworld_config_is_a_clear_error(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        run_generate(small(tmp_path, *extra))


def test_other_methods_still_require_seed_data(tmp_path, capsys):
    (tmp_path / "g.yaml").write_text(f"method: selfseq\nout_dir: {tmp_path / 'o'}\n")
    assert main(["generate", str(tmp_path / "g.yaml")]) != 0
    assert "data: required key is missing" in capsys.readouterr().err
