"""lm-eval built-in tasks by name on a local copy of their data (`lm_eval.local_data`): the overlay YAML,
an offline run on the tiny model, and the instruction-following bridges (ifeval, ifbench, multi_if)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.eval.lmeval_offline import (
    builtin_task_yaml,
    missing_packages,
    overlay_yaml,
    write_overlays,
    yaml_value,
)
from seqit.eval.run import EvalConfig, run_eval
from seqit.jsonl import read_jsonl

ASSETS = Path(__file__).parent / "assets" / "lmeval_local"


def test_overlay_includes_lm_evals_own_yaml_and_swaps_only_the_data(tmp_path):
    builtin = builtin_task_yaml("gsm8k")
    assert builtin is not None and yaml_value(builtin.read_text(), "task") == "gsm8k"
    text = overlay_yaml("gsm8k", builtin, ASSETS / "gsm8k_sample.jsonl")
    assert f"include: {builtin}\n" in text and "task: gsm8k\n" in text and "dataset_path: json\n" in text
    assert f"    test: {ASSETS / 'gsm8k_sample.jsonl'}\n" in text
    assert "training_split: null" in text and "fewshot_split: null" in text  # the local copy is the test split only
    assert write_overlays({}, ["gsm8k"], tmp_path / "o") is None


@pytest.mark.parametrize(("local", "tasks", "match"), [
    ({"gsm8k": "nope.jsonl"}, ["gsm8k"], "lm_eval.local_data.gsm8k: nope.jsonl is not a file"),
    ({"gsm8k": str(ASSETS / "gsm8k_sample.jsonl")}, ["arc_easy"], "'gsm8k' is not in lm_eval.tasks"),
    ({"seqit_no_such_task": str(ASSETS / "gsm8k_sample.jsonl")}, ["seqit_no_such_task"], "not a built-in task of lm-eval"),
])
def test_overlay_errors_are_one_line_config_errors(tmp_path, local, tasks, match):
    with pytest.raises(ConfigError, match=match):
        write_overlays(local, tasks, tmp_path / "o")


def lm_config(tmp_path, model_dir, extra):
    return load_config(EvalConfig, None, [
        "task=lm_eval", f"out_dir={tmp_path / 'run'}", "model.backend=hf", f"model.model={model_dir}",
        "model.hf.dtype=float32", "lm_eval.bootstrap_iters=0", "lm_eval.batch_size=4", "lm_eval.num_fewshot=0",
        "lm_eval.gen_kwargs={max_gen_toks: 8}", *extra])


@pytest.mark.slow
def test_a_builtin_task_by_name_runs_offline_on_a_local_copy(tmp_path, tiny_model_dir):
    cfg = lm_config(tmp_path, tiny_model_dir, ["lm_eval.tasks=[gsm8k]",
                                               f"lm_eval.local_data={{gsm8k: {ASSETS / 'gsm8k_sample.jsonl'}}}"])
    run = run_eval(cfg)
    res = json.loads((run / "results.json").read_text())
    assert "exact_match[strict-match]" in res["metrics"]["gsm8k"]
    assert (run / "lm_eval_tasks" / "gsm8k.yaml").is_file()  # the overlay used is kept with the run
    rows = list(read_jsonl(run / "samples.jsonl"))
    assert {r["id"] for r in rows} == {"gsm8k:0", "gsm8k:1", "gsm8k:2"}  # the 3 local rows (logged per filter)
    assert rows[0]["prompt"].count("Question:") == 1 and "Mia has 3 boxes" in rows[0]["prompt"]


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_packages("ifeval")),
                    reason=f"lm-eval's ifeval hooks need {', '.join(missing_packages('ifeval'))} (not installed here)")
def test_ifeval_runs_offline_on_a_local_sample(tmp_path, tiny_model_dir):
    cfg = lm_config(tmp_path, tiny_model_dir, ["lm_eval.tasks=[ifeval]",
                                               f"lm_eval.local_data={{ifeval: {ASSETS / 'ifeval_sample.jsonl'}}}"])
    res = json.loads((run_eval(cfg) / "results.json").read_text())
    assert res["n_samples"] == {"ifeval": 3} and 0.0 <= res["metrics"]["ifeval"]["prompt_level_strict_acc"] <= 1.0


def test_ifeval_without_its_packages_is_a_clear_error(tmp_path):
    if not missing_packages("ifeval"):
        pytest.skip("ifeval's packages are installed: nothing to report")
    with pytest.raises(ConfigError, match="lm-eval's ifeval needs .*langdetect"):
        write_overlays({"ifeval": str(ASSETS / "ifeval_sample.jsonl")}, ["ifeval"], tmp_path / "o")


@pytest.mark.parametrize("name", ["ifbench", "multi_if"])
def test_ifbench_and_multi_if_by_name(tmp_path, name):
    """Same schema as IFEval's rows (key, prompt, instruction_id_list, kwargs) for IFBench; lm-eval ships these
    tasks only from newer releases, so with this one the name is a clear error, and the run is skipped."""
    if builtin_task_yaml(name) is None:
        with pytest.raises(ConfigError, match=f"'{name}' is not a built-in task of lm-eval .*newer lm-eval"):
            write_overlays({name: str(ASSETS / "ifeval_sample.jsonl")}, [name], tmp_path / "o")
        pytest.skip(f"lm-eval in this environment has no {name} task")
    out = write_overlays({name: str(ASSETS / "ifeval_sample.jsonl")}, [name], tmp_path / "o")
    assert (out / f"{name}.yaml").is_file()


def test_langdetect_is_seeded_so_ifeval_language_checks_are_deterministic():
    pytest.importorskip("langdetect")
    from langdetect import DetectorFactory, detect

    from seqit.eval.lmeval_bridge import seed_langdetect

    assert seed_langdetect(0) and DetectorFactory.seed == 0
    text = "Ciao, come stai? Sto bene grazie"  # short and ambiguous: unseeded, langdetect varies between runs
    seen = set()
    for _ in range(10):
        DetectorFactory._factory = None  # rebuild the detector as a new process would
        seed_langdetect(0)
        seen.add(detect(text))
    assert len(seen) == 1
