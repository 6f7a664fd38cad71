"""SeqEval-V: a judge-free, versioned benchmark of sequential instruction following.

Each item is one prompt holding an input and 1-5 steps from the whole step library (text, word
lists, numbers); the model must answer one 'Step N: <result>' line per step. Scoring is exact, per
step (see seqit.chains.scoring). Item sets are fixed per version and shipped in seqit/resources/.

    items = frozen_items("v1")                       # the shipped, frozen item set
    results = score_outputs(items, {item_id: model_text, ...})   # results.json-shaped dict

Any model or API can be evaluated: send each item's user message, collect the text, score it.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any

from seqit.chains.sampling import (
    SEQEVAL_TEMPLATES,
    Chain,
    mixed_sampler,
    render_answer,
    render_prompt,
    sample_chain,
)
from seqit.chains.scoring import ChainScore, aggregate, score_chain
from seqit.chains.steps import INT, STEP_TYPES, StepError
from seqit.errors import DataError

TASK = "seqeval_v"
VERSIONS: dict[str, dict[str, Any]] = {
    # version -> generation recipe; a new recipe (or step-library change) gets a new version.
    "v1": {"seed": 0, "lengths": (1, 2, 3, 4, 5), "per_length": 100},
}


def build_items(version: str = "v1", seed: int | None = None, per_length: int | None = None) -> list[dict[str, Any]]:
    """Generate the item set of `version` (seqit records: user prompt + expected answer, chain in meta)."""
    if version not in VERSIONS:
        raise DataError(f"unknown SeqEval-V version {version!r} (known: {', '.join(VERSIONS)})")
    recipe = VERSIONS[version]
    rng = random.Random(recipe["seed"] if seed is None else seed)
    names = tuple(sorted(STEP_TYPES))
    sampler = mixed_sampler()
    items = []
    for length in recipe["lengths"]:
        for i in range(per_length or recipe["per_length"]):
            chain = _sample(rng, names, length, sampler)
            items.append(_item(chain, f"{TASK}-{version}-L{length}-{i:03d}", version))
    return items


def _sample(rng: random.Random, names: tuple[str, ...], length: int, sampler: Any, tries: int = 200) -> Chain:
    for _ in range(tries):
        chain = sample_chain(rng, names, length, sampler(rng), len(SEQEVAL_TEMPLATES))
        # Counting/summing steps absorb every chain into numbers; keep them last unless the input is a number.
        if chain is not None and (chain.types()[0] == INT or INT not in chain.types()[1:-1]):
            return chain
    raise StepError(f"could not sample a SeqEval-V chain of length {length}")


def _item(chain: Chain, item_id: str, version: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "messages": [
            {"role": "user", "content": render_prompt(chain, SEQEVAL_TEMPLATES)},
            {"role": "assistant", "content": render_answer(chain)},
        ],
        "meta": {"source": TASK, "version": version, "kind": "sit" if len(chain.steps) > 1 else "it",
                 "depth": len(chain.steps), "steps": list(chain.composition), "chain": chain.to_dict()},
    }


def data_path(version: str) -> Path:
    """The shipped JSONL of a version's items."""
    return Path(str(resources.files("seqit") / "resources" / f"{TASK}_{version}.jsonl"))


def frozen_items(version: str = "v1") -> list[dict[str, Any]]:
    """The frozen item set shipped with seqit (regenerate with build_items, compare in tests)."""
    from seqit.jsonl import read_jsonl

    path = data_path(version)
    if not path.exists():
        raise DataError(f"SeqEval-V {version}: {path} is missing (known: {', '.join(VERSIONS)})")
    return list(read_jsonl(path))


def prompt_of(item: dict[str, Any]) -> list[dict[str, str]]:
    """The messages to send to a model: everything before the expected answer."""
    return [m for m in item["messages"] if m["role"] != "assistant"]


def score_outputs(items: list[dict[str, Any]], outputs: dict[str, str] | list[str | None]) -> dict[str, Any]:
    """Score model outputs (by item id, or a list in item order; None = no output) into a
    results.json-shaped dict: overall and per-depth chain/step/follow accuracy, first-failure histogram.
    A missing output counts as wrong, and is counted."""
    scores, rows = _score(items, _by_id(items, outputs))
    overall = aggregate(scores)
    by_depth = overall.pop("by_length")
    return {
        "task": TASK,
        "version": ",".join(sorted({it["meta"].get("version", "?") for it in items})),
        "n_items": len(items),
        "n_missing": sum(1 for r in rows if r["output"] is None),
        "metrics": {"overall": overall, "by_iteration": by_depth},
    }


def score_samples(items: list[dict[str, Any]], outputs: dict[str, str] | list[str | None]) -> list[dict[str, Any]]:
    """One samples.jsonl row per item: the output and its per-step verdicts."""
    return _score(items, _by_id(items, outputs))[1]


def _by_id(items: list[dict[str, Any]], outputs: dict[str, str] | list[str | None]) -> dict[str, str]:
    if isinstance(outputs, list):
        if len(outputs) != len(items):
            raise DataError(f"SeqEval-V: {len(outputs)} outputs for {len(items)} items")
        return {it["id"]: o for it, o in zip(items, outputs, strict=False) if o is not None}
    unknown = set(outputs) - {it["id"] for it in items}
    if unknown:
        raise DataError(f"SeqEval-V: outputs for unknown item ids, e.g. {sorted(unknown)[:3]}")
    return outputs


def _score(items: list[dict[str, Any]], outputs: dict[str, str]) -> tuple[list[ChainScore], list[dict[str, Any]]]:
    scores, rows = [], []
    for it in items:
        text = outputs.get(it["id"])
        s = score_chain(Chain.from_dict(it["meta"]["chain"]), text or "")
        scores.append(s)
        rows.append({"id": it["id"], "depth": s.length, "output": text, "expected": it["messages"][-1]["content"],
                     "correct": list(s.correct), "followed": list(s.followed), "chain_ok": s.chain_ok,
                     "first_failure": s.first_failure})
    return scores, rows


def load_benchmark(spec: str | None) -> list[dict[str, Any]]:
    """A SeqEval-V item set: a version name (default "v1") or a file of items in the same form
    (read through the records edge reader; any bad row is a DataError naming file:line:field)."""
    from seqit.records import Reject, RowError, read_rows, row_id

    spec = spec or "v1"
    if spec in VERSIONS:
        return frozen_items(spec)
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{spec}: not a SeqEval-V version ({', '.join(VERSIONS)}) or an items file")

    def parse(row: dict[str, Any], fmt: str | None) -> dict[str, Any]:
        if not isinstance(row.get("meta"), dict) or "chain" not in row["meta"]:
            raise RowError("meta.chain", "missing (not a SeqEval-V item)")
        if row_id(row, ("id",)) is None:
            raise RowError("id", "missing (not a SeqEval-V item)")
        return row

    items = []
    for got in read_rows(path, parse, id_of=lambda row, value: row_id(row, ("id",))):
        if isinstance(got, Reject):
            raise DataError(str(got))
        items.append(got.value)
    return items
