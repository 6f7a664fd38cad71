"""`seqit complete` end to end (in-process CLI) against the loopback server and the fake backend."""

import json
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.records import RowError
from seqit.teachers import FakeBackend, TeacherConfig
from seqit.teachers.complete import CompleteConfig, parse_request_row, read_requests, run_complete


def write_requests(path: Path, n: int, extra_lines: list[str] = ()) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16}) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_complete_cli_streams_results_and_writes_manifest(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 12)
    out = tmp_path / "run" / "out.jsonl"
    rc = main(["complete", str(req), "-o", str(out), "--base-url", fake_openai.url, "--model", "fake-model",
               "--max-concurrency", "4", "teacher.prices.fake-model.input=1.0"])
    assert rc == 0
    got = {r["id"]: r for r in rows(out)}
    assert set(got) == {f"q{i}" for i in range(12)}
    assert got["q3"]["text"] == "echo: question 3" and got["q3"]["error"] is None
    assert got["q3"]["finish_reason"] == "stop" and got["q3"]["usage"]["prompt_tokens"] > 0
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["command"] == "complete"
    assert manifest["counts"]["completed"] == 12 and manifest["usage"]["total"]["requests"] == 12
    assert manifest["usage"]["total"]["cost_usd"] > 0
    assert (out.parent / "ledger.sqlite").exists()


def test_rerun_resumes_and_sends_nothing_twice(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 10)
    out = tmp_path / "out.jsonl"
    args = ["complete", str(req), "-o", str(out), "--base-url", fake_openai.url, "--model", "m"]
    assert main(args + ["--limit", "4"]) == 0
    assert len(rows(out)) == 4
    assert main(args) == 0
    assert main(args) == 0
    assert sorted(r["id"] for r in rows(out)) == sorted(f"q{i}" for i in range(10))
    assert all(v == 1 for v in fake_openai.attempts.values()) and len(fake_openai.attempts) == 10


def test_bad_rows_go_to_rejects_with_file_line_and_field(tmp_path):
    req = write_requests(
        tmp_path / "req.jsonl",
        2,
        [
            "{not json",
            json.dumps({"id": "q0", "messages": [{"role": "user", "content": "dup"}]}),
            json.dumps({"id": "x", "messages": [{"role": "robot", "content": "hi"}]}),
            json.dumps({"id": "y", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
        ],
    )
    out = tmp_path / "out.jsonl"
    rc = main(["complete", str(req), "-o", str(out), "--backend", "fake", "--model", "m"])
    assert rc == 1
    rej = rows(tmp_path / "rejects.jsonl")
    assert [(r["line"], r["field"]) for r in rej] == [(3, None), (4, "id"), (5, "messages[0]"), (6, "temperature")]
    assert all(r["stage"] == "input" and r["file"] == str(req) for r in rej)
    assert "duplicate id" in rej[1]["reason"]
    assert len(rows(out)) == 2


def test_dry_run_estimates_and_sends_nothing(tmp_path, fake_openai, capsys):
    req = write_requests(tmp_path / "req.jsonl", 5)
    out = tmp_path / "out.jsonl"
    rc = main(["complete", str(req), "-o", str(out), "--base-url", fake_openai.url, "--model", "m", "--dry-run",
               "teacher.prices.m.input=1.0", "teacher.prices.m.output=2.0"])
    assert rc == 0
    assert not out.exists() and not (tmp_path / "manifest.json").exists()
    assert sum(fake_openai.attempts.values()) == 0
    printed = capsys.readouterr().out
    assert "5 requests" in printed and "<= 80 completion tokens" in printed


def test_failures_go_to_rejects_and_are_retried_on_rerun(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 6)
    out = tmp_path / "out.jsonl"
    fake_openai.faults = {"500": 1.0}
    args = ["complete", str(req), "-o", str(out), "--base-url", fake_openai.url, "--model", "m",
            "teacher.max_retries=1", "teacher.backoff_base_s=0.01"]
    assert main(args) == 1
    rej = rows(tmp_path / "rejects.jsonl")
    assert len(rej) == 6 and all(r["stage"] == "teacher" and "HTTP 500" in r["reason"] for r in rej)
    assert not out.exists() or rows(out) == []
    fake_openai.faults = {}
    assert main(args) == 0
    assert len(rows(out)) == 6 and rows(tmp_path / "rejects.jsonl") == []


def test_auth_failure_stops_early_with_a_clear_message(tmp_path, fake_openai, monkeypatch, capsys):
    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-wrong-key")
    fake_openai.api_key = "sk-right-key"
    req = write_requests(tmp_path / "req.jsonl", 200)
    rc = main(["complete", str(req), "-o", str(tmp_path / "out.jsonl"), "--base-url", fake_openai.url, "--model", "m",
               "--api-key-env", "SEQIT_TEST_KEY", "--max-concurrency", "4"])
    assert rc == 2
    assert "authentication failed" in capsys.readouterr().err
    assert sum(fake_openai.attempts.values()) < 20
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "authentication failed" in manifest["stopped"]


@pytest.mark.parametrize(
    "row, field",
    [
        ([], None),
        ({"messages": [{"role": "user", "content": "x"}]}, "id"),
        ({"id": "a", "messages": "hi"}, "messages"),
        ({"id": "a", "messages": [{"role": "user", "content": 3}]}, "messages[0]"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}], "top_p": 0}, "top_p"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}, "max_tokens"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}], "stop": [""]}, "stop"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}], "colour": "red"}, "colour"),
    ],
)
def test_parse_request_row_names_the_bad_field(row, field):
    with pytest.raises(RowError) as e:
        parse_request_row(row)
    assert e.value.field == field


def test_parse_request_row_maps_params():
    req = parse_request_row(
        {"id": 7, "messages": [{"role": "user", "content": "x"}], "stop": "##", "temperature": 1, "seed": 3, "n": 2}
    )
    assert (req.id, req.stop, req.temperature, req.seed, req.n) == ("7", ("##",), 1, 3, 2)


def test_meta_and_n_are_carried_to_output(tmp_path):
    req = tmp_path / "req.jsonl"
    req.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "x"}], "n": 2, "meta": {"k": 1}}) + "\n")
    out = tmp_path / "out.jsonl"
    run_complete(req, out, CompleteConfig(TeacherConfig(backend="fake", model="m")), backend=FakeBackend(["y"]))
    (row,) = rows(out)
    assert row["texts"] == ["y", "y"] and row["finish_reasons"] == ["stop", "stop"] and row["meta"] == {"k": 1}


def test_empty_requests_file_is_a_data_error(tmp_path):
    (tmp_path / "req.jsonl").write_text("\n")
    from seqit.errors import DataError

    with pytest.raises(DataError, match="empty"):
        read_requests(tmp_path / "req.jsonl")


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[2].glob("configs/complete/*.yaml")))
def test_shipped_complete_configs_load_and_show_their_command(path):
    from seqit.config import load_config

    cfg = load_config(CompleteConfig, path)
    assert cfg.teacher.backend in ("openai", "hf")
    assert path.read_text().startswith("# ") and "seqit complete" in path.read_text().splitlines()[0]


def test_dry_run_counts_ledger_answers_as_free_and_writes_nothing(tmp_path, fake_openai, capsys):
    req = write_requests(tmp_path / "req.jsonl", 6)
    out = tmp_path / "out.jsonl"
    args = ["complete", str(req), "-o", str(out), "--base-url", fake_openai.url, "--model", "m"]
    assert main(args + ["--limit", "4"]) == 0
    out.unlink()  # the outputs are gone, but the ledger still holds 4 answers
    before = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert main(args + ["--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "answered in ledger: 4" in printed and "to send: 2" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert main(args) == 0
    assert sum(fake_openai.attempts.values()) == 6 and len(rows(out)) == 6


def test_manifest_totals_usage_across_resumed_runs(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 10)
    args = ["complete", str(req), "-o", str(tmp_path / "out.jsonl"), "--base-url", fake_openai.url, "--model", "m",
            "teacher.prices.m.input=1.0", "teacher.prices.m.output=1.0"]
    assert main(args + ["--limit", "4"]) == 0
    first = json.loads((tmp_path / "manifest.json").read_text())
    assert main(args) == 0
    second = json.loads((tmp_path / "manifest.json").read_text())
    this = lambda m: m["usage"]["this_attempt"]["teacher"]  # noqa: E731
    assert this(first)["requests"] == 4 and this(second)["requests"] == 6
    total = second["usage"]["total"]
    assert total["requests"] == 10 and total["models"]["m"]["requests"] == 10
    assert total["cost_usd"] == pytest.approx(this(first)["cost_usd"] + this(second)["cost_usd"])
    assert second["usage"]["roles"]["teacher"] == total
    assert second["attempts"] == 2


def test_sum_usage_sums_nested_numbers():
    from seqit.runs import sum_usage as merge_usage

    a = {"models": {"m": {"requests": 1, "cost_usd": 0.5}}, "cost_usd": 0.5}
    b = {"models": {"m": {"requests": 2, "cost_usd": 0.25}, "n": {"requests": 1, "cost_usd": 0.0}}, "cost_usd": 0.25}
    assert merge_usage(a, b) == {"cost_usd": 0.75, "models": {"m": {"cost_usd": 0.75, "requests": 3},
                                                              "n": {"cost_usd": 0.0, "requests": 1}}}
    assert merge_usage(None, b) == merge_usage(b, None) == merge_usage({}, b)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "gpt-x"], "OPENAI_API_KEY"),  # the official API without a key
        (["--base-url", "http://127.0.0.1:9/v1"], "teacher.model"),
    ],
)
def test_preflight_fails_fast_before_anything_is_written(tmp_path, capsys, flags, message):
    req = write_requests(tmp_path / "req.jsonl", 3)
    rc = main(["complete", str(req), "-o", str(tmp_path / "run" / "out.jsonl"), *flags])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
