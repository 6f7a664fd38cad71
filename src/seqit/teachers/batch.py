"""`teacher.mode: batch`: pending requests go through an OpenAI-compatible Batch API and land in the
same SQLite ledger as streamed answers.

    request -> ledger hit? -> (collected until `batch.collect_s` passes with no new request)
            -> Batch JSONL, one line per distinct cache key (custom_id = the ledger's key)
            -> POST /files (purpose=batch) -> POST /batches -> poll GET /batches/{id} with backoff
            -> download output + error files -> each line: a ledger row, or a failure with the
               provider's reason -> every waiting request resolved

Every step is recorded in the ledger's `batches` table before the next one starts, so a crash at
any moment finds its batch again on the next run instead of submitting it twice: a batch id is
polled again; an uploaded file whose batch id was never recorded is looked up among the
provider's batches by input_file_id (created once, at most). Failures are not stored (like streamed
ones): a rerun sends them again, in a new batch or streamed, whichever mode it runs in.

The pure parts, `batch_line` and `parse_result_line`, are also what `seqit complete --export-batch`
/ `--import-batch` use to hand requests to an offline `vllm run-batch` job and fold its results.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from seqit.teachers.backends.openai import build_payload, error_message, parse_response
from seqit.teachers.errors import BackendError
from seqit.teachers.types import ChatRequest, Completion, TeacherConfig, failed

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def batch_line(key: str, req: ChatRequest, model: str, cfg: TeacherConfig) -> dict[str, Any]:
    """One line of OpenAI Batch JSONL (also `vllm run-batch` input)."""
    body = build_payload(req, cfg)
    body["model"] = model
    body.update(cfg.extra_body or {})
    return {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}


def parse_result_line(line: Any, model: str, n: int = 1) -> tuple[Completion | None, str | None]:
    """One output/error-file line -> (completion, None) or (None, the provider's reason)."""
    if not isinstance(line, dict):
        return None, f"result line is not a JSON object: {str(line)[:120]}"
    err = line.get("error")
    resp = line.get("response") if isinstance(line.get("response"), dict) else {}
    body = resp.get("body")
    status = resp.get("status_code", 200 if body is not None else None)
    if err:
        if isinstance(err, dict):
            return None, f"{err.get('code') or 'error'}: {err.get('message') or json.dumps(err)[:200]}"
        return None, str(err)[:300]
    if status != 200:
        text = body if isinstance(body, str) else json.dumps(body)
        return None, f"HTTP {status}: {error_message(text)}"
    try:
        return parse_response(body, str(line.get("custom_id")), model, n=n), None
    except BackendError as e:
        return None, str(e)


def read_jsonl_text(text: str) -> list[Any]:
    rows = []
    for raw in text.splitlines():
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError as e:
                rows.append(f"not valid JSON ({e}): {raw[:80]}")
    return rows


@dataclass
class _Item:
    key: str
    model: str
    n: int
    req: ChatRequest | None = None
    waiters: list[asyncio.Future] = field(default_factory=list)


class BatchRunner:
    """Collects requests into provider batches and resolves each request's future from the results.

    `on_result(key, model, comp)` is called once per key as results are folded (the teacher stores
    successes in the ledger there), whether or not a request of this run is waiting for it.
    """

    def __init__(self, cfg: TeacherConfig, backend: Any, ledger: Any, on_result):
        if not hasattr(backend, "sdk"):
            raise ValueError(f"teacher.mode: batch needs an OpenAI-compatible backend, not {backend.name!r}")
        if ledger is None:
            raise ValueError("teacher.mode: batch needs a ledger (it records submitted batches)")
        self.cfg, self.backend, self.ledger, self.on_result = cfg, backend, ledger, on_result
        self.items: dict[str, _Item] = {}  # key -> waiting item (queued or in a batch)
        self.queue: list[str] = []  # keys not yet in a batch
        self.owned: set[str] = set()  # keys in a submitted batch (this run's or a resumed one)
        self._last_add = 0.0
        self._flusher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._resumed = False
        self.summaries: list[dict[str, Any]] = []

    # -- entry point -------------------------------------------------------------------------

    async def submit(self, key: str, req: ChatRequest, model: str) -> Completion:
        self._resume_once()
        fut = asyncio.get_running_loop().create_future()
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = _Item(key, model, req.n, req)
            if key not in self.owned:
                self.queue.append(key)
                self._last_add = time.monotonic()
                if self._flusher is None or self._flusher.done():
                    self._flusher = self._spawn(self._flush_when_idle())
        item.waiters.append(fut)
        return await fut

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for item in self.items.values():
            for f in item.waiters:
                if not f.done():
                    f.set_result(failed(item.key, item.model, "cancelled"))

    # -- collecting and submitting ------------------------------------------------------------

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_when_idle(self) -> None:
        s = self.cfg.batch
        while self.queue:
            idle = time.monotonic() - self._last_add
            if idle < s.collect_s and len(self.queue) < s.max_requests:
                await asyncio.sleep(s.collect_s - idle)
                continue
            keys, self.queue = self.queue[: s.max_requests], self.queue[s.max_requests :]
            self.owned.update(keys)
            self._spawn(self._run_new([self.items[k] for k in keys]))

    async def _run_new(self, items: list[_Item]) -> None:
        local_id = f"seqit-{uuid.uuid4().hex[:16]}"
        requests = [[it.key, it.model, it.n] for it in items]
        self.ledger.batch_begin(local_id, requests)
        data = "".join(json.dumps(batch_line(it.key, it.req, it.model, self.cfg), ensure_ascii=False) + "\n"
                       for it in items).encode("utf-8")
        sdk = self._sdk()
        try:
            f = await sdk.files.create(file=(f"{local_id}.jsonl", data), purpose="batch")
        except Exception as e:  # nothing was submitted: these requests fail now, a rerun sends them again
            self.ledger.batch_update(local_id, status="folded")
            return self._resolve_all(requests, f"batch upload failed: {self._clean(e)}")
        self.ledger.batch_update(local_id, input_file_id=f.id, status="uploaded")
        await self._create_and_track(local_id, f.id, requests)

    async def _create_and_track(self, local_id: str, file_id: str, requests: list[list]) -> None:
        sdk = self._sdk()
        try:
            b = await sdk.batches.create(input_file_id=file_id, endpoint=ENDPOINT,
                                         completion_window=self.cfg.batch.completion_window,
                                         metadata={"seqit_batch": local_id})
        except Exception as e:
            # the request may have created the batch even though we saw an error: look before failing
            b = await self._find_by_file(file_id)
            if b is None:
                self.ledger.batch_update(local_id, status="folded")
                return self._resolve_all(requests, f"batch creation failed: {self._clean(e)}")
        self.ledger.batch_update(local_id, batch_id=b.id, status="submitted")
        log.info("teacher: submitted batch %s (%d requests)", b.id, len(requests))
        await self._track(local_id, b.id, requests)

    # -- resuming after a crash ---------------------------------------------------------------

    def _resume_once(self) -> None:
        if self._resumed:
            return
        self._resumed = True
        for row in self.ledger.open_batches():
            if row["status"] == "uploading":  # the crash came before any batch could exist
                self.ledger.batch_update(row["local_id"], status="folded")
                continue
            keys = [k for k, _, _ in row["requests"]]
            self.owned.update(keys)
            for k, model, n in row["requests"]:
                self.items.setdefault(k, _Item(k, model, n))
            log.info("teacher: resuming batch %s (%d requests) from the ledger",
                     row["batch_id"] or row["input_file_id"], len(keys))
            self._spawn(self._resume(row))

    async def _resume(self, row: dict) -> None:
        if row["status"] == "submitted":
            return await self._track(row["local_id"], row["batch_id"], row["requests"])
        b = await self._find_by_file(row["input_file_id"])  # "uploaded": created before the crash?
        if b is not None:
            self.ledger.batch_update(row["local_id"], batch_id=b.id, status="submitted")
            return await self._track(row["local_id"], b.id, row["requests"])
        await self._create_and_track(row["local_id"], row["input_file_id"], row["requests"])

    async def _find_by_file(self, file_id: str) -> Any:
        try:
            seen = 0
            async for b in self._sdk().batches.list(limit=100):
                if b.input_file_id == file_id:
                    return b
                seen += 1
                if seen >= 1000:
                    break
        except Exception as e:
            log.warning("teacher: could not list batches to find the one for %s: %s", file_id, self._clean(e))
        return None

    # -- polling and folding ------------------------------------------------------------------

    async def _track(self, local_id: str, batch_id: str, requests: list[list]) -> None:
        s = self.cfg.batch
        delay = s.poll_s
        t0 = time.monotonic()
        while True:
            try:
                b = await self._sdk().batches.retrieve(batch_id)
            except Exception as e:  # a polling hiccup is not the batch's failure: keep polling
                log.warning("teacher: polling batch %s failed (%s); retrying", batch_id, self._clean(e))
                b = None
            if b is not None and b.status in TERMINAL:
                break
            await asyncio.sleep(delay)
            delay = min(s.poll_max_s, delay * 1.5)
        results = await self._download(b)
        summary = self._fold(local_id, b, requests, results)
        summary["wait_s"] = round(time.monotonic() - t0, 3)
        self.summaries.append(summary)

    async def _download(self, b: Any) -> list[Any]:
        rows: list[Any] = []
        for fid in (b.output_file_id, b.error_file_id):
            if not fid:
                continue
            for attempt in range(5):
                try:
                    content = await self._sdk().files.content(fid)
                    rows.extend(read_jsonl_text(content.text))
                    break
                except Exception as e:
                    if attempt == 4:
                        log.error("teacher: could not download %s of batch %s: %s", fid, b.id, self._clean(e))
                        raise
                    await asyncio.sleep(min(30.0, 2.0**attempt))
        return rows

    def _fold(self, local_id: str, b: Any, requests: list[list], results: list[Any]) -> dict[str, Any]:
        by_key = {k: (model, n) for k, model, n in requests}
        got: dict[str, tuple[Completion | None, str | None]] = {}
        unreadable = 0
        for line in results:
            key = line.get("custom_id") if isinstance(line, dict) else None
            if key not in by_key:
                unreadable += 1
                continue
            model, n = by_key[key]
            got[key] = parse_result_line(line, model, n)
        if b.status == "failed":
            errs = getattr(getattr(b, "errors", None), "data", None) or []
            reason = "; ".join(str(getattr(e, "message", e)) for e in errs[:3]) or "no reason given"
            missing = f"batch {b.id} failed: {reason}"
        else:
            missing = f"batch {b.id} {b.status}: no result for this request"
        ok = bad = 0
        for key, (model, _n) in by_key.items():
            comp, reason = got.get(key, (None, missing))
            if comp is not None:
                comp.request_id = key
                ok += 1
            else:
                comp = failed(key, model, reason)
                bad += 1
            self.on_result(key, model, comp)
            self._resolve(key, comp)
        self.ledger.batch_update(local_id, status="folded")
        log.info("teacher: batch %s %s: %d answered, %d failed", b.id, b.status, ok, bad)
        return {"local_id": local_id, "batch_id": b.id, "status": b.status, "requests": len(by_key),
                "completed": ok, "failed": bad, "unmatched_lines": unreadable}

    def _resolve(self, key: str, comp: Completion) -> None:
        self.owned.discard(key)
        item = self.items.pop(key, None)
        if item is None:
            return
        for i, f in enumerate(item.waiters):
            if not f.done():  # identical requests: the first pays, the rest are served as cached
                f.set_result(comp if i == 0 or not comp.ok else _as_cached(comp))

    def _resolve_all(self, requests: Iterable[list], reason: str) -> None:
        log.error("teacher: %s", reason)
        for key, model, _n in requests:
            self._resolve(key, failed(key, model, reason))

    def _sdk(self) -> Any:
        return self.backend.sdk().with_options(max_retries=4)

    def _clean(self, e: BaseException) -> str:
        from seqit.teachers.errors import redact

        return redact(f"{type(e).__name__}: {e}", getattr(self.backend, "secrets", []))[:300]


def _as_cached(comp: Completion) -> Completion:
    from dataclasses import replace

    return replace(comp, cached=True)
