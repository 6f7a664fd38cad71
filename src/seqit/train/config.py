"""`seqit train` configuration: frozen dataclasses loaded strictly from YAML.

    cfg = load_config(TrainConfig, "configs/train/tiny-cpu.yaml", ["model.path=/tmp/tiny"])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqit.config import InputPath, LocalOrName

# names inside a train run dir that a phase's model dir must never take (see seqit.train.loop)
RESERVED_RUN_NAMES = frozenset({
    "model", "checkpoints", "config.yaml", "manifest.json", "preflight.md", "preflight.json", "metrics.jsonl",
    "report.html", "runs", "logs",
})
_PHASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def phase_name_problem(name: str) -> str | None:
    """Why `name` cannot be a phase name (it becomes a directory in the run dir), or None when it can."""
    if not _PHASE_NAME.fullmatch(name):
        return (f"{name!r} is not a plain directory name (letters, digits, '.', '_', '-'; no path separators, "
                "no leading '.' or '/', at most 64 characters)")
    if name.lower() in RESERVED_RUN_NAMES:
        return f"{name!r} is reserved in the run dir ({', '.join(sorted(RESERVED_RUN_NAMES))})"
    return None


def _positive(value: float) -> bool:
    return not math.isnan(value) and value > 0


@dataclass(frozen=True)
class ModelConfig:
    path: LocalOrName  # local HF model dir or hub id
    template: str | None = None  # None/"tokenizer" = the tokenizer's own; or tulu, chatml, llama3, alpaca
    tokenizer: LocalOrName | None = None  # default: same as path
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # weights as loaded
    # seqit_varlen: padding-free per-example SDPA (any device); flash_attention_2 on GPU; sdpa/eager use a
    # block-diagonal mask built from the restarting position_ids
    attn_implementation: str = "seqit_varlen"
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    merge_on_save: bool = False  # save a merged full model instead of the adapter

    def __post_init__(self):
        if self.r < 1:
            raise ValueError(f"r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-5  # peak lr; a phase may override it
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0  # 0 = no clipping

    def __post_init__(self):
        if not _positive(self.lr):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.max_grad_norm >= 0:
            raise ValueError(f"max_grad_norm must be >= 0 (0 = no clipping), got {self.max_grad_norm}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not _positive(self.eps):
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if len(self.betas) != 2:
            raise ValueError("betas must have two values")


@dataclass(frozen=True)
class BatchConfig:
    max_seq_len: int = 2048  # longer examples are truncated from the end
    # examples cut before their end-of-turn token (they would never learn to stop): refuse to train (the
    # default: raise max_seq_len or shorten them), or drop them (counted in the preflight)
    truncation: Literal["refuse", "drop"] = "refuse"
    packing: bool = True
    row_len: int | None = None  # packed row length (default max_seq_len)
    pack_window: int = 1  # 1 = strict order; k = first fit over the k most recent rows (fuller rows)
    micro_batch_rows: int = 1  # rows per forward pass (per process)
    grad_accum: int = 1  # micro-batches per optimizer step (per process)
    length_bucket: int = 0  # packing off: sort each run of k steps' examples by length (less padding); 0/1 = off

    def __post_init__(self):
        for name in ("max_seq_len", "pack_window", "micro_batch_rows", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.row_len is not None and self.row_len < self.max_seq_len:
            raise ValueError("row_len must be >= max_seq_len (examples are never split)")


@dataclass(frozen=True)
class PhaseConfig:
    data: InputPath  # dataset path (any format seqit reads)
    name: str | None = None  # default: phase-<k>
    format: str | None = None  # default: detect once per file
    epochs: int = 1
    lr: float | None = None  # default: optim.lr
    optimizer: Literal["reset", "carry"] = "reset"  # fresh AdamW state, or keep the previous phase's
    schedule: Literal["reset", "carry"] = "reset"  # new warmup+decay, or continue the previous schedule
    shuffle: bool = True  # shuffle examples each epoch (seeded) before packing

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.lr is not None and not _positive(self.lr):
            raise ValueError(f"lr must be > 0 (or null for optim.lr), got {self.lr}")
        if self.name is not None and (why := phase_name_problem(self.name)):
            raise ValueError(f"name: {why}")


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig
    phases: list[PhaseConfig]
    out_dir: Path = Path("runs/train")
    method: Literal["full", "lora", "qlora"] = "full"
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    seed: int = 42
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    save_every_steps: int = 0  # 0 = only at phase ends
    keep_last: int = 1  # newest checkpoints kept (resume needs only the last); 0 = all. Phase model dirs stay
    save_phase_models: bool = True  # export an HF model dir at the end of every phase
    log_every_steps: int = 1
    report_to: list[Literal["tensorboard", "wandb"]] = field(default_factory=list)
    max_steps: int | None = None  # train only the plan's first N optimizer steps; the schedule is sized to them
    limit: int | None = None  # use only the first N rows of each phase's data (--limit)

    def __post_init__(self):
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if not self.phases:
            raise ValueError("phases: at least one phase is required")
        if self.phases[0].optimizer == "carry" or self.phases[0].schedule == "carry":
            raise ValueError("the first phase has nothing to carry (use reset)")
        names = [self.phase_name(k) for k in range(len(self.phases))]
        if len(set(names)) != len(names):
            raise ValueError(f"phases: phase names must be unique, got {names}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or null for no limit), got {self.max_steps}")
        for name in ("save_every_steps", "keep_last"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.log_every_steps < 1:
            raise ValueError(f"log_every_steps must be >= 1, got {self.log_every_steps}")

    def phase_name(self, k: int) -> str:
        return self.phases[k].name or f"phase-{k + 1}"

    @property
    def row_len(self) -> int:
        return self.batch.row_len or self.batch.max_seq_len
