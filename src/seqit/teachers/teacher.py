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

from seqit.teachers.backends import Backend, make_backend
from seqit.teachers.errors import BackendError, redact
from seqit.teachers.ledger import Ledger
from seqit.teachers.limits import AdaptiveLimit, TokenBucket, backoff_delay, estimate_tokens
from seqit.teachers.types import ChatRequest, Completion, TeacherConfig, cache_key, failed
from seqit.teachers.usage import UsageLedger

log = logging.getLogger(__name__)


class Teacher:
    """Wraps a backend with the durable ledger, limits, retries and usage accounting."""

    def __init__(self, cfg: TeacherConfig, backend: Backend, ledger: Ledger | None = None):
        self.cfg = cfg
        self.backend = backend
        self.ledger = ledger
        self.usage = UsageLedger(prices=dict(cfg.prices))
        self._limit = AdaptiveLimit(cfg.max_concurrency, adaptive=cfg.adaptive_concurrency)
        self._rpm = TokenBucket(cfg.rpm) if cfg.rpm else None
        self._tpm = TokenBucket(cfg.tpm) if cfg.tpm else None
        self._pause_until = 0.0  # set by 429 + Retry-After: nobody sends before this (no 429 storms)
        self._inflight: dict[str, asyncio.Future] = {}
        self._secrets: list[str] = list(getattr(backend, "secrets", []))
        self.sent = 0  # attempts that reached the backend
        self.retries = 0
        self.successes = 0
        self.auth_error: str | None = None  # set when auth fails before any success: stop early

    async def complete(self, req: ChatRequest) -> Completion:
        """The completion for `req`, or a recorded failure in `.error`. Never raises (except cancellation)."""
        model = req.model or self.cfg.model
        try:
            return await self._complete(req, model)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug in a backend must cost one request, not the run
            log.exception("teacher: unexpected error for request %s", req.id)
            return failed(req.id, model, redact(f"internal error: {type(e).__name__}: {e}", self._secrets))

    async def stream(self, requests: Iterable[ChatRequest], window: int | None = None) -> AsyncIterator[Completion]:
        """Complete many requests concurrently; yield each result as soon as it finishes.

        At most `window` (default 4 x max_concurrency) requests are scheduled at once, so a
        million-row input does not create a million tasks. Stops scheduling new requests after an
        auth failure (the remaining ones are not yielded).
        """
        window = window or 4 * self.cfg.max_concurrency
        it = iter(requests)
        pending: set[asyncio.Task] = set()
        try:
            while True:
                while len(pending) < window and self.auth_error is None:
                    req = next(it, None)
                    if req is None:
                        break
                    pending.add(asyncio.ensure_future(self.complete(req)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def usage_summary(self) -> dict[str, Any]:
        s = self.usage.summary()
        s["attempts_sent"] = self.sent
        s["retries"] = self.retries
        if hasattr(self.backend, "throughput"):  # in-process backends: token counts and tokens/s
            s["generation"] = self.backend.throughput()
        return s

    def stats(self) -> dict[str, Any]:
        """Scheduler facts for the manifest: attempts, retries, and how the adaptive limit moved."""
        return {
            "attempts_sent": self.sent,
            "retries": self.retries,
            "max_concurrency": self.cfg.max_concurrency,
            "final_concurrency": int(self._limit.limit),
            "concurrency_cuts": self._limit.cuts,
        }

    # -- internals ---------------------------------------------------------------------------

    async def _complete(self, req: ChatRequest, model: str) -> Completion:
        key = cache_key(req, self.backend.name, model)
        if self.ledger is not None:
            hit = self.ledger.get(key)
            if hit is not None:
                hit = replace(hit, request_id=req.id)
                self.usage.add(model, hit)
                return hit
        if key in self._inflight:  # an identical request is being sent right now: share its answer
            comp = await asyncio.shield(self._inflight[key])
            comp = replace(comp, request_id=req.id, cached=comp.ok)
            self.usage.add(model, comp)
            return comp
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            comp = await self._send_with_retries(req, model)
            if comp.ok:
                self.successes += 1
                if self.ledger is not None:
                    self.ledger.put(key, self.backend.name, comp)
            self.usage.add(model, comp)
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
            await self._wait_pause()
            await self._limit.acquire()
            error: BackendError | None = None
            try:
                if self._rpm is not None:
                    await self._rpm.acquire(1)
                if self._tpm is not None:
                    await self._tpm.acquire(estimate)
                await self._wait_pause()
                if self.auth_error is not None:  # auth failed while this request queued for a slot
                    return failed(req.id, model, self.auth_error, attempts=attempt - 1)
                self.sent += 1
                t_send = time.monotonic()
                try:
                    comp = await self.backend.generate(req, model)
                except BackendError as e:
                    error = e
                except (asyncio.TimeoutError, TimeoutError):
                    error = BackendError(f"timed out after {cfg.timeout_s:g}s", retryable=True)
                except (ConnectionError, OSError) as e:
                    error = BackendError(f"connection error: {e}", retryable=True)
                if error is not None and error.status == 429:
                    self._limit.overloaded(t_send)
            finally:
                await self._limit.release(ok=error is None)
            if error is None:
                if self._tpm is not None and comp.usage.total_tokens:
                    self._tpm.adjust(estimate - comp.usage.total_tokens)
                return replace(comp, request_id=req.id, attempts=attempt, latency_s=time.monotonic() - t_send)
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
            if error.status == 429 and error.retry_after:
                self._pause_until = max(self._pause_until, time.monotonic() + error.retry_after)
            self.retries += 1
            log.debug("teacher: request %s attempt %d failed (%s); retry in %.2fs", req.id, attempt, message, delay)
            await asyncio.sleep(delay)

    async def _wait_pause(self) -> None:
        while (wait := self._pause_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)


@asynccontextmanager
async def open_teacher(
    cfg: TeacherConfig, ledger_path: str | Path | None = None, backend: Backend | None = None
) -> AsyncIterator[Teacher]:
    """Open the backend (or use the injected one) and the ledger; close both on exit."""
    backend = backend if backend is not None else make_backend(cfg)
    ledger = Ledger(ledger_path) if ledger_path is not None else None
    try:
        yield Teacher(cfg, backend, ledger)
    finally:
        try:
            await backend.aclose()
        finally:
            if ledger is not None:
                ledger.close()
