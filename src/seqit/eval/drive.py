"""Run one coroutine per item concurrently, write each finished sample row at once, show progress.

No batch barrier: an item's row is appended (kill -9 safe) the moment its chain of calls ends, so
a crash loses only the items in flight. Concurrency per backend is the teacher's job; `window`
only bounds how many item coroutines exist at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from seqit.eval.items import EvalItem
from seqit.jsonl import JsonlWriter

Worker = Callable[[EvalItem], Awaitable[dict[str, Any]]]


async def drive(items: Sequence[EvalItem], worker: Worker, writer: JsonlWriter, label: str,
                window: int = 64, progress: bool = True) -> Counter[str]:
    """Run `worker` on every item, append each row to `writer`; returns row counts by status."""
    statuses: Counter[str] = Counter()
    sem = asyncio.Semaphore(window)
    bar, task = _progress(label, len(items)) if progress and items else (None, None)

    async def one(item: EvalItem) -> None:
        async with sem:
            row = await worker(item)
        writer.write(row)
        statuses[row["status"]] += 1
        if bar is not None:
            bar.update(task, advance=1, failed=sum(v for k, v in statuses.items() if k != "ok"))

    try:
        await asyncio.gather(*(one(it) for it in items))
    finally:
        if bar is not None:
            bar.stop()
    return statuses


def _progress(label: str, total: int) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task(label, total=total, failed=0)
    bar.start()
    return bar, task
