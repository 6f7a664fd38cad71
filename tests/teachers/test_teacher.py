"""The Teacher wrapper around a scripted backend: cache, retries, failures, usage, limits."""

import asyncio
import time

import pytest

from seqit.teachers import BackendError, ChatRequest, FakeBackend, Price, TeacherConfig, open_teacher
from seqit.teachers.limits import TokenBucket, backoff_delay, estimate_tokens


def req(i, **kw):
    return ChatRequest(id=f"r{i}", messages=[{"role": "user", "content": f"question {i}"}], **kw)


def run(coro):
    return asyncio.run(coro)


FAST = dict(model="m", backoff_base_s=0.001, backoff_max_s=0.01)


def test_fake_backend_list_replies_in_order():
    async def go():
        async with open_teacher(TeacherConfig(**FAST), backend=FakeBackend(["a", "b"])) as t:
            return [(await t.complete(req(i))).text for i in range(3)]

    assert run(go()) == ["a", "b", "a"]


def test_fake_backend_function_and_n():
    async def go():
        async with open_teacher(TeacherConfig(**FAST), backend=FakeBackend(lambda r: r.id.upper())) as t:
            return await t.complete(req(1, n=3))

    comp = run(go())
    assert comp.ok and comp.texts == ["R1"] * 3 and comp.finish_reasons == ["stop"] * 3 and comp.request_id == "r1"


def test_ledger_serves_finished_requests_without_resending(tmp_path):
    ledger = tmp_path / "ledger.sqlite"

    async def go(backend):
        async with open_teacher(TeacherConfig(**FAST), ledger_path=ledger, backend=backend) as t:
            comps = [await t.complete(req(i)) for i in range(5)]
            return comps, t.usage_summary()

    first = FakeBackend(lambda r: "answer " + r.id)
    comps1, _ = run(go(first))
    second = FakeBackend(lambda r: "DIFFERENT")
    comps2, usage2 = run(go(second))
    assert len(first.calls) == 5 and second.calls == []
    assert [c.text for c in comps2] == [c.text for c in comps1]
    assert all(c.cached for c in comps2) and not any(c.cached for c in comps1)
    assert usage2["cached"] == 5 and usage2["requests"] == 0


def test_same_content_under_new_id_is_a_cache_hit_with_the_new_id(tmp_path):
    async def go():
        backend = FakeBackend(["x"])
        async with open_teacher(TeacherConfig(**FAST), ledger_path=tmp_path / "l.sqlite", backend=backend) as t:
            a = await t.complete(ChatRequest(id="a", messages=[{"role": "user", "content": "same"}]))
            b = await t.complete(ChatRequest(id="b", messages=[{"role": "user", "content": "same"}]))
            return a, b, len(backend.calls)

    a, b, calls = run(go())
    assert calls == 1 and b.cached and b.request_id == "b" and b.text == a.text


def test_failures_are_not_cached_so_a_rerun_retries_them(tmp_path):
    ledger = tmp_path / "l.sqlite"

    async def go(backend):
        async with open_teacher(TeacherConfig(**FAST, max_retries=0), ledger_path=ledger, backend=backend) as t:
            return await t.complete(req(1))

    bad = run(go(FakeBackend(lambda r: BackendError("HTTP 400: bad", retryable=False, status=400))))
    good = run(go(FakeBackend(["fine"])))
    assert not bad.ok and bad.texts == [] and "HTTP 400" in bad.error
    assert good.ok and good.text == "fine" and not good.cached


def test_retryable_errors_are_retried_then_succeed():
    script = iter(
        [BackendError("HTTP 429", retryable=True, status=429, retry_after=0.01), BackendError("HTTP 500", retryable=True), "ok"]
    )
    backend = FakeBackend(lambda r: next(script))

    async def go():
        async with open_teacher(TeacherConfig(**FAST), backend=backend) as t:
            return await t.complete(req(1)), t.usage_summary()

    comp, usage = run(go())
    assert comp.ok and comp.text == "ok" and comp.attempts == 3 and usage["retries"] == 2


@pytest.mark.parametrize(
    "error, attempts",
    [
        (BackendError("HTTP 500: down", retryable=True, status=500), 4),  # 1 + max_retries
        (BackendError("HTTP 400: bad request", retryable=False, status=400), 1),
        (ValueError("a bug in a backend"), 1),
    ],
)
def test_exhausted_or_fatal_errors_become_recorded_failures(error, attempts):
    backend = FakeBackend(lambda r: error)

    async def go():
        async with open_teacher(TeacherConfig(**FAST, max_retries=3), backend=backend) as t:
            return await t.complete(req(1))

    comp = run(go())
    assert not comp.ok and comp.texts == [] and comp.text == ""
    assert len(backend.calls) == attempts
    assert str(error).split(":")[0] in comp.error


def test_retry_budget_bounds_time_spent_on_one_request():
    backend = FakeBackend(lambda r: BackendError("HTTP 429", retryable=True, status=429, retry_after=5.0))

    async def go():
        cfg = TeacherConfig(**{**FAST, "retry_budget_s": 1.0})
        async with open_teacher(cfg, backend=backend) as t:
            t0 = time.monotonic()
            return await t.complete(req(1)), time.monotonic() - t0

    comp, elapsed = run(go())
    assert not comp.ok and "retry budget" in comp.error and elapsed < 1.0 and len(backend.calls) == 1


def test_auth_failure_before_any_success_stops_all_requests():
    backend = FakeBackend(lambda r: BackendError("HTTP 401: bad key", retryable=False, status=401, auth=True))

    async def go():
        async with open_teacher(TeacherConfig(**FAST), backend=backend) as t:
            comps = [c async for c in t.stream([req(i) for i in range(50)])]
            return comps, t.auth_error

    comps, auth_error = run(go())
    assert "authentication failed" in auth_error
    assert len(backend.calls) < 50 and all(not c.ok for c in comps)


def test_auth_failure_stops_requests_already_queued_for_a_slot():
    backend = FakeBackend(
        lambda r: BackendError("HTTP 401: bad key", retryable=False, status=401, auth=True), latency_s=0.02
    )

    async def go():
        cfg = TeacherConfig(**FAST, max_concurrency=2, adaptive_concurrency=False)
        async with open_teacher(cfg, backend=backend) as t:
            return await asyncio.gather(*(t.complete(req(i)) for i in range(20)))

    comps = run(go())
    assert len(backend.calls) <= 2 and all("authentication failed" in c.error for c in comps[2:])


def test_concurrency_limit_is_respected():
    active, peak = 0, 0

    async def slow(r):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return "ok"

    async def go():
        async with open_teacher(TeacherConfig(**FAST, max_concurrency=3), backend=FakeBackend(slow)) as t:
            return [c async for c in t.stream([req(i) for i in range(20)])]

    comps = run(go())
    assert len(comps) == 20 and all(c.ok for c in comps) and peak == 3


def test_stream_has_no_batch_barrier():
    """A slow request does not hold back the ones behind it: r0 answers only after the other 11 were
    yielded (an explicit marker, no timing), so a batch barrier would deadlock into the timeout."""
    others = asyncio.Event()

    async def fn(r):
        if r.id == "r0":
            await others.wait()
        return r.id

    async def go():
        order = []
        async with open_teacher(TeacherConfig(**FAST, max_concurrency=4), backend=FakeBackend(fn)) as t:
            async for c in t.stream([req(i) for i in range(12)]):
                order.append(c.request_id)
                if len(order) == 11:
                    others.set()
        return order

    order = run(asyncio.wait_for(go(), timeout=10))
    assert sorted(order) == sorted(f"r{i}" for i in range(12)) and order[-1] == "r0"


def test_identical_concurrent_requests_are_sent_once():
    backend = FakeBackend(["x"], latency_s=0.05)

    async def go():
        async with open_teacher(TeacherConfig(**FAST), backend=backend) as t:
            same = [ChatRequest(id=f"d{i}", messages=[{"role": "user", "content": "same"}]) for i in range(5)]
            return await asyncio.gather(*(t.complete(r) for r in same))

    comps = run(go())
    assert len(backend.calls) == 1 and [c.request_id for c in comps] == [f"d{i}" for i in range(5)]


def test_usage_summary_prices_tokens_per_model():
    cfg = TeacherConfig(**FAST, prices={"m": Price(input=1.0, output=2.0)})

    async def go():
        async with open_teacher(cfg, backend=FakeBackend(["x" * 400])) as t:
            for i in range(10):
                await t.complete(req(i))
            return t.usage_summary()

    u = run(go())
    m = u["models"]["m"]
    assert m["requests"] == 10 and m["completion_tokens"] == 1000
    assert m["cost_usd"] == pytest.approx((m["prompt_tokens"] * 1.0 + 1000 * 2.0) / 1e6)
    assert u["cost_usd"] == m["cost_usd"]


def test_token_bucket_waits_for_refill():
    now = [0.0]
    b = TokenBucket(per_minute=60, clock=lambda: now[0])  # 1/s, capacity 1
    assert b.wait_time(1) == 0
    b.level -= 1
    assert b.wait_time(1) == pytest.approx(1.0)
    now[0] = 0.5
    assert b.wait_time(1) == pytest.approx(0.5)
    b.adjust(+10)
    assert b.level == 1.0  # capped at capacity


class FakeClock:
    """Virtual time for the token bucket: sleeping advances the clock, nothing really waits."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_rpm_bucket_spaces_requests_on_a_fake_clock():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock, sleep=clock.sleep)  # 10/s, burst 10

    async def go():
        times = []
        for _ in range(20):
            await bucket.acquire(1)
            times.append(clock.now)
        return times

    times = run(go())
    assert times[:10] == [0.0] * 10  # the burst goes at once
    assert times[10:] == pytest.approx([0.1 * k for k in range(1, 11)])  # then exactly one every 0.1 s


@pytest.mark.timing
def test_rpm_limit_spaces_requests_through_the_teacher():
    async def go():
        cfg = TeacherConfig(**FAST, rpm=600)  # 10/s, burst 10
        async with open_teacher(cfg, backend=FakeBackend(["x"])) as t:
            t0 = time.monotonic()
            comps = [c async for c in t.stream([req(i) for i in range(20)])]
            return comps, time.monotonic() - t0

    comps, elapsed = run(go())
    assert len(comps) == 20 and 0.8 < elapsed < 5.0  # ~1 s of pacing; wide upper bound for a loaded machine


@pytest.mark.parametrize(
    "attempt, retry_after, lo, hi",
    [(1, None, 0.25, 0.5), (3, None, 1.0, 2.0), (10, None, 5.0, 10.0), (1, 3.0, 3.0, 3.2)],
)
def test_backoff_is_jittered_exponential_and_honours_retry_after(attempt, retry_after, lo, hi):
    for _ in range(20):
        d = backoff_delay(attempt, base_s=0.5, max_s=10.0, retry_after=retry_after)
        assert lo <= d <= hi


def test_estimate_tokens_counts_prompt_chars_and_max_tokens():
    assert estimate_tokens([{"role": "user", "content": "x" * 400}], max_tokens=100, n=2) == 100 + 4 + 200


@pytest.mark.parametrize("reply_chars, lo, hi", [(2000, 0.8, 2.5), (4, 0.0, 0.3)])
def test_tpm_limit_paces_by_estimate_corrected_by_actual_usage(reply_chars, lo, hi):
    """4 requests estimating ~504 tokens each against 1000 tokens/s (burst 1000): long replies use
    what was estimated, so the bucket makes them wait ~1 s; tiny replies refund it, so no waiting."""

    async def go():
        cfg = TeacherConfig(**FAST, tpm=60000)
        async with open_teacher(cfg, backend=FakeBackend(["x" * reply_chars])) as t:
            t0 = time.monotonic()
            comps = [c async for c in t.stream([req(i, max_tokens=500) for i in range(4)])]
            return comps, time.monotonic() - t0

    comps, elapsed = run(go())
    assert len(comps) == 4 and all(c.ok for c in comps) and lo < elapsed < hi


def test_cancelled_stream_leaves_no_dangling_work():
    backend = FakeBackend(["x"], latency_s=0.05)

    async def go():
        async with open_teacher(TeacherConfig(**FAST, max_concurrency=2), backend=backend) as t:
            got = []
            async for c in t.stream([req(i) for i in range(20)]):
                got.append(c)
                if len(got) == 3:
                    break
            await asyncio.sleep(0.1)
            return got, len(backend.calls)

    got, calls = run(go())
    assert len(got) == 3 and calls <= 6


def test_retry_after_pauses_every_sender_not_just_the_limited_request():
    """After a 429 with Retry-After, no request is sent until it has passed (no 429 storm)."""
    sent_at: list[tuple[str, float]] = []
    first = [True]

    async def fn(r):
        sent_at.append((r.id, time.monotonic()))
        if first[0]:
            first[0] = False
            return BackendError("HTTP 429", retryable=True, status=429, retry_after=0.3)
        await asyncio.sleep(0.01)
        return "ok"

    async def go():
        async with open_teacher(TeacherConfig(**FAST, max_concurrency=1), backend=FakeBackend(fn)) as t:
            t0 = time.monotonic()
            comps = [c async for c in t.stream([req(i) for i in range(4)])]
            return comps, t0

    comps, t0 = run(go())
    assert all(c.ok for c in comps)
    assert [round(t - t0, 1) >= 0.3 for _, t in sent_at[1:]] == [True] * 4


def test_adaptive_limit_cuts_once_per_window_and_recovers_additively():
    from seqit.teachers.limits import AdaptiveLimit

    async def go():
        lim = AdaptiveLimit(8, min_window=8)
        sent = [await lim.acquire() for _ in range(8)]
        for seq in sent:  # a whole window of 8 comes back 429: one cut (a halving), not eight
            await lim.release(seq, "overload")
        after_burst = (lim.limit, lim.cuts)
        late = [await lim.acquire() for _ in range(4)]  # sent after the cut: the next window (size 8)
        for seq in late[:2]:  # 2 of 8 = 25%: noise, no cut
            await lim.release(seq, "overload")
        after_noise = (lim.limit, lim.cuts)
        await lim.release(late[2], "overload")  # 3 of 8 > 25%: a real overload, second cut
        await lim.release(late[3], "ok")
        after_second = (lim.limit, lim.cuts)
        for _ in range(60):
            await lim.release(await lim.acquire(), "ok")
        return after_burst, after_noise, after_second, lim

    after_burst, after_noise, after_second, lim = run(go())
    assert after_burst == (4.0, 1) and after_noise == (4.0, 1)
    assert after_second[1] == 2 and 2.0 <= after_second[0] < 2.6
    assert lim.limit == 8.0 and lim.cuts == 2  # additive: 1/limit per success, capped at the max
    events = [e for _, _, e in lim.trace]
    assert events[0] == "start" and events.count("cut") == 2 and "recover" in events
    assert [limit for _, limit, e in lim.trace if e == "cut"] == [4, 2]


def test_adaptive_limit_floor_and_retry_after_pause_is_not_a_cut():
    from seqit.teachers.limits import AdaptiveLimit

    now = [100.0]

    async def go():
        lim = AdaptiveLimit(16, floor=6, clock=lambda: now[0])
        for _ in range(5):  # five overloaded windows in a row
            for seq in [await lim.acquire() for _ in range(int(lim.limit))]:
                await lim.release(seq, "overload")
        floor_reached = lim.limit
        lim.pause(2.0)
        lim.pause(1.0)  # inside the current pause: not a new one, does not shorten it
        return floor_reached, lim

    floor_reached, lim = run(go())
    assert floor_reached == 6.0 and lim.cuts == 2  # 16 -> 8 -> 6 (the floor), then no further cut counted
    assert lim.pause_until == 102.0 and lim.pauses == 1
    assert lim.trace[-1] == [0.0, 6, "pause 2s"]


@pytest.mark.parametrize("adaptive", [True, False])
def test_adaptive_concurrency_backs_off_a_server_with_less_capacity(fake_openai, adaptive):
    fake_openai.capacity = 4  # 429 without Retry-After when more than 4 are in flight
    fake_openai.latency_s = 0.02
    cfg = TeacherConfig(model="m", base_url=fake_openai.url, max_concurrency=32, adaptive_concurrency=adaptive,
                        backoff_base_s=0.02, backoff_max_s=0.2, max_retries=20)
    reqs = [req(i) for i in range(120)]

    async def go():
        async with open_teacher(cfg) as t:
            return [c async for c in t.stream(reqs)], t.stats()

    comps, stats = run(go())
    assert all(c.ok for c in comps) and len(comps) == 120
    overloads = fake_openai.kinds["429_capacity"]
    if adaptive:
        assert stats["concurrency_cuts"] >= 1 and overloads < 240, overloads  # measured: 60-120
    else:
        assert stats["concurrency_cuts"] == 0 and overloads >= 240, overloads  # measured: ~480
