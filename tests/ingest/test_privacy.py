"""Small-cell suppression: hand-worked cases."""

import numpy as np
import pandas as pd
import pytest

from alliance.ingest.privacy import SECONDARY, discloses, is_reportable, suppress_counts


def test_primary_suppression_and_zero():
    counts = pd.Series([0, 3, 12, 25], index=["a", "b", "c", "d"], name="n")
    shown = suppress_counts(counts, min_cell_size=10, total_shown=False)
    assert shown.tolist() == ["0", "<10", "12", "25"]
    assert shown.index.tolist() == ["a", "b", "c", "d"]
    assert shown.name == "n"


def test_secondary_suppression_hides_next_smallest_cell():
    # 3 is hidden; with the total (52) shown it would follow from 52 - 12 - 25 - 12, so the smallest
    # other non-zero cell is hidden too; of the two 12s the first by position.
    counts = pd.Series([25, 12, 3, 12, 0])
    shown = suppress_counts(counts, min_cell_size=10)
    assert shown.tolist() == ["25", SECONDARY, "<10", "12", "0"]


def test_no_secondary_suppression_without_a_total_or_with_two_hidden_cells():
    assert suppress_counts(pd.Series([25, 12, 3]), 10, total_shown=False).tolist() == ["25", "12", "<10"]
    assert suppress_counts(pd.Series([25, 12, 3, 4]), 10).tolist() == ["25", "12", "<10", "<10"]


def test_secondary_suppression_takes_a_zero_cell_when_no_other_is_left():
    """A shown 0 beside a shown total gives the hidden count away (total - 0 - 0 = 7), as a reviewer's
    analysis flow once did: a zero cell is suppressed too, the first non-zero one when there is one."""
    assert suppress_counts(pd.Series([0, 3]), 10).tolist() == [SECONDARY, "<10"]
    assert suppress_counts(pd.Series([0, 7, 0]), 10).tolist() == [SECONDARY, "<10", "0"]
    assert suppress_counts(pd.Series([0, 7, 30]), 10).tolist() == ["0", "<10", SECONDARY]
    assert suppress_counts(pd.Series([7]), 10).tolist() == ["<10"]  # nothing else to hide


def test_min_cell_size_one_suppresses_nothing():
    counts = pd.Series([0, 1, 2, 50])
    assert suppress_counts(counts, 1).tolist() == ["0", "1", "2", "50"]


def test_boundary_count_is_shown():
    assert suppress_counts(pd.Series([10, 9]), 10, total_shown=False).tolist() == ["10", "<10"]


def test_nullable_integers_are_accepted():
    counts = pd.Series([4, 20, 30], dtype="Int64")
    assert suppress_counts(counts, 5).tolist() == ["<5", SECONDARY, "30"]


@pytest.mark.parametrize("bad", [[1, -1], [1.5, 2], [1, None]])
def test_invalid_counts_are_rejected(bad):
    with pytest.raises(ValueError, match="non-negative integers"):
        suppress_counts(pd.Series(bad, dtype=float), 5)


def test_is_reportable():
    assert is_reportable(10, 10)
    assert not is_reportable(9, 10)
    assert is_reportable(1, 1)
    assert not is_reportable(0, 1)


def test_hidden_cells_their_sum_would_tell_get_one_more_beside_them():
    """Two or more cells of 1 (or all of k - 1) beside a shown total are each told by their sum (a clinic's
    flow: 60, two exclusions "<10", 58 analysed; a discipline table of 1, 1 and 50 of 52 alike): a zero
    beside them is hidden too, as "<10", or else the next smallest count is suppressed. A sum that tells
    neither (1 and 2), or no total shown, changes nothing."""
    assert suppress_counts(pd.Series([1, 1, 50]), 10).tolist() == ["<10", "<10", SECONDARY]
    assert suppress_counts(pd.Series([1, 1, 0, 0]), 10).tolist() == ["<10", "<10", "<10", "0"]
    assert suppress_counts(pd.Series([9, 9, 40, 12]), 10).tolist() == ["<10", "<10", "40", SECONDARY]
    assert suppress_counts(pd.Series([1, 2, 50]), 10).tolist() == ["<10", "<10", "50"]
    assert suppress_counts(pd.Series([1, 1, 50]), 10, total_shown=False).tolist() == ["<10", "<10", "50"]
    assert suppress_counts(pd.Series([1, 1]), 10).tolist() == ["<10", "<10"]  # nothing else to hide


def test_a_share_discloses_a_count_of_one_to_k_minus_one_or_the_rest():
    """The one rule for every rate or share of a shown total (the early warning's ROC corners and alert
    tables, the report's shares at a scale's minimum or maximum, H3's ceiling check): a count of 1 to k - 1,
    or leaving that few, is disclosed; none, all, and counts of k or more either way are not. Element-wise
    on arrays; never without a minimum cell size or with a missing number."""
    counts = np.array([0, 1, 9, 10, 22, 23, 31, 32])
    assert discloses(counts, 32, 10).tolist() == [False, True, True, False, False, True, True, False]
    assert discloses(6, 356, 10) is True and discloses(10, 356, 10) is False
    assert discloses(350, 356, 10) is True  # leaves 6
    assert discloses(float("nan"), 356, 10) is False and discloses(6, 356, None) is False
    assert discloses(counts, 32, None).tolist() == [False] * 8
