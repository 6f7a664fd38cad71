"""lm-evaluation-harness through its Python API, offline: a local task dir + local data + the tiny model."""

import json

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError, SeqitError
from seqit.eval.lmeval_bridge import _clean_metrics, _jsonable, adapter_base, check_tasks
from seqit.eval.run import EvalConfig, run_eval
from seqit.jsonl import read_jsonl

ASSETS = __import__("pathlib").Path(__file__).parent / "assets" / "lmeval_tasks"


def local_tasks(tmp_path):
    """Copy the task YAMLs and point them at a local JSONL (lm-eval resolves data_files from the cwd)."""
    data = tmp_path / "arith.jsonl"
    rows = [{"a": a, "b": b, "choices": [str(a + b), str(a + b + 1)], "label": 0} for a, b in [(1, 2), (3, 4), (5, 6)]]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for src in ASSETS.glob("*.yaml"):
        (tasks / src.name).write_text(src.read_text().replace("DATA_FILE", str(data)), encoding="utf-8")
    return tasks


def lm_config(tmp_path, model_dir, tasks, extra=()):
    return load_config(EvalConfig, None, [
        "task=lm_eval", f"out_dir={tmp_path / 'run'}", "model.backend=hf", f"model.model={model_dir}",
        "model.hf.dtype=float32", f"lm_eval.include_path={tasks}", "lm_eval.bootstrap_iters=0", "lm_eval.batch_size=4",
        *extra,
    ])


@pytest.mark.slow
def test_lm_eval_runs_a_local_task_on_the_tiny_model_offline(tmp_path, tiny_model_dir):
    tasks = local_tasks(tmp_path)
    cfg = lm_config(tmp_path, tiny_model_dir, tasks, ["lm_eval.tasks=[seqit_tiny_arith, seqit_tiny_echo]", "model.hf.template=tulu"])
    run = run_eval(cfg)
    results = json.loads((run / "results.json").read_text())
    acc = results["metrics"]["seqit_tiny_arith"]["acc"]
    assert 0.0 <= acc <= 1.0 and "exact_match" in results["metrics"]["seqit_tiny_echo"]
    assert results["n_samples"] == {"seqit_tiny_arith": 3, "seqit_tiny_echo": 3}
    samples = list(read_jsonl(run / "samples.jsonl"))
    assert len(samples) == 6 and {s["task"] for s in samples} == {"seqit_tiny_arith", "seqit_tiny_echo"}
    echo = next(s for s in samples if s["task"] == "seqit_tiny_echo")
    # our chat template (tulu) rendered the prompt, as in training
    assert echo["prompt"].startswith("<|user|>\nRepeat the number") and echo["prompt"].endswith("<|assistant|>\n")


def test_lm_eval_unknown_task_is_a_config_error_with_suggestions(tmp_path):
    from lm_eval.tasks import TaskManager

    local = TaskManager(include_path=str(local_tasks(tmp_path)), include_defaults=False)
    check_tasks(["seqit_tiny_arith"], local)
    with pytest.raises(ConfigError, match="unknown task 'seqit_tiny_arth' \\(did you mean seqit_tiny_arith"):
        check_tasks(["seqit_tiny_arth"], local)


def test_lm_eval_needs_a_local_hf_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="backend 'hf'"):
        load_config(EvalConfig, None, ["task=lm_eval", f"out_dir={tmp_path}", "model.backend=openai",
                                       "model.model=gpt-x", "lm_eval.tasks=[gsm8k]"])


def test_lm_eval_metric_keys_and_numpy_values_are_cleaned():
    import numpy as np

    got = _clean_metrics({"alias": "t", "acc,none": np.float64(0.5), "acc_stderr,none": "N/A", "exact_match,strict": 1.0})
    assert got == {"acc": 0.5, "acc_stderr": "N/A", "exact_match[strict]": 1.0}
    assert _jsonable({"x": (np.int64(2), float("nan"))}) == {"x": [2, None]}


@pytest.mark.slow
def test_lm_eval_loads_a_lora_adapter_checkpoint_with_its_base_model(tmp_path, tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = tmp_path / "adapter"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(adapter)
    assert adapter_base(adapter) == (str(tiny_model_dir), str(adapter))
    cfg = lm_config(tmp_path, adapter, local_tasks(tmp_path), ["lm_eval.tasks=[seqit_tiny_arith]"])
    results = json.loads((run_eval(cfg) / "results.json").read_text())
    assert results["n_samples"] == {"seqit_tiny_arith": 3}


def test_adapter_without_base_model_is_a_clear_error(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(SeqitError, match="base_model_name_or_path is missing"):
        adapter_base(tmp_path)
    assert adapter_base(tmp_path / "plain") == (str(tmp_path / "plain"), None)


def test_lm_eval_missing_local_data_is_a_clear_error(tmp_path, tiny_model_dir):
    tasks = local_tasks(tmp_path)
    (tmp_path / "arith.jsonl").unlink()
    cfg = lm_config(tmp_path, tiny_model_dir, tasks, ["lm_eval.tasks=[seqit_tiny_arith]"])
    with pytest.raises(SeqitError, match="could not load a task's data .*arith.jsonl.*current directory"):
        run_eval(cfg)
