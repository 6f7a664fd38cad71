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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError, SeqitError
from seqit.jsonl import JsonlWriter, read_ids
from seqit.records import Reject, RowError
from seqit.runs import start_run
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
from seqit.teachers.usage import merge_usage

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
MANIFEST_EVERY_S = 5.0


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
    rid = row.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == "":
        raise RowError("id", "missing or not a non-empty string/integer")
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RowError("messages", "missing or not a non-empty list")
    for i, m in enumerate(msgs):
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
    """Parse REQUESTS.jsonl: (request, meta) pairs, rejects with file:line, and rows read."""
    if not path.is_file():
        raise DataError(f"{path}: requests file not found")
    good: list[tuple[ChatRequest, Any]] = []
    rejects: list[Reject] = []
    first_line: dict[str, int] = {}
    rows = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            if limit is not None and rows >= limit:
                break
            rows += 1
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                rejects.append(Reject(str(path), lineno, f"not valid JSON ({e})"))
                continue
            try:
                req = parse_request_row(row)
            except RowError as e:
                rejects.append(Reject(str(path), lineno, e.reason, e.field, row))
                continue
            if req.id in first_line:
                rejects.append(Reject(str(path), lineno, f"duplicate id (first at line {first_line[req.id]})", "id", row))
                continue
            first_line[req.id] = lineno
            good.append((req, row.get("meta")))
    if rows == 0:
        raise DataError(f"{path}: no requests (the file is empty)")
    return good, rejects, rows


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
        input_rejects = [r for r in input_rejects if in_shard(_row_id(r.row) or f"line:{r.line}", shard)]
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

    before = _previous_usage(run_dir / "manifest.json")
    run = start_run(run_dir, cfg, command="complete", inputs={"requests": requests_path}, argv=argv)
    run.manifest["estimate"] = estimate
    run.manifest["outputs"] = {"completions": str(out), "rejects": str(rejects_path), "ledger": str(run.file("ledger.sqlite"))}
    if shard is not None:
        run.manifest["shard"] = {"index": shard[0], "count": shard[1], "requests": len(good)}
    rejects_path.unlink(missing_ok=True)  # this run re-validates inputs and retries every failure
    with JsonlWriter(out) as writer, JsonlWriter(rejects_path) as rej:
        for r in input_rejects:
            rej.write({"id": _row_id(r.row), "stage": "input", **r.to_json()})
        if import_batch is not None:
            usage, n_ok, n_failed, auth_error = _import_batch(Path(import_batch), cfg.teacher, todo, run, writer,
                                                              rej, backend)
        else:
            usage, n_ok, n_failed, auth_error = asyncio.run(
                _complete_all(cfg.teacher, todo, run, before, writer, rej, progress, backend)
            )
    counts.update(completed=n_ok, failed=n_failed, not_finished=len(todo) - n_ok - n_failed)
    _record_usage(run, usage, before)
    if auth_error:
        run.manifest["stopped"] = auth_error
    run.finish(counts=counts)
    if auth_error:
        raise SeqitError(f"{auth_error} — {n_ok} completed; fix the key and rerun to resume", exit_code=2)
    return CompleteResult(out, rejects_path, run_dir, counts, usage, estimate)


async def _complete_all(teacher_cfg, todo, run, before, writer, rej, progress, backend):
    metas = {r.id: (r.n, meta) for r, meta in todo}
    n_ok = n_failed = 0
    bar, task = _progress(len(todo)) if progress else (None, None)
    t0 = last_save = time.monotonic()
    try:
        async with open_teacher(teacher_cfg, ledger_path=run.file("ledger.sqlite"), backend=backend) as teacher:
            async for comp in teacher.stream(r for r, _ in todo):
                n, meta = metas[comp.request_id]
                if comp.ok:
                    writer.write(output_row(comp, n, meta))
                    n_ok += 1
                else:
                    rej.write({"id": comp.request_id, "stage": "teacher", "reason": comp.error, "attempts": comp.attempts,
                               "model": comp.model})
                    n_failed += 1
                if bar is not None:
                    bar.update(task, advance=1, failed=n_failed, cost=teacher.usage.cost,
                               rps=(n_ok + n_failed) / max(1e-9, time.monotonic() - t0))
                if time.monotonic() - last_save > MANIFEST_EVERY_S:  # a crash keeps a near-current cost record
                    _record_usage(run, teacher.usage_summary(), before)
                    last_save = time.monotonic()
            run.manifest["teacher"] = teacher.stats()
            return teacher.usage_summary(), n_ok, n_failed, teacher.auth_error
    finally:
        if bar is not None:
            bar.stop()


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
                    rej.write({"id": r.id, "stage": "teacher", "reason": f"{path.name}:{lineno}: {reason}",
                               "attempts": 1, "model": model})
                    n_failed += 1
    finally:
        ledger.close()
    run.manifest["imported"] = {"file": str(path), "completed": n_ok, "failed": n_failed,
                                "unmatched_lines": unmatched, "still_pending": sum(len(v) for v in by_key.values())}
    return usage.summary(), n_ok, n_failed, None


def _progress(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("complete"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("{task.fields[rps]:.1f} req/s"),
        TimeRemainingColumn(),
        TextColumn("${task.fields[cost]:.4f}"),
        console=Console(stderr=True),
    )
    task = bar.add_task("complete", total=total, failed=0, cost=0.0, rps=0.0)
    bar.start()
    return bar, task


def _previous_usage(manifest_path: Path) -> dict[str, Any] | None:
    """Total usage recorded by earlier (possibly killed) runs in this run dir."""
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8")).get("usage_total")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def _record_usage(run: Any, usage: dict[str, Any], before: dict[str, Any] | None) -> None:
    run.manifest["usage"] = usage  # this invocation
    run.manifest["usage_total"] = merge_usage(before, usage)  # across resumes
    run.save()


def _in_ledger(path: Path, reqs: list[ChatRequest], teacher: TeacherConfig, backend: Any) -> set[str]:
    """Ids whose answer the run's ledger already holds (they will not be sent or charged)."""
    name = backend.name if backend is not None else teacher.backend
    keys = {cache_key(r, name, r.model or teacher.model): r.id for r in reqs}
    return {keys[k] for k in cached_keys(path, list(keys))}


def _row_id(row: Any) -> str | None:
    return str(row["id"]) if isinstance(row, dict) and isinstance(row.get("id"), (str, int)) else None
