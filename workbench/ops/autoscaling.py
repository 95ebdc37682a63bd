"""Replica autoscaling for the simulated model servers (Kubernetes HPA rule).

The quantities are those of the *simulated* fleet, not of the host the simulation
runs on: per model, replicas, busy replicas, queue length and in-flight requests,
sampled by the engine on an interval (:class:`ResourceSample`). The autoscaler is
pure logic: the engine calls :meth:`HorizontalAutoscaler.recommend` every
``sync_period_s`` and applies the answer, adding replicas only after
``provisioning_delay_s``.

References
----------
Kubernetes documentation, "Horizontal Pod Autoscaling", algorithm details:
``desiredReplicas = ceil(currentReplicas * currentMetricValue / desiredMetricValue)``;
no scaling while the ratio is within the tolerance (0.1) of 1.0; scale-down
stabilisation window 300 s (the highest recommendation over the window is used);
default scale-up policy: at most +100 % or +4 pods (whichever is larger) per 15 s.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "HorizontalAutoscaler",
    "ResourceSample",
    "ScalingDecision",
    "hpa_desired_replicas",
    "replica_seconds",
    "resource_summary",
    "samples_to_frame",
]

# ``ceil`` of a ratio that is mathematically an integer must not round up because of
# floating-point noise (3 * 0.7 / 0.7 == 3.0000000000000004).
_CEIL_EPS = 1e-9


def _check_replicas(value: int, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _clamp(value: int, min_replicas: int, max_replicas: int | None) -> int:
    value = max(value, min_replicas)
    if max_replicas is not None:
        value = min(value, max_replicas)
    return value


def hpa_desired_replicas(
    current_replicas: int,
    current_metric: float,
    target_metric: float,
    tolerance: float = 0.1,
    min_replicas: int = 1,
    max_replicas: int | None = None,
) -> int:
    """Replica count the Kubernetes HPA rule asks for (no stabilisation).

    ``desired = ceil(current_replicas * current_metric / target_metric)``, unchanged
    while ``|current_metric / target_metric - 1| <= tolerance``, then clamped to
    ``[min_replicas, max_replicas]`` (Kubernetes HPA documentation, "Algorithm
    details"). As in Kubernetes, a workload at 0 replicas is left alone (the HPA is
    inactive at zero) and a missing metric (NaN) means "no change" (clamped).

    Parameters
    ----------
    current_replicas : int
        Replicas the workload has now (including ones still provisioning).
    current_metric, target_metric : float
        Observed and target value of the metric, same unit (e.g. utilisation 0.9
        against 0.6, or 200 millicores against 100).
    tolerance : float
        Dead band around a ratio of 1.0 (Kubernetes default 0.1).
    min_replicas, max_replicas : int
        Bounds; ``max_replicas=None`` means unbounded.

    Examples
    --------
    The documentation's examples: 200m against a 100m target doubles the
    replicas, 50m halves them, and a ratio within the tolerance changes nothing.

    >>> hpa_desired_replicas(4, 200, 100)
    8
    >>> hpa_desired_replicas(4, 50, 100)
    2
    >>> hpa_desired_replicas(10, 105, 100)
    10
    >>> hpa_desired_replicas(3, 0.9, 0.5, max_replicas=5)
    5
    """
    current = _check_replicas(current_replicas, "current_replicas")
    min_r = _check_replicas(min_replicas, "min_replicas")
    if max_replicas is not None:
        max_r = _check_replicas(max_replicas, "max_replicas", minimum=max(min_r, 0))
    else:
        max_r = None
    if not (math.isfinite(target_metric) and target_metric > 0):
        raise ValueError(f"target_metric: must be a finite number > 0, got {target_metric!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance: must be a finite number >= 0, got {tolerance!r}")
    if current == 0:
        return 0
    if current_metric is None or math.isnan(current_metric):
        return _clamp(current, min_r, max_r)
    if current_metric < 0 or math.isinf(current_metric):
        raise ValueError(f"current_metric: must be finite and >= 0, got {current_metric!r}")
    ratio = current_metric / target_metric
    if abs(ratio - 1.0) <= tolerance + 1e-12:  # inclusive band despite float noise
        desired = current
    else:
        desired = math.ceil(current * ratio - _CEIL_EPS)
    return _clamp(desired, min_r, max_r)


def _scaling_reason(current: int, raw: int, stabilised: int) -> str:
    """Event-log reason for a stabilised recommendation, before any rate limit."""
    if stabilised > current:
        return "scale up"
    if stabilised < current:
        return "scale down"
    if raw < current:
        return "scale down held by stabilisation window"
    return "stable"


@dataclass(frozen=True)
class ScalingDecision:
    """One autoscaler evaluation (for the event log).

    ``raw`` is the HPA rule's answer before stabilisation and rate limits;
    ``replicas`` the final recommendation.
    """

    time_s: float
    current_replicas: int
    metric: float
    raw: int
    replicas: int
    reason: str


class HorizontalAutoscaler:
    """Stateful HPA: the rule plus the scale-down stabilisation window.

    Reproduces the Kubernetes controller (``stabilizeRecommendationWithBehaviors``):
    every raw recommendation is remembered (the history starts with the current
    replica count, as ``recordInitialRecommendation`` does, so a fresh autoscaler
    does not scale down before a full window has passed); on scale-down the controller uses the
    *highest* recommendation of the last ``scale_down_stabilisation_s`` (default
    300 s), on scale-up the lowest of the last ``scale_up_stabilisation_s`` (default
    0 s, i.e. immediate). With ``scale_up_limit`` the default Kubernetes scale-up
    policy caps growth at max(+100 %, +4 replicas) per 15 s. Result clamped to
    ``[min_replicas, max_replicas]``.

    The object is pure logic: it never sleeps. The engine should call
    :meth:`recommend` every ``sync_period_s`` of simulated time, set the fleet to
    the answer, and make added replicas serve only after ``provisioning_delay_s``
    (removed replicas stop taking new requests at once). Pass as
    ``current_replicas`` the replicas the fleet has, including provisioning ones,
    and as ``metric`` the mean utilisation (busy / ready replicas) over the period.

    Parameters
    ----------
    target_utilisation : float
        Target of the metric (e.g. 0.6 busy fraction per replica), > 0.
    min_replicas, max_replicas : int
        Bounds, ``1 <= min_replicas <= max_replicas``.
    tolerance : float
        Dead band around a ratio of 1 (Kubernetes 0.1).
    scale_down_stabilisation_s, scale_up_stabilisation_s : float
        Look-back windows (Kubernetes defaults 300 s and 0 s).
    provisioning_delay_s : float
        Time before an added replica serves; stored for the engine.
    sync_period_s : float
        Evaluation interval (Kubernetes 15 s); stored for the engine.
    scale_up_limit : bool
        Apply the default Kubernetes scale-up policy (max of +100 % and +4 per 15 s).

    Examples
    --------
    Load drops: the raw rule says 2 replicas, but the window still holds the
    earlier recommendation of 8, so the fleet stays at 8 until it expires.

    >>> hpa = HorizontalAutoscaler(0.5, min_replicas=1, max_replicas=10)
    >>> hpa.recommend(0.0, 4, 1.0)
    8
    >>> hpa.recommend(15.0, 8, 0.125)
    8
    >>> hpa.recommend(301.0, 8, 0.125)
    2
    """

    def __init__(
        self,
        target_utilisation: float,
        min_replicas: int,
        max_replicas: int,
        tolerance: float = 0.1,
        scale_down_stabilisation_s: float = 300.0,
        provisioning_delay_s: float = 30.0,
        sync_period_s: float = 15.0,
        *,
        scale_up_stabilisation_s: float = 0.0,
        scale_up_limit: bool = True,
    ) -> None:
        if not (math.isfinite(target_utilisation) and target_utilisation > 0):
            raise ValueError(
                f"target_utilisation: must be a finite number > 0, got {target_utilisation!r}"
            )
        self.min_replicas = _check_replicas(min_replicas, "min_replicas", minimum=1)
        self.max_replicas = _check_replicas(max_replicas, "max_replicas", minimum=1)
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas: must be >= min_replicas ({min_replicas}), got {max_replicas!r}"
            )
        for name, value in (
            ("tolerance", tolerance),
            ("scale_down_stabilisation_s", scale_down_stabilisation_s),
            ("scale_up_stabilisation_s", scale_up_stabilisation_s),
            ("provisioning_delay_s", provisioning_delay_s),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(sync_period_s) and sync_period_s > 0):
            raise ValueError(f"sync_period_s: must be a finite number > 0, got {sync_period_s!r}")
        self.target_utilisation = float(target_utilisation)
        self.tolerance = float(tolerance)
        self.scale_down_stabilisation_s = float(scale_down_stabilisation_s)
        self.scale_up_stabilisation_s = float(scale_up_stabilisation_s)
        self.provisioning_delay_s = float(provisioning_delay_s)
        self.sync_period_s = float(sync_period_s)
        self.scale_up_limit = bool(scale_up_limit)
        self._window_s = max(self.scale_down_stabilisation_s, self.scale_up_stabilisation_s)
        self._recommendations: deque[tuple[float, int]] = deque()
        self._observed: deque[tuple[float, int]] = deque()
        self._last_time_s = -math.inf
        self._seeded = False
        self.decisions: list[ScalingDecision] = []

    _SCALE_UP_PERIOD_S = 15.0
    _SCALE_UP_PODS = 4
    _SCALE_UP_PERCENT = 100.0

    def next_sync_s(self) -> float:
        """Simulated time at which the next evaluation is due."""
        if self._last_time_s == -math.inf:
            return 0.0
        return self._last_time_s + self.sync_period_s

    def recommend(self, now_s: float, current_replicas: int, metric: float) -> int:
        """Replica count to run from ``now_s`` on.

        Parameters
        ----------
        now_s : float
            Simulated time; must not go backwards.
        current_replicas : int
            Replicas the fleet has (including provisioning ones).
        metric : float
            Observed utilisation; NaN (no data) keeps the current count.
        """
        if not math.isfinite(now_s):
            raise ValueError(f"now_s: must be finite, got {now_s!r}")
        if now_s < self._last_time_s:
            raise ValueError(f"now_s: time went backwards ({now_s} < {self._last_time_s})")
        current = _check_replicas(current_replicas, "current_replicas")
        self._last_time_s = float(now_s)
        if metric is None or math.isnan(metric):
            replicas = _clamp(current, self.min_replicas, self.max_replicas)
            self._log(now_s, current, math.nan, current, replicas, "no metric")
            return replicas
        raw = hpa_desired_replicas(
            current,
            metric,
            self.target_utilisation,
            tolerance=self.tolerance,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
        )
        if current == 0:  # inactive at zero, as in Kubernetes
            self._log(now_s, current, metric, raw, 0, "inactive at zero replicas")
            return 0

        stabilised = self._stabilise(now_s, current, raw)
        reason = _scaling_reason(current, raw, stabilised)
        replicas, reason = self._limit_scale_up(now_s, current, stabilised, reason)
        replicas = _clamp(replicas, self.min_replicas, self.max_replicas)
        self._log(now_s, current, metric, raw, replicas, reason)
        return replicas

    def _stabilise(self, now_s: float, current: int, raw: int) -> int:
        """The raw recommendation after the stabilisation windows; remembers ``raw``.

        Kubernetes ``stabilizeRecommendationWithBehaviors``: scale up to at most the
        lowest recommendation of the scale-up window, down to at least the highest of
        the scale-down window. The history starts with the current replica count
        (``recordInitialRecommendation``), so a fresh controller never scales down on
        its first look.
        """
        if not self._seeded:
            self._recommendations.append((float(now_s), current))
            self._seeded = True
        down_cut = now_s - self.scale_down_stabilisation_s
        up_cut = now_s - self.scale_up_stabilisation_s
        up_rec = raw
        down_rec = raw
        for t, rec in self._recommendations:
            if t > up_cut:
                up_rec = min(up_rec, rec)
            if t > down_cut:
                down_rec = max(down_rec, rec)
        stabilised = min(max(current, up_rec), down_rec)
        self._recommendations.append((float(now_s), raw))
        while self._recommendations and self._recommendations[0][0] <= now_s - self._window_s:
            self._recommendations.popleft()
        return stabilised

    def _limit_scale_up(
        self, now_s: float, current: int, stabilised: int, reason: str
    ) -> tuple[int, str]:
        """Apply the scale-up rate limit; the replica count and the (updated) reason.

        Growth is measured against the smallest fleet observed in the last 15 s
        period: at most max(+100 %, +4 replicas).
        """
        self._observed.append((float(now_s), current))
        while self._observed and self._observed[0][0] <= now_s - self._SCALE_UP_PERIOD_S:
            self._observed.popleft()
        replicas = stabilised
        if self.scale_up_limit and replicas > current:
            base = min(r for _, r in self._observed)
            limit = max(
                math.ceil(base * (1.0 + self._SCALE_UP_PERCENT / 100.0)),
                base + self._SCALE_UP_PODS,
            )
            if replicas > limit:
                replicas = max(limit, current)
                reason = "scale up (rate limited)"
        return replicas, reason

    def _log(self, now_s, current, metric, raw, replicas, reason) -> None:
        self.decisions.append(
            ScalingDecision(
                float(now_s), int(current), float(metric), int(raw), int(replicas), reason
            )
        )

    def decisions_frame(self) -> pd.DataFrame:
        """All evaluations so far as a DataFrame (one row per call)."""
        cols = ["time_s", "current_replicas", "metric", "raw", "replicas", "reason"]
        return pd.DataFrame([d.__dict__ for d in self.decisions], columns=cols)


@dataclass(frozen=True)
class ResourceSample:
    """State of one model's simulated fleet at one instant.

    ``busy`` replicas are serving, ``queue_length`` requests wait for a replica,
    ``in_flight`` requests are in the system (busy + queued, plus any the engine
    counts as in flight), ``utilisation`` = busy / replicas (0 with no replicas).
    """

    time_s: float
    model: str
    replicas: int
    busy: int
    queue_length: int
    in_flight: int
    utilisation: float

    @classmethod
    def from_counts(
        cls,
        time_s: float,
        model: str,
        replicas: int,
        busy: int,
        queue_length: int,
        in_flight: int | None = None,
    ) -> ResourceSample:
        """Build a sample, deriving utilisation and (by default) ``in_flight = busy + queue``.

        Examples
        --------
        >>> ResourceSample.from_counts(10.0, "legacy", 8, 6, 3).utilisation
        0.75
        """
        replicas = _check_replicas(replicas, "replicas")
        busy = _check_replicas(busy, "busy")
        queue_length = _check_replicas(queue_length, "queue_length")
        if in_flight is None:
            in_flight = busy + queue_length
        util = busy / replicas if replicas > 0 else 0.0
        return cls(float(time_s), str(model), replicas, busy, queue_length, int(in_flight), util)


_SAMPLE_COLUMNS = [
    "time_s",
    "model",
    "replicas",
    "busy",
    "queue_length",
    "in_flight",
    "utilisation",
]


def samples_to_frame(samples) -> pd.DataFrame:
    """A DataFrame with one row per :class:`ResourceSample`, columns in field order."""
    rows = [
        (s.time_s, s.model, s.replicas, s.busy, s.queue_length, s.in_flight, s.utilisation)
        for s in samples
    ]
    return pd.DataFrame(rows, columns=_SAMPLE_COLUMNS)


def _step_integral(frame: pd.DataFrame, column: str, end_s: float | None) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float, name=column)
    out = {}
    for model, g in frame.sort_values("time_s", kind="stable").groupby("model", sort=True):
        t = g["time_s"].to_numpy(dtype=float)
        v = g[column].to_numpy(dtype=float)
        stop = t[-1] if end_s is None else float(end_s)
        if stop < t[-1]:
            raise ValueError(f"end_s: must be >= the last sample time {t[-1]}, got {end_s!r}")
        dt = np.diff(np.append(t, stop))
        out[model] = float(np.sum(v * dt))
    return pd.Series(out, name=column, dtype=float)


def replica_seconds(samples: pd.DataFrame, end_s: float | None = None) -> pd.Series:
    """Cost of each model's fleet in replica-seconds.

    The replica count is a step function: a sample's ``replicas`` holds until the
    next sample of the same model (the last one until ``end_s``, default its own
    time). Divide by 3600 for replica-hours.

    Examples
    --------
    >>> df = pd.DataFrame({"time_s": [0.0, 10.0, 30.0], "model": ["m"] * 3,
    ...                    "replicas": [2, 4, 1]})
    >>> float(replica_seconds(df, end_s=40.0)["m"])
    110.0
    """
    for col in ("time_s", "model", "replicas"):
        if col not in samples.columns:
            raise ValueError(f"samples: missing column {col!r}")
    return _step_integral(samples, "replicas", end_s).rename("replica_seconds")


def resource_summary(samples: pd.DataFrame, end_s: float | None = None) -> pd.DataFrame:
    """Per-model resource table, one row per model.

    Columns: replica-seconds, time-weighted mean replicas, peak replicas, mean
    utilisation and peak queue length.
    """
    cost = replica_seconds(samples, end_s)
    rows = []
    for model, g in samples.groupby("model", sort=True):
        t0 = float(g["time_s"].min())
        t1 = float(g["time_s"].max()) if end_s is None else float(end_s)
        span = t1 - t0
        rows.append(
            {
                "model": model,
                "replica_seconds": cost[model],
                "mean_replicas": cost[model] / span if span > 0 else float(g["replicas"].iloc[0]),
                "peak_replicas": int(g["replicas"].max()),
                "mean_utilisation": float(g["utilisation"].mean())
                if "utilisation" in g
                else np.nan,
                "peak_queue_length": int(g["queue_length"].max()) if "queue_length" in g else 0,
            }
        )
    return pd.DataFrame(rows)
