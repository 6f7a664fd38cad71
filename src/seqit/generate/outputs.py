"""The append-only outputs of a generate run and the seed driver every generate method uses.

One seed = one Outcome (its IT record, its SIT record, its rejects); `drive_seeds` runs the seeds through
the one windowed driver (seqit.progress.drive), `Outputs` appends each outcome the moment it finishes,
`resume_state` is the resume rule (a seed is done when done.jsonl has its line), and `finalize` sorts the
outputs into seed order, writes the mix and the manifest counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from seqit.generate.config import GenerateConfig
from seqit.generate.mix import mix_records, mix_summary
from seqit.generate.selfseq.pipeline import Outcome
from seqit.generate.stats import mean_lengths, summarize
from seqit.jsonl import JsonlWriter, read_jsonl, write_jsonl
from seqit.progress import drive, progress
from seqit.runs import Run
from seqit.teachers import open_teacher

log = logging.getLogger(__name__)
OUTPUTS = ("sit.jsonl", "it.jsonl", "rejects.jsonl")


SeedFn = Callable[[Any, Any, Callable[[str, bool], None]], Awaitable[Outcome]]


async def drive_seeds(cfg: GenerateConfig, run: Run, todo: list[Any], fn: SeedFn, show: bool,
                      teacher_needed: bool = True) -> None:
    """Run `fn(seed, teacher, tick)` for every seed, a bounded window at a time, writing each outcome at once.

    Without `teacher_needed` (task-driven data that already holds every intermediate result) no teacher is
    opened at all and `fn` gets None."""
    # batch mode: every seed in flight, so each Self-Seq stage's pending requests form one batch
    batch = cfg.teacher.mode == "batch"
    window = cfg.max_inflight_seeds or (max(1, len(todo)) if batch else 2 * cfg.teacher.max_concurrency)
    stages = StageCounts()
    opened = open_teacher(cfg.teacher, ledger_path=run.file("ledger.sqlite")) if teacher_needed else nullcontext()
    with progress("seeds", len(todo), {"stages": ""}, enabled=show) as bar, Outputs(run) as out:

        def tick(stage: str, ok: bool) -> None:  # a seed is many calls: show each stage's counts as they come
            stages.tick(stage, ok)
            bar.update(stages=stages.text())

        async with opened as teacher:
            async for outcome in drive(todo, lambda seed: fn(seed, teacher, tick), window):
                out.write(outcome)
                bar.advance(stages=stages.text(), **({"cost": f"${teacher.usage.cost:.4f}"} if teacher is not None else {}))
                if teacher is not None:
                    run.save_usage_every("teacher", teacher.usage_summary)  # a killed run keeps a near-current cost
            if teacher is not None:
                run.record_usage("teacher", teacher.usage_summary())
                run.manifest["teacher"] = teacher.stats()
                run.save()


class StageCounts:
    """ok / rejected per Self-Seq or task-driven stage, for the progress line."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}

    def tick(self, stage: str, ok: bool) -> None:
        self.counts.setdefault(stage, Counter())["ok" if ok else "rejected"] += 1

    def text(self) -> str:
        return "  ".join(f"{s} {c['ok']}/{c['rejected']}" for s, c in self.counts.items())


class Outputs:
    """The append-only outputs of a run; done.jsonl is written last, so a seed counts only once complete."""

    def __init__(self, run: Run):
        self.w = {name: JsonlWriter(run.file(name)) for name in (*OUTPUTS, "done.jsonl")}

    def write(self, o: Outcome) -> None:
        if o.retry:  # a teacher call failed: keep the reasons, leave the seed unfinished for the next run
            self.w["rejects.jsonl"].write_many(
                {**r, "detail": {**r.get("detail", {}), "dropped": False, "retry": True}} for r in o.rejects)
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
    """The seed a record (meta.seed_id) or a reject (id) belongs to."""
    return row.get("meta", {}).get("seed_id") if "meta" in row else row.get("id")


def finalize(
    cfg: GenerateConfig, run: Run, order: dict[str, int], rows_in: int, read_rejects: int, limited: int
) -> None:
    """Sort outputs into seed order (byte-identical reruns), write the mix and the manifest counts."""
    key = lambda r: (order.get(_seed_of(r) or "", -1), r.get("id") or "", (r.get("detail") or {}).get("round", 0))  # noqa: E731
    rows = {name: sorted(read_jsonl(run.file(name)), key=key) for name in OUTPUTS}
    contam = _decontaminate(cfg, run, rows)
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
        "seeds_with_output": sum(1 for d in done if d["it"] or d["sit"] or d.get("kept")),
        "rejects_rows": len(rows["rejects.jsonl"]),
        **contam,
    }
    sit_side = counts["sit_records"] + counts["sit_dropped"] + counts["kept_unconverted"] + contam.get("decontam_dropped_sit", 0)
    counts["balanced"] = (
        counts["seeds"] + read_rejects + limited == rows_in
        and counts["finished"] + counts["pending"] == counts["seeds"]
        and sit_side == counts["finished"]
    )
    run.finish(counts=counts)


def outcome_problem(c: dict[str, Any], max_reject_frac: float) -> str | None:
    """Why a finished generate run must exit 1, or None. What the user asked for is training data for the seeds:
    a seed counts as output when it yielded a SIT record or its IT answer (a dropped rewrite leaves the seed in
    the mix as IT, `mix.mode: replace`); rejected are the bad input rows and the seeds that yielded neither. A
    run without a single sequential record failed whatever the rest says."""
    from seqit.runs import outcome_problem as run_outcome

    if c["seeds"] and not c["sit_records"]:
        return (f"no sequential record from {c['seeds']} seeds ({c['sit_dropped']} rewrites dropped: see "
                f"rejects.jsonl; {c['kept_unconverted']} kept as they are)")
    without = c["finished"] - c["seeds_with_output"]
    return run_outcome(c["seeds"] + c["read_rejects"], c["seeds_with_output"], c["read_rejects"] + without,
                       max_reject_frac)


def outcome_note(c: dict[str, Any]) -> str:
    """The one-line result of a generate run, in the terms of the outcome check (see outcome_problem).

    >>> outcome_note({"seeds": 20, "sit_records": 2, "it_records": 17, "sit_dropped": 18, "seeds_with_output": 19})
    '2 of 20 seeds became sequential (SIT) records, 18 rewrites dropped (rejects.jsonl); 19 of 20 seeds have training data (SIT or IT)'
    """
    return (f"{c['sit_records']} of {c['seeds']} seeds became sequential (SIT) records, {c['sit_dropped']} rewrites "
            f"dropped (rejects.jsonl); {c['seeds_with_output']} of {c['seeds']} seeds have training data (SIT or IT)")


def _decontaminate(cfg: GenerateConfig, run: Run, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """cfg.decontam: check sit/it prompts against eval prompts; tag meta.contamination (report) or move the
    record to rejects.jsonl with the eval id (drop; counted from the rejects, so a resumed run still balances)."""
    from seqit.phases.decontam import find_matches, hit_reason, open_index, prompt_text, summarize
    from seqit.runs import reject_row

    dc = cfg.decontam
    index = open_index(dc)
    if index is None:
        return {}
    matches = []
    checked = sum(len(rows[n]) for n in ("sit.jsonl", "it.jsonl"))
    for name in ("sit.jsonl", "it.jsonl"):
        hits = find_matches(index, [(str(r.get("id")), prompt_text(r.get("messages") or [])) for r in rows[name]],
                            dc.min_overlap)
        matches += [(rid, m) for _, rid, m in hits]
        by_pos = {pos: m for pos, _, m in hits}
        if dc.action == "drop":
            rows["rejects.jsonl"] += [  # a reject's id is its seed's (the resume rule keeps rejects of finished seeds)
                reject_row(_seed_of(rows[name][p]) or rows[name][p].get("id"), "decontam", hit_reason(m), file=name,
                           row=rows[name][p], eval_id=m.eval_id, record_id=rows[name][p].get("id"))
                for p, m in by_pos.items()]
            rows[name] = [r for i, r in enumerate(rows[name]) if i not in by_pos]
        else:
            for p, m in by_pos.items():
                rows[name][p].setdefault("meta", {})["contamination"] = m.to_json()
    run.manifest["decontam"] = summarize(dc, index, matches, checked)
    dropped = Counter(r.get("file") for r in rows["rejects.jsonl"] if r.get("stage") == "decontam")
    return {"decontam_hits": len(matches), "decontam_dropped_sit": dropped["sit.jsonl"],
            "decontam_dropped_it": dropped["it.jsonl"]}
