"""The hf backend on the tiny local model: batching, left padding, stop strings, seeds, templates."""

import asyncio

import pytest

from seqit.errors import SeqitError
from seqit.teachers import ChatRequest, HFSettings, TeacherConfig, open_teacher
from seqit.teachers.backends.hf import HFBackend, batch_key, generation_kwargs, trim_at_stop

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from seqit.tinymodels import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), hidden_size=32, num_layers=2, seed=0)


def cfg(tiny_dir, **hf):
    return TeacherConfig(backend="hf", model=str(tiny_dir), max_concurrency=16, hf=HFSettings(**hf))


def req(i, content=None, **kw):
    return ChatRequest(id=f"r{i}", messages=[{"role": "user", "content": content or f"prompt number {i}"}], **kw)


def run_all(c, reqs, backend=None):
    async def go():
        async with open_teacher(c, backend=backend) as t:
            return list(await asyncio.gather(*(t.complete(r) for r in reqs))), t.backend

    return asyncio.run(go())


@pytest.mark.parametrize(
    "text, stops, expected",
    [("hello world", ("wor",), ("hello ", True)), ("abc", ("x",), ("abc", False)), ("a.b,c", (",", "."), ("a", True)),
     ("abc", (), ("abc", False))],
)
def test_trim_at_stop(text, stops, expected):
    assert trim_at_stop(text, stops) == expected


def test_generation_kwargs_greedy_at_temperature_zero_and_sampling_otherwise():
    assert generation_kwargs(req(0), 8)["do_sample"] is False
    kw = generation_kwargs(req(0, temperature=0.7, top_p=0.9, n=3), 8)
    assert kw == {"max_new_tokens": 8, "num_return_sequences": 3, "do_sample": True, "temperature": 0.7, "top_p": 0.9,
                  "top_k": 0}


def test_batch_key_ignores_max_tokens_but_not_sampling():
    assert batch_key(req(0, max_tokens=5)) == batch_key(req(1, max_tokens=50))
    assert batch_key(req(0)) != batch_key(req(0, temperature=0.5))
    assert batch_key(req(0)) != batch_key(req(0, stop=("x",)))


def test_concurrent_requests_are_micro_batched_and_padding_does_not_change_greedy_output(tiny_dir):
    c = cfg(tiny_dir, batch_size=8, max_wait_ms=20)
    short = req(0, "hi", max_tokens=12)
    alone, _ = run_all(c, [short])
    others = [req(i, "a much longer prompt that forces left padding " * (i % 3 + 1), max_tokens=6) for i in range(1, 8)]
    batched, backend = run_all(c, [short, *others])
    assert max(backend.batch_sizes) > 1
    assert batched[0].text == alone[0].text and batched[0].usage == alone[0].usage
    assert all(c.ok and c.finish_reasons == ["length"] and c.usage.completion_tokens == 6 for c in batched[1:])
    assert batched[0].usage.completion_tokens == 12 and batched[0].usage.prompt_tokens == alone[0].usage.prompt_tokens


def test_stop_string_ends_generation_and_is_cut(tiny_dir):
    c = cfg(tiny_dir)
    (full,), _ = run_all(c, [req(0, max_tokens=24)])
    text = full.text
    stop = next(text[i : i + 2] for i in range(4, len(text) - 2) if text[i : i + 2].isprintable() and text.find(text[i : i + 2]) == i)
    (cut,), _ = run_all(c, [req(0, max_tokens=24, stop=(stop,))])
    assert cut.finish_reasons == ["stop"] and cut.text == text[: text.find(stop)]
    assert cut.usage.completion_tokens < full.usage.completion_tokens


def test_seeded_sampling_is_reproducible_and_n_returns_n_texts(tiny_dir):
    c = cfg(tiny_dir)
    r = req(0, temperature=1.0, seed=123, n=3, max_tokens=16)
    (a,), _ = run_all(c, [r])
    (b,), _ = run_all(c, [r])
    (other,), _ = run_all(c, [req(0, temperature=1.0, seed=7, n=3, max_tokens=16)])
    assert len(a.texts) == 3 and a.texts == b.texts and a.texts != other.texts


def test_named_template_is_applied_and_unknown_template_is_an_error(tiny_dir):
    c = cfg(tiny_dir, template="chatml")
    backend = HFBackend(c)
    assert backend.render(req(0, "hi")).endswith("<|im_start|>assistant\n")
    with pytest.raises(SeqitError, match="unknown chat template"):
        HFBackend(cfg(tiny_dir, template="nope"))


def test_seqit_complete_with_the_hf_backend(tiny_dir, tmp_path):
    import json

    from seqit.cli import main

    req = tmp_path / "req.jsonl"
    req.write_text("".join(
        json.dumps({"id": f"h{i}", "messages": [{"role": "user", "content": f"hello {i}"}], "max_tokens": 5}) + "\n"
        for i in range(4)
    ))
    out = tmp_path / "out.jsonl"
    assert main(["complete", str(req), "-o", str(out), "--backend", "hf", "--model", str(tiny_dir)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["h0", "h1", "h2", "h3"]
    assert all(r["usage"]["completion_tokens"] == 5 and r["finish_reason"] == "length" for r in rows)
