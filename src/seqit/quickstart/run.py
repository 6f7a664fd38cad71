"""`seqit quickstart`: the whole SIT loop on CPU in minutes, on the micro-world, as the real seqit stages.

    seqit quickstart --out runs/quickstart          # what `make demo` runs
    seqit quickstart --size fast --out /tmp/qs      # a smoke run (tests): seconds, numbers mean nothing

Each stage writes its own run dir inside the quickstart dir, from a config file in configs/, and
recipe.sh lists the same sequence as plain commands (rerun any stage by hand, or swap in your data):

    generate/      seqit generate (method microworld): sit.jsonl, it.jsonl, held-out eval-*.jsonl items
    split/         seqit split (strategy depth): one phase per chain length, with replay of earlier phases,
                   and shuffled.jsonl (the same records in random order: the control arm's data)
    model/         the base model: micro tokenizer + a random tiny Llama
    train-<arm>/   seqit train, one run per arm, same number of examples and steps
    eval/<arm>-<split>/  seqit eval (task seqeval_v) on each held-out item file
    results.json, report.html (seqit report), recipe.sh, manifest.json

Arms: it (single steps only), sit (chains of 1-3 steps), phased (the SIT data as a depth curriculum
with replay) and control (the phased arm's data in random order).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from seqit.config import apply_overrides, from_dict, load_config, to_dict
from seqit.errors import ConfigError
from seqit.generate.config import ANSWER_FORMATS
from seqit.jsonl import read_jsonl, write_json_atomic
from seqit.quickstart.microworld import POSITIONS
from seqit.runs import start_run

if TYPE_CHECKING:
    from seqit.train import TrainConfig

log = logging.getLogger(__name__)

ARMS = ("it", "sit", "phased", "control")
EVAL_SPLITS = ("single", "seen", "unseen", "longer")
SMOKE_NOTE = ("SMOKE RUN (--size fast): a model far too small and too briefly trained to learn the ops. "
              "It exercises every stage for real; its numbers mean nothing.")


@dataclass(frozen=True)
class QuickstartConfig:
    seed: int = 0
    arms: tuple[str, ...] = ARMS
    ops: tuple[str, ...] = ()  # empty = seqit.generate.microworld.MICRO_OPS
    heldout_fraction: float = 0.25  # of the op pairs; never trained adjacent, evaluated as "unseen"
    min_input_len: int = 3
    max_input_len: int = 5
    upper_frac: float = 0.0  # inputs in capitals (use with the uppercase/lowercase ops)
    sit_lengths: tuple[int, ...] = (1, 2, 3, 3)  # SIT training mix, cycled (IT always uses single steps)
    replay: float = 0.5  # phased arm: share of each later phase replayed from earlier phases (0.25 forgets 3 points)
    eval_n: int = 120  # items per eval split
    eval_lengths: tuple[int, ...] = (2, 3)  # chain lengths of the seen/unseen eval splits
    answer: str = "named"  # answer lines: "named" repeats each instruction ("Step 2 (Reverse): cba"); "plain"
    shuffled_listing: float = 0.5  # of SIT training prompts: numbered steps listed out of order
    hidden_size: int = 128
    intermediate_size: int = 256  # 512 learns no better here and costs 1.37x the time per step (docs/chains.md)
    num_layers: int = 2
    num_heads: int = 4
    position: str = "rope"  # positional encoding of the tiny Llama: rope, or nope (none)
    steps: int = 1500  # optimizer steps per arm (examples per arm = steps x batch_size); 3000: see docs/chains.md
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 30  # steps
    threads: int = 0  # CPU threads in all; 0 = every core (os.cpu_count)
    parallel: int = 0  # arms trained at once, each a `seqit train` process with threads/parallel threads; 0 = auto
    smoke: bool = False  # a smoke run (--size fast): says so in the console and on the page

    def __post_init__(self) -> None:
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ConfigError(f"quickstart: arms: unknown {bad} (choose from {', '.join(ARMS)})")
        if not 0 < self.heldout_fraction < 1:
            raise ConfigError("quickstart: heldout_fraction: must be between 0 and 1")
        if not 0 <= self.replay < 1:
            raise ConfigError("quickstart: replay: must be in [0, 1)")
        if min(self.sit_lengths) < 1 or min(self.eval_lengths) < 2:
            raise ConfigError("quickstart: chain lengths must be >= 1 (training) and >= 2 (eval)")
        if self.steps < 1 or self.batch_size < 1 or not 0 <= self.warmup < self.steps:
            raise ConfigError("quickstart: steps and batch_size must be >= 1, and 0 <= warmup < steps")
        if self.answer not in ANSWER_FORMATS:
            raise ConfigError(f"quickstart: answer: must be {' or '.join(ANSWER_FORMATS)}, got {self.answer!r}")
        if self.position not in POSITIONS:
            raise ConfigError(f"quickstart: position: must be {' or '.join(POSITIONS)}, got {self.position!r}")
        if not 0 <= self.shuffled_listing <= 1:
            raise ConfigError(f"quickstart: shuffled_listing: must be in [0, 1], got {self.shuffled_listing}")
        if self.threads < 0 or self.parallel < 0:
            raise ConfigError("quickstart: threads and parallel must be >= 0 (0 = automatic)")

    def workers(self, cores: int) -> tuple[int, int]:
        """(arms trained at once, torch threads per training process) on `cores` CPU cores.

        >>> QuickstartConfig().workers(2), QuickstartConfig().workers(16), QuickstartConfig(parallel=1).workers(2)
        ((2, 1), (4, 4), (1, 2))
        """
        total = self.threads or cores
        n = self.parallel or max(1, min(len(self.arms), total))
        return n, max(1, total // n)

    @property
    def examples(self) -> int:
        return self.steps * self.batch_size


SIZES: dict[str, QuickstartConfig] = {
    "full": QuickstartConfig(),
    # For tests: seconds, not minutes. Too small to learn the ops; it exercises every stage for real.
    "fast": QuickstartConfig(eval_n=16, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, steps=24,
                             batch_size=8, lr=3e-3, warmup=2, threads=1, smoke=True),
}


# ---- stage configs (pure: dicts written as YAML, loaded strictly like any user config) ---------------


def stage_configs(out: Path, cfg: QuickstartConfig) -> dict[str, dict[str, Any]]:
    """name -> config mapping of every stage (the files in <out>/configs/ that recipe.sh runs)."""
    out = out.resolve()  # absolute: a relative path in a config file would be read relative to that file
    g = out / "generate"
    configs: dict[str, dict[str, Any]] = {
        "generate": {
            "method": "microworld", "out_dir": str(g), "seed": cfg.seed, "mix": {"mode": "none"},
            "microworld": {"ops": list(cfg.ops), "examples": cfg.examples, "lengths": list(cfg.sit_lengths),
                           "heldout_fraction": cfg.heldout_fraction, "min_input_len": cfg.min_input_len,
                           "max_input_len": cfg.max_input_len, "upper_frac": cfg.upper_frac, "eval_n": cfg.eval_n,
                           "eval_lengths": list(cfg.eval_lengths), "answer": cfg.answer,
                           "shuffled_listing": cfg.shuffled_listing},
        },
        "split": {
            "data": str(g / "sit.jsonl"), "out_dir": str(out / "split"), "strategy": "depth", "histogram": False,
            # micro-world prompts are short and similar by design: dedup would drop real, distinct examples
            "dedup": {"exact": False, "near": False},
            "replay": cfg.replay, "shuffled": True, "seed": cfg.seed,
        },
    }
    for arm in cfg.arms:
        configs[f"train-{arm}"] = train_config(out, cfg, arm, n_phases=len(set(cfg.sit_lengths)))
    for split in EVAL_SPLITS:
        configs[f"eval-{split}"] = {
            "task": "seqeval_v", "data": str(g / f"eval-{split}.jsonl"), "out_dir": str(out / "eval" / split),
            "model": {"backend": "hf", "model": "SET_BY_RECIPE", "max_concurrency": 512,
                      "hf": {"batch_size": 256, "device": "cpu", "dtype": "float32", "max_wait_ms": 20}},
            "generation": {"max_new_tokens": answer_budget(cfg, split), "temperature": 0.0},
            "seed": cfg.seed,
        }
    return configs


def train_config(out: Path, cfg: QuickstartConfig, arm: str, n_phases: int) -> dict[str, Any]:
    """One arm's `seqit train` config: the same examples, batch, schedule and seed for every arm."""
    g, c = out / "generate", out / "split"
    phases: list[dict[str, Any]]
    if arm == "it":
        phases = [{"data": str(g / "it.jsonl"), "name": "it"}]
    elif arm == "sit":
        phases = [{"data": str(g / "sit.jsonl"), "name": "sit"}]
    elif arm == "control":
        phases = [{"data": str(c / "shuffled.jsonl"), "name": "control"}]
    else:  # one lr schedule and one optimizer across the curriculum: only the data order differs
        phases = [{"data": str(c / f"phase-{k}.jsonl"), "name": f"phase-{k}",
                   **({"optimizer": "carry", "schedule": "carry"} if k > 1 else {})} for k in range(1, n_phases + 1)]
    return {
        "model": {"path": str(out / "model"), "template": None, "attn_implementation": "sdpa"},
        "phases": phases,
        "out_dir": str(out / f"train-{arm}"),
        "method": "full",
        "optim": {"lr": cfg.lr, "weight_decay": 0.01, "betas": [0.9, 0.98], "schedule": "cosine",
                  "warmup_ratio": round(cfg.warmup / cfg.steps, 6), "max_grad_norm": 1.0},
        # one example per row, batch_size rows per step: the steps x batch_size budget of every arm
        "batch": {"max_seq_len": 256, "packing": False, "micro_batch_rows": cfg.batch_size, "grad_accum": 1,
                  "length_bucket": 8},
        "seed": cfg.seed,
        "save_phase_models": False,
        "keep_last": 1,
    }


def answer_budget(cfg: QuickstartConfig, split: str) -> int:
    """max_new_tokens for a split: per step "Step N: " (+ " (<instruction>)": at most 8 tokens) + a value of
    at most 2 x max_input_len letters + newline."""
    steps = 1 if split == "single" else (max(cfg.sit_lengths) + 1 if split == "longer" else max(cfg.eval_lengths))
    return steps * (10 + (8 if cfg.answer == "named" else 0) + 2 * cfg.max_input_len) + 8


def recipe(out: Path, cfg: QuickstartConfig) -> str:
    """recipe.sh: the quickstart as plain commands (each stage from its config in configs/)."""
    q = shlex.quote(str(out))
    lines = [
        "#!/usr/bin/env bash",
        "# The quickstart as plain seqit commands: rerun any stage by hand, or point a config at your own data",
        "# and model (configs/*.yaml). Written by `seqit quickstart`; paths are this run's.",
        "set -euo pipefail",
        f"Q={q}",
        'seqit generate "$Q/configs/generate.yaml" --no-progress   # verifiable SIT + IT data, held-out eval items',
        'seqit split "$Q/configs/split.yaml"      # one phase per chain depth (+ replay), shuffled.jsonl',
        f'python -m seqit.quickstart.microworld "$Q/model" --hidden-size {cfg.hidden_size} '
        f'--intermediate-size {cfg.intermediate_size} --layers {cfg.num_layers} --heads {cfg.num_heads} --seed {cfg.seed} '
        f'--position {cfg.position}',
    ]
    lines.append("# the arms are independent: the quickstart runs them side by side (OMP_NUM_THREADS=1 seqit train ... &)")
    for arm in cfg.arms:
        lines.append(f'seqit train "$Q/configs/train-{arm}.yaml"')
    for arm in cfg.arms:
        for split in EVAL_SPLITS:
            lines.append(f'seqit eval "$Q/configs/eval-{split}.yaml" model.model="$Q/train-{arm}/model" '
                         f'--out "$Q/eval/{arm}-{split}"')
    lines.append('seqit report "$Q"')
    return "\n".join(lines) + "\n"


# ---- the run ----------------------------------------------------------------------------------------


def run_quickstart(out: str | Path, cfg: QuickstartConfig | None = None, show_progress: bool = False) -> Path:
    """Run every stage; returns the quickstart dir (results.json, report.html, recipe.sh, stage run dirs)."""
    import torch
    from transformers.utils import logging as hf_logging

    cfg = cfg or QuickstartConfig()
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # 16 "Loading weights" bars of a tiny model say nothing
    try:
        return _run(Path(out), cfg, show_progress)
    finally:
        torch.set_num_threads(threads)
        if bars:
            hf_logging.enable_progress_bar()


def _run(out: Path, cfg: QuickstartConfig, show_progress: bool) -> Path:
    from seqit.eval.run import EvalConfig, run_eval
    from seqit.generate.run import GenerateConfig, run_generate
    from seqit.phases.split import SplitConfig, run_split
    from seqit.quickstart.microworld import save_micro_model
    from seqit.train import TrainConfig

    run = start_run(out, cfg, command="quickstart")
    conf_dir = out / "configs"
    conf_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, c in stage_configs(out, cfg).items():
        paths[name] = conf_dir / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(c, sort_keys=False), encoding="utf-8")
    (out / "recipe.sh").write_text(recipe(out, cfg), encoding="utf-8")
    (out / "recipe.sh").chmod(0o755)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def stage(name: str, fn: Any, *args: Any) -> Any:
        t0, c0 = time.monotonic(), time.process_time()
        log.info("quickstart: %s", name)
        result = fn(*args)
        timings[name] = round(time.monotonic() - t0, 2)
        cpu[name] = round(time.process_time() - c0, 2)  # on a shared machine: the idle-time estimate
        return result

    stage("generate", run_generate, load_config(GenerateConfig, paths["generate"]), None, show_progress)
    stage("split", run_split, load_config(SplitConfig, paths["split"]))
    stage("model", save_micro_model, out / "model", cfg.hidden_size, cfg.intermediate_size, cfg.num_layers,
          cfg.num_heads, cfg.seed, cfg.position)
    n_workers, per_worker = cfg.workers(os.cpu_count() or 1)
    # a bad config fails here, before any process starts; the costliest arms go first, so that with 4 arms
    # on 2 workers the cheap IT arm runs last and both workers end together
    train_cfgs = {arm: load_config(TrainConfig, paths[f"train-{arm}"]) for arm in cfg.arms}
    order = sorted(cfg.arms, key=lambda arm: -_data_bytes(train_cfgs[arm]))
    t0 = time.monotonic()
    cpu["train"] = train_arms({arm: paths[f"train-{arm}"] for arm in order}, out, n_workers, per_worker,
                              cfg.steps, show_progress)
    timings["train"] = round(time.monotonic() - t0, 2)
    for arm in cfg.arms:
        for split in EVAL_SPLITS:
            ecfg = load_config(EvalConfig, paths[f"eval-{split}"],
                               [f"model.model={out / f'train-{arm}' / 'model'}", f"out_dir={out / 'eval' / f'{arm}-{split}'}"])
            stage(f"eval-{arm}-{split}", run_eval, ecfg)
    results = collect_results(out, cfg, timings)
    results["stage_cpu_seconds"] = cpu
    results["cpu_seconds"] = round(sum(cpu.values()), 1)
    write_json_atomic(out / "results.json", results)
    # finish first, so the page shows the run's true status and timings; then the report
    run.finish(counts={"arms": len(cfg.arms), "eval_items": cfg.eval_n * len(EVAL_SPLITS)}, stage_seconds=timings,
               stage_cpu_seconds=cpu, smoke=cfg.smoke)
    from seqit.report.run import run_report

    t0 = time.monotonic()
    report = run_report([out], out / "report.html")
    run.manifest["report"] = str(report)
    run.manifest["stage_seconds"]["report"] = round(time.monotonic() - t0, 2)
    run.save()
    return out


def train_arms(configs: dict[str, Path], out: Path, workers: int, threads: int, steps: int, show_progress: bool) -> float:
    """Train every arm as its own `seqit train CONFIG` process (the recipe's command), in the order
    given, `workers` at once with `threads` torch threads each (on a small CPU model two 1-thread
    processes do ~1.6x the work of one 2-thread process). Output goes to logs/train-<arm>.log;
    progress counts the lines each metrics.jsonl gains. Returns the CPU seconds of all training
    processes; a failed arm is an error that names its log."""
    from seqit.errors import SeqitError
    from seqit.progress import progress

    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # no "Loading weights" bars in the logs
    todo, running, cpu = list(configs), {}, 0.0
    log.info("quickstart: train %s (%d at once, %d thread(s) each; logs in %s)", ", ".join(configs), workers, threads, logs)
    lines = {a: (0, 0) for a in configs}  # arm -> (bytes of metrics.jsonl read so far, lines in them)

    def steps_done(arm: str) -> int:  # reads only what was appended since the last poll
        offset, n = lines[arm]
        try:
            with open(out / f"train-{arm}" / "metrics.jsonl", "rb") as f:
                f.seek(offset)
                new = f.read()
        except OSError:
            return n
        lines[arm] = (offset + len(new), n + new.count(b"\n"))
        return lines[arm][1]

    with contextlib.ExitStack() as stack:
        bar = None  # opened at the first optimizer step, so process start-up and encoding do not skew rate and ETA
        try:
            while todo or running:
                while todo and len(running) < workers:
                    arm = todo.pop(0)
                    with open(logs / f"train-{arm}.log", "wb") as fh:
                        running[arm] = subprocess.Popen([sys.executable, "-m", "seqit", "train", str(configs[arm])],
                                                        stdout=fh, stderr=subprocess.STDOUT, env=env)
                time.sleep(0.5)
                for arm, proc in list(running.items()):
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid == 0:
                        continue
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    cpu += usage.ru_utime + usage.ru_stime
                    del running[arm]
                    if proc.returncode != 0:
                        tail = (logs / f"train-{arm}.log").read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
                        raise SeqitError(f"quickstart: training arm {arm!r} failed (exit {proc.returncode}); "
                                         f"log: {logs / f'train-{arm}.log'}\n" + "\n".join(tail))
                counts = {a: min(steps_done(a), steps) for a in configs}
                if bar is None and any(counts.values()):
                    bar = stack.enter_context(progress("train", total=steps * len(configs), enabled=show_progress))
                if bar is not None:
                    bar.advance(sum(counts.values()) - bar.done, **{a: f"{n}/{steps}" for a, n in counts.items()})
        finally:
            for proc in running.values():  # an error or Ctrl-C: no orphaned trainers
                proc.terminate()
            for proc in running.values():
                proc.wait()
    return round(cpu, 2)


def _data_bytes(config: TrainConfig) -> int:
    """Bytes of the training data a TrainConfig names (a cost estimate for scheduling)."""
    return sum(Path(p.data).stat().st_size for p in config.phases if Path(p.data).is_file())


# ---- results (pure given the run dirs) ----------------------------------------------------------


def collect_results(out: Path, cfg: QuickstartConfig, timings: dict[str, float]) -> dict[str, Any]:
    """results.json: per arm and split the eval run's metrics plus a bootstrap CI of chain accuracy,
    per arm the training summary; the held-out pairs and ops from the generate manifest."""
    from seqit.eval.metrics import bootstrap_ci

    gen = json.loads((out / "generate" / "manifest.json").read_text(encoding="utf-8"))
    arms: dict[str, Any] = {}
    for arm in cfg.arms:
        splits = {}
        for split in EVAL_SPLITS:
            d = out / "eval" / f"{arm}-{split}"
            res = json.loads((d / "results.json").read_text(encoding="utf-8"))
            m = dict(res["metrics"]["overall"])
            m["by_length"] = res["metrics"]["by_iteration"]
            ok = [1.0 if s["chain_ok"] else 0.0 for s in read_jsonl(d / "samples.jsonl")]
            steps = [1.0 if c else 0.0 for s in read_jsonl(d / "samples.jsonl") for c in s["correct"]]
            m["chain_acc_ci95"] = bootstrap_ci(ok, 1000, cfg.seed)
            m["step_acc_ci95"] = bootstrap_ci(steps, 1000, cfg.seed)
            splits[split] = m
        tm = json.loads((out / f"train-{arm}" / "manifest.json").read_text(encoding="utf-8"))
        arms[arm] = {
            "single_acc": splits["single"]["chain_acc"], "chain_acc_seen": splits["seen"]["chain_acc"],
            "chain_acc_unseen": splits["unseen"]["chain_acc"], "chain_acc_longer": splits["longer"]["chain_acc"],
            "step_acc_seen": splits["seen"]["step_acc"], "step_acc_unseen": splits["unseen"]["step_acc"],
            "step_acc_longer": splits["longer"]["step_acc"],
            "splits": splits,
            "train": {"steps": tm["counts"].get("steps"), "tokens": tm["counts"].get("tokens_seen"),
                      "trained_tokens": tm["counts"].get("trained_tokens"),
                      "seconds": (tm.get("timings") or {}).get("seconds")},
        }
    return {"arms": arms, "ops": gen["microworld"]["ops"], "heldout_pairs": gen["microworld"]["heldout_pairs"],
            "longer_length": gen["microworld"]["longer_length"], "train_lengths": list(cfg.sit_lengths),
            "examples_per_arm": cfg.examples, "smoke": cfg.smoke, "stage_seconds": timings,
            "seconds": round(sum(timings.values()), 1)}


def resolve_size(size: str, overrides: list[str] | None = None) -> QuickstartConfig:
    """A named size preset with dotted `key=value` overrides applied (strictly: unknown keys are errors)."""
    if size not in SIZES:
        raise ConfigError(f"quickstart: unknown size {size!r} (choose from {', '.join(SIZES)})")
    return from_dict(QuickstartConfig, apply_overrides(to_dict(SIZES[size]), overrides or []), f"quickstart --size {size}")


METRIC_LABELS = {
    "single_acc": "single steps: accuracy",
    "chain_acc_seen": "trained pairs: chain accuracy",
    "step_acc_seen": "trained pairs: step accuracy",
    "chain_acc_unseen": "untrained first pair: chain accuracy",
    "step_acc_unseen": "untrained first pair: step accuracy",
    "chain_acc_longer": "one step longer: chain accuracy",
    "step_acc_longer": "one step longer: step accuracy",
}


def results_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(metric label, arm1, arm2, ...) rows for the printed table and the README."""
    arms = list(results["arms"])
    return [(label, *(f"{results['arms'][a][k]:.2f}" for a in arms)) for k, label in METRIC_LABELS.items()]


def load_results(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
