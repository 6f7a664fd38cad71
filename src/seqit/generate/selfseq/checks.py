"""Pure rule checks for Self-Seq outputs; each returns a reject reason (str) or None when the text passes.

>>> check_rewrite("Sum 3 and 4.", "First explain addition. Then sum the numbers.")
'drops key content of the original: 3, 4'
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter

from seqit.generate.selfseq.parse import find_json_object, is_failure_text, is_placeholder

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*%?")
_QUOTED = re.compile(
    r"\"([^\"\n]{2,200})\"|“([^”\n]{2,200})”|(?<!\w)'([^'\n]{2,200})'(?!\w)|`([^`\n]{1,200})`"
)
_OPTION_LINE = re.compile(
    r"(?:^|\s)\(?([A-Da-d1-9])[).:]\s+(\S[^\n()]{0,60}?)(?=\s+\(?[A-Da-d1-9][).:]\s|\n|$)"
)
_CODE_FENCE = re.compile(r"```.*?```", re.DOTALL)
_SEQUENCE_WORDS = re.compile(
    r"\b(?:first(?:ly)?|then|next|after(?:wards| that)?|finally|second(?:ly)?|third|lastly|before|"
    r"followed by|subsequently|once you|using (?:this|that|these|those|your)|based on (?:this|that|these|those|your)|"
    r"step \d|and also)\b|(?:^|\n)\s*\d+[.)]\s",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.?!](?:\s|$)")


def normalize(text: str) -> str:
    """Lowercase, straight quotes, collapsed whitespace (for containment tests)."""
    t = text.lower().replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", t).strip()


def key_spans(text: str) -> list[str]:
    """Content a rewrite must keep: numbers, quoted spans, inline and fenced code, answer options, table cells.

    >>> key_spans('Is 12 > 7? Options: (a) yes (b) no')
    ['12', '7', 'yes', 'no']
    """
    spans: list[str] = []
    body = _CODE_FENCE.sub(" ", text)
    spans += [b.strip("`").strip() for b in _CODE_FENCE.findall(text)]
    spans += [m.group(0).rstrip(".,") for m in _NUMBER.finditer(body)]
    spans += [next(g for g in m.groups() if g) for m in _QUOTED.finditer(body)]
    spans += [m.group(2).strip(" ,;") for m in _OPTION_LINE.finditer(body)]
    for line in body.splitlines():  # markdown/pipe tables: every non-empty cell
        if line.count("|") >= 2:
            spans += [
                c.strip()
                for c in line.strip().strip("|").split("|")
                if c.strip() and not set(c.strip()) <= set("-: ")
            ]
    seen, out = set(), []
    for s in spans:
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    return out


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()


def missing_key_spans(original: str, rewritten: str) -> list[str]:
    """Key spans of `original` that `rewritten` no longer contains (case/whitespace/quote-insensitive).

    A small number may be spelled out ("3" is kept by "three").
    """
    target = normalize(rewritten)
    missing = []
    for span in key_spans(original):
        if normalize(span) in target:
            continue
        if (
            span.isdigit()
            and int(span) < len(_NUMBER_WORDS)
            and re.search(rf"\b{_NUMBER_WORDS[int(span)]}\b", target)
        ):
            continue
        missing.append(span)
    return missing


# words that carry no task content (function words, politeness, references to "the input")
_STOPWORDS = frozenset("""
a an the of to in on for with and or but nor not no is are was were be been being am do does did has have had
it its this that these those there here what which who whom whose how why when where whether if than then so
as at by from into onto over under about above below between through during before after up down out off
your you yours me my mine we our us they them their he she his her him i can could would should will shall may
might must please kindly give provide following given some any each every all both more most such other another
one own same just also very text passage input sentence paragraph article statement prompt question task below
above using use based answer original
""".split())
_CONTENT_WORD = re.compile(r"[^\W\d_]{3,}", re.U)
# a prefix (B) or suffix (C) task keeps the original task as it is: most of its content words must stay;
# a decomposition (A) may paraphrase, but must not lose the task entirely
MIN_CONTENT_COVERAGE = {"A": 0.25, "B": 0.5, "C": 0.5}


def content_words(text: str) -> list[str]:
    """The distinct content words of `text` (lower-case, no stopwords, no numbers), in order.

    >>> content_words("What is the boiling point of water at sea level?")
    ['boiling', 'point', 'water', 'sea', 'level']
    """
    seen: dict[str, None] = {}
    for w in _CONTENT_WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        if w not in _STOPWORDS:
            seen.setdefault(w, None)
    return list(seen)


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 else word  # "translate"/"translation", "capital"/"capitals"


def uncovered_content_words(original: str, rewritten: str) -> list[str]:
    """Content words of `original` that `rewritten` no longer has (a 5-letter stem match counts)."""
    have = {_stem(w) for w in content_words(rewritten)}
    return [w for w in content_words(original) if _stem(w) not in have]


def coverage_problem(original: str, rewritten: str, option: str | None) -> str | None:
    """The reject reason when a rewrite drops the original task's content (a generic "first list two facts
    about the topic, then answer the original question" instead of the task itself), or None."""
    words = content_words(original)
    need = MIN_CONTENT_COVERAGE.get(option or "A", MIN_CONTENT_COVERAGE["A"])
    if not words:
        return None
    lost = uncovered_content_words(original, rewritten)
    coverage = 1 - len(lost) / len(words)
    if coverage >= need:
        return None
    what = {"B": "a prefix task", "C": "a suffix task"}.get(option or "", "the rewrite")
    shown = ", ".join(lost[:6]) + (", ..." if len(lost) > 6 else "")
    return (f"drops the original task: {what} must keep its content, but only {coverage:.0%} of its content "
            f"words remain (need {need:.0%}; missing: {shown})")


def is_sequential(original: str, rewritten: str) -> bool:
    """Does the rewrite spell out an order of tasks (sequence words, numbered steps, or extra sentences)?"""
    if len(_SEQUENCE_WORDS.findall(rewritten)) > len(_SEQUENCE_WORDS.findall(original)):
        return True
    return len(_SENTENCE_END.findall(rewritten.strip() + " ")) > len(
        _SENTENCE_END.findall(original.strip() + " ")
    )


TRUNCATED = "truncated reply (finish_reason=length): cut at selfseq.control_max_tokens; raise it"
_REPLY_KEYS = ("new_instruction", "instruction", "rewritten_instruction")
# JSON residue a parser can leave when a reply's JSON is broken: a span that starts with `": "` or `",`
_FRAGMENT_START = re.compile(r"""^\s*(?:["'`]?\s*[:,{}\[\]]|[:,])""")
_FRAGMENT_END = re.compile(r"""(?:["']\s*[,:{]|[{\[,])\s*$""")  # a closing ':' may introduce the input
_JSON_KEY = re.compile(r'"\s*(?:reason|new_instruction|instruction|verdict|option|explanation)\s*"\s*:')


def control_reply_problem(text: str | None, finish_reason: str | None, keys: tuple[str, ...] = _REPLY_KEYS) -> str | None:
    """The reason a control reply that must hold complete text (a rewrite, an extraction) is unusable before it is
    parsed: cut by max_tokens, empty, or a JSON object whose answer field is empty; else None.

    >>> control_reply_problem('{"reason": "x", "new_instruction": "Fir', "length").startswith("truncated reply")
    True
    >>> control_reply_problem('{"reason": "x", "new_instruction": ""}', "stop")[:13]
    'empty rewrite'
    """
    if finish_reason == "length":
        return TRUNCATED
    if text is None or not text.strip():
        return "empty reply"
    obj = find_json_object(text, keys)
    if obj is not None:
        value = next((obj[k] for k in keys if k in obj), None)
        if isinstance(value, str) and not value.strip():
            key = next(k for k in keys if k in obj)
            return f"empty rewrite: the reply's {key} is empty"
    return None


def fragment_problem(text: str) -> str | None:
    """A parsed span that is a piece of broken JSON (`": "The answer is a carrot.",`), not an instruction.

    >>> fragment_problem('": "The answer is a carrot.",')[:30]
    "fragment of the reply's JSON, "
    >>> fragment_problem("First list the facts, then answer.") is None
    True
    """
    if _FRAGMENT_START.search(text) or _FRAGMENT_END.search(text) or _JSON_KEY.search(text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"fragment of the reply's JSON, not an instruction: {shown!r}"
    return None


def echo_problem(rewritten: str, messages: list[dict[str, str]], original: str, min_chars: int = 20) -> str | None:
    """A rewrite that repeats the prompt's own text (a few-shot example, a rule) instead of rewriting this
    instruction: most of it appears word for word in the prompt's system and example turns.

    >>> msgs = [{"role": "system", "content": "Say the order plainly (first ..., then ...)."},
    ...         {"role": "user", "content": "Name a planet."}]
    >>> echo_problem("Say the order plainly (first ..., then ...).", msgs, "Name a planet.")[:60]
    'echoes the prompt instead of rewriting the instruction: 100%'
    """
    new = normalize(rewritten)
    if len(new) < min_chars:
        return None
    context = normalize(" ".join(m["content"] for m in messages[:-1]))  # the system rules and the examples
    match = difflib.SequenceMatcher(None, new, context, autojunk=False).find_longest_match(0, len(new), 0, len(context))
    share = match.size / len(new)
    if share >= 0.8 and new[match.a : match.a + match.size] not in normalize(original):
        return (f"echoes the prompt instead of rewriting the instruction: {share:.0%} of it is text of the prompt's "
                "rules or examples")
    return None


_PART_SPLIT = re.compile(r"[.;!?]\s+|,?\s*\b(?:and then|then|next|finally|afterwards|after that)\b[,:]?\s*", re.I)
_STATEMENT = re.compile(r"^(?:the|this|it|these|those|that|there)\b[^?]*?\b(?:is|are|was|were)\b", re.I)


def statement_problem(rewritten: str) -> str | None:
    """A rewrite (or one of its steps) that states something instead of asking for a task: "The capital of Canada
    is Ottawa.", "Sort the numbers, and then the input is unchanged." (a small teacher answering, or echoing
    the rules). Every step of a sequential instruction asks for something.

    >>> statement_problem("Sort the numbers, and then the input is unchanged.")
    "states something instead of asking for a task: 'the input is unchanged'"
    >>> statement_problem("First, list two facts about Ottawa. Then, say why it is the capital.") is None
    True
    """
    for part in _PART_SPLIT.split(rewritten.strip()):
        part = part.strip(" ,:.;")
        if _STATEMENT.match(part):
            shown = part if len(part) <= 50 else part[:47] + "..."
            return f"states something instead of asking for a task: {shown!r}"
    return None


def check_rewrite(
    original: str, rewritten: str | None, input_text: str = "", min_growth_chars: int = 12, option: str | None = None
) -> str | None:
    """The reason a rewrite is unusable, or None: missing, placeholder, a JSON fragment, unchanged, too long,
    copies the input, drops key content, drops the original task (content-word coverage, strictest for the
    prefix/suffix options B and C), not sequential, a step that states instead of asks."""
    if rewritten is None or not rewritten.strip():
        return "missing: no new instruction in the reply"
    if is_placeholder(rewritten):
        return "placeholder text instead of an instruction"
    if fragment := fragment_problem(rewritten):
        return fragment
    a, b = normalize(original), normalize(rewritten)
    if len(b) > max(600, 6 * len(a)):
        return f"too long: {len(b)} characters for a {len(a)}-character instruction (an answer, not an instruction?)"
    if len(input_text) >= 40 and normalize(input_text) in b:
        return "copies the input into the instruction (the input is appended once after it)"
    if a == b or (difflib.SequenceMatcher(None, a, b).ratio() > 0.9 and len(b) < len(a) + min_growth_chars):
        return "unchanged: the rewrite is (nearly) the original instruction"
    missing = missing_key_spans(original, rewritten)
    if missing:
        shown = ", ".join(m if len(m) <= 40 else m[:37] + "..." for m in missing[:5])
        return f"drops key content of the original: {shown}"
    lost_task = coverage_problem(original, rewritten, option)
    if lost_task:
        return lost_task
    if not is_sequential(original, rewritten):
        return "not sequential: no added or ordered task"
    return statement_problem(rewritten)


def check_extraction(prompt: str, instruction: str, input_text: str, min_coverage: float = 0.9) -> str | None:
    """Extraction must neither add nor lose text: both parts come from the prompt and cover it."""
    src = _words(prompt)
    parts = _words(instruction) + _words(input_text)
    if not parts:
        return "empty extraction"
    src_counts, part_counts = Counter(src), Counter(parts)
    added = sum((part_counts - src_counts).values())
    if added > max(2, 0.1 * len(parts)):
        return f"extraction adds {added} words not in the prompt"
    covered = sum((part_counts & src_counts).values()) / max(1, len(src))
    if covered < min_coverage:
        return f"extraction loses text: covers {covered:.0%} of the prompt's words"
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def check_response(text: str | None, finish_reason: str | None) -> str | None:
    """The reason a teacher response is unusable: empty, truncated, placeholder or degenerate."""
    if text is None or not text.strip():
        return "empty response"
    if finish_reason == "length":
        return "truncated response (finish_reason=length)"
    if is_failure_text(text) and len(text) < 200:
        return "placeholder or refusal text instead of a response"
    why = degenerate_reason(text)
    return f"degenerate response: {why}" if why else None


def degenerate_reason(text: str, ngram: int = 4, max_repeat_share: float = 0.5) -> str | None:
    """Detect looping/garbage text: repeated n-grams dominate, a line repeats many times, or few distinct chars."""
    words = text.split()
    if len(words) >= 20:
        grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
        top = Counter(grams).most_common(1)[0][1]
        repeated = sum(c for c in Counter(grams).values() if c > 1)
        if top >= 5 and repeated / len(grams) > max_repeat_share:
            return f"{repeated / len(grams):.0%} of {ngram}-word sequences repeat"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 6:
        line, n = Counter(lines).most_common(1)[0]
        if n >= 4 and n / len(lines) > 0.5:
            return f"the line {line[:30]!r} repeats {n} times"
    unreadable = sum(
        ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\t\r")
        for ch in text
    )
    if unreadable and ("\ufffd" in text or unreadable / len(text) > 0.02):
        return f"{unreadable} unreadable or control characters"
    scripts = Counter(unicodedata.name(ch, "? ?").split(" ")[0] for ch in text if ch.isalpha())
    letters_total = sum(scripts.values())
    if letters_total >= 20 and sum(1 for n in scripts.values() if n / letters_total >= 0.08) > 4:
        return f"letters from {len(scripts)} different scripts"
    stripped = re.sub(r"\s", "", text)
    if len(stripped) >= 40 and len(set(stripped)) < 8:
        return "too few distinct characters"
    letters = sum(ch.isalpha() for ch in stripped)
    if len(stripped) >= 40 and letters / len(stripped) < 0.3 and not re.search(r"\d", stripped):
        return "mostly symbols, not text"
    return None
