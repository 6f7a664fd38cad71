"""The package's shape: no import cycles (imports inside functions count), few top-level modules, pure
domain modules that import no pipeline, and the docstring examples of pure modules hold."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "seqit"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """seqit modules `name` imports anywhere in its body; `from pkg import sub` counts as importing pkg.sub only."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqit"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            if subs:
                out |= subs
                if len(subs) < len(node.names):
                    out.add(node.module)
            else:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("seqit")}
    return {m for m in out if m in MODULES and m != name and m != "seqit"}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_find_cycle_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_cycles_counting_imports_inside_functions():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_at_most_twelve_top_level_modules():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 12, top


# Pure domain: prompts, parsers, encoders, packers, planners, metrics and the chain library do no I/O and
# import no pipeline (no run_* module, no teacher, no run directory).
PURE = [
    "seqit.chains.steps", "seqit.chains.sampling", "seqit.chains.scoring",
    "seqit.generate.selfseq.prompts", "seqit.generate.selfseq.parse", "seqit.generate.selfseq.checks",
    "seqit.generate.taskdriven.builders", "seqit.generate.mix", "seqit.generate.stats",
    "seqit.phases.difficulty", "seqit.phases.dedup",
    "seqit.train.encode", "seqit.train.pack", "seqit.train.plan",
    "seqit.eval.verdict", "seqit.eval.winrate", "seqit.eval.metrics",
    "seqit.records.formats", "seqit.progress",
]
PIPELINE_PREFIXES = ("seqit.runs", "seqit.teachers", "seqit.cli", "seqit.report", "seqit.quickstart")
PIPELINES = {n for n in MODULES if n.endswith((".run", ".loop", ".outputs", ".complete", ".score", ".split"))}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_pipeline(name):
    def reach(n: str, seen: set[str]) -> set[str]:
        for m in GRAPH[n] - seen:
            seen.add(m)
            reach(m, seen)
        return seen

    bad = sorted(m for m in reach(name, set()) if m.startswith(PIPELINE_PREFIXES) or m in PIPELINES)
    assert not bad, f"{name} reaches {bad}"


@pytest.mark.parametrize("name", [*PURE, "seqit.runs", "seqit.config", "seqit.jsonl", "seqit.templates"])
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
