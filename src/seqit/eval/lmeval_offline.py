"""lm-eval's built-in tasks by name, offline, on a local copy of their data (`lm_eval.local_data`).

    lm_eval:
      tasks: [ifeval]
      local_data: {ifeval: data/ifeval/input_data.jsonl}   # a copy of google/IFEval's rows

For each named task seqit writes an overlay YAML into the run dir (`lm_eval_tasks/<task>.yaml`) that
`include:`s lm-eval's own task YAML (its prompt, hooks and metrics unchanged) and swaps only the data
source for the local file (as the task's test split). The overlay dir joins `lm_eval.include_path`,
so nothing is downloaded. The instruction-following tasks of the field: `ifeval` (lm-eval 0.4.x),
`ifbench` and `multi_if` (newer lm-eval releases; with an older one the name is a clear error).
"""

from __future__ import annotations

import re
from pathlib import Path

from seqit.errors import ConfigError

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
# Tasks whose lm-eval hooks import packages lm-eval does not install by default.
EXTRA_PACKAGES = {"ifeval": ("langdetect", "immutabledict", "nltk"), "ifbench": ("langdetect", "immutabledict", "nltk"),
                  "multi_if": ("langdetect", "immutabledict", "nltk")}
NEWER_TASKS = ("ifbench", "multi_if")
_SPLIT_KEYS = ("training_split", "validation_split", "fewshot_split")


def lm_eval_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm_eval")
    except PackageNotFoundError:
        return "?"


def builtin_task_yaml(name: str) -> Path | None:
    """The YAML of lm-eval's built-in task `name` (found by file name, checked by its `task:` line)."""
    import lm_eval.tasks

    root = Path(lm_eval.tasks.__file__).parent
    for path in [root / name / f"{name}.yaml", *sorted(root.glob(f"*/{name}.yaml")), *sorted(root.glob(f"*/*/{name}.yaml"))]:
        if path.is_file() and yaml_value(path.read_text(encoding="utf-8"), "task") == name:
            return path
    return None


def yaml_value(text: str, key: str) -> str | None:
    """A top-level scalar of a task YAML (lm-eval's YAMLs carry `!function` tags plain YAML cannot load)."""
    m = re.search(rf"^{re.escape(key)}:\s*([^\s#]+)", text, re.MULTILINE)
    return m.group(1).strip("'\"") if m else None


def missing_packages(name: str) -> list[str]:
    import importlib.util

    return [p for p in EXTRA_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]


def overlay_yaml(name: str, builtin: Path, data_file: Path) -> str:
    """The overlay task: lm-eval's own YAML with the dataset replaced by one local file (the test split)."""
    text = builtin.read_text(encoding="utf-8")
    split = yaml_value(text, "test_split") or yaml_value(text, "validation_split") or "test"
    lines = [
        f"# Written by seqit: lm-eval's {name} on a local copy of its data (no download).",
        f"include: {builtin}",
        f"task: {name}",
        f"dataset_path: {FORMATS[data_file.suffix]}",
        "dataset_name: null",
        "dataset_kwargs:",
        "  data_files:",
        f"    {split}: {data_file}",
        f"test_split: {split}",
    ]
    lines += [f"{key}: null" for key in _SPLIT_KEYS if yaml_value(text, key) not in (None, split)]
    return "\n".join(lines) + "\n"


def write_overlays(local_data: dict[str, str], tasks: list[str], dest: Path) -> Path | None:
    """Overlay YAMLs for every task in `local_data` under `dest` (None when there is nothing to do)."""
    if not local_data:
        return None
    for name, file in local_data.items():
        if name not in tasks:
            raise ConfigError(f"lm_eval.local_data: {name!r} is not in lm_eval.tasks ({', '.join(tasks) or 'none'})")
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"lm_eval.local_data.{name}: {file} is not a file (a local copy of the task's data)")
        if path.suffix not in FORMATS:
            raise ConfigError(f"lm_eval.local_data.{name}: {file}: expected {', '.join(FORMATS)}")
        builtin = builtin_task_yaml(name)
        if builtin is None:
            later = " (it ships with newer lm-eval releases; upgrade lm_eval)" if name in NEWER_TASKS else ""
            raise ConfigError(f"lm_eval.local_data: {name!r} is not a built-in task of lm-eval {lm_eval_version()}"
                              f"{later}, or put a task YAML in lm_eval.include_path")
        missing = missing_packages(name)
        if missing:
            raise ConfigError(f"lm_eval.tasks: lm-eval's {name} needs {', '.join(missing)} "
                              f"(pip install 'lm_eval[{name}]' or the packages themselves)")
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{name}.yaml").write_text(overlay_yaml(name, builtin, path.resolve()), encoding="utf-8")
    return dest
