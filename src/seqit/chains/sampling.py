"""Seeded chain generator: inputs, chains of steps, held-out compositions/lengths, and rendering
of a chain as a prompt ("1. ... 2. ... Input: ...") and an answer ("Step 1: ...", one line per step).

    rng = random.Random(0)
    holdout = choose_heldout_pairs(rng, ops, TEXT, fraction=0.25)
    chains = sample_chains(rng, 100, ops, lengths=(2, 3), input_sampler=letters_sampler(3, 6), holdout=holdout)

A *composition* is the tuple of step names. A held-out pair (a, b) means: no training chain ever
has step a immediately followed by step b; "unseen" eval chains contain at least one such pair.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from seqit.chains.steps import (
    INT,
    INTS,
    TEXT,
    WORDS,
    Step,
    StepError,
    Value,
    apply_step,
    render_step,
    render_value,
    sample_step,
    step_type,
    value_type,
)

Pair = tuple[str, str]
InputSampler = Callable[[random.Random], Value]

# Compact prompt framings (the micro-world uses Title-Case variants of these, see seqit.quickstart.microworld).
PLAIN_TEMPLATES = (
    "Input: {input}\n{steps}",
    "{steps}\nInput: {input}",
    "Do in order:\n{steps}\nInput: {input}",
)
# One explicit, fixed framing for real models (SeqEval-V); changing it means a new SeqEval-V version.
SEQEVAL_TEMPLATES = (
    "Apply the following {k} step(s) in order. Step 1 works on the input; every later step works on the "
    "result of the step before it.\n\nInput: {input}\n\nSteps:\n{steps}\n\n"
    "Answer with exactly one line per step, in the form 'Step N: <result>', and nothing else. "
    "Write lists as items separated by ', ' and numbers as plain integers.",
)


@dataclass(frozen=True)
class Chain:
    """An input plus k steps, each applied to the previous result, with the chosen phrasings."""

    input: Value
    steps: tuple[Step, ...]
    phrasings: tuple[int, ...]
    template: int = 0

    @property
    def composition(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def results(self) -> list[Value]:
        """Every intermediate result (results()[-1] is the final answer)."""
        out, value = [], self.input
        for step in self.steps:
            value = apply_step(step, value)
            out.append(value)
        return out

    def types(self) -> list[str]:
        """The value type of the input followed by the type after each step."""
        ts = [value_type(self.input)]
        for step in self.steps:
            ts.append(step_type(step.name).output_type(ts[-1]))
        return ts

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "steps": [s.to_dict() for s in self.steps],
            "phrasings": list(self.phrasings),
            "template": self.template,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Chain:
        return Chain(d["input"], tuple(Step.from_dict(s) for s in d["steps"]), tuple(d["phrasings"]), d["template"])


# ---- rendering -----------------------------------------------------------------------------------


def render_prompt(chain: Chain, templates: tuple[str, ...] = PLAIN_TEMPLATES,
                  phrasebook: dict[str, tuple[str, ...]] | None = None, listing: tuple[int, ...] | None = None) -> str:
    """The user turn: the numbered steps and the input, in the chain's template. `phrasebook` replaces
    the library's phrasings for the step types it names (the micro-world uses short ones); `listing`
    lists the numbered lines in another order (a permutation of 0..k-1; the numbers keep the order).

    >>> c = Chain("ab", (Step("reverse_text", {}), Step("uppercase", {})), (0, 0))
    >>> render_prompt(c, ("{steps}",), {"reverse_text": ("Reverse",), "uppercase": ("Upper",)}, listing=(1, 0))
    '2. Upper\\n1. Reverse'
    """
    pairs = zip(chain.steps, chain.phrasings, strict=True)
    lines = [f"{i}. {render_step(s, p, phrasebook)}" for i, (s, p) in enumerate(pairs, 1)]
    steps = "\n".join(lines[j] for j in listing) if listing is not None else "\n".join(lines)
    tpl = templates[chain.template % len(templates)]
    return tpl.format(input=render_value(chain.input, value_type(chain.input)), steps=steps, k=len(chain.steps))


def render_answer(chain: Chain, phrasebook: dict[str, tuple[str, ...]] | None = None, named: bool = False) -> str:
    """The expected assistant turn: 'Step i: <result i>' for every step, one per line; `named` also
    repeats the step's instruction as the prompt phrased it: 'Step i (<instruction i>): <result i>'.

    >>> c = Chain("abc", (Step("reverse_text", {}),), (0,))
    >>> render_answer(c), render_answer(c, {"reverse_text": ("Reverse",)}, named=True)
    ('Step 1: cba', 'Step 1 (Reverse): cba')
    """
    types = chain.types()[1:]
    lines = []
    for i, (step, p, v, t) in enumerate(zip(chain.steps, chain.phrasings, chain.results(), types, strict=False), 1):
        label = f" ({render_step(step, p, phrasebook)})" if named else ""
        lines.append(f"Step {i}{label}: {render_value(v, t)}")
    return "\n".join(lines)


# ---- inputs ---------------------------------------------------------------------------------------

WORD_BANK = (
    "apple banana cherry grape lemon mango melon peach pear plum kiwi lime olive onion pepper tomato potato "
    "carrot garlic ginger river ocean forest desert island valley canyon meadow harbor bridge castle garden "
    "window ladder mirror pencil rocket planet comet galaxy violin guitar piano trumpet drum flute tiger zebra "
    "rabbit monkey donkey turtle parrot falcon salmon shark whale camel horse sheep goat eagle otter beaver "
    "silver golden purple orange yellow marble copper cotton velvet paper stone cloud storm thunder winter "
    "summer autumn spring sunset morning evening candle lantern engine wagon sailor doctor farmer baker pilot "
    "artist butter cookie muffin noodle pasta pizza salad honey sugar pepper yogurt cheese bread coffee"
).split()


def letters_sampler(min_len: int, max_len: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz",
                    upper_frac: float = 0.0) -> InputSampler:
    """Random letter strings (the micro-world's inputs); a fraction of them in capitals."""

    def sample(rng: random.Random) -> str:
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len)))
        return s.upper() if upper_frac and rng.random() < upper_frac else s

    return sample


def mixed_sampler() -> InputSampler:
    """Readable inputs of every type for real models: a word, a word list, a number or a number list."""

    def sample(rng: random.Random) -> Value:
        kind = rng.choices((TEXT, WORDS, INT, INTS), weights=(3, 4, 1, 2))[0]
        if kind == TEXT:
            word = rng.choice(WORD_BANK)
            return word.capitalize() if rng.random() < 0.3 else word
        if kind == WORDS:
            ws = [rng.choice(WORD_BANK) for _ in range(rng.randint(3, 6))]
            if rng.random() < 0.3:
                ws.insert(rng.randrange(len(ws)), rng.choice(ws))  # a duplicate for dedupe steps
            return ws
        if kind == INT:
            return rng.randint(10, 999)
        return [rng.randint(1, 99) for _ in range(rng.randint(3, 6))]

    return sample


def input_bucket(value: Value, n_buckets: int = 10) -> int:
    """Stable bucket of an input (crc32 of its text), used to keep train and eval inputs disjoint."""
    return zlib.crc32(render_value(value, value_type(value)).encode("utf-8")) % n_buckets


def is_eval_input(value: Value) -> bool:
    """Inputs in bucket 0 are reserved for evaluation; training never uses them."""
    return input_bucket(value) == 0


# ---- compositions and hold-outs ------------------------------------------------------------------


def adjacent_pairs(composition: Iterable[str]) -> list[Pair]:
    names = list(composition)
    return list(zip(names, names[1:], strict=False))


def has_heldout_pair(composition: Iterable[str], heldout: frozenset[Pair]) -> bool:
    return any(p in heldout for p in adjacent_pairs(composition))


def compatible_pairs(step_names: Iterable[str], start_type: str) -> list[Pair]:
    """Ordered pairs (a, b), a != b, where b can take a's output (starting from `start_type` values)."""
    names = sorted(set(step_names))
    reachable = _reachable_types(names, start_type)
    pairs = []
    for a in names:
        outs = {step_type(a).output_type(t) for t in step_type(a).in_types if t in reachable}
        for b in names:
            if a != b and outs & set(step_type(b).in_types):
                pairs.append((a, b))
    return pairs


def _reachable_types(names: list[str], start_type: str) -> set[str]:
    types, frontier = {start_type}, [start_type]
    while frontier:
        t = frontier.pop()
        for n in names:
            if t in step_type(n).in_types:
                o = step_type(n).output_type(t)
                if o not in types:
                    types.add(o)
                    frontier.append(o)
    return types


def choose_heldout_pairs(rng: random.Random, step_names: Iterable[str], start_type: str, fraction: float,
                         keep: Callable[[Pair], bool] | None = None) -> frozenset[Pair]:
    """Hold out about `fraction` of the compatible pairs (those `keep` accepts, when given), never a
    step's last seen pair on either side, so that every step is still trained both before and after
    some other step."""
    pairs = [p for p in compatible_pairs(step_names, start_type) if keep is None or keep(p)]
    rng.shuffle(pairs)
    target = round(fraction * len(pairs))
    held: set[Pair] = set()
    for a, b in pairs:
        if len(held) >= target:
            break
        rest = [p for p in pairs if p not in held and p != (a, b)]
        if any(p[0] == a for p in rest) and any(p[1] == b for p in rest):
            held.add((a, b))
    return frozenset(held)


# ---- sampling chains -------------------------------------------------------------------------------


def sample_chain(
    rng: random.Random,
    step_names: tuple[str, ...],
    length: int,
    input_value: Value,
    n_templates: int,
    heldout: frozenset[Pair] = frozenset(),
    must_use: Pair | None = None,
) -> Chain | None:
    """A chain of `length` steps on `input_value` that avoids held-out pairs (or, with `must_use`,
    starts with that pair); steps are no-ops never. None when no chain fits."""
    steps: list[Step] = []
    value = input_value
    for pos in range(length):
        if must_use is not None and pos < 2:
            candidates = [must_use[pos]]
        else:
            prev = steps[-1].name if steps else None
            candidates = [n for n in step_names if n != prev and (prev, n) not in heldout]
        rng.shuffle(candidates)
        for name in candidates:
            step = sample_step(rng, name, value)
            if step is None:
                continue
            nxt = apply_step(step, value)
            if nxt == value:
                continue
            steps.append(step)
            value = nxt
            break
        else:
            return None
    phrasings = tuple(rng.randrange(len(step_type(s.name).phrasings)) for s in steps)
    return Chain(input_value, tuple(steps), phrasings, rng.randrange(n_templates))


def sample_chains(
    rng: random.Random,
    n: int,
    step_names: tuple[str, ...],
    lengths: tuple[int, ...],
    input_sampler: InputSampler,
    heldout: frozenset[Pair] = frozenset(),
    split: str = "train",
    n_templates: int = len(PLAIN_TEMPLATES),
    max_tries: int = 100,
) -> list[Chain]:
    """`n` chains with lengths cycling through `lengths`.

    split="train": inputs outside the eval bucket, no held-out pair anywhere.
    split="seen":  eval-bucket inputs, no held-out pair (trained compositions, new inputs).
    split="unseen": eval-bucket inputs, the first two steps form a held-out pair.
    """
    if split not in ("train", "seen", "unseen"):
        raise ValueError(f"unknown split {split!r}")
    if split == "unseen" and not heldout:
        raise ValueError("split='unseen' needs held-out pairs")
    out: list[Chain] = []
    held_list = sorted(heldout)
    for i in range(n):
        length = lengths[i % len(lengths)]
        for _ in range(max_tries):
            value = _sample_input(rng, input_sampler, want_eval=split != "train")
            must = rng.choice(held_list) if split == "unseen" else None
            chain = sample_chain(rng, step_names, length, value, n_templates, heldout if split != "unseen" else frozenset(), must)
            if chain is not None and (split == "unseen" or not has_heldout_pair(chain.composition, heldout)):
                out.append(chain)
                break
        else:
            raise StepError(f"could not sample a {split} chain of length {length} in {max_tries} tries")
    return out


def _sample_input(rng: random.Random, input_sampler: InputSampler, want_eval: bool, max_draws: int = 10_000) -> Value:
    for _ in range(max_draws):
        value = input_sampler(rng)
        if is_eval_input(value) == want_eval:
            return value
    raise StepError(f"the input sampler gave no {'eval' if want_eval else 'train'} input in {max_draws} draws")
