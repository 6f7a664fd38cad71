"""`seqit split CONFIG`: cut scored data into phases of increasing difficulty (Phased IFT).

    seqit split configs/split/thresholds.yaml data=runs/score/scored.jsonl

Before splitting: rows that cannot be read, empty outputs, rows without the value the strategy
needs, and exact / near duplicates are removed and counted (rejects.jsonl). Then a strategy assigns
each record a phase: fixed thresholds, quantiles, chain depth, or a random split with the same phase
sizes as the control. Writes phase-1.jsonl ... phase-K.jsonl, all.jsonl (the one-off baseline, same
records), scores.png, rejects.jsonl and manifest.json.

`replay: 0.25` gives a quarter of every phase after the first to records replayed from earlier phases
(against forgetting what the easy phases taught; each phase keeps its size), and `shuffled: true`
also writes shuffled.jsonl, the phase files' records (replays included) in one random order: the
control that tells the curriculum's order from its data.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqit.config import InputPath, LocalOrName
from seqit.errors import DataError
from seqit.jsonl import write_jsonl
from seqit.phases.decontam import DecontamConfig
from seqit.phases.dedup import find_duplicates
from seqit.phases.difficulty import TOKEN_ESTIMATE
from seqit.phases.stats import describe_phase, plot_histogram, score_methods, token_counter
from seqit.records import Record, load_records
from seqit.records.formats import alpaca_prompt
from seqit.runs import reject_row, sha256_file, start_run

log = logging.getLogger(__name__)

MANIFEST_DUPLICATES = 100  # dropped duplicates listed (with their twins) in manifest.json; all in rejects.jsonl
Strategy = Literal["thresholds", "quantiles", "valleys", "depth", "random"]


@dataclass(frozen=True)
class DedupConfig:
    exact: bool = True
    near: bool = True
    compare: Literal["prompt", "conversation"] = "prompt"  # what must match: the prompt turns, or everything
    near_threshold: float = 0.8  # Jaccard of word 3-gram sets; lower = more aggressive
    shingle_words: int = 3
    num_perm: int = 64  # MinHash permutations; more = better recall below the threshold, slower

    def __post_init__(self) -> None:
        if not 0.0 < self.near_threshold <= 1.0:
            raise ValueError(f"near_threshold must be in (0, 1], got {self.near_threshold}")
        if not 1 <= self.shingle_words <= 16 or not 8 <= self.num_perm <= 1024:
            raise ValueError("shingle_words must be 1..16 and num_perm 8..1024")


@dataclass(frozen=True)
class SplitConfig:
    data: InputPath  # scored.jsonl from `seqit score`, a Phased-IFT stage file, or any record dataset
    out_dir: Path = Path("runs/split")
    format: str | None = None  # input format; null = detect
    strategy: Strategy = "thresholds"
    score_key: str = "difficulty"  # cut on meta.<score_key> (e.g. difficulty_instruction from a second `seqit score`)
    thresholds: tuple[float, ...] = (1.5, 3.5)  # phase k = [t(k-1), t(k)); the last phase includes 5
    num_phases: int = 3  # quantiles: equal-size phases; valleys: phases cut at the deepest density valleys
    control_of: Literal["thresholds", "quantiles", "valleys", "depth"] = "thresholds"  # random: copy these sizes
    seed: int = 0  # random control permutation
    missing_depth: int | None = None  # depth strategy: depth assumed when meta.depth is absent; null = reject
    min_output_chars: int = 1  # outputs shorter than this (after stripping) are dropped
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)  # eval-prompt overlap check (docs/eval.md)
    tokenizer: LocalOrName | None = None  # local HF tokenizer dir for token stats; null = regex estimate
    histogram: bool = True
    replay: float = 0.0  # share of each phase after the first replayed from earlier phases; 0 = plain Phased IFT
    shuffled: bool = False  # also write shuffled.jsonl: the phase files' records in one random order (order control)
    limit: int | None = None  # split only the first N rows (--limit)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if list(self.thresholds) != sorted(set(self.thresholds)) or not self.thresholds:
            raise ValueError(f"thresholds must be strictly increasing and non-empty, got {list(self.thresholds)}")
        if self.num_phases < 1:
            raise ValueError(f"num_phases must be >= 1, got {self.num_phases}")
        if not 0 <= self.replay < 1:
            raise ValueError(f"replay must be in [0, 1), got {self.replay}")


# ---------------------------------------------------------------------------------------------
# Strategies (pure): each returns a phase index 0..K-1 per item


def assign_thresholds(scores: list[float], thresholds: tuple[float, ...]) -> list[int]:
    """Phase by fixed cuts; a score equal to a cut goes to the higher phase.

    >>> assign_thresholds([1.0, 1.5, 3.4, 3.5, 5.0], (1.5, 3.5))
    [0, 1, 1, 2, 2]
    """
    return [bisect.bisect_right(thresholds, s) for s in scores]


def assign_quantiles(scores: list[float], ids: list[str], k: int) -> list[int]:
    """K equal-size phases by score (sizes differ by at most one).

    Equal scores may straddle a boundary; ties are ordered by a hash of the id, so the result does
    not depend on the input order.
    """
    n = len(scores)
    order = sorted(range(n), key=lambda i: (scores[i], hashlib.sha1(ids[i].encode()).hexdigest()))
    return _fill(order, equal_sizes(n, k))


def equal_sizes(n: int, k: int) -> list[int]:
    """K sizes that add up to n and differ by at most one.

    >>> equal_sizes(10, 3)
    [4, 3, 3]
    """
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def assign_depth(depths: list[int]) -> tuple[list[int], list[int]]:
    """One phase per distinct chain depth, shallow first; returns (phases, depth of each phase)."""
    levels = sorted(set(depths))
    pos = {d: i for i, d in enumerate(levels)}
    return [pos[d] for d in depths], levels


def assign_random(n: int, sizes: list[int], seed: int) -> list[int]:
    """A random partition with the given phase sizes (the control for a difficulty split)."""
    assert sum(sizes) == n, f"phase sizes {sizes} do not add up to {n} items"
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return _fill(order, sizes)


def _fill(order: list[int], sizes: list[int]) -> list[int]:
    phases = [0] * len(order)
    pos = 0
    for phase, size in enumerate(sizes):
        for i in order[pos : pos + size]:
            phases[i] = phase
        pos += size
    return phases


def kde_valleys(scores: list[float], k: int, grid: int = 401) -> tuple[list[float], float]:
    """The k-1 deepest valleys of a Gaussian KDE of the scores (Silverman bandwidth): automatic cut
    points in the spirit of the paper's hand-picked ones. Returns (sorted cuts, bandwidth).

    The density is computed on a binned grid (O(grid**2), independent of the number of scores).
    Raises ValueError when the density has fewer than k-1 valleys.
    """
    import numpy as np

    x = np.asarray(scores, dtype=float)
    std = float(x.std())
    if k < 2:
        return [], 0.0
    if std == 0.0:
        raise ValueError("all scores are equal: the density has no valleys")
    h = 1.06 * std * len(x) ** (-1 / 5)
    lo, hi = float(x.min()), float(x.max())
    centers = np.linspace(lo, hi, grid)
    counts = np.histogram(x, bins=grid, range=(lo, hi))[0]
    density = (counts[None, :] * np.exp(-0.5 * ((centers[:, None] - centers[None, :]) / h) ** 2)).sum(axis=1)
    valleys = []
    for i in range(1, grid - 1):
        if density[i] < density[i - 1] and density[i] <= density[i + 1]:
            depth = min(density[:i].max(), density[i + 1 :].max()) - density[i]
            valleys.append((float(depth), round(float(centers[i]), 4)))
    if len(valleys) < k - 1:
        raise ValueError(f"the score density has {len(valleys)} valley(s), fewer than the {k - 1} cuts needed "
                         f"for {k} phases; use fewer phases or strategy: quantiles")  # fmt: skip
    return sorted(c for _, c in sorted(valleys, reverse=True)[: k - 1]), round(h, 4)


def with_replay(phases: list[list[Record]], share: float, seed: int) -> list[list[Record]]:
    """Phase k >= 2 keeps its first round((1 - share) * n_k) records and fills the rest with records drawn
    (seeded; without replacement where there are enough) from phases 1..k-1. A replayed copy gets the id
    `<id>:replay<k>` and meta.replayed = true; every phase keeps its size.

    >>> ph = [[Record(f"a{i}", [], {}) for i in range(4)], [Record(f"b{i}", [], {}) for i in range(4)]]
    >>> [sorted(r.id.split(":")[0][0] for r in p) for p in with_replay(ph, 0.5, 0)]
    [['a', 'a', 'a', 'a'], ['a', 'a', 'b', 'b']]
    """
    rng = random.Random(f"{seed}:replay")
    out = [list(phases[0])] if phases else []
    for k in range(1, len(phases)):
        own, earlier = phases[k], [r for p in phases[:k] for r in p]
        n = round(share * len(own)) if earlier else 0
        picked = rng.sample(earlier, n) if n <= len(earlier) else rng.choices(earlier, k=n)
        phase = own[: len(own) - n] + [Record(f"{r.id}:replay{k + 1}", r.messages,
                                              {**r.meta, "phase": k + 1, "replayed": True}) for r in picked]
        rng.shuffle(phase)
        out.append(phase)
    return out


def shuffled_order(phases: list[list[Record]], seed: int) -> list[Record]:
    """The phases' records (replays included) in one seeded random order: the curriculum's order control."""
    rows = [r for p in phases for r in p]
    random.Random(f"{seed}:shuffled").shuffle(rows)
    return rows


def phase_sizes(phases: list[int], k: int) -> list[int]:
    sizes = [0] * k
    for p in phases:
        sizes[p] += 1
    return sizes


def quantile_cuts(scores: list[float], phases: list[int], k: int) -> list[float]:
    """Cut points between consecutive non-empty quantile phases (midpoint of max and next min)."""
    lo = [min((s for s, p in zip(scores, phases, strict=True) if p == j), default=None) for j in range(k)]
    hi = [max((s for s, p in zip(scores, phases, strict=True) if p == j), default=None) for j in range(k)]
    return [round((hi[j] + lo[j + 1]) / 2, 4) for j in range(k - 1) if hi[j] is not None and lo[j + 1] is not None]


# ---------------------------------------------------------------------------------------------
# Filtering before the split


@dataclass
class Filtered:
    kept: list[Record]
    rejects: list[dict[str, Any]]
    counts: dict[str, int]
    decontam: dict[str, Any] | None = None  # the manifest's decontam summary when the check ran


def needed_value(strategy: Strategy, control_of: str, score_key: str = "difficulty") -> str:
    """The meta field the strategy cuts on (the score key, or 'depth')."""
    basis = control_of if strategy == "random" else strategy
    return "depth" if basis == "depth" else score_key


def filter_records(records: list[Record], need: str, *, min_output_chars: int = 1, missing_depth: int | None = None,
                   dedup: DedupConfig | None = None, decontam: DecontamConfig | None = None) -> Filtered:
    """Drop empty outputs, rows without the `need`ed value (a meta score key, or 'depth'), then exact and near
    duplicates (counted)."""
    kept: list[Record] = []
    rejects: list[dict[str, Any]] = []
    counts = {"empty_output": 0, "missing_value": 0, "exact_duplicates": 0, "near_duplicates": 0}
    for r in records:
        reason = _unusable(r, need, min_output_chars, missing_depth)
        if reason is None:
            kept.append(r)
            continue
        counts["empty_output" if reason.startswith("output") else "missing_value"] += 1
        rejects.append(reject_row(r.id, "filter", reason, row=r.to_json()))
    d = dedup or DedupConfig()
    if d.exact or d.near:
        texts = [_dedup_text(r, d.compare) for r in kept]
        dups = find_duplicates(
            texts, exact=d.exact, near=d.near, threshold=d.near_threshold,
            shingle_words=d.shingle_words, num_perm=d.num_perm,
        )  # fmt: skip
        drop = {x.index for x in dups}
        for x in dups:
            counts[f"{x.kind}_duplicates"] += 1
            why = f"{x.kind} duplicate of {kept[x.of].id!r}" + (f" (Jaccard {x.similarity:.2f})" if x.kind == "near" else "")
            rejects.append(reject_row(kept[x.index].id, "dedup", why, row=kept[x.index].to_json(),
                                      duplicate_of=kept[x.of].id))
        kept = [r for i, r in enumerate(kept) if i not in drop]
    summary = None
    if decontam is not None and decontam.sources:
        kept, summary = _decontaminate(kept, decontam, rejects, counts)
    return Filtered(kept, rejects, counts, summary)


def _decontaminate(kept: list[Record], dc: DecontamConfig, rejects: list[dict[str, Any]],
                   counts: dict[str, int]) -> tuple[list[Record], dict[str, Any]]:
    """Check prompts against the eval sets: tag meta.contamination (report) or reject the record (drop)."""
    from seqit.phases.decontam import find_matches, hit_reason, open_index, prompt_text, summarize

    index = open_index(dc)
    assert index is not None
    checked = len(kept)
    hits = find_matches(index, [(r.id, prompt_text(r.prompt_messages)) for r in kept], dc.min_overlap)
    counts["contaminated"] = len(hits)
    by_pos = {pos: m for pos, _, m in hits}
    if dc.action == "drop":
        rejects += [reject_row(kept[p].id, "decontam", hit_reason(m), row=kept[p].to_json(), eval_id=m.eval_id)
                    for p, m in by_pos.items()]
        kept = [r for i, r in enumerate(kept) if i not in by_pos]
    else:
        kept = [Record(r.id, r.messages, {**r.meta, "contamination": by_pos[i].to_json()}) if i in by_pos else r
                for i, r in enumerate(kept)]
    return kept, summarize(dc, index, [(rid, m) for _, rid, m in hits], checked)


def _unusable(r: Record, need: str, min_output_chars: int, missing_depth: int | None) -> str | None:
    out = r.response
    if out is None or len(out.strip()) < min_output_chars:
        return f"output is empty or shorter than {min_output_chars} characters"
    if need == "depth":
        if not _is_number(r.meta.get("depth")) and missing_depth is None:
            return "no numeric meta.depth (set missing_depth to assume one)"
    elif not _is_number(r.meta.get(need)):
        return f"no numeric meta.{need} (run `seqit score` first)"
    return None


def _is_number(v: Any) -> bool:
    """A finite int/float (JSON lets NaN and Infinity through; they cannot be cut on)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _dedup_text(r: Record, compare: str) -> tuple[str, ...]:
    """What two records must share to be duplicates. For "prompt" with an alpaca-style instruction and input
    (meta.instruction / meta.input, as `seqit convert` keeps them) both must match, each on its own: different
    tasks on one shared passage are different examples. Otherwise the prompt turns (or the whole conversation)."""
    if compare == "prompt" and isinstance(r.meta.get("instruction"), str):
        inp = r.meta.get("input") if isinstance(r.meta.get("input"), str) else ""
        users = [m["content"] for m in r.prompt_messages if m["role"] == "user"]
        if users == [alpaca_prompt(r.meta["instruction"], inp)]:  # meta still describes this prompt
            rest = [m["content"] for m in r.prompt_messages if m["role"] == "system"]
            return (r.meta["instruction"], inp, *rest)
    msgs = r.prompt_messages if compare == "prompt" else r.messages
    return ("\n".join(m["content"] for m in msgs),)


# ---------------------------------------------------------------------------------------------
# Applying a strategy


@dataclass
class Assignment:
    phases: list[int]
    k: int
    cuts: list[float]  # score cut points drawn on the histogram
    info: dict[str, Any]


def assign(records: list[Record], cfg: SplitConfig) -> Assignment:
    """Phase index per record for the configured strategy."""
    if cfg.strategy == "random":
        ref = assign(records, _with_strategy(cfg, cfg.control_of))
        sizes = phase_sizes(ref.phases, ref.k)
        phases = assign_random(len(records), sizes, cfg.seed)
        info = {"control_of": cfg.control_of, "seed": cfg.seed, "reference": ref.info}
        return Assignment(phases, ref.k, [], info)
    if cfg.strategy == "depth":
        depths = [int(r.meta.get("depth", cfg.missing_depth)) for r in records]
        phases, levels = assign_depth(depths)
        return Assignment(phases, len(levels), [], {"depth_of_phase": levels})
    scores = [float(r.meta[cfg.score_key]) for r in records]
    if cfg.strategy == "thresholds":
        return Assignment(assign_thresholds(scores, cfg.thresholds), len(cfg.thresholds) + 1, list(cfg.thresholds),
                          {"thresholds": list(cfg.thresholds)})  # fmt: skip
    if cfg.strategy == "valleys":
        try:
            cuts, bandwidth = kde_valleys(scores, cfg.num_phases)
        except ValueError as e:
            raise DataError(f"{cfg.data}: strategy valleys: {e}") from None
        return Assignment(assign_thresholds(scores, tuple(cuts)), cfg.num_phases, cuts,
                          {"num_phases": cfg.num_phases, "cuts": cuts, "kde_bandwidth": bandwidth})  # fmt: skip
    phases = assign_quantiles(scores, [r.id for r in records], cfg.num_phases)
    cuts = quantile_cuts(scores, phases, cfg.num_phases)
    return Assignment(phases, cfg.num_phases, cuts, {"num_phases": cfg.num_phases, "cuts": cuts})


def _with_strategy(cfg: SplitConfig, strategy: str) -> SplitConfig:
    import dataclasses

    return dataclasses.replace(cfg, strategy=strategy)


# ---------------------------------------------------------------------------------------------
# The command


def run_split(cfg: SplitConfig, *, dry_run: bool = False, argv: list[str] | None = None) -> Path:
    """Filter, dedup and split `cfg.data`; returns the run dir (nothing is written when dry_run)."""
    records, read_rejects, rows_in = _read(cfg)
    filtered = filter_records(records, needed_value(cfg.strategy, cfg.control_of, cfg.score_key),
                              min_output_chars=cfg.min_output_chars, missing_depth=cfg.missing_depth, dedup=cfg.dedup,
                              decontam=cfg.decontam)
    if not filtered.kept:
        raise DataError(f"{cfg.data}: no records left to split after filtering ({filtered.counts})")
    a = assign(filtered.kept, cfg)
    tagged = [Record(r.id, r.messages, {**r.meta, "phase": p + 1}) for r, p in zip(filtered.kept, a.phases, strict=True)]
    phases: list[list[Record]] = [[] for _ in range(a.k)]
    for r, p in zip(tagged, a.phases, strict=True):
        phases[p].append(r)
    counts = {"rows_in": rows_in, "unreadable": len(read_rejects), **filtered.counts, "kept": len(filtered.kept)}
    assert rows_in == counts["kept"] + len(read_rejects) + len(filtered.rejects), f"row accounting is broken: {counts}"
    log.info("split %s: %s; phase sizes %s", cfg.strategy, counts, [len(p) for p in phases])
    empty = [i + 1 for i, recs in enumerate(phases) if not recs]
    if empty:
        log.warning("phase(s) %s are empty: no score falls in their range; check the thresholds", empty)
    if cfg.replay:
        phases = with_replay(phases, cfg.replay, cfg.seed)
    if dry_run:
        return cfg.out_dir
    run = start_run(cfg.out_dir, cfg, "split", inputs={"data": cfg.data}, argv=argv)
    count_tokens = token_counter(cfg.tokenizer)
    phase_info = []
    for i, recs in enumerate(phases, 1):
        f = run.file(f"phase-{i}.jsonl")
        write_jsonl(f, (r.to_json() for r in recs))
        phase_info.append({"phase": i, "file": f.name, **describe_phase(recs, count_tokens, cfg.score_key), "sha256": sha256_file(f)})
    write_jsonl(run.file("all.jsonl"), (r.to_json() for r in tagged))
    extra: dict[str, Any] = {}
    if cfg.replay:
        extra["replay"] = {"share": cfg.replay,
                           "per_phase": [sum(1 for r in p if r.meta.get("replayed")) for p in phases]}
    if cfg.shuffled:
        write_jsonl(run.file("shuffled.jsonl"), (r.to_json() for r in shuffled_order(phases, cfg.seed)))
        extra["shuffled"] = {"file": "shuffled.jsonl", "count": sum(map(len, phases)),
                             "sha256": sha256_file(run.file("shuffled.jsonl"))}
    write_jsonl(run.file("rejects.jsonl"), [*read_rejects, *filtered.rejects])
    hist = _histogram(run.file("scores.png"), phases, a, cfg) if cfg.histogram else None
    run.finish(
        counts={**counts, "phases": len(phases), "balanced": True},
        strategy=cfg.strategy,
        split=a.info,
        phase_sizes=[len(p) for p in phases],
        empty_phases=empty,
        phases=phase_info,
        all={"file": "all.jsonl", "count": len(tagged), "sha256": sha256_file(run.file("all.jsonl"))},
        token_count=f"tokenizer {cfg.tokenizer}" if cfg.tokenizer else TOKEN_ESTIMATE,
        score_key=cfg.score_key,
        score_methods=score_methods(tagged, cfg.score_key),
        score_agreement=score_agreement(filtered.kept),
        histogram=hist,
        duplicates=[{"id": r["id"], "duplicate_of": r["detail"]["duplicate_of"], "reason": r["reason"]}
                    for r in filtered.rejects if r.get("stage") == "dedup"][:MANIFEST_DUPLICATES],
        **({"decontam": filtered.decontam} if filtered.decontam else {}),
        **extra,
    )
    return run.path


def _read(cfg: SplitConfig) -> tuple[list[Record], list[dict[str, Any]], int]:
    loaded = load_records(cfg.data, cfg.format, limit=cfg.limit)
    return loaded.records, [r.to_json() for r in loaded.rejects], loaded.rows_in


def _histogram(path: Path, phases: list[list[Record]], a: Assignment, cfg: SplitConfig) -> str | None:
    key = cfg.score_key
    by_phase = [[float(r.meta[key]) for r in recs if _is_number(r.meta.get(key))] for recs in phases]
    if sum(len(x) for x in by_phase) == 0:
        log.info("no difficulty scores in the data: no histogram")
        return None
    details = [r.meta.get(f"{key}_detail") for recs in phases for r in recs]
    proxies = sorted({str(d.get("method")) for d in details if isinstance(d, dict) and d.get("proxy")})
    title = f"{Path(str(cfg.data)).name} — {cfg.strategy}" + (f" (seed {cfg.seed})" if cfg.strategy == "random" else "")
    if proxies:
        title += f" — PROXY scores ({', '.join(proxies)})"
    plot_histogram(path, by_phase, a.cuts, title)
    return path.name


# ---------------------------------------------------------------------------------------------
# Agreement between two difficulty scores on the same records (e.g. a judge and the IFD proxy)


def score_keys(records: list[Record]) -> list[str]:
    """meta keys written by `seqit score` (a number beside a `<key>_detail` dict), sorted."""
    keys = set()
    for r in records:
        for k, v in r.meta.items():
            if _is_number(v) and isinstance(r.meta.get(f"{k}_detail"), dict):
                keys.add(k)
    return sorted(keys)


def average_ranks(xs: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank.

    >>> average_ranks([10.0, 30.0, 20.0, 20.0])
    [1.0, 4.0, 2.5, 2.5]
    """
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None when undefined (n < 3 or a constant)."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return round(sxy / math.sqrt(sxx * syy), 4)


def score_agreement(records: list[Record]) -> list[dict[str, Any]]:
    """Spearman rank agreement for every pair of scores the records carry (on records having both)."""
    keys = score_keys(records)
    out = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            both = [(float(r.meta[a]), float(r.meta[b])) for r in records if _is_number(r.meta.get(a)) and _is_number(r.meta.get(b))]
            out.append({"scores": [a, b], "n": len(both), "spearman": spearman([x for x, _ in both], [y for _, y in both]),
                        "methods": [_method(records, a), _method(records, b)]})
    return out


def _method(records: list[Record], key: str) -> str:
    for r in records:
        d = r.meta.get(f"{key}_detail")
        if isinstance(d, dict) and d.get("method"):
            return str(d["method"])
    return "given"
