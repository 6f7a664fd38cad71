"""Per-phase data: read records, encode with the one render path, drop + count bad rows, and the
preflight report (counts, truncation statistics, two samples with trained spans marked).
"""

from __future__ import annotations

import logging
import random
from array import array
from dataclasses import dataclass, field
from typing import Any

from seqit.errors import DataError, SeqitError
from seqit.train.encode import Encoded, encode_messages, mark_trained

log = logging.getLogger(__name__)


@dataclass
class PhaseData:
    """One phase's training examples as (input_ids, targets) pairs, plus what preflight counted."""

    name: str
    path: str
    examples: list[tuple[array, array]]  # (input_ids, next-token targets with -100 where untrained)
    stats: dict[str, Any]
    samples: list[str] = field(default_factory=list)  # rendered text with [[trained]] spans
    n_trained: list[int] = field(default_factory=list)  # trained tokens per example

    def __post_init__(self):
        if not self.n_trained:
            self.n_trained = [sum(t != -100 for t in tg) for _, tg in self.examples]


def encode_phase(
    tokenizer: Any, name: str, path: str, fmt: str | None, max_len: int, stops: list[str], limit: int | None,
    show_progress: bool = False, truncation: str = "refuse",
) -> PhaseData:
    """Read `path`, encode every record, drop rows the loss cannot use, and count everything.

    Examples cut before their end-of-turn token are kept and counted (`truncation="refuse"`: the caller
    refuses to train on them, see truncation_refusal) or dropped and counted (`"drop"`).

    Token ids are kept as compact int32 arrays (4 bytes per token instead of ~36 for a list of ints).
    """
    from seqit.progress import progress
    from seqit.records import load_records

    loaded = load_records(path, fmt)
    records = loaded.records[:limit] if limit else loaded.records
    if not records:
        raise DataError(f"{path}: no usable records (rows: {loaded.rows_in}, rejects: {len(loaded.rejects)})")
    stop_ids = _stop_token_ids(tokenizer, stops)
    examples: list[tuple[array, array]] = []
    kept: list[Encoded] = []
    counts = {"no_trained_token": 0, "response_truncated_away": 0, "truncated_kept": 0, "turns_unlocated": 0,
              "prompt_mismatch": 0}
    lengths: list[int] = []
    raw_lengths: list[int] = []
    no_eos = 0
    truncated_no_eos = 0  # cut before their end-of-turn token: they would never train a stop
    with progress(f"encode {name}", len(records), enabled=show_progress) as bar:
        for rec in bar.track(records):
            ex = encode_messages(tokenizer, rec.messages, max_len, stops)
            counts["turns_unlocated"] += ex.turns_unlocated
            raw_lengths.append(len(ex.input_ids) if not ex.truncated else max_len + 1)
            if ex.turns_truncated_away:
                counts["response_truncated_away"] += 1
                continue
            if ex.n_trained == 0:
                counts["no_trained_token"] += 1
                continue
            counts["truncated_kept"] += ex.truncated
            counts["prompt_mismatch"] += not ex.truncated and not _prompt_is_prefix(tokenizer, rec.messages, ex)
            if not _ends_with_stop(tokenizer, ex, stops, stop_ids):
                if ex.truncated:
                    truncated_no_eos += 1
                    if truncation == "drop":
                        counts["truncated_kept"] -= 1
                        continue
                else:
                    no_eos += 1
            examples.append((array("i", ex.input_ids), array("i", ex.targets())))
            lengths.append(len(ex.input_ids))
            kept.append(ex)
    if no_eos:
        raise SeqitError(
            f"{path}: {no_eos} examples do not train an end-of-turn token ({' / '.join(stops)}); the model "
            "would never learn to stop. Use a template whose assistant turns end with EOS."
        )
    if not examples:
        raise DataError(f"{path}: every record was dropped by preflight ({counts})")
    if counts["prompt_mismatch"]:
        log.warning("%s: %d examples tokenise the prompt differently at inference than in training (a template "
                    "whose prompt ends in whitespace?); generation will see other tokens", path, counts["prompt_mismatch"])
    stats = {
        "rows_in": loaded.rows_in,
        "rejects": len(loaded.rejects),
        "records": len(records),
        "examples": len(examples),
        "dropped": counts["no_trained_token"] + counts["response_truncated_away"]
        + (truncated_no_eos if truncation == "drop" else 0),
        **counts,
        "tokens": sum(lengths),
        "trained_tokens": sum(ex.n_trained for ex in kept),
        "length_mean": round(sum(lengths) / len(lengths), 1),
        "length_p50": _pct(lengths, 50),
        "length_p95": _pct(lengths, 95),
        "length_max": max(lengths),
        "over_max_len": sum(n > max_len for n in raw_lengths),
        "truncated_without_eos": truncated_no_eos,
        "truncation": truncation,
    }
    if truncated_no_eos and truncation == "drop":
        log.info("%s: dropped %d examples cut at batch.max_seq_len=%d before their end-of-turn token "
                 "(batch.truncation=drop)", path, truncated_no_eos, max_len)
    samples = [mark_trained(tokenizer, ex) for ex in _pick_samples(kept)]
    return PhaseData(name, path, examples, stats, samples)


def _prompt_is_prefix(tokenizer: Any, messages: list[dict[str, str]], ex: Encoded) -> bool:
    """The ids generation would feed for the last response are exactly the training ids before it
    (fails e.g. when a template's prompt ends in a space that the tokenizer merges into the response)."""
    from seqit.train.encode import render_prompt

    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    prompt = render_prompt(tokenizer, messages[:last])
    return ex.input_ids[: len(prompt)] == prompt


def _stop_token_ids(tokenizer: Any, stops: list[str]) -> set[int]:
    ids = set()
    for s in stops:
        tid = tokenizer.convert_tokens_to_ids(s)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return ids


def _ends_with_stop(tokenizer: Any, ex: Encoded, stops: list[str], stop_ids: set[int]) -> bool:
    """The last trained token is a stop token, or the trained text ends with a stop string."""
    last = max(i for i, t in enumerate(ex.trained) if t)
    if ex.input_ids[last] in stop_ids:
        return True
    tail = tokenizer.decode(ex.input_ids[max(0, last - 16) : last + 1], skip_special_tokens=False)
    return any(tail.endswith(s) for s in stops)


def _pick_samples(kept: list[Encoded]) -> list[Encoded]:
    """Two samples: the first example and the one with the most assistant turns (else the longest)."""
    if not kept:
        return []
    rest = kept[1:]
    if not rest:
        return [kept[0]]
    other = max(rest, key=lambda e: (e.n_turns, len(e.input_ids)))
    return [kept[0], other]


def _pct(xs: list[int], q: float) -> int:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q / 100))]


def epoch_order(n: int, seed: int, phase: int, epoch: int, shuffle: bool) -> list[int]:
    """Example order for one epoch: seeded by (seed, phase, epoch), identical on every process."""
    order = list(range(n))
    if shuffle:
        random.Random(f"{seed}:{phase}:{epoch}").shuffle(order)
    return order


def eos_line(truncated_without_eos: int, examples: int, truncation: str = "refuse") -> str:
    """The preflight's end-of-turn line, honest about examples truncated before their EOS."""
    if not truncated_without_eos:
        return "- every kept example trains its end-of-turn token: yes\n"
    if truncation == "drop":
        return (f"- every kept example trains its end-of-turn token: yes ({truncated_without_eos} examples cut "
                "before it were dropped: batch.truncation=drop)\n")
    return (f"- every kept example trains its end-of-turn token: no: {truncated_without_eos} of {examples} "
            "examples are cut before it; training refuses them (batch.truncation=refuse)\n")


def truncation_refusal(phases: list[PhaseData], max_len: int) -> str | None:
    """Why training must not start under `batch.truncation: refuse` (examples that would never learn to stop),
    or None. One line naming every phase, the counts and both ways out."""
    cut = [(ph.name, ph.stats["truncated_without_eos"], ph.stats["records"]) for ph in phases
           if ph.stats.get("truncated_without_eos")]
    if not cut:
        return None
    where = ", ".join(f"{name}: {n} of {rows}" for name, n, rows in cut)
    return (f"examples longer than batch.max_seq_len={max_len} tokens would be cut before their end-of-turn token "
            f"and never learn to stop ({where} records); batch.truncation=refuse (the default) stops here. Raise "
            "batch.max_seq_len, or set batch.truncation=drop to train without them (see preflight.md)")


def plan_line(steps: list[tuple[int, int]], names: list[str], max_steps: int | None) -> str:
    """The step plan in one line: what runs, and what max_steps cut.

    >>> plan_line([(30, 20), (15, 0)], ["phase-1", "phase-2"], 20)
    'plan: 20 optimizer steps (max_steps=20 of 45 planned): phase-1 20 of 30, phase-2 not trained'
    >>> plan_line([(3, 3)], ["phase-1"], None)
    'plan: 3 optimizer steps: phase-1 3'
    """
    run, planned = sum(b for _, b in steps), sum(a for a, _ in steps)
    parts = [f"{name} {b}" if a == b else f"{name} {b} of {a}" if b else f"{name} not trained"
             for name, (a, b) in zip(names, steps, strict=True)]
    cut = f" (max_steps={max_steps} of {planned} planned)" if run < planned else ""
    return f"plan: {run} optimizer steps{cut}: " + ", ".join(parts)


def preflight_markdown(phases: list[PhaseData], template: str, template_hash: str, max_len: int,
                       steps: list[tuple[int, int]] | None = None, max_steps: int | None = None) -> str:
    """The human-readable preflight report written to the run dir (and logged)."""
    lines = [f"# seqit train preflight\n\ntemplate: {template} (hash {template_hash}), max_seq_len: {max_len}\n"]
    if steps is not None:
        lines.append(plan_line(steps, [ph.name for ph in phases], max_steps) + "\n")
    for ph in phases:
        s = ph.stats
        lines.append(f"## {ph.name}: {ph.path}\n")
        lines.append(
            f"- rows in {s['rows_in']}, rejected by reader {s['rejects']}, records {s['records']}, "
            f"kept {s['examples']}, dropped {s['dropped']} "
            f"(no trained token {s['no_trained_token']}, response truncated away {s['response_truncated_away']}"
            + (f", cut before the end-of-turn token {s['truncated_without_eos']}" if s.get("truncation") == "drop"
               else "") + ")"
        )
        lines.append(
            f"- truncation: {s['over_max_len']} over {max_len} tokens, {s['truncated_kept']} kept truncated; "
            f"unlocated assistant turns: {s['turns_unlocated']}"
        )
        lines.append(
            f"- tokens {s['tokens']} (trained {s['trained_tokens']}); length mean {s['length_mean']}, "
            f"p50 {s['length_p50']}, p95 {s['length_p95']}, max {s['length_max']}"
        )
        lines.append(f"- inference prompt differs from the training prefix: {s['prompt_mismatch']} examples")
        lines.append(eos_line(s.get("truncated_without_eos", 0), s["examples"], s.get("truncation", "refuse")))
        for i, text in enumerate(ph.samples, 1):
            lines.append(f"### sample {i} (trained spans in [[ ]])\n\n```\n{text}\n```\n")
    return "\n".join(lines)
