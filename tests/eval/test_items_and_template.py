import json

import pytest

from seqit.errors import DataError, SeqitError
from seqit.eval.generation import check_template, read_chat_template
from seqit.eval.items import check_alignment, content_id, load_items
from seqit.teachers import HFSettings, TeacherConfig
from seqit.templates import TULU, template_hash


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_load_items_reads_seqeval_json_with_content_ids_and_input_after_blank_line(tmp_path):
    p = write(tmp_path, "b.json", json.dumps([
        {"instruction": "A then B", "iteration": 2},
        {"instruction": "Do X", "input": "data", "iteration": "3"},
        {"instruction": "A then B", "iteration": 2},
    ]))
    items = load_items(p)
    assert [i.iteration for i in items] == [2, 3, 2]
    assert items[0].id == content_id("A then B") and items[2].id == content_id("A then B") + "-2"
    assert items[1].instruction == "Do X\n\ndata"


def test_load_items_reads_seqit_records_and_drops_the_reference_answer(tmp_path):
    row = {"id": "r1", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
           "meta": {"depth": 2}}
    items = load_items(write(tmp_path, "r.jsonl", json.dumps(row) + "\n"))
    assert items[0].id == "r1" and items[0].messages == ({"role": "user", "content": "q"},) and items[0].iteration == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"iteration": 1}]', r"b.json:1: instruction: missing or empty"),
        ('[{"instruction": "x", "iteration": "deep"}]', r"iteration: expected a whole number"),
        ('[{"id": "a", "instruction": "x"}, {"id": "a", "instruction": "y"}]', r"b.json:1: id: duplicate id 'a'"),
        ("[]", r"has no items"),
        ('[{"messages": [{"role": "assistant", "content": "a"}]}]', r"messages:"),
    ],
)
def test_bad_benchmarks_are_data_errors_naming_file_line_field(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_items(write(tmp_path, "b.json", content))


def test_check_alignment_lists_missing_and_extra_ids_and_truncates_long_lists():
    check_alignment(["a", "b"], {"b", "a"}, "ref")
    with pytest.raises(DataError, match=r"12 item id\(s\) have no output in ref: m0, m1, .*\(2 more\)"):
        check_alignment([f"m{i}" for i in range(12)], set(), "ref")


def make_checkpoint(tmp_path, trained_template, saved_template):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "chat_template.jinja").write_text(saved_template, encoding="utf-8")
    (d / "meta.json").write_text(json.dumps({"template": "tulu", "template_hash": template_hash(trained_template)}))
    return d


def test_template_check_passes_when_the_saved_template_is_the_trained_one(tmp_path):
    d = make_checkpoint(tmp_path, TULU, TULU)
    info = check_template(TeacherConfig(backend="hf", model=str(d)), allow_mismatch=False)
    assert info["match"] is True and info["trained_template"] == "tulu"


def test_template_mismatch_is_a_clear_error_unless_allowed(tmp_path):
    d = make_checkpoint(tmp_path, TULU, "{{ messages }}")
    cfg = TeacherConfig(backend="hf", model=str(d))
    with pytest.raises(SeqitError, match=r"chat template mismatch: .*meta.json says the model was trained with template 'tulu'"):
        check_template(cfg, allow_mismatch=False)
    assert check_template(cfg, allow_mismatch=True)["match"] is False


def test_named_template_override_is_what_gets_checked(tmp_path):
    d = make_checkpoint(tmp_path, TULU, "{{ messages }}")
    cfg = TeacherConfig(backend="hf", model=str(d), hf=HFSettings(template="tulu"))
    assert check_template(cfg, allow_mismatch=False)["match"] is True


def test_no_meta_or_api_model_means_nothing_to_check(tmp_path):
    assert check_template(TeacherConfig(backend="openai", model="gpt-x"), False) is None
    assert check_template(TeacherConfig(backend="hf", model=str(tmp_path)), False) is None


def test_read_chat_template_falls_back_to_tokenizer_config(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "T"}))
    assert read_chat_template(tmp_path) == "T"


def test_missing_outputs_path_says_what_was_expected(tmp_path):
    from seqit.eval.items import load_outputs

    with pytest.raises(DataError, match="not found \\(expected a seqit eval run dir"):
        load_outputs(tmp_path / "nope")


def test_load_items_reads_a_saved_hf_dataset_dir(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"instruction": "A, then B", "iteration": 2}, {"instruction": "C", "iteration": 1}]).save_to_disk(
        str(tmp_path / "ds"))
    items = load_items(tmp_path / "ds")
    assert [(i.instruction, i.iteration) for i in items] == [("A, then B", 2), ("C", 1)]
