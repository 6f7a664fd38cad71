"""Task-driven builders (pure) and task-driven runs: repeat, paraphrase (teacher), translate (parallel data
or teacher), multi-step merges and caption-then-answer."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fakes.teacher_scripts import good_reply
from seqit.config import load_config
from seqit.generate.mix import mix_records
from seqit.generate.run import GenerateConfig, plan_generate, run_generate
from seqit.generate.taskdriven import builders as td
from seqit.jsonl import read_jsonl

CONFIGS = Path(__file__).parents[3] / "configs" / "generate"


def test_sequential_record_lists_intermediate_then_answer_and_keeps_input_once():
    rec = td.sequential_record(
        "s1", "Be brief.", "Summarize the text.", "Cats purr when content.", "Cats purr.",
        [("paraphrase", "When cats are happy they purr."), ("repeat", "Cats purr when content.")], random.Random(0),
    )  # fmt: skip
    system, user, answer = rec["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"].count("Cats purr when content.") == 1 and user["content"].startswith(
        tuple(td.LIST_INTRO)
    )
    assert "1. " in user["content"] and "3. Summarize the text." in user["content"]
    assert answer["content"] == (
        "Paraphrased input:\nWhen cats are happy they purr.\n\nInput repeated:\nCats purr when content.\n\nAnswer:\nCats purr."
    )
    assert rec["meta"]["steps"] == ["paraphrase", "repeat", "answer"] and rec["meta"]["depth"] == 2


def test_builders_return_fresh_dicts_and_vary_wording_by_rng():
    args = ("s1", "", "Classify the review.", "Great film.", "positive", [("repeat", "Great film.")])
    a, b = td.sequential_record(*args, random.Random(1)), td.sequential_record(*args, random.Random(1))
    assert a == b and a is not b and a["messages"] is not b["messages"]
    wordings = {td.sequential_record(*args, random.Random(i))["meta"]["instruction"] for i in range(30)}
    assert len(wordings) == len(td.FIRST_STEP["repeat"])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Summarize it.", "summarize it."),
        ("NASA launched ...", "NASA launched ..."),
        ("I think so", "I think so"),
        ("", ""),
    ],
)
def test_lower_first_keeps_acronyms(text, expected):
    assert td.lower_first(text) == expected


def test_select_parallel_skips_empty_rows_and_keeps_languages_disjoint():
    english = [{"input": f"text {i}"} for i in range(10)] + [{"input": ""}, {}]
    de = [{"input": f"de {i}"} for i in range(12)]
    de[3] = {}  # the reference emitted {} rows for such indices (bug 30)
    zh = [{"input": f"zh {i}"} for i in range(12)]
    picks = td.select_parallel(english, {"de": de, "zh": zh}, 4, random.Random(0))
    assert len(picks["de"]) == 4 and len(picks["zh"]) == 4
    assert not set(picks["de"]) & set(picks["zh"])
    assert 3 not in picks["de"] and not {10, 11} & (set(picks["de"]) | set(picks["zh"]))


def test_caption_records_use_the_vqa_answer_for_the_plain_record():
    sit, base = td.caption_records(
        "c1", "img/1.jpg", "A dog on a beach.", "What animal is this?", "dog", random.Random(0)
    )
    assert base["messages"][-1]["content"] == "dog"  # reference bug 31: the caption was used here
    assert sit["messages"][-1]["content"] == "Description:\nA dog on a beach.\n\nAnswer:\ndog"
    assert sit["meta"]["images"] == ["img/1.jpg"] and base["meta"]["image"] == "img/1.jpg"


@pytest.mark.parametrize(
    "source,result,reason",
    [
        ("Cats purr when content.", "When happy, cats purr.", None),
        ("Cats purr when content.", "", "empty"),
        ("Cats purr when content.", "cats purr when content.", "paraphrase is identical"),
        ("Cats purr when content.", "THIS TRANSLATION FAILED AFTER 10 ATTEMPTS.", "placeholder"),
        ("Cats purr when content.", "Cats " * 40, "paraphrase length"),
    ],
)
def test_check_intermediate(source, result, reason):
    got = td.check_intermediate(source, result, "paraphrase")
    assert (got is None) if reason is None else got.startswith(reason)


def test_mix_union_adds_sit_rows_by_ratio_and_is_seeded():
    it = [{"id": f"{i}:it", "meta": {"seed_id": str(i), "kind": "it"}} for i in range(10)]
    sit = [{"id": f"{i}:sit", "meta": {"seed_id": str(i), "kind": "sit"}} for i in range(6)]
    rows = mix_records(it, sit, "union", 0.5, seed=3)
    assert len(rows) == 15 and sum(r["meta"]["kind"] == "sit" for r in rows) == 5
    assert rows == mix_records(it, sit, "union", 0.5, seed=3)
    assert rows != mix_records(it, sit, "union", 0.5, seed=4)


def _cfg(tmp_path, name: str, overrides: list[str]) -> GenerateConfig:
    return load_config(GenerateConfig, CONFIGS / name, [f"out_dir={tmp_path / 'run'}", *overrides])


def test_repeat_then_answer_run_needs_no_teacher(tmp_path, sample_path):
    run = run_generate(
        _cfg(tmp_path, "repeat-then-answer.yaml", [f"data.path={sample_path}"]), progress=False
    )
    m = json.loads((run / "manifest.json").read_text())
    sit = list(read_jsonl(run / "sit.jsonl"))
    with_input = [r for r in read_jsonl(sample_path) if r["input"].strip()]
    assert len(sit) == len(with_input) == m["counts"]["sit_records"] and m["counts"]["balanced"]
    assert m["counts"]["kept_unconverted"] == 50 - len(with_input) and m["counts"]["it_records"] == 50
    first = sit[0]
    assert first["messages"][-1]["content"].startswith("Input repeated:\n" + first["meta"]["input"])
    assert m["usage"]["roles"] == {} and "teacher" not in m  # no teacher was opened at all


def test_paraphrase_then_answer_calls_the_teacher_once_per_converted_seed(tmp_path, fake_openai, sample_path):
    fake_openai.reply = lambda body: good_reply(body["messages"])
    overrides = [f"data.path={sample_path}", "taskdriven.steps=[paraphrase,repeat]", "taskdriven.max_items=5",
                 f"teacher.base_url={fake_openai.url}", "teacher.model=fake-model", "teacher.api_key_env=null"]  # fmt: skip
    run = run_generate(_cfg(tmp_path, "repeat-then-answer.yaml", overrides), progress=False)
    sit = list(read_jsonl(run / "sit.jsonl"))
    assert len(sit) == 5 and sum(fake_openai.attempts.values()) == 5
    for r in sit:
        assert "Paraphrased input:\nIn other words: " in r["messages"][-1]["content"]
        assert r["meta"]["prompt_versions"] == {"paraphrase": "taskdriven.paraphrase/v1"}
        assert r["meta"]["teacher_model"] == "fake-model"
    mix = list(read_jsonl(run / "mix.jsonl"))
    assert len(mix) == 50 and sum(r["meta"]["kind"] == "sit" for r in mix) == 5


def test_translate_then_answer_from_parallel_files(tmp_path):
    en = [
        {"instruction": f"Summarize item {i}.", "input": f"English text {i}.", "output": f"Summary {i}."}
        for i in range(8)
    ]
    en[5]["input"] = ""
    de = [{"instruction": "x", "input": f"Deutscher Text {i}.", "output": "y"} for i in range(8)]
    de[2] = {}
    paths = {}
    for name, rows in (("en", en), ("de", de)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(rows, indent=1))  # one row per line, like the HPLT files
    overrides = [
        f"data.path={paths['en']}",
        f"taskdriven.parallel={{de: {paths['de']}}}",
        "taskdriven.per_language=10",
    ]
    run = run_generate(_cfg(tmp_path, "translate-then-answer.yaml", overrides), progress=False)
    sit = list(read_jsonl(run / "sit.jsonl"))
    assert len(sit) == 6  # 8 rows minus the empty English input minus the {} German row
    for r in sit:
        i = r["messages"][-1]["content"].split("English text ", 1)[1].split(".", 1)[0]
        assert r["meta"]["language"] == "de" and r["meta"]["input"] == f"Deutscher Text {i}."  # index-aligned
        assert r["messages"][-1]["content"].endswith(f"Answer:\nSummary {i}.")


def test_translate_with_the_teacher_when_there_is_no_parallel_data(tmp_path, fake_openai, sample_path):
    fake_openai.reply = lambda body: good_reply(body["messages"])
    overrides = [f"data.path={sample_path}", "taskdriven.parallel={}", "taskdriven.languages=[de,zh]", "taskdriven.max_items=4",
                 f"teacher.base_url={fake_openai.url}", "teacher.model=fake-model", "teacher.api_key_env=null"]  # fmt: skip
    run = run_generate(_cfg(tmp_path, "translate-then-answer.yaml", overrides), progress=False)
    sit = list(read_jsonl(run / "sit.jsonl"))
    assert sorted(r["meta"]["language"] for r in sit) == ["de", "de", "zh", "zh"]
    for r in sit:
        assert r["meta"]["input"].startswith("[DE] ")
        assert r["messages"][-1]["content"].startswith("English translation:\n")


def test_parallel_files_of_different_length_are_an_error(tmp_path):
    from seqit.errors import DataError

    (tmp_path / "en.json").write_text(json.dumps([{"instruction": "a", "input": "b", "output": "c"}] * 3))
    (tmp_path / "de.json").write_text(json.dumps([{"instruction": "a", "input": "b", "output": "c"}] * 2))
    cfg = _cfg(
        tmp_path,
        "translate-then-answer.yaml",
        [f"data.path={tmp_path / 'en.json'}", f"taskdriven.parallel={{de: {tmp_path / 'de.json'}}}"],
    )
    with pytest.raises(DataError, match="index-aligned"):
        run_generate(cfg, progress=False)


def test_caption_run_rejects_bad_rows_with_file_and_line(tmp_path):
    rows = [
        {
            "image": "coco/1.jpg",
            "caption": "Two cats on a sofa.",
            "question": "How many cats are there?",
            "answer": "2",
        },
        {"image": "coco/2.jpg", "caption": "A red bus.", "question": "What colour is the bus?"},
        {"image": "coco/3.jpg", "caption": "A kite.", "question": "What is flying?", "answer": "a kite"},
    ]
    data = tmp_path / "vqa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = load_config(
        GenerateConfig, None, [f"data.path={data}", f"out_dir={tmp_path / 'cap'}", "method=caption"]
    )
    run = run_generate(cfg, progress=False)
    sit, it, rej = (list(read_jsonl(run / n)) for n in ("sit.jsonl", "it.jsonl", "rejects.jsonl"))
    assert len(sit) == len(it) == 2
    assert rej[0]["line"] == 2 and "answer" in rej[0]["reason"]
    assert json.loads((run / "manifest.json").read_text())["counts"]["balanced"]
    assert plan_generate(cfg).prompts[0][0].startswith("vqa-00001:sit:caption")


def test_shipped_translate_config_runs_on_the_bundled_parallel_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(CONFIGS.parents[1])  # the config's data paths are relative to the repo root
    run = run_generate(_cfg(tmp_path, "translate-then-answer.yaml", []), progress=False)
    sit = list(read_jsonl(run / "sit.jsonl"))
    assert sorted(r["meta"]["language"] for r in sit) == ["de"] * 5 + ["es"] * 5
    assert len({r["meta"]["seed_id"] for r in sit}) == 10  # disjoint across languages
    assert json.loads((run / "manifest.json").read_text())["counts"]["balanced"]


def test_dry_run_of_a_teacher_step_shows_its_prompts_and_counts_its_requests(tmp_path, sample_path):
    overrides = [f"data.path={sample_path}", "taskdriven.steps=[paraphrase,repeat]", "taskdriven.max_items=4"]
    plan = plan_generate(_cfg(tmp_path, "repeat-then-answer.yaml", overrides), max_prompts=6)
    titles = [t for t, _ in plan.prompts]
    assert plan.estimate["requests"] == 4 and plan.seeds == 50
    assert plan.prompts[0][1][0]["content"].startswith("Paraphrase the text")
    assert any(t.startswith("record ") for t in titles) and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "task, sequential",
    [("First, translate the text into French. Then summarize it.", True),
     ("Translate the text first, then summarize it.", True),
     ("Firstly list the names; after that sort them.", True),
     ("Step 1: read the text.", True),
     ("Do these:\n1. Read it.\n2. Summarize it.", True),
     ("Summarize the text.", False),
     ("Name the first president of the USA.", False),
     ("Explain what happened first in the story.", False)],
)
def test_is_sequential_task(task, sequential):
    assert td.is_sequential_task(task) is sequential


def test_builders_never_nest_instructions():
    with pytest.raises(ValueError, match="already sequential"):
        td.sequential_instruction("First, translate the input. Then answer.", ["repeat"], random.Random(0))


def _seeds(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "seeds.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_already_sequential_seeds_are_kept_as_is_not_nested(tmp_path):
    rows = [{"instruction": "First, translate the input into French. Then summarize it.", "input": "Cats purr.",
             "output": "Les chats ronronnent. Cats make a sound."},
            {"instruction": "Summarize the input.", "input": "Dogs bark loudly at night.", "output": "Dogs bark."}]
    run = run_generate(_cfg(tmp_path, "repeat-then-answer.yaml", [f"data.path={_seeds(tmp_path, rows)}"]),
                       progress=False)
    sit = list(read_jsonl(run / "sit.jsonl"))
    assert len(sit) == 1 and sit[0]["meta"]["seed_id"].endswith("00002")
    assert "then first" not in sit[0]["messages"][0]["content"].lower()
    m = json.loads((run / "manifest.json").read_text())
    assert m["taskdriven"]["eligible"] == 1 and m["counts"]["kept_unconverted"] == 1
    assert list(m["taskdriven"]["ineligible"].values()) == [1]


def test_no_eligible_seed_warns_and_exits_1(tmp_path, caplog, capsys):
    from seqit.cli import main

    rows = [{"instruction": f"Name a colour number {i}.", "input": "", "output": "Red."} for i in range(3)]
    rc = main(["generate", str(CONFIGS / "repeat-then-answer.yaml"), f"data.path={_seeds(tmp_path, rows)}",
               "--out", str(tmp_path / "g"), "--no-progress"])
    assert rc == 1
    assert "no eligible seed among 3" in caplog.text and "no separate input" in caplog.text
    assert "no sequential record from 3 seeds (0 rewrites dropped: see rejects.jsonl; 3 kept as they are)" in \
        capsys.readouterr().err
