"""Checkpoints: accelerate state (model, optimizer, RNG) + our position (phase, step, tokens).

A checkpoint dir is written as `step-NNNNNNN.tmp` and renamed once `state.json` is in it, so a
kill -9 never leaves a half checkpoint that resume would pick up. It holds only what resume needs: for
LoRA/QLoRA the trainable (adapter) weights, not the frozen base model; weights tied to another (an LM head
tied to the embeddings) are stored once. `keep_last` newest checkpoints are kept.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import SeqitError
from seqit.jsonl import read_jsonl, write_json_atomic, write_jsonl

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    phase: int = 0  # index of the phase being (or about to be) trained
    step_in_phase: int = 0  # optimizer steps done in that phase
    global_step: int = 0
    tokens_seen: int = 0  # real (non-pad) tokens processed
    trained_tokens: int = 0  # tokens the loss covered
    phases: list[dict[str, Any]] = field(default_factory=list)  # finished phases' summaries
    fingerprint: str = ""  # hash of what the step plan depends on (config, data, template, processes)

    def advance(self, tokens: int, trained: int) -> None:
        self.step_in_phase += 1
        self.global_step += 1
        self.tokens_seen += tokens
        self.trained_tokens += trained


def checkpoints(out: Path) -> list[Path]:
    root = out / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")
                  and (p / "state.json").exists())


def register_hooks(acc: Any, adapter: bool) -> None:
    """Make accelerate's save_state store only what resume needs (see the module docstring)."""

    def keep_needed(models: list[Any], weights: list[dict[str, Any]], output_dir: str) -> None:
        for i, model in enumerate(models[: len(weights)]):
            weights[i] = needed_weights(model, weights[i], adapter)

    acc.register_save_state_pre_hook(keep_needed)


def needed_weights(model: Any, state_dict: dict[str, Any], adapter: bool) -> dict[str, Any]:
    """The part of `state_dict` a resume must restore: the trainable tensors when only an adapter trains, and
    each shared storage once (the first name keeps it; the loader re-ties the rest)."""
    if adapter:
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        state_dict = {k: v for k, v in state_dict.items() if k in trainable}
    seen: set[Any] = set()
    out = {}
    for k, v in state_dict.items():
        ptr = (v.untyped_storage().data_ptr(), v.device)
        if ptr in seen:
            continue
        seen.add(ptr)
        out[k] = v
    return out


def disk_usage(out: Path, phase_names: list[str]) -> dict[str, Any]:
    """Bytes on disk of a train run dir: the final model, the checkpoints (resume state), the phase model dirs."""

    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else 0

    ckpts = checkpoints(out)
    phases = {name: size(out / name) for name in phase_names if (out / name).is_dir()}
    return {"model_bytes": size(out / "model"), "checkpoints": len(ckpts),
            "checkpoint_bytes": sum(size(c) for c in ckpts), "phase_model_bytes": phases, "run_dir_bytes": size(out)}


def disk_line(d: dict[str, Any]) -> str:
    """One line for the log.

    >>> disk_line({"model_bytes": 5 << 20, "checkpoints": 1, "checkpoint_bytes": 3 << 20,
    ...            "phase_model_bytes": {"phase-1": 1 << 20}, "run_dir_bytes": 9 << 20})
    'disk: run dir 9.4 MB: model/ 5.2 MB, 1 checkpoint 3.1 MB (resume state; keep_last), phase models 1.0 MB'
    """
    n = d["checkpoints"]
    phases = sum(d["phase_model_bytes"].values())
    return (f"disk: run dir {_mb(d['run_dir_bytes'])}: model/ {_mb(d['model_bytes'])}, {n} checkpoint{'s' * (n != 1)} "
            f"{_mb(d['checkpoint_bytes'])} (resume state; keep_last)"
            + (f", phase models {_mb(phases)}" if d["phase_model_bytes"] else ""))


def _mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def save(acc: Any, out: Path, state: TrainState, keep: int) -> Path:
    """Write a checkpoint for `state` (all processes call this) and prune old ones."""
    final = out / "checkpoints" / f"step-{state.global_step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    if acc.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if acc.is_main_process:
        write_json_atomic(tmp / "state.json", asdict(state))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in checkpoints(out)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
        log.info("checkpoint %s (global step %d)", final, state.global_step)
    acc.wait_for_everyone()
    return final


def resume(acc: Any, out: Path, fingerprint: str, adapter: bool = False) -> TrainState | None:
    """Load the newest complete checkpoint, if any; returns its position.

    Refuses when the checkpoint was made with a different plan (config, data, template or number
    of processes): its step would point at different data.
    """
    found = checkpoints(out)
    if not found:
        return None
    last = found[-1]
    state = TrainState(**json.loads((last / "state.json").read_text(encoding="utf-8")))
    if state.fingerprint != fingerprint:
        raise SeqitError(
            f"{last}: this checkpoint was made with a different config (max_steps included), data, template, "
            "--limit or number of "
            "processes, so its step does not point at the same data. Restore them, or use a new out_dir "
            "(only save_every_steps, keep_last, log_every_steps, report_to may change)."
        )
    acc.load_state(str(last), strict=not adapter)  # an adapter checkpoint holds no base weights (loaded already)
    log.info("resuming from %s: %s", last, describe_position(state))
    return state


def describe_position(state: TrainState) -> str:
    """Where a checkpoint stands, with phases counted from 1 as they are named (phase-1, phase-2, ...)."""
    return (f"phase {state.phase + 1}, step {state.step_in_phase} in that phase, "
            f"global step {state.global_step}")


def trim_metrics(path: Path, global_step: int) -> None:
    """Drop metric rows logged after the checkpoint we resume from (they will be trained again)."""
    if not path.exists():
        return
    rows = list(read_jsonl(path))
    kept = [r for r in rows if r.get("step", 0) <= global_step]
    if len(kept) != len(rows):
        write_jsonl(path, kept)
