"""Detection quality of a run's monitors against the faults it injected (known timing)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..result import RunResult
from .detection_scoring import DetectionReport, detection_table, evaluate_detection

__all__ = ["detection_reports", "detection_quality", "detection_quality_over_seeds"]


def _fault_windows(result: RunResult) -> list[tuple[float, float, str]]:
    sc = result.scenario
    return [
        (f.start_s, min(f.end_s, sc.duration_s), f"{f.kind}#{k}")
        for k, f in enumerate(sc.faults)
    ]


def _alarm_times(result: RunResult) -> dict[str, list[float]]:
    """Alarm times per monitor: monitoring alerts, failed gates and rollbacks."""
    ev = result.events
    out: dict[str, list[float]] = {}
    alerts = ev[ev["kind"] == "alert"]
    for source, part in alerts.groupby("source", sort=True):
        out[str(source).removeprefix("monitor:")] = part["time_s"].tolist()
    gates = ev[ev["kind"] == "gate_failed"]
    if len(gates):
        out["gates"] = gates["time_s"].tolist()
    rb = ev[ev["kind"] == "rollback"]
    if len(rb):
        out["rollback"] = rb["time_s"].tolist()
    return out


def detection_reports(result: RunResult, grace_s: float = 0.0) -> dict[str, DetectionReport]:
    """Per monitor: which injected faults it detected, with what delay, and its false alarms."""
    faults = _fault_windows(result)
    times = result.requests["time_s"].to_numpy()
    return {
        monitor: evaluate_detection(
            alarms, faults, run_end_s=result.scenario.duration_s, grace_s=grace_s, request_times_s=times
        )
        for monitor, alarms in _alarm_times(result).items()
    }


def detection_quality(result: RunResult, grace_s: float = 0.0) -> pd.DataFrame:
    """One row per (monitor, fault): detected or missed, delay in seconds and requests,
    plus the monitor's false alarms outside fault windows."""
    rows = []
    for monitor, rep in detection_reports(result, grace_s).items():
        frame = rep.faults.copy()
        frame.insert(0, "monitor", monitor)
        frame["false_alarms"] = rep.n_false_alarms
        rows.append(frame)
    if not rows:
        return pd.DataFrame(columns=["monitor", "fault", "label", "start_s", "end_s", "detected",
                                     "first_alarm_s", "delay_s", "delay_requests", "n_alarms", "false_alarms"])
    return pd.concat(rows, ignore_index=True)


def detection_quality_over_seeds(results: Sequence[RunResult], grace_s: float = 0.0) -> pd.DataFrame:
    """CD-MOA figures per monitor across runs (Bifet et al. 2013): mean time to detect,
    mean time between false alarms, missed detection rate.

    A monitor that never alarmed in a run missed every fault of that run, whatever the
    order of the runs.
    """
    per_run = [detection_reports(r, grace_s) for r in results]
    monitors = sorted({m for reports in per_run for m in reports})
    by_monitor: dict[str, list[DetectionReport]] = {m: [] for m in monitors}
    for r, reports in zip(results, per_run, strict=True):
        for monitor in monitors:
            rep = reports.get(monitor)
            if rep is None:
                rep = evaluate_detection([], _fault_windows(r), run_end_s=r.scenario.duration_s, grace_s=grace_s,
                                         request_times_s=r.requests["time_s"].to_numpy())
            by_monitor[monitor].append(rep)
    return detection_table(by_monitor)
