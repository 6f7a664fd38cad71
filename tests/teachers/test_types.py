import pytest

from seqit.config import from_dict
from seqit.errors import ConfigError
from seqit.teachers import ChatRequest, Completion, Price, TeacherConfig, Usage, cache_key, request_id

MSG = [{"role": "user", "content": "hi"}]


def test_chat_request_converts_lists_to_tuples():
    req = ChatRequest(id="a", messages=MSG, stop=["x", "y"])
    assert req.messages == ({"role": "user", "content": "hi"},)
    assert req.stop == ("x", "y")
    assert ChatRequest(id="a", messages=MSG, stop="x").stop == ("x",)


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"max_tokens": 0}])
def test_chat_request_rejects_impossible_params(kwargs):
    with pytest.raises(ValueError):
        ChatRequest(id="a", messages=MSG, **kwargs)


def test_completion_text_and_ok():
    ok = Completion("a", ["x", "y"], ["stop", "length"], Usage(1, 2), "m")
    bad = Completion("a", [], [], Usage(), "m", error="boom")
    assert (ok.text, ok.ok, ok.finish_reason) == ("x", True, "stop")
    assert (bad.text, bad.ok, bad.finish_reason) == ("", False, None)


def test_request_id_is_stable_and_content_sensitive():
    assert request_id("item1", "classify") == request_id("item1", "classify")
    assert request_id("item1", "classify") != request_id("item1", "rewrite")
    assert len(request_id(MSG)) == 24


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "other"}]},
        {"temperature": 0.7},
        {"max_tokens": 10},
        {"stop": ("z",)},
        {"seed": 1},
        {"n": 2},
        {"prompt_version": "v2"},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_cache_key_changes_with_content_and_params(change):
    base = dict(id="a", messages=MSG)
    assert cache_key(ChatRequest(**base), "openai", "m") != cache_key(ChatRequest(**{**base, **change}), "openai", "m")


def test_cache_key_ignores_request_id_but_not_backend_or_model():
    a, b = ChatRequest(id="a", messages=MSG), ChatRequest(id="b", messages=MSG)
    assert cache_key(a, "openai", "m") == cache_key(b, "openai", "m")
    assert cache_key(a, "openai", "m") != cache_key(a, "hf", "m")
    assert cache_key(a, "openai", "m") != cache_key(a, "openai", "m2")


def test_teacher_config_loads_strictly_with_prices():
    cfg = from_dict(
        TeacherConfig,
        {"backend": "openai", "model": "gpt-x", "prices": {"gpt-x": {"input": 2.5, "output": 10}}, "hf": {"batch_size": 4}},
    )
    assert cfg.prices == {"gpt-x": Price(2.5, 10.0)}
    assert cfg.hf.batch_size == 4
    with pytest.raises(ConfigError, match="api_key"):
        from_dict(TeacherConfig, {"api_key": "sk-nope"})
    with pytest.raises(ConfigError, match="max_concurrency"):
        from_dict(TeacherConfig, {"max_concurrency": 0})
