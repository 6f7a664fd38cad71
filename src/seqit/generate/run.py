"""`seqit generate CONFIG`: Self-Seq or task-driven sequential data from a seed dataset, plus the IT baseline.

    seqit generate configs/generate/alpaca-selfseq.yaml teacher.model=gpt-4o-mini --limit 20

Writes a run dir: sit.jsonl, it.jsonl, rejects.jsonl (stage + reason), mix.jsonl, done.jsonl (one
line per finished seed: the resume marker) and manifest.json (per-stage counts, reject reasons,
option distribution per round, token usage and cost). Rerun the same command to resume.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from seqit.errors import ConfigError
from seqit.generate.config import GenerateConfig, selfseq_settings
from seqit.generate.outputs import drive_seeds, finalize, resume_state
from seqit.generate.selfseq.dryrun import Plan, plan_selfseq
from seqit.generate.selfseq.pipeline import run_seed, seed_from_record
from seqit.generate.taskdriven import run as gen_tasks
from seqit.jsonl import JsonlWriter
from seqit.records import load_records
from seqit.runs import reject_row, start_run
from seqit.teachers.backends import preflight
from seqit.teachers.shards import in_shard

# ---------------------------------------------------------------------------------------------
# run


def run_generate(
    cfg: GenerateConfig, argv: list[str] | None = None, progress: bool = True, shard: tuple[int, int] | None = None
) -> Path:
    """Generate (or resume) a run; returns the run dir. `shard=(i, n)`: only shard i's seeds (by id)."""
    if cfg.method == "caption":
        return gen_tasks.run_caption(cfg, argv)
    if cfg.method == "microworld":
        from seqit.generate.microworld import run_microworld

        return run_microworld(cfg, argv)
    if cfg.method == "selfseq" or gen_tasks.needs_teacher(cfg):
        preflight(cfg.teacher)  # a missing key or package fails here, before the run dir is made
    loaded = load_records(cfg.data.path, cfg.data.format, source=cfg.data.source)
    records = loaded.records[: cfg.limit] if cfg.limit else loaded.records
    elsewhere = 0  # rows another shard accounts for
    if shard is not None:  # --shard i/n (seqit.teachers.shards); read rejects go to shard 0 only
        records = [r for r in records if in_shard(r.id, shard)]
        if shard[0] != 0:
            elsewhere, loaded.rejects[:] = len(loaded.rejects), []
    inputs = {"data": cfg.data.path, **{f"parallel.{k}": v for k, v in cfg.taskdriven.parallel.items()}}
    with start_run(cfg.out_dir, cfg, "generate", inputs=inputs, argv=argv) as run:
        if shard is not None:
            run.manifest["shard"] = {"index": shard[0], "count": shard[1]}
        done = resume_state(run)
        with JsonlWriter(run.file("rejects.jsonl")) as w:
            w.write_many(
                reject_row(r.id, "read", r.reason, file=r.file, line=r.line, row=r.row, field=r.field, dropped=True)
                for r in loaded.rejects
            )
        if cfg.method == "selfseq":
            seeds = [seed_from_record(r, i, cfg.selfseq.extract) for i, r in enumerate(records)]
            todo = [s for s in seeds if s.id not in done]
            s = selfseq_settings(cfg)
            asyncio.run(drive_seeds(cfg, run, todo, lambda seed, t, tick: run_seed(seed, t, s, tick), progress))
            order = {s.id: s.index for s in seeds}
        else:
            order = asyncio.run(gen_tasks.run_taskdriven(cfg, run, records, done, progress, loaded.rows_in))
        finalize(cfg, run, order, rows_in=loaded.rows_in, read_rejects=len(loaded.rejects),
                 limited=len(loaded.records) - len(records) + elsewhere)
        return run.path


# ---------------------------------------------------------------------------------------------
# dry run


def plan_generate(cfg: GenerateConfig, max_prompts: int = 6) -> Plan:
    """Run the first seed against a scripted fake teacher (nothing sent, nothing written)."""
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
        return gen_tasks.plan_taskdriven(cfg, records, max_prompts, loaded.rows_in)
    seeds = [seed_from_record(r, i, cfg.selfseq.extract) for i, r in enumerate(records)]
    return plan_selfseq(seeds, selfseq_settings(cfg), cfg.teacher, max_prompts)
