"""`--shard i/n` and `seqit merge`: disjoint deterministic shards, each a normal resumable run, joined
with checks (same config and inputs, every shard and every id exactly once) and summed usage."""

import json
from collections import Counter
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.errors import ConfigError, DataError
from seqit.teachers.ledger import Ledger
from seqit.teachers.shards import merge_runs, parse_shard, shard_of


def write_requests(path: Path, n: int, extra: list[str] = ()) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}]}) + "\n")
        for line in extra:
            f.write(line + "\n")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_shard(req: Path, d: Path, server, i: int, n: int, *extra: str) -> int:
    return main(["complete", str(req), "-o", str(d / "out.jsonl"), "--base-url", server.url, "--model", "m",
                 "--api-key-env", "NO_KEY_NEEDED", "--shard", f"{i}/{n}", "teacher.prices.m.input=1.0", *extra])


@pytest.mark.parametrize("spec, expected", [("0/1", (0, 1)), ("3/8", (3, 8)), (None, None)])
def test_parse_shard(spec, expected):
    assert parse_shard(spec) == expected


@pytest.mark.parametrize("spec", ["8/8", "-1/4", "1", "a/b", "0/0"])
def test_parse_shard_rejects_bad_specs(spec):
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(spec)


def test_shard_assignment_is_stable_and_balanced():
    ids = [f"id-{i}" for i in range(4000)]
    counts = Counter(shard_of(i, 4) for i in ids)
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 900  # roughly even
    assert shard_of("alpaca-00017", 8) == shard_of("alpaca-00017", 8) == 7  # pinned: same on every machine


def test_sharded_complete_then_merge_joins_every_id_once_and_sums_usage(tmp_path, fake_openai):
    n, shards = 40, 3
    req = write_requests(tmp_path / "req.jsonl", n, ["{not json"])
    dirs = [tmp_path / f"shard{i}" for i in range(shards)]
    rcs = [run_shard(req, d, fake_openai, i, shards) for i, d in enumerate(dirs)]
    assert sorted(rcs) == [0, 0, 1]  # the bad row is a reject of exactly one shard
    per_shard = [{r["id"] for r in rows(d / "out.jsonl")} for d in dirs]
    assert all(per_shard) and sum(map(len, per_shard)) == n and set.union(*per_shard) == {f"q{i}" for i in range(n)}
    assert all(v == 1 for v in fake_openai.attempts.values())  # disjoint: each request sent by one shard
    assert run_shard(req, dirs[1], fake_openai, 1, shards) == rcs[1]  # a shard is a normal resumable run
    assert sum(fake_openai.attempts.values()) == n
    out = tmp_path / "merged"
    assert main(["merge", *map(str, dirs), "--out", str(out)]) == 0
    merged = rows(out / "out.jsonl")
    assert Counter(r["id"] for r in merged) == Counter(f"q{i}" for i in range(n))
    assert len(rows(out / "rejects.jsonl")) == 1  # the bad row once, not once per shard
    m = json.loads((out / "manifest.json").read_text())
    assert m["merged_command"] == "complete" and [s["index"] for s in m["shards"]] == [0, 1, 2]
    assert m["usage_total"]["requests"] == n and m["usage_total"]["cost_usd"] > 0
    assert m["lines"]["out.jsonl"] == n and m["lines"]["rejects.jsonl"] == 1
    led = Ledger(out / "ledger.sqlite")
    assert len(led) == n  # the shards' ledgers, unioned: a later unsharded run sends nothing
    led.close()
    fake_openai.reset_counts()
    assert main(["complete", str(req), "-o", str(tmp_path / "again" / "out.jsonl"), "--run-dir", str(out),
                 "--base-url", fake_openai.url, "--model", "m", "--api-key-env", "NO_KEY_NEEDED",
                 "teacher.prices.m.input=1.0"]) == 1
    assert sum(fake_openai.attempts.values()) == 0


def test_merge_refuses_mismatched_missing_or_duplicated_shards(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 12)
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, d in enumerate(dirs):
        assert run_shard(req, d, fake_openai, i, 2) == 0
    with pytest.raises(DataError, match=r"shards \[1\] of 2 missing"):
        merge_runs([dirs[0]], tmp_path / "m1")
    with pytest.raises(DataError, match="shard 0 given twice"):
        merge_runs([dirs[0], dirs[0]], tmp_path / "m2")
    other = tmp_path / "other"  # shard 1 run with a different config
    assert run_shard(req, other, fake_openai, 1, 2, "teacher.max_retries=2") == 0
    with pytest.raises(DataError, match="config differs"):
        merge_runs([dirs[0], other], tmp_path / "m3")
    req2 = write_requests(tmp_path / "req2.jsonl", 13)
    assert run_shard(req2, tmp_path / "in2", fake_openai, 1, 2) == 0
    with pytest.raises(DataError, match="inputs differs"):
        merge_runs([dirs[0], tmp_path / "in2"], tmp_path / "m4")
    dup = rows(dirs[0] / "out.jsonl")[0]  # an id in two shards' outputs
    with open(dirs[1] / "out.jsonl", "a") as f:
        f.write(json.dumps(dup) + "\n")
    with pytest.raises(DataError, match=f"id '{dup['id']}' also in"):
        merge_runs(dirs, tmp_path / "m5")
    assert not list((tmp_path / "m5").glob("*"))  # nothing half-written
    assert main(["merge", str(dirs[0]), "--out", str(tmp_path / "m6")]) == 2  # the CLI: a one-line error, exit 2


def test_merge_refuses_a_shard_with_unanswered_requests(tmp_path, fake_openai):
    req = write_requests(tmp_path / "req.jsonl", 10)
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, d in enumerate(dirs):
        assert run_shard(req, d, fake_openai, i, 2) == 0
    kept = rows(dirs[0] / "out.jsonl")
    (dirs[0] / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept[:-1]))  # one answer lost
    with pytest.raises(DataError, match="1 request ids .* are in no shard's output or rejects"):
        merge_runs(dirs, tmp_path / "m")


def _generate_cfg(tmp_path: Path, server, out: str, *extra: str):
    from seqit.config import load_config
    from seqit.generate.run import GenerateConfig

    root = Path(__file__).resolve().parents[2]
    return load_config(GenerateConfig, root / "configs/generate/alpaca-selfseq.yaml", [
        f"data.path={root / 'src/seqit/resources/sample_alpaca.jsonl'}", f"out_dir={tmp_path / out}",
        f"teacher.base_url={server.url}", "teacher.model=fake-model", "teacher.api_key_env=null", "limit=12", *extra])


def test_sharded_generate_merges_to_the_unsharded_result(tmp_path, fake_openai):
    from fakes.teacher_scripts import good_reply
    from seqit.generate.run import run_generate

    fake_openai.reply = lambda body: good_reply(body["messages"])
    whole = run_generate(_generate_cfg(tmp_path, fake_openai, "whole"), progress=False)
    dirs = [run_generate(_generate_cfg(tmp_path, fake_openai, f"g{i}"), progress=False, shard=(i, 2)) for i in range(2)]
    parts = [{r["id"] for r in rows(d / "sit.jsonl")} for d in dirs]
    assert parts[0] and parts[1] and parts[0].isdisjoint(parts[1])
    m = merge_runs(dirs, tmp_path / "merged")
    assert m["merged_command"] == "generate"
    for name in ("sit.jsonl", "it.jsonl"):
        assert sorted(r["id"] for r in rows(tmp_path / "merged" / name)) == sorted(r["id"] for r in rows(whole / name))
    assert all(json.loads((d / "manifest.json").read_text())["counts"]["balanced"] for d in dirs)


def test_generate_in_batch_mode_sends_one_batch_per_self_seq_stage(tmp_path, fake_openai):
    from fakes.teacher_scripts import good_reply
    from seqit.generate.run import run_generate

    fake_openai.reply = lambda body: good_reply(body["messages"])
    fake_openai.batch_delay_s = 0.05
    stream = run_generate(_generate_cfg(tmp_path, fake_openai, "stream"), progress=False)
    streamed = sum(fake_openai.attempts.values())
    cfg = _generate_cfg(tmp_path, fake_openai, "batch", "teacher.mode=batch", "teacher.batch.collect_s=0.2",
                        "teacher.batch.poll_s=0.05", "teacher.batch.poll_max_s=0.1")
    path = run_generate(cfg, progress=False)
    assert sum(fake_openai.attempts.values()) == streamed  # nothing streamed in batch mode
    m = json.loads((path / "manifest.json").read_text())
    sizes = [b["requests"] for b in m["teacher"]["batches"]]
    assert len(sizes) == 6 and sizes[0] == 12, sizes  # IT answer, classify, rewrite, validate, respond, classify
    assert sum(sizes) == streamed and m["usage"]["batched"] == streamed
    for name in ("sit.jsonl", "it.jsonl"):
        assert {r["id"]: r["messages"] for r in rows(path / name)} == {r["id"]: r["messages"] for r in rows(stream / name)}


def test_sharded_score_merges_every_record_once(tmp_path):
    from seqit.config import load_config
    from seqit.phases.score import ScoreConfig, run_score
    from seqit.teachers import FakeBackend

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Task {i}", "input": "", "output": f"out {i}"}) + "\n"
                            for i in range(20)) + "{broken\n")
    reply = json.dumps({"rationale": "ok", "task_complexity": 2, "transformation_difficulty": 3, "score": 3})
    dirs = []
    for i in range(3):
        cfg = load_config(ScoreConfig, None, [f"data={data}", f"out_dir={tmp_path / f's{i}'}", "judge.backend=fake",
                                              "judge.model=j"])
        dirs.append(run_score(cfg, backend=FakeBackend([reply]), shard=(i, 3)))
        assert json.loads((dirs[-1] / "manifest.json").read_text())["counts"]["balanced"]
    merge_runs(dirs, tmp_path / "merged")
    assert sorted(r["id"] for r in rows(tmp_path / "merged" / "scored.jsonl")) == sorted(f"d-{i + 1:05d}" for i in range(20))
    assert len(rows(tmp_path / "merged" / "rejects.jsonl")) == 1  # the unreadable row, once
