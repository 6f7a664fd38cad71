from pathlib import Path

import pytest

from seqit.config import load_config
from seqit.errors import ConfigError, MissingExtraError
from seqit.train import TrainConfig
from seqit.train.plan import Step, lr_at, plan_phase, rank_micro_batches, schedule_groups

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_train_config_loads_and_documents_its_command(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.phases and cfg.batch.max_seq_len > 0
    assert path.read_text().startswith("#") and "seqit train" in path.read_text().split("\n\n")[0]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_every_accelerate_config_is_valid_for_accelerate(path):
    from accelerate.commands.config.config_args import load_config_from_file

    assert load_config_from_file(str(path)).num_processes >= 1
    assert "accelerate launch" in path.read_text().splitlines()[1]


def test_paper_configs_carry_the_paper_hyperparameters():
    sit = load_config(TrainConfig, ROOT / "configs/train/sit-llama3-8b-full.yaml")
    assert (sit.optim.lr, sit.phases[0].epochs, sit.optim.schedule, sit.optim.warmup_ratio) == (2e-5, 3, "linear", 0.03)
    assert (sit.batch.max_seq_len, sit.model.template, sit.batch.grad_accum * 2) == (2048, "tulu", 128)
    ph = load_config(TrainConfig, ROOT / "configs/train/phased-llama2-7b.yaml")
    assert len(ph.phases) == 3 and all(p.epochs == 2 and p.optimizer == "reset" for p in ph.phases)
    assert (ph.optim.lr, ph.optim.schedule, ph.optim.warmup_ratio) == (5e-6, "cosine", 0.1)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["phases=[]"], "at least one phase"),
        (["phases=[{data: a.jsonl, optimizer: carry}]"], "nothing to carry"),
        (["batch.grad_accum=0"], "grad_accum must be >= 1"),
        (["batch.row_len=16"], "row_len must be >= max_seq_len"),
        (["optim.warmup_ratio=1.5"], "warmup_ratio"),
        (["method=dpo"], "method: must be one of"),
        (["phases=[{data: a.jsonl, epoch: 2}]"], "phases[0].epoch: unknown key"),
    ],
)
def test_bad_configs_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(TrainConfig, ROOT / "configs/train/tiny-cpu.yaml", overrides)


def test_plan_covers_every_example_once_per_epoch_in_seeded_order():
    lengths = [10, 20, 30, 40, 50, 60, 5]
    kw = dict(seed=0, phase=0, shuffle=True, packing=True, row_len=64, window=2, rows_per_step=2)
    steps = plan_phase(lengths, epochs=2, **kw)
    for epoch in (0, 1):
        seen = [i for s in steps if s.epoch == epoch for b in s.bins for i in b]
        assert sorted(seen) == list(range(7))
    assert steps == plan_phase(lengths, epochs=2, **kw)  # deterministic: resume rebuilds the same plan
    unpacked = plan_phase(lengths, epochs=1, **{**kw, "packing": False, "shuffle": False})
    assert [b for s in unpacked for b in s.bins] == [[i] for i in range(7)]


def test_micro_batches_split_a_step_across_ranks_and_accumulation():
    step = Step(0, [[0], [1], [2], [3], [4]])
    assert rank_micro_batches(step, 0, 2, 2, 1) == [[[0]], [[2]]]
    assert rank_micro_batches(step, 1, 2, 2, 1) == [[[1]], [[3]]]
    assert rank_micro_batches(Step(0, [[4]]), 1, 2, 1, 1) == [[]]  # short last step: an empty micro-batch


def test_schedule_reset_restarts_warmup_and_carry_continues_it():
    groups = schedule_groups([10, 10, 10], [1.0, 0.5, 0.1], [False, False, True])
    assert [(g.start, g.total, g.peak) for g in groups] == [(0, 10, 1.0), (10, 20, 0.5)]
    assert lr_at(0, groups, "linear", 0.1) == 0.0  # warmup starts at 0 (HF convention)
    assert lr_at(1, groups, "linear", 0.1) == pytest.approx(1.0)
    assert lr_at(10, groups, "linear", 0.1) == 0.0  # phase 2 warms up again
    assert lr_at(12, groups, "constant", 0.1) == pytest.approx(0.5)
    assert lr_at(29, groups, "linear", 0.0) == pytest.approx(0.5 * 1 / 20)
    assert lr_at(20, groups, "cosine", 0.0) == pytest.approx(0.25)


def test_qlora_without_a_gpu_raises_a_clear_error():
    pytest.importorskip("torch")
    from seqit.train.model import check_qlora_available

    with pytest.raises(MissingExtraError, match="qlora needs a CUDA GPU.*method: lora"):
        check_qlora_available()


def test_cli_dry_run_prints_the_preflight_and_trains_nothing(train_world, tiny_config_path, tmp_path, capsys):
    from seqit.cli import main

    out = tmp_path / "dry"
    rc = main(["train", tiny_config_path, f"model.path={train_world['model']}",
               f"phases=[{{data: {train_world['p2']}}}]", "--out", str(out), "--dry-run", "--limit", "5"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "sample 1" in text and "[[" in text and "dry run" in text
    assert (out / "preflight.json").exists() and not (out / "model").exists()
    import json

    assert json.loads((out / "preflight.json").read_text())["phases"][0]["examples"] == 5


def test_cli_qlora_on_cpu_exits_2_with_the_message(train_world, tiny_config_path, tmp_path, capsys):
    from seqit.cli import main

    rc = main(["train", tiny_config_path, f"model.path={train_world['model']}", "method=qlora",
               f"phases=[{{data: {train_world['p1']}}}]", "--out", str(tmp_path / "q"), "--limit", "4"])
    assert rc == 2
    assert "qlora needs a CUDA GPU" in capsys.readouterr().err


def test_cli_bad_override_names_the_key(tiny_config_path, capsys):
    from seqit.cli import main

    assert main(["train", tiny_config_path, "optim.lrr=1"]) == 2
    assert "optim.lrr: unknown key" in capsys.readouterr().err


def test_report_to_an_uninstalled_tracker_names_the_extra(train_world, tiny_cfg, tmp_path):
    import importlib.util

    from seqit.train import run_train

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    with pytest.raises(MissingExtraError, match=r"report_to: wandb.*seqit\[tracking\]"):
        run_train(tiny_cfg(tmp_path / "w", "report_to=[wandb]"))
