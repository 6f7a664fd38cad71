"""The openai backend: pure payload/response mapping, and the real client against the loopback server."""

import asyncio

import pytest

from seqit.errors import ConfigError
from seqit.teachers import ChatRequest, Completion, TeacherConfig, Usage, open_teacher
from seqit.teachers.backends.openai import api_key_from_env, build_payload, parse_response
from seqit.teachers.errors import BackendError, parse_retry_after

MSG = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})


@pytest.mark.parametrize(
    "kwargs, expected_extra",
    [
        ({}, {}),
        ({"n": 2, "stop": ("###",), "seed": 7}, {"n": 2, "stop": ["###"], "seed": 7}),
        ({"response_format": {"type": "json_object"}}, {"response_format": {"type": "json_object"}}),
        ({"model": "override"}, {"model": "override"}),
    ],
)
def test_build_payload(kwargs, expected_extra):
    req = ChatRequest(id="a", messages=MSG, temperature=0.3, top_p=0.9, max_tokens=64, **kwargs)
    expected = {
        "model": "cfg-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
    } | expected_extra
    assert build_payload(req, TeacherConfig(model="cfg-model")) == expected


def test_parse_response_maps_choices_usage_and_model():
    body = {
        "model": "served-model-2026",
        "choices": [
            {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "length"},
            {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7},
    }
    comp = parse_response(body, "a", "m", n=2, latency_s=0.5)
    assert comp == Completion("a", ["first", "second"], ["stop", "length"], Usage(11, 7), "served-model-2026", 0.5)


@pytest.mark.parametrize(
    "body, retryable, match",
    [
        ({"error": {"message": "oops"}}, True, "no 'choices'"),
        ("not a dict", True, "no 'choices'"),
        ({"choices": [{"index": 0}]}, True, "no 'message'"),
        ({"choices": [{"message": {"content": None, "refusal": "no"}}]}, False, "refused"),
        ({"choices": [{"message": {"content": "x"}}]}, False, "n > 1"),
    ],
)
def test_parse_response_rejects_unusable_bodies(body, retryable, match):
    n = 2 if match == "n > 1" else 1
    with pytest.raises(BackendError, match=match) as e:
        parse_response(body, "a", "m", n=n)
    assert e.value.retryable is retryable


@pytest.mark.parametrize("value, expected", [("2", 2.0), ("0.25", 0.25), (None, None), ("soon", None), ("-3", 0.0)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_missing_key_for_the_official_api_is_a_clear_config_error(monkeypatch):
    monkeypatch.delenv("SEQIT_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="SEQIT_TEST_KEY"):
        api_key_from_env(TeacherConfig(api_key_env="SEQIT_TEST_KEY"))
    assert api_key_from_env(TeacherConfig(api_key_env="SEQIT_TEST_KEY", base_url="http://127.0.0.1:1/v1")) is None


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request):
    """Every server-facing test runs on both chat-completion transports."""
    return request.param


def _cfg(server, transport="auto", **kw):
    from seqit.teachers import OpenAISettings

    return TeacherConfig(
        **{"model": "fake-model", "base_url": server.url, "api_key_env": "SEQIT_TEST_KEY", "timeout_s": 2.0,
           "backoff_base_s": 0.01, "backoff_max_s": 0.05, "openai": OpenAISettings(http=transport), **kw}
    )


def complete_all(cfg, reqs, ledger=None):
    async def go():
        async with open_teacher(cfg, ledger_path=ledger) as t:
            return [c async for c in t.stream(reqs)], t.usage_summary()

    return asyncio.run(go())


def test_openai_backend_completes_against_a_local_server(fake_openai, monkeypatch, transport):
    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-test-123")
    reqs = [ChatRequest(id=f"r{i}", messages=[{"role": "user", "content": f"q{i}"}], n=1 + i % 2) for i in range(6)]
    comps, usage = complete_all(_cfg(fake_openai, transport), reqs)
    by_id = {c.request_id: c for c in comps}
    assert set(by_id) == {f"r{i}" for i in range(6)}
    assert by_id["r1"].texts == ["echo: q1", "echo: q1"] and by_id["r0"].texts == ["echo: q0"]
    assert usage["requests"] == 6 and usage["prompt_tokens"] > 0
    assert fake_openai.auth_headers == {"Bearer sk-test-123": 6}


@pytest.mark.parametrize(
    "faults, reason",
    [({"429": 1.0}, "HTTP 429"), ({"500": 1.0}, "HTTP 500"), ({"garbage": 1.0}, "unparseable response"),
     ({"hang": 1.0}, "timed out"), ({"trickle": 1.0}, "timed out")],
)
def test_openai_backend_records_failure_after_bounded_retries(fake_openai, faults, reason, transport):
    fake_openai.faults = faults
    fake_openai.hang_s = 1.0
    fake_openai.retry_after_s = 0.01
    comps, usage = complete_all(_cfg(fake_openai, transport, max_retries=2, timeout_s=0.2), [ChatRequest(id="x", messages=MSG)])
    assert not comps[0].ok and comps[0].texts == [] and comps[0].attempts == 3
    assert reason in comps[0].error and "gave up after 3 attempts" in comps[0].error
    assert fake_openai.attempts["hi"] == 3 and usage["failed"] == 1


def test_openai_backend_does_not_retry_auth_errors(fake_openai, monkeypatch, transport):
    monkeypatch.setenv("SEQIT_TEST_KEY", "sk-wrong")
    fake_openai.api_key = "sk-right"
    comps, _ = complete_all(_cfg(fake_openai, transport), [ChatRequest(id="x", messages=MSG)])
    assert "HTTP 401" in comps[0].error and "SEQIT_TEST_KEY" in comps[0].error and "sk-wrong" not in comps[0].error
    assert fake_openai.attempts["hi"] == 1


def test_max_completion_tokens_param_for_newer_openai_models():
    from seqit.teachers import OpenAISettings

    cfg = TeacherConfig(model="m", openai=OpenAISettings(max_tokens_param="max_completion_tokens"))
    payload = build_payload(ChatRequest(id="a", messages=MSG, max_tokens=9), cfg)
    assert payload["max_completion_tokens"] == 9 and "max_tokens" not in payload


def test_connection_refused_is_a_retryable_connection_error(transport):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = TeacherConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key_env=None, max_retries=1,
                        backoff_base_s=0.01, backoff_max_s=0.02, openai=_cfg_openai(transport))
    comps, _ = complete_all(cfg, [ChatRequest(id="x", messages=MSG)])
    assert "connection error" in comps[0].error and comps[0].attempts == 2


def _cfg_openai(transport):
    from seqit.teachers import OpenAISettings

    return OpenAISettings(http=transport)
