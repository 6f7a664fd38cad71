"""The step library: deterministic transforms over text, word lists and numbers.

Each step type has an input type, an output type, several natural-language phrasings, a function,
an optional argument sampler, and an exact checker (`check_output`). Pure, no I/O.

    >>> apply_step(Step("reverse_text"), "abc")
    'cba'
    >>> render_value(apply_step(Step("first_k_items", (("k", 2),)), ["a", "b", "c"]), "words")
    'a, b'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TEXT, WORDS, INT, INTS = "text", "words", "int", "ints"
VALUE_TYPES = (TEXT, WORDS, INT, INTS)
VOWELS = "aeiouAEIOU"
MAX_ABS_INT = 100_000  # keeps numbers short enough for tiny models and readable for humans
MAX_TEXT_LEN = 40
MAX_LIST_LEN = 12

Value = Any  # str | list[str] | int | list[int]


class StepError(ValueError):
    """A step cannot be applied to this value (e.g. taking 5 items of a 3-item list)."""


@dataclass(frozen=True)
class Step:
    """One instantiated step: a step type name plus its arguments (hashable, JSON-friendly)."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.kwargs}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Step:
        return Step(d["name"], tuple(sorted(d.get("args", {}).items())))


ArgSampler = Callable[[random.Random, Value], "dict[str, Any] | None"]


@dataclass(frozen=True)
class StepType:
    """A kind of step. `out_type=None` means "same as the input type" (for polymorphic list steps)."""

    name: str
    in_types: tuple[str, ...]
    out_type: str | None
    phrasings: tuple[str, ...]
    fn: Callable[..., Value]
    sample_args: ArgSampler | None = None
    ignore_case: bool = True  # False when case is what the step changes or tests

    def output_type(self, in_type: str) -> str:
        return self.out_type or in_type


# ---- value rendering, parsing, checking -------------------------------------------------------


def render_value(value: Value, vtype: str) -> str:
    """The canonical text of a value: lists are comma-separated."""
    if vtype in (WORDS, INTS):
        return ", ".join(str(v) for v in value)
    return str(value)


_INT_RE = re.compile(r"^[+-]?\d+$")


def parse_value(text: str, vtype: str) -> Value | None:
    """Read a value of `vtype` from model output text; None when it does not parse."""
    text = " ".join(text.split())
    if vtype == TEXT:
        return text
    if vtype == INT:
        return int(text) if _INT_RE.match(text) else None
    items = [t.strip() for t in text.split(",")] if text else []
    if vtype == WORDS:
        return items if all(items) else None
    if all(_INT_RE.match(t) for t in items):
        return [int(t) for t in items]
    return None


def check_output(step_type: StepType, expected: Value, out_type: str, output: str) -> bool:
    """Exact check of one step's output text: whitespace-tolerant always, case-tolerant only where
    the step allows it (`ignore_case`); numbers compare as numbers."""
    got = parse_value(output, out_type)
    if got is None:
        return False
    if step_type.ignore_case and out_type in (TEXT, WORDS):
        fold = (lambda s: s.casefold()) if out_type == TEXT else (lambda xs: [x.casefold() for x in xs])
        return fold(got) == fold(expected)
    return got == expected


def is_valid_value(value: Value, vtype: str) -> bool:
    """Values a chain may carry: non-empty, bounded, of the right Python type."""
    if vtype == TEXT:
        return isinstance(value, str) and 0 < len(value) <= MAX_TEXT_LEN and value.strip() == value
    if vtype == INT:
        return isinstance(value, int) and abs(value) <= MAX_ABS_INT
    if vtype == WORDS:
        return isinstance(value, list) and 0 < len(value) <= MAX_LIST_LEN and all(
            isinstance(w, str) and w and "," not in w and w.strip() == w for w in value
        )
    return isinstance(value, list) and 0 < len(value) <= MAX_LIST_LEN and all(
        isinstance(v, int) and abs(v) <= MAX_ABS_INT for v in value
    )


def value_type(value: Value) -> str:
    """The chain type of a Python value (str -> text, int -> int, list of str/int -> words/ints)."""
    if isinstance(value, bool):
        raise StepError("booleans are not chain values")
    if isinstance(value, str):
        return TEXT
    if isinstance(value, int):
        return INT
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return INTS
    if isinstance(value, list):
        return WORDS
    raise StepError(f"not a chain value: {value!r}")


# ---- step functions -----------------------------------------------------------------------------


def _first_k(v: Value, k: int) -> Value:
    if k >= len(v):
        raise StepError(f"first {k} of {len(v)} items keeps everything")
    return v[:k]


def _last_k(v: Value, k: int) -> Value:
    if k >= len(v):
        raise StepError(f"last {k} of {len(v)} items keeps everything")
    return v[-k:]


def _dedupe(v: Value) -> Value:
    seen: list = []
    for x in v:
        if x not in seen:
            seen.append(x)
    return "".join(seen) if isinstance(v, str) else seen


def _rotate_left(v: Value) -> Value:
    if len(v) < 2:
        raise StepError("rotating needs at least 2 items")
    return v[1:] + v[:1]


def _swap_ends(v: Value) -> Value:
    if len(v) < 2:
        raise StepError("swapping ends needs at least 2 items")
    return v[-1:] + v[1:-1] + v[:1]


def _shift_letters(s: str) -> str:
    def nxt(c: str) -> str:
        if "a" <= c <= "z":
            return chr((ord(c) - 97 + 1) % 26 + 97)
        if "A" <= c <= "Z":
            return chr((ord(c) - 65 + 1) % 26 + 65)
        return c

    return "".join(nxt(c) for c in s)


def _replace_letter(s: str, a: str, b: str) -> str:
    if a not in s:
        raise StepError(f"{a!r} does not occur")
    return s.replace(a, b)


def _remove_vowels(s: str) -> str:
    return "".join(c for c in s if c not in VOWELS)


def _keep_longer(ws: list[str], n: int) -> list[str]:
    return [w for w in ws if len(w) > n]


def _keep_starting(ws: list[str], letter: str) -> list[str]:
    return [w for w in ws if w[:1].lower() == letter]


def _split_letters(s: str) -> list[str]:
    if " " in s:
        raise StepError("text with spaces cannot be split into letters unambiguously")
    return list(s)


def _join(ws: list[str], sep: str) -> str:
    return sep.join(ws)


def _digit_sum(n: int) -> int:
    return sum(int(d) for d in str(abs(n)))


# ---- argument samplers (return None when the step does not fit the value) ----------------------


def _sample_k(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"k": rng.randint(1, min(len(v) - 1, 4))} if len(v) >= 2 else None


def _sample_letter_pair(rng: random.Random, s: str) -> dict[str, Any] | None:
    present = sorted({c for c in s if "a" <= c <= "z"})
    if not present:
        return None
    a = rng.choice(present)
    b = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != a])
    return {"a": a, "b": b}


def _sample_length_threshold(rng: random.Random, ws: list[str]) -> dict[str, Any] | None:
    lengths = sorted({len(w) for w in ws})
    if len(lengths) < 2:
        return None
    return {"n": rng.choice(lengths[:-1])}  # keeps at least one word, drops at least one


def _sample_start_letter(rng: random.Random, ws: list[str]) -> dict[str, Any] | None:
    return {"letter": rng.choice(sorted({w[0].lower() for w in ws}))}


def _sample_sep(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"sep": rng.choice(["-", "+", "/", "_"])}


def _sample_small_n(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"n": rng.randint(2, 9)}


def _sample_shift(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"n": rng.randint(1, 20)}


# ---- the library --------------------------------------------------------------------------------

LISTS = (WORDS, INTS)
SEQS = (TEXT, WORDS, INTS)

STEP_TYPES: dict[str, StepType] = {
    s.name: s
    for s in (
        # text -> text
        StepType("reverse_text", (TEXT,), TEXT,
                 ("reverse the letters", "write it backwards", "spell it in reverse order"), lambda s: s[::-1]),
        StepType("sort_letters", (TEXT,), TEXT,
                 ("sort the letters alphabetically", "put the letters in alphabetical order",
                  "arrange the letters from a to z"), lambda s: "".join(sorted(s)), ignore_case=False),
        StepType("uppercase", (TEXT,), TEXT,
                 ("convert it to uppercase", "write it in capital letters", "make every letter uppercase"),
                 lambda s: s.upper(), ignore_case=False),
        StepType("lowercase", (TEXT,), TEXT,
                 ("convert it to lowercase", "write it in small letters", "make every letter lowercase"),
                 lambda s: s.lower(), ignore_case=False),
        StepType("remove_vowels", (TEXT,), TEXT,
                 ("remove the vowels", "delete every vowel", "drop all the vowels (a, e, i, o, u)"), _remove_vowels),
        StepType("dedupe_letters", (TEXT,), TEXT,
                 ("remove repeated letters, keeping the first of each", "keep only the first occurrence of each letter",
                  "drop duplicate letters"), _dedupe, ignore_case=False),
        StepType("rotate_left", (TEXT,), TEXT,
                 ("move the first letter to the end", "rotate the letters left by one",
                  "take the first letter off and append it at the end"), _rotate_left),
        StepType("swap_ends", (TEXT,), TEXT,
                 ("swap the first and last letters", "exchange the first letter with the last one",
                  "switch the first and the last letter"), _swap_ends),
        StepType("shift_letters", (TEXT,), TEXT,
                 ("replace each letter with the next letter of the alphabet (z becomes a)",
                  "shift every letter forward by one (z wraps to a)",
                  "move each letter one place up the alphabet, wrapping z to a"), _shift_letters),
        StepType("replace_letter", (TEXT,), TEXT,
                 ("replace every {a} with {b}", "change each {a} into {b}", "swap all {a}'s for {b}'s"),
                 _replace_letter, _sample_letter_pair, ignore_case=False),
        StepType("double_letters", (TEXT,), TEXT,
                 ("write every letter twice", "double each letter", "repeat each letter once more in place"),
                 lambda s: "".join(c + c for c in s)),
        StepType("first_k_letters", (TEXT,), TEXT,
                 ("keep only the first {k} letters", "take the first {k} letters", "cut it to its first {k} letters"),
                 _first_k, _sample_k),
        StepType("last_k_letters", (TEXT,), TEXT,
                 ("keep only the last {k} letters", "take the last {k} letters", "cut it to its last {k} letters"),
                 _last_k, _sample_k),
        # text <-> other types
        StepType("count_letters", (TEXT,), INT,
                 ("count the characters", "how many characters does it have?", "give its length in characters"), len),
        StepType("count_vowels", (TEXT,), INT,
                 ("count the vowels", "how many vowels does it contain?", "give the number of vowels (a, e, i, o, u)"),
                 lambda s: sum(c in VOWELS for c in s)),
        StepType("split_letters", (TEXT,), WORDS,
                 ("split it into its letters", "list its letters, separated by commas", "break it into single letters"),
                 _split_letters, ignore_case=False),
        StepType("join_with", (WORDS,), TEXT,
                 ("join the items with '{sep}'", "glue the items together using '{sep}' between them",
                  "combine the items into one string separated by '{sep}'"), _join, _sample_sep),
        StepType("initials", (WORDS,), TEXT,
                 ("take the first letter of each word and write them together", "form a word from the initial letters",
                  "write the initials of the words as one string"), lambda ws: "".join(w[0] for w in ws)),
        # lists (words or numbers) -> same type
        StepType("reverse_list", LISTS, None,
                 ("reverse the order of the items", "list the items backwards", "write the items in reverse order"),
                 lambda v: v[::-1]),
        StepType("sort_items", LISTS, None,
                 ("sort the items in ascending order", "put the items in order, smallest or alphabetically first",
                  "arrange the items in increasing order"), sorted, ignore_case=False),
        StepType("first_k_items", LISTS, None,
                 ("keep only the first {k} items", "take the first {k} items", "drop everything after item {k}"),
                 _first_k, _sample_k),
        StepType("last_k_items", LISTS, None,
                 ("keep only the last {k} items", "take the last {k} items", "keep just the final {k} items"),
                 _last_k, _sample_k),
        StepType("dedupe_items", LISTS, None,
                 ("remove duplicate items, keeping the first occurrence", "drop repeated items",
                  "keep each item only once, in its original order"), _dedupe),
        StepType("rotate_items", LISTS, None,
                 ("move the first item to the end", "rotate the list left by one item",
                  "take the first item off and put it last"), _rotate_left),
        StepType("count_items", LISTS, INT,
                 ("count the items", "how many items are there?", "give the number of items in the list"), len),
        # words -> words
        StepType("uppercase_words", (WORDS,), WORDS,
                 ("write every word in uppercase", "capitalise all letters of each word",
                  "convert each word to capital letters"), lambda ws: [w.upper() for w in ws], ignore_case=False),
        StepType("keep_longer_than", (WORDS,), WORDS,
                 ("keep only the words longer than {n} letters", "remove words with {n} letters or fewer",
                  "filter to words of more than {n} characters"), _keep_longer, _sample_length_threshold),
        StepType("keep_starting_with", (WORDS,), WORDS,
                 ("keep only the words starting with '{letter}'", "remove the words that do not begin with '{letter}'",
                  "filter to the words whose first letter is '{letter}'"), _keep_starting, _sample_start_letter),
        # numbers
        StepType("add_n", (INT,), INT,
                 ("add {n}", "increase it by {n}", "add {n} to the number"), lambda x, n: x + n, _sample_shift),
        StepType("subtract_n", (INT,), INT,
                 ("subtract {n}", "decrease it by {n}", "take {n} away from the number"), lambda x, n: x - n,
                 _sample_shift),
        StepType("multiply_n", (INT,), INT,
                 ("multiply it by {n}", "times {n}", "compute {n} times the number"), lambda x, n: x * n, _sample_small_n),
        StepType("digit_sum", (INT,), INT,
                 ("add up its digits", "compute the sum of its digits", "give the digit sum"), _digit_sum),
        StepType("add_to_each", (INTS,), INTS,
                 ("add {n} to each number", "increase every number by {n}", "add {n} to every item"),
                 lambda xs, n: [x + n for x in xs], _sample_shift),
        StepType("keep_even", (INTS,), INTS,
                 ("keep only the even numbers", "remove the odd numbers", "filter to the even numbers"),
                 lambda xs: [x for x in xs if x % 2 == 0]),
        StepType("sum_items", (INTS,), INT,
                 ("add up the numbers", "compute the sum of the numbers", "give the total of all the numbers"), sum),
        StepType("max_item", (INTS,), INT,
                 ("give the largest number", "find the maximum", "which number is the biggest?"), max),
        StepType("min_item", (INTS,), INT,
                 ("give the smallest number", "find the minimum", "which number is the smallest?"), min),
    )
}


# ---- v2 additions (SeqEval-V v2): kept apart so that STEP_TYPES, and everything sampled from it
# (SeqEval-V v1, the micro-world), stays exactly as it was. Never edit a shipped step type: add one.


def _reverse_digits(x: int) -> int:
    return (-1 if x < 0 else 1) * int(str(abs(x))[::-1])


def _non_negative(x: int, what: str) -> int:
    if x < 0:
        raise StepError(f"{what} of a negative number is ambiguous")
    return x


def _round_to_ten(x: int) -> int:
    return (_non_negative(x, "rounding") + 5) // 10 * 10


def _drop_first(v: Value) -> Value:
    if len(v) < 2:
        raise StepError("dropping the only item leaves nothing")
    return v[1:]


def _drop_last(v: Value) -> Value:
    if len(v) < 2:
        raise StepError("dropping the only item leaves nothing")
    return v[:-1]


def _every_other(v: Value) -> Value:
    if len(v) < 3:
        raise StepError("every other item of fewer than 3 items is just the first")
    return v[::2]


def _remove_letter(s: str, letter: str) -> str:
    if letter not in s:
        raise StepError(f"{letter!r} does not occur")
    return s.replace(letter, "")


def _count_letter(s: str, letter: str) -> int:
    return s.lower().count(letter)


def _sample_present_letter(rng: random.Random, s: str) -> dict[str, Any] | None:
    present = sorted({c for c in s if "a" <= c <= "z"})
    return {"letter": rng.choice(present)} if present else None


def _sample_suffix(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"suffix": rng.choice(["s", "er", "ing", "ly", "ful", "ness"])}


def _sample_prefix(rng: random.Random, v: Value) -> dict[str, Any] | None:
    return {"prefix": rng.choice(["re", "un", "pre", "over", "sub", "mini"])}


STEP_TYPES_V2: dict[str, StepType] = {
    s.name: s
    for s in (
        # numbers
        StepType("reverse_digits", (INT,), INT,
                 ("reverse its digits", "write its digits in reverse order and read that as a number",
                  "flip the order of its digits (drop leading zeros)"), _reverse_digits),
        StepType("remainder_n", (INT,), INT,
                 ("give the remainder after dividing it by {n}", "compute it modulo {n}",
                  "what is left over when it is divided by {n}?"),
                 lambda x, n: _non_negative(x, "the remainder") % n, _sample_small_n),
        StepType("integer_divide_n", (INT,), INT,
                 ("divide it by {n}, rounding down", "integer-divide it by {n} (drop any remainder)",
                  "how many whole times does {n} go into it?"),
                 lambda x, n: _non_negative(x, "integer division") // n, _sample_small_n),
        StepType("square", (INT,), INT,
                 ("square it", "multiply it by itself", "raise it to the power of two"), lambda x: x * x),
        StepType("count_digits", (INT,), INT,
                 ("count its digits", "how many digits does it have?", "give the number of digits"),
                 lambda x: len(str(abs(x)))),
        StepType("round_to_ten", (INT,), INT,
                 ("round it to the nearest ten (halves round up)", "round it to a multiple of ten, 5 rounding up",
                  "give the nearest multiple of 10 (round halves up)"), _round_to_ten),
        # lists (words or numbers)
        StepType("sort_descending", LISTS, None,
                 ("sort the items in descending order", "put the items in decreasing order, largest or alphabetically "
                  "last first", "arrange the items from highest to lowest (reverse alphabetical for words)"),
                 lambda v: sorted(v, reverse=True), ignore_case=False),
        StepType("drop_first_item", LISTS, None,
                 ("remove the first item", "drop the first item of the list", "delete the item at the start"),
                 _drop_first),
        StepType("drop_last_item", LISTS, None,
                 ("remove the last item", "drop the final item of the list", "delete the item at the end"), _drop_last),
        StepType("every_other_item", LISTS, None,
                 ("keep every other item, starting with the first", "keep the 1st, 3rd, 5th, ... items",
                  "drop every second item (keep the first)"), _every_other),
        StepType("keep_odd", (INTS,), INTS,
                 ("keep only the odd numbers", "remove the even numbers", "filter to the odd numbers"),
                 lambda xs: [x for x in xs if x % 2]),
        StepType("multiply_each_n", (INTS,), INTS,
                 ("multiply each number by {n}", "times every number by {n}", "multiply every item by {n}"),
                 lambda xs, n: [x * n for x in xs], _sample_small_n),
        StepType("range_of_items", (INTS,), INT,
                 ("subtract the smallest number from the largest", "give the difference between the largest and "
                  "the smallest number", "compute the range (largest minus smallest)"), lambda xs: max(xs) - min(xs)),
        StepType("word_lengths", (WORDS,), INTS,
                 ("replace each word with its number of letters", "list the length of each word",
                  "write how many letters each word has, in order"), lambda ws: [len(w) for w in ws]),
        # strings
        StepType("capitalize_text", (TEXT,), TEXT,
                 ("capitalise it (first letter upper case, the rest lower case)",
                  "write it with only the first letter in capitals", "make the first letter uppercase and all others "
                  "lowercase"), lambda s: s[:1].upper() + s[1:].lower(), ignore_case=False),
        StepType("append_text", (TEXT,), TEXT,
                 ("add '{suffix}' to the end", "append '{suffix}'", "write '{suffix}' right after it"),
                 lambda s, suffix: s + suffix, _sample_suffix),
        StepType("prepend_text", (TEXT,), TEXT,
                 ("add '{prefix}' to the start", "put '{prefix}' in front of it", "prefix it with '{prefix}'"),
                 lambda s, prefix: prefix + s, _sample_prefix),
        StepType("mirror_text", (TEXT,), TEXT,
                 ("append its reverse to it", "write it followed by the same letters backwards",
                  "mirror it: the text, then the text reversed"), lambda s: s + s[::-1]),
        StepType("remove_letter", (TEXT,), TEXT,
                 ("remove every '{letter}'", "delete all occurrences of '{letter}'", "drop each '{letter}'"),
                 _remove_letter, _sample_present_letter, ignore_case=False),
        StepType("count_letter", (TEXT,), INT,
                 ("count how many times '{letter}' occurs", "how many '{letter}'s does it contain?",
                  "give the number of '{letter}' letters in it"), _count_letter, _sample_present_letter),
        StepType("last_letters", (WORDS,), TEXT,
                 ("take the last letter of each word and write them together", "form a word from the final letters",
                  "write the last letters of the words as one string"), lambda ws: "".join(w[-1] for w in ws)),
        StepType("lowercase_words", (WORDS,), WORDS,
                 ("write every word in lowercase", "make all letters of each word small",
                  "convert each word to lowercase letters"), lambda ws: [w.lower() for w in ws], ignore_case=False),
        StepType("sort_by_length", (WORDS,), WORDS,
                 ("sort the words from shortest to longest (ties keep their order)",
                  "order the words by length, shortest first, ties in their original order",
                  "arrange the words by increasing length, keeping ties in place"), lambda ws: sorted(ws, key=len)),
    )
}
LIBRARY: dict[str, StepType] = {**STEP_TYPES, **STEP_TYPES_V2}  # every step type seqit can check


def step_type(name: str) -> StepType:
    if name not in LIBRARY:
        raise KeyError(f"unknown step type {name!r} (known: {', '.join(sorted(LIBRARY))})")
    return LIBRARY[name]


def apply_step(step: Step, value: Value) -> Value:
    """Apply one step; raises StepError when the step does not fit the value or the result is invalid."""
    st = step_type(step.name)
    vtype = value_type(value)
    if vtype not in st.in_types:
        raise StepError(f"{step.name} takes {'/'.join(st.in_types)}, got {vtype}")
    out = st.fn(value, **step.kwargs)
    out_type = st.output_type(vtype)
    if not is_valid_value(out, out_type):
        raise StepError(f"{step.name} gives an invalid {out_type}: {out!r}")
    return out


NUMBER_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")


class _Num(int):
    """An int argument of a phrasing: `{k}` renders 2, `{k:w}` renders Two (so a phrasing can keep
    its arguments apart from the digits that number the steps)."""

    def __format__(self, spec: str) -> str:
        if spec == "w" and 0 <= self < len(NUMBER_WORDS):
            return NUMBER_WORDS[self]
        return format(int(self), "" if spec == "w" else spec)


def render_step(step: Step, phrasing: int, phrasebook: dict[str, tuple[str, ...]] | None = None) -> str:
    """The natural-language instruction for a step, in phrasing number `phrasing` (from `phrasebook`
    when it has this step type, else from the library). In a phrasing `{k:w}` writes an int argument as
    a word.

    >>> render_step(Step("first_k_letters", (("k", 2),)), 0, {"first_k_letters": ("First {k:w}",)})
    'First Two'
    """
    phrasings = (phrasebook or {}).get(step.name) or step_type(step.name).phrasings
    kwargs = {k: _Num(v) if type(v) is int else v for k, v in step.kwargs.items()}
    return phrasings[phrasing % len(phrasings)].format(**kwargs)


def sample_step(rng: random.Random, name: str, value: Value) -> Step | None:
    """An instance of step type `name` that applies cleanly to `value`, or None."""
    st = step_type(name)
    if value_type(value) not in st.in_types:
        return None
    args = st.sample_args(rng, value) if st.sample_args else {}
    if args is None:
        return None
    step = Step(name, tuple(sorted(args.items())))
    try:
        apply_step(step, value)
    except StepError:
        return None
    return step
