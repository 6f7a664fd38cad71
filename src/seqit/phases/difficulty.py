"""Difficulty of an instruction example (Phased IFT): the judge prompt, the reply parser, proxy scorers.

Everything here is pure. `seqit score` (score.py) sends `judge_messages(...)` to a teacher and
parses the reply with `parse_judgement`; `seqit split` (split.py) cuts on the resulting scores.

    >>> parse_score("Score: 4")
    4.0
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from seqit.records import Record

SCALE = (1.0, 5.0)

# ---------------------------------------------------------------------------------------------
# The judge prompt (our own wording; the reference released none). Change the text => bump the version:
# the version is part of every teacher cache key and is stored with every score.

PROMPT_VERSION = "phased.difficulty/v1"

JUDGE_SYSTEM = (
    "You are an expert annotator who rates how difficult instruction-following examples are for a "
    "language model to learn. You see one example: an instruction, an optional input, and the expected "
    "output. You rate its difficulty on a scale from 1 to 5, where higher means harder."
)

JUDGE_USER = """Rate the difficulty of this example.

### Instruction
{instruction}

### Input
{input}

### Expected output
{output}

Consider both:
1. Task complexity: how much knowledge, reasoning, planning or creativity the task described by the \
instruction (and input) demands in itself.
2. Transformation difficulty: how hard it is to go from the instruction to exactly this expected output \
(its length, structure, precision and the number of steps needed to produce it).

Use the whole scale: 1 = trivial (copy, one-word fact, simple rewrite), 2 = easy, 3 = moderate, \
4 = hard, 5 = very hard (expert knowledge or long multi-step reasoning). Decimals such as 2.5 are allowed.

Reply with only a JSON object, no other text:
{{"rationale": "<one sentence>", "task_complexity": <1-5>, "transformation_difficulty": <1-5>, "score": <overall 1-5>}}"""

# Instruction-only view: the same scale without the reference output, to separate "how hard is the
# task" from "how long/elaborate is this answer" (the triplet score mixes both).
INSTRUCTION_PROMPT_VERSION = "phased.difficulty-instruction/v1"

JUDGE_USER_INSTRUCTION = """Rate the difficulty of this task for a language model.

### Instruction
{instruction}

### Input
{input}

Consider how much knowledge, reasoning, planning or creativity a good answer to this instruction (and \
input) demands, and how many steps it takes to produce one.

Use the whole scale: 1 = trivial (copy, one-word fact, simple rewrite), 2 = easy, 3 = moderate, \
4 = hard, 5 = very hard (expert knowledge or long multi-step reasoning). Decimals such as 2.5 are allowed.

Reply with only a JSON object, no other text:
{{"rationale": "<one sentence>", "task_complexity": <1-5>, "score": <overall 1-5>}}"""

VIEWS = ("triplet", "instruction")
PROMPT_VERSIONS = {"triplet": PROMPT_VERSION, "instruction": INSTRUCTION_PROMPT_VERSION}
PROMPT_SHA256S = {
    view: hashlib.sha256((JUDGE_SYSTEM + "\x00" + user).encode("utf-8")).hexdigest()
    for view, user in (("triplet", JUDGE_USER), ("instruction", JUDGE_USER_INSTRUCTION))
}
PROMPT_SHA256 = PROMPT_SHA256S["triplet"]


@dataclass(frozen=True)
class Triplet:
    """What the judge sees: instruction, optional input, and the reference output."""

    instruction: str
    input: str
    output: str


def record_triplet(record: Record) -> Triplet:
    """The (instruction, input, output) of a record.

    Alpaca-derived records keep `meta.instruction`/`meta.input`; otherwise the last user turn is the
    instruction and any earlier turns (system included) are shown as the input, so multi-turn
    examples are judged in context.
    """
    output = record.response
    if output is None:
        raise ValueError(f"record {record.id!r} does not end with an assistant turn")
    instruction = record.meta.get("instruction")
    if isinstance(instruction, str) and instruction.strip():
        return Triplet(instruction, str(record.meta.get("input") or ""), output)
    prompt = record.prompt_messages
    context = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt[:-1])
    return Triplet(prompt[-1]["content"], context, output)


def judge_messages(t: Triplet, view: str = "triplet") -> list[dict[str, str]]:
    """The chat messages that ask the judge for a difficulty rating of the triplet (or the instruction only)."""
    instruction, input_text = t.instruction.strip(), t.input.strip() or "(none)"
    if view == "instruction":
        user = JUDGE_USER_INSTRUCTION.format(instruction=instruction, input=input_text)
    else:
        assert view == "triplet", f"unknown view {view!r}"
        user = JUDGE_USER.format(instruction=instruction, input=input_text, output=t.output.strip())
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


# ---------------------------------------------------------------------------------------------
# Parsing judge replies


@dataclass(frozen=True)
class Judgement:
    """A parsed judge reply: `score` in [1, 5] or None with `error` saying why."""

    score: float | None
    task_complexity: float | None = None
    transformation_difficulty: float | None = None
    rationale: str | None = None
    error: str | None = None
    source: str = ""  # which rule found the score: json, bare, labelled, fraction, leading

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ""}


_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)
_DECOR = "*_`#> \t"
# the whole first line is just a number, maybe bold, maybe "/5" or "out of 5"
_BARE = re.compile(rf"^{_NUM}\s*(?:/\s*(\d+)|out of\s+(\d+))?\.?$", re.I)
_SEP = r"\s*[*_]*\s*(?::|=|\bis\b|-)\s*[*_]*\s*"
_LABEL_OVERALL = re.compile(
    rf"\b(?:overall|final|total)\s+(?:difficulty\s+)?(?:score|rating|difficulty){_SEP}{_NUM}(?:\s*/\s*(\d+)|\s+out of\s+(\d+))?",
    re.I,
)
_LABEL = re.compile(
    rf"\b(?:(?:difficulty\s+)?(?:score|rating|difficulty){_SEP}|(?:score|rating)\s+of\s+[*_]*"
    rf"|rate\s+(?:this|it)(?:\s+(?:example|task|one))?(?:\s+(?:as|at|an?))?\s+[*_]*"
    rf"|give\s+(?:this|it)(?:\s+(?:example|task|one))?\s+an?\s+(?:score\s+of\s+)?[*_]*)"
    rf"{_NUM}(?:\s*/\s*(\d+)|\s+out of\s+(\d+))?",
    re.I,
)
_FRACTION = re.compile(rf"(?<![\d.]){_NUM}\s*(?:/\s*(\d+)|out of\s+(\d+))\b", re.I)
# "4 - hard", "4 (hard)", "4: hard", "4, because"; never a list marker "1. The task" / "1) The task"
_LEADING = re.compile(rf"^{_NUM}(?:\s*[-–—:,(]|\s+[a-zA-Z])", re.I)
_LIST_MARKER = re.compile(r"^\d+[.)]\s+\S")
_SCORE_KEYS = ("score", "overall", "overall_score", "difficulty", "difficulty_score", "final_score", "rating")


def parse_score(text: str) -> float | None:
    """The 1–5 difficulty score stated in a judge reply, or None when it states none (or an invalid one).

    Accepted: "3.5", "3.5\\n\\n", "Score: 4", "**4/5**", "4 - hard", {"score": 4, ...} (also inside a
    ```json fence). Never reads a number out of unrelated text: "1. The task ..." is a list marker,
    not a score. Out-of-range values (e.g. 7, 0, "8/10") give None, see `parse_judgement`.

    >>> parse_score("**4/5**"), parse_score("1. The task is easy."), parse_score("7")
    (4.0, None, None)
    """
    return parse_judgement(text).score


def parse_judgement(text: str) -> Judgement:
    """Parse a judge reply into a Judgement (score plus JSON sub-scores and rationale when present).

    Rules, first match wins: a JSON object (its "score" key); a first line that is only a number;
    an "overall/final score: N" label; a "score/rating/difficulty: N" label; an "N/5" or "N out of 5"
    fraction; a first line starting with a number followed by words ("4 - hard").
    A score outside [1, 5], or a fraction over a scale other than 5, is rejected, not clamped: it
    means the judge used another scale (e.g. 1–10), and clamping would silently make a 7/10 a 5.
    """
    if not isinstance(text, str) or not text.strip():
        return Judgement(None, error="empty reply")
    body = text.strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1).strip()
    obj = _find_json_object(body)
    if obj is not None:
        return _from_json(obj)
    for source, found in _text_candidates(body):
        if found is not None:
            value, denom = found
            return _checked(value, denom, source)
    return Judgement(None, error="no score found in the reply")


def _text_candidates(body: str):
    """(rule name, (value, denominator) | None) in priority order, computed lazily."""
    first = next((ln for ln in body.splitlines() if ln.strip()), "")
    line = first.strip(_DECOR).strip()
    line = re.sub(r"^(?:score|rating|difficulty)\s*[:=]\s*[*_]*\s*", "", line, flags=re.I).strip(_DECOR)
    m = _BARE.match(line)
    yield "bare", _groups(m)
    yield "labelled", _groups(_LABEL_OVERALL.search(body))
    yield "labelled", _groups(_LABEL.search(body))
    yield "fraction", _groups(_FRACTION.search(body))
    if not _LIST_MARKER.match(line):
        yield "leading", _groups(_LEADING.match(line))


def _groups(m: re.Match[str] | None) -> tuple[float, int | None] | None:
    if m is None:
        return None
    g = m.groups()
    denom = next((int(d) for d in g[1:] if d is not None), None)
    return float(g[0]), denom


def _checked(value: float, denom: int | None, source: str, **extra: Any) -> Judgement:
    if denom is not None and denom != 5:
        return Judgement(None, error=f"score {value:g}/{denom} is on a 1-{denom} scale, expected 1-5", source=source, **extra)
    if not math.isfinite(value) or not SCALE[0] <= value <= SCALE[1]:
        return Judgement(None, error=f"score {value:g} is outside 1-5", source=source, **extra)
    return Judgement(value, source=source, **extra)


def _find_json_object(body: str) -> dict[str, Any] | None:
    """The first decodable JSON object in the text (judges sometimes add prose around it)."""
    dec = json.JSONDecoder()
    start = body.find("{")
    while start >= 0:
        try:
            obj, _ = dec.raw_decode(body, start)
        except json.JSONDecodeError:
            start = body.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = body.find("{", start + 1)
    return None


def _from_json(obj: dict[str, Any]) -> Judgement:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    extra = {
        "task_complexity": _sub_score(lowered.get("task_complexity", lowered.get("instr_complexity"))),
        "transformation_difficulty": _sub_score(
            lowered.get("transformation_difficulty", lowered.get("transform_difficulty"))
        ),
        "rationale": lowered["rationale"] if isinstance(lowered.get("rationale"), str) else None,
    }
    key = next((k for k in _SCORE_KEYS if k in lowered), None)
    if key is None:
        return Judgement(None, error='JSON reply has no "score" field', source="json", **extra)
    value = lowered[key]
    if isinstance(value, bool) or value is None:
        return Judgement(None, error=f'"{key}" is {json.dumps(value)}, not a number', source="json", **extra)
    if isinstance(value, (int, float)):
        return _checked(float(value), None, "json", **extra)
    if isinstance(value, str):
        inner = parse_judgement(value)
        if inner.score is None:
            return Judgement(None, error=f'"{key}": {inner.error}', source="json", **extra)
        return Judgement(inner.score, source="json", **extra)
    return Judgement(None, error=f'"{key}" is not a number', source="json", **extra)


def _sub_score(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and SCALE[0] <= v <= SCALE[1]:
        return float(v)
    return None


def mean_score(scores: list[float]) -> float:
    """Average of n judge samples, rounded to 4 decimals so outputs are byte-stable."""
    assert scores, "mean of no scores"
    return round(sum(scores) / len(scores), 4)


def score_summary(scores: list[float], spreads: list[float] | None = None, cuts: tuple[float, ...] = (1.5, 3.5)) -> dict[str, Any]:
    """Distribution of scores (mean, range, share per default phase) and, with n > 1 samples, judge agreement.

    `spreads` are per-record max - min of the valid samples (records with >= 2 samples only).

    >>> score_summary([1.0, 1.0, 2.0, 4.0])["share_per_phase"]
    [0.5, 0.25, 0.25]
    """
    if not scores:
        return {"n": 0}
    edges = [float("-inf"), *cuts, float("inf")]
    shares = [sum(lo <= s < hi for s in scores) / len(scores) for lo, hi in zip(edges, edges[1:], strict=False)]
    out: dict[str, Any] = {
        "n": len(scores),
        "mean": round(sum(scores) / len(scores), 4),
        "min": min(scores),
        "max": max(scores),
        "cuts": list(cuts),
        "share_per_phase": [round(x, 4) for x in shares],
        "share_exactly_1": round(sum(s == 1.0 for s in scores) / len(scores), 4),
    }
    if spreads:
        out["agreement"] = {
            "records_with_2plus_samples": len(spreads),
            "mean_spread": round(sum(spreads) / len(spreads), 4),
            "share_spread_le_0.5": round(sum(x <= 0.5 for x in spreads) / len(spreads), 4),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Free proxy scorers (no judge): a raw difficulty signal per record, then ranks mapped onto 1–5.

_PIECE = re.compile(r"\w+|[^\w\s]", re.U)

TOKEN_ESTIMATE = "regex pieces: one per word (\\w+) and one per punctuation mark"


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token count: words plus punctuation marks (close to BPE counts for English).

    >>> estimate_tokens("Give three tips, please.")
    6
    """
    return len(_PIECE.findall(text))


def length_value(record: Record) -> float:
    """Proxy raw value: estimated tokens of the whole conversation (prompt + reference output)."""
    return float(sum(estimate_tokens(m["content"]) for m in record.messages))


def depth_value(record: Record) -> float:
    """Proxy raw value: the SIT chain depth (`meta.depth`); a missing depth raises ValueError."""
    depth = record.meta.get("depth")
    if isinstance(depth, bool) or not isinstance(depth, (int, float)):
        raise ValueError("no numeric meta.depth (records from `seqit generate` carry one)")
    return float(depth)


def rank_to_scale(values: list[float]) -> list[float]:
    """Map raw proxy values onto [1, 5] by rank (ties share their mean rank); higher value = harder.

    Rank-based so that any proxy (tokens, depth, loss) lands on the judge's scale with the same
    spread; the fixed thresholds 1.5 / 3.5 then cut at the 12.5% and 62.5% ranks.

    >>> rank_to_scale([10.0, 30.0, 20.0, 20.0])
    [1.0, 5.0, 3.0, 3.0]
    """
    n = len(values)
    if n == 0:
        return []
    if n == 1:
        return [3.0]
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return [round(1.0 + 4.0 * r / (n - 1), 4) for r in ranks]
