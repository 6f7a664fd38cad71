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
import re
from importlib import resources
from pathlib import Path
from typing import Any

from seqit.chains.sampling import (
    SEQEVAL_TEMPLATES,
    Chain,
    Pair,
    choose_heldout_pairs,
    has_heldout_pair,
    mixed_sampler,
    render_answer,
    render_prompt,
    sample_chain,
)
from seqit.chains.scoring import ChainScore, aggregate, parse_step_lines, score_chain
from seqit.chains.steps import INT, LIBRARY, STEP_TYPES, TEXT, StepError, step_type
from seqit.errors import DataError

TASK = "seqeval_v"
V1_STEPS = tuple(sorted(STEP_TYPES))  # the 37 original step types, frozen with v1
V2_STEPS = tuple(sorted(LIBRARY))  # v1's plus STEP_TYPES_V2 (number, list and string transforms)
VERSIONS: dict[str, dict[str, Any]] = {
    # version -> generation recipe and the sha256 of the shipped file; a new recipe (or a change to a
    # step type it uses) gets a new version, and frozen_items refuses a shipped file whose bytes changed.
    "v1": {"seed": 0, "lengths": (1, 2, 3, 4, 5), "per_length": 100, "steps": V1_STEPS,
           "sha256": "7237828852ee2262024f4c9fa31cfde92081563fcebd62498a5c50feeea55421"},
    "v2": {"seed": 20260, "lengths": (1, 2, 3, 4, 5, 6, 7, 8), "per_length": 100, "steps": V2_STEPS,
           "heldout_fraction": 0.1, "heldout_share": 0.25,
           "sha256": "eae9b29342823a8750db6e489c1c65417d8d8eff6d7f9818f108d1f04f012aec"},
}


def build_items(version: str = "v1", seed: int | None = None, per_length: int | None = None) -> list[dict[str, Any]]:
    """Generate the item set of `version` (seqit records: user prompt + expected answer, chain in meta).

    v1: `per_length` chains per depth 1-5 over V1_STEPS. v2: depths 1-8 over V2_STEPS; first a seeded
    choice of held-out adjacent step pairs (heldout_pairs), then per depth >= 2 a `heldout_share` of
    chains that start with a held-out pair (meta.heldout = true); every other chain avoids them all.
    """
    if version not in VERSIONS:
        raise DataError(f"unknown SeqEval-V version {version!r} (known: {', '.join(VERSIONS)})")
    recipe = VERSIONS[version]
    rng = random.Random(recipe["seed"] if seed is None else seed)
    names = recipe["steps"]
    held = _choose_heldout(rng, recipe)
    sampler = mixed_sampler()
    items = []
    n = per_length or recipe["per_length"]
    for length in recipe["lengths"]:
        n_held = round(n * recipe.get("heldout_share", 0)) if length >= 2 else 0
        for i in range(n):
            chain = _sample(rng, names, length, sampler, held, unseen=i < n_held)
            items.append(_item(chain, f"{TASK}-{version}-L{length}-{i:03d}", version, held))
    return items


def _choose_heldout(rng: random.Random, recipe: dict[str, Any]) -> frozenset[Pair]:
    if not recipe.get("heldout_fraction"):
        return frozenset()
    # every value type is reachable from text; a pair must be able to start a chain, so its first step
    # may end in a number only when it also takes one (see _sample: numbers come last)
    return choose_heldout_pairs(rng, recipe["steps"], TEXT, recipe["heldout_fraction"], keep=_can_start)


def _can_start(pair: Pair) -> bool:
    """Some input type lets `pair` open a chain of any length: from a number, or never through one."""
    a, b = step_type(pair[0]), step_type(pair[1])
    for t in a.in_types:
        mid = a.output_type(t)
        if mid in b.in_types and (t == INT or INT not in (mid, b.output_type(mid))):
            return True
    return False


def heldout_pairs(version: str) -> frozenset[Pair]:
    """The adjacent step pairs (a, b) that `version` holds out: a training set that never has step a
    directly followed by step b leaves the items with meta.heldout = true as unseen compositions."""
    if version not in VERSIONS:
        raise DataError(f"unknown SeqEval-V version {version!r} (known: {', '.join(VERSIONS)})")
    recipe = VERSIONS[version]
    return _choose_heldout(random.Random(recipe["seed"]), recipe)


def _sample(rng: random.Random, names: tuple[str, ...], length: int, sampler: Any,
            held: frozenset[Pair] = frozenset(), unseen: bool = False, tries: int = 500) -> Chain:
    """A chain avoiding every held-out pair, or with `unseen`, one starting with a held-out pair
    (drawn afresh on every try, so a pair no input fits cannot stall the build)."""
    pairs = sorted(held)
    for _ in range(tries):
        must = pairs[rng.randrange(len(pairs))] if unseen else None
        chain = sample_chain(rng, names, length, sampler(rng), len(SEQEVAL_TEMPLATES),
                             held if must is None else frozenset(), must)
        # Counting/summing steps absorb every chain into numbers; keep them last unless the input is a number.
        if chain is None or not (chain.types()[0] == INT or INT not in chain.types()[1:-1]):
            continue
        if not unseen and held and has_heldout_pair(chain.composition, held):
            continue
        return chain
    raise StepError(f"could not sample a SeqEval-V chain of length {length}" + (" with a held-out pair" if unseen else ""))


def _item(chain: Chain, item_id: str, version: str, held: frozenset[Pair] = frozenset()) -> dict[str, Any]:
    meta: dict[str, Any] = {"source": TASK, "version": version, "kind": "sit" if len(chain.steps) > 1 else "it",
                            "depth": len(chain.steps), "steps": list(chain.composition)}
    if held:  # v1 items keep their exact shape
        meta["heldout"] = has_heldout_pair(chain.composition, held)
    meta["chain"] = chain.to_dict()
    return {
        "id": item_id,
        "messages": [
            {"role": "user", "content": render_prompt(chain, SEQEVAL_TEMPLATES)},
            {"role": "assistant", "content": render_answer(chain)},
        ],
        "meta": meta,
    }


def data_path(version: str) -> Path:
    """The shipped JSONL of a version's items."""
    return Path(str(resources.files("seqit") / "resources" / f"{TASK}_{version}.jsonl"))


def frozen_items(version: str = "v1") -> list[dict[str, Any]]:
    """The frozen item set shipped with seqit (regenerate with build_items, compare in tests)."""
    from seqit.jsonl import read_jsonl

    path = data_path(version)
    if version not in VERSIONS:
        raise DataError(f"unknown SeqEval-V version {version!r} (known: {', '.join(VERSIONS)})")
    if not path.exists():
        raise DataError(f"SeqEval-V {version}: {path} is missing (known: {', '.join(VERSIONS)})")
    digest = file_sha256(path)
    if digest != VERSIONS[version]["sha256"]:
        raise DataError(f"{path}: sha256 {digest} is not the frozen SeqEval-V {version} "
                        f"({VERSIONS[version]['sha256']}); the shipped item file was modified")
    return list(read_jsonl(path))


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    metrics: dict[str, Any] = {"overall": overall, "by_iteration": by_depth}
    if any("heldout" in it["meta"] for it in items):  # v2: seen vs held-out (unseen) compositions, by depth
        metrics["by_heldout"] = {
            name: aggregate(s for s, it in zip(scores, items, strict=True) if bool(it["meta"].get("heldout")) == flag)
            for name, flag in (("seen", False), ("heldout", True))}
    return {
        "task": TASK,
        "version": ",".join(sorted({it["meta"].get("version", "?") for it in items})),
        "n_items": len(items),
        "n_missing": sum(1 for r in rows if r["output"] is None),
        "metrics": metrics,
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
        prompt, expected = prompt_of(it), it["messages"][-1]["content"]
        rows.append({"id": it["id"], "depth": s.length, "prompt": prompt,
                     "steps": expected_steps(prompt[-1]["content"], expected, s.length), "output": text,
                     "expected": expected, "correct": list(s.correct), "followed": list(s.followed),
                     "chain_ok": s.chain_ok, "first_failure": s.first_failure})
    return scores, rows


_NUMBERED = re.compile(r"^\s*(\d+)\.\s+(.+?)\s*$", re.MULTILINE)


def expected_steps(prompt: str, expected: str, k: int) -> list[dict[str, Any]]:
    """Each step of a chain as the sample shows it: its instruction (the prompt's numbered line) and the
    expected result (the expected answer's `Step i` line).

    >>> expected_steps("Input: ab\\n1. Reverse it.\\n2. Uppercase it.", "Step 1: ba\\nStep 2: BA", 2)
    [{'step': 1, 'instruction': 'Reverse it.', 'expected': 'ba'}, {'step': 2, 'instruction': 'Uppercase it.', 'expected': 'BA'}]
    """
    lines: dict[int, str] = {}
    for m in _NUMBERED.finditer(prompt):
        lines.setdefault(int(m.group(1)), m.group(2))
    results = parse_step_lines(expected)
    return [{"step": i, "instruction": lines.get(i), "expected": results.get(i)} for i in range(1, k + 1)]


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


# ---- multi-turn rendering and the self-conditioning probe ------------------------------------------
# Each step is its own user turn; the model answers each before the next is sent. Fixed wording: a
# change is a new MULTITURN_VERSION (results record it).

MULTITURN_VERSION = "seqeval_v.multiturn/v1"
MULTITURN_FIRST = (
    "I will give you {k} step(s), one at a time. Step 1 works on the input; every later step works on "
    "the result of the step before it.\n\nInput: {input}\n\nStep 1: {instruction}\n\n"
    "Answer with exactly one line, 'Step 1: <result>', and nothing else. "
    "Write lists as items separated by ', ' and numbers as plain integers."
)
MULTITURN_NEXT = "Step {i}: {instruction}\n\nApply it to your previous result. Answer with exactly one line, 'Step {i}: <result>'."


def multiturn_user_turns(chain: Chain) -> list[str]:
    """The user turns of `chain` in multi-turn rendering: the input and step 1, then one step per turn."""
    from seqit.chains.steps import render_step, render_value, value_type

    texts = [render_step(s, p) for s, p in zip(chain.steps, chain.phrasings, strict=True)]
    first = MULTITURN_FIRST.format(k=len(texts), input=render_value(chain.input, value_type(chain.input)),
                                   instruction=texts[0])
    return [first] + [MULTITURN_NEXT.format(i=i, instruction=t) for i, t in enumerate(texts[1:], 2)]


def turn_answer(step_no: int, reply: str | None) -> str | None:
    """The 'Step N: ...' text of turn N's reply (None when the reply has no such line)."""
    from seqit.chains.scoring import parse_step_lines

    return parse_step_lines(reply).get(step_no) if reply else None


def multiturn_output(replies: list[str | None]) -> str:
    """One 'Step i: ...' answer from the per-turn replies, so the single-prompt scorer applies unchanged
    (turn i counts only for step i: extra lines in a reply are ignored, a missing line is a miss)."""
    lines = []
    for i, reply in enumerate(replies, 1):
        text = turn_answer(i, reply)
        if text is not None:
            lines.append(f"Step {i}: {text}")
    return "\n".join(lines)


def wrong_value(chain: Chain, k: int) -> Any:
    """A wrong result for step k (1-based) that step k+1 still accepts and maps to something other
    than what it gives on the right result, so following the wrong value is distinguishable."""
    from seqit.chains.steps import INTS, TEXT, WORDS, apply_step, is_valid_value

    if not 1 <= k < len(chain.steps):
        raise ValueError(f"wrong_value: k={k} needs 1 <= k < depth {len(chain.steps)}")
    gold, vtype, nxt = chain.results()[k - 1], chain.types()[k], chain.steps[k]
    if vtype == INT:
        candidates = [gold + 1, gold - 1, gold + 10, gold * 2 + 3]
    elif vtype == TEXT:
        candidates = [gold[::-1], gold[1:], gold + gold[-1], gold[:-1], "x" + gold]
    elif vtype == WORDS:
        candidates = [gold[::-1], gold[1:], gold[:-1], gold + [gold[0]], [w + "s" for w in gold]]
    else:
        assert vtype == INTS
        candidates = [[x + 1 for x in gold], gold[::-1], gold[1:], gold[:-1], gold + [gold[0] + 2]]
    want = apply_step(nxt, gold)
    for cand in candidates:
        if cand == gold or not is_valid_value(cand, vtype):
            continue
        try:
            if apply_step(nxt, cand) != want:
                return cand
        except StepError:
            continue
    return None


def probe_history(chain: Chain, k: int, inject: bool) -> list[dict[str, str]] | None:
    """The conversation before step k+1's turn: turns 1..k with right answers pre-filled as assistant
    turns, except (with `inject`) a wrong result for step k; ends with step k+1's user turn.
    None when no distinguishable wrong value exists."""
    from seqit.chains.steps import render_value

    turns = multiturn_user_turns(chain)
    results, types = chain.results(), chain.types()
    bad = wrong_value(chain, k)
    if bad is None:
        return None
    msgs: list[dict[str, str]] = []
    for i in range(1, k + 1):
        value = bad if inject and i == k else results[i - 1]
        msgs += [{"role": "user", "content": turns[i - 1]},
                 {"role": "assistant", "content": f"Step {i}: {render_value(value, types[i])}"}]
    msgs.append({"role": "user", "content": turns[k]})
    return msgs


def probe_verdict(chain: Chain, k: int, inject: bool, reply: str | None) -> dict[str, bool]:
    """Step k+1's reply judged against the value in its context (`followed`: step k+1 applied to the
    pre-filled step-k result) and against the gold chain (`gold`)."""
    from seqit.chains.steps import apply_step, check_output, step_type

    step, out_type = chain.steps[k], chain.types()[k + 1]
    context_value = wrong_value(chain, k) if inject else chain.results()[k - 1]
    text = turn_answer(k + 1, reply)
    st = step_type(step.name)
    followed = text is not None and check_output(st, apply_step(step, context_value), out_type, text)
    gold = text is not None and check_output(st, chain.results()[k], out_type, text)
    return {"followed": followed, "gold": gold}
