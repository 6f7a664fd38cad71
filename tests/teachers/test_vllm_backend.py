"""The vllm backend's pure mappings (no vLLM needed) and its missing-extra message."""

import importlib.util

import pytest

from seqit.errors import MissingExtraError
from seqit.teachers import ChatRequest, TeacherConfig, VLLMSettings
from seqit.teachers.backends import make_backend
from seqit.teachers.backends.vllm import engine_kwargs, sampling_params_kwargs, wants_json

MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 512}),
        ({"temperature": 0.0, "top_p": 0.5}, {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 512}),
        (
            {"temperature": 0.8, "top_p": 0.9, "max_tokens": 64, "n": 4, "stop": ("###", "\n\n"), "seed": 11},
            {"n": 4, "temperature": 0.8, "top_p": 0.9, "max_tokens": 64, "stop": ["###", "\n\n"], "seed": 11},
        ),
    ],
)
def test_sampling_params_kwargs(kwargs, expected):
    assert sampling_params_kwargs(ChatRequest(id="a", messages=MSG, **kwargs)) == expected


@pytest.mark.parametrize("fmt, expected", [(None, False), ({"type": "json_object"}, True), ({"type": "text"}, False)])
def test_wants_json(fmt, expected):
    assert wants_json(ChatRequest(id="a", messages=MSG, response_format=fmt)) is expected


def test_engine_kwargs():
    cfg = TeacherConfig(backend="vllm", model="/models/x", vllm=VLLMSettings(tensor_parallel_size=2, max_model_len=4096))
    assert engine_kwargs(cfg) == {
        "model": "/models/x", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9, "dtype": "auto",
        "trust_remote_code": False, "max_model_len": 4096,
    }


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_vllm_is_a_clear_missing_extra_error():
    with pytest.raises(MissingExtraError, match=r"seqit\[vllm\]"):
        make_backend(TeacherConfig(backend="vllm", model="x"))
