import pytest

from seqit.train.pack import IGNORE, build_row, pack_bins


@pytest.mark.parametrize(
    "lengths,row_len,window,expected",
    [
        ([3, 3, 3], 6, 1, [[0, 1], [2]]),  # strict order
        ([5, 4, 1, 2], 6, 1, [[0], [1, 2], [3]]),  # window 1 never goes back
        ([5, 4, 1, 2], 6, 2, [[0, 2], [1, 3]]),  # first fit among the 2 open rows
        ([6, 6], 6, 8, [[0], [1]]),  # exact fit
        ([], 4, 8, []),
    ],
)
def test_pack_bins_fills_rows_in_bounded_order(lengths, row_len, window, expected):
    assert pack_bins(lengths, row_len, window) == expected


def test_pack_bins_keeps_every_example_once_and_respects_row_len():
    import random

    r = random.Random(0)
    lengths = [r.randint(1, 100) for _ in range(500)]
    bins = pack_bins(lengths, 128, 4)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert all(sum(lengths[i] for i in b) <= 128 for b in bins)
    # bounded reordering: an example lands at most `window` rows before its in-order row
    assert all(b == sorted(b) for b in bins)


def test_pack_bins_rejects_an_example_longer_than_the_row():
    with pytest.raises(ValueError, match="row_len"):
        pack_bins([3, 9], 8, 1)


def test_build_row_restarts_positions_and_never_targets_across_examples():
    a = ([10, 11, 12], [11, 12, IGNORE])
    b = ([20, 21], [21, IGNORE])
    row = build_row([a, b], pad_id=0, length=8)
    assert row.input_ids == [10, 11, 12, 20, 21, 0, 0, 0]
    assert row.position_ids == [0, 1, 2, 0, 1, 0, 1, 2]
    assert row.targets == [11, 12, IGNORE, 21, IGNORE, IGNORE, IGNORE, IGNORE]
    assert (row.n_real, row.n_examples, row.n_trained) == (5, 2, 3)
    assert 1 - row.n_real / len(row.input_ids) == pytest.approx(3 / 8)  # the padding the row carries


def test_build_row_refuses_overflow():
    with pytest.raises(ValueError):
        build_row([([1, 2, 3], [2, 3, IGNORE])], pad_id=0, length=2)
