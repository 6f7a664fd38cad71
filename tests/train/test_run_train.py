"""End-to-end training on the tiny model (CPU, fp32): outputs, phases, loss normalisation, resume."""

import json

import pytest

from seqit.train import run_train

torch = pytest.importorskip("torch")


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_two_phase_run_writes_model_meta_metrics_and_preflight(train_world, tiny_cfg, tmp_path):
    phases = f"[{{data: {train_world['p1']}}}, {{data: {train_world['p2']}, name: chains, optimizer: carry, lr: 5.0e-4}}]"
    out = tmp_path / "run"
    model_dir = run_train(tiny_cfg(out, phases=phases))
    assert model_dir == out / "model"
    assert {"model.safetensors", "config.json", "tokenizer.json", "meta.json"} <= {p.name for p in model_dir.iterdir()}
    tok_cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert "<|assistant|>" in (tok_cfg.get("chat_template") or (model_dir / "chat_template.jinja").read_text())
    meta = json.loads((model_dir / "meta.json").read_text())
    gen = json.loads((model_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == json.loads((model_dir / "config.json").read_text())["eos_token_id"]
    from seqit.templates import TULU, template_hash

    assert meta["template"] == "tulu" and meta["template_hash"] == template_hash(TULU)
    assert [p["name"] for p in meta["phases"]] == ["phase-1", "chains"]
    assert all(len(p["data_sha256"]) == 64 for p in meta["phases"])
    assert meta["phases"][1]["optimizer"] == "carry" and meta["phases"][1]["lr"] == 5e-4
    assert meta["tokens_seen"] > 0 and meta["steps"] == sum(p["steps"] for p in meta["phases"])
    rows = _metrics(out)
    assert [r["step"] for r in rows] == list(range(1, meta["steps"] + 1))
    assert {"step", "phase", "loss", "lr", "grad_norm", "tokens_per_s", "padding_frac", "tokens"} <= set(rows[0])
    assert {r["phase"] for r in rows} == {"phase-1", "chains"}
    assert rows[-1]["loss"] < rows[0]["loss"]
    # phase 2 carries phase 1's schedule? no: schedule reset -> its first lr is its own peak (warmup 0)
    first_chains = next(r for r in rows if r["phase"] == "chains")
    assert first_chains["lr"] == pytest.approx(5e-4)
    assert (out / "phase-1" / "model.safetensors").exists() and (out / "phase-1" / "meta.json").exists()
    assert (out / "preflight.md").read_text().count("[[") >= 2
    assert json.loads((out / "manifest.json").read_text())["status"] == "finished"
    assert [p.name for p in (out / "checkpoints").glob("step-*")] == [f"step-{meta['steps']:07d}"]  # keep_last=1
    assert not (out / ".lock").exists()
    disk = json.loads((out / "manifest.json").read_text())["disk"]
    assert disk["checkpoints"] == 1 and disk["checkpoint_bytes"] > 0 and disk["model_bytes"] > 0
    # weights moved away from the base model
    base, trained = _weights(train_world["model"]), _weights(model_dir)
    assert any(not torch.equal(base[k], trained[k]) for k in base)


def test_loss_is_normalised_by_trained_tokens_of_the_whole_step(train_world, tiny_cfg, tmp_path):
    """2 micro-batches of 1 row (grad accumulation) == 1 micro-batch of 2 rows: same losses, same weights."""
    a = run_train(tiny_cfg(tmp_path / "a", "batch.grad_accum=2", "batch.micro_batch_rows=1",
                       "batch.row_len=256"))
    b = run_train(tiny_cfg(tmp_path / "b", "batch.grad_accum=1", "batch.micro_batch_rows=2",
                       "batch.row_len=256"))
    la = [r["loss"] for r in _metrics(tmp_path / "a")]
    lb = [r["loss"] for r in _metrics(tmp_path / "b")]
    assert la == pytest.approx(lb, rel=1e-5)
    wa, wb = _weights(a), _weights(b)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    # and the step loss is a token-weighted mean, not a mean of per-row means
    rows = _metrics(tmp_path / "a")
    assert all(r["trained_tokens"] > 0 for r in rows)


def test_max_steps_cuts_the_plan_and_the_schedule_bar_and_meta_follow_what_runs(train_world, tiny_cfg, tmp_path):
    from seqit.train.plan import Group, lr_at

    phases = f"[{{data: {train_world['p1']}}}, {{data: {train_world['p2']}, optimizer: reset}}]"
    short = "batch.max_seq_len=96"  # ~2 examples per row: a dozen steps
    full = run_train(tiny_cfg(tmp_path / "full", short, phases=phases))
    full_meta = json.loads((full / "meta.json").read_text())
    n1, n2 = (p["steps"] for p in full_meta["phases"])
    assert n1 >= 4 and n2 >= 3
    cut = n1 + 2  # two steps into phase 2
    part = tmp_path / "part"
    model = run_train(tiny_cfg(part, short, f"max_steps={cut}", phases=phases))
    meta = json.loads((model / "meta.json").read_text())
    assert meta["steps"] == cut
    assert [(p["name"], p["steps"], p.get("planned_steps")) for p in meta["phases"]] == [
        ("phase-1", n1, None), ("phase-2", 2, n2)]
    assert meta["max_steps_cut"] == {"max_steps": cut, "steps": cut, "planned_steps": n1 + n2,
                                     "phases_cut": ["phase-2"], "phases_not_trained": []}
    rows = _metrics(part)
    assert [r["step"] for r in rows] == list(range(1, cut + 1))
    # phase 2's cosine schedule is sized for the 2 steps that run, not for its n2 planned steps
    groups = [Group(0, n1, 1e-3), Group(n1, 2, 1e-3)]
    assert [r["lr"] for r in rows] == pytest.approx([lr_at(s, groups, "cosine", 0.0) for s in range(cut)], abs=1e-6)
    assert [r["lr"] for r in rows[:n1]] == pytest.approx([r["lr"] for r in _metrics(tmp_path / "full")[:n1]])
    assert f"plan: {cut} optimizer steps (max_steps={cut} of {n1 + n2} planned)" in (part / "preflight.md").read_text()
    assert not (part / "phase-2").exists() and (part / "phase-1").exists()
    from seqit.errors import SeqitError

    with pytest.raises(SeqitError, match="max_steps included"):  # another max_steps is another plan
        run_train(tiny_cfg(part, short, f"max_steps={cut + 1}", phases=phases))
    run_train(tiny_cfg(tmp_path / "full", short, "max_steps=1000", phases=phases))  # past the plan: the same plan


def test_max_steps_inside_the_first_phase_trains_no_later_phase(train_world, tiny_cfg, tmp_path):
    phases = f"[{{data: {train_world['p1']}}}, {{data: {train_world['p2']}}}]"
    model = run_train(tiny_cfg(tmp_path / "r", "batch.max_seq_len=96", "max_steps=2", phases=phases))
    meta = json.loads((model / "meta.json").read_text())
    assert [p["name"] for p in meta["phases"]] == ["phase-1"] and meta["steps"] == 2
    assert meta["max_steps_cut"]["phases_not_trained"] == ["phase-2"]
    assert not (tmp_path / "r" / "phase-1").exists()  # the last trained phase's model is model/


def test_lora_run_saves_an_adapter_or_a_merged_model(train_world, tiny_cfg, tmp_path):
    lora = ["method=lora", "lora.r=4", "lora.alpha=8", "lora.dropout=0.0", "optim.lr=1.0e-2"]
    adapter = run_train(tiny_cfg(tmp_path / "a", *lora))
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "meta.json").read_text())["adapter"] is True
    merged = run_train(tiny_cfg(tmp_path / "m", *lora, "lora.merge_on_save=true"))
    assert (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    assert json.loads((merged / "meta.json").read_text())["adapter"] is False
    base, w = _weights(train_world["model"]), _weights(merged)
    assert set(w) == set(base)
    assert not torch.equal(base["model.layers.0.self_attn.q_proj.weight"], w["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(base["model.embed_tokens.weight"], w["model.embed_tokens.weight"])  # not a LoRA target


def test_a_lora_checkpoint_holds_only_the_adapter_and_resumes_to_the_same_weights(train_world, tiny_cfg, tmp_path,
                                                                                   caplog):
    """The checkpoint keeps the trainable (adapter) tensors and the optimizer, never the frozen base model;
    resuming from it (here: from step 2 of a finished run, later state removed) ends with the same weights."""
    import shutil

    from safetensors import safe_open

    lora = ["method=lora", "lora.r=4", "lora.alpha=8", "lora.dropout=0.0", "optim.lr=1.0e-2", "batch.max_seq_len=96",
            "save_every_steps=2", "keep_last=0", "lora.merge_on_save=true"]
    out = tmp_path / "run"
    first = _weights(run_train(tiny_cfg(out, *lora)))
    steps = sorted((out / "checkpoints").glob("step-*"))
    assert len(steps) >= 3  # keep_last=0 keeps every checkpoint
    with safe_open(str(steps[0] / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert keys and all("lora_" in k for k in keys)
    for later in steps[1:]:
        shutil.rmtree(later)
    shutil.rmtree(out / "model")
    with caplog.at_level("INFO", logger="seqit.train.checkpoint"):
        resumed = _weights(run_train(tiny_cfg(out, *lora)))
    assert f"resuming from {steps[0]}" in caplog.text
    assert all(torch.allclose(first[k], resumed[k], atol=1e-6) for k in first)


def test_keep_last_keeps_that_many_newest_checkpoints(train_world, tiny_cfg, tmp_path, capfd):
    out = tmp_path / "run"
    run_train(tiny_cfg(out, "batch.max_seq_len=96", "save_every_steps=2", "keep_last=2"))
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "Writing model shards" not in err  # transformers' bars stay off
    names = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert len(names) == 2 and names[-1] == f"step-{meta['steps']:07d}"
