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
    show_progress: bool = False,
) -> PhaseData:
    """Read `path`, encode every record, drop rows the loss cannot use, and count everything.

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
    truncated_no_eos = 0  # kept, but cut before their end-of-turn token: they never train a stop
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
        "dropped": counts["no_trained_token"] + counts["response_truncated_away"],
        **counts,
        "tokens": sum(lengths),
        "trained_tokens": sum(ex.n_trained for ex in kept),
        "length_mean": round(sum(lengths) / len(lengths), 1),
        "length_p50": _pct(lengths, 50),
        "length_p95": _pct(lengths, 95),
        "length_max": max(lengths),
        "over_max_len": sum(n > max_len for n in raw_lengths),
        "truncated_without_eos": truncated_no_eos,
    }
    if truncated_no_eos:
        log.warning("%s: %d kept examples were truncated at %d tokens before their end-of-turn token; they train "
                    "no stop (raise batch.max_seq_len, or shorten them)", path, truncated_no_eos, max_len)
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


def eos_line(truncated_without_eos: int, examples: int) -> str:
    """The preflight's end-of-turn line, honest about examples truncated before their EOS."""
    if not truncated_without_eos:
        return "- every kept example trains its end-of-turn token: yes\n"
    return (f"- every kept example trains its end-of-turn token: no: {truncated_without_eos} of {examples} kept "
            "examples were truncated before it (raise batch.max_seq_len to keep their stop)\n")


def preflight_markdown(phases: list[PhaseData], template: str, template_hash: str, max_len: int) -> str:
    """The human-readable preflight report written to the run dir (and logged)."""
    lines = [f"# seqit train preflight\n\ntemplate: {template} (hash {template_hash}), max_seq_len: {max_len}\n"]
    for ph in phases:
        s = ph.stats
        lines.append(f"## {ph.name}: {ph.path}\n")
        lines.append(
            f"- rows in {s['rows_in']}, rejected by reader {s['rejects']}, records {s['records']}, "
            f"kept {s['examples']}, dropped {s['dropped']} "
            f"(no trained token {s['no_trained_token']}, response truncated away {s['response_truncated_away']})"
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
        lines.append(eos_line(s.get("truncated_without_eos", 0), s["examples"]))
        for i, text in enumerate(ph.samples, 1):
            lines.append(f"### sample {i} (trained spans in [[ ]])\n\n```\n{text}\n```\n")
    return "\n".join(lines)
