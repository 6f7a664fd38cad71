"""`seqit benchmark export seqeval-v --format lm-eval`: the exported checker is seqit's, and lm-eval's
numbers on the exported task equal `seqit eval`'s on the same generations."""

from __future__ import annotations

import importlib.util
import json

import pytest

from seqit.chains.sampling import Chain
from seqit.chains.scoring import score_chain
from seqit.chains.seqeval_v import frozen_items, score_outputs
from seqit.cli import main
from seqit.errors import DataError
from seqit.eval.export import checker_source, export_seqeval_v, stdlib_only
from seqit.jsonl import read_jsonl, write_jsonl


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "seqeval_v"
    assert main(["benchmark", "export", "seqeval-v", "--format", "lm-eval", "--out", str(out)]) == 0
    return out


def load_utils(task_dir):
    """Load utils.py the way lm-eval does (from its file, not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location("utils", task_dir / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def perturbations(answer: str) -> list[str]:
    """Wrong, partial and noisy variants of an expected answer."""
    lines = answer.splitlines()
    first_value = lines[0].split(": ", 1)[1]
    return [
        "",
        "\n".join(lines[:-1]),  # last step missing
        answer + f"\nStep {len(lines) + 1}: extra",  # an extra step
        answer.upper(),  # case changes (right only where the step ignores case)
        answer.replace(", ", ","),  # list spacing
        "\n".join([f"Step 1: {first_value}x", *lines[1:]]),  # step 1 wrong: later steps are still "followed"?
        "\n".join(f"**{ln}**" for ln in lines),  # markdown bold
        "<think>Step 1: nope</think>\n" + answer,
        answer.replace("Step ", "step "),
        "\n".join(reversed(lines)),
    ]


def test_exported_checker_is_standard_library_only_and_agrees_with_seqit_on_every_v1_item(exported):
    assert stdlib_only(checker_source()) == []
    utils = load_utils(exported)
    items = frozen_items("v1")
    n = 0
    for it in items:
        chain = Chain.from_dict(it["meta"]["chain"])
        exported_chain = utils.Chain.from_dict(it["meta"]["chain"])
        expected = it["messages"][-1]["content"]
        for text in [expected, *perturbations(expected)]:
            ours, theirs = score_chain(chain, text), utils.score_chain(exported_chain, text)
            assert (theirs.correct, theirs.followed, theirs.extra_steps, theirs.answered) == (
                ours.correct, ours.followed, ours.extra_steps, ours.answered), (it["id"], text)
            n += 1
    assert n == 11 * len(items) == 5500


def test_the_exported_docs_are_the_frozen_items_and_the_yaml_names_the_task(exported):
    utils = load_utils(exported)
    docs = list(utils.load_docs()["test"])
    items = frozen_items("v1")
    assert [d["id"] for d in docs] == [it["id"] for it in items]
    assert all(d["prompt"] == it["messages"][0]["content"] and d["target"] == it["messages"][1]["content"]
               for d, it in zip(docs, items, strict=True))
    yaml = (exported / "seqeval_v.yaml").read_text()
    assert "task: seqeval_v" in yaml and "seqeval_v_version: v1" in yaml
    assert all(f"metric: {m}" in yaml for m in ("chain_acc", "step_acc", "follow_acc"))


def test_lm_eval_aggregates_scripted_generations_exactly_like_seqit(exported):
    """lm-eval's own loaded task (YAML + !function hooks) vs seqit's scorer on a mix of right and wrong answers."""
    from lm_eval.tasks import TaskManager, get_task_dict

    task = get_task_dict(["seqeval_v"], TaskManager(include_path=str(exported), include_defaults=False))["seqeval_v"]
    items = frozen_items("v1")[::5]  # 100 items over all depths
    outputs = []
    for i, it in enumerate(items):
        expected = it["messages"][-1]["content"]
        outputs.append(expected if i % 3 == 0 else perturbations(expected)[i % 10])
    docs = {d["id"]: d for d in task.test_docs()}
    per_item = [task.process_results(docs[it["id"]], [o]) for it, o in zip(items, outputs, strict=True)]
    agg = task.aggregation()
    lm = {m: agg[m]([r[m] for r in per_item]) for m in ("chain_acc", "step_acc", "follow_acc", "complete_rate")}
    seqit = score_outputs(items, outputs)["metrics"]["overall"]
    assert 0 < seqit["chain_acc"] < seqit["step_acc"] < 1  # a mix, not a trivial all-right or all-wrong
    assert {m: round(v, 4) for m, v in lm.items()} == {m: seqit[m] for m in lm}


@pytest.mark.slow
def test_lm_eval_runs_the_exported_task_on_a_tiny_model_with_seqit_eval_numbers(exported, tiny_model_dir, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32", device="cpu", tasks=["seqeval_v"],
        limit=4, task_manager=TaskManager(include_path=str(exported), include_defaults=False),
        apply_chat_template=True, log_samples=True, bootstrap_iters=0, gen_kwargs="max_gen_toks=24")
    res = out["results"]["seqeval_v"]
    samples = out["samples"]["seqeval_v"]
    assert len(samples) == 4
    gens = [{"id": s["doc"]["id"], "output": s["filtered_resps"][0]} for s in samples]
    write_jsonl(tmp_path / "lm_eval_outputs.jsonl", gens)
    ids = {g["id"] for g in gens}  # the items lm-eval ran (its --limit takes the first N; seqit's spreads over depths)
    write_jsonl(tmp_path / "items.jsonl", [it for it in frozen_items("v1") if it["id"] in ids])
    assert main(["eval", "configs/eval/seqeval-v.yaml", f"outputs={tmp_path / 'lm_eval_outputs.jsonl'}",
                 f"data={tmp_path / 'items.jsonl'}", "--out", str(tmp_path / "run")]) == 0
    ours = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]["overall"]
    assert {m: round(res[f"{m},none"], 4) for m in ("chain_acc", "step_acc", "follow_acc", "complete_rate")} == {
        m: ours[m] for m in ("chain_acc", "step_acc", "follow_acc", "complete_rate")}
    rows = list(read_jsonl(tmp_path / "run" / "samples.jsonl"))
    assert [r["output"] for r in rows] == [g["output"] for g in gens]


def test_export_rejects_unknown_benchmark_format_and_version(tmp_path):
    with pytest.raises(DataError, match="unknown SeqEval-V version 'v9'"):
        export_seqeval_v(tmp_path, "v9")
    with pytest.raises(DataError, match="unknown export format 'helm'"):
        export_seqeval_v(tmp_path, "v1", fmt="helm")
    assert main(["benchmark", "export", "seqeval", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_v2_export_checker_agrees_with_seqit_on_every_v2_item(tmp_path):
    out = export_seqeval_v(tmp_path / "v2", "v2")
    utils = load_utils(out)
    docs = list(utils.load_docs()["test"])
    assert len(docs) == 800 and sum(d["heldout"] for d in docs) == 175
    assert "seqeval_v_version: v2" in (out / "seqeval_v.yaml").read_text()
    for it in frozen_items("v2"):
        expected = it["messages"][-1]["content"]
        for text in [expected, *perturbations(expected)]:
            ours = score_chain(Chain.from_dict(it["meta"]["chain"]), text)
            theirs = utils.score_chain(utils.Chain.from_dict(it["meta"]["chain"]), text)
            assert (theirs.correct, theirs.followed, theirs.extra_steps) == (ours.correct, ours.followed, ours.extra_steps)


@pytest.mark.slow
def test_the_lm_eval_command_runs_the_exported_task_from_any_directory(exported, tiny_model_dir, tmp_path):
    """The literal user command, in a fresh process whose cwd is elsewhere (the task dir is relocatable)."""
    import glob
    import os
    import subprocess
    import sys
    from pathlib import Path

    moved = tmp_path / "elsewhere" / "seqeval_v"
    __import__("shutil").copytree(exported, moved)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cmd = [str(Path(sys.executable).with_name("lm_eval")), "--model", "hf", "--model_args",
           f"pretrained={tiny_model_dir},dtype=float32", "--device", "cpu", "--include_path", str(moved), "--tasks",
           "seqeval_v", "--limit", "3", "--apply_chat_template", "--gen_kwargs", "max_gen_toks=16",
           "--output_path", str(cwd / "out"), "--log_samples"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (results,) = glob.glob(str(cwd / "out" / "*" / "results_*.json"))
    (samples,) = glob.glob(str(cwd / "out" / "*" / "samples_seqeval_v_*.jsonl"))
    got = json.loads(Path(results).read_text())["results"]["seqeval_v"]
    rows = list(read_jsonl(samples))
    items = {it["id"]: it for it in frozen_items("v1")}
    ours = score_outputs([items[r["doc"]["id"]] for r in rows], [r["filtered_resps"][0] for r in rows])["metrics"]["overall"]
    assert {m: round(got[f"{m},none"], 4) for m in ("chain_acc", "step_acc", "follow_acc")} == {
        m: ours[m] for m in ("chain_acc", "step_acc", "follow_acc")}
