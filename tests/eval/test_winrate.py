import pytest

from seqit.eval import win_rate
from seqit.eval.metrics import bootstrap_ci, sign_test_p, summarize_pairwise, summarize_seqeval
from seqit.eval.winrate import build_pair_messages, combine_orders, order_result, parse_pair_scores


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ("win", "win", "win"),
        ("win", "tie", "win"),
        ("tie", "win", "win"),
        ("tie", "tie", "tie"),
        ("win", "lose", "tie"),
        ("lose", "win", "tie"),
        ("lose", "tie", "lose"),
        ("tie", "lose", "lose"),
        ("lose", "lose", "lose"),
    ],
)
def test_combine_orders_follows_the_phased_ift_rule(first, second, expected):
    assert combine_orders(first, second) == expected


@pytest.mark.parametrize("a, b, expected", [(8, 6, "win"), (6, 8, "lose"), (7, 7, "tie"), (7.5, 7.0, "win")])
def test_order_result_compares_scores(a, b, expected):
    assert order_result(a, b) == expected


@pytest.mark.parametrize(
    "outcomes, expected",
    [
        (["win", "win", "lose", "tie"], {"win": 2, "tie": 1, "lose": 1, "failed": 0, "n": 4, "win_rate": 0.625}),
        (["WIN", "TIE", "LOSE"], {"win": 1, "tie": 1, "lose": 1, "failed": 0, "n": 3, "win_rate": 0.5}),
        # failures are excluded from the denominator and reported
        (["win", None, "failed", ""], {"win": 1, "tie": 0, "lose": 0, "failed": 3, "n": 1, "win_rate": 1.0}),
        (["tie", "tie"], {"win": 0, "tie": 2, "lose": 0, "failed": 0, "n": 2, "win_rate": 0.5}),
        ([None], {"win": 0, "tie": 0, "lose": 0, "failed": 1, "n": 0, "win_rate": None}),
        ([], {"win": 0, "tie": 0, "lose": 0, "failed": 0, "n": 0, "win_rate": None}),
    ],
)
def test_win_rate_counts_ties_as_half_and_excludes_failures(outcomes, expected):
    got = win_rate(outcomes)
    assert {k: got[k] for k in expected} == expected


def test_win_rate_reports_percentage_points_like_phased_ift():
    assert win_rate(["win"] * 5726 + ["lose"] * 4274)["win_rate_pp"] == pytest.approx(7.26)


def test_win_rate_rejects_unknown_outcomes():
    with pytest.raises(ValueError, match="unknown outcome 'draw'"):
        win_rate(["win", "draw"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[8, 6]]", (8.0, 6.0)),
        ("Assistant 1 is better.\n[[9,7.5]]", (9.0, 7.5)),
        ("[8; 8]", (8.0, 8.0)),
        ("[[8/10, 6/10]]", (8.0, 6.0)),
        ("8 6", (8.0, 6.0)),
        ("7, 9\nAssistant 2 is more complete.", (7.0, 9.0)),
        ("**8** **6**", (8.0, 6.0)),
        ("The format is [[8, 6]]. My scores: [[3, 10]]", (3.0, 10.0)),
        ("no scores here", None),
        ("[[11, 6]]", None),
        ("[[0, 6]]", None),
        ("Assistant 1 gets 8 points and Assistant 2 gets 6", None),
    ],
)
def test_parse_pair_scores_reads_both_scores_or_none(text, expected):
    assert parse_pair_scores(text) == expected


def test_pair_messages_put_answer_1_first():
    user = build_pair_messages("Q?", "first answer", "second answer")[1]["content"]
    assert user.index("first answer") < user.index("second answer")
    assert "[[8, 6]]" in user


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = [1.0, 0.0] * 50
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    lo, hi = bootstrap_ci(values, n_resamples=2000, seed=0)
    assert lo < 0.5 < hi and 0.35 < lo and hi < 0.65
    assert bootstrap_ci([]) is None


def test_summarize_seqeval_excludes_failures_and_breaks_down_by_iteration():
    rows = [
        {"status": "ok", "following": True, "score": 5, "iteration": 1, "output": "a b", "finish_reason": "length"},
        {"status": "ok", "following": False, "score": 2, "iteration": 2},
        {"status": "ok", "following": True, "score": 4, "iteration": 2},
        {"status": "unparsed", "iteration": 2},
    ]
    s = summarize_seqeval(rows, n_resamples=200)
    assert s["overall"]["n_items"] == 4 and s["overall"]["n_judged"] == 3 and s["overall"]["n_failed"] == 1
    assert s["overall"]["failures"] == {"unparsed": 1}
    assert s["overall"]["n_truncated"] == 1 and s["overall"]["mean_output_words"] == 2.0
    assert s["overall"]["following_rate"] == pytest.approx(2 / 3)
    assert s["overall"]["mean_score"] == pytest.approx(11 / 3)
    assert list(s["by_iteration"]) == ["1", "2"]
    assert s["by_iteration"]["2"]["following_rate"] == 0.5
    assert s["by_iteration"]["1"]["following_rate_ci95"] == (1.0, 1.0)


def test_summarize_pairwise_reports_lengths_beside_the_win_rate():
    rows = [
        {"status": "ok", "outcome": "win", "output": "a b c", "reference_output": "x"},
        {"status": "ok", "outcome": "lose", "output": "a", "reference_output": "x y z w"},
        {"status": "unparsed", "outcome": None, "output": "a b", "reference_output": "x y"},
    ]
    s = summarize_pairwise(rows, n_resamples=100)
    assert s["win_rate"] == 0.5 and s["failed"] == 1 and s["n"] == 2
    assert s["mean_length_words"] == {"model": 2.0, "reference": pytest.approx(7 / 3)}
    assert "by_iteration" not in s  # no depths known


def test_summarize_pairwise_handles_generation_failures_and_breaks_down_by_depth():
    rows = [
        {"status": "ok", "outcome": "win", "output": "a", "reference_output": "x", "iteration": 1},
        {"status": "ok", "outcome": "lose", "output": "a", "reference_output": "x", "iteration": 2},
        {"status": "generation_error", "outcome": None, "output": None, "reference_output": "x y", "iteration": 2},
    ]
    s = summarize_pairwise(rows, n_resamples=100)
    assert s["failed"] == 1 and s["mean_length_words"]["model"] == 1.0
    assert s["by_iteration"]["1"]["win_rate"] == 1.0 and s["by_iteration"]["2"]["failed"] == 1


@pytest.mark.parametrize(
    "wins, losses, expected",
    [(9, 1, 0.021484), (1, 9, 0.021484), (5, 5, 1.0), (0, 0, None), (10, 0, 0.001953), (3, 0, 0.25)],
)
def test_sign_test_p_is_the_exact_two_sided_binomial(wins, losses, expected):
    assert sign_test_p(wins, losses) == expected
