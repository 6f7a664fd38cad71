"""`seqit eval CONFIG`: evaluate a model; writes samples.jsonl + results.json + manifest.json.

    seqit eval configs/eval/seqeval.yaml model.model=runs/train/model judge.model=gpt-4o

A task is one function `(cfg, run) -> results dict` plus one entry in TASKS (and, if it needs
options, one config section). The function writes samples.jsonl itself; run_eval writes
results.json and finishes the manifest. Rerunning the same command resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.config import InputPath, LocalOrName
from seqit.errors import SeqitError
from seqit.eval.generation import (
    GenerationConfig,
    check_template,
    generating_answerer,
    generation_request,
    meta_stop_strings,
    precomputed_answerer,
    read_checkpoint_meta,
)
from seqit.eval.items import EvalItem, check_alignment, load_outputs, read_items
from seqit.eval.judging import JudgingConfig
from seqit.eval.lmeval_bridge import LmEvalConfig, run_lm_eval
from seqit.eval.metrics import summarize_pairwise, summarize_seqeval
from seqit.eval.multilingual import MultilingualConfig
from seqit.eval.pairwise import pairwise_sample
from seqit.eval.seqeval import FINAL_STATUSES, seqeval_sample
from seqit.eval.seqeval_v import run_task
from seqit.eval.verdict import SEQEVAL_PROMPT_VERSION, build_judge_messages
from seqit.eval.winrate import PAIRWISE_PROMPT_VERSION, build_pair_messages
from seqit.jsonl import JsonlWriter, read_jsonl, write_json_atomic, write_jsonl
from seqit.progress import drive, progress
from seqit.runs import Run, start_run
from seqit.teachers import TeacherConfig, estimate_cost, open_teacher
from seqit.teachers.types import model_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    task: str = "seqeval"  # seqeval | pairwise | lm_eval | seqeval_v
    out_dir: Path = Path("runs/eval")
    data: LocalOrName | None = None  # benchmark: .json/.jsonl/.parquet path, hf:owner/name[:split] or a version
    model: TeacherConfig = field(default_factory=TeacherConfig)  # the model under evaluation
    outputs: InputPath | None = None  # judge these outputs (eval run dir or file) instead of generating
    reference: InputPath | None = None  # pairwise: the reference model's outputs (eval run dir or file)
    judge: TeacherConfig = field(default_factory=TeacherConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    judging: JudgingConfig = field(default_factory=JudgingConfig)
    lm_eval: LmEvalConfig = field(default_factory=LmEvalConfig)
    bootstrap_samples: int = 1000  # resamples for the 95% CIs
    seed: int = 0
    limit: int | None = None  # evaluate only the first N items
    rendering: str = "single"  # seqeval_v: single | multiturn (one user turn per step) | both (side by side)
    self_conditioning: list[int] = field(default_factory=list)  # seqeval_v: inject a wrong step-k result, k in list
    multilingual: MultilingualConfig = field(default_factory=MultilingualConfig)  # xquad / mgsm options

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task: unknown task {self.task!r} (known: {', '.join(TASKS)})")
        if self.task in JUDGED and not self.data:
            raise ValueError(f"data: task {self.task!r} needs a benchmark (a path or hf:owner/name)")
        if self.task in ("xquad", "mgsm") and not self.data:
            raise ValueError(f"data: task {self.task!r} needs the directory of its files (reference layout, docs/eval.md)")
        if self.task == "pairwise" and not self.reference:
            raise ValueError("reference: task 'pairwise' needs the reference outputs (an eval run dir or a file)")
        if self.task == "lm_eval" and self.model.backend != "hf":
            raise ValueError(f"model.backend: lm_eval tasks run a local checkpoint with backend 'hf' (got {self.model.backend!r})")
        if self.bootstrap_samples < 1:
            raise ValueError("bootstrap_samples must be >= 1")


def run_eval(cfg: EvalConfig, argv: list[str] | None = None) -> Path:
    """Run the configured evaluation task; returns the run dir."""
    plan = plan_eval(cfg)  # every input check (data, alignment, template) before the run dir exists
    inputs = {k: v for k, v in {"data": cfg.data, "outputs": cfg.outputs, "reference": cfg.reference}.items() if v}
    with start_run(cfg.out_dir, cfg, command="eval", inputs=inputs, argv=argv) as run:
        if "generation_estimate" in plan:
            run.manifest["generation_estimate"] = plan["generation_estimate"]
        results = TASKS[cfg.task](cfg, run)
        results = {"task": cfg.task, "model": _model_name(cfg), **results}
        fake = fake_roles(cfg)
        if fake:  # a smoke result must never pass for a real one
            results["fake"] = run.manifest["fake"] = fake
        write_json_atomic(run.file("results.json"), results)
        return run.finish()


def _model_name(cfg: EvalConfig) -> str:
    return f"outputs:{cfg.outputs}" if cfg.outputs else model_label(cfg.model)


def fake_roles(cfg: EvalConfig) -> list[str]:
    """Which of the run's LLMs are the scripted fake backend ("model", "judge"); [] for a real run."""
    roles = [] if cfg.outputs else [("model", cfg.model)]
    if cfg.task in JUDGED:
        roles.append(("judge", cfg.judge))
    return [role for role, t in roles if t.backend == "fake"]


# ---------------------------------------------------------------------------------------------
# Judged tasks: seqeval and pairwise share the loading, resume and teacher plumbing


@dataclass
class Prepared:
    items: list[EvalItem]  # after --limit
    outputs: dict[str, str] | None  # precomputed model outputs, aligned
    reference: dict[str, str] | None  # pairwise reference outputs, aligned
    template: dict[str, Any] | None
    stop: tuple[str, ...] = ()  # end-of-turn strings from the checkpoint's meta.json
    order: tuple[str, ...] = ()  # every benchmark id in file order (before --limit)
    rejects: tuple[Any, ...] = ()  # benchmark rows that are not items (records.Reject), kept out of the run
    rows_in: int = 0


def prepare(cfg: EvalConfig, warn: bool = True) -> Prepared:
    """Load items and outputs, check id alignment (on the full benchmark) and the chat template. `warn`: log
    the benchmark's rejected rows (run_eval's plan already did, so the task itself does not say it twice)."""
    assert cfg.data is not None
    loaded = read_items(cfg.data)
    items = loaded.items
    if loaded.rejects and warn:
        log.warning("%d of %d benchmark rows rejected (see rejects.jsonl), e.g. %s", len(loaded.rejects), loaded.rows_in,
                    loaded.rejects[0])
    ids = [i.id for i in items]
    outputs = reference = None
    if cfg.outputs:
        outputs = load_outputs(cfg.outputs)
        check_alignment(ids, outputs, f"outputs {cfg.outputs}")
    if cfg.reference:
        reference = load_outputs(cfg.reference)
        check_alignment(ids, reference, f"reference {cfg.reference}")
    template, stop = None, ()
    if outputs is None:
        template = check_template(cfg.model, cfg.generation.allow_template_mismatch)
        stop = meta_stop_strings(read_checkpoint_meta(cfg.model))
    if cfg.limit is not None:
        items = items[: cfg.limit]
    return Prepared(items, outputs, reference, template, stop, tuple(ids), tuple(loaded.rejects), loaded.rows_in)


def _write_rejects(run: Run, prep: Prepared) -> None:
    """Benchmark rows that are not items go to the run's rejects.jsonl (rebuilt each attempt) and the counts."""
    write_jsonl(run.file("rejects.jsonl"), (r.to_json() for r in prep.rejects))
    run.add_counts(rows_in=prep.rows_in, rejects=len(prep.rejects))


def latest_rows(path: Path, items: list[EvalItem]) -> list[dict[str, Any]]:
    """The last written row of each item (resumed runs append retried rows), in item order."""
    latest = {str(r["id"]): r for r in read_jsonl(path)}
    return [latest[i.id] for i in items if i.id in latest]


def compact_samples(path: Path, order: tuple[str, ...]) -> int:
    """Rewrite samples.jsonl atomically: the last row per id, in benchmark order.

    Rows are appended in completion order while the run is live (crash-safe, no barrier); at the
    end the file becomes deterministic (same inputs and replies -> byte-identical samples.jsonl),
    and rows superseded by a retry are dropped (the manifest keeps their counts).
    """
    latest = {str(r["id"]): r for r in read_jsonl(path)}
    rank = {rid: i for i, rid in enumerate(order)}
    ids = sorted(latest, key=lambda rid: (rank.get(rid, len(rank)), rid))
    return write_jsonl(path, (latest[rid] for rid in ids))


async def _judge_all(cfg: EvalConfig, run: Run, prep: Prepared, worker: Callable[..., Any]) -> dict[str, Any]:
    samples = run.file("samples.jsonl")
    done = {r["id"] for r in latest_rows(samples, prep.items) if r["status"] in FINAL_STATUSES}
    todo = [i for i in prep.items if i.id not in done]
    log.info("%d items, %d already judged, %d to do", len(prep.items), len(done), len(todo))
    async with AsyncExitStack() as stack:
        judge = await stack.enter_async_context(open_teacher(cfg.judge, ledger_path=run.file("ledger-judge.sqlite")))
        if prep.outputs is not None:
            answer = precomputed_answerer(prep.outputs)
            model = None
        else:
            model = await stack.enter_async_context(open_teacher(cfg.model, ledger_path=run.file("ledger-model.sqlite")))
            answer = generating_answerer(model, cfg.generation, prep.stop)
        window = 4 * max(cfg.judge.max_concurrency, cfg.model.max_concurrency)
        if "batch" in (cfg.judge.mode, cfg.model.mode):  # every item in flight: one provider batch per judging step
            window = max(1, len(todo))
        statuses: Counter[str] = Counter()
        with JsonlWriter(samples) as writer, progress(cfg.task, len(todo), {"failed": 0}, enabled=bool(todo)) as bar:
            async for row in drive(todo, lambda item: worker(item, answer, judge), window):
                writer.write(row)  # at once: a crash loses only the items in flight
                statuses[row["status"]] += 1
                bar.advance(failed=sum(v for k, v in statuses.items() if k != "ok"))
        compact_samples(samples, prep.order)
        run.record_usage("judge", judge.usage_summary())
        if model is not None:
            run.record_usage("model", model.usage_summary())
        auth = [f"{role}: {t.auth_error}" for role, t in (("judge", judge), ("model", model)) if t and t.auth_error]
    run.add_counts(items=len(prep.items), already_done=len(done), attempted=len(todo), **dict(statuses))
    if auth:  # nothing useful can happen until the key is fixed; finished items stay, rerun resumes
        run.manifest["stopped"] = "; ".join(auth)
        run.close("stopped")
        raise SeqitError(f"{'; '.join(auth)} — fix the key and rerun the same command to resume")
    return run.manifest["usage"]


def _record(run: Run, cfg: EvalConfig, prep: Prepared, usage: dict[str, Any]) -> dict[str, Any]:
    run.manifest["judge_model"] = model_label(cfg.judge)
    run.manifest["template_check"] = prep.template
    return {
        "judge": model_label(cfg.judge),
        "benchmark": cfg.data,
        "n_items": len(prep.items),
        "n_rejected": len(prep.rejects),
        "generation": None if prep.outputs is not None else {
            "max_new_tokens": cfg.generation.max_new_tokens, "temperature": cfg.generation.temperature,
            "top_p": cfg.generation.top_p, "seed": cfg.generation.seed, "stop": list(prep.stop)},
        "template_check": prep.template,
        "bootstrap": {"samples": cfg.bootstrap_samples, "seed": cfg.seed, "level": 0.95},
        "cost_usd": usage["total"].get("cost_usd", 0.0),  # every attempt of the run
    }


def eval_seqeval(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    prep = prepare(cfg, warn=False)
    _write_rejects(run, prep)

    async def worker(item: EvalItem, answer: Any, judge: Any) -> dict[str, Any]:
        return await seqeval_sample(item, answer, judge, cfg.judging)

    usage = asyncio.run(_judge_all(cfg, run, prep, worker))
    rows = latest_rows(run.file("samples.jsonl"), prep.items)
    metrics = summarize_seqeval(rows, cfg.bootstrap_samples, cfg.seed)
    return {"prompt_version": SEQEVAL_PROMPT_VERSION, **_record(run, cfg, prep, usage), "metrics": metrics}


def eval_pairwise(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    prep = prepare(cfg, warn=False)
    assert prep.reference is not None
    _write_rejects(run, prep)

    async def worker(item: EvalItem, answer: Any, judge: Any) -> dict[str, Any]:
        return await pairwise_sample(item, answer, prep.reference, judge, cfg.judging)

    usage = asyncio.run(_judge_all(cfg, run, prep, worker))
    rows = latest_rows(run.file("samples.jsonl"), prep.items)
    metrics = summarize_pairwise(rows, cfg.bootstrap_samples, cfg.seed)
    return {"prompt_version": PAIRWISE_PROMPT_VERSION, "reference": cfg.reference,
            **_record(run, cfg, prep, usage), "metrics": metrics}


def eval_lm_eval(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    template = check_template(cfg.model, cfg.generation.allow_template_mismatch)
    out = run_lm_eval(cfg.model, cfg.lm_eval, cfg.limit, cfg.seed, workdir=run.path)
    write_jsonl(run.file("samples.jsonl"), out.pop("samples"))
    run.manifest["template_check"] = template
    run.add_counts(**{f"samples.{k}": v for k, v in out["n_samples"].items()})
    return {"tasks": list(cfg.lm_eval.tasks), "template_check": template, **out}


def eval_seqeval_v(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    """SeqEval-V: judge-free, exact per-step scoring of chains (data: a version like v1, or an items file)."""
    return run_task(cfg, run)


def eval_xquad(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    """XQuAD from local files in the SIT reference layout, base and translate-then-answer modes, by language."""
    from seqit.eval.multilingual import run_xquad

    return run_xquad(cfg, run)


def eval_mgsm(cfg: EvalConfig, run: Run) -> dict[str, Any]:
    """MGSM from local files in the reference layout (mgsm_<lang>.tsv), cot-en and trans-cot modes, by language."""
    from seqit.eval.multilingual import run_mgsm

    return run_mgsm(cfg, run)


TASKS: dict[str, Callable[[EvalConfig, Run], dict[str, Any]]] = {
    "seqeval": eval_seqeval,
    "pairwise": eval_pairwise,
    "lm_eval": eval_lm_eval,
    "seqeval_v": eval_seqeval_v,
    "xquad": eval_xquad,
    "mgsm": eval_mgsm,
}
JUDGED = ("seqeval", "pairwise")


# ---------------------------------------------------------------------------------------------
# --dry-run: load and check everything, show the first prompts and a cost bound, send nothing


def plan_eval(cfg: EvalConfig) -> dict[str, Any]:
    """What `run_eval(cfg)` would do, without sending a request or writing a file."""
    plan: dict[str, Any] = {"task": cfg.task, "out_dir": str(cfg.out_dir), "model": _model_name(cfg)}
    if cfg.task not in JUDGED:
        plan["template_check"] = check_template(cfg.model, cfg.generation.allow_template_mismatch)
        return plan
    prep = prepare(cfg)
    first = prep.items[0]
    plan.update(items=len(prep.items), rejects=len(prep.rejects), template_check=prep.template, judge=cfg.judge.model)
    placeholder = "<the model's answer>"
    if prep.outputs is None:
        plan["first_generation_prompt"] = list(first.messages)
        requests = [generation_request(i, cfg.generation, prep.stop) for i in prep.items]
        plan["generation_estimate"] = estimate_cost(requests, cfg.model)
    answer = prep.outputs[first.id] if prep.outputs is not None else placeholder
    if cfg.task == "seqeval":
        plan["first_judge_prompt"] = build_judge_messages(first.instruction, answer)
    else:
        assert prep.reference is not None
        plan["first_judge_prompt"] = build_pair_messages(first.instruction, answer, prep.reference[first.id])
    return plan
