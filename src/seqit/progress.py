"""Progress for long work, and the one windowed async driver every stage uses.

    with progress("score", total=len(todo), fields={"rejects": 0, "cost": "$0"}) as bar:
        async for comp in drive(requests, teacher.complete, window=64):
            ...
            bar.advance(rejects=n_rej, cost=f"${teacher.usage.cost:.4f}")

On a terminal this is a rich progress bar (count, rate, elapsed, ETA and the stage's own fields). When
stderr is not a terminal (CI, a log file, `make demo | tee`), it logs one status line every `every_s`
seconds instead — `score: 120/500 (24%) 3.2/s ETA 1m58s rejects 2 cost $0.0100` — and a last line at the
end, so a log shows what a terminal shows.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger("seqit.progress")

T = TypeVar("T")
R = TypeVar("R")


def format_eta(seconds: float | None) -> str:
    """'1h02m', '3m05s', '42s', or '?' when unknown.

    >>> format_eta(3725), format_eta(185), format_eta(42.4), format_eta(None)
    ('1h02m', '3m05s', '42s', '?')
    """
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def status_line(label: str, done: int, total: int | None, rate: float, fields: dict[str, Any]) -> str:
    """The plain-text status of a running stage (pure; what non-terminal progress logs). `rate` is items/s.

    >>> status_line("score", 120, 500, 3.0, {"rejects": 2})
    'score: 120/500 (24%) 3.0/s ETA 2m07s rejects 2'
    >>> status_line("encode", 7, None, 3.5, {})
    'encode: 7 3.5/s'
    >>> status_line("seeds", 1, 20, 1 / 47, {})  # slow work: seconds per item, not "0.0/s"
    'seeds: 1/20 (5%) 47s each ETA 14m53s'
    >>> status_line("seeds", 0, 20, 0.0, {"stages": "respond 1/0"})
    'seeds: 0/20 (0%) ETA ? stages respond 1/0'
    """
    parts = [f"{label}: {done}"]
    if total:
        parts[0] += f"/{total} ({100 * done // total}%)"
    if 0 < rate < 1:
        parts.append(f"{format_eta(1 / rate)} each")
    elif rate > 0:  # nothing done yet: no rate to show
        parts.append(f"{rate:.1f}/s" if rate < 100 else f"{rate:.0f}/s")
    if total and done < total:
        parts.append(f"ETA {format_eta((total - done) / rate if rate > 0 else None)}")
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in fields.items() if v not in (None, "")]
    return " ".join(parts)


class Progress:
    """One progress display; build it with `progress(...)`. `advance()` and `update()` take the stage's fields."""

    def __init__(self, label: str, total: int | None, fields: dict[str, Any] | None, enabled: bool,
                 every_s: float, done: int, terminal: bool | None):
        self.label, self.total, self.done = label, total, done
        self.fields: dict[str, Any] = dict(fields or {})
        self.enabled = enabled
        self.every_s = every_s
        self.terminal = (sys.stderr.isatty() if terminal is None else terminal) and enabled
        self._t0 = time.monotonic()
        self._start_done = done
        self._last_line = self._t0
        self._rich: Any = None
        self._task: Any = None

    # -- the stage's side ------------------------------------------------------------------------

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.done += n
        self.update(**fields)

    def update(self, label: str | None = None, total: int | None = None, **fields: Any) -> None:
        self.fields.update(fields)
        if label is not None:
            self.label = label
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, total=self.total, description=self.label,
                              info=self._fields_text(), eta=self._eta_text())
        elif time.monotonic() - self._last_line >= self.every_s:
            self._log_line()

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """Yield `items`, advancing by one after each (for plain loops)."""
        for item in items:
            yield item
            self.advance()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    # -- display --------------------------------------------------------------------------------------

    def _rate(self) -> float:
        return (self.done - self._start_done) / max(self.elapsed_s, 1e-9)  # this attempt's work only (resume)

    def _eta_text(self) -> str:
        """ETA from the average rate since the start (rich's own needs a sample every few seconds, which a
        training step of a minute or a model-import step never gives)."""
        if not self.total or self.done >= self.total:
            return ""
        rate = self._rate()
        return f"ETA {format_eta((self.total - self.done) / rate if rate > 0 else None)}"

    def _fields_text(self) -> str:
        return "  ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.fields.items() if v not in (None, ""))

    def _log_line(self) -> None:
        self._last_line = time.monotonic()
        log.info("%s", status_line(self.label, self.done, self.total, self._rate(), self.fields))

    def __enter__(self) -> Progress:
        if self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress
            from rich.table import Column

            # counts, elapsed and ETA first; the stage's own fields last, cut with "…" on a narrow terminal
            self._rich = RichProgress(
                TextColumn("{task.description}", table_column=Column(no_wrap=True)), BarColumn(bar_width=16),
                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=Console(stderr=True), expand=True,
            )
            self._task = self._rich.add_task(self.label, total=self.total, completed=self.done, info=self._fields_text(),
                                             eta=self._eta_text())
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif self.enabled and (self.done > self._start_done or self.total):
            self._log_line()


@contextmanager
def quiet_library_bars() -> Iterator[None]:
    """transformers' own tqdm bars ("Loading weights", "Writing model shards") off while seqit shows its own
    progress: in a log they are lines of carriage returns, on a terminal they fight with seqit's bar."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def progress(label: str, total: int | None = None, fields: dict[str, Any] | None = None, *, enabled: bool = True,
             every_s: float = 5.0, done: int = 0, terminal: bool | None = None) -> Progress:
    """The progress display of one stage (use as a context manager). `terminal=None` asks stderr."""
    return Progress(label, total, fields, enabled, every_s, done, terminal)


async def drive(items: Iterable[T], worker: Callable[[T], Awaitable[R]], window: int,
                stop: Callable[[], bool] | None = None) -> AsyncIterator[R]:
    """Run `worker` on every item with at most `window` coroutines alive; yield each result as it finishes.

    No batch barrier: a slow item holds up nothing but its own slot. The items iterable is consumed
    lazily, so a million-row input never becomes a million tasks. `stop()` returning True (e.g. after an
    auth failure) stops scheduling new items; those already running finish and are yielded. Leaving
    the loop early cancels what is still running.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    it = iter(items)
    pending: set[asyncio.Task] = set()
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window and not (stop is not None and stop()):
                item = next(it, _END)
                if item is _END:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(worker(item)))  # type: ignore[arg-type]
            if not pending:
                return
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                yield task.result()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


_END: Any = object()
