"""Paths in configs: relative to the config file (then seqit's bundled resources, then the current directory);
overrides relative to the current directory; shipped configs found from anywhere; a missing input names the key
and every path tried; the README's real-model recipe resolves from another directory."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from seqit.cli import main
from seqit.config import dump_yaml, find_config, load_config
from seqit.errors import ConfigError
from seqit.eval.run import EvalConfig
from seqit.generate.config import GenerateConfig
from seqit.phases.score import ScoreConfig
from seqit.phases.split import SplitConfig
from seqit.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "src" / "seqit" / "resources"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A config dir holding its own seed file, and a different current directory."""
    conf = tmp_path / "project" / "conf"
    conf.mkdir(parents=True)
    (conf / "seeds.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return conf, cwd


def gen_config(conf: Path, path: str) -> Path:
    p = conf / "gen.yaml"
    p.write_text(f"method: selfseq\ndata:\n  path: {path}\nout_dir: runs/gen\n")
    return p


def test_a_relative_input_in_a_config_is_relative_to_the_config_file_not_the_current_directory(elsewhere):
    conf, cwd = elsewhere
    (cwd / "seeds.jsonl").write_text("{}\n")  # a same-named file here must not be taken
    cfg = load_config(GenerateConfig, gen_config(conf, "seeds.jsonl"))
    assert cfg.data.path == str(conf / "seeds.jsonl")
    assert cfg.out_dir == Path("runs/gen")  # outputs stay relative to where the command runs
    assert "_FileText" not in dump_yaml(cfg) and str(conf / "seeds.jsonl") in dump_yaml(cfg)


def test_an_override_is_relative_to_the_current_directory(elsewhere):
    conf, cwd = elsewhere
    (cwd / "mine.jsonl").write_text("{}\n")
    cfg = load_config(GenerateConfig, gen_config(conf, "seeds.jsonl"), ["data.path=mine.jsonl"], check_inputs=True)
    assert cfg.data.path == "mine.jsonl" and Path(cfg.data.path).resolve() == cwd / "mine.jsonl"


def test_bundled_sample_data_is_found_from_any_config_and_hub_names_are_never_paths(elsewhere):
    conf, _ = elsewhere
    assert load_config(GenerateConfig, gen_config(conf, "sample_alpaca.jsonl")).data.path == str(
        RESOURCES / "sample_alpaca.jsonl")
    assert load_config(GenerateConfig, gen_config(conf, "hf:yahma/alpaca-cleaned")).data.path == "hf:yahma/alpaca-cleaned"


def test_a_missing_input_names_file_key_and_every_path_tried(elsewhere):
    conf, cwd = elsewhere
    path = gen_config(conf, "nope.jsonl")
    load_config(GenerateConfig, path)  # the Python API loads it (the run fails when it reads the file)
    with pytest.raises(ConfigError) as e:
        load_config(GenerateConfig, path, check_inputs=True)
    msg = str(e.value)
    assert msg.startswith(f"{path}: data.path: 'nope.jsonl' not found (tried {conf / 'nope.jsonl'} or ")
    assert str(RESOURCES / "nope.jsonl") in msg and str(cwd / "nope.jsonl") in msg
    assert main(["generate", str(path)]) == 2  # the CLI says so before any teacher is set up


def test_an_unknown_key_is_named_before_a_missing_input(elsewhere):
    conf, _ = elsewhere
    path = gen_config(conf, "nope.jsonl")
    with pytest.raises(ConfigError, match="seedd: unknown key"):
        load_config(GenerateConfig, path, ["seedd=1"], check_inputs=True)


def test_a_model_dir_next_to_the_config_is_found_and_a_hub_id_is_kept(elsewhere):
    conf, _ = elsewhere
    (conf / "my-model").mkdir()
    text = "model: {path: %s}\nphases: [{data: seeds.jsonl}]\n"
    (conf / "t.yaml").write_text(text % "my-model")
    cfg = load_config(TrainConfig, conf / "t.yaml", check_inputs=True)
    assert cfg.model.path == str(conf / "my-model") and cfg.phases[0].data == str(conf / "seeds.jsonl")
    (conf / "t.yaml").write_text(text % "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert load_config(TrainConfig, conf / "t.yaml").model.path == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_a_teacher_model_dir_and_eval_inputs_resolve_like_the_rest(elsewhere):
    conf, _ = elsewhere
    (conf / "judge-model").mkdir()
    (conf / "bench.jsonl").write_text('{"instruction": "x", "iteration": 1}\n')
    (conf / "e.yaml").write_text("task: seqeval\ndata: bench.jsonl\njudge: {backend: hf, model: judge-model}\n"
                                 "model: {backend: openai, model: gpt-4o-mini}\n")
    cfg = load_config(EvalConfig, conf / "e.yaml", check_inputs=True)
    assert cfg.data == str(conf / "bench.jsonl") and cfg.judge.model == str(conf / "judge-model")
    assert cfg.model.model == "gpt-4o-mini"  # a served model's name is not a path


@pytest.mark.parametrize("name", ["configs/train/tiny-cpu.yaml", "train/tiny-cpu.yaml"])
def test_a_shipped_config_is_found_from_another_directory(elsewhere, name):
    assert find_config(name) == ROOT / "configs" / "train" / "tiny-cpu.yaml"
    assert find_config("configs/train/nope.yaml") == Path("configs/train/nope.yaml")  # not found: unchanged


def test_the_offline_smoke_eval_runs_from_another_directory(elsewhere, capsys):
    _, cwd = elsewhere
    assert main(["eval", "configs/eval/smoke-fake.yaml", "--out", "runs/smoke"]) == 0
    assert (cwd / "runs" / "smoke" / "results.json").exists()


def readme_recipe() -> list[list[str]]:
    """The seqit commands of the README's SmolLM2 section, as argv lists (line continuations joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A real model on a laptop CPU"):]
    block = section[section.index("```bash") + 7: section.index("```", section.index("```bash") + 7)]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line.split("  #")[0])[1:] for line in lines if line.startswith("seqit ")]


CONFIG_COMMANDS = {"generate": GenerateConfig, "score": ScoreConfig, "split": SplitConfig, "train": TrainConfig,
                   "eval": EvalConfig}


def test_the_readme_real_model_recipe_resolves_from_another_directory(elsewhere):
    """Every config the recipe names is found from an empty directory, and every path the recipe writes or
    reads (overrides, --out) is relative to where it runs: nothing depends on being at the repository root."""
    _, cwd = elsewhere
    commands = readme_recipe()
    assert [c[0] for c in commands][:3] == ["model", "generate", "score"]
    checked = 0
    for argv in commands:
        if argv[0] not in CONFIG_COMMANDS:
            continue
        config, rest = argv[1], argv[2:]
        overrides = [a for a in rest if "=" in a and not a.startswith("-")]
        cfg = load_config(CONFIG_COMMANDS[argv[0]], config, overrides)
        for value in re.findall(r"(?:runs|models)/[\w./-]+", " ".join(overrides)):
            assert not Path(value).is_absolute()  # relative to the current directory: where the earlier steps wrote
        assert cfg is not None
        checked += 1
    assert checked == 5
