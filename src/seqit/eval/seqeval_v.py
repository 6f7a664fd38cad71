"""The `seqit eval` task `seqeval_v`: SeqEval-V items (a version name or an items file) answered by the
evaluated model (or read from earlier outputs) and scored exactly, per step, by seqit.chains.

    seqit eval configs/eval/seqeval-v.yaml model.model=runs/train/model
    seqit eval configs/eval/seqeval-v.yaml rendering=both self_conditioning=[1,2]   # side by side + probe

`rendering`: `single` (default; every chain is one prompt), `multiturn` (each step its own user turn,
the model answers every turn before the next is sent) or `both` (side by side under `renderings`).
`self_conditioning: [k, ...]`: the same chains with the right results pre-filled as assistant turns up
to step k, once with step k's result replaced by a wrong one, and the model answering step k+1;
`horizon.self_conditioning` compares step k+1's accuracy in the two contexts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from seqit.chains.sampling import Chain
from seqit.chains.seqeval_v import (
    MULTITURN_VERSION,
    load_benchmark,
    multiturn_output,
    multiturn_user_turns,
    probe_history,
    probe_verdict,
    prompt_of,
    score_outputs,
    score_samples,
)
from seqit.errors import ConfigError
from seqit.eval.items import EvalItem, load_outputs
from seqit.eval.metrics import chain_rate_cis, horizon_metrics, self_conditioning_summary
from seqit.jsonl import write_jsonl

RENDERINGS = ("single", "multiturn", "both")


def run_task(cfg: Any, run: Any) -> dict[str, Any]:
    """The `seqit eval` task `seqeval_v` (an entry in seqit.eval.run.TASKS): cfg.data = version or
    items file; answers from cfg.outputs (run dir or file, aligned by id, single rendering only) or
    generated with cfg.model. Writes samples.jsonl (+ samples-multiturn.jsonl when both renderings run,
    samples-self-conditioning.jsonl for the probe), returns the results dict."""
    rendering = getattr(cfg, "rendering", "single")
    ks = sorted(set(getattr(cfg, "self_conditioning", None) or []))
    check_options(rendering, ks, bool(cfg.outputs))
    items = load_benchmark(cfg.data)
    if cfg.limit is not None:
        items = limit_by_depth(items, cfg.limit)
    want = ("single", "multiturn") if rendering == "both" else (rendering,)
    if cfg.outputs:
        ids = {it["id"] for it in items}
        gen = {"single": {k: v for k, v in load_outputs(cfg.outputs).items() if k in ids}}
        turns: dict[str, list[dict[str, Any]]] = {}
        probes: list[dict[str, Any]] = []
    else:
        gen, turns, probes = generate_all(cfg, run, items, want, ks)
    boot = (getattr(cfg, "bootstrap_samples", 1000), getattr(cfg, "seed", 0))
    scored = {name: _scored(items, gen[name], turns if name == "multiturn" else None, *boot) for name in want}
    primary = want[0]
    for name, (rows, _) in scored.items():
        write_jsonl(run.file("samples.jsonl" if name == primary else f"samples-{name}.jsonl"), rows)
    run.add_counts(items=len(items), missing=len(items) - len(gen[primary]))
    results = {**scored[primary][1], "benchmark": cfg.data or "v1", "rendering": primary}
    if rendering == "both":
        results["renderings"] = {name: {k: res[k] for k in ("n_missing", "metrics", "horizon")}
                                 for name, (_, res) in scored.items()}
        results["multiturn_version"] = MULTITURN_VERSION
    elif rendering == "multiturn":
        results["multiturn_version"] = MULTITURN_VERSION
    if ks:
        write_jsonl(run.file("samples-self-conditioning.jsonl"), probes)
        run_rows = scored["multiturn" if "multiturn" in scored else primary][0]
        results["horizon"]["self_conditioning"] = {
            "rendering": "multiturn", "run_rendering": "multiturn" if "multiturn" in scored else primary,
            "by_k": self_conditioning_summary(probes, run_rows)}
    return results


def check_options(rendering: str, ks: list[int], have_outputs: bool) -> None:
    if rendering not in RENDERINGS:
        raise ConfigError(f"rendering: unknown rendering {rendering!r} (known: {', '.join(RENDERINGS)})")
    if any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ks):
        raise ConfigError(f"self_conditioning: expected step numbers >= 1 (the step whose result is made wrong), got {ks}")
    if have_outputs and (rendering != "single" or ks):
        raise ConfigError("outputs: precomputed outputs are single-prompt answers; rendering multiturn/both and "
                          "self_conditioning need the model in the loop (drop outputs= or use rendering=single)")


def _scored(items: list[dict[str, Any]], texts: dict[str, str], turns: dict[str, list[dict[str, Any]]] | None,
            n_resamples: int = 1000, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = score_samples(items, texts)
    if turns is not None:
        for r in rows:
            r["rendering"] = "multiturn"
            r["turns"] = [t.get("output") for t in turns.get(r["id"], [])]
    res = score_outputs(items, texts)
    res["metrics"]["overall"].update(chain_rate_cis(rows, n_resamples, seed))
    for depth, m in res["metrics"]["by_iteration"].items():
        m.update(chain_rate_cis([r for r in rows if str(r["depth"]) == depth], n_resamples, seed))
    res["horizon"] = horizon_metrics(rows)
    return rows, res


def generate_all(cfg: Any, run: Any, items: list[dict[str, Any]], want: tuple[str, ...],
                 ks: list[int]) -> tuple[dict[str, dict[str, str]], dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """All generations in one model session: single-prompt answers, multi-turn conversations (model in
    the loop) and self-conditioning probes, each through seqit.progress.drive (a window of coroutines,
    no barrier) with a progress line. Cached in the run's model ledger (a rerun re-sends nothing that
    finished); the template check and usage go to the manifest."""
    from seqit.eval.generation import (
        check_template,
        converse,
        generating_answerer,
        meta_stop_strings,
        read_checkpoint_meta,
    )
    from seqit.teachers import open_teacher

    template = check_template(cfg.model, cfg.generation.allow_template_mismatch)
    stop = meta_stop_strings(read_checkpoint_meta(cfg.model))
    chains = {it["id"]: Chain.from_dict(it["meta"]["chain"]) for it in items}
    window = 4 * cfg.model.max_concurrency

    async def go() -> tuple[Any, Any, Any, Any]:
        async with open_teacher(cfg.model, ledger_path=run.file("ledger-model.sqlite")) as model:
            gen: dict[str, dict[str, str]] = {}
            turns: dict[str, list[dict[str, Any]]] = {}
            if "single" in want:
                answer = generating_answerer(model, cfg.generation, stop)

                async def single(it: dict[str, Any]) -> tuple[str, Any]:
                    ev = EvalItem(it["id"], tuple(prompt_of(it)), it["meta"]["depth"], it["meta"])
                    return it["id"], (await answer(ev)).get("output")

                outs = await _drive_all("generate", items, single, window)
                gen["single"] = {i: o for i, o in outs.items() if o is not None}
            if "multiturn" in want:

                async def conversation(cid: str) -> tuple[str, Any]:
                    return cid, await converse(model, f"{cid}:mt", multiturn_user_turns(chains[cid]), cfg.generation, stop)

                turns = await _drive_all("multi-turn", list(chains), conversation, window)
                gen["multiturn"] = {i: multiturn_output([t.get("output") for t in conv])
                                    for i, conv in turns.items() if conv and conv[0].get("output") is not None}
            probes = await _probe(model, chains, ks, cfg.generation, stop, converse, window)
            return gen, turns, probes, model.usage_summary()

    gen, turns, probes, usage = asyncio.run(go())
    run.record_usage("model", usage)
    run.manifest["template_check"] = template
    return gen, turns, probes


async def _drive_all(label: str, jobs: list[Any], worker: Any, window: int) -> dict[Any, Any]:
    """{key: value} from `worker(job) -> (key, value)` over every job (completion order; callers key by id)."""
    from seqit.progress import drive, progress

    done: dict[Any, Any] = {}
    with progress(label, len(jobs), enabled=bool(jobs)) as bar:
        async for key, value in drive(jobs, worker, window):
            done[key] = value
            bar.advance()
    return done


async def _probe(model: Any, chains: dict[str, Chain], ks: list[int], gen: Any, stop: tuple[str, ...],
                 converse: Any, window: int) -> list[dict[str, Any]]:
    jobs = []
    for k in ks:
        for cid, chain in chains.items():
            if len(chain.steps) <= k:
                continue
            for inject in (False, True):
                history = probe_history(chain, k, inject)
                if history is not None:
                    jobs.append((cid, chain, k, inject, history))

    async def one(job: tuple[int, tuple[str, Chain, int, bool, list[dict[str, str]]]]) -> tuple[int, dict[str, Any]]:
        n, (cid, chain, k, inject, history) = job
        tag = "injected" if inject else "clean"
        (fields,) = await converse(model, f"{cid}:sc{k}:{tag}", [history[-1]["content"]], gen, stop, history[:-1])
        return n, {"id": cid, "k": k, "context": tag, "output": fields.get("output"),
                   **probe_verdict(chain, k, inject, fields.get("output"))}

    done = await _drive_all("self-conditioning", list(enumerate(jobs)), one, window)
    return [done[n] for n in sorted(done)]  # job order: samples-self-conditioning.jsonl is deterministic


def limit_by_depth(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """`limit` items spread evenly over chain depths (round-robin, each depth in file order), returned in
    file order. The benchmark file is sorted by depth, so its first N items would all be depth 1."""
    by_depth: dict[Any, list[int]] = {}
    for i, it in enumerate(items):
        by_depth.setdefault(it["meta"]["depth"], []).append(i)
    queues = [by_depth[d] for d in sorted(by_depth)]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(limit, len(items)):
        for q in queues:
            if rank < len(q) and len(picked) < limit:
                picked.append(q[rank])
        rank += 1
    return [items[i] for i in sorted(picked)]
