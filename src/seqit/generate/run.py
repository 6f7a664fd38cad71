"""`seqit generate CONFIG`: Self-Seq or task-driven sequential data from a seed dataset, plus the IT baseline.

    seqit generate configs/generate/alpaca-selfseq.yaml teacher.model=gpt-4o-mini --limit 20

Writes a run dir: sit.jsonl, it.jsonl, rejects.jsonl (stage + reason), mix.jsonl, done.jsonl (one
line per finished seed: the resume marker) and manifest.json (per-stage counts, reject reasons,
option distribution per round, token usage and cost). Rerun the same command to resume.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from seqit.errors import ConfigError
from seqit.generate.config import GenerateConfig, selfseq_settings
from seqit.generate.mix import mix_records, mix_summary
from seqit.generate.selfseq.dryrun import Plan, plan_selfseq
from seqit.generate.selfseq.pipeline import Outcome, run_seed, seed_from_record
from seqit.generate.stats import mean_lengths, summarize
from seqit.jsonl import JsonlWriter, read_jsonl, write_jsonl
from seqit.records import load_records
from seqit.runs import Run, start_run
from seqit.teachers import open_teacher
from seqit.teachers.backends import preflight

log = logging.getLogger(__name__)
OUTPUTS = ("sit.jsonl", "it.jsonl", "rejects.jsonl")


# ---------------------------------------------------------------------------------------------
# run


def run_generate(cfg: GenerateConfig, argv: list[str] | None = None, progress: bool = True) -> Path:
    """Generate (or resume) a run; returns the run dir."""
    from seqit.generate.taskdriven import run as gen_tasks

    if cfg.method == "caption":
        return gen_tasks.run_caption(cfg, argv)
    if cfg.method == "microworld":
        from seqit.generate.microworld import run_microworld

        return run_microworld(cfg, argv)
    if cfg.method == "selfseq" or gen_tasks.needs_teacher(cfg):
        preflight(cfg.teacher)  # a missing key or package fails here, before the run dir is made
    loaded = load_records(cfg.data.path, cfg.data.format, source=cfg.data.source)
    records = loaded.records[: cfg.limit] if cfg.limit else loaded.records
    inputs = {"data": cfg.data.path, **{f"parallel.{k}": v for k, v in cfg.taskdriven.parallel.items()}}
    earlier = previous_usage(Path(cfg.out_dir))
    run = start_run(cfg.out_dir, cfg, "generate", inputs=inputs, argv=argv)
    run.manifest["usage_total"] = earlier
    done = resume_state(run)
    with JsonlWriter(run.file("rejects.jsonl")) as w:
        w.write_many(
            {"seed_id": None, "stage": "read", **r.to_json(), "dropped": True} for r in loaded.rejects
        )
    if cfg.method == "selfseq":
        seeds = [seed_from_record(r, i, cfg.selfseq.extract) for i, r in enumerate(records)]
        todo = [s for s in seeds if s.id not in done]
        s = selfseq_settings(cfg)
        asyncio.run(drive_seeds(cfg, run, todo, lambda seed, t, tick: run_seed(seed, t, s, tick), progress))
        order = {s.id: s.index for s in seeds}
    else:
        order = asyncio.run(gen_tasks.run_taskdriven(cfg, run, records, done, progress))
    finalize(
        cfg,
        run,
        order,
        rows_in=loaded.rows_in,
        read_rejects=len(loaded.rejects),
        limited=len(loaded.records) - len(records),
    )
    return run.path


SeedFn = Callable[[Any, Any, Callable[[str, bool], None]], Awaitable[Outcome]]


async def drive_seeds(
    cfg: GenerateConfig, run: Run, todo: list[Any], fn: SeedFn, progress: bool, backend: Any = None
) -> None:
    """Run `fn(seed, teacher, tick)` for every seed, a bounded window at a time, writing each outcome at once."""
    window = cfg.max_inflight_seeds or 2 * cfg.teacher.max_concurrency
    with _Progress(progress, len(todo)) as bar, Outputs(run) as out:
        async with open_teacher(
            cfg.teacher, ledger_path=run.file("ledger.sqlite"), backend=backend
        ) as teacher:
            it = iter(todo)
            pending: set[asyncio.Task] = set()
            while True:
                while len(pending) < window and (seed := next(it, None)) is not None:
                    pending.add(asyncio.ensure_future(fn(seed, teacher, bar.tick)))
                if not pending:
                    break
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    out.write(task.result())
                    bar.seed_done()
            usage = teacher.usage_summary()
            run.manifest["usage"] = usage
            run.manifest["teacher"] = teacher.stats()
            total = run.manifest.setdefault("usage_total", {})
            for k in USAGE_TOTALS:
                total[k] = round(total.get(k, 0) + usage.get(k, 0), 6)
            run.save()


class Outputs:
    """The append-only outputs of a run; done.jsonl is written last, so a seed counts only once complete."""

    def __init__(self, run: Run):
        self.w = {name: JsonlWriter(run.file(name)) for name in (*OUTPUTS, "done.jsonl")}

    def write(self, o: Outcome) -> None:
        if o.retry:  # a teacher call failed: keep the reasons, leave the seed unfinished for the next run
            self.w["rejects.jsonl"].write_many({**r, "dropped": False, "retry": True} for r in o.rejects)
            return
        if o.it is not None:
            self.w["it.jsonl"].write(o.it)
        if o.sit is not None:
            self.w["sit.jsonl"].write(o.sit)
        self.w["rejects.jsonl"].write_many(o.rejects)
        self.w["done.jsonl"].write(o.summary())

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self.w.values():
            w.close()


USAGE_TOTALS = ("prompt_tokens", "completion_tokens", "requests", "cached", "failed", "cost_usd")


def previous_usage(out_dir: Path) -> dict[str, float]:
    """Token and cost totals of earlier attempts in this run dir (so a resumed run reports its full cost)."""
    try:
        old = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in (old.get("usage_total") or {}).items() if k in USAGE_TOTALS}


def resume_state(run: Run) -> dict[str, dict[str, Any]]:
    """Finished seeds (from done.jsonl); rows of unfinished seeds and old read-rejects are removed."""
    done = {row["seed_id"]: row for row in read_jsonl(run.file("done.jsonl"))}
    for name in OUTPUTS:
        path = run.file(name)
        if path.exists():
            rows = list(read_jsonl(path))
            keep = [r for r in rows if r.get("stage") != "read" and _seed_of(r) in done]
            if len(keep) != len(rows):
                write_jsonl(path, keep)
    if done:
        log.info("resuming %s: %d seeds already finished", run.path, len(done))
    return done


def _seed_of(row: dict[str, Any]) -> str | None:
    return row.get("meta", {}).get("seed_id") if "meta" in row else row.get("seed_id")


def finalize(
    cfg: GenerateConfig, run: Run, order: dict[str, int], rows_in: int, read_rejects: int, limited: int
) -> None:
    """Sort outputs into seed order (byte-identical reruns), write the mix and the manifest counts."""
    key = lambda r: (order.get(_seed_of(r) or "", -1), r.get("id") or "", r.get("round", 0))  # noqa: E731
    rows = {name: sorted(read_jsonl(run.file(name)), key=key) for name in OUTPUTS}
    for name, rs in rows.items():
        write_jsonl(run.file(name), rs)
    done = list(read_jsonl(run.file("done.jsonl")))
    if cfg.mix.mode != "none":
        mixed = mix_records(
            rows["it.jsonl"], rows["sit.jsonl"], cfg.mix.mode, cfg.mix.sit_ratio, cfg.seed, cfg.mix.shuffle
        )
        write_jsonl(run.file("mix.jsonl"), mixed)
        run.manifest["mix"] = {"mode": cfg.mix.mode, "rows": len(mixed), "kinds": mix_summary(mixed)}
    rejects = [r for r in rows["rejects.jsonl"] if r.get("stage") != "read"]
    run.manifest.update(summarize(done, rejects))
    run.manifest["lengths"] = {"it": mean_lengths(rows["it.jsonl"]), "sit": mean_lengths(rows["sit.jsonl"])}
    counts = {
        "rows_in": rows_in,
        "read_rejects": read_rejects,
        "skipped_by_limit": limited,
        "seeds": len(order),
        "finished": len(done),
        "pending": len(set(order) - {d["seed_id"] for d in done}),  # teacher errors: a rerun retries them
        "sit_records": len(rows["sit.jsonl"]),
        "it_records": len(rows["it.jsonl"]),
        "kept_unconverted": sum(1 for d in done if d.get("kept")),
        "sit_dropped": sum(1 for d in done if not d["sit"] and not d.get("kept")),
        "it_dropped": sum(1 for d in done if not d["it"]),
        "rejects_rows": len(rows["rejects.jsonl"]),
    }
    sit_side = counts["sit_records"] + counts["sit_dropped"] + counts["kept_unconverted"]
    counts["balanced"] = (
        counts["seeds"] + read_rejects + limited == rows_in
        and counts["finished"] + counts["pending"] == counts["seeds"]
        and sit_side == counts["finished"]
    )
    run.finish(counts=counts)


# ---------------------------------------------------------------------------------------------
# progress


class _Progress:
    """A rich progress display: one bar for seeds, one counter per stage (ok / rejected)."""

    def __init__(self, enabled: bool, total: int):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.seeds = self.p.add_task("seeds", total=total, note="")
        self.stages: dict[str, Any] = {}
        self.counts: dict[str, Counter] = {}

    def tick(self, stage: str, ok: bool) -> None:
        if stage not in self.stages:
            self.stages[stage] = self.p.add_task(f"  {stage}", total=None, note="")
            self.counts[stage] = Counter()
        self.counts[stage]["ok" if ok else "rejected"] += 1
        c = self.counts[stage]
        self.p.update(self.stages[stage], advance=1, note=f"ok {c['ok']}  rejected {c['rejected']}")

    def seed_done(self) -> None:
        self.p.advance(self.seeds)

    def __enter__(self) -> _Progress:
        self.p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.p.stop()


# ---------------------------------------------------------------------------------------------
# dry run


def plan_generate(cfg: GenerateConfig, max_prompts: int = 6) -> Plan:
    """Run the first seed against a scripted fake teacher (nothing sent, nothing written)."""
    from seqit.generate.taskdriven import run as gen_tasks

    if cfg.method == "caption":
        return gen_tasks.plan_caption(cfg)
    if cfg.method == "microworld":
        from seqit.generate.microworld import plan_microworld

        return plan_microworld(cfg)
    loaded = load_records(cfg.data.path, cfg.data.format, source=cfg.data.source)
    records = loaded.records[: cfg.limit] if cfg.limit else loaded.records
    if not records:
        raise ConfigError(f"{cfg.data.path}: no usable seed rows ({len(loaded.rejects)} rejected)")
    if cfg.method == "taskdriven":
        return gen_tasks.plan_taskdriven(cfg, records, max_prompts)
    seeds = [seed_from_record(r, i, cfg.selfseq.extract) for i, r in enumerate(records)]
    return plan_selfseq(seeds, selfseq_settings(cfg), cfg.teacher, max_prompts)
