"""The hf backend's decode loop: same greedy tokens as model.generate, rows leave the batch when done,
end ids from the tokenizer / generation_config / special stop strings, length-aware micro-batches."""

from __future__ import annotations

import asyncio

import pytest

from seqit.teachers import ChatRequest, HFSettings, TeacherConfig, open_teacher
from seqit.teachers.backends.batching import MicroBatcher
from seqit.teachers.backends.hf import Row, decode, end_token_ids

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seqit.tinymodels import save_tiny_model

    d = save_tiny_model(tmp_path_factory.mktemp("tiny-decode"), hidden_size=32, num_layers=2, seed=0)
    tok = AutoTokenizer.from_pretrained(d)
    tok.padding_side = "left"
    return d, tok, AutoModelForCausalLM.from_pretrained(d).eval()


def _batch(tok, texts):
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return enc["input_ids"], enc["attention_mask"]


def test_greedy_decode_matches_model_generate_token_for_token(tiny):
    _, tok, model = tiny
    texts = ["<|user|>\nhi<|end|>\n<|assistant|>\n", "<|user|>\na longer prompt, padded on the left<|end|>\n<|assistant|>\n"]
    ids, mask = _batch(tok, texts)
    ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=None)[:, ids.shape[1]:]
    rows = [Row(10), Row(10)]
    steps = decode(model, ids, mask, rows, end_ids=set())
    assert [r.ids for r in rows] == ref.tolist()
    assert [r.reason for r in rows] == ["length", "length"] and steps == 10


def test_finished_rows_leave_the_batch_and_keep_their_own_limit(tiny):
    _, tok, model = tiny
    texts = ["<|user|>\nx<|end|>\n<|assistant|>\n", "<|user|>\nsomething else<|end|>\n<|assistant|>\n"]
    ids, mask = _batch(tok, texts)
    full = [Row(12), Row(12)]
    decode(model, ids, mask, full, end_ids=set())
    rows = [Row(3), Row(12)]  # row 0 leaves after 3 tokens; row 1 continues alone, unchanged
    steps = decode(model, ids, mask, rows, end_ids=set())
    assert rows[0].ids == full[0].ids[:3] and rows[0].reason == "length"
    assert rows[1].ids == full[1].ids and steps == 12
    # an end id stops a row without being part of its tokens
    end = full[1].ids[4]
    rows = [Row(12), Row(12)]
    decode(model, ids, mask, rows, end_ids={end})
    assert rows[1].ids == full[1].ids[: full[1].ids.index(end)] and rows[1].reason == "stop"


def test_end_token_ids_merge_tokenizer_generation_config_and_special_stop_strings(tiny):
    _, tok, model = tiny
    from transformers import GenerationConfig

    eos = tok.eos_token_id
    user = tok.convert_tokens_to_ids("<|user|>")
    assert end_token_ids(tok, None) == {eos}
    assert end_token_ids(tok, GenerationConfig(eos_token_id=[eos, 5])) == {eos, 5}
    assert end_token_ids(tok, None, ("<|user|>", "abc")) == {eos, user}  # "abc" is text, found by decoding


def test_size_aware_batches_group_similar_prompts_and_keep_the_oldest_first():
    def req(i, n):
        return ChatRequest(id=f"r{i}", messages=[{"role": "user", "content": "x" * n}])

    b = MicroBatcher(lambda rs: [], batch_size=2, max_wait_ms=0,
                     size=lambda r: len(r.messages[0]["content"]))
    loop = asyncio.new_event_loop()
    try:
        for i, n in enumerate([10, 500, 12, 480]):
            b._queue.append((req(i, n), loop.create_future()))
        assert [r.id for r, _ in b.take_batch()] == ["r0", "r2"]
        assert [r.id for r, _ in b.take_batch()] == ["r1", "r3"]
        assert b.take_batch() == []
    finally:
        loop.close()


def test_throughput_reaches_the_usage_summary(tiny):
    d, _, _ = tiny
    cfg = TeacherConfig(backend="hf", model=str(d), max_concurrency=8, hf=HFSettings(batch_size=4, max_wait_ms=20))

    async def go():
        async with open_teacher(cfg) as t:
            reqs = [ChatRequest(id=f"q{i}", messages=[{"role": "user", "content": f"q {i}"}], max_tokens=5) for i in range(4)]
            comps = await asyncio.gather(*(t.complete(r) for r in reqs))
            return comps, t.usage_summary()

    comps, usage = asyncio.run(go())
    g = usage["generation"]
    assert g["sequences"] == 4 and g["completion_tokens"] == sum(c.usage.completion_tokens for c in comps) > 0
    assert g["completion_tokens_per_s"] > 0 and 1 <= g["forward_passes"] <= 5 * g["batches"]
