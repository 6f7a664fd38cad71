"""Micro-batching for in-process backends: concurrent callers are queued, and one worker runs
`run_batch(requests)` in a thread on whatever is queued (up to `batch_size`, same `key`).

With `size` (e.g. prompt length), the oldest queued request is always in the next batch and the
rest of the batch is filled with the same-key requests closest to it in size: less left padding,
and rows that finish at similar times. Without it, batches are taken in queue order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable

from seqit.teachers.errors import BackendError
from seqit.teachers.types import ChatRequest, Completion

log = logging.getLogger(__name__)


class MicroBatcher:
    def __init__(
        self,
        run_batch: Callable[[list[ChatRequest]], list[Completion]],
        batch_size: int,
        max_wait_ms: float,
        key: Callable[[ChatRequest], Hashable] = lambda r: 0,
        size: Callable[[ChatRequest], float] | None = None,
    ):
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.key = key
        self.size = size
        self._queue: deque[tuple[ChatRequest, asyncio.Future]] = deque()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self.batch_sizes: list[int] = []  # one entry per run_batch call

    async def submit(self, req: ChatRequest) -> Completion:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._wake = asyncio.Event()
            self._worker = loop.create_task(self._loop())
        fut = loop.create_future()
        self._queue.append((req, fut))
        self._wake.set()
        return await fut

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            if len(self._queue) < self.batch_size:
                await asyncio.sleep(self.max_wait_s)  # let concurrent callers join
            batch = self.take_batch()
            if not batch:
                continue
            try:
                comps = await asyncio.to_thread(self.run_batch, [r for r, _ in batch])
            except Exception as e:  # e.g. out of memory: fail this batch, keep serving
                log.warning("batch of %d failed: %s", len(batch), e)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(BackendError(f"generate failed: {type(e).__name__}: {e}", retryable=False))
                continue
            self.batch_sizes.append(len(batch))
            for (_, fut), comp in zip(batch, comps, strict=True):
                if not fut.done():
                    fut.set_result(comp)

    def take_batch(self) -> list[tuple[ChatRequest, asyncio.Future]]:
        """Up to batch_size queued live requests sharing the first one's key; the rest stay queued in order."""
        live = deque(item for item in self._queue if not item[1].done())
        if not live:
            self._queue = live
            return []
        key = self.key(live[0][0])
        same = [k for k, item in enumerate(live) if self.key(item[0]) == key]
        if self.size is not None and len(same) > self.batch_size:
            anchor = self.size(live[0][0])
            others = sorted(same[1:], key=lambda k: (abs(self.size(live[k][0]) - anchor), k))
            chosen = {0, *others[: self.batch_size - 1]}
        else:
            chosen = set(same[: self.batch_size])
        batch = [item for k, item in enumerate(live) if k in chosen]
        self._queue = deque(item for k, item in enumerate(live) if k not in chosen)
        return batch

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(BackendError("backend closed", retryable=False))
        self._queue.clear()
