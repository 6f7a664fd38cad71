"""`seqit score CONFIG`: rate each example's difficulty 1–5 with a judge LLM (or a free proxy).

    seqit score configs/score/judge-openai.yaml data=alpaca.json
    seqit score configs/score/proxy-length.yaml data=alpaca.json

Judge mode: one request per record (n samples averaged), sent through the teacher layer
(ledger, limits, retries, cost). Each finished record is appended to scored.jsonl at once;
rerunning the same command skips finished ids, and calls already answered are served from the
ledger, never re-sent. Unusable replies and failed calls are rejects with a reason (rejects.jsonl,
rebuilt on every attempt), never a default score. Proxy mode writes the same files without a judge.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqit.config import InputPath, LocalOrName
from seqit.errors import SeqitError
from seqit.jsonl import JsonlWriter, read_ids, read_jsonl, write_jsonl
from seqit.phases.difficulty import (
    PROMPT_SHA256S,
    PROMPT_VERSIONS,
    Judgement,
    depth_value,
    judge_messages,
    length_value,
    mean_score,
    parse_judgement,
    rank_to_scale,
    record_triplet,
    score_summary,
)
from seqit.progress import progress
from seqit.records import Record, load_records
from seqit.runs import Run, reject_row, start_run
from seqit.teachers import (
    ChatRequest,
    Completion,
    FakeBackend,
    TeacherConfig,
    estimate_cost,
    open_teacher,
    request_id,
)
from seqit.teachers.types import model_label

log = logging.getLogger(__name__)

PROXY_UNITS = {
    "length": "estimated tokens of the conversation (regex pieces)",
    "depth": "SIT chain depth (meta.depth)",
    "loss": "mean per-token NLL of the reference output under a local model",
    "ifd": "instruction-following difficulty: NLL of the output given the instruction / NLL of the output alone",
}


@dataclass(frozen=True)
class ProxyConfig:
    kind: Literal["length", "depth", "loss", "ifd"] = "length"
    model: LocalOrName | None = None  # loss/ifd: a local causal-LM directory (loaded with trust_remote_code=False)
    template: str | None = None  # loss/ifd: chat template name (tulu, chatml, ...); null = the tokenizer's own
    max_length: int = 1024  # loss/ifd: tokens per example; longer examples are truncated from the end
    device: str = "cpu"


@dataclass(frozen=True)
class ScoreConfig:
    data: InputPath  # any dataset `seqit validate` reads (alpaca, messages, sharegpt, Phased-IFT stage files, ...)
    out_dir: Path = Path("runs/score")
    format: str | None = None  # input format; null = detect
    method: Literal["judge", "proxy"] = "judge"
    view: Literal["triplet", "instruction"] = "triplet"  # judge sees instruction+input+output, or no output
    score_key: str = "difficulty"  # writes meta.<key> and meta.<key>_detail (another key keeps both scores)
    judge: TeacherConfig = field(default_factory=TeacherConfig)
    samples: int = 1  # judge replies per record, averaged (each kept in meta.difficulty_detail)
    temperature: float = 0.0  # use > 0 with samples > 1, or the samples are identical
    max_tokens: int = 256
    json_mode: bool = True  # ask for response_format json_object (turn off for servers without it)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    limit: int | None = None  # score only the first N rows (--limit)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.method == "proxy" and self.proxy.kind in ("loss", "ifd") and not self.proxy.model:
            raise ValueError(f"proxy.kind={self.proxy.kind} needs proxy.model (a local model directory)")
        if not self.score_key.isidentifier():
            raise ValueError(f"score_key must be a plain name like difficulty_instruction, got {self.score_key!r}")


# ---------------------------------------------------------------------------------------------
# Pure pieces: the request for a record, and the row or reject for its completion


def judge_request(record: Record, view: str = "triplet", *, temperature: float = 0.0, max_tokens: int = 256,
                  samples: int = 1, json_mode: bool = True) -> ChatRequest:
    """The judge request for one record; its id is stable across runs (record id + prompt version)."""
    version = PROMPT_VERSIONS[view]
    return ChatRequest(
        id=request_id(record.id, version),
        messages=judge_messages(record_triplet(record), view),
        temperature=temperature,
        max_tokens=max_tokens,
        n=samples,
        response_format={"type": "json_object"} if json_mode else None,
        prompt_version=version,
    )


def _judge_requests(records: list[Record], cfg: ScoreConfig) -> list[ChatRequest]:
    """The judge requests of a run (the config's values, once, for every record)."""
    return [judge_request(r, cfg.view, temperature=cfg.temperature, max_tokens=cfg.max_tokens, samples=cfg.samples,
                          json_mode=cfg.json_mode) for r in records]


def judged_row(
    record: Record, comp: Completion, view: str = "triplet", key: str = "difficulty"
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(scored row, None) or (None, reject row) for a record and its judge completion."""
    if not comp.ok:
        return None, _reject(record, f"judge call failed: {comp.error}", comp)
    judgements = [parse_judgement(t) for t in comp.texts]
    valid = [j.score for j in judgements if j.score is not None]
    if not valid:
        why = "; ".join(sorted({j.error or "" for j in judgements}))
        return None, _reject(record, f"no valid score in the judge reply ({why})", comp)
    detail: dict[str, Any] = {
        "method": "judge",
        "judge_model": comp.model,
        "view": view,
        "prompt_version": PROMPT_VERSIONS[view],
        "prompt_sha256": PROMPT_SHA256S[view][:16],
        "n_samples": len(judgements),
        "n_valid": len(valid),
        **({"spread": round(max(valid) - min(valid), 4)} if len(valid) > 1 else {}),
        "samples": [_sample(t, j) for t, j in zip(comp.texts, judgements, strict=True)],
    }
    return _scored(record, mean_score(valid), detail, key), None


def _sample(text: str, j: Judgement) -> dict[str, Any]:
    return {"raw": text, **j.to_json()}


def _scored(record: Record, score: float, detail: dict[str, Any], key: str = "difficulty") -> dict[str, Any]:
    meta = dict(record.meta)
    if key in meta:  # e.g. the reference's score in a Phased-IFT stage file: kept, not lost
        detail = {**detail, "previous": meta.pop(key)}
    meta.pop(f"{key}_detail", None)
    return {"id": record.id, "messages": record.messages, "meta": {**meta, key: score, f"{key}_detail": detail}}


def _reject(record: Record, reason: str, comp: Completion | None = None) -> dict[str, Any]:
    detail = {"judge_model": comp.model, "raw": comp.texts} if comp is not None else {}
    return reject_row(record.id, "judge" if comp else "proxy", reason, row=record.to_json(), **detail)


# ---------------------------------------------------------------------------------------------
# The command


def run_score(cfg: ScoreConfig, *, argv: list[str] | None = None, backend: Any = None,
              shard: tuple[int, int] | None = None) -> Path:
    """Score `cfg.data` into `cfg.out_dir`/scored.jsonl; rerun to resume. `backend` overrides the judge's (tests).
    `shard=(i, n)`: only shard i's records (by id; seqit.teachers.shards), read rejects in shard 0."""
    records, read_rejects, rows_in = read_input(cfg)
    if shard is not None:
        from seqit.teachers.shards import in_shard

        records = [r for r in records if in_shard(r.id, shard)]
        read_rejects = read_rejects if shard[0] == 0 else []
        rows_in = len(records) + len(read_rejects)  # this shard's rows
    with start_run(cfg.out_dir, cfg, "score", inputs={"data": cfg.data}, argv=argv) as run:
        if shard is not None:
            run.manifest["shard"] = {"index": shard[0], "count": shard[1]}
        return _score(run, cfg, records, read_rejects, rows_in, backend)


def _score(run: Run, cfg: ScoreConfig, records: list[Record], read_rejects: list[dict[str, Any]], rows_in: int,
           backend: Any) -> Path:
    write_jsonl(run.file("rejects.jsonl"), read_rejects)  # rebuilt on every attempt: no duplicates
    if cfg.method == "proxy":
        counts = _run_proxy(run, records, cfg)
    else:
        counts = asyncio.run(_run_judge(run, records, cfg, backend))
    total_rejects = len(read_rejects) + counts["rejects"]
    counts = {"rows_in": rows_in, "read_rejects": len(read_rejects), **counts, "rejects": total_rejects}
    counts["balanced"] = rows_in == counts["scored"] + total_rejects + counts.get("pending", 0)
    stopped = run.manifest.get("stopped")
    run.finish(counts=counts, status="stopped" if stopped else "finished")
    if stopped:
        raise SeqitError(
            f"the judge stopped: {stopped}. {counts['scored']} of {len(records)} records are scored; "
            "fix the problem and rerun the same command to resume."
        )
    return run.path


def read_input(cfg: ScoreConfig) -> tuple[list[Record], list[dict[str, Any]], int]:
    """Records, reader rejects (as rows) and rows read, honouring --limit."""
    loaded = load_records(cfg.data, cfg.format, limit=cfg.limit)
    rejects = [reject_row(None, "read", r.reason, file=r.file, line=r.line, row=r.row, field=r.field) for r in loaded.rejects]
    return loaded.records, rejects, loaded.rows_in


async def _run_judge(run: Run, records: list[Record], cfg: ScoreConfig, backend: Any) -> dict[str, int]:
    scored_path = run.file("scored.jsonl")
    done = read_ids(scored_path)
    todo = [r for r in records if r.id not in done]
    reqs = _judge_requests(todo, cfg)
    by_req = {q.id: r for q, r in zip(reqs, todo, strict=True)}
    n_ok = n_rej = 0
    run.manifest["judge"] = {"model": model_label(cfg.judge), "backend": cfg.judge.backend,
                             **({"fake": True} if cfg.judge.backend == "fake" else {}), "view": cfg.view,
                             "prompt_version": PROMPT_VERSIONS[cfg.view], "prompt_sha256": PROMPT_SHA256S[cfg.view],
                             "samples": cfg.samples, "score_key": cfg.score_key}  # fmt: skip
    log.info("score: %d records, %d already scored, %d to judge", len(records), len(records) - len(todo), len(todo))
    async with open_teacher(cfg.judge, ledger_path=run.file("ledger.sqlite"), backend=backend) as teacher:
        with JsonlWriter(scored_path) as out, JsonlWriter(run.file("rejects.jsonl")) as rej, \
                progress("score", len(todo), {"rejects": 0, "cost": "$0"}) as bar:
            async for comp in teacher.stream(reqs):
                row, bad = judged_row(by_req[comp.request_id], comp, cfg.view, cfg.score_key)
                if row is not None:
                    out.write(row)
                    n_ok += 1
                else:
                    rej.write(bad)
                    n_rej += 1
                bar.advance(rejects=n_rej, cost=f"${teacher.usage.cost:.4f}")
                run.save_usage_every("judge", teacher.usage_summary)  # a killed run still shows its spend so far
        run.record_usage("judge", teacher.usage_summary())
        if teacher.auth_error:
            run.manifest["stopped"] = teacher.auth_error
    pending = len(todo) - n_ok - n_rej  # > 0 only when the teacher stopped early (auth failure)
    if pending == 0:
        _canonical_order(scored_path, records)
    run.manifest["scores"] = summarize_scored(scored_path, cfg.score_key)
    return {"scored": len(done & {r.id for r in records}) + n_ok, "rejects": n_rej, "pending": pending,
            "already_scored": len(records) - len(todo)}  # fmt: skip


def summarize_scored(path: Path, key: str = "difficulty") -> dict[str, Any]:
    """score_summary over a scored.jsonl (distribution, share per default phase, judge agreement)."""
    scores, spreads = [], []
    for row in read_jsonl(path):
        scores.append(float(row["meta"][key]))
        detail = row["meta"].get(f"{key}_detail") or {}
        if "spread" in detail:
            spreads.append(float(detail["spread"]))
    return score_summary(scores, spreads)


def _canonical_order(path: Path, records: list[Record]) -> None:
    """Rewrite scored.jsonl in input order once complete (completion order varies with concurrency)."""
    pos = {r.id: i for i, r in enumerate(records)}
    rows = sorted(read_jsonl(path), key=lambda row: pos.get(row["id"], len(pos)))
    write_jsonl(path, rows)


# ---------------------------------------------------------------------------------------------
# Proxy scoring (free, no judge)


def proxy_values(records: list[Record], proxy: ProxyConfig) -> list[float | dict[str, float] | str]:
    """A raw difficulty value per record (ifd: a dict with "ifd" and both losses), or a reason string
    when the record has none."""
    if proxy.kind == "loss":
        from seqit.phases.lossproxy import response_losses

        with progress("loss proxy", len(records)) as bar:
            return response_losses(records, proxy.model, proxy.template, proxy.max_length, proxy.device, bar.advance)
    if proxy.kind == "ifd":
        from seqit.phases.lossproxy import ifd_values

        with progress("IFD proxy", len(records)) as bar:
            return ifd_values(records, proxy.model, proxy.template, proxy.max_length, proxy.device, bar.advance)
    fn = length_value if proxy.kind == "length" else depth_value
    out: list[float | str] = []
    for r in records:
        try:
            out.append(fn(r))
        except ValueError as e:
            out.append(str(e))
    return out


def _run_proxy(run: Run, records: list[Record], cfg: ScoreConfig) -> dict[str, int]:
    values = proxy_values(records, cfg.proxy)
    ok = [(r, v) for r, v in zip(records, values, strict=True) if not isinstance(v, str)]
    bad = [_reject(r, v) for r, v in zip(records, values, strict=True) if isinstance(v, str)]
    scores = rank_to_scale([v["ifd"] if isinstance(v, dict) else v for _, v in ok])
    unit = PROXY_UNITS[cfg.proxy.kind]
    rows = [
        _scored(r, s, {"method": f"proxy:{cfg.proxy.kind}", "proxy": True, "unit": unit, "mapping": "rank onto [1, 5]",
                       **({"value": v["ifd"], **v} if isinstance(v, dict) else {"value": v}),
                       **({"model": cfg.proxy.model} if cfg.proxy.model else {})},
                cfg.score_key)
        for (r, v), s in zip(ok, scores, strict=True)
    ]  # fmt: skip
    write_jsonl(run.file("scored.jsonl"), rows)
    with JsonlWriter(run.file("rejects.jsonl")) as rej:
        rej.write_many(bad)
    run.manifest["proxy"] = {"kind": cfg.proxy.kind, "unit": unit, "label": "PROXY difficulty, not a judge score"}
    if cfg.proxy.kind == "ifd":  # Cherry-LLM drops IFD > 1: the instruction does not help predict the reply
        run.manifest["proxy"]["ifd_above_1"] = sum(1 for _, v in ok if isinstance(v, dict) and v["ifd"] > 1)
    run.manifest["scores"] = summarize_scored(run.file("scored.jsonl"), cfg.score_key)
    return {"scored": len(rows), "rejects": len(bad)}


# ---------------------------------------------------------------------------------------------
# Dry run: what would be sent, what it may cost, and the parse path exercised on a fake judge

DRY_RUN_REPLY = '{"rationale": "dry run", "task_complexity": 3, "transformation_difficulty": 3, "score": 3}'


def estimate_score(cfg: ScoreConfig) -> dict[str, Any]:
    """Plan a judge run without sending anything: counts, an upper-bound cost, the first prompt,
    and one scored row produced by the fake backend. Writes nothing."""
    records, read_rejects, rows_in = read_input(cfg)
    done = read_ids(Path(cfg.out_dir) / "scored.jsonl")
    todo = [r for r in records if r.id not in done]
    reqs = _judge_requests(todo, cfg)
    plan: dict[str, Any] = {"rows_in": rows_in, "read_rejects": len(read_rejects), "records": len(records),
                            "already_scored": len(records) - len(todo), "to_judge": len(todo),
                            "estimate": estimate_cost(reqs, cfg.judge), "prompt_version": PROMPT_VERSIONS[cfg.view]}  # fmt: skip
    if reqs:
        plan["first_prompt"] = list(reqs[0].messages)
        plan["fake_row"] = asyncio.run(_fake_one(todo[0], reqs[0], cfg))
    return plan


async def _fake_one(record: Record, req: ChatRequest, cfg: ScoreConfig) -> dict[str, Any] | None:
    async with open_teacher(cfg.judge, ledger_path=None, backend=FakeBackend([DRY_RUN_REPLY])) as teacher:
        row, _ = judged_row(record, await teacher.complete(req), cfg.view, cfg.score_key)
    return row
