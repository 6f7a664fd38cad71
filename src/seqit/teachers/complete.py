"""`seqit complete`: send a JSONL file of chat requests through a teacher, stream results to JSONL.

    seqit complete requests.jsonl -o runs/c1/out.jsonl --base-url http://127.0.0.1:8000/v1 --model m

Input rows: {"id", "messages", optional "model", "temperature", "top_p", "max_tokens", "stop",
"seed", "n", "response_format", "prompt_version", "meta"}. Output rows: {"id", "text",
"finish_reason", "usage", "error": null, "model", "cached", "attempts", "latency_s"} (+ "texts" and
"finish_reasons" when n > 1, + "meta" passed through), written the moment each finishes.

Bad input rows and requests that failed after retries go to rejects.jsonl with a reason (file:line
for input rows). Rerunning the same command resumes: ids already in OUT are skipped, failed ones are
retried, and the ledger (ledger.sqlite in the run dir) means nothing finished is ever sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError, SeqitError
from seqit.jsonl import JsonlWriter, read_ids
from seqit.progress import progress
from seqit.records import Reject, RowError, read_rows, row_id
from seqit.runs import Run, reject_row, start_run
from seqit.teachers import (
    ChatRequest,
    Completion,
    TeacherConfig,
    Usage,
    cache_key,
    estimate_cost,
    open_teacher,
)
from seqit.teachers.backends import preflight
from seqit.teachers.ledger import cached_keys

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "n": (int,),
    "response_format": (dict,),
    "prompt_version": (str,),
}
KNOWN_KEYS = {"id", "messages", "stop", "meta", *PARAM_TYPES}


@dataclass(frozen=True)
class CompleteConfig:
    """`seqit complete --config C`: the teacher section plus an optional row limit."""

    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    limit: int | None = None


@dataclass
class CompleteResult:
    out: Path
    rejects_path: Path
    run_dir: Path
    counts: dict[str, int]
    usage: dict[str, Any]
    estimate: dict[str, Any]
    dry_run: bool = False


def parse_request_row(row: Any) -> ChatRequest:
    """One input row -> ChatRequest; a RowError names the bad field."""
    if not isinstance(row, dict):
        raise RowError(None, f"expected a JSON object, got {type(row).__name__}")
    unknown = sorted(set(row) - KNOWN_KEYS)
    if unknown:
        raise RowError(unknown[0], f"unknown field (known: {', '.join(sorted(KNOWN_KEYS))}; put extras under 'meta')")
    rid = row_id(row, ("id",))
    if rid is None:
        raise RowError("id", "missing (every request needs a non-empty string or whole-number id)")
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RowError("messages", "missing or not a non-empty list")
    for i, m in enumerate(msgs):
        for key in ("function_call", "tool_calls"):
            if isinstance(m, dict) and m.get(key) not in (None, [], {}):
                raise RowError(f"messages[{i}].{key}", "function/tool calls are not supported; send text turns only")
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise RowError(f"messages[{i}]", f"expected {{'role': one of {ROLES}, 'content': string}}")
    params: dict[str, Any] = {}
    for key, types in PARAM_TYPES.items():
        if row.get(key) is None:
            continue
        v = row[key]
        if isinstance(v, bool) or not isinstance(v, types):
            raise RowError(key, f"expected {' or '.join(t.__name__ for t in types)}, got {type(v).__name__}")
        params[key] = v
    stop = row.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise RowError("stop", "expected a string or a list of non-empty strings")
        params["stop"] = tuple(stop)
    for key, ok, what in (
        ("temperature", lambda v: 0 <= v <= 2, "between 0 and 2"),
        ("top_p", lambda v: 0 < v <= 1, "in (0, 1]"),
        ("max_tokens", lambda v: v >= 1, ">= 1"),
        ("n", lambda v: 1 <= v <= 128, "between 1 and 128"),
    ):
        if key in params and not ok(params[key]):
            raise RowError(key, f"must be {what}, got {params[key]}")
    return ChatRequest(id=str(rid), messages=tuple({"role": m["role"], "content": m["content"]} for m in msgs), **params)


def read_requests(path: Path, limit: int | None = None) -> tuple[list[tuple[ChatRequest, Any]], list[Reject], int]:
    """Parse REQUESTS (JSONL, or a JSON list) through the records edge reader: (request, meta)
    pairs, rejects with file:line (stage "input"), and rows read."""
    reader = read_rows(path, lambda row, fmt: parse_request_row(row), limit=limit, stage="input",
                       id_of=lambda row, req: req.id, empty_ok=True)
    good: list[tuple[ChatRequest, Any]] = []
    rejects: list[Reject] = []
    for item in reader:
        if isinstance(item, Reject):
            rejects.append(item)
        else:
            good.append((item.value, item.row.get("meta")))
    if reader.rows_in == 0:
        raise DataError(f"{path}: no requests (the file is empty)")
    return good, rejects, reader.rows_in


def output_row(comp: Completion, n: int, meta: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": comp.request_id,
        "text": comp.text,
        "finish_reason": comp.finish_reason,
        "usage": {"prompt_tokens": comp.usage.prompt_tokens, "completion_tokens": comp.usage.completion_tokens},
        "error": None,
        "model": comp.model,
        "cached": comp.cached,
        "attempts": comp.attempts,
        "latency_s": round(comp.latency_s, 4),
    }
    if n > 1:
        row["texts"] = comp.texts
        row["finish_reasons"] = comp.finish_reasons
    if meta is not None:
        row["meta"] = meta
    return row


def run_complete(
    requests_path: str | Path,
    out: str | Path,
    cfg: CompleteConfig,
    run_dir: str | Path | None = None,
    dry_run: bool = False,
    argv: list[str] | None = None,
    progress: bool = False,
    backend: Any = None,
    export_batch: str | Path | None = None,
    import_batch: str | Path | None = None,
    shard: tuple[int, int] | None = None,
) -> CompleteResult:
    """Complete every request in `requests_path` not already in `out`; returns counts and usage.

    `export_batch`: write the pending requests as OpenAI Batch JSONL (custom_id = ledger key) and
    send nothing. `import_batch`: fold a Batch results file (OpenAI or `vllm run-batch` output) into
    the ledger and OUT, send nothing. `shard=(i, n)`: only the requests of shard i of n (by id).
    """
    requests_path, out = Path(requests_path), Path(out)
    if backend is None and export_batch is None and import_batch is None:
        preflight(cfg.teacher)
    run_dir = Path(run_dir) if run_dir is not None else out.parent
    rejects_path = run_dir / "rejects.jsonl"
    good, input_rejects, rows_in = read_requests(requests_path, cfg.limit)
    if shard is not None:
        from seqit.teachers.shards import in_shard

        good = [(r, meta) for r, meta in good if in_shard(r.id, shard)]
        # a bad row belongs to one shard too (by id, or by line when it has none): merged rejects hold it once
        input_rejects = [r for r in input_rejects if in_shard(r.id or f"line:{r.line}", shard)]
    done = read_ids(out) if out.exists() else set()
    todo = [(r, meta) for r, meta in good if r.id not in done]
    in_ledger = _in_ledger(run_dir / "ledger.sqlite", [r for r, _ in todo], cfg.teacher, backend)
    estimate = estimate_cost([r for r, _ in todo if r.id not in in_ledger], cfg.teacher)
    counts = {"rows_in": rows_in, "input_rejects": len(input_rejects), "already_done": len(good) - len(todo),
              "to_send": len(todo) - len(in_ledger), "in_ledger": len(in_ledger)}
    log.info(
        "%d requests (%d already in %s, %d answered in the ledger, %d bad rows); upper-bound cost of the rest: $%.4f",
        len(good), counts["already_done"], out.name, len(in_ledger), len(input_rejects), estimate["max_cost_usd"],
    )
    if dry_run:
        return CompleteResult(out, rejects_path, run_dir, counts, {}, estimate, dry_run=True)
    if export_batch is not None:
        pending = [r for r, _ in todo if r.id not in in_ledger]
        counts["exported"] = _export_batch(Path(export_batch), pending, cfg.teacher, backend)
        return CompleteResult(out, rejects_path, run_dir, counts, {}, estimate, dry_run=True)

    run = start_run(run_dir, cfg, command="complete", inputs={"requests": requests_path}, argv=argv)
    with run:
        run.lock(out, f"output {out}")  # another run dir may point at the same output: hold it too
        if shard is not None:
            run.manifest["shard"] = {"index": shard[0], "count": shard[1], "requests": len(good)}
        return _run(run, cfg, out, rejects_path, todo, input_rejects, counts, estimate, progress, backend, import_batch)


def _run(run: Run, cfg: CompleteConfig, out: Path, rejects_path: Path, todo: list, input_rejects: list[Reject],
         counts: dict[str, int], estimate: dict[str, Any], progress: bool, backend: Any,
         import_batch: str | Path | None) -> CompleteResult:
    run.manifest["estimate"] = estimate
    run.manifest["outputs"] = {"completions": str(out), "rejects": str(rejects_path), "ledger": str(run.file("ledger.sqlite"))}
    rejects_path.unlink(missing_ok=True)  # this run re-validates inputs and retries every failure
    with JsonlWriter(out) as writer, JsonlWriter(rejects_path) as rej:
        for r in input_rejects:
            rej.write(r.to_json())  # {id, file, line, stage: "input", reason, field, row}
        if import_batch is not None:
            usage, n_ok, n_failed, auth_error = _import_batch(Path(import_batch), cfg.teacher, todo, run, writer,
                                                              rej, backend)
        else:
            usage, n_ok, n_failed, auth_error = asyncio.run(
                _complete_all(cfg.teacher, todo, run, writer, rej, progress, backend)
            )
    counts.update(completed=n_ok, failed=n_failed, not_finished=len(todo) - n_ok - n_failed)
    run.record_usage("teacher", usage)
    if auth_error:
        run.manifest["stopped"] = auth_error
    run.finish(counts=counts, status="stopped" if auth_error else "finished")
    if auth_error:
        raise SeqitError(f"{auth_error} — {n_ok} completed; fix the key and rerun to resume", exit_code=2)
    return CompleteResult(out, rejects_path, run.path, counts, usage, estimate)


async def _complete_all(teacher_cfg: TeacherConfig, todo: list, run: Run, writer: JsonlWriter, rej: JsonlWriter,
                        show: bool, backend: Any) -> tuple[dict[str, Any], int, int, str | None]:
    metas = {r.id: (r.n, meta) for r, meta in todo}
    n_ok = n_failed = 0
    async with open_teacher(teacher_cfg, ledger_path=run.file("ledger.sqlite"), backend=backend) as teacher:
        with progress("complete", len(todo), {"failed": 0, "cost": "$0"}, enabled=show) as bar:
            async for comp in teacher.stream(r for r, _ in todo):
                n, meta = metas[comp.request_id]
                if comp.ok:
                    writer.write(output_row(comp, n, meta))
                    n_ok += 1
                else:
                    rej.write(reject_row(comp.request_id, "teacher", comp.error or "failed",
                                         attempts=comp.attempts, model=comp.model))
                    n_failed += 1
                bar.advance(failed=n_failed, cost=f"${teacher.usage.cost:.4f}")
                run.save_usage_every("teacher", teacher.usage_summary)  # a crash keeps a near-current cost record
        run.manifest["teacher"] = teacher.stats()
        return teacher.usage_summary(), n_ok, n_failed, teacher.auth_error


def _keyed(reqs: list[ChatRequest], teacher: TeacherConfig, backend: Any) -> dict[str, list[ChatRequest]]:
    """Requests by ledger key (identical requests share one key, one batch line, one answer)."""
    name = backend.name if backend is not None else teacher.backend
    by_key: dict[str, list[ChatRequest]] = {}
    for r in reqs:
        by_key.setdefault(cache_key(r, name, r.model or teacher.model), []).append(r)
    return by_key


def _export_batch(path: Path, pending: list[ChatRequest], teacher: TeacherConfig, backend: Any) -> int:
    """Write the pending requests as Batch JSONL (custom_id = ledger key); returns the line count."""
    from seqit.teachers.batch import batch_line

    by_key = _keyed(pending, teacher, backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for key, reqs in by_key.items():
            r = reqs[0]
            f.write(json.dumps(batch_line(key, r, r.model or teacher.model, teacher), ensure_ascii=False) + "\n")
    tmp.replace(path)
    log.info("wrote %d batch lines (%d requests) to %s", len(by_key), len(pending), path)
    return len(by_key)


def _import_batch(path: Path, teacher: TeacherConfig, todo, run, writer, rej, backend):
    """Fold a Batch results file into the ledger and OUT; failed lines become rejects with their reason.
    Requests without a line stay pending (a later run sends or imports them)."""
    from seqit.teachers.batch import parse_result_line, read_jsonl_text
    from seqit.teachers.ledger import Ledger
    from seqit.teachers.usage import UsageLedger

    if not path.is_file():
        raise DataError(f"{path}: batch results file not found")
    by_key = _keyed([r for r, _ in todo], teacher, backend)
    metas = {r.id: (r.n, meta) for r, meta in todo}
    name = backend.name if backend is not None else teacher.backend
    usage = UsageLedger(prices=dict(teacher.prices))
    n_ok = n_failed = unmatched = 0
    ledger = Ledger(run.file("ledger.sqlite"))
    try:
        for lineno, line in enumerate(read_jsonl_text(path.read_text(encoding="utf-8")), 1):
            key = line.get("custom_id") if isinstance(line, dict) else None
            reqs = by_key.pop(key, None) if isinstance(key, str) else None
            if reqs is None:
                unmatched += 1
                log.warning("%s:%d: custom_id matches no pending request (already done, or another run's)", path, lineno)
                continue
            model = reqs[0].model or teacher.model
            comp, reason = parse_result_line(line, model, reqs[0].n)
            if comp is not None:
                ledger.put(key, name, comp)
            for i, r in enumerate(reqs):
                if comp is not None:
                    c = Completion(r.id, comp.texts, comp.finish_reasons, comp.usage, comp.model, cached=i > 0)
                    usage.add(model, c)
                    writer.write(output_row(c, *metas[r.id]))
                    n_ok += 1
                else:
                    usage.add(model, Completion(r.id, [], [], comp.usage if comp else Usage(), model, error=reason))
                    rej.write(reject_row(r.id, "teacher", f"{path.name}:{lineno}: {reason}", attempts=1, model=model))
                    n_failed += 1
    finally:
        ledger.close()
    run.manifest["imported"] = {"file": str(path), "completed": n_ok, "failed": n_failed,
                                "unmatched_lines": unmatched, "still_pending": sum(len(v) for v in by_key.values())}
    return usage.summary(), n_ok, n_failed, None


def _in_ledger(path: Path, reqs: list[ChatRequest], teacher: TeacherConfig, backend: Any) -> set[str]:
    """Ids whose answer the run's ledger already holds (they will not be sent or charged)."""
    name = backend.name if backend is not None else teacher.backend
    keys = {cache_key(r, name, r.model or teacher.model): r.id for r in reqs}
    return {keys[k] for k in cached_keys(path, list(keys))}

