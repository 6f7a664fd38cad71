"""`seqit generate`'s exit code counts what the user asked for: training data for the seeds. A dropped rewrite
leaves the seed's IT answer in the mix (a 135M teacher drops most rewrites); a seed with neither record, a bad
input row, or a run without a single sequential record fails."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from fakes.teacher_scripts import good_reply, stage_of, target_instruction
from seqit.cli import main

CONFIG = Path(__file__).parents[2] / "configs" / "generate" / "alpaca-selfseq.yaml"


def weak_teacher(it_answers: bool):
    """Classifies only 2 seeds in 16 (like SmolLM2-135M); answers directly when `it_answers`, else empty."""

    def reply(body: dict) -> str:
        msgs = body["messages"]
        stage = stage_of(msgs)
        if stage == "classify":
            keep = zlib.crc32(target_instruction(msgs).encode()) % 8 == 0 or "first" in target_instruction(msgs).lower()
            return good_reply(msgs) if keep else '{"reason": "It is already a one-step instruction.", "option": "E"}'
        if stage == "respond" and not it_answers and not msgs[-1]["content"].startswith("First"):
            return ""
        return good_reply(msgs)

    return reply


def _run(tmp_path, fake_openai, sample_path, reply, name: str) -> tuple[int, dict]:
    fake_openai.reply = reply
    rc = main(["generate", str(CONFIG), f"data.path={sample_path}", f"teacher.base_url={fake_openai.url}",
               "teacher.model=fake-model", "teacher.api_key_env=null", "limit=16", "--out", str(tmp_path / name),
               "--no-progress"])
    return rc, json.loads((tmp_path / name / "manifest.json").read_text())["counts"]


def test_most_rewrites_dropped_but_every_seed_has_training_data_exits_0(tmp_path, fake_openai, sample_path, capsys):
    rc, c = _run(tmp_path, fake_openai, sample_path, weak_teacher(it_answers=True), "g")
    assert 0 < c["sit_records"] <= 4 and c["sit_dropped"] >= 12  # over --max-reject-frac 0.5 counted the old way
    assert c["seeds_with_output"] == 16
    assert rc == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (f"{c['sit_records']} of 16 seeds became sequential (SIT) records, {c['sit_dropped']} rewrites dropped "
            "(rejects.jsonl); 16 of 16 seeds have training data (SIT or IT)") in out


def test_seeds_with_neither_record_count_as_rejected(tmp_path, fake_openai, sample_path, capsys):
    rc, c = _run(tmp_path, fake_openai, sample_path, weak_teacher(it_answers=False), "g")
    assert c["sit_records"] > 0 and c["seeds_with_output"] == c["sit_records"]
    assert rc == 1
    n = 16 - c["seeds_with_output"]
    assert f"error: {n} of 16 input rows rejected" in capsys.readouterr().err
