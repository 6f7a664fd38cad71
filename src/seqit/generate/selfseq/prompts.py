"""Versioned Self-Seq prompts (our own wording and few-shot examples) as pure message builders.

Every builder returns chat messages; few-shot order is shuffled with the `rng` it is given (seeded
per item, so prompts are reproducible and the teacher cache hits on rerun). Change a prompt's
wording -> bump its version in VERSIONS (the version is part of the cache key and of every record).
"""

from __future__ import annotations

import json
import random

from seqit.records import alpaca_prompt

VERSIONS = {
    "extract": "selfseq.extract/v1",
    "classify": "selfseq.classify/v1",
    "rewrite": "selfseq.rewrite/v1",
    "validate": "selfseq.validate/v1",
    "respond": "selfseq.respond/v1",
    "check": "selfseq.check/v1",
}

OPTION_MEANINGS = {
    "A": "decompose the instruction into two or more sequential tasks",
    "B": "add a prefix task whose result feeds the original task",
    "C": "add a suffix task that follows and builds on the original task",
    "D": "keep the instruction as it is",
}


def show_input(input_text: str, max_chars: int) -> str:
    """The input as shown to control steps: clipped to `max_chars` with an explicit marker."""
    if len(input_text) <= max_chars:
        return input_text
    return input_text[:max_chars] + f"\n[... {len(input_text) - max_chars} more characters not shown]"


def _task_block(instruction: str, input_text: str, max_chars: int) -> str:
    block = f"Instruction:\n{instruction}"
    if input_text.strip():
        block += f"\n\nInput (given to the model after the instruction, unchanged):\n{show_input(input_text, max_chars)}"
    return block


def _shots(pairs: list[tuple[str, dict]], rng: random.Random) -> list[dict[str, str]]:
    order = list(pairs)
    rng.shuffle(order)
    msgs = []
    for user, reply in order:
        msgs.append({"role": "user", "content": user})
        msgs.append({"role": "assistant", "content": json.dumps(reply, ensure_ascii=False)})
    return msgs


# ---------------------------------------------------------------------------------------------
# extract: split a monolithic prompt into the task instruction and its input

EXTRACT_SYSTEM = (
    "You separate a prompt into its task instruction and its input. The instruction is the question or "
    "the task to perform. The input is everything else the task needs: passages, tables, code, lists, "
    "answer options, premises and hypotheses. Copy text verbatim: do not add, drop, reword or repeat "
    "anything, and do not let the two parts overlap. The input may be empty when the prompt is only a "
    'task. Reply with a JSON object: {"instruction": "...", "input": "..."}.'
)
EXTRACT_SHOTS = [
    (
        "Prompt:\nWhich of these is a mammal? Options: (a) trout (b) dolphin (c) gecko",
        {"instruction": "Which of these is a mammal?", "input": "Options: (a) trout (b) dolphin (c) gecko"},
    ),
    (
        "Prompt:\nWrite a short poem about the first snow of winter.",
        {"instruction": "Write a short poem about the first snow of winter.", "input": ""},
    ),
    (
        "Prompt:\nThe museum opens at 9 am and closes at 5 pm on weekdays, and at noon on Saturdays. "
        "Based on the passage, can a visitor enter at 2 pm on a Saturday?",
        {
            "instruction": "Based on the passage, can a visitor enter at 2 pm on a Saturday?",
            "input": "The museum opens at 9 am and closes at 5 pm on weekdays, and at noon on Saturdays.",
        },
    ),
    (
        "Prompt:\nFix the bug in this function:\ndef area(r):\n    return 3.14 * r * 2",
        {"instruction": "Fix the bug in this function:", "input": "def area(r):\n    return 3.14 * r * 2"},
    ),
]


def extract_messages(prompt: str, rng: random.Random) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": EXTRACT_SYSTEM},
        *_shots(EXTRACT_SHOTS, rng),
        {"role": "user", "content": f"Prompt:\n{prompt}"},
    ]


# ---------------------------------------------------------------------------------------------
# classify: choose A (decompose), B (prefix task), C (suffix task) or D (keep)

CLASSIFY_SYSTEM = (
    "You help build training data in which one instruction asks for several tasks done in order. For the "
    "instruction you are given, choose the one option that makes the best sequential instruction:\n"
    "A: decompose it into two or more sequential tasks (it already hides several steps);\n"
    "B: add a prefix task, a preliminary task whose result the original task then uses;\n"
    "C: add a suffix task, a follow-up task that builds on the original task's result;\n"
    "D: keep it as it is (it is already sequential, or any added task would be forced or unnatural).\n"
    "An added task must produce its own explicit output; 'read', 'understand' or 'repeat the input' do not count. "
    'Think briefly, then reply with a JSON object: {"reason": "<one or two sentences>", "option": "A"|"B"|"C"|"D"}.'
)
CLASSIFY_SHOTS = [
    (
        "Instruction:\nPlan a three-day trip to Lisbon and estimate what it will cost.",
        {
            "reason": "It already contains two steps, planning and costing, that can be made explicit and ordered.",
            "option": "A",
        },
    ),
    (
        "Instruction:\nWrite a product description for a reusable water bottle.",
        {
            "reason": "Listing the bottle's key selling points first gives the description something concrete to use.",
            "option": "B",
        },
    ),
    (
        "Instruction:\nName the largest planet in the solar system.",
        {
            "reason": "A follow-up asking for two facts about that planet builds naturally on the answer.",
            "option": "C",
        },
    ),
    (
        "Instruction:\nWhat is 17 multiplied by 23?",
        {"reason": "A single exact calculation; any extra task would be artificial.", "option": "D"},
    ),
    (
        "Instruction:\nFirst list the ingredients of a margherita pizza, then give the steps to make it.\n\n"
        "Input (given to the model after the instruction, unchanged):\nServes two people.",
        {"reason": "It is already a two-step sequential instruction.", "option": "D"},
    ),
]


def classify_messages(
    instruction: str, input_text: str, rng: random.Random, max_input_chars: int = 2000
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": CLASSIFY_SYSTEM},
        *_shots(CLASSIFY_SHOTS, rng),
        {"role": "user", "content": _task_block(instruction, input_text, max_input_chars)},
    ]


# ---------------------------------------------------------------------------------------------
# rewrite: produce the new sequential instruction for option A, B or C

REWRITE_RULES = (
    "Rules:\n"
    "- The final task must still be the original one, so the last answer stays the same kind of answer, in the same format.\n"
    "- Every added task needs its own explicit output (a list, a fact, a short text); 'read', 'understand', 'analyse' or "
    "'repeat the input' is not a task.\n"
    "- Keep every key detail of the original instruction: answer options, hypotheses, questions, numbers, names, quoted text, "
    "code and tables.\n"
    "- The input (if any) is given after your instruction unchanged: refer to it, never copy it.\n"
    "- Say the order plainly (first ..., then ...).\n"
    'Reply with a JSON object: {"reason": "<one sentence>", "new_instruction": "..."}.'
)
REWRITE_GOALS = {
    "A": "Decompose the instruction into two or more sequential tasks that together do what it asks.",
    "B": "Add a prefix task: a preliminary task whose result the original task then uses.",
    "C": "Add a suffix task: a follow-up task that builds on the result of the original task.",
}
REWRITE_SHOTS = {
    "A": [
        (
            "Instruction:\nPlan a three-day trip to Lisbon and estimate what it will cost.",
            {
                "reason": "Planning and costing become two explicit steps.",
                "new_instruction": "First, plan a three-day trip to Lisbon with the main activities for each day. "
                "Then, estimate the total cost of that plan, itemised by accommodation, food, transport and tickets.",
            },
        ),
        (
            "Instruction:\nWhich of the following is a renewable energy source? (a) coal (b) wind (c) natural gas",
            {
                "reason": "Explaining each option first makes the choice a second step; the options stay.",
                "new_instruction": "First, say in one sentence whether each option is renewable: (a) coal (b) wind "
                "(c) natural gas. Then, answer: which of the following is a renewable energy source?",
            },
        ),
    ],
    "B": [
        (
            "Instruction:\nWrite a product description for a reusable water bottle.",
            {
                "reason": "Selling points are a concrete intermediate result the description can use.",
                "new_instruction": "First, list three key selling points of a reusable water bottle. "
                "Then, write a product description for the bottle that uses those three points.",
            },
        ),
        (
            "Instruction:\nSummarize the article in two sentences.\n\n"
            "Input (given to the model after the instruction, unchanged):\nCity council approves new bike lanes ...",
            {
                "reason": "Extracting the key facts first feeds the summary; the input is referred to, not copied.",
                "new_instruction": "First, list the three most important facts in the article below. "
                "Then, using those facts, summarize the article in two sentences.",
            },
        ),
    ],
    "C": [
        (
            "Instruction:\nName the largest planet in the solar system.",
            {
                "reason": "Two facts about the planet follow naturally from naming it.",
                "new_instruction": "Name the largest planet in the solar system, and then give two interesting facts about it.",
            },
        ),
        (
            "Instruction:\nTranslate 'Where is the train station?' into Spanish.",
            {
                "reason": "A second translation of the same sentence extends the task; the quoted sentence stays.",
                "new_instruction": "Translate 'Where is the train station?' into Spanish, and then translate your "
                "Spanish sentence into Italian.",
            },
        ),
    ],
}


def rewrite_messages(
    option: str, instruction: str, input_text: str, rng: random.Random, max_input_chars: int = 2000
) -> list[dict[str, str]]:
    assert option in REWRITE_GOALS, f"rewrite needs option A, B or C, got {option!r}"
    system = (
        "You rewrite an instruction into a sequential instruction: one instruction that asks for several tasks "
        f"done in order. {REWRITE_GOALS[option]}\n{REWRITE_RULES}"
    )
    return [
        {"role": "system", "content": system},
        *_shots(REWRITE_SHOTS[option], rng),
        {"role": "user", "content": _task_block(instruction, input_text, max_input_chars)},
    ]


# ---------------------------------------------------------------------------------------------
# validate: does the rewrite keep the original's content and really chain tasks?

VALIDATE_SYSTEM = (
    "You check a rewritten instruction against the original. It passes only if all hold:\n"
    "1. it still asks for everything the original asked, with every key detail (answer options, numbers, names, "
    "quoted text, code, tables);\n"
    "2. it asks for at least two tasks in a clear order, and each added task has its own explicit output;\n"
    "3. it can be answered from the rewritten instruction and the input alone (the original will not be shown).\n"
    'Reply with a JSON object: {"reason": "<one sentence>", "verdict": "pass"|"fail"}.'
)
VALIDATE_SHOTS = [
    (
        "Original instruction:\nWhich of the following is a renewable energy source? (a) coal (b) wind (c) natural gas\n\n"
        "Rewritten instruction:\nFirst explain what renewable energy is. Then answer which energy source is renewable.",
        {"reason": "The answer options (a) coal (b) wind (c) natural gas were dropped.", "verdict": "fail"},
    ),
    (
        "Original instruction:\nName the largest planet in the solar system.\n\n"
        "Rewritten instruction:\nName the largest planet in the solar system, and then give two interesting facts about it.",
        {
            "reason": "Keeps the original question and adds a follow-up with its own output.",
            "verdict": "pass",
        },
    ),
    (
        "Original instruction:\nWrite a haiku about rain.\n\n"
        "Rewritten instruction:\nRead the instruction carefully, then write a haiku about rain.",
        {
            "reason": "'Read the instruction' has no output of its own, so this is not sequential.",
            "verdict": "fail",
        },
    ),
]


def validate_messages(
    original: str, rewritten: str, input_text: str, rng: random.Random, max_input_chars: int = 2000
) -> list[dict[str, str]]:
    user = f"Original instruction:\n{original}\n\nRewritten instruction:\n{rewritten}"
    if input_text.strip():
        user += f"\n\nInput (given after either instruction):\n{show_input(input_text, max_input_chars)}"
    return [
        {"role": "system", "content": VALIDATE_SYSTEM},
        *_shots(VALIDATE_SHOTS, rng),
        {"role": "user", "content": user},
    ]


# ---------------------------------------------------------------------------------------------
# check (optional): does the response carry out every task of the sequential instruction, in order?

CHECK_SYSTEM = (
    "You check a response to a sequential instruction (one instruction asking for several tasks in order). It passes "
    "only if it carries out every task, in the order asked, and gives each task's own result. Do not judge style. "
    'Reply with a JSON object: {"reason": "<one sentence>", "verdict": "pass"|"fail"}.'
)
CHECK_SHOTS = [
    (
        "Instruction:\nName the largest planet in the solar system, and then give two interesting facts about it.\n\n"
        "Response:\nJupiter is the largest planet. It has a storm, the Great Red Spot, larger than Earth, and at least "
        "95 known moons.",
        {"reason": "Names the planet, then gives two facts.", "verdict": "pass"},
    ),
    (
        "Instruction:\nFirst, list three key selling points of a reusable water bottle. Then, write a product "
        "description that uses those points.\n\nResponse:\nStay hydrated in style with our sleek bottle, made to last.",
        {"reason": "The list of selling points is missing.", "verdict": "fail"},
    ),
]


def check_messages(
    instruction: str, input_text: str, response: str, rng: random.Random, max_input_chars: int = 2000
) -> list[dict[str, str]]:
    user = f"Instruction:\n{instruction}"
    if input_text.strip():
        user += f"\n\nInput:\n{show_input(input_text, max_input_chars)}"
    user += f"\n\nResponse:\n{response}"
    return [
        {"role": "system", "content": CHECK_SYSTEM},
        *_shots(CHECK_SHOTS, rng),
        {"role": "user", "content": user},
    ]


# ---------------------------------------------------------------------------------------------
# respond: the teacher answers an instruction directly (the seed's system prompt kept, no few-shot)


def respond_messages(system: str, instruction: str, input_text: str) -> list[dict[str, str]]:
    """The exact conversation a trained model will see: optional system + instruction (+ input once)."""
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    msgs.append({"role": "user", "content": alpaca_prompt(instruction, input_text)})
    return msgs
