"""Task-driven runs for `seqit generate` (method: taskdriven | caption): pick eligible seeds, get the
intermediate result (from the data, or one teacher call), build records with seqit.generate.taskdriven.builders.

IT records here are the seed rows with their own answers (no teacher), so a mix replaces each
converted seed by its sequential version, as in the paper's task-driven data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqit.errors import DataError
from seqit.generate.outputs import drive_seeds, finalize
from seqit.generate.selfseq.dryrun import Plan
from seqit.generate.selfseq.pipeline import Outcome
from seqit.generate.taskdriven import builders as td
from seqit.jsonl import write_jsonl
from seqit.records import DatasetReader, Record
from seqit.records.sources import iter_raw_rows
from seqit.runs import reject_row, start_run
from seqit.teachers import ChatRequest, estimate_cost

if TYPE_CHECKING:
    from seqit.generate.config import GenerateConfig

CAPTION_FIELDS = ("image", "caption", "question", "answer")


@dataclass(frozen=True)
class Job:
    record: Record
    index: int
    convert: bool
    lang: str | None = None
    foreign_input: str | None = None  # from parallel data


def _input(rec: Record) -> str:
    v = rec.meta.get("input", "")
    return v if isinstance(v, str) else ""


def _system(rec: Record) -> str:
    return rec.messages[0]["content"] if rec.messages[0]["role"] == "system" else ""


def plan_jobs(cfg: GenerateConfig, records: list[Record]) -> list[Job]:
    """Which seeds are converted (and into which language); eligible = has a separate, non-empty input."""
    t = cfg.taskdriven
    rng = random.Random(f"{cfg.seed}:taskdriven")
    eligible = [i for i, r in enumerate(records) if _input(r).strip() and r.response is not None]
    if "translate" in t.steps and t.parallel:
        return _parallel_jobs(cfg, records)
    chosen = (
        sorted(rng.sample(eligible, min(len(eligible), t.max_items))) if t.max_items is not None else eligible
    )
    langs: dict[int, str] = {}
    if "translate" in t.steps:
        for k, i in enumerate(chosen):
            langs[i] = t.languages[k % len(t.languages)]
    keep = set(chosen)
    return [Job(r, i, i in keep, langs.get(i)) for i, r in enumerate(records)]


def _parallel_jobs(cfg: GenerateConfig, records: list[Record]) -> list[Job]:
    t = cfg.taskdriven
    reader = DatasetReader(cfg.data.path, cfg.data.format, source=cfg.data.source)
    position = {item.id: i for i, item in enumerate(reader) if isinstance(item, Record)}
    english = [raw.row if raw.error is None else None for raw in iter_raw_rows(cfg.data.path)]
    foreign = {}
    for lang, path in t.parallel.items():
        rows = [raw.row if raw.error is None else None for raw in iter_raw_rows(path)]
        if len(rows) != len(english):
            raise DataError(
                f"{path}: {len(rows)} rows, but {cfg.data.path} has {len(english)}; parallel files must be index-aligned"
            )
        foreign[lang] = rows
    per_lang = t.per_language if t.per_language is not None else t.max_items
    picks = td.select_parallel(english, foreign, per_lang, random.Random(f"{cfg.seed}:parallel"))
    lang_of = {i: lang for lang, idx in picks.items() for i in idx}
    jobs = []
    for k, rec in enumerate(records):
        i = position.get(rec.id, -1)
        lang = lang_of.get(i) if _input(rec).strip() else None
        jobs.append(Job(rec, k, lang is not None, lang, foreign[lang][i]["input"] if lang else None))
    return jobs


def it_record(rec: Record) -> dict[str, Any]:
    meta = {
        **rec.meta,
        "seed_id": rec.id,
        "kind": "it",
        "depth": 0,
        "steps": [str(rec.meta.get("instruction", ""))],
    }
    meta.update(teacher_model=None, prompt_versions={})  # the seed's own answer: no teacher involved
    return {"id": f"{rec.id}:it", "messages": [dict(m) for m in rec.messages], "meta": meta}


async def teacher_step(
    step: str, text: str, job: Job, teacher: Any, max_tokens: int, out: Outcome
) -> tuple[str, str] | None:
    """(the teacher's paraphrase/translation of `text`, the model that made it), or None after a reject on `out`."""
    msgs = (
        td.translate_messages(text, job.lang or "") if step == "translate" else td.paraphrase_messages(text)
    )
    req = ChatRequest(
        f"{job.record.id}:{step}",
        msgs,
        temperature=0.0,
        max_tokens=max_tokens,
        prompt_version=td.VERSIONS[step],
    )
    comp = await teacher.complete(req)
    reason = f"teacher error: {comp.error}" if not comp.ok else td.check_intermediate(text, comp.text, step)
    if reason is None and comp.finish_reason == "length":
        reason = f"truncated {step} (finish_reason=length)"
    if reason:
        out.retry = not comp.ok
        out.stages[f"{step}.rejected"] += 1
        out.rejects.append(reject_row(job.record.id, step, reason, kind="sit", round=1, dropped=True,
                                      raw=comp.text[:2000]))
        return None
    out.stages[f"{step}.ok"] += 1
    return comp.text.strip(), comp.model


@dataclass(frozen=True)
class JobSettings:
    """What one task-driven seed needs: the steps in order, the wording seed, the teacher's token budget."""

    steps: tuple[str, ...]
    seed: int
    max_tokens: int


async def run_job(job: Job, teacher: Any, s: JobSettings, tick: Any) -> Outcome:
    """One seed: its IT record, and if selected, the sequential record (teacher only for missing intermediates)."""
    rec = job.record
    out = Outcome(rec.id, it=it_record(rec), kept=not job.convert)
    if not job.convert:
        return out
    english = shown_input = _input(rec)
    intermediates: list[tuple[str, str]] = []
    versions: dict[str, str] = {}
    model = None
    for step in s.steps:
        if step == "repeat":
            intermediates.append(("repeat", shown_input))  # the input as the model sees it
            continue
        if step == "translate" and job.foreign_input is not None:
            shown_input = job.foreign_input
            intermediates.append(("translate", english))
            continue
        made = await teacher_step(step, english, job, teacher, s.max_tokens, out)
        tick(step, made is not None)
        if made is None:
            return out
        result, model = made
        versions[step] = td.VERSIONS[step]
        if step == "translate":  # the teacher made the foreign input; the English original is the answer
            shown_input = result
            intermediates.append(("translate", english))
        else:
            intermediates.append((step, result))
    meta = {"source": rec.meta.get("source", ""), "teacher_model": model}
    meta.update(prompt_versions=versions, **({"language": job.lang} if job.lang else {}))
    rng = random.Random(f"{s.seed}:{rec.id}:wording")
    task = str(rec.meta.get("instruction", ""))
    out.sit = td.sequential_record(
        rec.id, _system(rec), task, shown_input, rec.response or "", intermediates, rng, meta
    )
    return out


def needs_teacher(cfg: GenerateConfig) -> bool:
    """Does a task-driven config ask the teacher for an intermediate result (paraphrase, or translate without data)?"""
    steps = cfg.taskdriven.steps
    return cfg.method == "taskdriven" and (
        "paraphrase" in steps or ("translate" in steps and not cfg.taskdriven.parallel)
    )


async def run_taskdriven(
    cfg: GenerateConfig, run: Any, records: list[Record], done: dict[str, Any], progress: bool
) -> dict[str, int]:
    jobs = plan_jobs(cfg, records)
    todo = [j for j in jobs if j.record.id not in done]
    need = needs_teacher(cfg) and any(j.convert for j in todo)  # else no teacher is opened at all
    s = JobSettings(cfg.taskdriven.steps, cfg.seed, cfg.respond.max_tokens)
    await drive_seeds(cfg, run, todo, lambda job, t, tick: run_job(job, t, s, tick), progress, teacher_needed=need)
    return {j.record.id: j.index for j in jobs}


def plan_taskdriven(cfg: GenerateConfig, records: list[Record], max_prompts: int) -> Plan:
    jobs = [j for j in plan_jobs(cfg, records) if j.convert]
    reqs = []
    for j in jobs:
        for step in cfg.taskdriven.steps:
            if step == "paraphrase":
                reqs.append(
                    ChatRequest(
                        f"{j.record.id}:p",
                        td.paraphrase_messages(_input(j.record)),
                        max_tokens=cfg.respond.max_tokens,
                    )
                )
            elif step == "translate" and j.foreign_input is None:
                msgs = td.translate_messages(_input(j.record), j.lang or "")
                reqs.append(ChatRequest(f"{j.record.id}:t", msgs, max_tokens=cfg.respond.max_tokens))
    shown = [(r.id, list(r.messages)) for r in reqs[:max_prompts]]
    for j in jobs[: max(0, max_prompts - len(shown))]:
        known = {"repeat": _input(j.record), "translate": _input(j.record)}
        fake = [(s, known.get(s, f"<the teacher's {s} of the input>")) for s in cfg.taskdriven.steps]
        shown_input = j.foreign_input or (
            f"<the teacher's {j.lang} translation>" if j.lang else _input(j.record)
        )
        rng = random.Random(f"{cfg.seed}:{j.record.id}:wording")
        rec = td.sequential_record(
            j.record.id,
            _system(j.record),
            str(j.record.meta.get("instruction", "")),
            shown_input,
            j.record.response or "",
            fake,
            rng,
        )
        shown.append((f"record {rec['id']}", rec["messages"]))
    return Plan(len(records), shown, estimate_cost(reqs, cfg.teacher))


# ---------------------------------------------------------------------------------------------
# caption-then-answer (vision-language rows; no teacher)


def read_caption_rows(
    path: str | Path, limit: int | None
) -> tuple[list[tuple[str, dict[str, str]]], list[dict[str, Any]]]:
    """(id, row) for good rows and reject rows naming file:line and field for bad ones."""
    good, bad = [], []
    for raw in iter_raw_rows(path):
        if limit is not None and len(good) + len(bad) >= limit:
            break
        row = raw.row
        problem = raw.error
        if problem is None and not isinstance(row, dict):
            problem = "row must be a JSON object"
        missing = [
            f
            for f in CAPTION_FIELDS
            if problem is None and not (isinstance(row.get(f), str) and row[f].strip())
        ]
        if problem is None and missing:
            problem = f"field {missing[0]!r} is missing or empty"
        if problem:
            bad.append(reject_row(None, "read", problem, file=raw.file, line=raw.line, row=row, dropped=True))
            continue
        rid = str(row.get("id") or f"{Path(raw.file).stem}-{raw.line:05d}")
        good.append((rid, {f: row[f] for f in CAPTION_FIELDS}))
    return good, bad


def run_caption(cfg: GenerateConfig, argv: list[str] | None) -> Path:
    run = start_run(cfg.out_dir, cfg, "generate", inputs={"data": cfg.data.path}, argv=argv)
    good, bad = read_caption_rows(cfg.data.path, cfg.limit)
    sit, it, done = [], [], []
    source = cfg.data.source or Path(cfg.data.path).stem
    for rid, row in good:
        s, b = td.caption_records(
            rid,
            row["image"],
            row["caption"],
            row["question"],
            row["answer"],
            random.Random(f"{cfg.seed}:{rid}"),
            source,
        )
        sit.append(s)
        it.append(b)
        done.append(Outcome(rid, it=b, sit=s).summary())
    write_jsonl(run.file("sit.jsonl"), sit)
    write_jsonl(run.file("it.jsonl"), it)
    write_jsonl(run.file("rejects.jsonl"), bad)
    write_jsonl(run.file("done.jsonl"), done)
    finalize(
        cfg,
        run,
        {rid: i for i, (rid, _) in enumerate(good)},
        rows_in=len(good) + len(bad),
        read_rejects=len(bad),
        limited=0,
    )
    return run.path


def plan_caption(cfg: GenerateConfig) -> Plan:
    good, _ = read_caption_rows(cfg.data.path, cfg.limit)
    shown = []
    for rid, row in good[:2]:
        s, b = td.caption_records(
            rid, row["image"], row["caption"], row["question"], row["answer"], random.Random(0)
        )
        shown += [(s["id"] + f" (image {row['image']})", s["messages"]), (b["id"], b["messages"])]
    return Plan(len(good), shown, {"requests": 0, "max_cost_usd": 0.0, "models": {}})
