"""Local model files: import a GGUF checkpoint (llama.cpp / Ollama) as a Hugging Face safetensors dir.

    src = resolve_source("smollm2-135m")            # a known name -> the packaged .gguf, or a path
    out = run_import(src, Path("models/smollm2"))   # config, safetensors, tokenizer, chat template, manifest
"""

from seqit.models.gguf_import import KNOWN_MODELS, ImportResult, resolve_source, run_import

__all__ = ["KNOWN_MODELS", "ImportResult", "resolve_source", "run_import"]
