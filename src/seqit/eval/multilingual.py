"""The SIT paper's multilingual evals, read from local files in the reference layout: XQuAD and MGSM,
each in a base and a translate-then-answer prompt mode, scored per language.

    seqit eval configs/eval/xquad.yaml data=data/xquad model.model=runs/train-sit/model
    seqit eval configs/eval/mgsm.yaml data=data/mgsm multilingual.mode=translate

Layouts (docs/eval.md, sit-reference §3/§5.3):
- XQuAD: `xquad_base_<lang>.json` (gold in the target language) and `xquad_trans_<lang>.json` (gold in
  English), each a JSON list of {"instruction", "input": "Context: ...\\nQuestion: ...", "output"}.
- MGSM: `mgsm_<lang>.tsv`, one "question<TAB>numeric answer" per line (no header); optional few-shot
  demos `mgsm_<lang>_exemplars.jsonl` rows {"question", "question_en", "cot_en", "answer"}.

Metrics. XQuAD: the paper's `follow` (the output has an answer marker), `ac` (the text after the first
marker, or the whole output, contains the gold or is contained in it, lowercased; an empty prediction
is wrong, unlike the reference), `ac_with_follow`, and SQuAD-normalised exact match `em`. MGSM: the
last number of the output equals the gold number (`em`).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqit.errors import DataError
from seqit.jsonl import read_json

MODES = ("base", "translate")
PROMPT_VERSION = "eval.multilingual/v1"

# XQuAD: the reference's translate-then-answer instruction, and a base one without the translation.
XQUAD_TRANSLATE = (
    "First, translate the input into English. Then, answer the translated question based on the translated "
    "context. The answer must be a single entity, name or number taken from the context, not a sentence. "
    "Write the translation, then 'Answer: <answer>'."
)
XQUAD_BASE = (
    "Answer the question based on the context. The answer must be a single entity, name or number taken "
    "from the context, not a sentence. Write 'Answer: <answer>'."
)
# MGSM: the reference's cot-en (base) and trans-cot (translate) prefixes.
MGSM_PREFIX = {
    "base": "First think step-by-step about the question in English, then answer",
    "translate": "first translate the question to English, then think step by step, finally answer",
}
MGSM_SUFFIX = "End with 'The Answer is: <number>'."
ANSWER_MARKERS = ("result:", "answer:", "answer is", "result is")


@dataclass(frozen=True)
class MultilingualConfig:
    mode: str = "both"  # base | translate | both (side by side)
    languages: list[str] = field(default_factory=list)  # empty = every language found in `data`
    shots: int = 0  # MGSM: few-shot demos from mgsm_<lang>_exemplars.jsonl (0 = zero-shot)

    def __post_init__(self) -> None:
        if self.mode not in (*MODES, "both"):
            raise ValueError(f"multilingual.mode: unknown mode {self.mode!r} (known: base, translate, both)")
        if self.shots < 0:
            raise ValueError("multilingual.shots must be >= 0")

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.mode == "both" else (self.mode,)


# ---- pure: prompts ----------------------------------------------------------------------------------


def xquad_prompt(row: dict[str, Any], mode: str) -> str:
    """The user turn: instruction + " Input: " + input, as in the reference (the mode picks the instruction)."""
    return f"{XQUAD_TRANSLATE if mode == 'translate' else XQUAD_BASE} Input: {row['input']}"


def mgsm_prompt(question: str, mode: str, demos: list[dict[str, Any]] = ()) -> str:
    """The user turn: the mode's prefix, optional demos (English CoT; in translate mode also the English
    question), then the question."""
    parts = [f"{MGSM_PREFIX[mode]}. {MGSM_SUFFIX}"]
    for d in demos:
        answer = f"{d['cot_en']} The Answer is: {d['answer']}"
        if mode == "translate":
            answer = f"Translation: {d['question_en']}\n{answer}"
        parts.append(f"Question: {d['question']}\nAnswer: {answer}")
    parts.append(f"Question: {question}\nAnswer:")
    return "\n\n".join(parts)


# ---- pure: metrics ----------------------------------------------------------------------------------


def extract_answer(output: str) -> tuple[str, bool]:
    """(text after the first answer marker, marker found); the whole output when there is none."""
    low = output.lower()
    hits = [(low.find(m), m) for m in ANSWER_MARKERS if m in low]
    if not hits:
        return low.strip(), False
    pos, marker = min(hits)
    return low[pos + len(marker):].strip(), True


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and English articles, collapse whitespace."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def xquad_verdict(output: str | None, gold: str) -> dict[str, bool]:
    """follow / ac / ac_with_follow / em of one output against its gold answer."""
    if not output:
        return {"follow": False, "ac": False, "ac_with_follow": False, "em": False}
    pred, follow = extract_answer(output)
    first_line = pred.splitlines()[0].strip() if pred else ""
    g = gold.lower().strip()
    ac = bool(first_line) and bool(g) and (g in first_line or first_line in g)
    return {"follow": follow, "ac": ac, "ac_with_follow": ac and follow,
            "em": normalize_answer(first_line) == normalize_answer(gold)}


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(output: str | None) -> float | None:
    """The last number in the output (thousands separators removed), or None."""
    if not output:
        return None
    found = _NUMBER.findall(output.replace(",", ""))
    return float(found[-1]) if found else None


def mgsm_verdict(output: str | None, gold: str) -> dict[str, bool]:
    got = last_number(output)
    return {"em": got is not None and abs(got - float(gold.replace(",", ""))) < 1e-9}


def summarize_by_language(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> dict[str, Any]:
    """{mode: {lang: {n, metric...}, "avg": mean over languages}} from sample rows with `mode`, `lang`."""
    out: dict[str, Any] = {}
    for mode in sorted({r["mode"] for r in rows}, key=MODES.index):
        by_lang: dict[str, Any] = {}
        for lang in sorted({r["lang"] for r in rows if r["mode"] == mode}):
            group = [r for r in rows if r["mode"] == mode and r["lang"] == lang]
            by_lang[lang] = {"n": len(group), **{m: round(sum(r[m] for r in group) / len(group), 4) for m in metrics}}
        by_lang["avg"] = {m: round(sum(v[m] for v in by_lang.values()) / len(by_lang), 4) for m in metrics}
        out[mode] = by_lang
    return out


# ---- reading the reference layout -------------------------------------------------------------------

_XQUAD_FILE = re.compile(r"^xquad_(base|trans)_([a-z]{2,3})\.json$")
_MGSM_FILE = re.compile(r"^mgsm_([a-z]{2,3})\.tsv$")


def read_xquad(data_dir: Path, languages: list[str]) -> list[dict[str, Any]]:
    """Rows {id, lang, kind: base|trans, input, gold} from xquad_{base,trans}_<lang>.json files."""
    files = _find(data_dir, _XQUAD_FILE, "xquad_{base,trans}_<lang>.json")
    rows = []
    for path, (kind, lang) in files:
        if languages and lang not in languages:
            continue
        data = read_json(path)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of {{instruction, input, output}} rows")
        for i, row in enumerate(data):
            where = f"{path}: row {i}"
            for key in ("input", "output"):
                if not isinstance(row, dict) or not isinstance(row.get(key), str) or not row[key].strip():
                    raise DataError(f"{where}: {key}: missing or empty")
            rows.append({"id": f"xquad_{kind}_{lang}:{i}", "lang": lang, "kind": kind, "input": row["input"],
                         "gold": row["output"]})
    _check_languages(languages, {r["lang"] for r in rows}, data_dir)
    return rows


def read_mgsm(data_dir: Path, languages: list[str], shots: int) -> tuple[list[dict[str, Any]], dict[str, list]]:
    """Rows {id, lang, question, gold} from mgsm_<lang>.tsv, and the first `shots` demos per language."""
    files = _find(data_dir, _MGSM_FILE, "mgsm_<lang>.tsv")
    rows, demos = [], {}
    for path, (lang,) in files:
        if languages and lang not in languages:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0].strip():
                raise DataError(f"{path}:{n}: expected 'question<TAB>answer'")
            if _NUMBER.fullmatch(parts[1].strip().replace(",", "")) is None:
                raise DataError(f"{path}:{n}: answer: not a number: {parts[1].strip()!r}")
            rows.append({"id": f"mgsm_{lang}:{n}", "lang": lang, "question": parts[0].strip(), "gold": parts[1].strip()})
        if shots:
            demos[lang] = _read_exemplars(path.with_name(f"mgsm_{lang}_exemplars.jsonl"), shots)
    _check_languages(languages, {r["lang"] for r in rows}, data_dir)
    return rows, demos


def _read_exemplars(path: Path, shots: int) -> list[dict[str, Any]]:
    from seqit.jsonl import read_jsonl

    if not path.is_file():
        raise DataError(f"{path}: missing (multilingual.shots > 0 needs the demos)")
    demos = list(read_jsonl(path))[:shots]
    for n, d in enumerate(demos, 1):
        for key in ("question", "question_en", "cot_en", "answer"):
            if not isinstance(d.get(key), (str, int, float)) or str(d[key]).strip() == "":
                raise DataError(f"{path}:{n}: {key}: missing or empty")
    if len(demos) < shots:
        raise DataError(f"{path}: {len(demos)} demos, multilingual.shots asks for {shots}")
    return demos


def _find(data_dir: Path, pattern: re.Pattern[str], layout: str) -> list[tuple[Path, tuple[str, ...]]]:
    if not data_dir.is_dir():
        raise DataError(f"data: {data_dir} is not a directory (expected files named {layout})")
    found = [(p, m.groups()) for p in sorted(data_dir.iterdir()) if (m := pattern.match(p.name))]
    if not found:
        raise DataError(f"data: {data_dir} has no files named {layout}")
    return found


def _check_languages(wanted: list[str], found: set[str], data_dir: Path) -> None:
    missing = sorted(set(wanted) - found)
    if missing:
        raise DataError(f"multilingual.languages: no data for {', '.join(missing)} in {data_dir} "
                        f"(found: {', '.join(sorted(found)) or 'none'})")


# ---- the `seqit eval` tasks -------------------------------------------------------------------------


def run_xquad(cfg: Any, run: Any) -> dict[str, Any]:
    """`task: xquad`: every row in every mode; samples.jsonl + per-language metrics."""
    rows = read_xquad(Path(cfg.data), list(cfg.multilingual.languages))
    if cfg.limit is not None:
        rows = _limit_per_language(rows, cfg.limit)
    prompts = {f"{r['id']}:{m}": (r, m, xquad_prompt(r, m)) for r in rows for m in cfg.multilingual.modes}
    samples = [{"id": pid, "lang": r["lang"], "kind": r["kind"], "mode": m, "prompt": p, "gold": r["gold"],
                "output": out, **xquad_verdict(out, r["gold"])}
               for pid, (r, m, p), out in _answers(cfg, run, prompts)]
    return _finish(cfg, run, samples, ("ac", "ac_with_follow", "follow", "em"))


def run_mgsm(cfg: Any, run: Any) -> dict[str, Any]:
    """`task: mgsm`: every question in every mode; samples.jsonl + per-language exact match."""
    rows, demos = read_mgsm(Path(cfg.data), list(cfg.multilingual.languages), cfg.multilingual.shots)
    if cfg.limit is not None:
        rows = _limit_per_language(rows, cfg.limit)
    prompts = {f"{r['id']}:{m}": (r, m, mgsm_prompt(r["question"], m, demos.get(r["lang"], [])))
               for r in rows for m in cfg.multilingual.modes}
    samples = [{"id": pid, "lang": r["lang"], "mode": m, "prompt": p, "gold": r["gold"], "output": out,
                "predicted": last_number(out), **mgsm_verdict(out, r["gold"])}
               for pid, (r, m, p), out in _answers(cfg, run, prompts)]
    return _finish(cfg, run, samples, ("em",))


def _limit_per_language(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """--limit N keeps the first N rows of each language (so every language is still evaluated)."""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        key = f"{r['lang']}:{r.get('kind', '')}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= limit:
            out.append(r)
    return out


def _answers(cfg: Any, run: Any, prompts: dict[str, tuple[dict[str, Any], str, str]]):
    from seqit.eval.generation import generate_outputs
    from seqit.eval.items import EvalItem

    items = [EvalItem(pid, ({"role": "user", "content": p},)) for pid, (_, _, p) in prompts.items()]
    fields = generate_outputs(cfg.model, cfg.generation, run, items)
    for pid, (r, m, p) in prompts.items():
        yield pid, (r, m, p), fields[pid].get("output")


def _finish(cfg: Any, run: Any, samples: list[dict[str, Any]], metrics: tuple[str, ...]) -> dict[str, Any]:
    from seqit.jsonl import write_jsonl

    write_jsonl(run.file("samples.jsonl"), samples)
    missing = sum(1 for s in samples if s["output"] is None)
    run.add_counts(items=len(samples), missing=missing)
    return {"benchmark": str(cfg.data), "prompt_version": PROMPT_VERSION, "modes": list(cfg.multilingual.modes),
            "n_items": len(samples), "n_missing": missing, "metrics": summarize_by_language(samples, metrics)}
