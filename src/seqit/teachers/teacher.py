"""The Teacher: cache -> rate limits -> retries -> backend, around any backend. `complete` never raises.

    async with open_teacher(cfg.teacher, ledger_path=run.file("ledger.sqlite")) as teacher:
        comp = await teacher.complete(req)
        async for comp in teacher.stream(requests):   # results in completion order, no batch barrier
            ...
        teacher.usage_summary()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from seqit.progress import drive
from seqit.teachers.backends import Backend, make_backend
from seqit.teachers.errors import BackendError, redact
from seqit.teachers.ledger import Ledger
from seqit.teachers.limits import AdaptiveLimit, TokenBucket, backoff_delay, estimate_tokens
from seqit.teachers.types import FAKE_LABEL, ChatRequest, Completion, TeacherConfig, cache_key, failed
from seqit.teachers.usage import UsageLedger

log = logging.getLogger(__name__)


class Teacher:
    """Wraps a backend with the durable ledger, limits, retries and usage accounting."""

    def __init__(self, cfg: TeacherConfig, backend: Backend, ledger: Ledger | None = None):
        self.cfg = cfg
        self.backend = backend
        self.ledger = ledger
        # a fake backend's replies are nobody's model: reported as "fake" and priced at zero
        self.fake = cfg.backend == "fake"
        self.usage = UsageLedger(prices={} if self.fake else dict(cfg.prices))
        # a 429 with Retry-After pauses every send until then (no 429 storm); see AdaptiveLimit
        self._limit = AdaptiveLimit(cfg.max_concurrency, adaptive=cfg.adaptive_concurrency,
                                    floor=cfg.min_concurrency)
        self._rpm = TokenBucket(cfg.rpm) if cfg.rpm else None
        self._tpm = TokenBucket(cfg.tpm) if cfg.tpm else None
        self._inflight: dict[str, asyncio.Future] = {}
        self._secrets: list[str] = list(getattr(backend, "secrets", []))
        self.sent = 0  # attempts that reached the backend
        self.retries = 0
        self.successes = 0
        self.auth_error: str | None = None  # set when auth fails before any success: stop early
        self.batch = None
        if cfg.mode == "batch":  # pending requests go through the provider's Batch API (see teachers/batch.py)
            from seqit.teachers.batch import BatchRunner

            self.batch = BatchRunner(cfg, backend, ledger, self._store_batch_result)
        elif ledger is not None and (open_batches := ledger.open_batches()):
            n = sum(len(b["requests"]) for b in open_batches)
            log.warning("teacher: %d requests are in %d submitted batch(es) of an earlier run; streaming sends them "
                        "again (rerun with teacher.mode=batch to collect those answers instead)", n, len(open_batches))

    async def complete(self, req: ChatRequest) -> Completion:
        """The completion for `req`, or a recorded failure in `.error`. Never raises (except cancellation)."""
        model = req.model or self.cfg.model
        try:
            comp = await self._complete(req, model)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug in a backend must cost one request, not the run
            log.exception("teacher: unexpected error for request %s", req.id)
            comp = failed(req.id, model, redact(f"internal error: {type(e).__name__}: {e}", self._secrets))
        return replace(comp, model=FAKE_LABEL) if self.fake and comp.model != FAKE_LABEL else comp

    async def stream(self, requests: Iterable[ChatRequest], window: int | None = None) -> AsyncIterator[Completion]:
        """Complete many requests concurrently; yield each result as soon as it finishes.

        At most `window` (default 4 x max_concurrency) requests are scheduled at once, so a
        million-row input does not create a million tasks. Stops scheduling new requests after an
        auth failure (the remaining ones are not yielded).
        """
        if window is None:  # a batch should hold every pending request, not a streaming window's worth
            window = self.cfg.batch.max_requests if self.batch is not None else 4 * self.cfg.max_concurrency
        async for comp in drive(requests, self.complete, window, stop=lambda: self.auth_error is not None):
            yield comp

    def _label(self, model: str) -> str:
        return FAKE_LABEL if self.fake else model

    def usage_summary(self) -> dict[str, Any]:
        s = self.usage.summary()
        if self.fake:
            s["fake"] = True
        s["attempts_sent"] = self.sent
        s["retries"] = self.retries
        if hasattr(self.backend, "throughput"):  # in-process backends: token counts and tokens/s
            s["generation"] = self.backend.throughput()
        return s

    def stats(self) -> dict[str, Any]:
        """Scheduler facts for the manifest: attempts, retries, and how the adaptive limit moved
        (`concurrency_trace`: [seconds, limit, event] for each cut, pause and whole-slot recovery)."""
        stats = {
            "backend": getattr(self.backend, "name", None),
            "model": self._label(self.cfg.model),
            **({"fake": True} if self.fake else {}),
            "attempts_sent": self.sent,
            "retries": self.retries,
            "max_concurrency": self.cfg.max_concurrency,
            **self._limit.stats(),
        }
        if self.batch is not None:
            stats["mode"] = "batch"
            stats["batches"] = list(self.batch.summaries)
        return stats

    # -- internals ---------------------------------------------------------------------------

    async def _complete(self, req: ChatRequest, model: str) -> Completion:
        key = cache_key(req, self.backend.name, model)
        if self.ledger is not None:
            hit = self.ledger.get(key)
            if hit is not None:
                hit = replace(hit, request_id=req.id)
                self.usage.add(self._label(model), hit)
                return hit
        if self.batch is not None:
            comp = replace(await self.batch.submit(key, req, model), request_id=req.id)
            self.usage.add(self._label(model), comp, discount=None if comp.cached else self.cfg.batch.discount)
            self.successes += comp.ok
            return comp
        if key in self._inflight:  # an identical request is being sent right now: share its answer
            comp = await asyncio.shield(self._inflight[key])
            comp = replace(comp, request_id=req.id, cached=comp.ok)
            self.usage.add(self._label(model), comp)
            return comp
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            comp = await self._send_with_retries(req, model)
            if comp.ok:
                self.successes += 1
                if self.ledger is not None:
                    self.ledger.put(key, self.backend.name, comp)
            self.usage.add(self._label(model), comp)
            fut.set_result(comp)
            return comp
        finally:
            if not fut.done():  # cancelled: waiters get a failure instead of a hang
                fut.set_result(failed(req.id, model, "cancelled"))
            del self._inflight[key]

    async def _send_with_retries(self, req: ChatRequest, model: str) -> Completion:
        cfg = self.cfg
        t0 = time.monotonic()
        estimate = estimate_tokens(req.messages, req.max_tokens, req.n)
        attempt = 0
        while True:
            attempt += 1
            if self.auth_error is not None:
                return failed(req.id, model, self.auth_error, attempts=attempt - 1)
            seq = await self._limit.acquire()
            error: BackendError | None = None
            outcome = "error"
            try:
                if self._rpm is not None:
                    await self._rpm.acquire(1)
                if self._tpm is not None:
                    await self._tpm.acquire(estimate)
                if self._rpm is not None or self._tpm is not None:
                    await self._wait_pause()  # a Retry-After may have arrived while this waited for a bucket
                if self.auth_error is not None:  # auth failed while this request queued for a slot
                    return failed(req.id, model, self.auth_error, attempts=attempt - 1)
                self.sent += 1
                t_send = time.monotonic()
                try:
                    comp = await self.backend.generate(req, model)
                    outcome = "ok"
                except BackendError as e:
                    error = e
                except (asyncio.TimeoutError, TimeoutError):
                    error = BackendError(f"timed out after {cfg.timeout_s:g}s", retryable=True)
                except (ConnectionError, OSError) as e:
                    error = BackendError(f"connection error: {e}", retryable=True)
                if error is not None and error.status == 429:
                    if error.retry_after:  # the server says when to come back: pause everyone, no cut
                        self._limit.pause(error.retry_after)
                    else:
                        outcome = "overload"
            finally:
                await self._limit.release(seq, outcome)
            if error is None:
                if self._tpm is not None and comp.usage.total_tokens:
                    self._tpm.adjust(estimate - comp.usage.total_tokens)
                label = {"model": FAKE_LABEL} if self.fake else {}  # never the configured model's name
                return replace(comp, request_id=req.id, attempts=attempt, latency_s=time.monotonic() - t_send, **label)
            message = redact(str(error), self._secrets)
            if error.auth and self.successes == 0 and self.auth_error is None:
                self.auth_error = f"authentication failed, stopping: {message}"
                log.error("teacher: %s", self.auth_error)
            if not error.retryable or attempt > cfg.max_retries:
                why = "" if not error.retryable else f" (gave up after {attempt} attempts)"
                return failed(req.id, model, message + why, attempts=attempt, latency_s=time.monotonic() - t0)
            delay = backoff_delay(attempt, cfg.backoff_base_s, cfg.backoff_max_s, error.retry_after)
            elapsed = time.monotonic() - t0
            if cfg.retry_budget_s is not None and elapsed + delay > cfg.retry_budget_s:
                return failed(
                    req.id,
                    model,
                    f"{message} (retry budget of {cfg.retry_budget_s:g}s exhausted after {attempt} attempts)",
                    attempts=attempt,
                    latency_s=elapsed,
                )
            self.retries += 1
            log.debug("teacher: request %s attempt %d failed (%s); retry in %.2fs", req.id, attempt, message, delay)
            await asyncio.sleep(delay)

    def _store_batch_result(self, key: str, model: str, comp: Completion) -> None:
        if comp.ok and self.ledger is not None:
            self.ledger.put(key, self.backend.name, comp)

    async def _wait_pause(self) -> None:
        while (wait := self._limit.pause_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)


@asynccontextmanager
async def open_teacher(
    cfg: TeacherConfig, ledger_path: str | Path | None = None, backend: Backend | None = None
) -> AsyncIterator[Teacher]:
    """Open the backend (or use the injected one) and the ledger; close both on exit."""
    backend = backend if backend is not None else make_backend(cfg)
    ledger = Ledger(ledger_path) if ledger_path is not None else None
    teacher = None
    try:
        teacher = Teacher(cfg, backend, ledger)
        yield teacher
    finally:
        try:
            if teacher is not None and teacher.batch is not None:
                await teacher.batch.aclose()
            await backend.aclose()
        finally:
            if ledger is not None:
                ledger.close()
