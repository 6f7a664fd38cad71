"""Scripted teacher behaviour for generate tests: realistic replies per Self-Seq stage, keyed on the prompt.

`stage_of(messages)` tells which stage a request is; `ScriptedTeacher` answers each stage from a small
table of real-looking replies (JSON, the reference's free-text forms, markdown, malformed ones).
"""

from __future__ import annotations

import json
import re


def stage_of(messages: list[dict]) -> str:
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    if system.startswith("You separate a prompt"):
        return "extract"
    if system.startswith("You help build training data"):
        return "classify"
    if system.startswith("You rewrite an instruction"):
        return "rewrite"
    if system.startswith("You check a rewritten"):
        return "validate"
    if system.startswith("You check a response"):
        return "check"
    if system.startswith("Paraphrase the text"):
        return "paraphrase"
    if system.startswith("Translate the text"):
        return "translate"
    return "respond"


def target_instruction(messages: list[dict]) -> str:
    """The instruction the control step is about (the last user turn, without the input block)."""
    last = messages[-1]["content"]
    return last.split("Instruction:\n", 1)[-1].split("\n\nInput (", 1)[0].strip()


def lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def good_reply(messages: list[dict]) -> str:
    """A well-behaved teacher: B in round 1, D once the instruction is sequential, sensible rewrites."""
    stage = stage_of(messages)
    if stage == "extract":
        prompt = messages[-1]["content"].removeprefix("Prompt:\n")
        head, _, rest = prompt.partition("\n")
        return json.dumps({"instruction": head, "input": rest})
    if stage == "classify":
        instr = target_instruction(messages)
        if re.search(r"\bfirst\b", instr, re.IGNORECASE):
            return "Let's think step by step. The instruction is already sequential.\nSo the option is: D."
        return json.dumps({"reason": "A preliminary list gives the task something concrete.", "option": "B"})
    if stage == "rewrite":
        instr = target_instruction(messages)
        new = f"First, list the three facts that matter most for this task. Then, {lower_first(instr)}"
        return json.dumps({"reason": "adds a prefix task", "new_instruction": new})
    if stage in ("validate", "check"):
        return '```json\n{"reason": "Keeps every detail and adds an ordered step.", "verdict": "pass"}\n```'
    if stage == "paraphrase":
        return "In other words: " + messages[-1]["content"]
    if stage == "translate":
        return "[DE] " + messages[-1]["content"]
    user = messages[-1]["content"]
    return f"Here is a careful answer to the request ({len(user)} characters long). It covers each part in order."
