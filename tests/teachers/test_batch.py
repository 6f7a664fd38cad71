"""`teacher.mode: batch` against the loopback Files + Batches API, switching modes, crash recovery,
and `seqit complete --export-batch / --import-batch` (vllm run-batch interop)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.errors import ConfigError
from seqit.teachers import ChatRequest, TeacherConfig, cache_key
from seqit.teachers.backends import preflight
from seqit.teachers.batch import batch_line, parse_result_line
from seqit.teachers.ledger import Ledger

SRC = Path(__file__).resolve().parents[2] / "src"
FAST_BATCH = ["teacher.batch.collect_s=0.05", "teacher.batch.poll_s=0.05", "teacher.batch.poll_max_s=0.2"]


def write_requests(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}]}) + "\n")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def complete(req: Path, out: Path, server, *extra: str) -> int:
    return main(["complete", str(req), "-o", str(out), "--base-url", server.url, "--model", "m",
                 "--api-key-env", "NO_KEY_NEEDED", *extra])


def test_batch_mode_answers_through_files_and_batches_at_the_batch_price(tmp_path, fake_openai):
    fake_openai.batch_line_faults = 0.3
    req = write_requests(tmp_path / "req.jsonl", 30)
    out = tmp_path / "out.jsonl"
    rc = complete(req, out, fake_openai, "--mode", "batch", *FAST_BATCH, "teacher.prices.m.input=2.0",
                  "teacher.prices.m.output=4.0")
    assert rc == 1  # some lines failed
    assert sum(fake_openai.attempts.values()) == 0  # nothing streamed: all through the Batch API
    assert len(fake_openai.batches) == 1 and fake_openai.files  # one upload, one batch
    uploaded = [json.loads(x) for x in fake_openai.files["file-0001"].splitlines()]
    assert {x["url"] for x in uploaded} == {"/v1/chat/completions"} and len(uploaded) == 30
    ok, rej = rows(out), rows(tmp_path / "rejects.jsonl")
    assert len(ok) + len(rej) == 30 and rej and ok
    assert {r["id"] for r in ok}.isdisjoint(r["id"] for r in rej)
    assert all("HTTP 400" in r["reason"] and "context_length_exceeded" in r["reason"] for r in rej)  # provider's reason
    assert all(r["text"] == f"echo: question {r['id'][1:]}" for r in ok)
    m = json.loads((tmp_path / "manifest.json").read_text())
    u = m["usage"]
    assert u["batched"] == len(ok) and u["failed"] == len(rej)
    full_price = (u["prompt_tokens"] * 2.0 + u["completion_tokens"] * 4.0) / 1e6
    assert u["cost_usd"] == pytest.approx(full_price * 0.5, rel=1e-3)  # the batch discount
    (b,) = m["teacher"]["batches"]
    assert b["status"] == "completed" and b["completed"] == len(ok) and b["failed"] == len(rej)
    led = Ledger(tmp_path / "ledger.sqlite")
    try:
        assert len(led) == len(ok) and [x["status"] for x in led.batches()] == ["folded"]
    finally:
        led.close()


def test_switching_between_stream_and_batch_never_resends_a_finished_request(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 20)
    out = tmp_path / "out.jsonl"
    assert complete(req, out, fake_openai, "--limit", "6") == 0  # streamed: q0..q5
    fake_openai.batch_line_faults = 0.4
    complete(req, out, fake_openai, "--mode", "batch", *FAST_BATCH)  # the other 14 go as a batch
    batch_input = [json.loads(x)["body"]["messages"][-1]["content"] for x in fake_openai.files["file-0001"].splitlines()]
    assert sorted(batch_input) == sorted(f"question {i}" for i in range(6, 20))
    failed_ids = {r["id"] for r in rows(tmp_path / "rejects.jsonl")}
    assert failed_ids  # some batch lines failed ...
    fake_openai.reset_counts()
    assert complete(req, out, fake_openai) == 0  # ... and a streamed rerun sends exactly those
    assert set(fake_openai.attempts) == {f"question {i[1:]}" for i in failed_ids}
    assert sorted(r["id"] for r in rows(out)) == sorted(f"q{i}" for i in range(20))
    assert complete(req, out, fake_openai, "--mode", "batch", *FAST_BATCH) == 0  # nothing left: no new batch
    assert len(fake_openai.batches) == 1


def test_a_failed_or_expired_batch_turns_into_rejects_with_the_reason(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 6)
    fake_openai.batch_fail = "line 1: unsupported model"
    assert complete(req, tmp_path / "a" / "out.jsonl", fake_openai, "--mode", "batch", *FAST_BATCH) == 1
    rej = rows(tmp_path / "a" / "rejects.jsonl")
    assert len(rej) == 6 and all("failed: line 1: unsupported model" in r["reason"] for r in rej)
    fake_openai.batch_fail = None
    fake_openai.batch_expire_after = 4
    assert complete(req, tmp_path / "b" / "out.jsonl", fake_openai, "--mode", "batch", *FAST_BATCH) == 1
    assert len(rows(tmp_path / "b" / "out.jsonl")) == 4
    rej = rows(tmp_path / "b" / "rejects.jsonl")
    assert len(rej) == 2 and all("expired: no result for this request" in r["reason"] for r in rej)


def test_kill_9_between_submit_and_download_finds_the_batch_again(tmp_path, fake_openai):
    fake_openai.batch_delay_s = 3.0
    n = 40
    req = write_requests(tmp_path / "req.jsonl", n)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "seqit", "complete", str(req), "-o", str(out), "--base-url", fake_openai.url,
           "--model", "m", "--api-key-env", "NO_KEY_NEEDED", "--mode", "batch", *FAST_BATCH]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not fake_openai.batches and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the batch id is being recorded; killed while it is still in progress
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert len(fake_openai.batches) == 1 and rows(out) == []
    (batch,) = fake_openai.batches.values()
    assert batch["status"] in ("validating", "in_progress")  # killed between submit and download
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(fake_openai.batches) == 1, "the batch was submitted twice"
    assert sorted(r["id"] for r in rows(out)) == sorted(f"q{i}" for i in range(n))
    assert all(v == 1 for v in fake_openai.batch_lines.values()) and len(fake_openai.batch_lines) == n
    assert sum(fake_openai.attempts.values()) == 0


def test_crash_after_upload_before_the_batch_id_was_recorded(tmp_path, fake_openai):
    """The batch was created but its id never reached the ledger: the rerun adopts it by input file."""
    import asyncio

    import openai

    req = write_requests(tmp_path / "req.jsonl", 5)
    cfg = TeacherConfig(model="m", base_url=fake_openai.url)
    reqs = [ChatRequest(id=f"q{i}", messages=[{"role": "user", "content": f"question {i}"}]) for i in range(5)]
    keys = [cache_key(r, "openai", "m") for r in reqs]
    data = "".join(json.dumps(batch_line(k, r, "m", cfg)) + "\n" for k, r in zip(keys, reqs, strict=True)).encode()

    async def upload_and_create():
        client = openai.AsyncOpenAI(base_url=fake_openai.url, api_key="x")
        f = await client.files.create(file=("in.jsonl", data), purpose="batch")
        await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        await client.close()
        return f.id

    file_id = asyncio.run(upload_and_create())
    led = Ledger(tmp_path / "ledger.sqlite")
    led.batch_begin("seqit-crashed", [[k, "m", 1] for k in keys])
    led.batch_update("seqit-crashed", input_file_id=file_id, status="uploaded")
    led.close()
    assert complete(req, tmp_path / "out.jsonl", fake_openai, "--mode", "batch", *FAST_BATCH) == 0
    assert len(fake_openai.batches) == 1  # adopted, not created again
    assert len(rows(tmp_path / "out.jsonl")) == 5 and sum(fake_openai.batch_lines.values()) == 5


def test_export_then_import_a_vllm_run_batch_results_file(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 8)
    out = tmp_path / "out.jsonl"
    assert complete(req, out, fake_openai, "--limit", "3") == 0  # 3 answered already
    exported = tmp_path / "batch_in.jsonl"
    assert complete(req, out, fake_openai, "--export-batch", str(exported)) == 0
    lines = rows(exported)
    assert len(lines) == 5 and all(x["method"] == "POST" and x["url"] == "/v1/chat/completions" for x in lines)
    assert sum(fake_openai.attempts.values()) == 3  # exporting sends nothing
    # answer it the way `vllm run-batch -i batch_in.jsonl -o results.jsonl` does; one line fails, one is missing
    results = []
    for i, x in enumerate(lines[:4]):
        text = "offline: " + x["body"]["messages"][-1]["content"]
        body = {"id": f"cmpl-{i}", "object": "chat.completion", "model": "m", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
        resp = {"status_code": 200, "request_id": f"r{i}", "body": body}
        if i == 3:
            resp = {"status_code": 400, "request_id": f"r{i}", "body": {"error": {"message": "prompt too long"}}}
        results.append({"id": f"vllm-{i}", "custom_id": x["custom_id"], "response": resp, "error": None})
    results.append({"id": "vllm-x", "custom_id": "not-ours", "response": None, "error": {"message": "?"}})
    res_path = tmp_path / "results.jsonl"
    res_path.write_text("".join(json.dumps(r) + "\n" for r in results))
    assert complete(req, out, fake_openai, "--import-batch", str(res_path)) == 1
    got = {r["id"]: r for r in rows(out)}
    assert len(got) == 6 and sum(r["text"].startswith("offline: ") for r in got.values()) == 3
    (rej,) = rows(tmp_path / "rejects.jsonl")
    assert "HTTP 400: prompt too long" in rej["reason"] and "results.jsonl:4" in rej["reason"]
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["imported"] == {"file": str(res_path), "completed": 3, "failed": 1, "unmatched_lines": 1,
                             "still_pending": 1}
    assert sum(fake_openai.attempts.values()) == 3  # importing sends nothing
    fake_openai.reset_counts()
    assert complete(req, out, fake_openai) == 0  # a normal rerun sends only the failed and the missing one
    assert sum(fake_openai.attempts.values()) == 2 and len(rows(out)) == 8


@pytest.mark.parametrize(
    "line, expect",
    [
        ({"custom_id": "k", "response": {"status_code": 200, "body": {"choices": [
            {"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1}}},
          "error": None}, ("hi", None)),
        ({"custom_id": "k", "response": {"status_code": 429, "body": {"error": {"message": "slow down"}}}},
         (None, "HTTP 429: slow down")),
        ({"custom_id": "k", "response": None, "error": {"code": "batch_expired", "message": "not run in time"}},
         (None, "batch_expired: not run in time")),
        ({"custom_id": "k", "response": {"status_code": 200, "body": {"nope": 1}}},
         (None, "unparseable response: no 'choices' list")),
        ("garbage", (None, "result line is not a JSON object")),
    ],
)
def test_parse_result_line(line, expect):
    comp, reason = parse_result_line(line, "m")
    assert (comp.text if comp else None) == expect[0]
    assert (reason or "").startswith(expect[1] or "") and (reason is None) == (expect[1] is None)


def test_batch_mode_needs_an_openai_compatible_backend():
    with pytest.raises(ConfigError, match="mode: batch needs backend: openai"):
        preflight(TeacherConfig(backend="fake", mode="batch"))


def test_the_cost_estimate_uses_the_batch_price():
    from seqit.teachers import Price, estimate_cost
    from seqit.teachers.types import BatchSettings

    reqs = [ChatRequest(id="a", messages=[{"role": "user", "content": "x" * 400}], max_tokens=100)]
    prices = {"m": Price(input=10.0, output=20.0)}
    stream = estimate_cost(reqs, TeacherConfig(model="m", prices=prices))["max_cost_usd"]
    batch = estimate_cost(reqs, TeacherConfig(model="m", prices=prices, mode="batch",
                                              batch=BatchSettings(discount=0.5)))["max_cost_usd"]
    assert stream > 0 and batch == pytest.approx(stream / 2)


def test_eval_judge_in_batch_mode_matches_streaming(tmp_path, fake_openai):
    import importlib.util

    from seqit.eval.run import run_eval
    from seqit.jsonl import read_jsonl

    spec = importlib.util.spec_from_file_location("eval_cases", Path(__file__).parents[1] / "eval" / "test_run_eval.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    fake_openai.reply = cases.judge_reply
    fake_openai.batch_delay_s = 0.05
    for sub in ("s", "b"):
        (tmp_path / sub).mkdir()
    streamed = run_eval(cases.seqeval_config(tmp_path / "s", fake_openai))
    sent = sum(fake_openai.attempts.values())
    batched = run_eval(cases.seqeval_config(tmp_path / "b", fake_openai, extra=[
        "judge.mode=batch", "judge.batch.collect_s=0.1", "judge.batch.poll_s=0.05", "judge.batch.poll_max_s=0.1"]))
    assert sum(fake_openai.attempts.values()) == sent  # the judge sent nothing streamed
    status = lambda run: {r["id"]: (r["status"], r.get("following")) for r in read_jsonl(run / "samples.jsonl")}  # noqa: E731
    assert status(batched) == status(streamed)
    m = json.loads((batched / "manifest.json").read_text())
    assert m["usage"]["judge"]["batched"] == sent
    first, *reasks = fake_openai.batches.values()  # every item's first judging in one batch, then the re-asks
    assert len(fake_openai.files[first["input_file_id"]].splitlines()) == 5 and reasks
