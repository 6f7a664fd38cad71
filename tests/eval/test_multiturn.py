"""Multi-turn SeqEval-V (each step its own user turn, the model answers every turn) and the
self-conditioning probe, end to end through `seqit eval` against a scripted OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from seqit.chains.sampling import Chain
from seqit.chains.seqeval_v import (
    frozen_items,
    multiturn_output,
    multiturn_user_turns,
    probe_history,
    probe_verdict,
    wrong_value,
)
from seqit.chains.steps import apply_step, render_value
from seqit.cli import main
from seqit.eval.metrics import self_conditioning_summary
from seqit.jsonl import read_jsonl, write_jsonl


def subset():
    """5 v1 items of each depth 1-5."""
    items = frozen_items("v1")
    return [it for d in range(1, 6) for it in [x for x in items if x["meta"]["depth"] == d][:5]]


def gold_lines(chain: Chain) -> list[str]:
    return [f"Step {i}: {render_value(v, t)}" for i, (v, t) in enumerate(zip(chain.results(), chain.types()[1:], strict=True), 1)]


class Solver:
    """Scripted replies: right everywhere except step 3, and 'self-conditioned': once any earlier
    assistant turn in the context is wrong, every later answer is wrong too."""

    def __init__(self, items):
        self.single = {it["messages"][0]["content"]: Chain.from_dict(it["meta"]["chain"]) for it in items}
        self.multi = {multiturn_user_turns(c)[0]: c for c in self.single.values()}

    def __call__(self, body):
        msgs = body["messages"]
        first = msgs[0]["content"]
        if first in self.single:
            lines = gold_lines(self.single[first])
            return "\n".join("Step 3: oops" if i == 3 else ln for i, ln in enumerate(lines, 1))
        chain = self.multi[first]
        lines = gold_lines(chain)
        said = [m["content"] for m in msgs if m["role"] == "assistant"]
        turn = len(said) + 1
        if any(s != lines[j] for j, s in enumerate(said)):
            return f"Step {turn}: lost"
        return "Step 3: oops" if turn == 3 else lines[turn - 1]


@pytest.fixture
def solver_run(tmp_path, fake_openai):
    items = subset()
    write_jsonl(tmp_path / "items.jsonl", items)
    fake_openai.reply = Solver(items)
    rc = main(["eval", "configs/eval/seqeval-v-multiturn.yaml", f"data={tmp_path / 'items.jsonl'}",
               "model.backend=openai", "model.model=solver", f"model.base_url={fake_openai.url}", "model.api_key_env=null",
               "rendering=both", "self_conditioning=[1,3]", "--out", str(tmp_path / "run")])
    assert rc == 0
    return items, tmp_path / "run"


def test_both_renderings_side_by_side_with_the_model_in_the_loop(solver_run):
    items, run = solver_run
    res = json.loads((run / "results.json").read_text())
    single, multi = res["renderings"]["single"]["metrics"]["overall"], res["renderings"]["multiturn"]["metrics"]["overall"]
    assert res["rendering"] == "single" and res["metrics"]["overall"] == single
    # single prompt: only step 3 is wrong (15 of 75 steps); multi-turn: step 3 and everything after it
    assert (single["chain_acc"], single["step_acc"]) == (0.4, 0.8)
    assert (multi["chain_acc"], multi["step_acc"]) == (0.4, 0.6)
    assert res["renderings"]["multiturn"]["horizon"]["overall"]["first_failure"] == {"3": 15, "none": 10}
    rows = list(read_jsonl(run / "samples-multiturn.jsonl"))
    five = next(r for r in rows if r["depth"] == 5)
    assert five["turns"][2] == "Step 3: oops" and five["turns"][3:] == ["Step 4: lost", "Step 5: lost"]
    assert five["correct"] == [True, True, False, False, False]
    assert len(list(read_jsonl(run / "samples.jsonl"))) == 25


def test_self_conditioning_probe_compares_clean_and_injected_contexts(solver_run):
    items, run = solver_run
    sc = json.loads((run / "results.json").read_text())["horizon"]["self_conditioning"]
    chains = [Chain.from_dict(it["meta"]["chain"]) for it in items]
    n1 = sum(1 for c in chains if len(c.steps) > 1 and wrong_value(c, 1) is not None)
    n3 = sum(1 for c in chains if len(c.steps) > 3 and wrong_value(c, 3) is not None)
    assert sc["by_k"]["1"] == {"n": n1, "clean_acc": 1.0, "injected_acc": 0.0, "delta": -1.0,
                               "injected_gold_acc": 0.0, "run_acc": 1.0}
    # step 4 after a clean pre-filled history is right; in the model's own run it follows its step-3 slip
    assert sc["by_k"]["3"] == {"n": n3, "clean_acc": 1.0, "injected_acc": 0.0, "delta": -1.0,
                               "injected_gold_acc": 0.0, "run_acc": 0.0}
    probes = list(read_jsonl(run / "samples-self-conditioning.jsonl"))
    assert len(probes) == 2 * (n1 + n3) and {p["context"] for p in probes} == {"clean", "injected"}


def test_probe_history_prefills_right_results_and_one_wrong_one():
    chain = Chain.from_dict(next(it for it in frozen_items("v1") if it["meta"]["depth"] == 3)["meta"]["chain"])
    lines = gold_lines(chain)
    clean, injected = probe_history(chain, 2, False), probe_history(chain, 2, True)
    assert [m["role"] for m in clean] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in clean if m["role"] == "assistant"] == lines[:2]
    assert injected[1]["content"] == lines[0] and injected[3]["content"] != lines[1]
    assert clean[-1]["content"] == injected[-1]["content"] == multiturn_user_turns(chain)[2]
    bad = wrong_value(chain, 2)
    follow = f"Step 3: {render_value(apply_step(chain.steps[2], bad), chain.types()[3])}"
    assert probe_verdict(chain, 2, True, follow) == {"followed": True, "gold": False}
    assert probe_verdict(chain, 2, False, lines[2]) == {"followed": True, "gold": True}
    assert probe_verdict(chain, 2, True, None) == {"followed": False, "gold": False}


def test_wrong_value_differs_and_changes_the_next_result():
    for it in frozen_items("v2")[::7]:
        chain = Chain.from_dict(it["meta"]["chain"])
        for k in range(1, len(chain.steps)):
            bad = wrong_value(chain, k)
            if bad is None:
                continue
            assert bad != chain.results()[k - 1]
            assert apply_step(chain.steps[k], bad) != chain.results()[k]
    with pytest.raises(ValueError, match="k=1 needs"):
        wrong_value(Chain.from_dict(frozen_items("v1")[0]["meta"]["chain"]), 1)


@pytest.mark.parametrize(("replies", "want"), [
    (["Step 1: a", "Step 2: b"], "Step 1: a\nStep 2: b"),
    (["Step 1: a", "sure! Step 2: b"], "Step 1: a"),  # no 'Step 2:' line in turn 2: step 2 unanswered
    (["Step 1: a\nStep 2: z", "Step 2: b"], "Step 1: a\nStep 2: b"),  # turn 1's extra line is ignored
    ([None, None], ""),
])
def test_multiturn_output_takes_step_i_from_turn_i(replies, want):
    assert multiturn_output(replies) == want


def test_self_conditioning_summary_pairs_chains_and_reads_the_run():
    probes = [{"id": "a", "k": 1, "context": "clean", "followed": True, "gold": True},
              {"id": "a", "k": 1, "context": "injected", "followed": False, "gold": True},
              {"id": "b", "k": 1, "context": "clean", "followed": True, "gold": True},
              {"id": "b", "k": 1, "context": "injected", "followed": True, "gold": False},
              {"id": "c", "k": 1, "context": "clean", "followed": True, "gold": True}]  # unpaired: dropped
    got = self_conditioning_summary(probes, [{"id": "a", "correct": [True, False]}, {"id": "b", "correct": [True, True]}])
    assert got == {"1": {"n": 2, "clean_acc": 1.0, "injected_acc": 0.5, "delta": -0.5, "injected_gold_acc": 0.5,
                         "run_acc": 0.5}}


@pytest.mark.parametrize(("extra", "match"), [
    (["rendering=triple"], "rendering: unknown rendering 'triple'"),
    (["rendering=multiturn", "outputs=OUTS"], "need the model in the loop"),
    (["self_conditioning=[0]"], "self_conditioning: expected step numbers >= 1"),
])
def test_bad_rendering_options_are_one_line_errors(tmp_path, capsys, extra, match):
    write_jsonl(tmp_path / "o.jsonl", [{"id": "x", "output": "y"}])
    extra = [e.replace("OUTS", str(tmp_path / "o.jsonl")) for e in extra]
    rc = main(["eval", "configs/eval/seqeval-v.yaml", "model.backend=fake", "model.model=echo", "limit=2", *extra,
               "--out", str(tmp_path / "run")])
    assert rc != 0
    assert match in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.slow
def test_multiturn_and_probe_run_on_a_tiny_local_checkpoint(tmp_path, tiny_model_dir):
    items = [it for it in subset() if it["meta"]["depth"] in (2, 3)][::3]  # 4 chains of 2-3 steps
    write_jsonl(tmp_path / "items.jsonl", items)
    rc = main(["eval", "configs/eval/seqeval-v-multiturn.yaml", f"data={tmp_path / 'items.jsonl'}", "self_conditioning=[1]",
               f"model.model={tiny_model_dir}", "model.hf.dtype=float32", "model.hf.device=cpu",
               "generation.max_new_tokens=6", "--out", str(tmp_path / "run")])
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(res["renderings"]) == {"single", "multiturn"} and res["multiturn_version"] == "seqeval_v.multiturn/v1"
    rows = list(read_jsonl(tmp_path / "run" / "samples-multiturn.jsonl"))
    assert len(rows) == 4 and [len(r["turns"]) for r in rows] == [r["depth"] for r in rows]  # every turn sent
    n = sum(wrong_value(Chain.from_dict(it["meta"]["chain"]), 1) is not None for it in items)
    probe = res["horizon"]["self_conditioning"]["by_k"]["1"]
    assert probe["n"] == n and 0.0 <= probe["clean_acc"] <= 1.0


def test_report_plots_the_horizon_and_the_probe(solver_run):
    from seqit.report.run import run_report

    _, run = solver_run
    html = run_report([run], run / "report.html").read_text()
    section = html.split("Horizon: share of chains still right after k steps", 1)
    assert len(section) == 2 and "data:image/png;base64," in section[1][:400]
