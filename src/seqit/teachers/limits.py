"""Rate limits: a concurrency semaphore plus requests-per-minute and tokens-per-minute token buckets,
and the retry backoff schedule. Pure arithmetic lives in small functions so it can be tested
without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time


class TokenBucket:
    """A bucket refilled at `per_minute / 60` units per second, holding at most `capacity` units.

    `acquire(n)` waits until the bucket holds min(n, capacity) units, then takes n (the level may
    go negative for a request larger than the bucket, which simply delays the next ones).
    `adjust(delta)` corrects an earlier estimate (positive = give back, negative = take more).
    """

    def __init__(self, per_minute: float, capacity: float | None = None, clock=time.monotonic, sleep=asyncio.sleep):
        self.rate = per_minute / 60.0
        # one second of traffic (at least one unit) as burst: bursts above the provider's own
        # per-second smoothing are exactly what triggers 429 storms.
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)
        self.level = self.capacity
        self._clock, self._sleep = clock, sleep  # injectable: tests run the bucket on a fake clock
        self._t = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
        self._t = now

    def wait_time(self, n: float) -> float:
        """Seconds until `n` units (capped at capacity) are available; 0 if available now."""
        self._refill()
        need = min(n, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:  # FIFO: one waiter at a time holds the head of the queue
            while (wait := self.wait_time(n)) > 0:
                await self._sleep(wait)
            self.level -= n

    def adjust(self, delta: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + delta)


def estimate_tokens(messages, max_tokens: int, n: int = 1) -> int:
    """A cheap upper-ish estimate of the tokens a request uses: prompt chars / 4 + max_tokens * n."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return chars // 4 + 4 * len(messages) + max_tokens * n


def backoff_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None = None, rng=random) -> float:
    """Delay before retry number `attempt` (1 = first retry): full-jitter exponential, never less
    than the server's Retry-After."""
    expo = min(max_s, base_s * (2 ** (attempt - 1)))
    delay = rng.uniform(expo / 2, expo)
    if retry_after is not None:
        delay = max(delay, retry_after + rng.uniform(0, base_s / 4))
    return delay


class AdaptiveLimit:
    """A concurrency limit that halves when the server says it is overloaded (429) and creeps back
    up by ~1 per round trip on success (AIMD, like TCP), never above `max_limit`.

    Only overloads reported by requests sent *after* the last cut count, so one burst of 429s from
    a single overload event halves the limit once, not once per request. With `adaptive=False` it
    is a plain semaphore of `max_limit`.
    """

    def __init__(self, max_limit: int, adaptive: bool = True, clock=time.monotonic):
        self.max_limit = max_limit
        self.adaptive = adaptive
        self.limit = float(max_limit)
        self.in_use = 0
        self.cuts = 0
        self._last_cut = float("-inf")
        self._clock = clock
        self._cond = asyncio.Condition()

    def _room(self) -> bool:
        return self.in_use < max(1, int(self.limit))

    async def acquire(self) -> float:
        """Take a slot; returns the send time to pass to `overloaded`."""
        async with self._cond:
            await self._cond.wait_for(self._room)
            self.in_use += 1
        return self._clock()

    async def release(self, ok: bool) -> None:
        async with self._cond:
            self.in_use -= 1
            before = int(self.limit)
            if ok and self.adaptive and self.limit < self.max_limit:
                self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self._cond.notify(1 + max(0, int(self.limit) - before))

    def overloaded(self, sent_at: float) -> None:
        if self.adaptive and sent_at > self._last_cut:
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = self._clock()
            self.cuts += 1
