"""HPA rule and autoscaler against the Kubernetes documentation's worked examples."""

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.ops.autoscaling import (
    HorizontalAutoscaler,
    ResourceSample,
    hpa_desired_replicas,
    replica_seconds,
    resource_summary,
    samples_to_frame,
)

# -- the rule -------------------------------------------------------------------


def test_doc_example_200m_against_100m_doubles():
    # Kubernetes HPA docs: "if the current metric value is 200m, and the desired value
    # is 100m, the number of replicas will be doubled, since 200.0 / 100.0 == 2.0"
    for n in (1, 3, 10):
        assert hpa_desired_replicas(n, 200, 100) == 2 * n


def test_doc_example_50m_against_100m_halves():
    # "If the current value is instead 50m, you'll halve the number of replicas"
    assert hpa_desired_replicas(10, 50, 100) == 5
    assert hpa_desired_replicas(4, 50, 100) == 2
    assert hpa_desired_replicas(3, 50, 100) == 2  # ceil(1.5)


def test_walkthrough_305_percent_cpu_against_50_gives_7():
    # HPA walkthrough (php-apache): CPU at 305% of request with a 50% target -> 7 replicas
    assert hpa_desired_replicas(1, 305, 50) == 7


def test_tolerance_band_is_inclusive_and_symmetric():
    # "skips any scaling action if the ratio is sufficiently close to 1.0 (0.1 by default)"
    assert hpa_desired_replicas(10, 109, 100) == 10
    assert hpa_desired_replicas(10, 110, 100) == 10  # |1.1 - 1| <= 0.1 despite float noise
    assert hpa_desired_replicas(10, 90, 100) == 10
    assert hpa_desired_replicas(10, 111, 100) == 12  # ceil(11.1)
    assert hpa_desired_replicas(10, 89, 100) == 9  # ceil(8.9)
    assert hpa_desired_replicas(10, 111, 100, tolerance=0.2) == 10
    assert hpa_desired_replicas(10, 105, 100, tolerance=0.0) == 11


def test_no_spurious_round_up_from_float_noise():
    assert 0.27 / 0.03 > 9  # the trap: 9.000000000000002, whose ceil is 10
    assert hpa_desired_replicas(1, 0.27, 0.03) == 9
    assert hpa_desired_replicas(1, 0.07, 0.01) == 7


def test_clamped_to_min_and_max():
    assert hpa_desired_replicas(4, 400, 100, max_replicas=10) == 10
    assert hpa_desired_replicas(4, 1, 100, min_replicas=2) == 2
    assert hpa_desired_replicas(4, 0, 100) == 1  # idle fleet scales to min_replicas
    assert hpa_desired_replicas(1000, 200, 100) == 2000  # max None: unbounded
    # within tolerance but outside bounds: still clamped
    assert hpa_desired_replicas(12, 100, 100, max_replicas=10) == 10


def test_zero_replicas_and_missing_metric_mean_no_change():
    assert hpa_desired_replicas(0, 500, 100) == 0  # HPA inactive at zero replicas
    assert hpa_desired_replicas(5, math.nan, 100) == 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"current_replicas": -1}, "current_replicas"),
        ({"current_replicas": 2.5}, "current_replicas"),
        ({"target_metric": 0}, "target_metric"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"current_metric": -1.0}, "current_metric"),
        ({"min_replicas": 5, "max_replicas": 3}, "max_replicas"),
    ],
)
def test_rule_rejects_bad_input(kwargs, match):
    args = {"current_replicas": 2, "current_metric": 1.0, "target_metric": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        hpa_desired_replicas(**args)


@given(
    current=st.integers(1, 200),
    metric=st.floats(0, 50, allow_nan=False),
    target=st.floats(0.05, 10, allow_nan=False),
)
def test_rule_is_the_smallest_fleet_meeting_the_target(current, metric, target):
    desired = hpa_desired_replicas(current, metric, target, tolerance=0.0)
    load = current * metric  # total metric to be spread over the fleet
    if desired > 1:  # not clamped at min
        # enough replicas to bring the per-replica metric to the target, and not one more
        assert desired * target >= load * (1 - 1e-9)
        assert (desired - 1) * target < load * (1 + 1e-9)


# -- the stateful autoscaler ----------------------------------------------------------


def test_scale_down_stabilisation_uses_highest_recommendation_in_window():
    hpa = HorizontalAutoscaler(0.5, min_replicas=1, max_replicas=50, scale_up_limit=False)
    # raw recommendations 10, 6, 4 at t = 0, 60, 120 (current fleet 10)
    assert hpa.recommend(0.0, 10, 0.5) == 10  # raw 10 (ratio 1)
    assert hpa.recommend(60.0, 10, 0.3) == 10  # raw 6, window max 10
    assert hpa.recommend(120.0, 10, 0.2) == 10  # raw 4, window max 10
    # t = 300 + eps: the t=0 recommendation has left the 300 s window; max(6, 4, 4) = 6
    assert hpa.recommend(300.5, 10, 0.2) == 6
    # at t = 361 the t=60 recommendation (6) has also left: max(4, 4, raw) = 4
    assert hpa.recommend(361.0, 6, 2 / 6 * 0.5 * 2) == 4
    assert [d.raw for d in hpa.decisions] == [10, 6, 4, 4, 4]


def test_scale_up_is_immediate_and_not_held_by_window():
    hpa = HorizontalAutoscaler(0.5, min_replicas=1, max_replicas=50, scale_up_limit=False)
    assert hpa.recommend(0.0, 4, 0.5) == 4
    assert hpa.recommend(15.0, 4, 1.5) == 12
    assert hpa.decisions[-1].reason == "scale up"


def test_fresh_autoscaler_waits_a_full_window_before_scaling_down():
    # Kubernetes recordInitialRecommendation seeds the history with the current count
    hpa = HorizontalAutoscaler(0.5, min_replicas=1, max_replicas=50)
    assert hpa.recommend(0.0, 10, 0.1) == 10
    assert hpa.decisions[-1].reason == "scale down held by stabilisation window"
    assert hpa.recommend(299.0, 10, 0.1) == 10
    assert hpa.recommend(300.0, 10, 0.1) == 2


def test_zero_window_follows_the_raw_rule():
    hpa = HorizontalAutoscaler(0.5, 1, 50, scale_down_stabilisation_s=0.0, scale_up_limit=False)
    assert [hpa.recommend(t, 10, m) for t, m in [(0, 1.0), (15, 0.2), (30, 0.05)]] == [20, 4, 1]


def test_default_scale_up_policy_caps_growth_per_period():
    # Kubernetes default scaleUp policy: max(+100 %, +4 pods) per 15 s
    hpa = HorizontalAutoscaler(0.5, 1, 100)
    assert hpa.recommend(0.0, 1, 5.0) == 5  # raw 10, cap max(2, 1 + 4) = 5
    assert hpa.recommend(15.0, 5, 2.0) == 10  # raw 20, cap max(10, 9) = 10
    assert hpa.recommend(30.0, 10, 1.0) == 20  # raw 20, cap 20
    hpa = HorizontalAutoscaler(0.5, 1, 100)
    assert hpa.recommend(0.0, 10, 1.5) == 20  # raw 30, cap 20
    # a second call within the same 15 s period is capped against the period's start
    assert hpa.recommend(5.0, 20, 1.5) == 20


def test_bounds_missing_metric_and_clock():
    hpa = HorizontalAutoscaler(0.6, min_replicas=2, max_replicas=6)
    assert hpa.recommend(0.0, 4, 6.0) == 6
    assert hpa.recommend(15.0, 1, math.nan) == 2  # no data: keep, but within bounds
    assert hpa.decisions[-1].reason == "no metric"
    assert hpa.next_sync_s() == 30.0
    with pytest.raises(ValueError, match="now_s"):
        hpa.recommend(10.0, 4, 0.6)
    frame = hpa.decisions_frame()
    assert list(frame["replicas"]) == [6, 2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target_utilisation": 0}, "target_utilisation"),
        ({"min_replicas": 0}, "min_replicas"),
        ({"min_replicas": 5, "max_replicas": 4}, "max_replicas"),
        ({"sync_period_s": 0}, "sync_period_s"),
        ({"provisioning_delay_s": -1}, "provisioning_delay_s"),
    ],
)
def test_autoscaler_rejects_bad_config(kwargs, match):
    args = {"target_utilisation": 0.5, "min_replicas": 1, "max_replicas": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        HorizontalAutoscaler(**args)


def test_fluid_load_converges_to_ceil_demand_over_target():
    """Demand of 7.2 busy replicas, target 0.6: the fleet settles at ceil(7.2/0.6) = 12,
    then after the load halves it waits out the 300 s window before shrinking to 6."""
    hpa = HorizontalAutoscaler(0.6, min_replicas=1, max_replicas=40)
    replicas = 2
    history = []
    for k in range(80):
        t = 15.0 * k
        demand = 7.2 if t < 600 else 3.6
        util = min(demand, replicas) / replicas  # busy / replicas (saturates at 1)
        replicas = hpa.recommend(t, replicas, util)
        history.append((t, replicas))
    at = dict(history)
    assert at[585.0] == 12
    # held while the last recommendation of 12 (t = 585 s) is inside the 300 s window
    assert at[600.0] == 12 and at[870.0] == 12
    assert at[885.0] == 6 and at[1185.0] == 6


# -- samples and cost -----------------------------------------------------------------------


def test_resource_sample_and_frame():
    s = ResourceSample.from_counts(5.0, "legacy", replicas=4, busy=3, queue_length=2)
    assert (s.utilisation, s.in_flight) == (0.75, 5)
    assert ResourceSample.from_counts(0.0, "m", 0, 0, 0).utilisation == 0.0
    df = samples_to_frame([s, s])
    assert list(df.columns) == [
        "time_s",
        "model",
        "replicas",
        "busy",
        "queue_length",
        "in_flight",
        "utilisation",
    ]
    assert len(df) == 2


def test_replica_seconds_is_a_step_integral_per_model():
    df = pd.DataFrame(
        {
            "time_s": [0.0, 10.0, 30.0, 0.0, 60.0],
            "model": ["a", "a", "a", "b", "b"],
            "replicas": [2, 4, 1, 8, 8],
            "busy": [1, 2, 1, 4, 8],
            "queue_length": [0, 0, 0, 0, 5],
            "utilisation": [0.5, 0.5, 1.0, 0.5, 1.0],
        }
    )
    cost = replica_seconds(df, end_s=60.0)
    assert cost["a"] == 2 * 10 + 4 * 20 + 1 * 30  # 130
    assert cost["b"] == 8 * 60
    summary = resource_summary(df, end_s=60.0).set_index("model")
    assert summary.loc["a", "mean_replicas"] == pytest.approx(130 / 60)
    assert summary.loc["b", "peak_queue_length"] == 5
    with pytest.raises(ValueError, match="end_s"):
        replica_seconds(df, end_s=20.0)
    with pytest.raises(ValueError, match="replicas"):
        replica_seconds(df.drop(columns="replicas"))
