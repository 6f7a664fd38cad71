import shutil
import subprocess

import pytest

from seqit.errors import SeqitError
from seqit.jsonl import write_json_atomic, write_jsonl
from seqit.report.run import inspect_run, run_report

XSS = "<script>alert('x')</script>"


def make_eval_run(path, task="seqeval"):
    path.mkdir(parents=True)
    if task == "seqeval":
        metrics = {
            "overall": {"n_items": 3, "n_failed": 1, "following_rate": 0.5, "following_rate_ci95": [0.0, 1.0], "mean_score": 3.5},
            "by_iteration": {
                "1": {"n_items": 1, "n_failed": 0, "following_rate": 1.0, "following_rate_ci95": [1.0, 1.0]},
                "2": {"n_items": 2, "n_failed": 1, "following_rate": 0.0, "following_rate_ci95": [0.0, 0.0]},
            },
        }
        samples = [
            {"id": "a", "iteration": 1, "instruction": XSS, "output": "out a", "status": "ok", "following": True, "score": 4},
            {"id": "b", "iteration": 2, "instruction": "do b", "output": "out b", "status": "ok", "following": False, "score": 3},
            {"id": "c", "iteration": 2, "instruction": "do c", "output": "out c", "status": "unparsed", "judge_replies": ["??"]},
        ]
    else:
        metrics = {"win": 2, "tie": 1, "lose": 1, "n": 4, "failed": 0, "win_rate": 0.625, "win_rate_ci95": [0.3, 0.9]}
        samples = [{"id": "a", "instruction": "q", "output": "x", "reference_output": "y", "status": "ok", "outcome": "win"}]
    write_json_atomic(path / "results.json", {"task": task, "model": "tiny", "metrics": metrics})
    write_json_atomic(path / "manifest.json", {"command": "eval", "status": "finished", "usage": {
        "roles": {"judge": {"requests": 9, "cached": 0, "failed": 0, "cost_usd": 0.01, "models": {"judge-1": {}}}},
        "total": {"requests": 9, "cost_usd": 0.01}, "this_attempt": {}}})
    write_jsonl(path / "samples.jsonl", samples)
    return path


def make_train_run(path):
    path.mkdir(parents=True)
    rows = [{"step": s, "phase": 1 + s // 5, "loss": 3.0 - 0.1 * s, "lr": 1e-3} for s in range(12)]
    write_jsonl(path / "metrics.jsonl", rows)
    write_json_atomic(path / "meta.json", {"template": "tulu", "template_hash": "abc"})
    return path


def make_split_run(path):
    path.mkdir(parents=True)
    for k, scores in enumerate([[1.0, 1.2], [2.0, 3.0, 3.4], [4.0, 5.0]], 1):
        write_jsonl(path / f"phase-{k}.jsonl", [{"id": f"{k}-{i}", "messages": [], "meta": {"difficulty": s}} for i, s in enumerate(scores)])
    phases = [{"phase": k, "file": f"phase-{k}.jsonl", "count": n, "score": {"min": 1.0, "max": 5.0, "mean": 3.0},
               "tokens": {"mean": 120.5}, "output_tokens": {"mean": 80.0}} for k, n in [(1, 2), (2, 3), (3, 2)]]
    write_json_atomic(path / "manifest.json", {"command": "split", "phases": phases, "score_key": "difficulty",
                                               "split": {"cuts": [1.5, 3.5]}, "strategy": "thresholds"})
    return path


def make_quickstart_run(path):
    path.mkdir(parents=True)
    arms = {"it": {"single_acc": 1.0, "chain_acc_seen": 0.0}, "sit": {"single_acc": 0.99, "chain_acc_seen": 0.95}}
    write_json_atomic(path / "results.json", {"arms": arms})
    return path


def test_inspect_run_recognises_each_kind_of_run_dir(tmp_path):
    assert inspect_run(make_eval_run(tmp_path / "e")).kinds == ["eval"]
    assert inspect_run(make_train_run(tmp_path / "t")).kinds == ["train"]
    assert inspect_run(make_split_run(tmp_path / "s")).kinds == ["split"]
    assert inspect_run(make_quickstart_run(tmp_path / "q")).kinds == ["quickstart"]


def test_report_rejects_a_dir_with_nothing_to_report(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeqitError, match="nothing to report"):
        run_report([tmp_path / "empty"])
    with pytest.raises(SeqitError, match="not a directory"):
        run_report([tmp_path / "missing"])


def test_report_is_one_self_contained_html_with_plots_tables_and_escaped_samples(tmp_path):
    runs = [
        make_eval_run(tmp_path / "seqeval"),
        make_eval_run(tmp_path / "pairwise", task="pairwise"),
        make_train_run(tmp_path / "train"),
        make_split_run(tmp_path / "split"),
        make_quickstart_run(tmp_path / "quick"),
    ]
    out = run_report(runs, tmp_path / "out" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert XSS not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    # following by depth, win-rate bars, loss by phase, 3 histograms (judge scores, difficulty), arms bars
    assert text.count("data:image/png;base64,") == 6
    assert "Sequence following by depth" in text and "Pairwise win rates" in text
    assert "<h2>Summary</h2>" in text and "<td>following_rate</td>" in text and "<td>win_rate</td>" in text
    assert "chain_acc_seen" in text and "phase-3.jsonl" in text and "<td>120.5</td>" in text and "thresholds" in text
    assert '<details class="sample' in text and "unparsed" in text
    assert "LLM usage" in text and "judge-1" in text and "total cost (every attempt): $0.01" in text
    assert "src=\"http" not in text and "<link" not in text  # nothing fetched from outside


def test_report_defaults_to_report_html_in_the_first_run_dir(tmp_path):
    out = run_report([make_train_run(tmp_path / "train")])
    assert out == tmp_path / "train" / "report.html" and out.exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    out = run_report([make_eval_run(tmp_path / "seqeval"), make_train_run(tmp_path / "train")], tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_plots_judge_free_chain_accuracy_by_depth(tmp_path):
    run = tmp_path / "seqeval-v"
    run.mkdir()
    by = {str(k): {"n": 100, "chain_acc": 1.0 / k, "step_acc": 0.9} for k in range(1, 6)}
    write_json_atomic(run / "results.json", {"task": "seqeval_v", "metrics": {"overall": {"chain_acc": 0.5}, "by_iteration": by}})
    text = run_report([run]).read_text()
    assert "Sequence following by depth" in text and text.count("data:image/png;base64,") == 1
    assert "<th>chain_acc</th>" in text and "<td>0.3333</td>" in text


def test_every_sample_is_on_the_page_and_failures_can_be_shown_alone(tmp_path):
    run = tmp_path / "many"
    run.mkdir()
    write_json_atomic(run / "results.json", {"task": "seqeval", "metrics": {"overall": {"following_rate": 0.5}}})
    rows = [{"id": f"q{i}", "status": "ok" if i % 3 else "unparsed", "iteration": 1, "output": f"answer {i}",
             "prompt": [{"role": "user", "content": f"question {i}"}]} for i in range(150)]
    write_jsonl(run / "samples.jsonl", rows)
    text = run_report([run]).read_text()
    assert all(f"<summary>q{i} · " in text for i in range(150))  # none left out
    assert text.count('<details class="sample failed">') == 50 and text.count('<details class="sample passed">') == 100
    assert ">all 150</label>" in text and ">failures only 50</label>" in text
    assert ".show-failed:checked ~ .sample-list .passed{display:none}" in text  # the switch needs no script
    assert "<h4>prompt</h4><pre>user:\nquestion 7</pre>" in text


@pytest.mark.parametrize("row, line", [
    ({"id": "c1", "depth": 2, "chain_ok": False, "first_failure": 2}, "c1 · failed at step 2 · depth=2"),
    ({"id": "c2", "depth": 1, "chain_ok": True, "first_failure": None}, "c2 · chain right · depth=1"),
    ({"id": "j", "status": "ok", "following": False, "score": 2}, "j · ok · following=False · score=2"),
    ({"id": "u", "status": "unparsed", "iteration": 3}, "u · unparsed · iteration=3"),
])
def test_a_sample_summary_has_no_empty_field(row, line):
    from seqit.report.samples import summary_line

    assert summary_line(row) == line and " ·  " not in line and not line.endswith("·")


def test_report_survives_odd_result_shapes_and_torn_sample_lines(tmp_path):
    run = tmp_path / "odd"
    run.mkdir()
    (run / "results.json").write_text('{"task": "weird", "metrics": [1, 2]}')
    (run / "samples.jsonl").write_text('{"id": 1, "status": "ok", "output": {"nested": true}}\n{"torn": ')
    text = run_report([run]).read_text()
    assert "weird" in text and "nested" in text


def test_report_on_a_real_seqit_split_run(tmp_path):
    import random

    from seqit.config import load_config
    from seqit.phases.split import SplitConfig, run_split

    rng = random.Random(0)
    rows = [{"id": f"x{i}", "messages": [{"role": "user", "content": f"question {i} " + "w" * rng.randint(1, 40)},
                                         {"role": "assistant", "content": f"answer {i} " * rng.randint(1, 9)}],
             "meta": {"difficulty": round(rng.uniform(1, 5), 1)}} for i in range(60)]
    write_jsonl(tmp_path / "scored.jsonl", rows)
    split = run_split(load_config(SplitConfig, None, [f"data={tmp_path / 'scored.jsonl'}", f"out_dir={tmp_path / 'split'}"]))
    text = run_report([split]).read_text()
    assert "<th>score mean</th>" in text and "difficulty score histogram by phase" in text
    assert text.count("data:image/png;base64,") == 1 and "thresholds" in text


def test_report_on_real_generate_and_score_run_dirs(tmp_path, sample_path):
    from pathlib import Path

    from seqit.cli import main

    root = Path(__file__).resolve().parents[2]
    assert main(["generate", str(root / "configs/generate/alpaca-selfseq.yaml"), f"data.path={sample_path}",
                 "teacher.backend=fake", "teacher.fake.replies=['{\"option\": \"D\", \"reason\": \"fine\"}', '???']",
                 "limit=6", "--out", str(tmp_path / "gen"), "--no-progress", "--max-reject-frac", "1"]) in (0, 1)
    assert main(["score", str(root / "configs/score/judge-openai.yaml"), f"data={sample_path}", "judge.backend=fake",
                 "judge.fake.replies=['{\"score\": 2}', '{\"score\": 4}', 'no score']", "--limit", "9",
                 "--out", str(tmp_path / "score")]) == 0
    assert inspect_run(tmp_path / "gen").kinds == ["generate"] and inspect_run(tmp_path / "score").kinds == ["score"]
    text = run_report([tmp_path / "gen", tmp_path / "score"], tmp_path / "r.html").read_text()
    assert "Option distribution per round" in text and "Rejects by stage and reason" in text
    assert "difficulty histogram (6 records)" in text and "FAKE backend" in text
    assert text.count("data:image/png;base64,") == 2  # option bars + difficulty histogram


def test_reject_groups_fold_numbers_and_sort_by_count():
    from seqit.report.run import reject_groups

    rows = [{"stage": "judge", "reason": "unparseable score in reply 3"}, {"stage": "judge", "reason": "unparseable score in reply 7"},
            {"stage": "read", "reason": "not JSON"}, "torn"]
    assert reject_groups(rows) == [("judge", "unparseable score in reply N", 2), ("read", "not JSON", 1)]


def test_seqeval_v_samples_render_with_output_expected_and_verdicts(tmp_path):
    run = tmp_path / "v"
    run.mkdir()
    write_json_atomic(run / "results.json", {"task": "seqeval_v", "metrics": {"overall": {"chain_acc": 0.5}}})
    write_jsonl(run / "samples.jsonl", [
        {"id": "c1", "depth": 2, "output": "12\n7", "expected": "12\n8", "correct": [True, False],
         "followed": [True, True], "chain_ok": False, "first_failure": 2,
         "prompt": [{"role": "user", "content": "Input: 3 4\n1. Multiply them.\n2. Subtract 4."}],
         "steps": [{"step": 1, "instruction": "Multiply them.", "expected": "12"},
                   {"step": 2, "instruction": "Subtract 4.", "expected": "8"}]},
        {"id": "c2", "depth": 1, "output": None, "expected": "5", "correct": [False], "followed": [False],
         "chain_ok": False, "first_failure": 1}])
    text = run_report([run]).read_text()
    assert "<h4>expected</h4><pre>12\n8</pre>" in text and "<h4>correct</h4>" in text  # c2 has no steps table
    assert "c1 · failed at step 2 · depth=2" in text and "<h4>expected</h4><pre>5</pre>" in text
    assert "<h4>prompt</h4><pre>user:\nInput: 3 4\n1. Multiply them.\n2. Subtract 4.</pre>" in text
    assert ('<tr><td>2</td><td>Subtract 4.</td><td>8</td><td><span class="bad">wrong</span></td>'
            '<td><span class="ok">yes</span></td></tr>') in text


def test_judge_following_rate_and_chain_accuracy_get_separate_axes(tmp_path):
    judged = make_eval_run(tmp_path / "seqeval")
    v = tmp_path / "seqeval-v"
    v.mkdir()
    by = {str(k): {"n": 100, "chain_acc": 1.0 / k} for k in range(1, 4)}
    write_json_atomic(v / "results.json", {"task": "seqeval_v", "metrics": {"overall": {"chain_acc": 0.5}, "by_iteration": by}})
    text = run_report([judged, v], tmp_path / "r.html").read_text()
    section = text.split("Sequence following by depth", 1)[1].split("<h2>", 1)[0]
    assert section.count("data:image/png;base64,") == 2  # one axis per metric, not one shared "rate" axis


def test_series_that_coincide_are_dodged_apart_with_their_own_markers():
    from seqit.report.plots import dodge, style

    offsets = [dodge(i, 4) for i in range(4)]
    assert len(set(offsets)) == 4 and sum(offsets) == pytest.approx(0) and max(offsets) < 0.5  # still on their depth
    assert len({tuple(style(i).items()) for i in range(12)}) == 12


def test_count_axes_get_whole_number_ticks():
    from seqit.report.html import figure
    from seqit.report.plots import integer_ticks

    fig = figure()
    ax = fig.add_subplot()
    ax.hist([1.0, 2.0, 2.5], bins=3)  # bar heights 1 and 2: matplotlib alone ticks 0.25, 0.5, ...
    integer_ticks(ax.yaxis)
    ticks = [t for t in ax.get_yticks() if 0 <= t <= 2]
    assert ticks and all(float(t).is_integer() for t in ticks)
