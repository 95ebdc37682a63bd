"""Detection-quality report: hand-built cases, and CUSUM's known run lengths recovered
through the CD-MOA measures (Bifet et al. 2013)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.experiments.detection import (
    FaultWindow,
    detection_table,
    evaluate_detection,
    summarize_detection,
)
from workbench.monitoring.detectors import Cusum, cusum_arl


def test_hand_built_run():
    faults = [FaultWindow(100.0, 200.0, "latency_spike"), FaultWindow(500.0, 600.0, "error_burst")]
    alarms = [20.0, 150.0, 160.0, 205.0, 700.0, 900.0]
    rep = evaluate_detection(alarms, faults, run_end_s=1000.0)
    f = rep.faults
    assert f["detected"].tolist() == [True, False]
    assert f["delay_s"].iloc[0] == 50.0 and math.isnan(f["delay_s"].iloc[1])
    assert f["n_alarms"].tolist() == [2, 0]
    # 20, 205 (after the end, no grace), 700 and 900 are false; 160 is a repeat, not false
    assert rep.false_alarms["time_s"].tolist() == [20.0, 205.0, 700.0, 900.0]
    assert rep.n_alarms == 6 and rep.n_detected == 1 and rep.n_missed == 1
    assert rep.fault_free_s == 800.0


def test_grace_period_extends_the_detection_window():
    rep = evaluate_detection([205.0], [(100.0, 200.0)], run_end_s=1000.0, grace_s=10.0)
    assert rep.faults["detected"].iloc[0] and rep.faults["delay_s"].iloc[0] == 105.0
    assert rep.n_false_alarms == 0 and rep.fault_free_s == 890.0


def test_delay_in_requests_from_times_or_indices():
    times = np.arange(0.0, 300.0, 0.25)  # 4 requests per second
    by_time = evaluate_detection([110.0], [(100.0, 200.0)], run_end_s=300.0, request_times_s=times)
    # requests at 100.00, 100.25, ..., 110.00: 41 of them up to and including the alarm's
    assert by_time.faults["delay_requests"].iloc[0] == 41.0
    by_index = evaluate_detection([110.1], [(100.0, 200.0)], run_end_s=300.0,
                                  request_times_s=times, alarm_request_indices=[440])
    assert by_index.faults["delay_requests"].iloc[0] == 41.0
    assert by_time.fault_free_requests == np.sum((times < 100.0) | (times > 200.0))


def test_faults_from_dataframe_with_duration_and_kind_and_overlaps():
    faults = pd.DataFrame({"kind": ["latency_spike", "outage"], "start_s": [100.0, 150.0],
                           "duration_s": [100.0, 100.0]})
    rep = evaluate_detection([160.0], faults, run_end_s=1000.0)
    assert rep.faults["label"].tolist() == ["latency_spike", "outage"]
    assert rep.faults["detected"].tolist() == [True, True]
    assert rep.faults["delay_s"].tolist() == [60.0, 10.0]
    assert rep.fault_free_s == 1000.0 - 150.0  # union [100, 250]


def test_summary_cd_moa_measures_by_hand():
    r1 = evaluate_detection([120.0, 800.0], [(100.0, 200.0)], run_end_s=1000.0)
    r2 = evaluate_detection([], [(100.0, 200.0)], run_end_s=1000.0)
    r3 = evaluate_detection([140.0, 300.0, 400.0], [(100.0, 200.0)], run_end_s=1000.0)
    s = summarize_detection([r1, r2, r3])
    assert (s.n_runs, s.n_faults, s.n_detected, s.n_false_alarms) == (3, 3, 2, 3)
    assert s.missed_detection_rate == pytest.approx(1 / 3)
    assert s.mean_time_to_detect_s == pytest.approx(30.0)
    assert s.mean_time_between_false_alarms_s == pytest.approx(2700.0 / 3)
    assert s.false_alarms_per_hour == pytest.approx(3 / 2700.0 * 3600.0)
    assert s.mean_time_ratio == pytest.approx(900.0 / 30.0 * (2 / 3))
    table = detection_table({"a": [r1, r2, r3], "b": [r1]})
    assert table["monitor"].tolist() == ["a", "b"]
    assert table["mean_time_between_false_alarms_s"].tolist() == pytest.approx([900.0, 900.0])


def test_no_false_alarm_gives_infinite_mtfa_and_nothing_detected_gives_nan():
    s = summarize_detection([evaluate_detection([150.0], [(100.0, 200.0)], run_end_s=500.0)])
    assert math.isinf(s.mean_time_between_false_alarms_s)
    s2 = summarize_detection([evaluate_detection([], [(100.0, 200.0)], run_end_s=500.0)])
    assert s2.missed_detection_rate == 1.0 and math.isnan(s2.mean_time_to_detect_s)


def test_cusum_run_lengths_recovered_across_seeds():
    # One observation per second; a one-sigma shift over [1000 s, 1200 s); known in-control
    # parameters. CD-MOA figures over 20 seeds must agree with the CUSUM's theory:
    # MTFA ~ ARL0 ~ 469 s (Siegmund), MTD ~ ARL1 - 1 ~ 9.4 s (Montgomery: ARL1 10.4).
    reports = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.normal(0.0, 1.0, 2000)
        x[1000:1200] += 1.0
        det = Cusum(k=0.5, h=5.0, mean=0.0, std=1.0)
        alarms = [float(i) for i, v in enumerate(x) if det.update(v)]
        reports.append(evaluate_detection(alarms, [(1000.0, 1199.0, "shift")], run_end_s=1999.0,
                                          request_times_s=np.arange(2000.0)))
    s = summarize_detection(reports)
    assert s.missed_detection_rate == 0.0
    assert 6.0 <= s.mean_time_to_detect_s <= 13.0
    assert s.mean_time_to_detect_requests == pytest.approx(s.mean_time_to_detect_s + 1.0)
    assert s.mean_time_between_false_alarms_s == pytest.approx(cusum_arl(0.5, 5.0), rel=0.25)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"run_end_s": 0.0}, "run_end_s"), ({"run_end_s": 10.0, "grace_s": -1.0}, "grace_s"),
     ({"run_end_s": 10.0, "alarm_request_indices": [1]}, "alarm_request_indices")],
)
def test_invalid_arguments_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate_detection([1.0], [(0.0, 5.0)], **kwargs)


def test_invalid_faults_named():
    with pytest.raises(ValueError, match="faults"):
        evaluate_detection([], [(5.0, 1.0)], run_end_s=10.0)
    with pytest.raises(ValueError, match="faults"):
        evaluate_detection([], [{"end_s": 3.0}], run_end_s=10.0)
    with pytest.raises(ValueError, match="reports"):
        summarize_detection([])
