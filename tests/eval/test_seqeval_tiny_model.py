"""The full SeqEval loop on a real (tiny, random) local checkpoint with a scripted judge on loopback."""

import json
import shutil

import pytest

from seqit.config import load_config
from seqit.errors import SeqitError
from seqit.eval.generation import read_chat_template
from seqit.eval.run import EvalConfig, run_eval
from seqit.jsonl import read_jsonl
from seqit.templates import template_hash

BENCH = [
    {"instruction": "Say hello, then say goodbye.", "iteration": 1},
    {"instruction": "Count to three, then reverse the count.", "iteration": 2},
    {"instruction": "Name a colour, then a fruit of that colour, then a recipe.", "iteration": 3},
]


def checkpoint(tmp_path, tiny_model_dir, trained_template):
    """A copy of the tiny model with the meta.json `seqit train` writes beside a checkpoint."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, ckpt)
    meta = {"template": "tokenizer", "template_hash": template_hash(trained_template), "stop_strings": ["<|end|>"]}
    (ckpt / "meta.json").write_text(json.dumps(meta))
    return ckpt


def config(tmp_path, ckpt, server, extra=()):
    data = tmp_path / "bench.json"
    data.write_text(json.dumps(BENCH))
    return load_config(EvalConfig, None, [
        "task=seqeval", f"out_dir={tmp_path / 'run'}", f"data={data}",
        "model.backend=hf", f"model.model={ckpt}", "model.hf.dtype=float32", "model.hf.batch_size=4",
        "generation.max_new_tokens=12",
        "judge.backend=openai", "judge.model=judge-1", f"judge.base_url={server.url}", "judge.api_key_env=null",
        "bootstrap_samples=100", *extra,
    ])


@pytest.mark.slow
def test_seqeval_on_the_tiny_checkpoint_generates_judges_and_resumes(tmp_path, tiny_model_dir, fake_openai):
    seen = []

    def judge(body):
        seen.append(body["messages"][1]["content"])
        return "[[No, 1]]" if "recipe" in body["messages"][1]["content"] else "[[Yes, 2]]"

    fake_openai.reply = judge
    ckpt = checkpoint(tmp_path, tiny_model_dir, read_chat_template(tiny_model_dir))
    cfg = config(tmp_path, ckpt, fake_openai)
    run = run_eval(cfg)
    rows = list(read_jsonl(run / "samples.jsonl"))
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert all(r["output_tokens"] <= 12 and isinstance(r["output"], str) for r in rows)
    # the judge saw exactly what the tiny model generated (greedy), inside our prompt
    for r in rows:
        assert any(r["instruction"] in p and f"[Response]\n{r['output']}\n[End of response]" in p for p in seen)
    results = json.loads((run / "results.json").read_text())
    assert results["metrics"]["overall"]["following_rate"] == pytest.approx(2 / 3)
    assert results["template_check"]["match"] is True
    assert results["generation"] == {"max_new_tokens": 12, "temperature": 0.0, "top_p": 1.0, "seed": None, "stop": ["<|end|>"]}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["usage"]["roles"]["model"]["requests"] == 3 and manifest["usage"]["roles"]["judge"]["requests"] == 3
    # resume: nothing is regenerated or re-judged
    run_eval(cfg)
    assert len(seen) == 3 and len(list(read_jsonl(run / "samples.jsonl"))) == 3


def test_seqeval_refuses_a_checkpoint_whose_template_differs_from_training(tmp_path, tiny_model_dir, fake_openai):
    ckpt = checkpoint(tmp_path, tiny_model_dir, "{{ some other template }}")
    with pytest.raises(SeqitError, match="chat template mismatch"):
        run_eval(config(tmp_path, ckpt, fake_openai))
    assert fake_openai.attempts.total() == 0 and not (tmp_path / "run").exists()
