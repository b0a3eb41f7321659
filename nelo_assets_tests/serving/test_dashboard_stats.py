"""Wilson intervals and the two-proportion z-test against numbers worked out by hand."""

from __future__ import annotations

import pytest

from nelo_assets.serving.dashboard.stats import (
    same_as_next,
    two_proportion_p_value,
    wilson_interval,
)


def test_wilson_interval_of_8_in_10() -> None:
    # p = 0.8, z^2 = 3.8415, z^2/n = 0.38415; centre = (0.8 + 0.19207) / 1.38415 = 0.71674;
    # half = 1.96 * sqrt(0.016 + 0.0096037) / 1.38415 = 1.96 * 0.16001 / 1.38415 = 0.22658.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)


def test_wilson_interval_of_none_in_10_starts_at_zero() -> None:
    # p = 0: centre = half = 0.19207 / 1.38415 = 0.13876, so (0, 0.27753).
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.27753, abs=1e-4)


def test_wilson_interval_does_not_exist_without_trials_or_above_them() -> None:
    assert wilson_interval(0, 0) is None
    assert wilson_interval(3, 2) is None  # clickers who viewed the list the day before
    assert wilson_interval(None, 5) is None


def test_two_proportion_z_test() -> None:
    # 30/100 vs 20/100: pooled 0.25, se = sqrt(0.25 * 0.75 * 0.02) = 0.061237, z = 1.63299,
    # two-sided p = 0.10247: not significant at 5%.
    assert two_proportion_p_value(30, 100, 20, 100) == pytest.approx(0.10247, abs=1e-4)
    # 45/100 vs 20/100: pooled 0.325, se = sqrt(0.325 * 0.675 * 0.02) = 0.066238,
    # z = 3.77427, p = 0.00016: significant.
    assert two_proportion_p_value(45, 100, 20, 100) == pytest.approx(0.000160, abs=1e-5)
    assert two_proportion_p_value(0, 10, 0, 20) == 1.0  # both 0: no difference
    assert two_proportion_p_value(1, 0, 1, 10) is None


def test_same_as_next_marks_neighbouring_ranks() -> None:
    # ranks 45/100, 30/100, 20/100, 5/0: 45 vs 30 -> z = 2.19 (p = 0.028), different;
    # 30 vs 20 -> p = 0.102, the same; 20/100 vs an empty group: undefined; last row: None.
    assert same_as_next([45, 30, 20, 5], [100, 100, 100, 0]) == [False, True, None, None]
