"""How sure a user-based rate is: Wilson score intervals and the two-proportion z-test.

Plain functions over counts, for rates whose numerator is a subset of its denominator (users who
clicked among users who viewed). Item-based rates (quantities, may exceed 1) get no interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The two-sided 95% normal quantile.
Z_95 = 1.959963984540054
ALPHA = 0.05


def wilson_interval(
    successes: int | None, trials: int | None, z: float = Z_95
) -> tuple[float, float] | None:
    """The Wilson score interval of successes / trials; None when it does not exist: no trials,
    or more successes than trials (a user who clicked a list viewed the day before, say)."""
    if not trials or successes is None or not 0 <= successes <= trials:
        return None
    p, z2 = successes / trials, z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 = x2/n2; None when the test
    is undefined (an empty group, or a count above its group)."""
    if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        return None
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0  # both rates are 0 (or both 1): no difference at all
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def same_as_next(
    successes: Sequence[int], trials: Sequence[int], alpha: float = ALPHA
) -> list[bool | None]:
    """For rows in rank order: True where a row's rate is not significantly different from the
    next row's (z-test at `alpha`), False where it is; None for the last row and where the test
    is undefined."""
    marks: list[bool | None] = []
    for i in range(len(successes)):
        if i + 1 == len(successes):
            marks.append(None)
            continue
        p = two_proportion_p_value(successes[i], trials[i], successes[i + 1], trials[i + 1])
        marks.append(None if p is None else p >= alpha)
    return marks
