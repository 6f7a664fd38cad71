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

    def __init__(self, per_minute: float, capacity: float | None = None, clock=time.monotonic):
        self.rate = per_minute / 60.0
        # one second of traffic (at least one unit) as burst: bursts above the provider's own
        # per-second smoothing are exactly what triggers 429 storms.
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
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
                await asyncio.sleep(wait)
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
