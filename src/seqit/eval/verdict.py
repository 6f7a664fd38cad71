"""SeqEval judging: our versioned judge prompt and the tolerant verdict parser.

The reference SIT code never shipped its judge prompt (sit-reference §7 item 29); this one is ours.
The judge answers "did the response follow every instruction of the sequence, in order" plus a 1-5
quality score, as `[[Yes, 4]]`. `parse_verdict` accepts the loose forms judges really write and
returns None for anything it cannot read with confidence: a failure is never counted as Yes or No.
"""

from __future__ import annotations

import re

SEQEVAL_PROMPT_VERSION = "seqeval.judge/v1"

SEQEVAL_SYSTEM = "You are a strict and fair evaluator of how well AI assistants follow instructions."

SEQEVAL_USER = """Below is an instruction given to an AI assistant and the assistant's response. The instruction may ask for several tasks to be done one after another (for example: first translate, then answer; or summarise, then list, then explain).

Judge two things.
1. Following: did the response carry out EVERY task in the instruction, in the order the instruction gives? Answer Yes only if no task is skipped, left unfinished, merged away or done out of order. Otherwise answer No.
2. Quality: rate the overall quality of the response (correctness, helpfulness, clarity), from 1 (very poor) to 5 (excellent).

Explain your judgement in at most three sentences. Then end your reply with the verdict on a line of its own, in exactly this form: [[Yes, 4]] or [[No, 2]].

[Instruction]
{instruction}
[End of instruction]

[Response]
{response}
[End of response]"""

SEQEVAL_REASK = (
    "Your reply did not end with a verdict I could read. Reply with the verdict only, "
    "in exactly this form: [[Yes, 4]] or [[No, 2]] (Yes/No, then a quality score from 1 to 5)."
)

SCORE_MIN, SCORE_MAX = 1.0, 5.0

_NUM = r"(\d+(?:\.\d+)?)"
_LABEL = r"(yes|no)"
_SEP = r"\s*(?:\*\*|__)?\s*[,;:|/]\s*(?:\*\*|__)?\s*(?:score\s*[:=]?\s*)?"
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*5)?"
# [[Yes, 4]] and its one-bracket / half-bracket variants; the brackets make it unambiguous.
_BRACKET_SEP = r"(?:" + _SEP + r"|\s*-\s*|\s+)"  # inside [[...]] a space or dash also separates
_BRACKETED = re.compile(
    r"(?:\[\[?\s*(?:\*\*)?" + _LABEL + _BRACKET_SEP + _NUM + _OUT_OF + r"\s*(?:\*\*)?\s*\]\]?)"
    r"|(?:\[\[?\s*(?:\*\*)?" + _LABEL + _SEP + _NUM + _OUT_OF + r"\s*(?:\*\*)?\s*\]?\]?)"
    r"|(?:\b" + _LABEL + _SEP + _NUM + _OUT_OF + r"\s*(?:\*\*)?\s*\]\]?)",
    re.IGNORECASE,
)
# Bare "No, 2.5" is accepted only when it is the whole line (modulo markdown and a "Verdict:" label),
# so prose such as "No, 3 of the tasks were skipped" is not misread as a verdict.
_BARE_LINE = re.compile(
    r"^\s*(?:[#>*_\-\s]*)(?:(?:final\s+)?(?:verdict|answer|rating)\s*[:=-]\s*)?(?:\*\*|__)?\s*"
    + _LABEL
    + _SEP
    + _NUM
    + _OUT_OF
    + r"\s*(?:\*\*|__)?\s*[.!]?\s*$",
    re.IGNORECASE | re.MULTILINE,
)


# "Following: Yes" ... "Score: 4" as two labelled fields (close together).
_LABELLED = re.compile(
    r"follow(?:ed|ing|s)?\s*(?:\*\*)?\s*[:=-]\s*(?:\*\*)?\s*" + _LABEL
    + r"\b[^\n]*\n?[^\n]{0,40}?(?:score|quality|rating)\s*(?:\*\*)?\s*[:=-]\s*(?:\*\*)?\s*" + _NUM + _OUT_OF + r"\b",
    re.IGNORECASE,
)


def build_judge_messages(instruction: str, response: str) -> list[dict[str, str]]:
    """The SeqEval judge conversation for one (instruction, response) pair."""
    return [
        {"role": "system", "content": SEQEVAL_SYSTEM},
        {"role": "user", "content": SEQEVAL_USER.format(instruction=instruction, response=response)},
    ]


def parse_verdict(text: str) -> tuple[bool, float] | None:
    """Read a judge verdict: (followed, score 1-5), or None when the reply holds no readable verdict.

    The last verdict in the text wins (judges sometimes quote the format before answering).

    >>> parse_verdict("The response answers both parts in order. [[Yes, 4]]")
    (True, 4.0)
    >>> parse_verdict("**No, 2.5**")
    (False, 2.5)
    >>> parse_verdict("I cannot judge this.") is None
    True
    """
    if not text:
        return None
    matches = [(m.start(), m.groups()) for m in _BRACKETED.finditer(text)]
    matches += [(m.start(), m.groups()) for m in _BARE_LINE.finditer(text)]
    matches += [(m.start(), m.groups()) for m in _LABELLED.finditer(text)]
    if not matches:
        return None
    _, groups = max(matches, key=lambda m: m[0])
    label, number = [g for g in groups if g is not None][:2]
    score = float(number)
    if not SCORE_MIN <= score <= SCORE_MAX:
        return None
    return label.lower() == "yes", score
