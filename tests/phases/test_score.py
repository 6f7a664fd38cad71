"""`seqit score`: judge rows and rejects, n samples, proxies, resume against the loopback server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError
from seqit.phases.difficulty import PROMPT_VERSION
from seqit.phases.score import ScoreConfig, estimate_score, run_score
from seqit.teachers import BackendError, FakeBackend

ROOT = Path(__file__).resolve().parents[2]


def _alpaca(n: int) -> list[dict]:
    return [{"instruction": f"Task {i}: describe item number {i} in {i % 4 + 1} sentences.", "input": "",
             "output": f"Item {i} is " + "very " * (i % 5) + "ordinary."} for i in range(n)]  # fmt: skip


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _cfg(tmp_path: Path, data: Path, *overrides: str) -> ScoreConfig:
    base = [f"data={data}", f"out_dir={tmp_path / 'run'}", "judge.backend=fake", "judge.model=judge-x",
            "judge.backoff_base_s=0.001", "judge.backoff_max_s=0.002"]  # fmt: skip
    return load_config(ScoreConfig, None, [*base, *overrides])


def _task_no(req) -> int:
    return int(req.messages[1]["content"].split("Task ", 1)[1].split(":", 1)[0])


def test_judge_scores_every_record_with_raw_reply_model_and_prompt_version(tmp_path):
    data = _write(tmp_path / "d.jsonl", _alpaca(6))
    replies = lambda req: json.dumps({"rationale": "ok", "task_complexity": 2, "transformation_difficulty": 3,  # noqa: E731
                                      "score": 1 + _task_no(req) % 5})  # fmt: skip
    run = run_score(_cfg(tmp_path, data), backend=FakeBackend(replies))
    rows = _rows(run / "scored.jsonl")
    assert [r["id"] for r in rows] == [f"d-{i + 1:05d}" for i in range(6)]  # input order
    for i, r in enumerate(rows):
        assert r["meta"]["difficulty"] == 1 + i % 5
        d = r["meta"]["difficulty_detail"]
        assert d["method"] == "judge" and d["judge_model"] == "fake" and d["prompt_version"] == PROMPT_VERSION  # a fake judge is never reported under its configured name
        assert json.loads(d["samples"][0]["raw"])["score"] == 1 + i % 5
        assert d["samples"][0]["task_complexity"] == 2
    m = json.loads((run / "manifest.json").read_text())
    assert m["counts"]["scored"] == 6 and m["counts"]["balanced"] is True
    assert m["usage"]["total"]["requests"] == 6 and m["usage"]["total"]["prompt_tokens"] > 0
    assert m["judge"]["prompt_version"] == PROMPT_VERSION
    assert m["scores"]["n"] == 6 and m["scores"]["share_per_phase"] == [0.3333, 0.3333, 0.3333]


def test_unparsable_and_failed_judgements_become_rejects_not_default_scores(tmp_path):
    data = _write(tmp_path / "d.jsonl", _alpaca(4))

    def reply(req):
        i = _task_no(req)
        if i == 1:
            return "I am not able to rate this."
        if i == 2:
            return BackendError("model overloaded", retryable=False)
        if i == 3:
            return '{"score": 9}'
        return '{"score": 2}'

    run = run_score(_cfg(tmp_path, data, "judge.max_retries=0"), backend=FakeBackend(reply))
    assert [r["id"] for r in _rows(run / "scored.jsonl")] == ["d-00001"]
    rejects = {r["id"]: r for r in _rows(run / "rejects.jsonl")}
    assert set(rejects) == {"d-00002", "d-00003", "d-00004"}
    assert "no score found" in rejects["d-00002"]["reason"] and rejects["d-00002"]["detail"]["raw"] == ["I am not able to rate this."]
    assert "judge call failed" in rejects["d-00003"]["reason"] and "overloaded" in rejects["d-00003"]["reason"]
    assert "outside 1-5" in rejects["d-00004"]["reason"]
    assert rejects["d-00004"]["row"]["messages"][0]["role"] == "user"
    m = json.loads((run / "manifest.json").read_text())
    assert (m["counts"]["scored"], m["counts"]["rejects"], m["counts"]["balanced"]) == (1, 3, True)


def test_n_samples_are_averaged_and_each_is_recorded(tmp_path):
    from seqit.teachers import Completion, Usage

    data = _write(tmp_path / "d.jsonl", _alpaca(1))
    texts = ['{"score": 3}', "Score: 4", "no idea"]
    backend = FakeBackend(lambda req: Completion(req.id, texts, ["stop"] * 3, Usage(10, 3), "judge-x"))
    run = run_score(_cfg(tmp_path, data, "samples=3", "temperature=0.7"), backend=backend)
    assert backend.calls[0].n == 3 and backend.calls[0].temperature == 0.7
    (row,) = _rows(run / "scored.jsonl")
    d = row["meta"]["difficulty_detail"]
    assert row["meta"]["difficulty"] == 3.5
    assert (d["n_samples"], d["n_valid"]) == (3, 2)
    assert [s.get("score") for s in d["samples"]] == [3.0, 4.0, None]
    assert d["samples"][2]["error"] == "no score found in the reply"
    assert d["spread"] == 1.0
    agreement = json.loads((run / "manifest.json").read_text())["scores"]["agreement"]
    assert agreement == {"records_with_2plus_samples": 1, "mean_spread": 1.0, "share_spread_le_0.5": 0.0}


def test_reference_stage_rows_are_judged_and_their_old_score_kept(tmp_path):
    data = _write(tmp_path / "en-alpaca52k-stage3.jsonl",
                  [{"id": "5", "score": "3.5\n\n", "data": ["Write a limerick about cats.", "There once..."]}])  # fmt: skip
    run = run_score(_cfg(tmp_path, data), backend=FakeBackend(['{"score": 2}']))
    (row,) = _rows(run / "scored.jsonl")
    assert row["meta"]["difficulty"] == 2.0
    assert row["meta"]["difficulty_detail"]["previous"] == 3.5 and row["meta"]["difficulty_raw"] == "3.5\n\n"


def test_rerun_skips_scored_ids_and_resends_nothing_finished(tmp_path):
    data = _write(tmp_path / "d.jsonl", _alpaca(8))
    first = FakeBackend(['{"score": 2}'])
    run_score(_cfg(tmp_path, data, "limit=5"), backend=first)
    second = FakeBackend(['{"score": 4}'])
    run = run_score(_cfg(tmp_path, data), backend=second)
    assert len(first.calls) == 5 and len(second.calls) == 3
    rows = _rows(run / "scored.jsonl")
    assert [r["meta"]["difficulty"] for r in rows] == [2.0] * 5 + [4.0] * 3
    assert len({r["id"] for r in rows}) == 8
    m = json.loads((run / "manifest.json").read_text())
    assert m["attempts"] == 2 and m["counts"]["already_scored"] == 5
    assert m["usage"]["total"]["requests"] == 8


def test_dry_run_estimates_cost_and_writes_nothing(tmp_path):
    data = _write(tmp_path / "d.jsonl", _alpaca(3))
    cfg = _cfg(tmp_path, data, "judge.backend=openai", "judge.prices={judge-x: {input: 1.0, output: 2.0}}")
    plan = estimate_score(cfg)
    assert plan["to_judge"] == 3 and plan["estimate"]["requests"] == 3
    assert plan["estimate"]["max_cost_usd"] > 0
    assert plan["first_prompt"][1]["content"].startswith("Rate the difficulty")
    assert plan["fake_row"]["meta"]["difficulty"] == 3.0
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["length", "depth"])
def test_proxy_scores_are_labelled_as_proxies_and_ranked_onto_the_scale(tmp_path, kind):
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": "word " * (i + 1)},
             {"role": "assistant", "content": "ok"}], "meta": {"depth": i + 1} if i < 3 else {}} for i in range(4)]  # fmt: skip
    run = run_score(_cfg(tmp_path, _write(tmp_path / "d.jsonl", rows), "method=proxy", f"proxy.kind={kind}"))
    scored = _rows(run / "scored.jsonl")
    assert all(r["meta"]["difficulty_detail"]["proxy"] is True for r in scored)
    assert all(r["meta"]["difficulty_detail"]["method"] == f"proxy:{kind}" for r in scored)
    if kind == "length":
        assert [r["meta"]["difficulty"] for r in scored] == [1.0, 2.3333, 3.6667, 5.0]
    else:
        assert [r["meta"]["difficulty"] for r in scored] == [1.0, 3.0, 5.0]
        assert "meta.depth" in _rows(run / "rejects.jsonl")[0]["reason"]
    m = json.loads((run / "manifest.json").read_text())
    assert "PROXY" in m["proxy"]["label"]


@pytest.mark.slow
def test_loss_proxy_scores_with_a_tiny_local_model(tmp_path, tiny_model_dir):
    model_dir = tiny_model_dir
    data = _write(tmp_path / "d.jsonl", _alpaca(3))
    run = run_score(_cfg(tmp_path, data, "method=proxy", "proxy.kind=loss", f"proxy.model={model_dir}"))
    scored = _rows(run / "scored.jsonl")
    assert len(scored) == 3
    values = [r["meta"]["difficulty_detail"]["value"] for r in scored]
    assert all(v > 0 for v in values)
    assert sorted(r["meta"]["difficulty"] for r in scored) == [1.0, 3.0, 5.0]


@pytest.mark.parametrize(
    ("override", "message"),
    [("samples=0", "samples"), ("method=oracle", "must be one of"), ("proxy.kind=loss", "proxy.model"),
     ("judge.colour=red", "judge.colour")],
)  # fmt: skip
def test_score_config_rejects_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ScoreConfig, None, ["data=x", "method=proxy" if "proxy." in override else "method=judge", override])


# ---------------------------------------------------------------------------------------------
# Resume of an interrupted run against the loopback OpenAI-compatible server


def _judge_reply(body: dict) -> str:
    user = body["messages"][-1]["content"]
    i = int(user.split("Task ", 1)[1].split(":", 1)[0])
    return json.dumps({"rationale": "fake", "score": 1 + i % 5})


def _server_cfg(tmp_path: Path, server, data: Path) -> Path:
    cfg = tmp_path / "score.yaml"
    cfg.write_text(
        f"data: {data}\nout_dir: {tmp_path / 'run'}\njudge:\n  backend: openai\n  model: fake-judge\n"
        f"  base_url: {server.url}\n  api_key_env: SEQIT_TEST_KEY\n  max_concurrency: 2\n  timeout_s: 5\n"
        f"  backoff_base_s: 0.01\n  backoff_max_s: 0.05\n",
        encoding="utf-8",
    )
    return cfg


@pytest.mark.slow
def test_killed_scoring_run_resumes_without_duplicates_or_resent_calls(tmp_path, fake_openai, monkeypatch):
    n = 24
    data = _write(tmp_path / "d.jsonl", _alpaca(n))
    fake_openai.reply = _judge_reply
    fake_openai.latency_s = 0.05
    cfg = _server_cfg(tmp_path, fake_openai, data)
    scored = tmp_path / "run" / "scored.jsonl"
    env = {**os.environ, "SEQIT_TEST_KEY": "sk-test", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "seqit", "score", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_rows(scored)) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # let the server finish answering what was in flight when the client died
    before = {r["id"] for r in _rows(scored)}
    assert 6 <= len(before) < n, "the first run must die part-way"
    answered_before = sum(fake_openai.successes.values())

    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-test")
    from seqit.cli import main

    assert main(["score", str(cfg)]) == 0
    rows = _rows(scored)
    assert len(rows) == n and len({r["id"] for r in rows}) == n
    assert [r["meta"]["difficulty"] for r in rows] == [1 + i % 5 for i in range(n)]
    by_prompt = {r["id"]: f"Task {int(r['id'].split('-')[1]) - 1}:" for r in rows}
    for rid in before:  # finished before the kill: never sent again
        sends = [c for k, c in fake_openai.successes.items() if by_prompt[rid] in k]
        assert sends == [1], rid
    resent = sum(fake_openai.successes.values()) - answered_before
    assert resent <= n - len(before), "the rerun sent more than the unfinished items"
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["status"] == "finished" and m["attempts"] == 2 and m["counts"]["already_scored"] == len(before)


def test_auth_failure_stops_the_run_with_a_clear_error_and_resume_works(tmp_path, fake_openai, monkeypatch):
    from seqit.errors import SeqitError

    data = _write(tmp_path / "d.jsonl", _alpaca(30))
    fake_openai.reply = _judge_reply
    fake_openai.api_key = "sk-right"
    cfg = load_config(ScoreConfig, _server_cfg(tmp_path, fake_openai, data))
    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-wrong")
    with pytest.raises(SeqitError, match="judge stopped: authentication failed.*0 of 30 records"):
        run_score(cfg)
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["status"] == "stopped" and m["counts"]["scored"] == 0
    assert m["counts"]["pending"] > 0 and m["counts"]["balanced"] is True
    assert fake_openai.kinds["401"] <= 8  # stops after the scheduled window (4 x max_concurrency), not 30
    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-right")
    run_score(cfg)
    assert len(_rows(tmp_path / "run" / "scored.jsonl")) == 30
    assert _rows(tmp_path / "run" / "rejects.jsonl") == []


@pytest.mark.slow
def test_judge_with_a_local_hf_model_records_every_reply_as_a_score_or_a_reject(tmp_path, tiny_model_dir):
    """A random tiny model is a useless judge: every item must still end up scored or rejected with its raw reply."""
    data = _write(tmp_path / "d.jsonl", _alpaca(4))
    cfg = _cfg(tmp_path, data, "judge.backend=hf", f"judge.model={tiny_model_dir}", "max_tokens=8", "json_mode=false")
    run = run_score(cfg)
    scored, rejects = _rows(run / "scored.jsonl"), _rows(run / "rejects.jsonl")
    assert len(scored) + len(rejects) == 4
    assert all(1 <= r["meta"]["difficulty"] <= 5 for r in scored)
    assert all(r["reason"].startswith("no valid score") and len(r["detail"]["raw"]) == 1 for r in rejects)
    m = json.loads((run / "manifest.json").read_text())
    assert m["counts"]["balanced"] is True and m["judge"]["backend"] == "hf"


def test_instruction_only_view_under_its_own_key_keeps_both_scores_and_split_can_use_either(tmp_path):
    from seqit.phases.difficulty import INSTRUCTION_PROMPT_VERSION
    from seqit.phases.split import SplitConfig, run_split

    data = _write(tmp_path / "d.jsonl", _alpaca(6))
    run_score(_cfg(tmp_path / "a", data), backend=FakeBackend(['{"score": 4}']))
    seen = FakeBackend(['{"rationale": "easy task", "task_complexity": 1, "score": 1}'])
    run = run_score(_cfg(tmp_path / "b", tmp_path / "a" / "run" / "scored.jsonl", "view=instruction",
                         "score_key=difficulty_instruction"), backend=seen)  # fmt: skip
    user = seen.calls[0].messages[1]["content"]
    assert "### Instruction" in user and "Expected output" not in user
    assert seen.calls[0].prompt_version == INSTRUCTION_PROMPT_VERSION
    rows = _rows(run / "scored.jsonl")
    assert all(r["meta"]["difficulty"] == 4.0 and r["meta"]["difficulty_instruction"] == 1.0 for r in rows)
    assert rows[0]["meta"]["difficulty_instruction_detail"]["view"] == "instruction"
    assert rows[0]["meta"]["difficulty_detail"]["view"] == "triplet"
    out = run_split(load_config(SplitConfig, None, [f"data={run / 'scored.jsonl'}", f"out_dir={tmp_path / 's'}",
                                                    "score_key=difficulty_instruction"]))  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert m["phase_sizes"] == [6, 0, 0] and m["score_key"] == "difficulty_instruction"


def test_score_key_must_be_a_plain_name():
    with pytest.raises(ConfigError, match="score_key"):
        load_config(ScoreConfig, None, ["data=x", "score_key=meta.x"])
