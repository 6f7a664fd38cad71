"""Scripted model replies for the XQuAD/MGSM tests (tests/eval/assets/multilingual): right, wrong or
unmarked answers by question and prompt mode, so the expected metrics are known exactly."""


def xquad_reply(body):
    """Scripted answers by question and mode (see the expected metrics below)."""
    prompt = body["messages"][-1]["content"]
    q = prompt.rsplit("Question: ", 1)[1]
    translate = prompt.startswith("First, translate")
    script = {
        "Who built the lighthouse?": ("Translation: ...\nAnswer: Ada Munro", "Ada Munro"),
        "When was the lighthouse built?": ("Answer: 1871", "1871"),
        "How long is Blue River?": ("Answer: 340 kilometres", "340 km"),
        "Wer baute den Leuchtturm?": ("Answer: Ada Munro", "Answer: Ada Munro"),
        "Wohin fließt der Blaue Fluss?": ("Answer: Süden", "Answer: "),
        "متى بنيت المنارة؟": ("Translation: When was the lighthouse built?\nAnswer: 1871", ""),
        "إلى أين يتدفق النهر الأزرق؟": ("The answer is north.", ""),
    }
    return script[q][0 if translate else 1]


def mgsm_reply(body):
    prompt = body["messages"][-1]["content"]
    q = prompt.rsplit("Question: ", 1)[1].removesuffix("\nAnswer:")
    translate = prompt.startswith("first translate")
    gold = {"Mia has 3": "12", "A train leaves": "75", "Tom reads": "300", "Mia hat": "12", "Ein Zug": "75"}
    key = next(k for k in gold if q.startswith(k))
    if translate and key == "Ein Zug":
        return "120 - 45 = 75 people. The Answer is: 74"
    if not translate and key == "Mia has 3":
        return "3 x 4 = 12, plus one. The Answer is: 13"
    return f"So it is {gold[key]}. The Answer is: {gold[key]}"
