"""Decontamination: flag (or drop) training records whose prompt overlaps an evaluation prompt.

Word n-grams (lowercased `\\w+` tokens, n = 8 by default) of every evaluation prompt go into an index;
n-grams shared by many evaluation prompts (a benchmark's own template, e.g. SeqEval-V's instructions
around the steps) are boilerplate and left out. A record matches an evaluation item when it contains at
least `min_overlap` of that item's remaining n-grams; the best match names the eval id.

    index = build_index([("seqeval_v:v1", "seqeval_v-v1-L1-000", "Apply the following ...")])
    best_match(index, "some training prompt")   # -> Match(eval_id, source, overlap, shared) or None

Sources (`decontam.sources`): `seqeval_v` / `seqeval_v:v1` / `seqeval_v:v2` (the shipped items),
`seqeval` (the bundled SeqEval sample), or any local prompt file (.json/.jsonl/.parquet of SeqEval
rows {instruction[, input]} or seqit records), whose ids are the file's ids or content ids.

    >>> sorted(ngrams(tokens("A b c d"), 3))
    [('a', 'b', 'c'), ('b', 'c', 'd')]
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

_TOKEN = re.compile(r"\w+")

Gram = tuple[str, ...]


@dataclass(frozen=True)
class DecontamConfig:
    sources: list[str] = field(default_factory=list)  # empty = off; seqeval_v[:v1|v2], seqeval, or prompt files
    action: Literal["report", "drop"] = "report"  # report: tag meta.contamination; drop: reject the record
    ngram: int = 8  # words per n-gram
    min_overlap: float = 0.5  # share of an eval prompt's (non-boilerplate) n-grams a record must contain
    max_doc_share: float = 0.02  # n-grams in more than this share of eval prompts (and > 2) are boilerplate

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError("decontam.ngram must be >= 1")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError("decontam.min_overlap must be in (0, 1]")
        if not 0.0 < self.max_doc_share <= 1.0:
            raise ValueError("decontam.max_doc_share must be in (0, 1]")


@dataclass(frozen=True)
class Match:
    eval_id: str
    source: str
    overlap: float  # share of the eval prompt's indexed n-grams found in the record
    shared: int

    def to_json(self) -> dict[str, Any]:
        return {"eval_id": self.eval_id, "eval_source": self.source, "overlap": self.overlap, "shared_ngrams": self.shared}


@dataclass
class EvalIndex:
    n: int
    grams: dict[Gram, list[int]]  # n-gram -> eval prompts holding it
    sizes: list[int]  # indexed n-grams per eval prompt
    ids: list[str]
    sources: list[str]
    short_lengths: set[int]  # prompts shorter than n are indexed whole
    boilerplate: int = 0

    def __len__(self) -> int:
        return len(self.ids)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(toks: list[str], n: int) -> set[Gram]:
    """Word n-grams; a text shorter than n is one n-gram of its whole length."""
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)}


def build_index(prompts: list[tuple[str, str, str]], n: int = 8, max_doc_share: float = 0.02) -> EvalIndex:
    """Index (source, eval id, prompt text) triples, leaving out boilerplate n-grams.

    >>> ix = build_index([("s", "a", "one two three four"), ("s", "b", "five six seven eight")], n=2)
    >>> best_match(ix, "say three four five six").eval_id, len(ix)
    ('a', 2)
    """
    per = [ngrams(tokens(text), n) for _, _, text in prompts]
    df = Counter(g for gs in per for g in gs)
    limit = max(2, int(max_doc_share * len(prompts)))
    boiler = {g for g, c in df.items() if c > limit}
    grams: dict[Gram, list[int]] = {}
    sizes = []
    for i, gs in enumerate(per):
        keep = gs - boiler
        sizes.append(len(keep))
        for g in keep:
            grams.setdefault(g, []).append(i)
    short = {len(g) for g in grams if len(g) < n}
    return EvalIndex(n, grams, sizes, [p[1] for p in prompts], [p[0] for p in prompts], short, len(boiler))


def best_match(index: EvalIndex, text: str, min_overlap: float = 0.5) -> Match | None:
    """The eval prompt `text` overlaps most (ties: the first indexed), if at least `min_overlap`."""
    toks = tokens(text)
    found = ngrams(toks, index.n) if len(toks) >= index.n else set()
    for k in index.short_lengths:
        found |= {tuple(toks[i: i + k]) for i in range(len(toks) - k + 1)}
    hits: Counter[int] = Counter()
    for g in found:
        for i in index.grams.get(g, ()):
            hits[i] += 1
    best: Match | None = None
    for i, shared in sorted(hits.items()):
        overlap = round(shared / index.sizes[i], 4)
        if overlap >= min_overlap and (best is None or overlap > best.overlap):
            best = Match(index.ids[i], index.sources[i], overlap, shared)
    return best


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The part of a record compared with eval prompts: its user turns."""
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")


def summarize(cfg: DecontamConfig, index: EvalIndex, matches: list[tuple[str, Match]], checked: int,
              show: int = 20) -> dict[str, Any]:
    """The manifest's `decontam` section: settings, index size, hits by eval source, the first hits."""
    return {
        "sources": list(cfg.sources), "action": cfg.action, "ngram": cfg.ngram, "min_overlap": cfg.min_overlap,
        "eval_prompts": len(index), "boilerplate_ngrams": index.boilerplate, "checked": checked,
        "hits": len(matches), "hits_by_source": dict(sorted(Counter(m.source for _, m in matches).items())),
        "examples": [{"id": rid, **m.to_json()} for rid, m in matches[:show]],
    }


# ---- loading eval prompts (reads the shipped benchmarks or local files) ------------------------------


def load_eval_prompts(sources: list[str]) -> list[tuple[str, str, str]]:
    """(source, eval id, prompt text) for every prompt of every source."""
    from importlib import resources

    from seqit.chains.seqeval_v import frozen_items, prompt_of
    from seqit.errors import DataError
    from seqit.eval.items import load_items

    out: list[tuple[str, str, str]] = []
    for src in sources:
        if src == "seqeval_v" or src.startswith("seqeval_v:"):
            version = src.partition(":")[2] or "v1"
            out += [(f"seqeval_v:{version}", it["id"], prompt_text(prompt_of(it))) for it in frozen_items(version)]
        elif src == "seqeval":
            path = resources.files("seqit") / "resources" / "seqeval_sample.json"
            out += [("seqeval", i.id, i.instruction) for i in load_items(str(path), prefix="seqeval")]
        else:
            try:
                out += [(src, i.id, prompt_text(list(i.messages))) for i in load_items(src)]
            except FileNotFoundError:
                raise DataError(f"decontam.sources: {src}: not found (seqeval_v[:v1|v2], seqeval, or a prompt file)") from None
    return out


def open_index(cfg: DecontamConfig) -> EvalIndex | None:
    """The index of cfg.sources (None when decontamination is off)."""
    if not cfg.sources:
        return None
    return build_index(load_eval_prompts(list(cfg.sources)), cfg.ngram, cfg.max_doc_share)


def find_matches(index: EvalIndex, texts: list[tuple[str, str]], min_overlap: float) -> list[tuple[int, str, Match]]:
    """(position, record id, match) for every (id, prompt text) that overlaps an eval prompt."""
    out = []
    for pos, (rid, text) in enumerate(texts):
        m = best_match(index, text, min_overlap)
        if m is not None:
            out.append((pos, rid, m))
    return out


def hit_reason(m: Match) -> str:
    return f"prompt overlaps eval item {m.eval_id!r} ({m.source}): {m.overlap:.0%} of its {m.shared} matching n-grams"
