import json

import pytest

from seqit.errors import SeqitError
from seqit.templates import install_template
from seqit.tinymodels import build_byte_tokenizer
from seqit.train.data import encode_phase, preflight_markdown
from seqit.train.encode import stop_strings


def _write(path, convos):
    with open(path, "w") as f:
        for i, msgs in enumerate(convos):
            f.write(json.dumps({"id": str(i), "messages": msgs, "meta": {}}) + "\n")
    return path


def _msgs(user, answer):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def test_preflight_drops_and_counts_truncated_away_responses_and_reports_samples(tmp_path):
    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    path = _write(tmp_path / "d.jsonl", [_msgs("hi", "ok"), _msgs("long " * 40, "cut"), _msgs("q", "a" * 60),
                                          _msgs("x", "fine")])
    ph = encode_phase(tok, "p", str(path), None, 48, stop_strings(tok, "tulu"), None)
    s = ph.stats
    assert (s["records"], s["examples"], s["response_truncated_away"], s["truncated_kept"]) == (4, 3, 1, 1)
    assert s["over_max_len"] == 2 and s["dropped"] == 1 and s["length_max"] == 48
    assert len(ph.samples) == 2 and all("[[" in t for t in ph.samples)
    report = preflight_markdown([ph], "tulu", "abc", 48)
    assert "response truncated away 1" in report and "sample 2" in report


def test_preflight_refuses_a_template_that_never_trains_an_end_of_turn(tmp_path):
    tok = build_byte_tokenizer(chat_template=(
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"))
    path = _write(tmp_path / "d.jsonl", [_msgs("hi", "ok")])
    with pytest.raises(SeqitError, match="end-of-turn"):
        encode_phase(tok, "p", str(path), None, 64, stop_strings(tok, None), None)


def test_preflight_fails_when_every_row_is_dropped(tmp_path):
    from seqit.errors import DataError

    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    path = _write(tmp_path / "d.jsonl", [_msgs("long " * 40, "cut")])
    with pytest.raises(DataError, match="every record was dropped"):
        encode_phase(tok, "p", str(path), None, 16, stop_strings(tok, "tulu"), None)


def test_preflight_counts_prompts_that_tokenise_differently_at_inference(tmp_path):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # word-level tokenizer that keeps a leading space with the word: "A: hi" -> "A:", " hi"
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", "U:", "A:", " q", " hi", " ", "\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r" ?[^ \n]+|\n| "), behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", unk_token="<unk>")
    core.add_special_tokens(["<eos>"])
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}U: {{ m['content'] }}\n"
                         "{% else %}A: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
                         "{% if add_generation_prompt %}A: {% endif %}")
    path = _write(tmp_path / "d.jsonl", [_msgs("q", "hi")])
    ph = encode_phase(tok, "p", str(path), None, 64, stop_strings(tok, None), None)
    assert ph.stats["prompt_mismatch"] == 1
    ids, targets = ph.examples[0]
    assert [tok.convert_ids_to_tokens(t) for t in targets if t != -100] == [" hi", "<eos>"]  # straddling " hi" trained
    assert "differs from the training prefix: 1" in preflight_markdown([ph], "t", "h", 64)


def test_preflight_counts_kept_examples_truncated_before_their_eos(tmp_path):
    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    path = _write(tmp_path / "d.jsonl", [_msgs("hi", "ok"), _msgs("q", "a" * 60), _msgs("r", "b" * 70),
                                          _msgs("x", "fine")])
    ph = encode_phase(tok, "p", str(path), None, 48, stop_strings(tok, "tulu"), None)
    assert ph.stats["truncated_kept"] == 2 and ph.stats["truncated_without_eos"] == 2
    report = preflight_markdown([ph], "tulu", "abc", 48)
    assert "trains its end-of-turn token: yes" not in report
    assert "end-of-turn token: no: 2 of 4 examples are cut before it; training refuses them" in report
    clean = encode_phase(tok, "p", str(_write(tmp_path / "c.jsonl", [_msgs("hi", "ok")])), None, 48,
                         stop_strings(tok, "tulu"), None)
    assert clean.stats["truncated_without_eos"] == 0
    assert "trains its end-of-turn token: yes" in preflight_markdown([clean], "tulu", "abc", 48)


def test_resume_position_counts_phases_from_one():
    from seqit.train.checkpoint import TrainState, describe_position

    text = describe_position(TrainState(fingerprint="f", phase=1, step_in_phase=3, global_step=10))
    assert text == "phase 2, step 3 in that phase, global step 10"


def test_truncation_refuse_names_every_phase_the_counts_and_both_ways_out(tmp_path):
    from seqit.train.data import truncation_refusal

    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    long = _write(tmp_path / "long.jsonl", [_msgs("hi", "ok"), _msgs("q", "a" * 60), _msgs("x", "fine")])
    clean = _write(tmp_path / "clean.jsonl", [_msgs("hi", "ok")])
    phases = [encode_phase(tok, name, str(p), None, 48, stop_strings(tok, "tulu"), None)
              for name, p in (("phase-1", clean), ("phase-2", long))]
    why = truncation_refusal(phases, 48)
    assert why.startswith("examples longer than batch.max_seq_len=48 tokens would be cut before their end-of-turn")
    assert "(phase-2: 1 of 3 records)" in why and "phase-1" not in why
    assert "Raise batch.max_seq_len, or set batch.truncation=drop" in why
    assert truncation_refusal(phases[:1], 48) is None


def test_truncation_drop_drops_and_counts_examples_cut_before_their_eos(tmp_path):
    tok = build_byte_tokenizer()
    install_template(tok, "tulu")
    path = _write(tmp_path / "d.jsonl", [_msgs("hi", "ok"), _msgs("q", "a" * 60), _msgs("x", "fine")])
    ph = encode_phase(tok, "p", str(path), None, 48, stop_strings(tok, "tulu"), None, truncation="drop")
    s = ph.stats
    assert (s["examples"], s["dropped"], s["truncated_without_eos"], s["truncated_kept"]) == (2, 1, 1, 0)
    report = preflight_markdown([ph], "tulu", "abc", 48)
    assert "cut before the end-of-turn token 1" in report and "1 examples cut before it were dropped" in report


def test_train_refuses_truncated_examples_by_default_before_any_model_loads(train_world, tmp_path, capsys):
    from seqit.cli import main

    data = _write(tmp_path / "d.jsonl", [_msgs("hi", "ok"), _msgs("q", "a" * 400)])
    args = ["train", "configs/train/tiny-cpu.yaml", f"model.path={train_world['model']}", f"phases=[{{data: {data}}}]",
            "batch.max_seq_len=64", "--out"]
    assert main([*args, str(tmp_path / "refused")]) == 2  # bad input: nothing trained
    err = capsys.readouterr().err
    assert "batch.truncation=refuse (the default) stops here" in " ".join(err.split())
    assert json.loads((tmp_path / "refused" / "manifest.json").read_text())["status"] == "failed"
    assert not (tmp_path / "refused" / "model").exists() and not (tmp_path / "refused" / ".lock").exists()
    assert main([*args, str(tmp_path / "dropped"), "batch.truncation=drop"]) == 0
    assert (tmp_path / "dropped" / "model" / "meta.json").exists()
