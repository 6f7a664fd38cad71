"""Task-driven sequential records: repeat / paraphrase / translate-then-answer, multi-step merges, and
caption-then-answer for vision-language data. Pure builders: the intermediate result is given
(from the data, or from a teacher call made by seqit.generate.run), the wording comes from prompt banks
picked with a seeded rng. Every call builds a fresh dict (reference bug 30: one dict appended N times).

    >>> import random
    >>> r = sequential_record("s1", "", "Summarize the text.", "Cats purr.", "Cats make a sound.",
    ...                       [("repeat", "Cats purr.")], random.Random(0))
    >>> r["messages"][-1]["content"]
    'Input repeated:\\nCats purr.\\n\\nAnswer:\\nCats make a sound.'
"""

from __future__ import annotations

import random
import re
from typing import Any

from seqit.records import alpaca_prompt

STEPS = ("repeat", "paraphrase", "translate")
VERSIONS = {"paraphrase": "taskdriven.paraphrase/v1", "translate": "taskdriven.translate/v1"}
LANGUAGES = {
    "ar": "Arabic", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ru": "Russian", "th": "Thai", "tr": "Turkish",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip

# One bank per step: how the step is asked for, first (single step) or inside a numbered list.
FIRST_STEP = {
    "repeat": [
        "First repeat the input word for word, then {task}",
        "Start by copying the input exactly as it is. After that, {task}",
        "Repeat the input verbatim first; then {task}",
        "Begin by restating the input unchanged, and then {task}",
    ],
    "paraphrase": [
        "First paraphrase the input, then {task}",
        "Start by rewriting the input in your own words. After that, {task}",
        "Paraphrase the input first; then {task}",
        "Begin by restating the input with different wording, and then {task}",
    ],
    "translate": [
        "First translate the input into English, then {task}",
        "Start by translating the input into English. After that, {task}",
        "Translate the input into English first; then {task}",
        "Begin by giving an English translation of the input, and then {task}",
    ],
}
LIST_STEP = {
    "repeat": [
        "Repeat the input word for word.",
        "Copy the input exactly as it is.",
        "Restate the input unchanged.",
    ],
    "paraphrase": [
        "Paraphrase the input.",
        "Rewrite the input in your own words.",
        "Restate the input with different wording.",
    ],
    "translate": ["Translate the input into English.", "Give an English translation of the input."],
}
LIST_INTRO = [
    "Do the following steps in order:",
    "Complete these steps one after another:",
    "Follow these steps in order:",
]
LABELS = {"repeat": "Input repeated", "paraphrase": "Paraphrased input", "translate": "English translation"}

CAPTION_PROMPTS = [
    "First describe this image, then answer the question: {question}",
    "Describe the image first. Then answer this question about it: {question}",
    "Start with a short description of the picture, and then answer: {question}",
]
VQA_PROMPTS = [
    "Answer the question about the image: {question}",
    "Look at the image and answer: {question}",
    "{question} Answer based on the image.",
    "Based on the picture, {question_lower}",
]


def lower_first(text: str) -> str:
    """Lowercase the first letter so a task reads inside a sentence, unless it starts an acronym or 'I'.

    >>> lower_first("Summarize it."), lower_first("NASA is ..."), lower_first("I like it")
    ('summarize it.', 'NASA is ...', 'I like it')
    """
    if not text or re.match(r"^(?:[A-Z]{2,}|I\b|[A-Z]\w*[A-Z])", text):
        return text
    return text[0].lower() + text[1:]


# a task that already orders its own steps ("First translate ..., then ...", "1. ... 2. ...")
_ALREADY_SEQUENTIAL = re.compile(
    r"^\W*(?:first(?:ly)?|start by|begin by|step 1)\b|\bfirst(?:ly)?\b[^\n]*?\b(?:then|after that|next|afterwards)\b|"
    r"(?:^|\n)\s*1[.)]\s[^\n]*\n\s*2[.)]\s",
    re.IGNORECASE,
)


def is_sequential_task(task: str) -> bool:
    """Does the task already spell out an order of steps? Adding a step to it would nest instructions
    ("Repeat the input verbatim first; then first, translate ...") and its answer would not follow the new order.

    >>> is_sequential_task("First, translate the text. Then summarize it."), is_sequential_task("Summarize it.")
    (True, False)
    """
    return bool(_ALREADY_SEQUENTIAL.search(task.strip()))


def sequential_instruction(task: str, steps: list[str], rng: random.Random) -> str:
    """'First <step>, then <task>' for one step; a numbered list for several. A task that is already
    sequential is refused (ValueError): seqit.generate never nests instructions."""
    for s in steps:
        assert s in STEPS, f"unknown step {s!r}"
    if is_sequential_task(task):
        raise ValueError(f"the task is already sequential; adding {'+'.join(steps)} would nest instructions: {task[:80]!r}")
    if len(steps) == 1:
        return rng.choice(FIRST_STEP[steps[0]]).format(task=lower_first(task.strip()))
    lines = [rng.choice(LIST_INTRO)]
    lines += [f"{i}. {rng.choice(LIST_STEP[s])}" for i, s in enumerate(steps, 1)]
    lines.append(f"{len(steps) + 1}. {task.strip()}")
    return "\n".join(lines)


def sequential_answer(intermediates: list[tuple[str, str]], answer: str) -> str:
    """Each intermediate result under its label, then the answer (one clear, parseable format)."""
    blocks = [f"{LABELS[step]}:\n{result.strip()}" for step, result in intermediates]
    blocks.append(f"Answer:\n{answer.strip()}")
    return "\n\n".join(blocks)


def sequential_record(
    seed_id: str,
    system: str,
    task: str,
    input_text: str,
    answer: str,
    intermediates: list[tuple[str, str]],
    rng: random.Random,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new conversation record: the sequential instruction (+ input once) -> intermediate results + answer."""
    steps = [s for s, _ in intermediates]
    instruction = sequential_instruction(task, steps, rng)
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    msgs.append({"role": "user", "content": alpaca_prompt(instruction, input_text)})
    msgs.append({"role": "assistant", "content": sequential_answer(intermediates, answer)})
    m = {
        "seed_id": seed_id,
        "kind": "sit",
        "option": "+".join(steps),
        "depth": len(steps),
        "steps": [*steps, "answer"],
        "instruction": instruction,
        "input": input_text,
        **(meta or {}),
    }
    return {"id": f"{seed_id}:sit:{'-'.join(steps)}", "messages": msgs, "meta": m}


# ---------------------------------------------------------------------------------------------
# teacher prompts for the intermediate step (only when the data does not hold it)


def paraphrase_messages(text: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "Paraphrase the text you are given: keep its meaning and every fact, number and name, but change "
            "the wording and sentence structure. Reply with the paraphrase only.",
        },
        {"role": "user", "content": text},
    ]


def translate_messages(text: str, lang: str) -> list[dict[str, str]]:
    name = LANGUAGES.get(lang, lang)
    return [
        {
            "role": "system",
            "content": f"Translate the text you are given into {name}. Keep numbers, names, code and formatting. "
            f"Reply with the {name} translation only.",
        },
        {"role": "user", "content": text},
    ]


def check_intermediate(source: str, result: str | None, step: str) -> str | None:
    """Reject reason for a teacher-made paraphrase/translation, or None."""
    from seqit.generate.selfseq.checks import degenerate_reason, normalize
    from seqit.generate.selfseq.parse import is_placeholder

    if result is None or not result.strip():
        return f"empty {step}"
    if is_placeholder(result):
        return f"placeholder text instead of a {step}"
    if normalize(result) == normalize(source):
        return f"{step} is identical to the input"
    ratio = len(result) / max(1, len(source))
    if not 0.3 <= ratio <= 3.0:
        return f"{step} length is {ratio:.1f}x the input's"
    why = degenerate_reason(result)
    return f"degenerate {step}: {why}" if why else None


# ---------------------------------------------------------------------------------------------
# parallel data (translate-then-answer) and vision-language rows


def select_parallel(
    english: list[dict[str, Any] | None],
    foreign: dict[str, list[dict[str, Any] | None]],
    per_language: int | None,
    rng: random.Random,
) -> dict[str, list[int]]:
    """Disjoint, shuffled index sets per language; only indices where BOTH sides have a non-empty input.

    Rows that are not objects or have no input are never selected (reference bug 30: `{}` rows).
    """
    usable = [i for i, row in enumerate(english) if _has_input(row)]
    rng.shuffle(usable)
    taken: set[int] = set()
    out: dict[str, list[int]] = {}
    for lang in sorted(foreign):
        rows = foreign[lang]
        picks = [i for i in usable if i not in taken and i < len(rows) and _has_input(rows[i])]
        if per_language is not None:
            picks = picks[:per_language]
        taken.update(picks)
        out[lang] = sorted(picks)
    return out


def _has_input(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("input"), str) and bool(row["input"].strip())


def caption_records(
    row_id: str, image: str, caption: str, question: str, answer: str, rng: random.Random, source: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(caption-then-answer record, plain VQA record) for one image/question pair; the image path in meta.

    The plain record's target is the VQA answer, never the caption (reference bug 31).
    """
    seq_prompt = rng.choice(CAPTION_PROMPTS).format(question=question.strip())
    q = question.strip()
    base_prompt = rng.choice(VQA_PROMPTS).format(question=q, question_lower=lower_first(q))
    meta = {"source": source, "seed_id": row_id, "image": image, "images": [image], "question": q}
    sit = {
        "id": f"{row_id}:sit:caption",
        "messages": [
            {"role": "user", "content": seq_prompt},
            {"role": "assistant", "content": f"Description:\n{caption.strip()}\n\nAnswer:\n{answer.strip()}"},
        ],
        "meta": {
            **meta,
            "kind": "sit",
            "option": "caption",
            "depth": 1,
            "steps": ["caption", "answer"],
            "caption": caption,
        },
    }
    base = {
        "id": f"{row_id}:it",
        "messages": [
            {"role": "user", "content": base_prompt},
            {"role": "assistant", "content": answer.strip()},
        ],
        "meta": {**meta, "kind": "it", "depth": 0},
    }
    return sit, base
