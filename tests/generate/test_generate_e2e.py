"""`seqit generate` end to end against the loopback fake OpenAI server: realistic and malformed teacher
text, 429/500 faults, balanced counts, correct records, resume without re-sending, determinism."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from fakes.teacher_scripts import good_reply, stage_of, target_instruction
from seqit.cli import main
from seqit.config import load_config
from seqit.generate.run import GenerateConfig, run_generate
from seqit.generate.selfseq.parse import is_placeholder
from seqit.jsonl import read_jsonl
from seqit.records import load_records

CONFIGS = Path(__file__).parents[2] / "configs" / "generate"


def messy_teacher(body: dict) -> str:
    """A teacher whose reply form depends on the item: JSON, free text, markdown, junk, placeholders."""
    msgs = body["messages"]
    stage = stage_of(msgs)
    instr = target_instruction(msgs) if stage != "respond" else msgs[-1]["content"]
    k = zlib.crc32(instr.encode()) % 8
    if stage == "classify" and not instr.lower().startswith("first"):
        return [
            '{"reason": "needs a first step", "option": "B"}',
            "Let's think step by step. A follow-up task fits well.\nSo the option is: C.",
            "**Option:** A\n\nThe task hides two steps.",
            "Honestly, it depends on what the U.S.A. reader wants.",  # no decision -> reject
            '```json\n{"option": "D", "reason": "already clear"}\n```',
            "Option B would work, but option D is better. I choose D.",
            '{"option": "B"}',
            "So the option is: B",
        ][k]
    if stage == "rewrite" and k == 6:
        return "THIS EVALUATION FAILED AFTER 5 ATTEMPTS."
    if stage == "rewrite" and k == 2:
        first = instr[:1].lower() + instr[1:]
        return f'The original has two hidden steps.\n#New Instruction#: "First, outline the approach. Then, {first}"###'
    if stage == "respond" and k == 7 and not msgs[-1]["content"].startswith("First"):
        return "yes yes yes yes " * 20  # degenerate IT answer
    return good_reply(msgs)


def _cfg(
    tmp_path: Path, url: str, sample: Path, out: str = "run", extra: list[str] | None = None
) -> GenerateConfig:
    overrides = [
        f"data.path={sample}",
        f"out_dir={tmp_path / out}",
        f"teacher.base_url={url}",
        "teacher.model=fake-model",
        "teacher.api_key_env=null",
        "teacher.backoff_base_s=0.01",
        "teacher.backoff_max_s=0.05",
        "limit=16",
        *(extra or []),
    ]
    return load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", overrides)


def _rows(run: Path, name: str) -> list[dict]:
    return list(read_jsonl(run / name))


def test_selfseq_run_balances_counts_and_writes_correct_records(tmp_path, fake_openai, sample_path):
    fake_openai.reply = messy_teacher
    fake_openai.faults = {"429": 0.1, "500": 0.05}
    run = run_generate(_cfg(tmp_path, fake_openai.url, sample_path), progress=False)
    m = json.loads((run / "manifest.json").read_text())
    c = m["counts"]
    assert c["balanced"] and c["seeds"] == 16
    sit, it, rejects = _rows(run, "sit.jsonl"), _rows(run, "it.jsonl"), _rows(run, "rejects.jsonl")
    assert c["sit_records"] == len(sit) and c["sit_records"] + c["sit_dropped"] == 16
    assert c["it_records"] == len(it) and c["it_records"] + c["it_dropped"] == 16
    assert 0 < len(sit) < 16 and rejects, "the messy teacher must yield both records and rejects"
    for r in rejects:
        assert r["stage"] in {"extract", "classify", "rewrite", "validate", "respond"} and r["reason"]
    reasons = " | ".join(r["reason"] for r in rejects)
    assert (
        "unparseable classification" in reasons and "missing" in reasons and "degenerate response" in reasons
    )
    for rec in sit + it:
        meta = rec["meta"]
        assert {
            "seed_id",
            "kind",
            "depth",
            "teacher_model",
            "prompt_versions",
            "instruction",
            "input",
        } <= set(meta)
        assert meta["teacher_model"] == "fake-model"
        assert rec["messages"][-1]["role"] == "assistant" and not is_placeholder(
            rec["messages"][-1]["content"]
        )
    for rec in sit:
        assert rec["meta"]["option"] in "ABCD" and len(rec["meta"]["steps"]) == rec["meta"]["depth"] + 1
    dist = m["options_per_round"]["1"]
    assert sum(v for k, v in dist.items() if k != "pct") == 16 and dist["unparsed"] >= 1
    assert m["usage"]["total"]["requests"] > 0 and m["stages"]["classify.ok"] >= 1
    assert m["teacher"]["retries"] > 0, "the 429/500 faults were retried by the teacher layer"
    assert (
        m["lengths"]["it"]["0"]["n"] == len(it)
        and m["lengths"]["sit"]["1"]["prompt_chars"] > m["lengths"]["it"]["0"]["prompt_chars"]
    )
    kept = {r["meta"]["seed_id"] for r in sit + it}
    mix = _rows(run, "mix.jsonl")  # replace: every seed with any record exactly once, SIT preferred
    assert len(mix) == m["mix"]["rows"] == len(kept) == len({r["meta"]["seed_id"] for r in mix})
    assert sum(r["meta"]["kind"] == "sit" for r in mix) == len(sit)
    for name in ("sit.jsonl", "it.jsonl", "mix.jsonl"):  # valid training records for the rest of seqit
        loaded = load_records(run / name)
        assert loaded.rejects == [] and loaded.formats == {str(run / name): "messages"}


def test_rerun_resumes_without_resending_and_repairs_a_crash(tmp_path, fake_openai, sample_path):
    fake_openai.reply = messy_teacher
    cfg = _cfg(tmp_path, fake_openai.url, sample_path)
    run = run_generate(cfg, progress=False)
    before = {n: (run / n).read_bytes() for n in ("sit.jsonl", "it.jsonl", "rejects.jsonl", "mix.jsonl")}
    sent = sum(fake_openai.attempts.values())
    assert sent > 0
    # simulate kill -9: only 5 seeds marked done, a torn line at the end of sit.jsonl
    done = (run / "done.jsonl").read_text().splitlines(keepends=True)
    (run / "done.jsonl").write_text("".join(done[:5]))
    with open(run / "sit.jsonl", "a") as f:
        f.write('{"id": "torn')
    fake_openai.reset_counts()
    run_generate(cfg, progress=False)
    assert sum(fake_openai.attempts.values()) == 0, "finished calls come from the ledger"
    assert {n: (run / n).read_bytes() for n in before} == before
    m = json.loads((run / "manifest.json").read_text())
    assert m["attempts"] == 2 and m["counts"]["balanced"]
    this = m["usage"]["this_attempt"]["teacher"]
    assert this["requests"] == 0 and this["cached"] > 0  # this attempt: all from the ledger
    assert m["usage"]["total"]["requests"] > 0  # both attempts together


def test_teacher_errors_leave_seeds_pending_and_a_rerun_retries_them(
    tmp_path, fake_openai, sample_path, capsys
):
    fake_openai.reply = messy_teacher
    fake_openai.faults = {"500": 0.3}
    args = [f"data.path={sample_path}", f"teacher.base_url={fake_openai.url}", "teacher.model=fake-model",
            "teacher.api_key_env=null", "teacher.max_retries=0", "limit=6", "--out", str(tmp_path / "r"), "--no-progress"]  # fmt: skip
    rc = main(["generate", str(CONFIGS / "alpaca-selfseq.yaml"), *args])
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert rc == 1 and "run the same command again" in capsys.readouterr().err
    assert m["counts"]["pending"] > 0 and m["counts"]["balanced"]
    retry = [r for r in _rows(tmp_path / "r", "rejects.jsonl") if r.get("detail", {}).get("retry")]
    assert retry and not any(r["detail"]["dropped"] for r in retry)
    for seed in {r["id"] for r in retry}:  # each pending seed failed at least one teacher call
        assert any(r["reason"].startswith("teacher error") for r in retry if r["id"] == seed)
    fake_openai.faults = {}
    assert main(["generate", str(CONFIGS / "alpaca-selfseq.yaml"), *args]) == 0
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["counts"]["pending"] == 0 and m["counts"]["finished"] == 6 and m["counts"]["balanced"]
    assert not [r for r in _rows(tmp_path / "r", "rejects.jsonl") if r.get("detail", {}).get("retry")]
    whole = run_generate(_cfg(tmp_path, fake_openai.url, sample_path, "whole", ["limit=6"]), progress=False)
    assert (tmp_path / "r" / "sit.jsonl").read_bytes() == (whole / "sit.jsonl").read_bytes()


def test_same_config_gives_byte_identical_outputs(tmp_path, fake_openai, sample_path):
    fake_openai.reply = messy_teacher
    a = run_generate(_cfg(tmp_path, fake_openai.url, sample_path, "a", ["limit=6"]), progress=False)
    b = run_generate(_cfg(tmp_path, fake_openai.url, sample_path, "b", ["limit=6"]), progress=False)
    for name in ("sit.jsonl", "it.jsonl", "rejects.jsonl", "mix.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_cli_dry_run_prints_prompts_and_estimate_and_writes_nothing(tmp_path, sample_path, capsys):
    out = tmp_path / "dry"
    rc = main(
        [
            "generate",
            str(CONFIGS / "alpaca-selfseq.yaml"),
            f"data.path={sample_path}",
            "--dry-run",
            "--limit",
            "4",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert (
        "selfseq.classify/v1" in text
        and "selfseq.rewrite/v1" in text
        and "List three ways to reduce food waste" in text
    )
    assert "requests (upper bound): 36" in text and "max cost: $" in text
    assert not out.exists()


def test_cli_run_prints_summary(tmp_path, fake_openai, sample_path, capsys):
    fake_openai.reply = messy_teacher
    args = [
        f"data.path={sample_path}",
        f"teacher.base_url={fake_openai.url}",
        "teacher.model=fake-model",
        "teacher.api_key_env=null",
    ]
    rc = main(
        [
            "generate",
            str(CONFIGS / "alpaca-selfseq.yaml"),
            *args,
            "--limit",
            "3",
            "--out",
            str(tmp_path / "r"),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert (
        rc == 0 and "round 1 options" in out and "balanced" in out and (tmp_path / "r" / "sit.jsonl").exists()
    )


def test_a_dataset_of_only_bad_rows_gives_an_empty_balanced_run(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"instruction": "", "output": "x"}\nnot json\n')
    cfg = load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", [f"data.path={data}", f"out_dir={tmp_path / 'r'}",
                      "teacher.backend=fake"])  # fmt: skip
    run = run_generate(cfg, progress=False)
    c = json.loads((run / "manifest.json").read_text())["counts"]
    assert c["rows_in"] == 2 and c["read_rejects"] == 2 and c["seeds"] == 0 and c["balanced"]
    assert [r["line"] for r in _rows(run, "rejects.jsonl")] == [1, 2]


def test_missing_api_key_is_a_clear_error(tmp_path, sample_path, capsys):
    rc = main(
        [
            "generate",
            str(CONFIGS / "alpaca-selfseq.yaml"),
            f"data.path={sample_path}",
            "--out",
            str(tmp_path / "k"),
            "--no-progress",
        ]
    )
    assert rc == 2 and "OPENAI_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "k").exists(), "preflight fails before the run dir is made"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_start_with_their_command(path):
    cfg = load_config(GenerateConfig, path)
    assert path.read_text().startswith(f"# seqit generate configs/generate/{path.name}")
    assert cfg.method in ("selfseq", "taskdriven", "caption", "microworld")


@pytest.mark.parametrize(
    "override,message",
    [
        ("selfseq.max_depth=0", "max_depth"),
        ("taskdriven.steps=[repeat,translate]", "translate must be the first step"),
        ("taskdriven.steps=[summarize]", "unknown step"),
        ("selfseq.extrct=auto", "selfseq.extrct: unknown key"),
    ],
)
def test_bad_config_values_name_the_key(override, message):
    from seqit.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", [override])


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path, fake_openai, sample_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    fake_openai.reply = messy_teacher
    fake_openai.latency_s = 0.05
    args = [f"data.path={sample_path}", f"teacher.base_url={fake_openai.url}", "teacher.model=fake-model",
            "teacher.api_key_env=null", "teacher.max_concurrency=2", "max_inflight_seeds=2", "limit=12"]  # fmt: skip
    out = tmp_path / "killed"
    src = str(Path(__file__).parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "seqit",
        "generate",
        str(CONFIGS / "alpaca-selfseq.yaml"),
        *args,
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = out / "done.jsonl"
        if done.exists() and len(done.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    fake_openai.latency_s = 0.0
    resumed = run_generate(
        load_config(GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", [*args, f"out_dir={out}"]),
        progress=False,
    )
    whole = run_generate(
        load_config(
            GenerateConfig, CONFIGS / "alpaca-selfseq.yaml", [*args, f"out_dir={tmp_path / 'whole'}"]
        ),
        progress=False,
    )
    for name in ("sit.jsonl", "it.jsonl", "rejects.jsonl", "mix.jsonl"):
        assert (resumed / name).read_bytes() == (whole / name).read_bytes(), name
    assert json.loads((resumed / "manifest.json").read_text())["counts"]["balanced"]
