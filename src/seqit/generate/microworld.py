"""`seqit generate` method `microworld`: deterministic, verifiable SIT data from the step library.

    seqit generate configs/generate/microworld.yaml microworld.examples=5000 "microworld.lengths=[1,2,3,4]"

No seed data and no teacher: every example is a chain of letter-string steps (reverse, rotate, ...)
whose intermediate results the step library computes, so every answer is correct by construction
(and re-checked by the exact scorer before it is written). One "seed" = one example index; it
yields one SIT record (a chain, lengths cycling through `microworld.lengths`) and one IT record
(a single step on a fresh input): the matched baseline with the same example count.

About `heldout_fraction` of the ordered step pairs are never adjacent in training; the run also
writes four held-out evaluation item files (SeqEval-V items: records with meta.chain, on inputs that
never occur in training) that `seqit eval` task `seqeval_v` scores exactly, per step:

    eval-single.jsonl  single steps            eval-seen.jsonl    chains of trained pairs
    eval-unseen.jsonl  chains that start with a held-out pair
    eval-longer.jsonl  chains one step longer than any trained chain
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqit.chains.sampling import (
    Chain,
    choose_heldout_pairs,
    letters_sampler,
    render_answer,
    render_prompt,
    sample_chains,
)
from seqit.chains.scoring import score_chain
from seqit.chains.steps import NUMBER_WORDS, STEP_TYPES, TEXT, StepError
from seqit.errors import ConfigError
from seqit.jsonl import write_jsonl
from seqit.runs import reject_row, start_run

if TYPE_CHECKING:
    from seqit.generate.config import GenerateConfig, MicroworldConfig

SOURCE = "microworld"
EVAL_SPLITS = ("single", "seen", "unseen", "longer")

# Closed over letter strings, so any composition is valid. Six ops are what a 2-layer model learns
# within the demo's budget (see docs/chains.md, experiment log); the others are slower to learn.
MICRO_OPS = (
    "reverse_text",
    "rotate_left",
    "swap_ends",
    "shift_letters",
    "first_k_letters",
    "last_k_letters",
)
# Also phrased for the micro-world (name them in microworld.ops): slower to learn.
EXTRA_MICRO_OPS = ("uppercase", "lowercase", "double_letters", "replace_letter", "sort_letters", "remove_vowels",
                   "dedupe_letters")
# Short Title-Case phrasings (3 per op). The micro-world tokenizer reads a Title-Case word as one token
# and everything else (values: all-lowercase or all-uppercase letters) one character at a time, so
# prompts are short: sequence length is most of a tiny model's training compute. Counts are words
# ("First Two"): a digit would be confused with the digits that number the steps (docs/chains.md).
MICRO_PHRASES: dict[str, tuple[str, ...]] = {
    "reverse_text": ("Reverse", "Reverse It", "Write Backwards"),
    "rotate_left": ("Rotate Left", "First Letter To End", "Rotate By One"),
    "swap_ends": ("Swap Ends", "Swap First And Last", "Exchange The Ends"),
    "shift_letters": ("Shift Letters", "Next Letter Each", "Shift By One"),
    "uppercase": ("Uppercase", "To Upper Case", "Capitalize All"),
    "lowercase": ("Lowercase", "To Lower Case", "Make Small"),
    "double_letters": ("Double Letters", "Double Each Letter", "Repeat Each Letter"),
    "first_k_letters": ("First {k:w}", "Keep First {k:w}", "Take {k:w} From Start"),
    "last_k_letters": ("Last {k:w}", "Keep Last {k:w}", "Take {k:w} From End"),
    "replace_letter": ("Replace {a} With {b}", "Turn {a} Into {b}", "Change {a} To {b}"),
    "sort_letters": ("Sort", "Sort Letters", "Alphabetical Order"),
    "remove_vowels": ("Drop Vowels", "Remove Vowels", "No Vowels"),
    "dedupe_letters": ("Dedupe", "Drop Repeats", "Unique Letters"),
}
MICRO_TEMPLATES = ("Input: {input}\n{steps}", "{steps}\nInput: {input}", "Do In Order:\n{steps}\nInput: {input}")


def micro_words() -> list[str]:
    """Every Title-Case word of the micro-world's phrasings and templates, with and without a leading space."""
    text = " ".join([*MICRO_TEMPLATES, "Step", *NUMBER_WORDS, *(p for ps in MICRO_PHRASES.values() for p in ps)])
    words = sorted(set(re.findall(r"[A-Z][a-z]+", text)))
    return words + [" " + w for w in words]


def resolve_ops(ops: Iterable[str]) -> tuple[str, ...]:
    """The configured ops (empty = MICRO_OPS); unknown or unphrased ops are a config error."""
    ops = tuple(ops) or MICRO_OPS
    bad = [o for o in ops if o not in MICRO_PHRASES or o not in STEP_TYPES]
    if bad:
        raise ConfigError(f"microworld.ops: unknown op {bad[0]!r} (choose from {', '.join(MICRO_PHRASES)})")
    if len(set(ops)) < 3:
        raise ConfigError("microworld.ops: needs at least 3 distinct ops (to hold out pairs and still chain)")
    return ops


# ---- records (pure) ---------------------------------------------------------------------------------


def chain_messages(chain: Chain, answer: str = "named", listing: tuple[int, ...] | None = None) -> list[dict[str, str]]:
    """The user turn (numbered steps + input) and the answer: 'Step i (<instruction i>): <result>' when
    `answer` is "named" (each line repeats its instruction, so every step is computed from what is
    next to it), else 'Step i: <result>'."""
    return [{"role": "user", "content": render_prompt(chain, MICRO_TEMPLATES, MICRO_PHRASES, listing)},
            {"role": "assistant", "content": render_answer(chain, MICRO_PHRASES, named=answer == "named")}]


def chain_record(chain: Chain, rid: str, seed_id: str | None = None, split: str | None = None,
                 answer: str = "named", listing: tuple[int, ...] | None = None) -> dict[str, Any]:
    """A seqit conversation record (and SeqEval-V item: meta.chain) for a micro-world chain."""
    names = list(chain.composition)
    meta: dict[str, Any] = {"source": SOURCE, "kind": "sit" if len(names) > 1 else "it", "depth": len(names),
                            "steps": names, "chain": chain.to_dict()}
    if seed_id is not None:
        meta["seed_id"] = seed_id
    if split is not None:
        meta.update(split=split, version=SOURCE)
    if listing is not None:
        meta["listing"] = list(listing)
    return {"id": rid, "messages": chain_messages(chain, answer, listing), "meta": meta}


def verify(record: dict[str, Any]) -> str | None:
    """Why a record's written answer does not score as fully correct on its own chain (None when it does)."""
    s = score_chain(Chain.from_dict(record["meta"]["chain"]), record["messages"][-1]["content"])
    return None if s.chain_ok else f"the rendered answer does not re-score as correct (steps {list(s.correct)})"


def draw_listing(rng: random.Random, k: int, share: float) -> tuple[int, ...] | None:
    """With probability `share`, an order other than 1..k to list a k-step chain's numbered steps in
    (None: in order; a single step is always in order).

    >>> draw_listing(random.Random(0), 3, 1.0), draw_listing(random.Random(0), 1, 1.0)
    ((1, 0, 2), None)
    """
    if k < 2 or rng.random() >= share:
        return None
    while (listing := tuple(rng.sample(range(k), k))) == tuple(range(k)):
        pass
    return listing


def heldout_pairs(mc: MicroworldConfig, ops: tuple[str, ...], seed: int) -> frozenset[tuple[str, str]]:
    return choose_heldout_pairs(random.Random(seed), ops, TEXT, mc.heldout_fraction)


def train_chains(mc: MicroworldConfig, ops: tuple[str, ...], heldout: frozenset, n: int, lengths: tuple[int, ...],
                 seed: int) -> list[Chain | StepError]:
    """`n` training chains (inputs outside the eval bucket, no held-out pair); a chain that cannot be
    sampled is returned as its StepError (written as a reject). The same stream for IT and SIT."""
    rng = random.Random(seed + 2)
    inputs = letters_sampler(mc.min_input_len, mc.max_input_len, upper_frac=mc.upper_frac)
    out: list[Chain | StepError] = []
    for i in range(n):
        length = lengths[i % len(lengths)]
        try:
            out.append(sample_chains(rng, 1, ops, (length,), inputs, heldout, "train")[0])
        except StepError as e:
            out.append(e)
    return out


def eval_chains(mc: MicroworldConfig, ops: tuple[str, ...], heldout: frozenset, seed: int) -> dict[str, list[Chain]]:
    """The held-out evaluation chains (eval-bucket inputs only)."""
    rng = random.Random(seed + 1)
    inputs = letters_sampler(mc.min_input_len, mc.max_input_len, upper_frac=mc.upper_frac)
    lengths = tuple(mc.eval_lengths)
    longer = max(mc.lengths) + 1
    return {
        "single": sample_chains(rng, mc.eval_n, ops, (1,), inputs, heldout, "seen"),
        "seen": sample_chains(rng, mc.eval_n, ops, lengths, inputs, heldout, "seen"),
        "unseen": sample_chains(rng, mc.eval_n, ops, lengths, inputs, heldout, "unseen"),
        "longer": sample_chains(rng, mc.eval_n, ops, (longer,), inputs, heldout, "seen"),
    }


# ---- run -----------------------------------------------------------------------------------------------


def run_microworld(cfg: GenerateConfig, argv: list[str] | None = None) -> Path:
    """Write sit.jsonl, it.jsonl, rejects.jsonl, done.jsonl, eval-*.jsonl and the manifest; returns the run dir."""
    from seqit.generate.outputs import finalize
    from seqit.generate.selfseq.pipeline import Outcome

    mc = cfg.microworld
    ops = resolve_ops(mc.ops)
    heldout = heldout_pairs(mc, ops, cfg.seed)
    if not heldout:
        raise ConfigError("microworld.heldout_fraction: holds out no pair for these ops (raise it, or add ops)")
    n = min(mc.examples, cfg.limit) if cfg.limit else mc.examples
    run = start_run(cfg.out_dir, cfg, "generate", argv=argv)
    sit_chains = train_chains(mc, ops, heldout, n, tuple(mc.lengths), cfg.seed)
    it_chains = train_chains(mc, ops, heldout, n, (1,), cfg.seed + 100)
    sit, it, rejects, done, order = [], [], [], [], {}
    listings = random.Random(cfg.seed + 3)
    for i, (sc, ic) in enumerate(zip(sit_chains, it_chains, strict=True)):
        seed_id = f"mw-{i:06d}"
        order[seed_id] = i
        o = Outcome(seed_id)
        for kind, chain in (("sit", sc), ("it", ic)):
            if isinstance(chain, StepError):
                record, problem = None, str(chain)
            else:
                listing = draw_listing(listings, len(chain.steps), mc.shuffled_listing) if kind == "sit" else None
                record = chain_record(chain, f"{seed_id}:{kind}", seed_id, answer=mc.answer, listing=listing)
                problem = verify(record)
            if problem:
                o.rejects.append(reject_row(seed_id, f"microworld.{kind}", problem, dropped=True))
                continue
            setattr(o, kind, record)
            o.stages[f"microworld.{kind}"] += 1
        rejects += o.rejects
        sit += [o.sit] if o.sit else []
        it += [o.it] if o.it else []
        done.append(o.summary())
    write_jsonl(run.file("sit.jsonl"), sit)
    write_jsonl(run.file("it.jsonl"), it)
    write_jsonl(run.file("rejects.jsonl"), rejects)
    write_jsonl(run.file("done.jsonl"), done)
    files = write_eval_items(run.path, eval_chains(mc, ops, heldout, cfg.seed), mc.answer)
    run.manifest["microworld"] = {
        "ops": list(ops), "heldout_pairs": sorted(f"{a}>{b}" for a, b in heldout),
        "train_lengths": list(mc.lengths), "longer_length": max(mc.lengths) + 1, "answer": mc.answer,
        "eval_files": {k: str(v.name) for k, v in files.items()},
    }
    finalize(cfg, run, order, rows_in=mc.examples, read_rejects=0, limited=mc.examples - n)
    return run.path


def write_eval_items(out: Path, chains: dict[str, list[Chain]], answer: str = "named") -> dict[str, Path]:
    """eval-<split>.jsonl per split: SeqEval-V items (records with meta.chain) for `seqit eval`."""
    files = {}
    for split in EVAL_SPLITS:
        path = out / f"eval-{split}.jsonl"
        write_jsonl(path, [chain_record(c, f"{split}-{i:04d}", split=split, answer=answer)
                           for i, c in enumerate(chains[split])])
        files[split] = path
    return files


def plan_microworld(cfg: GenerateConfig) -> Any:
    """--dry-run: the first two records; nothing is sent (no teacher) and nothing written."""
    from seqit.generate.selfseq.dryrun import Plan

    mc = cfg.microworld
    ops = resolve_ops(mc.ops)
    heldout = heldout_pairs(mc, ops, cfg.seed)
    chains = [c for c in train_chains(mc, ops, heldout, 2, tuple(mc.lengths)[1:] or (1,), cfg.seed)
              if isinstance(c, Chain)]
    shown = [(f"mw-{i:06d}:sit", chain_messages(c, mc.answer)) for i, c in enumerate(chains)]
    return Plan(mc.examples, shown, {"requests": 0, "max_cost_usd": 0.0, "models": {}})
