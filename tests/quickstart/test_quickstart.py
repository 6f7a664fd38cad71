"""`seqit quickstart --fast`: the real stages (generate, split, train, eval, report) composed in one dir.
The fast size is a smoke run: every metric is recomputed from the written samples instead of being
judged on its value."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from seqit.chains.seqeval_v import load_benchmark, score_outputs
from seqit.cli import main
from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.jsonl import read_jsonl
from seqit.quickstart.run import ARMS, EVAL_SPLITS, SIZES, resolve_size

SRC = Path(__file__).parents[2] / "src"


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("qs") / "run"
    buf = io.StringIO()  # the CLI console writes to whatever sys.stdout is at the time
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        assert main(["quickstart", "--fast", "--out", str(out)]) == 0
    return out, buf.getvalue()


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_fast_run_says_it_is_a_smoke_run(fast_run):
    out, console = fast_run
    assert console.count("SMOKE RUN") >= 2 and "numbers mean nothing" in console
    assert "one step longer: chain accuracy" in console and str(out / "recipe.sh") in console
    assert json.loads((out / "results.json").read_text())["smoke"] is True


def test_every_stage_has_its_own_finished_run_dir(fast_run):
    out, _ = fast_run
    assert manifest(out)["status"] == "finished" and manifest(out)["command"] == "quickstart"
    dirs = {"generate": "generate", "split": "split"}
    dirs.update({f"train-{a}": "train" for a in ARMS})
    dirs.update({f"eval/{a}-{s}": "eval" for a in ARMS for s in EVAL_SPLITS})
    for d, command in dirs.items():
        m = manifest(out / d)
        assert (m["status"], m["command"]) == ("finished", command), d
    assert manifest(out / "split")["config"]["strategy"] == "depth"
    assert (out / "train-sit" / "model" / "model.safetensors").exists()


def test_recipe_runs_the_same_stages_as_plain_commands_from_strict_configs(fast_run):
    from seqit.eval.run import EvalConfig
    from seqit.generate.run import GenerateConfig
    from seqit.phases.split import SplitConfig
    from seqit.train import TrainConfig

    out, _ = fast_run
    recipe = (out / "recipe.sh").read_text()
    order = [m.group(1) for m in re.finditer(r"^(?:seqit |python -m seqit\.quickstart\.)(\w+)", recipe, re.M)]
    assert order == ["generate", "split", "microworld", *["train"] * 4, *["eval"] * 16, "report"]
    classes = {"generate": GenerateConfig, "split": SplitConfig, "train": TrainConfig, "eval": EvalConfig}
    for path in (out / "configs").glob("*.yaml"):
        cfg = load_config(classes[path.stem.split("-")[0]], path)  # strict: every key known
        assert str(out) in str(cfg.out_dir)


def test_arms_train_the_same_number_of_examples_and_steps(fast_run):
    out, _ = fast_run
    cfg = SIZES["fast"]
    for arm in ARMS:
        pre = json.loads((out / f"train-{arm}" / "preflight.json").read_text())
        assert sum(p["examples"] for p in pre["phases"]) == cfg.examples, arm
        assert manifest(out / f"train-{arm}")["counts"]["steps"] == cfg.steps, arm
        losses = [r["loss"] for r in read_jsonl(out / f"train-{arm}" / "metrics.jsonl")]
        assert sum(losses[-4:]) / 4 < losses[0]  # it learns something even in a smoke run
    pre = json.loads((out / "train-phased" / "preflight.json").read_text())
    assert [p["name"] for p in pre["phases"]] == ["phase-1", "phase-2", "phase-3"]


def test_phased_arm_is_a_depth_curriculum_with_replay_and_control_is_its_shuffle(fast_run):
    out, _ = fast_run
    phases = [list(read_jsonl(out / "split" / f"phase-{k}.jsonl")) for k in (1, 2, 3)]
    for k, rows in enumerate(phases, 1):
        own = [r for r in rows if not r["meta"].get("replayed")]
        replayed = [r for r in rows if r["meta"].get("replayed")]
        assert {r["meta"]["depth"] for r in own} == {k}
        assert all(r["meta"]["depth"] < k for r in replayed) and (bool(replayed) == (k > 1))
    control = list(read_jsonl(out / "split" / "shuffled.jsonl"))
    assert Counter(r["id"] for r in control) == Counter(r["id"] for p in phases for r in p)
    it = list(read_jsonl(out / "generate" / "it.jsonl"))
    assert {r["meta"]["depth"] for r in it} == {1}


def test_results_are_the_eval_runs_recomputed_from_their_samples(fast_run):
    out, _ = fast_run
    results = json.loads((out / "results.json").read_text())
    assert set(results["arms"]) == set(ARMS)
    for arm in ARMS:
        for split in EVAL_SPLITS:
            items = load_benchmark(str(out / "generate" / f"eval-{split}.jsonl"))
            samples = list(read_jsonl(out / "eval" / f"{arm}-{split}" / "samples.jsonl"))
            assert len(samples) == SIZES["fast"].eval_n and any((s["output"] or "").strip() for s in samples)
            again = score_outputs(items, {s["id"]: s["output"] for s in samples if s["output"] is not None})
            got = results["arms"][arm]["splits"][split]
            assert got["chain_acc"] == again["metrics"]["overall"]["chain_acc"]
            assert got["step_acc"] == again["metrics"]["overall"]["step_acc"]
            lo, hi = got["chain_acc_ci95"]
            assert lo <= got["chain_acc"] <= hi
        assert results["arms"][arm]["single_acc"] == results["arms"][arm]["splits"]["single"]["chain_acc"]


def test_the_page_shows_the_true_status_and_the_smoke_warning(fast_run):
    out, _ = fast_run
    page = (out / "report.html").read_text()
    assert "Smoke run" in page and "its numbers mean nothing" in page
    assert "<td>finished</td>" in page and "<td>running</td>" not in page
    for text in ("Held-out accuracy by arm", "Accuracy by chain length", "Where chains first go wrong",
                 "Training loss by phase", "Rerun by hand", "phased SIT (depth curriculum + replay)"):
        assert text in page


def test_arms_train_as_separate_seqit_train_processes_with_their_logs(fast_run):
    out, _ = fast_run
    for arm in ARMS:
        log = (out / "logs" / f"train-{arm}.log").read_text()
        assert f"train-{arm}" in log and "model:" in log  # the CLI's own last line
        assert manifest(out / f"train-{arm}")["argv"][1:] == ["train", str(out / "configs" / f"train-{arm}.yaml")]
    results = json.loads((out / "results.json").read_text())
    assert results["stage_cpu_seconds"]["train"] > 0 and "train" in results["stage_seconds"]


@pytest.mark.parametrize("kw,cores,expected", [
    ({}, 2, (2, 1)), ({}, 16, (4, 4)), ({}, 1, (1, 1)), ({"parallel": 1}, 2, (1, 2)), ({"threads": 1}, 16, (1, 1)),
    ({"arms": ("it", "sit")}, 8, (2, 4)), ({"parallel": 3, "threads": 2}, 16, (3, 1)),
])
def test_arms_share_the_cores(kw, cores, expected):
    from seqit.quickstart.run import QuickstartConfig

    assert QuickstartConfig(**kw).workers(cores) == expected


def test_the_costliest_arm_is_scheduled_first(fast_run):
    from seqit.quickstart.run import _data_bytes
    from seqit.train import TrainConfig

    out, _ = fast_run
    cost = {arm: _data_bytes(load_config(TrainConfig, out / "configs" / f"train-{arm}.yaml")) for arm in ARMS}
    assert cost["it"] < cost["sit"] and cost["phased"] == sum(
        (out / "split" / f"phase-{k}.jsonl").stat().st_size for k in (1, 2, 3))
    starts = {arm: manifest(out / f"train-{arm}")["timings"]["started_at"] for arm in ARMS}
    assert min(starts, key=starts.get) == max(cost, key=cost.get)


def test_a_failing_arm_names_its_log_and_leaves_no_process(tmp_path):
    from seqit.errors import SeqitError
    from seqit.quickstart.run import train_arms

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {path: /nonexistent}\nphases: [{data: /nonexistent.jsonl}]\nout_dir: " + str(tmp_path / "t"))
    with pytest.raises(SeqitError, match=r"arm 'x' failed .*logs/train-x.log"):
        train_arms({"x": bad}, tmp_path, workers=1, threads=1, steps=1, show_progress=False)
    assert (tmp_path / "logs" / "train-x.log").read_text()


def test_only_seqit_train_calls_backward():
    hits = [p for p in SRC.rglob("*.py") if ".backward(" in p.read_text()]
    assert hits and all(p.parent.name == "train" for p in hits), hits


@pytest.mark.parametrize("overrides,match", [(["nope=1"], "nope: unknown key"), (["arms=[it,xx]"], "arms"),
                                             (["steps=abc"], "steps: expected int"), (["replay=1.0"], "replay"),
                                             (["answer=loud"], "answer: must be named or plain, got 'loud'"),
                                             (["position=alibi"], "position: must be rope or nope"),
                                             (["shuffled_listing=2"], "shuffled_listing: must be in"),
                                             (["parallel=-1"], "threads and parallel must be >= 0")])
def test_resolve_size_rejects_bad_overrides(overrides, match):
    with pytest.raises(ConfigError, match=match):
        resolve_size("fast", overrides)


def test_unknown_size_is_a_clear_cli_error(tmp_path, capsys):
    assert main(["quickstart", "--size", "huge", "--out", str(tmp_path / "x")]) == 2
    assert "unknown size 'huge'" in capsys.readouterr().err
