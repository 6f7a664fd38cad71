"""Task-driven runs for `seqit generate` (method: taskdriven | caption): pick eligible seeds, get the
intermediate result (from the data, or one teacher call), build records with seqit.generate.taskdriven.builders.

IT records here are the seed rows with their own answers (no teacher), so a mix replaces each
converted seed by its sequential version, as in the paper's task-driven data.
"""

from __future__ import annotations

import logging
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
from seqit.records import Record, Reject, RowError, blank_problem, read_rows, row_id
from seqit.runs import reject_row, start_run
from seqit.teachers import ChatRequest, estimate_cost

if TYPE_CHECKING:
    from seqit.generate.config import GenerateConfig

CAPTION_FIELDS = ("image", "caption", "question", "answer")
log = logging.getLogger(__name__)


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


def ineligible_reason(rec: Record) -> str | None:
    """Why a seed cannot get a task-driven step, or None when it can."""
    if not _input(rec).strip():
        return "no separate input (meta.input) to repeat, paraphrase or translate"
    if rec.response is None:
        return "no response to answer with"
    if td.is_sequential_task(str(rec.meta.get("instruction", ""))):
        return "the instruction is already sequential (a step added to it would nest instructions)"
    return None


def eligibility(records: list[Record]) -> dict[str, Any]:
    """How many seeds are eligible, and the reasons the others are not (for the manifest and the warning)."""
    reasons: dict[str, int] = {}
    eligible = 0
    for r in records:
        why = ineligible_reason(r)
        if why is None:
            eligible += 1
        else:
            reasons[why] = reasons.get(why, 0) + 1
    return {"seeds": len(records), "eligible": eligible, "ineligible": reasons}


def plan_jobs(cfg: GenerateConfig, records: list[Record], rows_in: int | None = None) -> list[Job]:
    """Which seeds are converted (and into which language); eligible = has a separate, non-empty input, a
    response, and an instruction that is not already sequential.

    `rows_in`: rows in the seed file (records + rejects), for the parallel files' length check.
    """
    t = cfg.taskdriven
    rng = random.Random(f"{cfg.seed}:taskdriven")
    eligible = [i for i, r in enumerate(records) if ineligible_reason(r) is None]
    if "translate" in t.steps and t.parallel:
        return _parallel_jobs(cfg, records, rows_in)
    chosen = (
        sorted(rng.sample(eligible, min(len(eligible), t.max_items))) if t.max_items is not None else eligible
    )
    langs: dict[int, str] = {}
    if "translate" in t.steps:
        for k, i in enumerate(chosen):
            langs[i] = t.languages[k % len(t.languages)]
    keep = set(chosen)
    return [Job(r, i, i in keep, langs.get(i)) for i, r in enumerate(records)]


def _parallel_jobs(cfg: GenerateConfig, records: list[Record], rows_in: int | None) -> list[Job]:
    """Index-aligned parallel files: the seed file is not read again (each record knows its row index);
    each foreign file is read once through the records edge reader (a bad row there is never picked)."""
    t = cfg.taskdriven
    n_rows = rows_in if rows_in is not None else max((r.origin[2] for r in records if r.origin), default=0)
    english: list[dict[str, Any] | None] = [None] * n_rows
    position: dict[str, int] = {}
    for rec in records:
        if rec.origin is not None and rec.origin[2] <= n_rows:
            position[rec.id] = rec.origin[2] - 1
            english[rec.origin[2] - 1] = {"input": _input(rec)}
    foreign: dict[str, list[dict[str, Any] | None]] = {}
    for lang, path in t.parallel.items():
        reader = read_rows(path, lambda row, fmt: row)
        rows = [None if isinstance(got, Reject) else got.value for got in reader]
        if len(rows) != n_rows:
            raise DataError(
                f"{path}: {len(rows)} rows, but {cfg.data.path} has {n_rows}; parallel files must be index-aligned"
            )
        foreign[lang] = rows
    per_lang = t.per_language if t.per_language is not None else t.max_items
    picks = td.select_parallel(english, foreign, per_lang, random.Random(f"{cfg.seed}:parallel"))
    lang_of = {i: lang for lang, idx in picks.items() for i in idx}
    jobs = []
    for k, rec in enumerate(records):
        i = position.get(rec.id, -1)
        lang = lang_of.get(i) if ineligible_reason(rec) is None else None
        row = foreign[lang][i] if lang else None
        jobs.append(Job(rec, k, lang is not None, lang, row["input"] if row else None))
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
    cfg: GenerateConfig, run: Any, records: list[Record], done: dict[str, Any], progress: bool,
    rows_in: int | None = None,
) -> dict[str, int]:
    jobs = plan_jobs(cfg, records, rows_in)
    run.manifest["taskdriven"] = found = eligibility(records)
    if records and not any(j.convert for j in jobs):
        why = "; ".join(f"{n} x {reason}" for reason, n in found["ineligible"].items()) or "none selected"
        log.warning("task-driven: no eligible seed among %d (%s): no sequential records will be made",
                    len(records), why)
    todo = [j for j in jobs if j.record.id not in done]
    need = needs_teacher(cfg) and any(j.convert for j in todo)  # else no teacher is opened at all
    s = JobSettings(cfg.taskdriven.steps, cfg.seed, cfg.respond.max_tokens)
    await drive_seeds(cfg, run, todo, lambda job, t, tick: run_job(job, t, s, tick), progress, teacher_needed=need)
    return {j.record.id: j.index for j in jobs}


def plan_taskdriven(cfg: GenerateConfig, records: list[Record], max_prompts: int, rows_in: int | None = None) -> Plan:
    jobs = [j for j in plan_jobs(cfg, records, rows_in) if j.convert]
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


def parse_caption_row(row: dict[str, Any], fmt: str | None = None) -> dict[str, str]:
    """One caption row -> its four text fields; a RowError names the first missing or empty one."""
    for f in CAPTION_FIELDS:
        v = row.get(f)
        if not isinstance(v, str):
            raise RowError(f, f"field {f!r} is missing or empty")
        if problem := blank_problem(v):
            raise RowError(f, f"field {f!r} {problem}")
    return {f: row[f] for f in CAPTION_FIELDS}


def read_caption_rows(
    path: str | Path, limit: int | None
) -> tuple[list[tuple[str, dict[str, str]]], list[dict[str, Any]]]:
    """(id, row) for good rows and reject rows naming file:line and field for bad ones (records edge reader)."""
    good, bad = [], []
    for got in read_rows(path, parse_caption_row, limit=limit, id_of=lambda row, value: row_id(row, ("id",))):
        if isinstance(got, Reject):
            bad.append({**got.to_json(), "detail": {"dropped": True}})
        else:
            good.append((got.id, got.value))
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
