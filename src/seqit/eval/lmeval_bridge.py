"""Downstream tasks through lm-evaluation-harness's Python API on a local checkpoint.

The model is loaded once here with the chat template seqit uses everywhere (the checkpoint's own,
or a named one), handed to lm-eval as an `HFLM`, and evaluated with `lm_eval.simple_evaluate`.
Named tasks (gsm8k, mmlu, arc_challenge, hellaswag, truthfulqa_mc2, mgsm_direct, ...) need their
datasets (network or a filled HF cache); a local task dir (`include_path`) with local data files
runs offline.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import ConfigError, SeqitError, require
from seqit.teachers import TeacherConfig
from seqit.templates import install_template

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LmEvalConfig:
    tasks: list[str] = field(default_factory=list)  # lm-eval task or group names
    include_path: Path | None = None  # a dir of extra task YAMLs (local data => fully offline)
    num_fewshot: int | None = None  # None = each task's default
    batch_size: int = 8
    apply_chat_template: bool = True  # render prompts with the model's chat template (as in training)
    fewshot_as_multiturn: bool = True
    bootstrap_iters: int = 1000  # lm-eval's own stderr bootstrap; 0 = off
    gen_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {max_gen_toks: 256}
    local_data: dict[str, str] = field(default_factory=dict)  # built-in task -> local copy of its data (offline)


def check_backend(model: TeacherConfig) -> None:
    if model.backend != "hf":
        raise ConfigError(
            f"model.backend: lm_eval tasks run a local checkpoint with backend 'hf' (got {model.backend!r})"
        )


def load_hflm(model: TeacherConfig, batch_size: int) -> Any:
    """An lm-eval HFLM wrapping the checkpoint, with seqit's chat template installed on its tokenizer."""
    check_backend(model)
    require("lm_eval", "eval", "lm_eval tasks")
    transformers = require("transformers", "train", "lm_eval tasks")
    from lm_eval.models.huggingface import HFLM

    tok = transformers.AutoTokenizer.from_pretrained(model.model, trust_remote_code=model.hf.trust_remote_code)
    install_template(tok, model.hf.template)
    device = model.hf.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    pretrained, adapter = adapter_base(Path(model.model))
    with warnings.catch_warnings():  # peft asks a deprecated transformers attribute: nothing a user can act on
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return HFLM(
            pretrained=pretrained,
            peft=adapter,
            tokenizer=tok,
            device=device,
            dtype=model.hf.dtype,
            batch_size=batch_size,
            trust_remote_code=model.hf.trust_remote_code,
        )


def adapter_base(model_dir: Path) -> tuple[str, str | None]:
    """(base model, adapter dir) for a PEFT adapter checkpoint, else (model_dir, None).

    lm-eval's HFLM reads config.json first, which an adapter dir does not have; it takes the base
    model as `pretrained` and the adapter as `peft` instead.
    """
    cfg = model_dir / "adapter_config.json"
    if not cfg.is_file():
        return str(model_dir), None
    base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise SeqitError(f"{cfg}: base_model_name_or_path is missing; cannot load the adapter's base model")
    return str(base), str(model_dir)


def task_manager(include_path: Path | list[Path] | None, names: list[str]) -> Any:
    """A TaskManager that knows `names`; indexes only `include_path` (one dir or several) when every
    task is there (indexing lm-eval's thousands of built-in task YAMLs takes ~15 s)."""
    from lm_eval.tasks import TaskManager

    paths = [include_path] if isinstance(include_path, (str, Path)) else list(include_path or [])
    for p in paths:
        if not Path(p).is_dir():
            raise ConfigError(f"lm_eval.include_path: {p} is not a directory")
    if paths:
        local = TaskManager(include_path=[str(p) for p in paths], include_defaults=False)
        if set(names) <= set(local.all_tasks):
            return local
    return TaskManager(include_path=[str(p) for p in paths] or None)


def check_tasks(names: list[str], manager: Any) -> None:
    """Every requested task must be known to lm-eval (or the include_path); suggest close names."""
    known = set(manager.all_tasks)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"lm_eval.tasks: unknown task {name!r}{hint}")


def seed_langdetect(seed: int) -> bool:
    """Seed langdetect (IFEval's language checks) so identical text always gets the same verdict; lm-eval leaves
    it unseeded and the same response can pass or fail across runs (lm-evaluation-harness #4213)."""
    try:
        from langdetect import DetectorFactory
    except ImportError:
        return False
    DetectorFactory.seed = seed
    return True


def run_lm_eval(model: TeacherConfig, cfg: LmEvalConfig, limit: int | None, seed: int,
                workdir: Path | None = None) -> dict[str, Any]:
    """Evaluate; returns {"metrics": {task: {metric: value}}, "samples": [rows], "n_samples": {...}}."""
    check_backend(model)
    if not cfg.tasks:
        raise ConfigError("lm_eval.tasks: list at least one task (e.g. [gsm8k] or a task from include_path)")
    require("lm_eval", "eval", "lm_eval tasks")
    import lm_eval

    from seqit.eval.lmeval_offline import write_overlays

    overlay = write_overlays(cfg.local_data, list(cfg.tasks), Path(workdir or ".") / "lm_eval_tasks")
    manager = task_manager([p for p in (cfg.include_path, overlay) if p] or None, list(cfg.tasks))
    check_tasks(list(cfg.tasks), manager)
    seed_langdetect(seed)
    lm = load_hflm(model, cfg.batch_size)
    try:
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=list(cfg.tasks),
            num_fewshot=cfg.num_fewshot,
            limit=limit,
            task_manager=manager,
            apply_chat_template=cfg.apply_chat_template,
            fewshot_as_multiturn=cfg.fewshot_as_multiturn and cfg.apply_chat_template,
            gen_kwargs=dict(cfg.gen_kwargs) or None,
            bootstrap_iters=cfg.bootstrap_iters,
            log_samples=True,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    except ImportError as e:
        raise SeqitError(f"lm_eval: a task's hooks need a package that is not installed ({e})") from None
    except (FileNotFoundError, ConnectionError, OSError) as e:
        hint = " (relative data_files in a task YAML are resolved from the current directory)"
        raise SeqitError(f"lm_eval could not load a task's data ({type(e).__name__}: {e}){hint}") from None
    return {
        "metrics": {task: _clean_metrics(m) for task, m in out["results"].items()},
        "n_samples": {task: len(rows) for task, rows in out.get("samples", {}).items()},
        "versions": _jsonable(out.get("versions", {})),
        "n_shot": _jsonable(out.get("n-shot", {})),
        "samples": [sample_row(task, s) for task, rows in out.get("samples", {}).items() for s in rows],
    }


def _clean_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """lm-eval's 'acc,none' keys -> 'acc' (filter kept when not 'none'); numbers as floats."""
    out: dict[str, Any] = {}
    for key, value in m.items():
        if key in ("alias", "name"):
            continue
        metric, _, filt = key.partition(",")
        name = metric if filt in ("", "none") else f"{metric}[{filt}]"
        out[name] = _jsonable(value)
    return out


def sample_row(task: str, s: dict[str, Any]) -> dict[str, Any]:
    """One lm-eval logged sample as a seqit samples.jsonl row."""
    args = s.get("arguments") or []
    prompt = args[0][0] if args and isinstance(args[0], (list, tuple)) and args[0] else None
    return {
        "id": f"{task}:{s.get('doc_id')}",
        "task": task,
        "status": "ok",
        "prompt": prompt,
        "output": _jsonable(s.get("filtered_resps")),
        "target": _jsonable(s.get("target")),
        "metrics": {k: _jsonable(s[k]) for k in s.get("metrics", []) if k in s},
    }


def _jsonable(v: Any) -> Any:
    """numpy scalars / tuples / NaN from lm-eval -> plain JSON values."""
    import numpy as np

    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
