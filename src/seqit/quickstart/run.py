"""`seqit quickstart`: the whole SIT loop on CPU in minutes, on the micro-world.

    seqit quickstart --out runs/quickstart          # what `make demo` runs
    seqit quickstart --size fast --out /tmp/qs      # a shortened run (tests)

Builds the micro-world tokenizer (Title-Case words + characters) and one random tiny Llama, trains a copy per arm with the same
compute (same steps x batch size): IT = single steps only, SIT = single steps + chains (and
optionally phased SIT = the SIT data ordered by chain length), then evaluates every arm on the
same held-out sets: single steps, chains of trained compositions (new inputs), chains that start
with an unseen composition, and longer chains. Writes results.json, samples-<arm>.jsonl,
train/<arm>/ (records, metrics, model), report.html (`seqit report`) and details.html.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.chains.sampling import (
    Chain,
    choose_heldout_pairs,
    letters_sampler,
    render_answer,
    sample_chains,
)
from seqit.chains.scoring import aggregate, score_chain
from seqit.chains.steps import TEXT
from seqit.config import to_dict
from seqit.errors import ConfigError
from seqit.jsonl import write_json_atomic, write_jsonl
from seqit.quickstart.details import write_details
from seqit.runs import start_run

log = logging.getLogger(__name__)

ARMS = ("it", "sit", "phased")
EVAL_SPLITS = ("single", "seen", "unseen", "longer")


@dataclass(frozen=True)
class QuickstartConfig:
    seed: int = 0
    arms: tuple[str, ...] = ("it", "sit")
    ops: tuple[str, ...] = ()  # empty = seqit.quickstart.microworld.MICRO_OPS
    heldout_fraction: float = 0.25  # of the op pairs; never trained adjacent, evaluated as "unseen"
    min_input_len: int = 3
    max_input_len: int = 5
    upper_frac: float = 0.0  # inputs in capitals (use with the uppercase/lowercase ops)
    sit_lengths: tuple[int, ...] = (1, 2, 3, 3)  # SIT training mix, cycled (IT always uses (1,))
    train_pool: int = 0  # distinct training examples per arm; 0 = steps x batch_size (no example twice)
    eval_n: int = 120  # items per eval split
    eval_lengths: tuple[int, ...] = (2, 3)  # chain lengths of the seen/unseen eval splits
    longer_length: int = 4
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 2
    num_heads: int = 4
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 30
    threads: int = 0  # torch threads; 0 = torch's default

    def __post_init__(self) -> None:
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ConfigError(f"quickstart: arms: unknown {bad} (choose from {', '.join(ARMS)})")
        if not 0 < self.heldout_fraction < 1:
            raise ConfigError("quickstart: heldout_fraction: must be between 0 and 1")
        if min(self.sit_lengths) < 1 or self.longer_length < 2 or min(self.eval_lengths) < 2:
            raise ConfigError("quickstart: chain lengths must be >= 1 (training) and >= 2 (eval)")


SIZES: dict[str, QuickstartConfig] = {
    "full": QuickstartConfig(),
    # For tests: seconds, not minutes. Too small to learn the ops; it exercises every stage for real.
    "fast": QuickstartConfig(eval_n=24, hidden_size=64, intermediate_size=256, num_layers=2,
                             num_heads=2, steps=150, batch_size=16, lr=3e-3, warmup=10, max_input_len=5, threads=1),
}


def build_eval_sets(cfg: QuickstartConfig, ops: tuple[str, ...], heldout: frozenset) -> dict[str, list[Chain]]:
    """The held-out evaluation chains, shared by every arm (eval-bucket inputs only)."""
    rng = random.Random(cfg.seed + 1)
    inputs = letters_sampler(cfg.min_input_len, cfg.max_input_len, upper_frac=cfg.upper_frac)
    return {
        "single": sample_chains(rng, cfg.eval_n, ops, (1,), inputs, heldout, "seen"),
        "seen": sample_chains(rng, cfg.eval_n, ops, cfg.eval_lengths, inputs, heldout, "seen"),
        "unseen": sample_chains(rng, cfg.eval_n, ops, cfg.eval_lengths, inputs, heldout, "unseen"),
        "longer": sample_chains(rng, cfg.eval_n, ops, (cfg.longer_length,), inputs, heldout, "seen"),
    }


def build_train_chains(cfg: QuickstartConfig, arm: str, ops: tuple[str, ...], heldout: frozenset) -> list[Chain]:
    """Training chains for one arm; `phased` is the SIT pool sorted by chain length (stable)."""
    rng = random.Random(cfg.seed + 2)  # the same stream for every arm: SIT's singles start like IT's
    lengths = (1,) if arm == "it" else cfg.sit_lengths
    inputs = letters_sampler(cfg.min_input_len, cfg.max_input_len, upper_frac=cfg.upper_frac)
    chains = sample_chains(rng, cfg.train_pool or cfg.steps * cfg.batch_size, ops, lengths, inputs, heldout, "train")
    if arm == "phased":
        chains = sorted(chains, key=lambda c: len(c.steps))
    return chains


def max_new_tokens_for(chains: list[Chain]) -> int:
    """A decoding budget: the longest expected answer in characters (>= its tokens) plus some slack."""
    return max(len(render_answer(c)) for c in chains) + 16


def run_quickstart(out: str | Path, cfg: QuickstartConfig | None = None, show_progress: bool = False) -> Path:
    """Train and evaluate every arm; returns the run dir (results.json, samples, report.html)."""
    import torch

    cfg = cfg or QuickstartConfig()
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(Path(out), cfg, show_progress)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, cfg: QuickstartConfig, show_progress: bool) -> Path:
    from seqit.quickstart.microworld import MICRO_OPS, build_micro_tokenizer
    from seqit.tinymodels import build_tiny_llama

    run = start_run(out, cfg, command="quickstart")
    t_start = time.monotonic()
    ops = cfg.ops or MICRO_OPS
    heldout = choose_heldout_pairs(random.Random(cfg.seed), ops, TEXT, cfg.heldout_fraction)
    eval_sets = build_eval_sets(cfg, ops, heldout)
    tok = build_micro_tokenizer()
    model = build_tiny_llama(len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                             num_layers=cfg.num_layers, num_heads=cfg.num_heads, max_position_embeddings=1024,
                             seed=cfg.seed, tokenizer=tok)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    results: dict[str, Any] = {"arms": {}, "heldout_pairs": sorted("{}>{}".format(*p) for p in heldout), "ops": list(ops)}
    for arm in cfg.arms:
        model.load_state_dict(init_state)  # every arm starts from the same weights
        results["arms"][arm] = _run_arm(model, tok, arm, cfg, ops, heldout, eval_sets, out, show_progress)
    results["seconds"] = round(time.monotonic() - t_start, 1)
    write_json_atomic(out / "results.json", results)
    from seqit.report.run import run_report

    write_details(out, results, cfg)
    report = run_report([out], out / "report.html")
    run.finish(counts={"arms": len(cfg.arms), "eval_items": sum(len(v) for v in eval_sets.values())}, report=str(report))
    return out


def _run_arm(model: Any, tok: Any, arm: str, cfg: QuickstartConfig, ops: tuple[str, ...], heldout: frozenset,
             eval_sets: dict[str, list[Chain]], out: Path, show_progress: bool) -> dict[str, Any]:
    from seqit.quickstart.microworld import chain_record, encode_messages, make_batches, save_model

    arm_dir = out / "train" / arm
    records = [chain_record(c, f"{arm}-{i:05d}", arm) for i, c in enumerate(build_train_chains(cfg, arm, ops, heldout))]
    write_jsonl(arm_dir / "train.jsonl", records)
    encoded = encode_messages(tok, [r["messages"] for r in records])
    batches = make_batches(encoded, cfg.batch_size, cfg.steps, random.Random(cfg.seed + 3), ordered=arm == "phased")
    history = _train_arm(model, batches, cfg, tok, arm, show_progress)
    write_jsonl(arm_dir / "metrics.jsonl", history)
    train = {"examples": len(records), "steps": len(history), "tokens": sum(h["tokens"] for h in history),
             "final_loss": history[-1]["loss"], "seconds": history[-1]["elapsed_s"], "cpu_seconds": history[-1]["cpu_s"]}
    save_model(model, tok, arm_dir / "model", {"arm": arm, "train": train, "config": to_dict(cfg)})
    result = _evaluate_arm(model, tok, eval_sets, out / f"samples-{arm}.jsonl")
    result["train"] = train
    log.info("%s: %s", arm, {k: v for k, v in result.items() if isinstance(v, float)})
    return result


def _train_arm(model: Any, batches: list, cfg: QuickstartConfig, tok: Any, arm: str, show_progress: bool) -> list[dict]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from seqit.quickstart.microworld import TrainSettings, train_model

    settings = TrainSettings(cfg.steps, cfg.batch_size, cfg.lr, cfg.warmup, cfg.seed)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not show_progress) as progress:
        task = progress.add_task(f"train {arm}", total=len(batches), loss="-")
        return train_model(model, batches, settings, tok.pad_token_id,
                           on_step=lambda s, loss: progress.update(task, completed=s, loss=f"{loss:.3f}"))


def _evaluate_arm(model: Any, tok: Any, eval_sets: dict[str, list[Chain]], samples_path: Path) -> dict[str, Any]:
    from seqit.quickstart.microworld import chain_messages, greedy_generate

    metrics: dict[str, Any] = {}
    samples = []
    for split, chains in eval_sets.items():
        prompts = [chain_messages(c)[0]["content"] for c in chains]
        outputs = greedy_generate(model, tok, prompts, max_new_tokens_for(chains))
        scores = [score_chain(c, o) for c, o in zip(chains, outputs, strict=False)]
        metrics[split] = aggregate(scores)
        for i, (c, p, o, s) in enumerate(zip(chains, prompts, outputs, scores, strict=False)):
            samples.append({"id": f"{split}-{i:04d}", "split": split, "composition": list(c.composition), "prompt": p,
                            "output": o, "expected": render_answer(c), "correct": list(s.correct), "chain_ok": s.chain_ok,
                            "chain": c.to_dict()})
    write_jsonl(samples_path, samples)
    return {
        "single_acc": metrics["single"]["chain_acc"],
        "chain_acc_seen": metrics["seen"]["chain_acc"],
        "chain_acc_unseen": metrics["unseen"]["chain_acc"],
        "chain_acc_longer": metrics["longer"]["chain_acc"],
        "step_acc_seen": metrics["seen"]["step_acc"],
        "step_acc_unseen": metrics["unseen"]["step_acc"],
        "step_acc_longer": metrics["longer"]["step_acc"],
        "follow_acc_unseen": metrics["unseen"]["follow_acc"],
        "complete_rate_seen": metrics["seen"]["complete_rate"],
        "splits": metrics,
    }


def resolve_size(size: str, overrides: list[str] | None = None) -> QuickstartConfig:
    """A named size preset with dotted `key=value` overrides applied (strictly: unknown keys are errors)."""
    from seqit.config import apply_overrides, from_dict, to_dict

    if size not in SIZES:
        raise ConfigError(f"quickstart: unknown size {size!r} (choose from {', '.join(SIZES)})")
    return from_dict(QuickstartConfig, apply_overrides(to_dict(SIZES[size]), overrides or []), f"quickstart --size {size}")


def load_results(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
