"""End-to-end `seqit eval` runs: the judge is a scripted loopback OpenAI-compatible server."""

import json

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError, DataError
from seqit.eval.run import EvalConfig, plan_eval, run_eval
from seqit.eval.verdict import SEQEVAL_REASK
from seqit.jsonl import read_jsonl

BENCH = [
    {"instruction": "Translate 'hola' to English, then use it in a sentence.", "iteration": 1},
    {"instruction": "List three fruits. Then sort them alphabetically.", "iteration": 2},
    {"instruction": "Summarise the text, then give it a title, then count its words.", "iteration": 3},
    {"instruction": "UNPARSEABLE: write a haiku, then explain it.", "iteration": 2},
    {"instruction": "FLAKY: name a colour, then a shape.", "iteration": 1},
]


def judge_reply(body):
    """A scripted judge: Yes for depth-1 items, No for deeper ones; garbage for some."""
    msgs = body["messages"]
    prompt = msgs[1]["content"]
    reasked = msgs[-1]["content"] == SEQEVAL_REASK
    if "UNPARSEABLE" in prompt:
        return "I would rather not say."
    if "FLAKY" in prompt and not reasked:
        return "Hmm, hard to tell."
    return "The response handles every step in order. [[Yes, 4]]" if "hola" in prompt or "FLAKY" in prompt else "Step 2 is missing. [[No, 2]]"


def write_bench(tmp_path, rows=BENCH):
    path = tmp_path / "seqeval.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def seqeval_config(tmp_path, server, model_overrides=(), extra=()):
    overrides = [
        "task=seqeval",
        f"out_dir={tmp_path / 'run'}",
        f"data={write_bench(tmp_path)}",
        "model.backend=fake",
        "model.model=echo-model",
        "judge.backend=openai",
        "judge.model=judge-1",
        f"judge.base_url={server.url}",
        "judge.api_key_env=null",
        "judge.max_retries=1",
        "bootstrap_samples=200",
        *model_overrides,
        *extra,
    ]
    return load_config(EvalConfig, None, overrides)


def test_seqeval_run_writes_samples_results_and_manifest(tmp_path, fake_openai):
    fake_openai.reply = judge_reply
    run = run_eval(seqeval_config(tmp_path, fake_openai))
    rows = {r["id"]: r for r in read_jsonl(run / "samples.jsonl")}
    assert len(rows) == 5
    statuses = sorted(r["status"] for r in rows.values())
    assert statuses == ["ok", "ok", "ok", "ok", "unparsed"]
    unparsed = next(r for r in rows.values() if r["status"] == "unparsed")
    assert "following" not in unparsed and len(unparsed["judge_replies"]) == 3  # bounded re-asks
    flaky = next(r for r in rows.values() if "FLAKY" in r["instruction"])
    assert flaky["following"] is True and len(flaky["judge_replies"]) == 2  # parsed on the re-ask
    results = json.loads((run / "results.json").read_text())
    overall = results["metrics"]["overall"]
    assert overall["n_items"] == 5 and overall["n_judged"] == 4 and overall["failures"] == {"unparsed": 1}
    assert overall["following_rate"] == 0.5 and overall["mean_score"] == 3.0
    assert results["metrics"]["by_iteration"]["1"]["following_rate"] == 1.0
    assert results["metrics"]["by_iteration"]["2"]["n_failed"] == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["judge_model"] == "judge-1" and manifest["status"] == "finished"
    assert manifest["usage"]["roles"]["judge"]["requests"] == 3 + 3 + 2  # 3 clean items, 3 asks unparsed, 2 asks flaky
    assert "cost_usd" in manifest["usage"]["total"] and results["judge"] == "judge-1"


def test_seqeval_rerun_resumes_without_new_requests_or_duplicates(tmp_path, fake_openai):
    fake_openai.reply = judge_reply
    cfg = seqeval_config(tmp_path, fake_openai)
    run_eval(cfg)
    sent = sum(fake_openai.attempts.values())
    first = json.loads((cfg.out_dir / "results.json").read_text())["metrics"]
    run_eval(cfg)
    assert sum(fake_openai.attempts.values()) == sent
    assert len(list(read_jsonl(cfg.out_dir / "samples.jsonl"))) == 5
    assert json.loads((cfg.out_dir / "results.json").read_text())["metrics"] == first


def test_seqeval_judge_api_failures_are_reported_then_retried_on_resume(tmp_path, fake_openai):
    fake_openai.reply = judge_reply
    fake_openai.faults = {"500": 1.0}
    cfg = seqeval_config(tmp_path, fake_openai, extra=["judge.max_retries=0", "limit=2"])
    run_eval(cfg)
    rows = list(read_jsonl(cfg.out_dir / "samples.jsonl"))
    assert [r["status"] for r in rows] == ["judge_error", "judge_error"]
    overall = json.loads((cfg.out_dir / "results.json").read_text())["metrics"]["overall"]
    assert overall["n_judged"] == 0 and overall["failures"] == {"judge_error": 2} and overall["following_rate"] is None
    fake_openai.faults = {}
    run_eval(cfg)
    overall = json.loads((cfg.out_dir / "results.json").read_text())["metrics"]["overall"]
    assert overall["n_items"] == 2 and overall["n_judged"] == 2 and overall["following_rate"] == 0.5


def test_seqeval_judges_precomputed_outputs_aligned_by_id(tmp_path, fake_openai):
    fake_openai.reply = judge_reply
    first = run_eval(seqeval_config(tmp_path, fake_openai))
    cfg = seqeval_config(tmp_path, fake_openai, extra=[f"outputs={first}", f"out_dir={tmp_path / 'again'}"])
    run = run_eval(cfg)
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == f"outputs:{first}" and results["generation"] is None
    assert results["metrics"]["overall"]["following_rate"] == 0.5


def test_outputs_missing_or_extra_ids_are_an_error_listing_them(tmp_path, fake_openai):
    outputs = tmp_path / "outs.jsonl"
    rows = [{"instruction": b["instruction"], "output": "x"} for b in BENCH[1:]] + [{"id": "stray-7", "output": "y"}]
    outputs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = seqeval_config(tmp_path, fake_openai, extra=[f"outputs={outputs}"])
    with pytest.raises(DataError, match=r"1 item id\(s\) have no output .*item-[0-9a-f]{12}.*1 id\(s\) in outputs .* stray-7"):
        run_eval(cfg)
    assert fake_openai.attempts.total() == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task=bogus"], "unknown task 'bogus'"),
        (["task=pairwise"], "needs the reference outputs"),
        (["data=null"], "needs a benchmark"),
        (["judging.max_attempts=0"], "max_attempts must be >= 1"),
        (["generation.max_new_tokens=0"], "max_new_tokens must be >= 1"),
        (["judge.nope=1"], "judge.nope: unknown key"),
    ],
)
def test_bad_eval_configs_are_config_errors(tmp_path, fake_openai, overrides, message):
    with pytest.raises(ConfigError, match=message):
        seqeval_config(tmp_path, fake_openai, extra=overrides)


def test_dry_run_plan_shows_first_prompts_and_sends_nothing(tmp_path, fake_openai):
    cfg = seqeval_config(tmp_path, fake_openai, extra=["limit=3"])
    plan = plan_eval(cfg)
    assert plan["items"] == 3
    assert plan["first_generation_prompt"] == [{"role": "user", "content": BENCH[0]["instruction"]}]
    assert BENCH[0]["instruction"] in plan["first_judge_prompt"][1]["content"]
    assert plan["generation_estimate"]["requests"] == 3
    assert not (tmp_path / "run").exists() and fake_openai.attempts.total() == 0


def test_cli_eval_then_report_in_process(tmp_path, fake_openai, capsys):
    from seqit.cli import main

    fake_openai.reply = judge_reply
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        f"task: seqeval\ndata: {write_bench(tmp_path)}\nmodel: {{backend: fake, model: echo}}\n"
        f"judge: {{backend: openai, model: judge-1, base_url: '{fake_openai.url}', api_key_env: null}}\n"
        "bootstrap_samples: 100\n",
        encoding="utf-8",
    )
    assert main(["eval", str(cfg), "--out", str(tmp_path / "run"), "--limit", "3", "judging.max_attempts=2"]) == 0
    out = capsys.readouterr().out
    assert "following rate" in out and "results.json" in out
    assert json.loads((tmp_path / "run" / "results.json").read_text())["n_items"] == 3
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html")]) == 0
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    assert main(["eval", str(cfg), "--dry-run", "task=nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err


def test_seqeval_stops_with_a_clear_error_on_a_bad_judge_key_and_resumes_after(tmp_path, fake_openai, monkeypatch):
    from seqit.errors import SeqitError

    fake_openai.reply = judge_reply
    fake_openai.api_key = "right-key"
    monkeypatch.setenv("SEQIT_TEST_JUDGE_KEY", "wrong-key")
    cfg = seqeval_config(tmp_path, fake_openai, extra=["judge.api_key_env=SEQIT_TEST_JUDGE_KEY"])
    with pytest.raises(SeqitError, match="judge: authentication failed"):
        run_eval(cfg)
    manifest = json.loads((cfg.out_dir / "manifest.json").read_text())
    assert manifest["status"] == "stopped" and "wrong-key" not in json.dumps(manifest)
    monkeypatch.setenv("SEQIT_TEST_JUDGE_KEY", "right-key")
    run_eval(cfg)
    overall = json.loads((cfg.out_dir / "results.json").read_text())["metrics"]["overall"]
    assert overall["n_items"] == 5 and overall["n_judged"] == 4


def test_samples_are_byte_identical_across_runs_and_in_benchmark_order(tmp_path, fake_openai):
    fake_openai.reply = judge_reply
    a = run_eval(seqeval_config(tmp_path, fake_openai, extra=[f"out_dir={tmp_path / 'a'}"]))
    b = run_eval(seqeval_config(tmp_path, fake_openai, extra=[f"out_dir={tmp_path / 'b'}", "judge.max_concurrency=1"]))
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
    rows = list(read_jsonl(a / "samples.jsonl"))
    assert [r["instruction"] for r in rows] == [b["instruction"] for b in BENCH]
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["metrics"] == rb["metrics"] and ra["metrics"]["overall"]["mean_output_words"] > 0


def test_seqeval_with_a_served_model_and_judge_on_openai_compatible_endpoints(tmp_path, fake_openai):
    def reply(body):
        if body["messages"][0]["role"] == "system":  # the judge prompt starts with our system message
            return judge_reply(body)
        assert body["max_tokens"] == 64 and body["temperature"] == 0.0  # greedy, max_new_tokens
        return "  Step 1: done.\nStep 2: done.  "

    fake_openai.reply = reply
    cfg = seqeval_config(tmp_path, fake_openai, extra=[
        "model.backend=openai", "model.model=served-sit", f"model.base_url={fake_openai.url}", "model.api_key_env=null",
        "generation.max_new_tokens=64",
    ])
    run = run_eval(cfg)
    rows = list(read_jsonl(run / "samples.jsonl"))
    assert {r["output"] for r in rows} == {"Step 1: done.\nStep 2: done."}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["usage"]["roles"]["model"]["requests"] == 5 and "served-sit" in manifest["usage"]["roles"]["model"]["models"]


def test_generate_outputs_serves_judge_free_tasks_and_caches(tmp_path):
    from seqit.eval.generation import generate_outputs
    from seqit.eval.items import load_items
    from seqit.runs import start_run

    cfg = load_config(EvalConfig, None, ["task=seqeval", f"data={write_bench(tmp_path)}", "model.backend=fake",
                                         "model.model=echo", f"out_dir={tmp_path / 'run'}"])
    items = load_items(cfg.data)
    run = start_run(cfg.out_dir, cfg, command="eval")
    outs = generate_outputs(cfg.model, cfg.generation, run, items)
    assert [outs[i.id]["output"] for i in items] == [b["instruction"] for b in BENCH]
    assert run.manifest["usage"]["roles"]["model"]["requests"] == 5
    again = generate_outputs(cfg.model, cfg.generation, run, items)
    assert again == outs and run.manifest["usage"]["roles"]["model"]["cached"] == 5
