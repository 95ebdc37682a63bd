"""Late labels are handed out once each, after the request finished, ok requests only."""

from __future__ import annotations

from array import array

import numpy as np
import pytest

import workbench
from workbench.engine.labels import LabelPump
from workbench.strategies import Strategy

# label_delay_s shorter than some services: labels often arrive before their request ends
LATE = {
    "name": "labels", "duration_s": 200,
    "traffic": {"rate_per_s": 20, "label_delay_s": 2.0},
    "models": {"legacy": {"latency": {"dist": "exponential", "mean_ms": 1500}, "replicas": 40, "timeout_ms": 4000,
                          "error_rate": 0.05},
               "candidate": {"latency": {"dist": "constant", "ms": 100}, "replicas": 4, "error_rate": 0.05}},
}


def test_label_pump_hands_out_each_ok_label_once_and_waits_for_in_flight_requests():
    label_time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    status = array("b", [0, 1, -1, 0, 0])  # ok, error, in flight, ok, ok
    pump = LabelPump(label_time, status)
    assert pump.pump(0.5).tolist() == []
    assert pump.pump(3.0).tolist() == [0]  # 1 failed (skipped), 2 still in flight
    assert pump.pump(3.5).tolist() == []  # nothing new, 2 still waits
    status[2] = 0  # request 2 finishes
    assert pump.pump(4.0).tolist() == [2, 3]
    assert pump.pump(10.0).tolist() == [4]
    assert pump.pump(10.0).tolist() == []


def test_label_pump_drops_a_late_request_that_ends_in_failure():
    status = array("b", [-1, 0])
    pump = LabelPump(np.array([1.0, 2.0]), status)
    assert pump.pump(2.0).tolist() == [1]
    status[0] = 2  # the request in flight timed out: no prediction to score
    assert pump.pump(3.0).tolist() == []
    assert pump.pump(9.0).tolist() == []


class Learner(Strategy):
    """Alternates models and records every label the engine delivers."""

    kind = "learner"
    wants_labels = True

    def __init__(self):
        super().__init__()
        self.labels: list[tuple[int, str, float, float, float]] = []

    def route(self, request):
        return "candidate" if request.request_id % 2 else "legacy"

    def on_label(self, request_id, model, time_s, prediction, label):
        self.labels.append((request_id, model, time_s, prediction, label))


def test_a_run_delivers_each_ok_label_once_after_the_label_and_the_answer():
    learner = Learner()
    r = workbench.run(LATE, seed=6, strategy=learner)
    req = r.requests.set_index("request_id")
    got = learner.labels
    ids = [i for i, *_ in got]
    assert len(ids) == len(set(ids))
    # every ok request whose label arrived, and whose answer came, by the last delivery (1 s steps)
    due = req[(req.status == "ok") & (req.label_time_s <= 200.0) & (req.end_time_s <= 200.0)]
    assert set(ids) == set(due.index)
    assert (req.loc[ids, "status"] == "ok").all()
    for i, model, t, prediction, label in got:
        row = req.loc[i]
        assert model == row.model and prediction == row.prediction and label == row.label
        assert t >= row.label_time_s and t >= row.end_time_s and t == int(t)  # delivered on a 1 s step
        assert t - max(row.label_time_s, row.end_time_s) < 1.0
    # some labels arrived while their request was still running and waited for it
    waited = [i for i, _, t, _, _ in got if req.loc[i, "end_time_s"] > req.loc[i, "label_time_s"] + 1.0]
    assert waited
    assert learner.labels == sorted(learner.labels, key=lambda x: x[2])  # delivered in time order
    assert len(got) == pytest.approx(0.95 * len(req), rel=0.05)
