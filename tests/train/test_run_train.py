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
    assert len(list((out / "checkpoints").glob("step-*"))) == 2  # one per phase end
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


def test_run_stopped_by_max_steps_resumes_at_the_same_step_and_matches_the_uninterrupted_run(train_world, tiny_cfg, tmp_path):
    phases = f"[{{data: {train_world['p1']}}}, {{data: {train_world['p2']}, optimizer: reset}}]"
    short = "batch.max_seq_len=96"  # ~2 examples per row: a dozen steps
    full = run_train(tiny_cfg(tmp_path / "full", short, phases=phases))
    assert len(_metrics(tmp_path / "full")) > 8
    part = tmp_path / "part"
    early = run_train(tiny_cfg(part, short, "save_every_steps=2", "max_steps=7", phases=phases))  # stop mid phase 2
    assert json.loads((early / "meta.json").read_text())["steps"] == 7
    assert sorted(p.name for p in (part / "checkpoints").iterdir())[-1] == "step-0000007"
    assert len(_metrics(part)) == 7
    resumed = run_train(tiny_cfg(part, short, "save_every_steps=2", phases=phases))
    lf, lr = _metrics(tmp_path / "full"), _metrics(part)
    assert [r["step"] for r in lr] == [r["step"] for r in lf]  # every step logged once
    assert [r["loss"] for r in lr] == pytest.approx([r["loss"] for r in lf], rel=1e-6)
    wf, wr = _weights(full), _weights(resumed)
    assert all(torch.allclose(wf[k], wr[k], atol=1e-7) for k in wf)
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["attempts"] == 2
    from seqit.errors import SeqitError

    with pytest.raises(SeqitError, match="different config, data"):  # resuming with another plan is refused
        run_train(tiny_cfg(part, "batch.max_seq_len=128", phases=phases))


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
