"""The one progress builder (terminal bar or status lines in a log) and the one windowed async driver."""

from __future__ import annotations

import asyncio
import logging

import pytest

from seqit.progress import drive, format_eta, progress, status_line


@pytest.mark.parametrize("label, done, total, rate, fields, expected", [
    ("score", 120, 500, 3.0, {"rejects": 2}, "score: 120/500 (24%) 3.0/s ETA 2m07s rejects 2"),
    ("score", 500, 500, 3.0, {}, "score: 500/500 (100%) 3.0/s"),
    ("encode", 7, None, 3.5, {"loss": ""}, "encode: 7 3.5/s"),
    ("train", 0, 10, 0.0, {"tok_s": 5}, "train: 0/10 (0%) ETA ? tok s 5"),
    ("complete", 10, 2000, 250.0, {}, "complete: 10/2000 (0%) 250/s ETA 8s"),
])
def test_status_line(label, done, total, rate, fields, expected):
    assert status_line(label, done, total, rate, fields) == expected


@pytest.mark.parametrize("s, text", [(0, "0s"), (59.6, "1m00s"), (61, "1m01s"), (7200, "2h00m"), (None, "?"),
                                     (float("inf"), "?"), (float("nan"), "?")])
def test_format_eta(s, text):
    assert format_eta(s) == text


def test_without_a_terminal_progress_logs_status_lines_with_fields_and_a_last_line(caplog):
    caplog.set_level(logging.INFO, logger="seqit.progress")
    with progress("score", 4, {"rejects": 0}, every_s=0.0, terminal=False) as bar:
        for i in range(4):
            bar.advance(rejects=i // 2)
    lines = [r.getMessage() for r in caplog.records if r.name == "seqit.progress"]
    assert lines[0].startswith("score: 1/4 (25%)") and "ETA" in lines[0] and lines[0].endswith("rejects 0")
    assert lines[-1].startswith("score: 4/4 (100%)") and lines[-1].endswith("rejects 1")
    assert len(lines) == 5  # one per update (every_s=0) plus the closing line


def test_status_lines_are_spaced_by_every_s(caplog):
    caplog.set_level(logging.INFO, logger="seqit.progress")
    with progress("x", 1000, every_s=3600, terminal=False) as bar:
        for _ in bar.track(range(1000)):
            pass
    assert [r.getMessage()[:14] for r in caplog.records if r.name == "seqit.progress"] == ["x: 1000/1000 ("]


def test_disabled_progress_is_silent(caplog):
    caplog.set_level(logging.INFO, logger="seqit.progress")
    with progress("x", 3, enabled=False, every_s=0, terminal=False) as bar:
        bar.advance(3)
    assert not [r for r in caplog.records if r.name == "seqit.progress"]


def run(coro):
    return asyncio.run(coro)


def test_drive_keeps_at_most_window_items_alive_and_consumes_lazily():
    alive, peak, pulled = 0, 0, []

    def items():
        for i in range(50):
            pulled.append(i)
            yield i

    async def worker(i):
        nonlocal alive, peak
        alive += 1
        peak = max(peak, alive)
        await asyncio.sleep(0)
        alive -= 1
        return i * 2

    async def go():
        out = []
        async for r in drive(items(), worker, window=4):
            out.append(r)
            assert len(pulled) <= len(out) + 4  # never more than `window` ahead of what was yielded
        return out

    assert sorted(run(go())) == [2 * i for i in range(50)] and peak == 4


def test_drive_has_no_batch_barrier():
    """The slow item only finishes once every other item was yielded: a barrier would deadlock (timeout)."""
    others_done = asyncio.Event()

    async def worker(i):
        if i == 0:
            await others_done.wait()
        return i

    async def go():
        order = []
        async for r in drive(range(12), worker, window=4):
            order.append(r)
            if len(order) == 11:
                others_done.set()
        return order

    order = run(asyncio.wait_for(go(), timeout=5))
    assert order[-1] == 0 and sorted(order) == list(range(12))


def test_drive_stop_schedules_nothing_new_and_yields_what_runs():
    started = []

    async def worker(i):
        started.append(i)
        await asyncio.sleep(0)
        return i

    async def go():
        return [r async for r in drive(range(100), worker, window=3, stop=lambda: len(started) >= 5)]

    got = run(go())
    assert sorted(got) == sorted(started) and 5 <= len(started) <= 7


def test_leaving_drive_early_cancels_what_is_still_running():
    cancelled = []

    async def worker(i):
        try:
            await asyncio.sleep(0 if i == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    async def go():
        async for r in drive(range(5), worker, window=5):
            return r

    assert run(asyncio.wait_for(go(), timeout=5)) == 0 and sorted(cancelled) == [1, 2, 3, 4]


def test_drive_refuses_a_window_below_one():
    async def go():
        async for _ in drive([1], lambda i: asyncio.sleep(0), window=0):
            pass

    with pytest.raises(ValueError, match="window"):
        run(go())


def test_a_bar_at_80_columns_keeps_its_label_counts_and_eta_and_cuts_only_the_fields(capsys, monkeypatch):
    import time

    monkeypatch.setenv("COLUMNS", "80")
    fields = {"stages": "respond 12/4  classify 8/8  rewrite 6/1  validate 0/4", "cost": "$0.0000"}
    with progress("seeds", 20, fields, terminal=True) as bar:
        time.sleep(0.05)
        bar.advance(3)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    last = lines[-1]
    assert last.startswith("seeds ") and " 3/20 " in last and "ETA " in last and "stages respond" in last
    assert len(last) <= 80 and last.rstrip().endswith("…")  # the fields are cut, never the counts


def test_slow_work_shows_seconds_each_not_zero_per_second():
    assert status_line("train", 2, 45, 1 / 40, {}) == "train: 2/45 (4%) 40s each ETA 28m40s"
