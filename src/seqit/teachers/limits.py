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
        return 0.0 if need <= 1e-9 else need / self.rate  # float dust is not a wait (it never refills exactly)

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


OVERLOAD_SHARE = 0.25  # a window cuts only when more than this share of its answers were 429s
MIN_WINDOW = 16  # a window spans at least this many requests (a share of 2 requests is noise)
TRACE_MAX = 2000  # trace entries kept (cuts, pauses and each whole-slot recovery)


class AdaptiveLimit:
    """A concurrency limit that adapts to overload (AIMD, like TCP congestion control).

    - **Windows**: the requests sent after a decision form the next window (its size is the limit at
      that moment, at least MIN_WINDOW). Only answers to requests of the current window count, so a
      burst of 429s from requests sent before a cut never cuts twice.
    - **Cut** (multiplicative decrease): when more than OVERLOAD_SHARE of a window's requests came back
      429 *without* Retry-After, the limit is multiplied by 1 - share/2 (halved when every answer was
      a 429, like DCTCP; never below `floor`) and a new window starts: at most one cut per window.
      Isolated 429s (a provider's background noise) are retried, not cut for.
    - **Recovery** (additive increase): each success adds 1/limit, i.e. about one slot per window.
    - **Pause**: a 429 *with* Retry-After is the server telling us when to come back: every new send
      waits until then, and the limit is not cut (the pause already sheds the load).

    `trace` records [seconds since start, limit, event] for cuts, pauses and each whole-slot
    recovery. With `adaptive=False` it is a plain semaphore of `max_limit` (pauses still apply).
    """

    def __init__(self, max_limit: int, adaptive: bool = True, floor: int = 1, clock=time.monotonic,
                 min_window: int = MIN_WINDOW):
        self.max_limit = max_limit
        self.adaptive = adaptive
        self.floor = max(1, min(floor, max_limit))
        self.limit = float(max_limit)
        self.in_use = 0
        self.cuts = 0
        self.pauses = 0
        self.overloads = 0
        self.pause_until = 0.0
        self._clock = clock
        self._t0 = clock()
        self._seq = 0  # sequence number of the next send
        self._window_start = 0  # sends with seq >= this belong to the current window
        self.min_window = min_window
        self._window_size = max(min_window, max_limit)
        self._window_done = 0
        self._window_over = 0
        self._cond = asyncio.Condition()
        self.trace: list[list] = [[0.0, max_limit, "start"]]

    def _room(self) -> bool:
        return self.in_use < max(self.floor, int(self.limit))

    def _log(self, event: str) -> None:
        if len(self.trace) < TRACE_MAX:
            self.trace.append([round(self._clock() - self._t0, 4), int(self.limit), event])

    async def acquire(self) -> int:
        """Wait for any Retry-After pause and a free slot; returns the send's sequence number."""
        while (wait := self.pause_until - self._clock()) > 0:
            await asyncio.sleep(wait)
        async with self._cond:
            await self._cond.wait_for(self._room)
            self.in_use += 1
        seq = self._seq
        self._seq += 1
        return seq

    async def release(self, seq: int, outcome: str = "ok") -> None:
        """Free the slot of send `seq`. outcome: "ok", "overload" (429 without Retry-After), "error"."""
        async with self._cond:
            self.in_use -= 1
            before = int(self.limit)
            if self.adaptive:
                self._account(seq, outcome)
            self._cond.notify(1 + max(0, int(self.limit) - before))

    def _account(self, seq: int, outcome: str) -> None:
        if outcome == "ok" and self.limit < self.max_limit:
            before = int(self.limit)
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            if int(self.limit) > before:
                self._log("recover")
        if seq < self._window_start:  # sent before the last decision: says nothing about the current limit
            return
        self._window_done += 1
        if outcome == "overload":
            self.overloads += 1
            self._window_over += 1
        if self._window_over > OVERLOAD_SHARE * self._window_size:
            if self.limit > self.floor:  # at the floor an overloaded window only starts the next one
                share = self._window_over / self._window_done  # early in a burst: ~1, halve
                self.limit = max(float(self.floor), self.limit * (1 - share / 2))
                self.cuts += 1
                self._log("cut")
            self._new_window()
        elif self._window_done >= self._window_size:
            self._new_window()

    def _new_window(self) -> None:
        self._window_start = self._seq
        self._window_size = max(self.min_window, int(self.limit))
        self._window_done = self._window_over = 0

    def pause(self, seconds: float) -> None:
        """Hold every new send for `seconds` (a 429's Retry-After); not a cut."""
        until = self._clock() + seconds
        if until > self.pause_until:
            if self.pause_until <= self._clock():  # a new pause, not an extension of the current one
                self.pauses += 1
                self._log(f"pause {seconds:g}s")
            self.pause_until = until

    def stats(self) -> dict:
        return {"final_concurrency": int(self.limit), "concurrency_cuts": self.cuts, "pauses": self.pauses,
                "overloads": self.overloads, "concurrency_trace": list(self.trace)}
