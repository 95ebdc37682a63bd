"""The shared threshold check: pass, fail, and inconclusive for missing data."""

import math

import pytest

from workbench.stats import check_threshold
from workbench.stats.thresholds import FAIL, INCONCLUSIVE, PASS, ThresholdCheck


@pytest.mark.parametrize("value, direction, outcome", [
    (0.04, "max", PASS), (0.05, "max", PASS), (0.06, "max", FAIL),
    (0.06, "min", PASS), (0.05, "min", PASS), (0.04, "min", FAIL),
])
def test_direction_and_equality(value, direction, outcome):
    r = check_threshold(value, 0.05, direction, n=100, min_samples=50)
    assert isinstance(r, ThresholdCheck)
    assert r.outcome == outcome and r.why == "" and r.value == value
    assert r.failed == (outcome == FAIL) and r.passed == (outcome == PASS) and not r.inconclusive
    assert r.breach_sign == (">" if direction == "max" else "<")


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("direction", ["max", "min"])
def test_missing_or_non_finite_value_is_inconclusive_never_pass(value, direction):
    r = check_threshold(value, 0.05, direction, n=100, min_samples=50)
    assert r.outcome == INCONCLUSIVE and r.inconclusive and r.why == "not_finite"
    assert math.isnan(r.value)


def test_too_few_samples_is_inconclusive_before_the_value_is_read():
    r = check_threshold(0.9, 0.05, "max", n=10, min_samples=50)
    assert (r.outcome, r.why, r.value, r.n, r.min_samples) == (INCONCLUSIVE, "too_few_samples", 0.9, 10, 50)
    assert math.isnan(check_threshold(None, 0.05, n=0, min_samples=1).value)
    # without a sample requirement the value alone decides
    assert check_threshold(0.9, 0.05).outcome == FAIL


def test_bad_direction():
    with pytest.raises(ValueError, match="direction"):
        check_threshold(0.1, 0.05, "above")
