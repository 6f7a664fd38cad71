"""`seqit generate` configs: the seed data, the method (selfseq, taskdriven, caption) and its options, the mix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqit.config import InputPath
from seqit.generate.selfseq.pipeline import SelfSeqSettings
from seqit.phases.decontam import DecontamConfig
from seqit.teachers import TeacherConfig


@dataclass(frozen=True)
class DataConfig:
    path: InputPath  # relative to this config file (see seqit.config), or hf:owner/name
    format: str | None = None  # alpaca, sharegpt, messages, prompt_completion, phased, selfseq (default: detect)
    source: str | None = None  # meta.source of every record (default: the file name)


@dataclass(frozen=True)
class SelfSeqConfig:
    max_depth: int = 2  # rounds of classify->respond; the reference saw ~94% D by round 3
    extract: Literal["auto", "always", "never"] = "auto"  # auto: only seeds without a separate input field
    llm_validate: bool = True  # ask the teacher to check each rewrite (after the rule checks)
    llm_check_response: bool = False  # ask the teacher whether each SIT answer does every task, in order
    json_mode: bool = True  # response_format json_object for control steps (turn off if a server rejects it)
    control_max_tokens: int = 512
    max_input_chars: int = 2000  # input shown to control steps; the respond step always gets all of it

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= 8:
            raise ValueError("selfseq.max_depth must be between 1 and 8")


@dataclass(frozen=True)
class RespondConfig:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int | None = None


@dataclass(frozen=True)
class TaskDrivenConfig:
    steps: tuple[str, ...] = ("repeat",)  # repeat | paraphrase | translate, in order (translate first)
    max_items: int | None = None  # convert at most this many eligible seeds (default: all)
    languages: tuple[str, ...] = ()  # translate: target languages
    parallel: dict[str, InputPath] = field(default_factory=dict)  # translate: lang -> index-aligned alpaca file
    per_language: int | None = None  # translate: rows per language (disjoint indices)

    def __post_init__(self) -> None:
        from seqit.generate.taskdriven.builders import STEPS

        bad = [s for s in self.steps if s not in STEPS]
        if bad or not self.steps:
            raise ValueError(
                f"taskdriven.steps: unknown step {bad[0] if bad else '(none)'!r}; use {', '.join(STEPS)}"
            )
        if "translate" in self.steps[1:]:
            raise ValueError("taskdriven.steps: translate must be the first step")
        if "translate" in self.steps and not (self.languages or self.parallel):
            raise ValueError(
                "taskdriven: translate needs `languages` (teacher translates) or `parallel` files"
            )


ANSWER_FORMATS = ("named", "plain")


@dataclass(frozen=True)
class MicroworldConfig:
    """method: microworld (no seed data, no teacher): see seqit.generate.microworld."""

    ops: tuple[str, ...] = ()  # step types (micro-world phrasings); empty = seqit.generate.microworld.MICRO_OPS
    examples: int = 2000  # seeds: one SIT chain + one IT single step each
    lengths: tuple[int, ...] = (1, 2, 3, 3)  # SIT chain-length mix, cycled; eval "longer" = max + 1
    heldout_fraction: float = 0.25  # of the ordered op pairs: never adjacent in training ("unseen" eval)
    min_input_len: int = 3
    max_input_len: int = 5
    upper_frac: float = 0.0  # inputs in capitals (for the uppercase/lowercase ops)
    eval_n: int = 120  # items per held-out eval file
    eval_lengths: tuple[int, ...] = (2, 3)  # chain lengths of the seen/unseen eval files
    answer: str = "named"  # named: "Step i (<instruction i>): <result>"; plain: "Step i: <result>"
    shuffled_listing: float = 0.5  # of SIT training prompts: numbered steps listed out of order (eval never)

    def __post_init__(self) -> None:
        if self.examples < 1 or self.eval_n < 1:
            raise ValueError("microworld.examples and microworld.eval_n must be >= 1")
        if not self.lengths or min(self.lengths) < 1 or not self.eval_lengths or min(self.eval_lengths) < 2:
            raise ValueError("microworld.lengths must be >= 1 and microworld.eval_lengths >= 2 (non-empty)")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError("microworld.heldout_fraction must be between 0 and 1")
        if not 1 <= self.min_input_len <= self.max_input_len:
            raise ValueError("microworld: need 1 <= min_input_len <= max_input_len")
        if not 0 <= self.shuffled_listing <= 1:
            raise ValueError("microworld.shuffled_listing must be in [0, 1]")
        if self.answer not in ANSWER_FORMATS:
            raise ValueError(f"microworld.answer must be one of {', '.join(ANSWER_FORMATS)}, got {self.answer!r}")


@dataclass(frozen=True)
class MixConfig:
    mode: Literal["none", "replace", "union"] = "replace"  # replace = the paper's 1:1 setting
    sit_ratio: float = 1.0  # union only: SIT rows per IT row
    shuffle: bool = True


@dataclass(frozen=True)
class GenerateConfig:
    out_dir: Path
    data: DataConfig | None = field(default=None, kw_only=True)  # required except for method microworld
    method: Literal["selfseq", "taskdriven", "caption", "microworld"] = "selfseq"
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    selfseq: SelfSeqConfig = field(default_factory=SelfSeqConfig)
    respond: RespondConfig = field(default_factory=RespondConfig)
    taskdriven: TaskDrivenConfig = field(default_factory=TaskDrivenConfig)
    microworld: MicroworldConfig = field(default_factory=MicroworldConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    it_baseline: bool = True  # selfseq: answer the same seeds directly with the same teacher
    seed: int = 0
    limit: int | None = None
    max_inflight_seeds: int | None = None  # default: 2 x teacher.max_concurrency
    decontam: DecontamConfig = field(default_factory=DecontamConfig)  # eval-prompt overlap check (docs/eval.md)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if self.data is None and self.method != "microworld":
            raise ValueError(f"data: required key is missing (method {self.method} reads seed data)")


def selfseq_settings(cfg: GenerateConfig) -> SelfSeqSettings:
    s, r = cfg.selfseq, cfg.respond
    return SelfSeqSettings(
        max_depth=s.max_depth,
        extract=s.extract,
        llm_validate=s.llm_validate,
        llm_check_response=s.llm_check_response,
        json_mode=s.json_mode,
        control_max_tokens=s.control_max_tokens,
        max_input_chars=s.max_input_chars,
        respond_temperature=r.temperature,
        respond_top_p=r.top_p,
        respond_max_tokens=r.max_tokens,
        respond_seed=r.seed,
        it_baseline=cfg.it_baseline,
        seed=cfg.seed,
    )
