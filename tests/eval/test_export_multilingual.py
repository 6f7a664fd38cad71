"""`seqit benchmark export xquad|mgsm --format lm-eval`: lm-eval tasks with seqit eval's prompts and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.multilingual_replies import mgsm_reply, xquad_reply
from seqit.cli import main
from seqit.errors import DataError
from seqit.eval.export import run_export
from seqit.jsonl import read_jsonl

ASSETS = Path(__file__).parent / "assets" / "multilingual"


def served(fake_openai, reply):
    fake_openai.reply = reply
    return ["model.backend=openai", "model.model=m", f"model.base_url={fake_openai.url}", "model.api_key_env=null"]


def lm_eval_numbers(task_dir: Path, reply) -> dict[str, dict[str, dict[str, float]]]:
    """Every exported task loaded by lm-eval, scored on the scripted replies: {mode: {lang: {metric: value}}}."""
    from lm_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    names = sorted(n for n in manager.all_tasks if n.startswith("seqit_"))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for task in get_task_dict(names, manager).values():
        docs = list(task.test_docs())
        per = [task.process_results(d, [reply({"messages": [{"role": "user", "content": d["prompt"]}]})]) for d in docs]
        agg = task.aggregation()
        out.setdefault(docs[0]["mode"], {})[docs[0]["lang"]] = {m: round(agg[m]([p[m] for p in per]), 4) for m in per[0]}
    return out


@pytest.mark.parametrize(("bench", "reply"), [("xquad", xquad_reply), ("mgsm", mgsm_reply)])
def test_exported_tasks_give_seqit_evals_numbers_and_prompts(tmp_path, fake_openai, bench, reply):
    out = tmp_path / "tasks"
    assert main(["benchmark", "export", bench, "--data", str(ASSETS / bench), "--out", str(out)]) == 0
    assert main(["eval", f"configs/eval/{bench}.yaml", f"data={ASSETS / bench}", *served(fake_openai, reply),
                 "--out", str(tmp_path / "run")]) == 0
    ours = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]
    theirs = lm_eval_numbers(out, reply)
    assert theirs == {mode: {lang: {k: v for k, v in m.items() if k != "n"} for lang, m in langs.items() if lang != "avg"}
                      for mode, langs in ours.items()}
    prompts = {r["id"]: r["prompt"] for r in read_jsonl(tmp_path / "run" / "samples.jsonl")}
    exported = {f"{d['id']}:{d['mode']}": d["prompt"] for f in out.glob("*.jsonl") for d in read_jsonl(f)}
    assert exported == prompts


def test_export_needs_the_data_dir(tmp_path):
    with pytest.raises(DataError, match="--data: exporting xquad needs the directory"):
        run_export("xquad", "lm-eval", tmp_path / "o")
    with pytest.raises(DataError, match="has no files named mgsm_"):
        run_export("mgsm", "lm-eval", tmp_path / "o", data=tmp_path)


@pytest.mark.slow
def test_exported_mgsm_runs_in_lm_eval_on_the_tiny_model(tmp_path, tiny_model_dir):
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = run_export("mgsm", "lm-eval", tmp_path / "tasks", data=ASSETS / "mgsm", mode="translate", shots=2,
                     languages=["en"])
    res = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32", device="cpu", tasks=["seqit_mgsm"],
        limit=2, task_manager=TaskManager(include_path=str(out), include_defaults=False), apply_chat_template=True,
        bootstrap_iters=0, gen_kwargs="max_gen_toks=8")
    assert res["results"]["seqit_mgsm_translate_en"]["sample_len"] == 2
    assert 0.0 <= res["results"]["seqit_mgsm_translate_en"]["em,none"] <= 1.0
