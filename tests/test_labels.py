"""Late labels are handed out once each, after the request finished, ok requests only."""

from __future__ import annotations

from array import array

import numpy as np

from workbench.engine.labels import LabelPump


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
