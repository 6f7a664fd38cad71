"""Tolerant, pure parsers for Self-Seq teacher replies (JSON first, then the reference's free-text forms).

Every parser returns None (a reject upstream) when it cannot read the reply: there is no silent
default option and no fallback to the original text (reference bugs 14-17).

    >>> parse_option('{"option": "B", "reason": "needs a preliminary step"}')
    'B'
    >>> parse_option("Option A is wrong here, so I choose C.")
    'C'
    >>> parse_option("The U.S.A. is a country.") is None
    True
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

Option = Literal["A", "B", "C", "D"]
OPTIONS: tuple[Option, ...] = ("A", "B", "C", "D")
OPTION_NAMES = {
    "decompose": "A",
    "decomposition": "A",
    "prefix": "B",
    "prefix task": "B",
    "suffix": "C",
    "suffix task": "C",
    "keep": "D",
    "keep as is": "D",
}

# A standalone option letter: not part of a word, not an abbreviation like "U.S.A." or "A.I.".
_PRE, _POST = r"(?<![\w.\-/'’])\(?\*{0,2}\[?", r"\]?\*{0,2}\)?(?![\w\-/]|\.\w)"
_ANY = _PRE + r"([ABCDabcd])" + _POST
_UPPER = _PRE + r"((?-i:[ABCD]))" + _POST
_SEP = r"\s*[:=\-]?\s*"
# Conclusion phrases whose letter is a decision, not a mention; the LAST one in the text wins.
# A lowercase letter counts only right after the word "option" ("choose a different task" is no A).
_OPTION_PHRASE = (
    r"(?:\boption\s+is|\bfinal\s+option|\b(?:so|thus|therefore|hence)\b[^.\n]{0,20}?\boption(?:\s+is)?|"
    r"\boption\s*:)"
)
_OTHER_PHRASE = (
    r"(?:\bchoice\s+is|\banswer\s+is|\bfinal\s+(?:answer|choice)|\bI\s+(?:would\s+)?(?:choose|pick|select|go\s+with)|"
    r"\b(?:choose|pick|select)|^\s*(?:choice|answer|classification|label))"
)
_DECISION = re.compile(
    rf"{_OPTION_PHRASE}{_SEP}(?:option\s*)?{_ANY}|{_OTHER_PHRASE}{_SEP}(?:option\s*{_ANY}|{_UPPER})",
    re.IGNORECASE | re.MULTILINE,
)
_MENTION = re.compile(r"\boption\s*" + _ANY, re.IGNORECASE)
_BARE = re.compile(r"^\s*[*(\[]*\s*(?:option\s*)?([ABCDabcd])\s*[*)\]]*\s*[.:]?\s*[*]*\s*$", re.IGNORECASE)


def _group(m: re.Match[str]) -> str:
    return next(g for g in m.groups() if g).upper()


# "[insert ...]" / "[Your new instruction here]" are template leftovers; "[Your name]" or "[date]" inside an
# instruction are the user's own placeholders (kept from the input) and are content
_FAILURE = re.compile(
    r"failed after \d+ attempts|\[(?:insert|new instruction)[^\]]*\]|"
    r"\[your (?:new |rewritten |own )?(?:instruction|answer|response|reply|text here)[^\]]*\]|"
    r"<(?:new[ _]instruction|insert)[^>]*>|"
    r"^\s*(?:error|exception)(?: code)?\s*:\s*(?:\d{3}\b|rate limit|time ?out|timed out|internal|connection|api\b)|"
    r"as an ai (?:language )?model,? i (?:cannot|can't)",
    re.IGNORECASE,
)
_EMPTYISH = re.compile(r"^\s*(?:n/?a|none|null|todo|tbd|\.\.\.|…|\[[^\]\n]{0,40}\])\s*\.?\s*$", re.IGNORECASE)
_NEW_INSTR_MARKER = re.compile(
    r"(?:#+\s*|\*\*\s*)?\bnew[ _]+instruction\s*(?:#+|\*\*)?\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?", re.IGNORECASE
)
_TRAILERS = re.compile(
    r"\n\s*(?:#+\s*|\*\*\s*)?(?:explanation|reason(?:ing)?|note|rationale)\s*#*\s*(?:\*\*)?\s*[:：]|"
    r"(?<=[\"”'])\s*explanation\s*:",
    re.IGNORECASE,
)
# a worked example inside the instruction itself: "Input: ... / Output: ... / Explanation: ..." lines
_EXAMPLE_LINE = re.compile(r"^\W*(?:input|output|example(?:\s*\d+)?|result|returns?)\b\s*\d*\s*[:：]", re.IGNORECASE)
_QUOTES = "\"'“”‘’«»`"


def is_unreadable(text: str) -> bool:
    """True when text holds broken decoding (U+FFFD) or control characters: never a teacher's real answer."""
    return any(
        ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\r\t") or 0x7F <= ord(ch) < 0xA0 for ch in text
    )


def is_failure_text(text: str) -> bool:
    """True for text a failed pipeline writes instead of an answer ("THIS EVALUATION FAILED AFTER 5 ATTEMPTS.",
    "Error: 429 ...", "[insert ...]", an AI-model refusal)."""
    return bool(_FAILURE.search(text.strip()))


def is_placeholder(text: str | None) -> bool:
    """True for failure text or an empty stand-in ("N/A", "None", "...") where an instruction was expected."""
    if text is None or not text.strip():
        return True
    return is_failure_text(text) or bool(_EMPTYISH.match(text.strip()))


def find_json_object(text: str, keys: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The first JSON object in a reply (bare, in a ```json fence, or in prose) that has one of `keys`
    (any object when no keys are given), else None."""
    if not text:
        return None
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and (not keys or _has_key(obj, keys)):
            return obj
    return None


def _has_key(obj: dict[str, Any], keys: tuple[str, ...]) -> bool:
    return any(str(k).lower().replace(" ", "_") in keys for k in obj)


def _json_field(obj: dict[str, Any] | None, *keys: str) -> Any:
    if obj is None:
        return None
    lowered = {str(k).lower().replace(" ", "_"): v for k, v in obj.items()}
    for k in keys:
        if k in lowered:
            return lowered[k]
    return None


def _option_from_value(value: Any) -> Option | None:
    if not isinstance(value, str):
        return None
    v = value.strip().strip(_QUOTES + "*()[]. ").lower()
    if v.upper() in OPTIONS:
        return v.upper()  # type: ignore[return-value]
    if v in OPTION_NAMES:
        return OPTION_NAMES[v]  # type: ignore[return-value]
    m = re.fullmatch(r"option\s*([abcd])\b.*", v)
    return m.group(1).upper() if m else None  # type: ignore[return-value]


def parse_option(text: str | None) -> Option | None:
    """The classification option a teacher chose, or None when the reply does not say.

    Order: a JSON object with "option"; a bare letter reply; the LAST decision phrase ("So the
    option is: C", "I choose C", "Answer: C"); otherwise a single distinct "option X" mention.
    A letter inside a word or abbreviation never counts.
    """
    if text is None or is_placeholder(text) or is_unreadable(text):
        return None
    keys = ("option", "choice", "answer", "label")
    obj = find_json_object(text, keys)
    if obj is not None:
        return _option_from_value(_json_field(obj, *keys))
    if m := _BARE.match(text):
        return m.group(1).upper()  # type: ignore[return-value]
    decisions = [_group(m) for m in _DECISION.finditer(text)]
    if decisions:
        return decisions[-1]  # type: ignore[return-value]
    mentioned = {m.group(1).upper() for m in _MENTION.finditer(text)}
    if len(mentioned) == 1:
        return mentioned.pop()  # type: ignore[return-value]
    return None


def clean_span(text: str) -> str:
    """Strip markdown emphasis, surrounding quotes and whitespace from a parsed span."""
    t = text.strip()
    for _ in range(3):
        t = re.sub(r"^\*{1,3}|\*{1,3}$", "", t).strip()
        if len(t) >= 2 and t[0] in _QUOTES and t[-1] in _QUOTES:
            t = t[1:-1].strip()
    return t


def _cut_trailers(text: str) -> str:
    """The instruction part of the text after a marker: up to `###` and before the reply's own explanation.

    A quoted instruction ends at its closing quote, whatever it contains; an `Explanation:` line that belongs
    to a worked example inside the instruction (right after an `Input:` / `Output:` line) does not end it.
    """
    text = text.split("###", 1)[0]
    quoted = _quoted_prefix(text)
    if quoted is not None:
        return quoted
    for m in _TRAILERS.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if m.group(0).startswith("\n") and _EXAMPLE_LINE.match(before.strip()):
            continue  # part of the instruction's own example
        return text[: m.start()]
    return text


_CLOSING = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»"}


def _quoted_prefix(text: str) -> str | None:
    """`"..."` at the start of `text` followed only by an explanation/blank: the quoted part (with its quotes)."""
    t = text.lstrip()
    if not t or t[0] not in _CLOSING:
        return None
    closing = _CLOSING[t[0]]
    for close in (i for i, ch in enumerate(t) if ch == closing and i > 0):
        rest = t[close + 1 :].strip()
        if not rest or _TRAILER_START.match(rest):  # the quote ends the instruction; a trailer may follow
            return t[: close + 1]
    return None


_TRAILER_START = re.compile(r"(?:\*\*\s*)?(?:#+\s*)?(?:explanation|reason(?:ing)?|note|rationale)\b", re.IGNORECASE)


def parse_new_instruction(text: str | None) -> str | None:
    """The rewritten instruction from a teacher reply, or None.

    Accepts {"new_instruction": "..."} JSON, or the marker form `#New Instruction#: "..." ###` (also
    `**New Instruction:**`, `New instruction:`); the text after the LAST marker, cut at `###` or an
    explanation, with quotes and markdown stripped. Missing markers, empty text and failure or
    placeholder text give None.
    """
    if text is None or is_placeholder(text) or is_unreadable(text):
        return None
    keys = ("new_instruction", "instruction", "rewritten_instruction")
    obj = find_json_object(text, keys)
    if obj is not None:
        value = _json_field(obj, *keys)
        if not isinstance(value, str):
            return None
        out = clean_span(value)
    else:
        markers = list(_NEW_INSTR_MARKER.finditer(text))
        if not markers:
            return None
        out = clean_span(_cut_trailers(text[markers[-1].end() :]))
    if not out or is_placeholder(out):
        return None
    return out


def parse_extraction(text: str | None) -> tuple[str, str] | None:
    """(instruction, input) from an extract reply: JSON {"instruction","input"} or `Instruction: ... Input: ...`."""
    if text is None or is_placeholder(text) or is_unreadable(text):
        return None
    obj = find_json_object(text, ("instruction", "task"))
    if obj is not None:
        instr, inp = _json_field(obj, "instruction", "task"), _json_field(obj, "input", "context")
        if not isinstance(instr, str) or not (inp is None or isinstance(inp, str)):
            return None
        instr, inp = clean_span(instr), clean_span(inp or "")
    else:
        m = re.search(r"(?:^|\n)\W*instruction\W*[:：]", text, re.IGNORECASE)
        if not m:
            return None
        rest = text[m.end() :]
        parts = re.split(r"(?:^|\n)\W*input\W*[:：]", rest, maxsplit=1, flags=re.IGNORECASE)
        instr = clean_span(_cut_trailers(parts[0]))
        inp = clean_span(_cut_trailers(parts[1])) if len(parts) > 1 else ""
    if not instr or is_placeholder(instr):
        return None
    if inp.lower() in ("", "none", "n/a", "(empty)", "empty", "<empty>"):
        inp = ""
    return instr, inp


def parse_verdict(text: str | None) -> tuple[bool, str] | None:
    """(passed, reason) from a validate reply: JSON {"verdict": "pass"|"fail", "reason"} or `Verdict: PASS`.

    Only a whole-word verdict counts ("know" or "not" is never a No; reference bug 15).
    """
    if text is None or is_placeholder(text) or is_unreadable(text):
        return None
    keys = ("verdict", "valid", "ok", "pass", "answer")
    obj = find_json_object(text, keys)
    if obj is not None:
        verdict = _json_field(obj, *keys)
        reason = _json_field(obj, "reason", "explanation")
        reason = reason.strip() if isinstance(reason, str) else ""
        if isinstance(verdict, bool):
            return verdict, reason
        if isinstance(verdict, str):
            v = verdict.strip().lower()
            if v in ("pass", "yes", "valid", "true", "ok"):
                return True, reason
            if v in ("fail", "no", "invalid", "false"):
                return False, reason
        return None
    m = re.search(r"\b(?:verdict|answer)\s*[:：]\s*\**\s*(pass|fail|yes|no)\b", text, re.IGNORECASE)
    if not m:
        m = re.match(r"\W*(pass|fail|yes|no)\b", text, re.IGNORECASE)
    if not m:
        return None
    passed = m.group(1).lower() in ("pass", "yes")
    reason = text[m.end() :].strip(" .:-\n*")
    return passed, reason[:300]
