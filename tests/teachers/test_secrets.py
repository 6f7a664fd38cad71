"""Keys go only where they were configured for; credentials inside URLs are redacted everywhere."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest

from seqit.cli import main
from seqit.errors import ConfigError
from seqit.runs import start_run
from seqit.teachers import TeacherConfig
from seqit.teachers.backends.openai import api_key_from_env
from seqit.teachers.errors import redact, redact_tree, redact_url_credentials
from seqit.teachers.types import is_openai_api, key_env_name


@pytest.mark.parametrize(
    "base_url, api_key_env, expected",
    [
        (None, "auto", "OPENAI_API_KEY"),
        ("https://api.openai.com/v1", "auto", "OPENAI_API_KEY"),
        ("https://API.OPENAI.COM/v1/", "auto", "OPENAI_API_KEY"),
        ("http://127.0.0.1:8000/v1", "auto", None),  # a local server never gets the user's OpenAI key
        ("https://api.openai.com.evil.example/v1", "auto", None),  # look-alike host
        ("https://evil.example/api.openai.com/v1", "auto", None),
        ("http://127.0.0.1:8000/v1", "MY_SERVER_KEY", "MY_SERVER_KEY"),  # named explicitly: sent
        ("http://127.0.0.1:8000/v1", None, None),
        (None, None, None),
    ],
)
def test_key_env_name_sends_the_default_key_only_to_openai(base_url, api_key_env, expected):
    assert key_env_name(TeacherConfig(base_url=base_url, api_key_env=api_key_env)) == expected


def test_is_openai_api_on_unparseable_url():
    assert is_openai_api("http://[::1") is False


def test_default_config_with_a_local_base_url_reads_no_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-openai-key")
    assert api_key_from_env(TeacherConfig(base_url="http://127.0.0.1:1/v1")) is None
    assert api_key_from_env(TeacherConfig()) == "sk-users-real-openai-key"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        api_key_from_env(TeacherConfig())


def test_blank_api_key_env_is_refused():
    with pytest.raises(ValueError, match="api_key_env"):
        TeacherConfig(api_key_env="  ")


def _requests(path, n=3):
    path.write_text("".join(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"hi {i}"}]}) + "\n"
                            for i in range(n)))
    return path


def test_complete_with_a_local_base_url_does_not_send_openai_key(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-openai-key")
    rc = main(["complete", str(_requests(tmp_path / "r.jsonl")), "-o", str(tmp_path / "run" / "out.jsonl"),
               "--base-url", fake_openai.url, "--model", "m"])
    assert rc == 0
    assert sum(fake_openai.auth_headers.values()) == 3
    assert not any("sk-users-real-openai-key" in h for h in fake_openai.auth_headers)


def test_a_server_that_wants_a_key_says_how_to_configure_it(tmp_path, fake_openai, monkeypatch, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-openai-key")
    fake_openai.api_key = "sk-server-key"
    rc = main(["complete", str(_requests(tmp_path / "r.jsonl", 1)), "-o", str(tmp_path / "run" / "out.jsonl"),
               "--base-url", fake_openai.url, "--model", "m"])
    assert rc == 2  # an auth failure stops the run with a one-line error
    err = capfd.readouterr().err
    assert "HTTP 401" in err and "no API key was sent" in err and "--api-key-env" in err
    assert "sk-users-real-openai-key" not in err


@pytest.mark.parametrize(
    "text, expected",
    [
        ("http://user:pass@host/v1", "http://***@host/v1"),
        ("base_url: https://tok@example.com:8443/v1 (x)", "base_url: https://***@example.com:8443/v1 (x)"),
        ("connect to 'http://a:b@127.0.0.1:1/v1' failed", "connect to 'http://***@127.0.0.1:1/v1' failed"),
        ("http://host/v1", "http://host/v1"),
        ("http://host/path@not-userinfo", "http://host/path@not-userinfo"),
        ("mail me: a@b.com", "mail me: a@b.com"),
    ],
)
def test_redact_url_credentials(text, expected):
    assert redact_url_credentials(text) == expected


def test_redact_covers_keys_and_url_credentials():
    assert redact("key sk-1234 at http://u:p@h/v1", ["sk-1234"]) == "key *** at http://***@h/v1"
    assert redact_tree({"a": ["http://u:p@h", 3], "http://u:p@k": None}) == {"a": ["http://***@h", 3], "http://***@k": None}


@dataclass(frozen=True)
class _Cfg:
    base_url: str = "http://alice:hunter2pw@10.0.0.1:8000/v1"


def test_run_dir_never_holds_url_credentials(tmp_path):
    run = start_run(tmp_path / "run", _Cfg(), "demo", argv=["seqit", "x", "teacher.base_url=http://alice:hunter2pw@h/v1"])
    run.manifest["error"] = "connection error at http://alice:hunter2pw@10.0.0.1:8000/v1"
    run.finish()
    for name in ("manifest.json", "config.yaml"):
        text = (tmp_path / "run" / name).read_text()
        assert "hunter2pw" not in text and "alice" not in text, name
        assert "***@10.0.0.1:8000/v1" in text
    assert run.manifest["error"].endswith("alice:hunter2pw@10.0.0.1:8000/v1")  # in memory unchanged


def test_cli_redacts_url_credentials_in_files_logs_and_errors(tmp_path, fake_openai, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    url = fake_openai.url.replace("http://", "http://alice:hunter2pw@")
    run_dir = tmp_path / "run"
    rc = main(["-v", "complete", str(_requests(tmp_path / "r.jsonl")), "-o", str(run_dir / "out.jsonl"),
               "--base-url", url, "--model", "m"])
    assert rc == 0
    # a failing run too: nothing listens there, the connection error is recorded and printed
    dead = "http://alice:hunter2pw@127.0.0.1:9/v1"
    main(["-v", "complete", str(_requests(tmp_path / "r.jsonl", 1)), "-o", str(tmp_path / "run2" / "out.jsonl"),
          "--base-url", dead, "--model", "m", "teacher.max_retries=0", "teacher.timeout_s=2"])
    captured = capfd.readouterr()
    files = [p for d in (run_dir, tmp_path / "run2") for p in d.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"manifest.json", "config.yaml", "rejects.jsonl"}
    for p in files:
        assert b"hunter2pw" not in p.read_bytes(), f"URL password leaked into {p}"
    assert "hunter2pw" not in captured.out and "hunter2pw" not in captured.err
    assert "***@" in (run_dir / "manifest.json").read_text()


def test_per_request_http_log_lines_are_quiet_unless_verbose(tmp_path, fake_openai, caplog):
    caplog.set_level(logging.INFO)
    req = _requests(tmp_path / "r.jsonl")
    http = "teacher.openai.http=httpx"  # the SDK's transport logs one line per request (aiohttp logs none)
    assert main(["complete", str(req), "-o", str(tmp_path / "a" / "out.jsonl"), "--base-url", fake_openai.url,
                 "--model", "m", http]) == 0
    assert not [r for r in caplog.records if "HTTP Request" in r.getMessage()]
    caplog.clear()
    assert main(["-v", "complete", str(req), "-o", str(tmp_path / "b" / "out.jsonl"), "--base-url", fake_openai.url,
                 "--model", "m", http]) == 0
    lines = [r for r in caplog.records if "HTTP Request" in r.getMessage()]
    assert len(lines) == 3 and {r.name for r in lines} <= {"httpx", "httpx2"}
    main(["validate", str(req)])  # leave the loggers quiet for the tests that follow


def test_log_filter_redacts_url_credentials_in_formatted_messages():
    from seqit.cli import _redact_log_record

    record = logging.LogRecord("httpx2", logging.INFO, __file__, 1, 'HTTP Request: POST %s "%s"',
                               ("http://alice:hunter2pw@10.0.0.1/v1/chat/completions", "HTTP/1.1 200 OK"), None)
    assert _redact_log_record(record) is True
    assert record.getMessage() == 'HTTP Request: POST http://***@10.0.0.1/v1/chat/completions "HTTP/1.1 200 OK"'
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "no secrets %d", (3,), None)
    assert _redact_log_record(plain) and plain.getMessage() == "no secrets 3" and plain.args == (3,)


def test_auto_key_follows_openai_base_url_from_the_environment(monkeypatch):
    """With no base_url in the config the client goes to $OPENAI_BASE_URL: the default key must not follow it."""
    from seqit.teachers.types import TeacherConfig, key_env_name

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert key_env_name(TeacherConfig(model="m")) is None
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    assert key_env_name(TeacherConfig(model="m")) == "OPENAI_API_KEY"
