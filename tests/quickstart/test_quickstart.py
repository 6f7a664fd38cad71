"""The shortened quickstart: real tiny models trained and decoded; every metric is recomputed from
the written samples (the fast budget is too small for accuracy itself to be meaningful)."""

from __future__ import annotations

import json

import pytest

from seqit.chains.sampling import Chain
from seqit.chains.scoring import aggregate, score_chain
from seqit.cli import main
from seqit.errors import ConfigError
from seqit.jsonl import read_jsonl
from seqit.quickstart.run import SIZES, build_eval_sets, build_train_chains, resolve_size


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    rc = main(["quickstart", "--fast", "--out", str(out)])
    assert rc == 0
    return out


@pytest.mark.slow
def test_fast_quickstart_writes_results_report_and_samples(fast_run):
    results = json.loads((fast_run / "results.json").read_text())
    assert set(results["arms"]) == {"it", "sit"}
    for arm in ("it", "sit"):
        r = results["arms"][arm]
        for key in ("single_acc", "chain_acc_seen", "chain_acc_unseen", "step_acc_seen", "step_acc_unseen"):
            assert 0.0 <= r[key] <= 1.0
        assert r["train"]["steps"] == SIZES["fast"].steps
    assert "chain_acc_seen" in (fast_run / "report.html").read_text()
    details = (fast_run / "details.html").read_text()
    assert "<table>" in details and "first failure" in details
    assert json.loads((fast_run / "manifest.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_fast_quickstart_metrics_are_recomputed_exactly_from_the_samples(fast_run):
    results = json.loads((fast_run / "results.json").read_text())
    cfg = SIZES["fast"]
    for arm in ("it", "sit"):
        rows = list(read_jsonl(fast_run / f"samples-{arm}.jsonl"))
        assert len(rows) == 4 * cfg.eval_n
        assert any(r["output"].strip() for r in rows)  # the model really produced text
        by_split: dict[str, list] = {}
        for r in rows:
            chain = Chain.from_dict(r["chain"])
            by_split.setdefault(r["split"], []).append(score_chain(chain, r["output"]))
        assert aggregate(by_split["single"])["chain_acc"] == results["arms"][arm]["single_acc"]
        assert aggregate(by_split["seen"])["step_acc"] == results["arms"][arm]["step_acc_seen"]
        assert aggregate(by_split["unseen"])["chain_acc"] == results["arms"][arm]["chain_acc_unseen"]


@pytest.mark.slow
def test_fast_quickstart_trains_both_arms_from_the_same_start_and_the_loss_falls(fast_run):
    for arm in ("it", "sit"):
        losses = [r["loss"] for r in read_jsonl(fast_run / "train" / arm / "metrics.jsonl")]
        assert len(losses) == SIZES["fast"].steps
        assert sum(losses[-10:]) / 10 < 0.6 * losses[0]
        assert (fast_run / "train" / arm / "model" / "model.safetensors").exists()
    it_first = next(read_jsonl(fast_run / "train" / "it" / "metrics.jsonl"))["loss"]
    sit_first = next(read_jsonl(fast_run / "train" / "sit" / "metrics.jsonl"))["loss"]
    assert abs(it_first - sit_first) < 0.5  # same random initial model: both start near ln(vocab)


def test_it_arm_trains_on_single_steps_and_sit_on_chains_without_heldout_pairs():
    import random

    from seqit.chains.sampling import choose_heldout_pairs, has_heldout_pair
    from seqit.chains.steps import TEXT
    from seqit.quickstart.microworld import MICRO_OPS

    cfg = resolve_size("fast", ["train_pool=200"])
    heldout = choose_heldout_pairs(random.Random(cfg.seed), MICRO_OPS, TEXT, cfg.heldout_fraction)
    it = build_train_chains(cfg, "it", MICRO_OPS, heldout)
    sit = build_train_chains(cfg, "sit", MICRO_OPS, heldout)
    phased = build_train_chains(cfg, "phased", MICRO_OPS, heldout)
    assert {len(c.steps) for c in it} == {1}
    assert {len(c.steps) for c in sit} == set(cfg.sit_lengths)
    assert not any(has_heldout_pair(c.composition, heldout) for c in sit)
    assert sorted(phased, key=lambda c: len(c.steps)) == phased and sorted(map(repr, phased)) == sorted(map(repr, sit))
    evals = build_eval_sets(cfg, MICRO_OPS, heldout)
    train_inputs = {c.input for c in sit}
    assert not any(c.input in train_inputs for split in evals.values() for c in split)


@pytest.mark.parametrize("overrides,match", [(["nope=1"], "nope: unknown key"), (["arms=[it,xx]"], "arms"),
                                             (["steps=abc"], "steps: expected int")])
def test_resolve_size_rejects_bad_overrides(overrides, match):
    with pytest.raises(ConfigError, match=match):
        resolve_size("fast", overrides)


def test_unknown_size_is_a_clear_cli_error(tmp_path, capsys):
    assert main(["quickstart", "--size", "huge", "--out", str(tmp_path / "x")]) == 2
