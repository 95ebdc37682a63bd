"""Detection quality: how fast, and how reliably, monitors raise alarms for known faults.

Scoring against fault windows (:func:`evaluate_detection`): each fault
``[start_s, end_s]`` (plus an optional ``grace_s`` after its end, for monitors that need
a little evidence) is *detected* by the first alarm inside that window, with its delay
in seconds and in requests; alarms outside every fault window are *false alarms*.
Across runs (seeds) the CD-MOA measures of Bifet, Read, Pfahringer, Holmes and
Zliobaite ("CD-MOA: Change detection framework for massive online analysis", IDA 2013)
are pooled (:func:`summarize_detection`, :func:`detection_table`):

* MTD, mean time to detection: mean delay over detected faults;
* MTFA, mean time between false alarms: fault-free monitored time / false alarms
  (infinite when there is none);
* MDR, missed detection rate: missed faults / faults;
* MTR, mean time ratio: ``MTFA / MTD x (1 - MDR)`` (larger is better).

Runs (:func:`detection_quality`, :func:`detection_quality_over_seeds`): a run's
monitors (alerts, failed gates, rollbacks) scored against the faults its scenario
injected. :func:`candidate_fault_windows` is the one definition of the faults that
make a candidate bad, shared by paired comparisons and sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..result import RunResult
    from ..scenario import Scenario

__all__ = [
    "DetectionReport",
    "DetectionSummary",
    "FaultWindow",
    "candidate_fault_windows",
    "detection_quality",
    "detection_quality_over_seeds",
    "detection_reports",
    "detection_table",
    "evaluate_detection",
    "fault_windows",
    "summarize_detection",
    "union_length",
]


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class FaultWindow:
    """A fault active over ``[start_s, end_s]``."""

    start_s: float
    end_s: float
    label: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise ValueError(f"faults: start_s and end_s must be finite, got {self.start_s!r}, {self.end_s!r}")
        if self.end_s < self.start_s:
            raise ValueError(f"faults: end_s ({self.end_s}) is before start_s ({self.start_s})")


def _as_faults(faults: Any) -> list[FaultWindow]:
    if isinstance(faults, pd.DataFrame):
        faults = faults.to_dict("records")
    out: list[FaultWindow] = []
    for i, f in enumerate(faults):
        if isinstance(f, FaultWindow):
            out.append(f)
        elif isinstance(f, Mapping):
            if "start_s" not in f:
                raise ValueError(f"faults[{i}]: needs 'start_s'")
            start = float(f["start_s"])
            if "end_s" in f and f["end_s"] is not None:
                end = float(f["end_s"])
            elif "duration_s" in f:
                end = start + float(f["duration_s"])
            else:
                raise ValueError(f"faults[{i}]: needs 'end_s' or 'duration_s'")
            label = f.get("label", f.get("kind", ""))
            out.append(FaultWindow(start, end, "" if label is None else str(label)))
        else:
            t = tuple(f)
            if len(t) not in (2, 3):
                raise ValueError(f"faults[{i}]: expected (start_s, end_s[, label]), got {f!r}")
            out.append(FaultWindow(float(t[0]), float(t[1]), str(t[2]) if len(t) == 3 else ""))
    return out


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping ``(start, end)`` intervals.

    Examples
    --------
    >>> union_length([(0.0, 10.0), (5.0, 15.0), (20.0, 25.0)])
    20.0
    """
    total = 0.0
    cur_a = cur_b = None
    for a, b in sorted(intervals):
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


@dataclass(frozen=True, eq=False)
class DetectionReport:
    """Detection quality of one monitor in one run.

    Attributes
    ----------
    faults : pandas.DataFrame
        One row per fault: ``fault, label, start_s, end_s, detected, first_alarm_s,
        delay_s, delay_requests, n_alarms`` (delays NaN when missed; ``delay_requests``
        NaN without request times).
    false_alarms : pandas.DataFrame
        ``time_s, request_index`` of every alarm outside all fault windows.
    n_alarms : int
        All alarms considered.
    fault_free_s : float
        Monitored time outside the fault windows (the MTFA denominator).
    fault_free_requests : float
        Requests outside the fault windows (NaN without request times).
    run_start_s, run_end_s, grace_s : float
    """

    faults: pd.DataFrame
    false_alarms: pd.DataFrame
    n_alarms: int
    fault_free_s: float
    fault_free_requests: float
    run_start_s: float
    run_end_s: float
    grace_s: float

    @property
    def n_faults(self) -> int:
        """Number of fault windows in the run."""
        return len(self.faults)

    @property
    def n_detected(self) -> int:
        """Faults with at least one alarm inside their window (plus grace)."""
        return int(self.faults["detected"].sum())

    @property
    def n_missed(self) -> int:
        """Faults the monitor never alarmed on."""
        return self.n_faults - self.n_detected

    @property
    def n_false_alarms(self) -> int:
        """Alarms outside every fault window."""
        return len(self.false_alarms)

    @property
    def summary(self) -> DetectionSummary:
        """CD-MOA measures for this run alone."""
        return summarize_detection([self])


def evaluate_detection(alarm_times_s: Sequence[float] | np.ndarray, faults: Any, *,
                       run_end_s: float, run_start_s: float = 0.0, grace_s: float = 0.0,
                       request_times_s: Sequence[float] | np.ndarray | None = None,
                       alarm_request_indices: Sequence[int] | np.ndarray | None = None,
                       ) -> DetectionReport:
    """Score the alarms of one monitor in one run against known fault windows.

    Parameters
    ----------
    alarm_times_s : sequence of float
        When the monitor alarmed (any order; NaN ignored).
    faults : sequence or DataFrame
        :class:`FaultWindow` objects, ``(start_s, end_s[, label])`` tuples, or mappings /
        DataFrame rows with ``start_s`` and ``end_s`` (or ``duration_s``) and optionally
        ``label`` (or ``kind``).
    run_end_s, run_start_s : float
        The monitored interval.
    grace_s : float
        Alarms up to ``grace_s`` after a fault ends still count as detecting it.
    request_times_s : sequence of float, optional
        Sorted arrival times of the requests, for delays in requests: a fault's first
        request is the first arriving at or after ``start_s``; ``delay_requests`` counts
        requests from it up to and including the one at which the alarm was raised.
    alarm_request_indices : sequence of int, optional
        Index (into ``request_times_s``) of the request at which each alarm was raised;
        by default the last request arriving at or before the alarm time.

    Returns
    -------
    DetectionReport

    Examples
    --------
    >>> rep = evaluate_detection([50.0, 130.0, 400.0], [(100.0, 200.0, "latency"), (300.0, 350.0)],
    ...                          run_end_s=500.0, request_times_s=np.arange(0.0, 500.0, 0.5))
    >>> rep.faults["detected"].tolist()
    [True, False]
    >>> row = rep.faults.iloc[0]
    >>> row["label"], float(row["delay_s"]), float(row["delay_requests"])
    ('latency', 30.0, 61.0)
    >>> rep.n_false_alarms, rep.fault_free_s
    (2, 350.0)
    """
    if not (math.isfinite(run_start_s) and math.isfinite(run_end_s)) or run_end_s <= run_start_s:
        raise ValueError(f"run_end_s: must be after run_start_s, got {run_start_s!r}..{run_end_s!r}")
    if not (grace_s >= 0):
        raise ValueError(f"grace_s: must be >= 0, got {grace_s!r}")
    fw = _as_faults(faults)
    alarms = np.asarray(alarm_times_s, dtype=float).ravel()
    if alarm_request_indices is not None:
        idx = np.asarray(alarm_request_indices, dtype=float).ravel()
        if idx.shape != alarms.shape:
            raise ValueError("alarm_request_indices: must have one entry per alarm")
        if request_times_s is None:
            raise ValueError("alarm_request_indices: needs request_times_s too")
    else:
        idx = None
    keep = ~np.isnan(alarms)
    alarms = alarms[keep]
    if idx is not None:
        idx = idx[keep]
    order = np.argsort(alarms, kind="stable")
    alarms = alarms[order]
    rt = None
    if request_times_s is not None:
        rt = np.asarray(request_times_s, dtype=float).ravel()
        if rt.size > 1 and np.any(np.diff(rt) < 0):
            raise ValueError("request_times_s: must be sorted")
        if idx is None:
            idx = (np.searchsorted(rt, alarms, side="right") - 1).astype(float)
        else:
            idx = idx[order]
    in_any = np.zeros(alarms.size, dtype=bool)
    rows = []
    for i, f in enumerate(fw):
        lo, hi = f.start_s, f.end_s + grace_s
        inside = (alarms >= lo) & (alarms <= hi)
        in_any |= inside
        hits = np.flatnonzero(inside)
        detected = hits.size > 0
        first = float(alarms[hits[0]]) if detected else math.nan
        delay_req = math.nan
        if detected and rt is not None:
            first_req = int(np.searchsorted(rt, f.start_s, side="left"))
            delay_req = float(idx[hits[0]] - first_req + 1)
        rows.append({"fault": i, "label": f.label, "start_s": f.start_s, "end_s": f.end_s,
                     "detected": bool(detected), "first_alarm_s": first,
                     "delay_s": first - f.start_s if detected else math.nan,
                     "delay_requests": delay_req, "n_alarms": int(hits.size)})
    fault_cols = ["fault", "label", "start_s", "end_s", "detected", "first_alarm_s", "delay_s",
                  "delay_requests", "n_alarms"]
    faults_df = pd.DataFrame(rows, columns=fault_cols)
    faults_df["detected"] = faults_df["detected"].astype(bool)
    false_mask = ~in_any & (alarms >= run_start_s) & (alarms <= run_end_s)
    false_df = pd.DataFrame({
        "time_s": alarms[false_mask],
        "request_index": idx[false_mask] if idx is not None else np.full(int(false_mask.sum()), np.nan),
    })
    windows = [(max(f.start_s, run_start_s), min(f.end_s + grace_s, run_end_s)) for f in fw]
    windows = [(a, b) for a, b in windows if b > a]
    fault_free_s = (run_end_s - run_start_s) - union_length(windows)
    fault_free_requests = math.nan
    if rt is not None:
        in_run = (rt >= run_start_s) & (rt <= run_end_s)
        in_fault = np.zeros(rt.size, dtype=bool)
        for f in fw:
            in_fault |= (rt >= f.start_s) & (rt <= f.end_s + grace_s)
        fault_free_requests = float(np.sum(in_run & ~in_fault))
    n_alarms = int(np.sum((alarms >= run_start_s) & (alarms <= run_end_s)))
    return DetectionReport(faults=faults_df, false_alarms=false_df, n_alarms=n_alarms,
                           fault_free_s=float(fault_free_s), fault_free_requests=fault_free_requests,
                           run_start_s=float(run_start_s), run_end_s=float(run_end_s),
                           grace_s=float(grace_s))


@dataclass(frozen=True)
class DetectionSummary:
    """CD-MOA measures pooled over runs (Bifet et al. 2013).

    ``mean_time_between_false_alarms_s`` is infinite when no false alarm happened;
    ``mean_time_to_detect_s`` is NaN when nothing was detected.
    """

    n_runs: int
    n_faults: int
    n_detected: int
    missed_detection_rate: float
    mean_time_to_detect_s: float
    mean_time_to_detect_requests: float
    n_false_alarms: int
    fault_free_s: float
    mean_time_between_false_alarms_s: float
    mean_requests_between_false_alarms: float
    false_alarms_per_hour: float
    mean_time_ratio: float

    def as_dict(self) -> dict[str, float]:
        """The measures as a plain dict, one key per field (for a table row)."""
        return dict(self.__dict__)


def summarize_detection(reports: Sequence[DetectionReport]) -> DetectionSummary:
    """Pool per-run reports (e.g. one per seed) into the CD-MOA measures.

    Examples
    --------
    >>> a = evaluate_detection([110.0], [(100.0, 200.0)], run_end_s=1000.0)
    >>> b = evaluate_detection([130.0, 700.0], [(100.0, 200.0)], run_end_s=1000.0)
    >>> s = summarize_detection([a, b])
    >>> s.mean_time_to_detect_s, s.missed_detection_rate, s.mean_time_between_false_alarms_s
    (20.0, 0.0, 1800.0)
    >>> s.mean_time_ratio
    90.0
    """
    reports = list(reports)
    if not reports:
        raise ValueError("reports: need at least one DetectionReport")
    faults = pd.concat([r.faults for r in reports], ignore_index=True)
    n_faults = len(faults)
    detected = faults[faults["detected"]]
    n_detected = len(detected)
    mdr = (n_faults - n_detected) / n_faults if n_faults else math.nan
    mtd = float(detected["delay_s"].mean()) if n_detected else math.nan
    req = detected["delay_requests"].dropna()
    mtd_req = float(req.mean()) if len(req) else math.nan
    n_false = sum(r.n_false_alarms for r in reports)
    free_s = float(sum(r.fault_free_s for r in reports))
    free_req = float(sum(r.fault_free_requests for r in reports))
    mtfa = free_s / n_false if n_false else math.inf
    mrfa = (free_req / n_false if n_false else math.inf) if not math.isnan(free_req) else math.nan
    per_hour = n_false / free_s * 3600.0 if free_s > 0 else math.nan
    if n_detected and mtd > 0:
        mtr = mtfa / mtd * (1.0 - mdr)
    elif n_detected:
        mtr = math.inf
    else:
        mtr = math.nan
    return DetectionSummary(
        n_runs=len(reports), n_faults=n_faults, n_detected=n_detected,
        missed_detection_rate=mdr, mean_time_to_detect_s=mtd,
        mean_time_to_detect_requests=mtd_req, n_false_alarms=n_false, fault_free_s=free_s,
        mean_time_between_false_alarms_s=mtfa, mean_requests_between_false_alarms=mrfa,
        false_alarms_per_hour=per_hour, mean_time_ratio=mtr)


def detection_table(reports_by_monitor: Mapping[str, Sequence[DetectionReport]]) -> pd.DataFrame:
    """One row of CD-MOA measures per monitor (columns of :class:`DetectionSummary`).

    Examples
    --------
    >>> runs = {"adwin": [evaluate_detection([120.0], [(100.0, 200.0)], run_end_s=1000.0)]}
    >>> table = detection_table(runs)
    >>> table["monitor"].tolist(), table["mean_time_to_detect_s"].tolist(), table["n_false_alarms"].tolist()
    (['adwin'], [20.0], [0])
    """
    rows = []
    for name, reps in reports_by_monitor.items():
        rows.append({"monitor": name, **summarize_detection(reps).as_dict()})
    cols = ["monitor", *DetectionSummary.__dataclass_fields__]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- runs
def fault_windows(scenario: Scenario) -> list[tuple[float, float, str]]:
    """Every fault of ``scenario`` as ``(start_s, end_s, label)``, clipped to the run.

    ``label`` is ``"<kind>#<index in scenario.faults>"``; a fault without an end lasts
    until the run ends.
    """
    return [
        (f.start_s, min(f.end_s, scenario.duration_s), f"{f.kind}#{k}")
        for k, f in enumerate(scenario.faults)
    ]


def candidate_fault_windows(scenario: Scenario, *,
                            include_concept_drift: bool = False) -> list[tuple[float, float]]:
    """The candidate's faults as ``(start_s, end_s)`` windows, clipped to the run.

    A candidate fault is a fault whose ``target`` is the candidate (a latency spike,
    error burst or outage): it makes the candidate worse than legacy, so a run with
    one has a bad candidate, and a run without one a good candidate (the
    ``candidate_faults`` count of a sweep). With ``include_concept_drift``, concept
    drift windows are added: the world changes, so the candidate's predictions
    degrade too (as every model's do), although it is no worse than legacy; paired
    comparisons time detection from the first of these windows.

    Examples
    --------
    >>> from workbench.scenario import load_scenario
    >>> sc = load_scenario({"name": "f", "duration_s": 600,
    ...                     "models": {"legacy": {}, "candidate": {}},
    ...                     "faults": [{"kind": "error_burst", "target": "candidate",
    ...                                 "start_s": 100, "error_rate": 0.1},
    ...                                {"kind": "error_burst", "target": "legacy",
    ...                                 "start_s": 100, "error_rate": 0.1},
    ...                                {"kind": "concept_drift", "start_s": 300,
    ...                                 "duration_s": 60}]})
    >>> candidate_fault_windows(sc)
    [(100.0, 600.0)]
    >>> candidate_fault_windows(sc, include_concept_drift=True)
    [(100.0, 600.0), (300.0, 360.0)]
    """
    return [
        (f.start_s, min(f.end_s, scenario.duration_s))
        for f in scenario.faults
        if getattr(f, "target", None) == "candidate"
        or (include_concept_drift and f.kind == "concept_drift")
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
    faults = fault_windows(result.scenario)
    times = result.requests["time_s"].to_numpy()
    return {
        monitor: evaluate_detection(
            alarms, faults, run_end_s=result.scenario.duration_s, grace_s=grace_s, request_times_s=times
        )
        for monitor, alarms in _alarm_times(result).items()
    }


def detection_quality(result: RunResult, grace_s: float = 0.0) -> pd.DataFrame:
    """One row per (monitor, fault) of one run.

    Each row says whether the fault was detected, the delay in seconds and in
    requests, and the monitor's false alarms outside fault windows.
    """
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
    """CD-MOA figures per monitor across runs (Bifet et al. 2013).

    The figures are mean time to detect, mean time between false alarms and
    missed detection rate.

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
                rep = evaluate_detection([], fault_windows(r.scenario), run_end_s=r.scenario.duration_s, grace_s=grace_s,
                                         request_times_s=r.requests["time_s"].to_numpy())
            by_monitor[monitor].append(rep)
    return detection_table(by_monitor)
