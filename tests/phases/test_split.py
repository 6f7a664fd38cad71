"""Split strategies (pure), filtering/dedup before the split, and the `seqit split` run dir."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError, DataError
from seqit.phases.split import (
    SplitConfig,
    assign_depth,
    assign_quantiles,
    assign_random,
    assign_thresholds,
    equal_sizes,
    filter_records,
    quantile_cuts,
    run_split,
    shuffled_order,
    with_replay,
)
from seqit.records import Record
from seqit.runs import sha256_file


@pytest.mark.parametrize(
    ("scores", "thresholds", "expected"),
    [
        ([1.0, 1.49, 1.5, 2.0, 3.49, 3.5, 4.25, 5.0], (1.5, 3.5), [0, 0, 1, 1, 1, 2, 2, 2]),
        ([1.0, 3.0, 5.0], (2.0,), [0, 1, 1]),
        ([1.0, 2.0, 3.0, 4.0, 5.0], (1.5, 2.5, 3.5, 4.5), [0, 1, 2, 3, 4]),
        ([0.5, 6.0], (1.5, 3.5), [0, 2]),
    ],
)
def test_threshold_split_uses_half_open_ranges_with_the_cut_in_the_higher_phase(scores, thresholds, expected):
    assert assign_thresholds(scores, thresholds) == expected


@pytest.mark.parametrize(("n", "k", "sizes"), [(10, 3, [4, 3, 3]), (9, 3, [3, 3, 3]), (2, 3, [1, 1, 0]), (5, 1, [5])])
def test_equal_sizes_differ_by_at_most_one(n, k, sizes):
    assert equal_sizes(n, k) == sizes


def test_quantile_split_gives_equal_sizes_in_score_order():
    rng = random.Random(1)
    scores = [round(rng.uniform(1, 5), 2) for _ in range(100)]
    ids = [f"r{i}" for i in range(100)]
    phases = assign_quantiles(scores, ids, 4)
    assert Counter(phases) == {0: 25, 1: 25, 2: 25, 3: 25}
    for j in range(3):
        assert max(s for s, p in zip(scores, phases, strict=True) if p == j) <= min(s for s, p in zip(scores, phases, strict=True) if p == j + 1)
    cuts = quantile_cuts(scores, phases, 4)
    assert len(cuts) == 3 and cuts == sorted(cuts)


def test_quantile_split_breaks_ties_independently_of_input_order():
    scores = [1.0] * 6 + [3.0] * 3
    ids = [f"id{i}" for i in range(9)]
    phases = dict(zip(ids, assign_quantiles(scores, ids, 3), strict=True))
    rev = dict(zip(ids[::-1], assign_quantiles(scores[::-1], ids[::-1], 3), strict=True))
    assert phases == rev
    assert Counter(phases.values()) == {0: 3, 1: 3, 2: 3}
    assert all(phases[f"id{i}"] == 2 for i in range(6, 9))


def test_depth_split_gives_one_phase_per_depth_shallow_first():
    phases, levels = assign_depth([3, 1, 2, 1, 3, 3])
    assert levels == [1, 2, 3]
    assert phases == [2, 0, 1, 0, 2, 2]


def test_random_control_has_the_given_sizes_and_is_deterministic_per_seed():
    sizes = [6, 3, 1]
    a = assign_random(10, sizes, seed=7)
    assert sorted(Counter(a).items()) == [(0, 6), (1, 3), (2, 1)]
    assert a == assign_random(10, sizes, seed=7)
    assert a != assign_random(10, sizes, seed=8)


def test_random_control_refuses_sizes_that_do_not_add_up():
    with pytest.raises(AssertionError, match="add up"):
        assign_random(10, [5, 4], seed=0)


# ---------------------------------------------------------------------------------------------
# Data helpers


def _conv(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


TOPICS = ["photosynthesis", "volcanoes", "sorting algorithms", "the french revolution", "tides", "vaccines",
          "black holes", "compound interest", "bees", "the internet", "glaciers", "jazz"]  # fmt: skip


def _scored_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        prompt = f"Question {i}: explain {topic} to a student in grade {i % 9 + 1} using {i % 5 + 2} examples."
        score = rng.choice([1.0, 1.0, 1.0, 1.25, 2.0, 2.5, 3.0, 3.5, 4.0, 4.75, 5.0])
        rows.append({"id": f"s{i:03d}", "messages": _conv(prompt, "Answer " * (i % 7 + 1) + topic),
                     "meta": {"difficulty": score, "depth": i % 3 + 1}})  # fmt: skip
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _cfg(tmp_path: Path, data: Path, *overrides: str) -> SplitConfig:
    return load_config(SplitConfig, None, [f"data={data}", f"out_dir={tmp_path / 'out'}", *overrides])


# ---------------------------------------------------------------------------------------------
# Filtering


def test_filter_drops_empty_outputs_missing_scores_and_duplicates_with_counts(tmp_path):
    recs = [
        Record("a", _conv("Name three primary colours for a painting class.", "Red, yellow, blue."), {"difficulty": 1.0}),
        Record("b", _conv("Name three primary colours for a painting class!", "Red, blue, yellow."), {"difficulty": 1.5}),
        Record("c", _conv("Name the three primary colours for a painting class.", "RYB."), {"difficulty": 1.0}),
        Record("d", _conv("Explain entropy.", "  "), {"difficulty": 3.0}),
        Record("e", _conv("Explain entropy in thermodynamics.", "It measures disorder."), {}),
        Record("f", _conv("Explain entropy in thermodynamics.", "It measures disorder."), {"difficulty": 4.0}),
    ]
    cfg = SplitConfig(data="x", dedup=load_config(SplitConfig, None, ["data=x", "dedup.near_threshold=0.5"]).dedup)
    out = filter_records(recs, "difficulty", dedup=cfg.dedup)
    assert [r.id for r in out.kept] == ["a", "f"]
    assert out.counts == {"empty_output": 1, "missing_value": 1, "exact_duplicates": 1, "near_duplicates": 1}
    by_id = {r["id"]: r for r in out.rejects}
    assert by_id["b"]["reason"].startswith("exact duplicate of 'a'")
    assert by_id["c"]["reason"].startswith("near duplicate of 'a'") and by_id["c"]["detail"]["duplicate_of"] == "a"
    assert "meta.difficulty" in by_id["e"]["reason"]
    assert by_id["d"]["row"]["messages"][1]["content"] == "  "


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "3.5", True, None])
def test_non_finite_or_non_numeric_scores_are_rejected(bad):
    recs = [Record("a", _conv("p1 is a prompt", "x"), {"difficulty": bad}), Record("b", _conv("p2 other", "y"), {"difficulty": 2.0})]
    out = filter_records(recs, "difficulty")
    assert [r.id for r in out.kept] == ["b"] and out.counts["missing_value"] == 1


def test_depth_split_rejects_rows_without_depth_unless_a_default_is_set():
    recs = [Record("a", _conv("p1 is a prompt", "x"), {"depth": 2}), Record("b", _conv("p2 other words", "y"), {})]
    assert [r.id for r in filter_records(recs, "depth").kept] == ["a"]
    assert len(filter_records(recs, "depth", missing_depth=1).kept) == 2


# ---------------------------------------------------------------------------------------------
# The command


def test_run_split_thresholds_writes_phases_manifest_and_histogram(tmp_path):
    rows = _scored_rows(60)
    rows.append({**rows[0], "id": "dup"})  # exact duplicate prompt
    rows.append({"id": "bad", "messages": "not a list"})  # unreadable row
    run = run_split(_cfg(tmp_path, _write(tmp_path / "scored.jsonl", rows)))
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "finished"
    assert m["counts"]["rows_in"] == 62
    assert m["counts"]["unreadable"] == 1 and m["counts"]["exact_duplicates"] == 1
    assert m["counts"]["kept"] == 60 == sum(m["phase_sizes"])
    expected = Counter(assign_thresholds([r["meta"]["difficulty"] for r in rows[:60]], (1.5, 3.5)))
    assert m["phase_sizes"] == [expected[0], expected[1], expected[2]]
    for info, (lo, hi) in zip(m["phases"], [(1.0, 1.5), (1.5, 3.5), (3.5, 5.0)], strict=True):
        phase_rows = _read(run / info["file"])
        assert len(phase_rows) == info["count"]
        assert info["sha256"] == sha256_file(run / info["file"])
        scores = [r["meta"]["difficulty"] for r in phase_rows]
        assert all(lo <= s < hi or s == hi == 5.0 for s in scores)
        assert info["score"]["min"] == min(scores) and info["score"]["max"] == max(scores)
        assert info["tokens"]["mean"] > 0 and info["output_tokens"]["max"] >= info["output_tokens"]["min"]
        assert {r["meta"]["phase"] for r in phase_rows} == {info["phase"]}
    assert [r["id"] for r in _read(run / "all.jsonl")] == [r["id"] for r in rows[:60]]
    assert (run / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert m["histogram"] == "scores.png"
    assert len(_read(run / "rejects.jsonl")) == 2
    assert "regex" in m["token_count"]
    assert m["score_methods"] == {"given": 60}


def test_run_split_quantiles_gives_equal_phases(tmp_path):
    run = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", _scored_rows(31)), "strategy=quantiles", "num_phases=3"))
    m = json.loads((run / "manifest.json").read_text())
    assert m["phase_sizes"] == [11, 10, 10]
    assert len(m["split"]["cuts"]) == 2


def test_run_split_depth_phases_follow_meta_depth(tmp_path):
    run = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", _scored_rows(30)), "strategy=depth"))
    m = json.loads((run / "manifest.json").read_text())
    assert m["split"]["depth_of_phase"] == [1, 2, 3]
    for k in (1, 2, 3):
        assert {r["meta"]["depth"] for r in _read(run / f"phase-{k}.jsonl")} == {k}


def _phases(sizes=(8, 8, 16)) -> list[list[Record]]:
    return [[Record(f"d{k}-{i}", [], {"depth": k, "phase": k}) for i in range(n)] for k, n in enumerate(sizes, 1)]


def test_replay_keeps_phase_sizes_and_draws_only_from_earlier_phases():
    out = with_replay(_phases(), 0.25, seed=0)
    assert [len(p) for p in out] == [8, 8, 16] and out[0] == _phases()[0]  # nothing to replay before phase 1
    for k, p in enumerate(out, 1):
        replayed = [r for r in p if r.meta.get("replayed")]
        assert len(replayed) == (round(0.25 * len(p)) if k > 1 else 0)
        assert all(r.meta["depth"] < k and r.meta["phase"] == k and r.id.endswith(f":replay{k}") for r in replayed)
        assert len({r.id for r in p}) == len(p)  # replayed copies get their own ids
    assert out == with_replay(_phases(), 0.25, seed=0) and out != with_replay(_phases(), 0.25, seed=1)
    assert [len(p) for p in with_replay(_phases((2, 8)), 0.5, 0)] == [2, 8]  # more slots than earlier records
    assert [sorted(r.id for r in p) for p in with_replay(_phases(), 0.0, 0)] == [sorted(r.id for r in p) for p in _phases()]


def test_shuffled_is_the_same_records_in_another_order():
    ph = with_replay(_phases(), 0.25, 0)
    rows = shuffled_order(ph, 0)
    assert Counter(r.id for r in rows) == Counter(r.id for p in ph for r in p)
    assert [r.id for r in rows] != [r.id for p in ph for r in p] and rows == shuffled_order(ph, 0)


def test_run_split_with_replay_and_shuffled_writes_them_and_counts_them(tmp_path):
    run = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", _scored_rows(60)), "strategy=depth", "replay=0.5",
                         "shuffled=true"))
    m = json.loads((run / "manifest.json").read_text())
    phases = [_read(run / f"phase-{k}.jsonl") for k in (1, 2, 3)]
    assert m["phase_sizes"] == [len(p) for p in phases] == [20, 20, 20]
    assert m["replay"] == {"share": 0.5, "per_phase": [0, 10, 10]}
    assert all(r["meta"]["depth"] < k for k, p in enumerate(phases, 1) for r in p if r["meta"].get("replayed"))
    shuffled = _read(run / "shuffled.jsonl")
    assert Counter(r["id"] for r in shuffled) == Counter(r["id"] for p in phases for r in p)
    assert m["shuffled"]["count"] == 60 and len(_read(run / "all.jsonl")) == 60  # all.jsonl: no replays


@pytest.mark.parametrize("share", ["1.0", "-0.1"])
def test_replay_share_must_be_below_one(tmp_path, share):
    with pytest.raises(ConfigError, match="replay"):
        _cfg(tmp_path, tmp_path / "x.jsonl", f"replay={share}")


def test_random_control_matches_the_difficulty_split_sizes_and_records_its_seed(tmp_path):
    data = _write(tmp_path / "s.jsonl", _scored_rows(80))
    diff = run_split(_cfg(tmp_path / "a", data))
    ctrl = run_split(_cfg(tmp_path / "b", data, "strategy=random", "seed=13"))
    again = run_split(_cfg(tmp_path / "c", data, "strategy=random", "seed=13"))
    md, mc = (json.loads((p / "manifest.json").read_text()) for p in (diff, ctrl))
    assert mc["phase_sizes"] == md["phase_sizes"]
    assert mc["split"]["seed"] == 13 and mc["split"]["control_of"] == "thresholds"
    assert [p["sha256"] for p in mc["phases"]] == [
        p["sha256"] for p in json.loads((again / "manifest.json").read_text())["phases"]
    ]
    ids = {k: {r["id"] for r in _read(diff / f"phase-{k}.jsonl")} for k in (1, 2, 3)}
    ctrl_ids = {k: {r["id"] for r in _read(ctrl / f"phase-{k}.jsonl")} for k in (1, 2, 3)}
    assert ids != ctrl_ids
    assert set().union(*ids.values()) == set().union(*ctrl_ids.values())


def test_run_split_reads_the_reference_stage_format(tmp_path):
    rows = [
        {"id": "5", "score": "3.5\n\n", "data": ["Write a limerick about cats.", "There once was a cat..."]},
        {"id": "17", "score": "4.699999999999999", "data": ["Prove sqrt 2 is irrational.", "Assume p/q..."]},
        {"id": "23", "score": "1", "data": ["Say hi.", "Hi!", "Now in French.", "Salut !"]},
    ]
    run = run_split(_cfg(tmp_path, _write(tmp_path / "en-alpaca52k-stage3.jsonl", rows)))
    m = json.loads((run / "manifest.json").read_text())
    assert m["phase_sizes"] == [1, 0, 2] and m["empty_phases"] == [2]
    p3 = _read(run / "phase-3.jsonl")
    assert [r["meta"]["difficulty"] for r in p3] == [3.5, 4.699999999999999]
    assert p3[0]["meta"]["difficulty_raw"] == "3.5\n\n"
    assert len(_read(run / "phase-1.jsonl")[0]["messages"]) == 4


def test_run_split_dry_run_writes_nothing(tmp_path):
    out = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", _scored_rows(10))), dry_run=True)
    assert not out.exists()


def test_run_split_fails_clearly_when_nothing_is_scored(tmp_path):
    rows = [{"id": "a", "messages": _conv("Hello there friend", "Hi")}]
    with pytest.raises(DataError, match="no records left"):
        run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", rows)))


@pytest.mark.parametrize(
    ("override", "message"),
    [("thresholds=[3.5, 1.5]", "strictly increasing"), ("strategy=kde", "must be one of"),
     ("dedup.near_threshold=1.5", "near_threshold"), ("num_phases=0", "num_phases")],
)  # fmt: skip
def test_split_config_rejects_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(SplitConfig, None, ["data=x", override])


@pytest.mark.slow
def test_token_stats_can_use_a_local_tokenizer(tmp_path, tiny_model_dir):
    rows = [{"id": "a", "messages": _conv("abc", "hello"), "meta": {"difficulty": 1.0}},
            {"id": "b", "messages": _conv("xyz longer prompt", "hi"), "meta": {"difficulty": 4.0}}]  # fmt: skip
    run = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", rows), f"tokenizer={tiny_model_dir}"))
    m = json.loads((run / "manifest.json").read_text())
    assert m["token_count"] == f"tokenizer {tiny_model_dir}"
    # the tiny tokenizer is byte-level: one token per byte
    assert m["phases"][0]["tokens"]["total"] == len("abc") + len("hello")
    assert m["phases"][2]["output_tokens"]["total"] == len("hi")


def test_kde_valleys_cut_between_score_clusters():
    from seqit.phases.split import kde_valleys

    rng = random.Random(3)
    scores = [rng.gauss(1.2, 0.1) for _ in range(300)] + [rng.gauss(2.5, 0.15) for _ in range(200)]
    scores += [rng.gauss(4.2, 0.2) for _ in range(100)]
    cuts, bandwidth = kde_valleys(scores, 3)
    assert bandwidth > 0 and len(cuts) == 2
    assert 1.5 < cuts[0] < 2.1 and 3.0 < cuts[1] < 3.8
    assert Counter(assign_thresholds(scores, tuple(cuts))) == {0: 300, 1: 200, 2: 100}


@pytest.mark.parametrize(
    ("scores", "match"), [([2.0] * 10, "equal"), ([random.Random(0).gauss(3, 0.5) for _ in range(500)], "valley")]
)
def test_kde_valleys_refuse_when_the_density_has_too_few_valleys(scores, match):
    from seqit.phases.split import kde_valleys

    with pytest.raises(ValueError, match=match):
        kde_valleys(scores, 3)


def test_run_split_valleys_records_its_cuts(tmp_path):
    rows = _scored_rows(60)
    for i, r in enumerate(rows):
        r["meta"]["difficulty"] = [1.0, 1.0, 1.0, 2.5, 2.5, 4.5][i % 6]
    run = run_split(_cfg(tmp_path, _write(tmp_path / "s.jsonl", rows), "strategy=valleys", "num_phases=3"))
    m = json.loads((run / "manifest.json").read_text())
    assert m["phase_sizes"] == [30, 20, 10]
    assert 1.0 < m["split"]["cuts"][0] < 2.5 < m["split"]["cuts"][1] < 4.5


_WORDS = "river town mill market bridge harvest grain weaver lantern orchard quarry ferry chapel tavern meadow".split()
PASSAGE = " ".join(f"{random.Random(i).choice(_WORDS)}{i}" for i in range(120))  # one long passage, 118 3-grams


def test_split_keeps_different_tasks_sharing_one_passage_and_names_the_twin(tmp_path):
    tasks = ["Summarise the passage in two sentences.", "State the main arguments of the passage.",
             "List every place named in the passage.", "Summarise the passage in two sentences."]
    rows = [{"id": f"t{i}", "instruction": t, "input": PASSAGE, "output": f"answer {i}", "meta": {"difficulty": 2.0}}
            for i, t in enumerate(tasks)]
    data = _write(tmp_path / "alpaca.jsonl", rows)
    # the records as `seqit convert` writes them keep meta.instruction / meta.input
    from seqit.cli import main

    assert main(["convert", str(data), str(tmp_path / "conv" / "records.jsonl")]) == 0
    recs = _read(tmp_path / "conv" / "records.jsonl")
    for r in recs:
        r["meta"]["difficulty"] = 2.0
    run = run_split(_cfg(tmp_path, _write(tmp_path / "scored.jsonl", recs)))
    m = json.loads((run / "manifest.json").read_text())
    assert m["counts"]["kept"] == 3 and m["counts"]["exact_duplicates"] == 1 and m["counts"]["near_duplicates"] == 0
    assert m["duplicates"] == [{"id": "t3", "duplicate_of": "t0", "reason": "exact duplicate of 't0'"}]
    rejects = [r for r in _read(run / "rejects.jsonl") if r["stage"] == "dedup"]
    assert [(r["id"], r["detail"]["duplicate_of"]) for r in rejects] == [("t3", "t0")]


def test_stale_meta_instruction_is_not_used_for_dedup():
    a = Record("a", _conv("Write a limerick about a cat.", "x"), {"instruction": PASSAGE, "difficulty": 1.0})
    b = Record("b", _conv("Write a sonnet about the moon.", "y"), {"instruction": PASSAGE, "difficulty": 1.0})
    assert [r.id for r in filter_records([a, b], "difficulty").kept] == ["a", "b"]
