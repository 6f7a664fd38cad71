"""`seqit score` with a real model (SmolLM2-135M-Instruct): as the judge through the hf backend, and as
the IFD proxy; then `seqit split` reports the two scores' rank agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "seqit" / "resources" / "sample_alpaca.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_smollm2_judge_and_ifd_scores_and_their_split_agreement(smollm2_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    judged = tmp_path / "judge"
    rc = main(["score", "configs/score/judge-local.yaml", f"data={SAMPLE}", f"judge.model={smollm2_dir}",
               "judge.hf.dtype=float32", "max_tokens=40", "--limit", "4", "--out", str(judged)])
    scored, rejects = _rows(judged / "scored.jsonl"), _rows(judged / "rejects.jsonl")
    m = json.loads((judged / "manifest.json").read_text())
    assert len(scored) + len(rejects) == 4  # counts balance
    assert rc == (0 if len(rejects) <= 2 else 1)  # over --max-reject-frac (0.5): the exit code says so
    assert all(r["reason"] and r["detail"].get("raw") for r in rejects)  # every reject: a reason and the real reply
    for r in scored:
        d = r["meta"]["difficulty_detail"]
        assert d["method"] == "judge" and d["samples"][0]["raw"].strip() and 1 <= r["meta"]["difficulty"] <= 5
    assert m["usage"]["this_attempt"]["judge"]["generation"]["sequences"] == 4

    # IFD (a second, model-based score) and the length proxy on the same records -> split's rank agreement
    ifd = tmp_path / "ifd"
    rc = main(["score", "configs/score/proxy-loss.yaml", f"data={SAMPLE}", "proxy.kind=ifd",
               f"proxy.model={smollm2_dir}", "proxy.max_length=256", "score_key=difficulty_ifd",
               "--limit", "6", "--out", str(ifd)])
    assert rc == 0
    rows = _rows(ifd / "scored.jsonl")
    assert len(rows) == 6
    details = [r["meta"]["difficulty_ifd_detail"] for r in rows]
    assert all(d["loss_alone"] > 0 and d["loss_given_instruction"] > 0 for d in details)
    # a real model predicts a reply better when it sees the instruction: IFD < 1 on average
    assert sum(d["ifd"] for d in details) / len(details) < 1.0

    both = tmp_path / "both"
    assert main(["score", "configs/score/proxy-length.yaml", f"data={ifd / 'scored.jsonl'}", "--out", str(both)]) == 0
    rc = main(["split", "configs/split/quantiles.yaml", f"data={both / 'scored.jsonl'}", "histogram=false",
               "num_phases=2", "--out", str(tmp_path / "split")])
    assert rc == 0
    (ag,) = json.loads((tmp_path / "split" / "manifest.json").read_text())["score_agreement"]
    assert ag["scores"] == ["difficulty", "difficulty_ifd"] and ag["n"] == 6
    assert ag["methods"] == ["proxy:length", "proxy:ifd"] and -1.0 <= ag["spearman"] <= 1.0
