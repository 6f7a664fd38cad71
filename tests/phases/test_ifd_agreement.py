"""IFD as a `seqit score` proxy (tiny model), and the Spearman agreement of two scores in `seqit split`."""

from __future__ import annotations

import json

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.phases.lossproxy import answer_alone, ifd_from_losses
from seqit.phases.score import ScoreConfig, run_score
from seqit.phases.split import SplitConfig, average_ranks, run_split, score_agreement, score_keys, spearman
from seqit.records import Record


@pytest.mark.parametrize(
    ("xs", "ys", "rho"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4, 5], [1, 3, 2, 5, 4], 0.8),
        ([1, 1, 2, 2], [1, 2, 1, 2], 0.0),  # ties share mean ranks
        ([1, 2, 3], [5, 5, 5], None),  # a constant score has no rank order
        ([1, 2], [1, 2], None),  # too few records
    ],
)
def test_spearman_table(xs, ys, rho):
    assert spearman(xs, ys) == rho


def test_average_ranks_share_ties():
    assert average_ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]


@pytest.mark.parametrize(
    ("given", "alone", "want"),
    [(1.0, 2.0, 0.5), (3.0, 2.0, 1.5), (0.0, 1.0, 0.0)],
)
def test_ifd_is_the_loss_ratio(given, alone, want):
    assert ifd_from_losses(given, alone)["ifd"] == want


def test_ifd_undefined_cases_are_reasons():
    assert "undefined" in ifd_from_losses(1.0, 0.0)
    assert answer_alone(Record("a", [{"role": "user", "content": "q"}], {})) == "no final assistant reply to score"
    alone = answer_alone(Record("a", [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                      {"role": "assistant", "content": "A"}], {}))
    assert alone.messages == [{"role": "user", "content": ""}, {"role": "assistant", "content": "A"}]


def _rec(i, **scores):
    meta = {}
    for k, v in scores.items():
        meta[k] = v
        meta[f"{k}_detail"] = {"method": "judge" if k == "difficulty" else "proxy:ifd"}
    return Record(f"r{i}", [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}], meta)


def test_score_agreement_pairs_every_seqit_score_on_records_having_both():
    recs = [_rec(i, difficulty=float(i), difficulty_ifd=float(10 - i)) for i in range(5)]
    recs.append(_rec(9, difficulty=2.0))  # only one score: left out of the pair
    recs[0].meta["depth"] = 3  # a number without a _detail is not a score
    assert score_keys(recs) == ["difficulty", "difficulty_ifd"]
    assert score_agreement(recs) == [{"scores": ["difficulty", "difficulty_ifd"], "n": 5, "spearman": -1.0,
                                      "methods": ["judge", "proxy:ifd"]}]
    assert score_agreement([_rec(0, difficulty=1.0)]) == []


def test_split_manifest_reports_the_rank_agreement(tmp_path):
    path = tmp_path / "scored.jsonl"
    recs = [_rec(i, difficulty=1.0 + i % 5, difficulty_ifd=0.5 + 0.1 * (i % 5) + 0.01 * i) for i in range(20)]
    for r in recs:  # distinct texts: dedup keeps all 20
        r.messages[0]["content"] = f"question number {r.id} about topic {r.id * 3}"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in recs))
    cfg = load_config(SplitConfig, None, [f"data={path}", f"out_dir={tmp_path / 'split'}", "strategy=quantiles",
                                          "histogram=false"])
    run = run_split(cfg)
    ag = json.loads((run / "manifest.json").read_text())["score_agreement"]
    assert ag[0]["scores"] == ["difficulty", "difficulty_ifd"] and ag[0]["n"] == 20
    assert 0.9 < ag[0]["spearman"] <= 1.0


def test_ifd_proxy_with_a_tiny_model_writes_both_losses(tmp_path, tiny_model_dir):
    rows = [{"instruction": f"Repeat the word {w}.", "input": "", "output": w} for w in ("apple", "river", "cloud")]
    rows.append({"instruction": "No answer here.", "input": "", "output": ""})
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(ScoreConfig, None, [f"data={data}", f"out_dir={tmp_path / 'run'}", "method=proxy",
                                          "proxy.kind=ifd", f"proxy.model={tiny_model_dir}", "proxy.template=tulu",
                                          "score_key=difficulty_ifd"])
    run = run_score(cfg)
    scored = [json.loads(x) for x in (run / "scored.jsonl").read_text().splitlines()]
    m = json.loads((run / "manifest.json").read_text())
    rejects = [json.loads(x) for x in (run / "rejects.jsonl").read_text().splitlines()]
    assert len(scored) + len(rejects) == 4 and m["counts"]["scored"] == len(scored)
    assert all(r["reason"] for r in rejects)
    for r in scored:
        d = r["meta"]["difficulty_ifd_detail"]
        assert d["method"] == "proxy:ifd" and d["value"] == d["ifd"]
        assert d["ifd"] == pytest.approx(d["loss_given_instruction"] / d["loss_alone"], rel=1e-4)
        assert 1.0 <= r["meta"]["difficulty_ifd"] <= 5.0
    assert m["proxy"]["kind"] == "ifd" and "ifd_above_1" in m["proxy"]


def test_ifd_needs_a_model():
    with pytest.raises(ConfigError, match="proxy.kind=ifd needs proxy.model"):
        load_config(ScoreConfig, None, ["data=x", "method=proxy", "proxy.kind=ifd"])


