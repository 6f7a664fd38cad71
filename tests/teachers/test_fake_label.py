"""Fake backends are labelled fake everywhere and priced at zero, never under the configured model's name."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from seqit.cli import main
from seqit.teachers import ChatRequest, TeacherConfig, estimate_cost, open_teacher
from seqit.teachers.types import Price, model_label

ROOT = Path(__file__).resolve().parents[2]
PRICES = {"gpt-4o": Price(input=5.0, output=15.0)}


def test_fake_teacher_usage_is_labelled_fake_and_free():
    cfg = TeacherConfig(backend="fake", model="gpt-4o", prices=PRICES)

    async def go():
        async with open_teacher(cfg) as t:
            await t.complete(ChatRequest(id="a", messages=[{"role": "user", "content": "hello there " * 50}]))
            return t.usage_summary(), t.stats()

    usage, stats = asyncio.run(go())
    assert list(usage["models"]) == ["fake"] and usage["cost_usd"] == 0 and usage["fake"] is True
    assert usage["prompt_tokens"] > 0 and stats["model"] == "fake" and stats["fake"] is True
    assert model_label(cfg) == "fake" and model_label(TeacherConfig(model="gpt-4o")) == "gpt-4o"


def test_fake_estimate_is_labelled_fake_and_free():
    req = ChatRequest(id="a", messages=[{"role": "user", "content": "hi"}])
    est = estimate_cost([req], TeacherConfig(backend="fake", model="gpt-4o", prices=PRICES))
    assert list(est["models"]) == ["fake"] and est["max_cost_usd"] == 0 and not est["models"]["fake"]["priced"]
    real = estimate_cost([req], TeacherConfig(model="gpt-4o", prices=PRICES))
    assert real["max_cost_usd"] > 0


def test_fake_eval_is_labelled_in_results_manifest_report_and_console(tmp_path, capsys):
    run = tmp_path / "e"
    assert main(["eval", str(ROOT / "configs/eval/smoke-fake.yaml"), "--out", str(run), "--limit", "6",
                 "judge.model=gpt-4o", "judge.prices.gpt-4o.input=5", "judge.prices.gpt-4o.output=15"]) == 0
    err = capsys.readouterr().err
    assert "FAKE model and judge" in err
    results = json.loads((run / "results.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert results["fake"] == ["model", "judge"] and results["judge"] == "fake" and results["model"] == "fake"
    assert manifest["judge_model"] == "fake" and manifest["usage"]["total"]["cost_usd"] == 0 and manifest["usage"]["total"]["fake"] is True
    assert "gpt-4o" not in json.dumps(manifest["usage"]) and "gpt-4o" not in json.dumps(results)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "fake" in html and ">gpt-4o<" not in html


def test_fake_judge_scoring_is_labelled_fake_and_free(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Task {i}.", "input": "", "output": "ok"}) + "\n"
                            for i in range(3)))
    out = tmp_path / "s"
    assert main(["score", str(ROOT / "configs/score/judge-openai.yaml"), f"data={data}", "judge.backend=fake",
                 "judge.fake.replies=['{\"score\": 3}']", "--out", str(out)]) == 0
    assert "FAKE judge" in capsys.readouterr().err
    m = json.loads((out / "manifest.json").read_text())
    assert m["judge"]["model"] == "fake" and m["judge"]["fake"] is True
    rows = [json.loads(x) for x in (out / "scored.jsonl").read_text().splitlines()]
    assert {r["meta"]["difficulty_detail"]["judge_model"] for r in rows} == {"fake"}


def test_fake_dry_run_says_free_not_unpriced(tmp_path, capsys):
    req = tmp_path / "r.jsonl"
    req.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n')
    assert main(["complete", str(req), "-o", str(tmp_path / "o.jsonl"), "--backend", "fake", "--model", "gpt-4o",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "fake: 1 requests" in out and "fake backend: scripted, free" in out and "gpt-4o" not in out
