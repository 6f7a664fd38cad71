"""`run_train(cfg) -> Path`: response-only SFT over phases with an explicit accelerate loop.

    cfg = load_config(TrainConfig, "configs/train/tiny-cpu.yaml", ["model.path=/tmp/tiny"])
    model_dir = run_train(cfg)       # single process, or under `accelerate launch` / torchrun

Why an explicit loop and not Trainer/SFTTrainer: the three properties seqit guarantees (loss
normalised by the trained tokens of the whole optimizer step across processes, packing with a
per-step plan that resumes at the exact data position, and phases with optimizer/schedule reset or
carry) each fight the Trainer's own sampler, loss scaling and scheduler. Here they are ~150 lines.

Run dir (cfg.out_dir): config.yaml, manifest.json, preflight.md/json, metrics.jsonl,
checkpoints/step-NNNNNNN/ (accelerate state + state.json), <phase>/ HF model per phase end,
model/ final HF model + meta.json.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.errors import SeqitError, require
from seqit.jsonl import JsonlWriter, write_json_atomic
from seqit.progress import progress
from seqit.templates import install_template
from seqit.train import checkpoint as ckpt
from seqit.train.attention import VARLEN
from seqit.train.config import TrainConfig
from seqit.train.data import PhaseData, encode_phase, plan_line, preflight_markdown, truncation_refusal
from seqit.train.encode import stop_strings
from seqit.train.model import export_model, load_model, load_tokenizer, make_optimizer, stop_token_ids
from seqit.train.pack import IGNORE, Row, build_row
from seqit.train.plan import Step, cut_to_max_steps, lr_at, plan_phase, rank_micro_batches, schedule_groups

log = logging.getLogger(__name__)


def run_train(cfg: TrainConfig, dry_run: bool = False, argv: list[str] | None = None) -> Path:
    """Train `cfg.phases` in order; returns the final HF model dir (the run dir on --dry-run)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from seqit.runs import start_run

    for tracker in cfg.report_to:  # lazy, optional: fail before any work if the package is missing
        require(tracker, "tracking", f"report_to: {tracker}")
    acc = Accelerator(
        cpu=_no_cuda(), mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.batch.grad_accum,
        log_with=list(cfg.report_to) or None, project_dir=str(cfg.out_dir),
    )
    set_seed(cfg.seed)
    out = Path(cfg.out_dir)
    run = start_run(out, cfg, "train", {f"phase{k}": p.data for k, p in enumerate(cfg.phases)}, argv) \
        if acc.is_main_process else None
    tok = load_tokenizer(cfg.model)
    t_hash = install_template(tok, cfg.model.template)
    stops = stop_strings(tok, cfg.model.template)
    stop_ids = stop_token_ids(tok, stops)
    phases = [
        encode_phase(tok, cfg.phase_name(k), p.data, p.format, cfg.batch.max_seq_len, stops, cfg.limit,
                     show_progress=acc.is_main_process, truncation=cfg.batch.truncation)
        for k, p in enumerate(cfg.phases)
    ]
    planned = [_plan(cfg, k, ph, acc.num_processes) for k, ph in enumerate(phases)]
    plans = cut_to_max_steps(planned, cfg.max_steps)  # what runs: the schedule, bar and meta.json follow it
    if acc.is_main_process:
        _write_preflight(out, phases, cfg, t_hash, planned, plans)
    refusal = truncation_refusal(phases, cfg.batch.max_seq_len) if cfg.batch.truncation == "refuse" else None
    if dry_run or refusal:
        if run is not None:
            run.finish(counts={f"{p.name}.examples": p.stats["examples"] for p in phases}, dry_run=dry_run,
                       status="failed" if refusal else "finished")
        if refusal:
            raise SeqitError(refusal)
        return out
    groups = schedule_groups(
        [len(p) for p in plans], [p.lr or cfg.optim.lr for p in cfg.phases], [p.schedule == "carry" for p in cfg.phases]
    )
    if acc.state.deepspeed_plugin is not None:  # no dataloader is prepared, so DeepSpeed needs the size here
        acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.batch.micro_batch_rows
    model = load_model(cfg.model, cfg.method, cfg.lora, len(tok))
    opt = make_optimizer(model, cfg.optim)
    model, opt = acc.prepare(model, opt)
    if cfg.report_to:
        acc.init_trackers("seqit-train", config={"out_dir": str(out)})
    fingerprint = _fingerprint(cfg, t_hash, acc.num_processes, sum(len(p) for p in plans))
    ckpt.register_hooks(acc, adapter=cfg.method != "full")
    state = ckpt.resume(acc, out, fingerprint, adapter=cfg.method != "full") or ckpt.TrainState(fingerprint=fingerprint)
    if acc.is_main_process:
        ckpt.trim_metrics(out / "metrics.jsonl", state.global_step)
    metrics = JsonlWriter(out / "metrics.jsonl") if acc.is_main_process else None
    step_settings = StepSettings(cfg.batch.grad_accum, cfg.batch.micro_batch_rows, cfg.optim.max_grad_norm,
                                 cfg.model.attn_implementation in VARLEN, tok.pad_token_id)
    phase_info = state.phases
    last = max(k for k, p in enumerate(plans) if p)  # phases after it are cut by max_steps
    with _progress(acc, sum(len(p) for p in plans), state.global_step) as bar:
        for k, ph in enumerate(phases[: last + 1]):
            if k < state.phase:
                continue
            if state.step_in_phase == 0 and k > 0 and cfg.phases[k].optimizer == "reset":
                opt.state.clear()  # fresh AdamW moments; weights carry over (the reference's stage chaining)
            while state.step_in_phase < len(plans[k]):
                lr = lr_at(state.global_step, groups, cfg.optim.schedule, cfg.optim.warmup_ratio)
                row = _train_step(acc, model, opt, plans[k][state.step_in_phase], ph, step_settings, lr)
                state.advance(row["tokens"], row["trained_tokens"])
                row.update(step=state.global_step, phase=ph.name, phase_step=state.step_in_phase, lr=lr,
                           time=round(time.time(), 3))
                _log_metrics(acc, metrics, row, cfg, state, len(plans[k]))
                bar(ph.name, row)
                if cfg.save_every_steps and state.global_step % cfg.save_every_steps == 0:
                    ckpt.save(acc, out, state, cfg.keep_last)
            info = {"name": ph.name, "data": ph.path, "steps": len(plans[k]), "tokens_seen_end": state.tokens_seen,
                    **({"planned_steps": len(planned[k])} if len(plans[k]) < len(planned[k]) else {}),
                    **_phase_meta(cfg, k, ph)}
            phase_info = [*[p for p in phase_info if p["name"] != ph.name], info]
            state.phases = phase_info
            state.phase, state.step_in_phase = k + 1, 0
            if cfg.save_phase_models and k < last:
                d = export_model(acc, model, tok, out / ph.name, cfg.method != "full", merge=False, stop_ids=stop_ids)
                info["model_dir"] = str(d)
                _write_meta(acc, d, cfg, t_hash, stops, state, phase_info, adapter=cfg.method != "full")
            ckpt.save(acc, out, state, cfg.keep_last)
    final = export_model(acc, model, tok, out / "model", cfg.method != "full", merge=cfg.lora.merge_on_save,
                         stop_ids=stop_ids)
    _write_meta(acc, final, cfg, t_hash, stops, state, phase_info,
                adapter=cfg.method != "full" and not cfg.lora.merge_on_save, cut=max_steps_cut(cfg, planned, plans))
    acc.end_training()
    if run is not None:
        disk = ckpt.disk_usage(out, [p["name"] for p in phase_info])
        log.info("%s", ckpt.disk_line(disk))
        run.finish(counts={"steps": state.global_step, "tokens_seen": state.tokens_seen,
                           "trained_tokens": state.trained_tokens}, model_dir=str(final),
                   max_steps_cut=max_steps_cut(cfg, planned, plans), disk=disk)
    return final


def _fingerprint(cfg: TrainConfig, t_hash: str, world: int, steps: int) -> str:
    """What the step plan depends on; resuming with a different one would misplace the data position. `steps`
    (the plan's steps that run) stands for max_steps: the schedule is sized to it, a max_steps past the plan
    changes nothing."""
    import hashlib
    import json

    from seqit.config import to_dict
    from seqit.runs import sha256_file

    plan_cfg = {k: v for k, v in to_dict(cfg).items() if k not in ("out_dir", "max_steps", "save_every_steps",
                                                                  "keep_last", "log_every_steps", "report_to")}
    data = [sha256_file(p.data) if Path(p.data).exists() else p.data for p in cfg.phases]
    blob = json.dumps([plan_cfg, data, t_hash, world, steps], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def max_steps_cut(cfg: TrainConfig, planned: list[list[Step]], plans: list[list[Step]]) -> dict | None:
    """What max_steps cut from the plan (for meta.json, the manifest and the log), or None when nothing."""
    total, kept = sum(len(p) for p in planned), sum(len(p) for p in plans)
    if kept == total:
        return None
    return {"max_steps": cfg.max_steps, "steps": kept, "planned_steps": total,
            "phases_cut": [cfg.phase_name(k) for k, (a, b) in enumerate(zip(planned, plans, strict=True))
                           if len(b) < len(a)],
            "phases_not_trained": [cfg.phase_name(k) for k, p in enumerate(plans) if not p]}


@contextmanager
def _progress(acc: Any, total: int, done: int) -> Iterator[Callable[[str, dict], None]]:
    """Steps, rate, ETA, phase, loss and tokens/s on the main process (a bar, or status lines in a log)."""
    with progress("train", total, {"loss": "", "tok/s": ""}, enabled=acc.is_main_process, done=done) as bar:

        def update(phase: str, row: dict) -> None:
            bar.advance(label=phase, loss=f"{row['loss']:.4f}", **{"tok/s": f"{row['tokens_per_s']:.0f}"})

        yield update


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


def _plan(cfg: TrainConfig, k: int, ph: PhaseData, world: int) -> list[Step]:
    p, b = cfg.phases[k], cfg.batch
    return plan_phase(
        [len(x) for x, _ in ph.examples], seed=cfg.seed, phase=k, epochs=p.epochs, shuffle=p.shuffle,
        packing=b.packing, row_len=cfg.row_len, window=b.pack_window,
        rows_per_step=world * b.grad_accum * b.micro_batch_rows, length_bucket=b.length_bucket,
    )


@dataclass(frozen=True)
class StepSettings:
    """What one optimizer step needs to know (the values, not the config)."""

    grad_accum: int
    micro_batch_rows: int
    max_grad_norm: float | None
    varlen: bool  # flatten each micro-batch into one padding-free sequence (seqit_varlen / flash-attention)
    pad_id: int


def _train_step(acc: Any, model: Any, opt: Any, step: Step, ph: PhaseData, s: StepSettings, lr: float) -> dict:
    """One optimizer step: loss = sum of token CE over the step / trained tokens in the *global* step."""
    import torch

    t0 = time.perf_counter()
    for g in opt.param_groups:
        g["lr"] = lr
    n_global = sum(ph.n_trained[i] for b in step.bins for i in b)
    scale = acc.num_processes * s.grad_accum / max(1, n_global)  # undo DDP mean + accelerate's /ga
    pad = s.pad_id
    ce_sum = torch.zeros((), device=acc.device)
    real = processed = 0
    micro = rank_micro_batches(step, acc.process_index, acc.num_processes, s.grad_accum, s.micro_batch_rows)
    for bins in micro:
        rows = [build_row([ph.examples[i] for i in b], pad) for b in bins] or [Row([pad], [0], [IGNORE], 0, 0)]
        with acc.accumulate(model):
            loss_sum, n_pos = _micro_loss(acc, model, rows, pad, s.varlen)
            acc.backward(loss_sum * scale)
            ce_sum += loss_sum.detach()
            real += sum(r.n_real for r in rows)
            processed += n_pos
            if acc.sync_gradients:
                norm = acc.clip_grad_norm_(model.parameters(), s.max_grad_norm or float("inf"))
                norm = float("nan") if norm is None else norm  # DeepSpeed clips inside its engine
                opt.step()
                opt.zero_grad(set_to_none=True)
    stats = torch.tensor([ce_sum.item(), real, processed], dtype=torch.float64, device=acc.device)
    stats = acc.reduce(stats, "sum")
    return {
        "loss": stats[0].item() / max(1, n_global), "grad_norm": float(norm), "tokens": int(stats[1].item()),
        "trained_tokens": n_global, "padding_frac": round(1 - stats[1].item() / max(1.0, stats[2].item()), 4),
        "seconds": time.perf_counter() - t0,
    }


def _micro_loss(acc: Any, model: Any, rows: list[Row], pad: int, varlen: bool) -> tuple[Any, int]:
    """Summed CE of one micro-batch; logits only at target positions (saves the vocab-size matmul).

    varlen: the rows are flattened into one padding-free sequence with example boundaries passed as
    cu_seq_lens (seqit_varlen / flash-attention). Otherwise rows are padded into a batch and
    transformers derives a block-diagonal mask from the restarting position_ids (sdpa / eager).
    """
    import torch
    import torch.nn.functional as F

    kwargs: dict[str, Any] = {}
    if varlen:
        flat = build_row([(r.input_ids, r.targets) for r in rows], pad)
        flat.position_ids = [p for r in rows for p in r.position_ids]
        starts = [i for i, p in enumerate(flat.position_ids) if p == 0] + [len(flat.position_ids)]
        cu = torch.tensor(starts, dtype=torch.int32, device=acc.device)
        longest = max(b - a for a, b in zip(starts[:-1], starts[1:], strict=True))
        kwargs = {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}
        padded = rows = [flat]
    else:
        width = max(len(r.input_ids) for r in rows)
        padded = [build_row([(r.input_ids, r.targets)], pad, width) if len(r.input_ids) < width else r for r in rows]
    ids = torch.tensor([r.input_ids for r in padded], device=acc.device)
    tgt = torch.tensor([r.targets for r in padded], device=acc.device)
    pos = torch.tensor([_positions(r, rows[i]) for i, r in enumerate(padded)], device=acc.device)
    keep = (tgt != IGNORE).any(0).nonzero().squeeze(1)
    if keep.numel() == 0:
        keep = torch.zeros(1, dtype=torch.long, device=acc.device)
    with acc.autocast():
        logits = model(input_ids=ids, position_ids=pos, use_cache=False, logits_to_keep=keep, **kwargs).logits
    loss = F.cross_entropy(logits.float().flatten(0, 1), tgt[:, keep].flatten(), ignore_index=IGNORE, reduction="sum")
    return loss, ids.numel()


def _positions(padded: Row, original: Row) -> list[int]:
    """Row positions with the tail padding continuing the last segment. Padding sits at the end of a
    causal row, so no real token attends to it and it has no targets: it changes no loss. Counting on
    (instead of restarting at 0 as its own segment) keeps a one-example row's positions a plain
    0..n-1, so transformers takes sdpa's causal fast path instead of building a block mask (5% of a
    micro-world step, benchmarks/quickstart_train.py).

    >>> _positions(Row([1, 2, 0, 0], [0, 0, 0, 0], [], 2, 2), Row([1, 2], [0, 1], [], 2, 2))
    [0, 1, 2, 3]
    """
    n = len(original.position_ids)
    last = original.position_ids[-1] if n else -1
    return original.position_ids + list(range(last + 1, last + 1 + len(padded.input_ids) - n))


def _log_metrics(acc: Any, metrics: JsonlWriter | None, row: dict, cfg: TrainConfig, state: Any, n_steps: int) -> None:
    row["tokens_per_s"] = round(row["tokens"] / max(row.pop("seconds"), 1e-9), 1)
    if acc.is_main_process and (state.global_step % cfg.log_every_steps == 0 or state.step_in_phase == n_steps):
        metrics.write({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        log.debug("step %(step)d %(phase)s loss %(loss).4f lr %(lr).2e", row)
    if cfg.report_to:
        acc.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=state.global_step)


def _phase_meta(cfg: TrainConfig, k: int, ph: PhaseData) -> dict:
    from seqit.runs import sha256_file

    p = cfg.phases[k]
    path = Path(p.data)
    return {
        "data_sha256": sha256_file(path) if path.exists() else None, "epochs": p.epochs,
        "lr": p.lr or cfg.optim.lr, "optimizer": p.optimizer, "schedule": p.schedule, **ph.stats,
    }


def _write_preflight(out: Path, phases: list[PhaseData], cfg: TrainConfig, t_hash: str,
                     planned: list[list[Step]], plans: list[list[Step]]) -> None:
    steps = [(len(a), len(b)) for a, b in zip(planned, plans, strict=True)]
    text = preflight_markdown(phases, cfg.model.template or "tokenizer", t_hash, cfg.batch.max_seq_len,
                              steps, cfg.max_steps)
    (out / "preflight.md").write_text(text, encoding="utf-8")
    write_json_atomic(out / "preflight.json", {"template_hash": t_hash, "max_steps": cfg.max_steps, "phases": [
        {"name": p.name, "data": p.path, **p.stats, "planned_steps": n, "steps": m, "samples": p.samples}
        for p, (n, m) in zip(phases, steps, strict=True)]})
    for p in phases:
        s = p.stats
        log.info("preflight %s: %d kept, %d dropped (no trained token %d, response truncated away %d), "
                 "%d truncated; mean length %.0f, max %d", p.name, s["examples"], s["dropped"],
                 s["no_trained_token"], s["response_truncated_away"], s["truncated_kept"], s["length_mean"],
                 s["length_max"])
    log.info("%s", plan_line(steps, [p.name for p in phases], cfg.max_steps))
    log.info("preflight report: %s", out / "preflight.md")


def _write_meta(acc: Any, model_dir: Path, cfg: TrainConfig, t_hash: str, stops: list[str], state: Any,
                phases: list[dict], adapter: bool, cut: dict | None = None) -> None:
    from seqit import __version__
    from seqit.config import to_dict

    if not acc.is_main_process:
        return
    write_json_atomic(model_dir / "meta.json", {
        "seqit_version": __version__,
        "base_model": cfg.model.path,
        "method": cfg.method,
        "adapter": adapter,
        "template": cfg.model.template or "tokenizer",
        "template_hash": t_hash,
        "stop_strings": stops,
        "max_seq_len": cfg.batch.max_seq_len,
        "phases": phases,
        "steps": state.global_step,
        "max_steps_cut": cut,
        "tokens_seen": state.tokens_seen,
        "trained_tokens": state.trained_tokens,
        "world_size": acc.num_processes,
        "config": to_dict(cfg),
    })
