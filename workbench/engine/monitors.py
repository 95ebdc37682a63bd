"""Wiring of the monitors into a run: feeding, scheduled evaluation, alerts, rollback.

The monitors themselves (:mod:`workbench.monitoring`) take plain values; this hub
feeds them from the run's :class:`~.context.RunContext` (outcomes as requests
finish, labels as they arrive, features from the arrival stream), evaluates them
every ``monitoring.interval_s``, turns alarms into alerts (events plus user
callbacks; a callback that raises is logged and never stops the run) and asks the
:class:`~.rollback.RollbackPolicy` whether an alert or a health breach rolls back;
when it says so, the hub asks the context for the one and only rollback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..monitoring.detectors import make_detector
from ..monitoring.drift import FeatureDriftMonitor
from ..monitoring.health import HealthMonitor
from ..monitoring.performance import PerformanceMonitor
from ..scenario import MonitoringConfig, RollbackConfig
from ..status import DROPPED, OK, STATUS_NAMES
from .context import RunContext
from .labels import LabelPump
from .rollback import RollbackPolicy

__all__ = ["MonitorHub", "Alert"]

# Below this many outcomes on_outcomes calls on_outcome for each (numpy's fixed cost per
# call, about 80 us, is more than the loop's 1.3 us per outcome; measured).

HEALTH_COLUMNS = [
    "time_s", "model", "n", "errors", "timeouts", "dropped", "error_rate", "timeout_rate",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "throughput_per_s",
]
DRIFT_COLUMNS = ["time_s", "feature", "test", "statistic", "threshold", "drift", "psi", "dataset_drift"]
PERFORMANCE_COLUMNS = ["time_s", "model", "n_labels", "baseline_mean_error", "window_mean_error",
                       "ks_p_value", "wasserstein_norm", "alarm"]


class Alert(dict):
    """An alert as passed to callbacks: ``time_s, monitor, model, reason, details``."""


class MonitorHub:
    """The run's monitors: fed by the engine, evaluated on schedule, alarms turned into alerts.

    An alert may roll the run back, as the :class:`~.rollback.RollbackPolicy` decides.
    """

    def __init__(
        self,
        ctx: RunContext,
        config: MonitoringConfig,
        rollback: RollbackConfig | None,
        callbacks: list[Callable[[Alert], Any]] | None = None,
        label_status=None,
    ):
        # label_status: the statuses that say which requests have finished, for the label
        # feed (default the request log's; the fast engine passes the statuses it has fed to
        # the monitors, since its log can hold results of requests still in flight)
        self.ctx = ctx
        self.config = config
        self.policy = RollbackPolicy(rollback)
        self.callbacks = list(callbacks or [])
        names = ctx.model_names
        self.health = [HealthMonitor(window_s=config.health_window_s) for _ in names]
        self.performance = (
            [PerformanceMonitor(reference_n=config.performance_reference_n, window_n=config.performance_window_n)
             for _ in names]
            if config.performance else None
        )
        self.detectors: list[tuple[int, str, Any, str]] = []
        for k, spec in enumerate(config.detectors):
            det = make_detector(spec.name, **spec.params)
            self.detectors.append((ctx.model_index[spec.model], spec.signal, det, f"{spec.name}[{k}]"))
        self._latency_detectors = [d for d in self.detectors if d[1] in ("latency_ms", "error")]
        self._label_detectors = [d for d in self.detectors if d[1] == "abs_error"]
        self.drift_monitor: FeatureDriftMonitor | None = None
        self.health_rows: list[tuple] = []
        self.drift_rows: list[tuple] = []
        self.performance_rows: list[tuple] = []
        self.alerts: list[Alert] = []
        self._last_alert: dict[tuple[str, str], float] = {}
        self._perf_alerted = [False] * len(names)
        self._labels = LabelPump(ctx.traffic.label_time_s, ctx.log.status if label_status is None else label_status)
        self.first_alarm_s: dict[str, float] = {}
        self._next_drift_s = 0.0
        self._drift_streak: dict[str, int] = {}

    # ---------------------------------------------------------------- feeding
    def on_outcome(self, i: int, m: int, now: float, status: int, latency_ms: float) -> None:
        """Feed a finished request of model index ``m`` to its health monitor and detectors."""
        self.health[m].observe(now, STATUS_NAMES[status], None if status == DROPPED else latency_ms)
        for dm, signal, det, label in self._latency_detectors:
            if dm != m:
                continue
            if signal == "latency_ms":
                if status == DROPPED:
                    continue
                x = latency_ms
            else:
                x = 0.0 if status == OK else 1.0
            if det.update(x):
                self._detector_alarm(now, label, m, signal, x)

    def on_outcomes(self, rows: np.ndarray, models: np.ndarray, end_s: np.ndarray, status: np.ndarray,
                    latency_ms: np.ndarray) -> None:
        """Feed many finished requests, sorted by end time: the same state as :meth:`on_outcome` on each.

        Without latency or error detectors, each model's health monitor takes its
        requests in one :meth:`~workbench.monitoring.health.HealthMonitor.observe_many`
        (dropped requests without a latency). With such detectors every request goes
        through :meth:`on_outcome` in order: a detection can raise an alert and roll
        back, which reads the candidate's health as of that request. (A small batch
        is looped by ``observe_many`` itself, where that is quicker than numpy.)
        """
        models = np.asarray(models)
        if not models.size:
            return
        if self._latency_detectors:
            for i, m, t, code, lat in zip(np.asarray(rows).tolist(), models.tolist(), np.asarray(end_s).tolist(),
                                          np.asarray(status).tolist(), np.asarray(latency_ms).tolist(), strict=True):
                self.on_outcome(i, m, t, code, lat)
            return
        end_s = np.asarray(end_s, dtype=np.float64)
        status = np.asarray(status)
        latency_ms = np.where(status == DROPPED, np.nan, np.asarray(latency_ms, dtype=np.float64))
        for m in np.unique(models).tolist():
            sel = models == m
            self.health[m].observe_many(end_s[sel], status[sel], latency_ms[sel])

    def _pump_labels(self, now: float) -> None:
        """Feed the labels that arrived by ``now`` (vectorised selection, then batches per model)."""
        ctx = self.ctx
        ok = self._labels.pump(now)
        if not ok.size:
            return
        models = np.frombuffer(ctx.log.model, dtype=np.int8)[ok]
        for m in np.unique(models).tolist():
            sel = ok[models == m]
            preds = ctx.predictions(m)[sel]
            labels = ctx.traffic.label[sel]
            if self.performance is not None:
                self.performance[m].observe_labels(now, preds, labels)
            for dm, _, det, name in self._label_detectors:
                if dm != m:
                    continue
                for p, y in zip(preds.tolist(), labels.tolist(), strict=True):
                    if det.update(abs(p - y)):
                        self._detector_alarm(now, name, m, "abs_error", abs(p - y))

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, now: float) -> None:
        """Scheduled evaluation at ``now``: deliver labels, snapshot every monitor, raise alerts."""
        ctx = self.ctx
        self._pump_labels(now)
        snaps = []
        for m, name in enumerate(ctx.model_names):
            snap = self.health[m].snapshot(now)
            snaps.append(snap)
            self.health_rows.append((
                now, name, snap.n, snap.errors, snap.timeouts, snap.dropped, snap.error_rate,
                snap.timeout_rate, snap.latency_p50_ms, snap.latency_p95_ms, snap.latency_p99_ms,
                snap.throughput_per_s,
            ))
        if self.performance is not None:
            statuses = [self.performance[m].status(now) for m in range(len(ctx.model_names))]
            legacy_alarm = bool(statuses[ctx.model_index["legacy"]].alarm)
            for m, (name, st) in enumerate(zip(ctx.model_names, statuses, strict=True)):
                test = st.last_test
                self.performance_rows.append((
                    now, name, st.n_labels,
                    st.baseline.mean_error if st.baseline else math.nan,
                    test.mean_error if test else math.nan,
                    test.ks_p_value if test else math.nan,
                    test.wasserstein_norm if test else math.nan,
                    bool(st.alarm),
                ))
                if st.alarm and not self._perf_alerted[m]:
                    self._perf_alerted[m] = True
                    if st.first_alarm_source == "detector" and st.detector_estimate is not None:
                        now_text = f", detector's current mean {st.detector_estimate:.3f}"
                    elif test is not None:
                        now_text = f", window mean {test.mean_error:.3f}"
                    else:
                        now_text = ""
                    reason = (f"prediction error of {name} changed ({st.first_alarm_source}): "
                              f"baseline mean {st.baseline.mean_error:.3f}{now_text}")
                    # when legacy got worse too, the world changed, not the candidate: a
                    # rollback would not help (RollbackConfig.performance_relative)
                    shared = name != "legacy" and legacy_alarm and self.policy.performance_relative
                    if shared:
                        reason += "; legacy degraded too (concept drift?): no rollback, retrain instead"
                    self.alert(now, "performance", name, reason, first_alarm_s=st.first_alarm_s,
                               alarm_source=st.first_alarm_source, shared_with_legacy=shared,
                               may_roll_back=not shared)
        if self.config.drift and now + 1e-9 >= self._next_drift_s:
            self._next_drift_s = now + self.config.drift_interval_s
            self._evaluate_drift(now)
        self._evaluate_health_policy(now, snaps)

    def _evaluate_drift(self, now: float) -> None:
        ctx = self.ctx
        cfg = self.config
        arrived = ctx.arrived
        if arrived < cfg.drift_reference_n + cfg.drift_window_n:
            return
        feats = ctx.traffic.features
        names = list(ctx.traffic.feature_names)
        if self.drift_monitor is None:
            ref = {n: feats[: cfg.drift_reference_n, j] for j, n in enumerate(names)}
            self.drift_monitor = FeatureDriftMonitor(ref)
        lo = max(cfg.drift_reference_n, arrived - cfg.drift_window_n)
        current = {n: feats[lo:arrived, j] for j, n in enumerate(names)}
        report = self.drift_monitor.check(current)
        table = report.table
        dataset_drift = bool(report.dataset_drift)
        for feature, test, statistic, threshold, drift, psi in zip(
            *(table[c].tolist() for c in ("feature", "test", "statistic", "threshold", "drift", "psi")), strict=True,
        ):  # columns as lists: no per-check row objects
            self.drift_rows.append((now, feature, test, float(statistic), float(threshold), bool(drift),
                                    float(psi) if psi == psi else math.nan, dataset_drift))
        flagged = set(report.drifted_features)
        for name in names:
            self._drift_streak[name] = self._drift_streak.get(name, 0) + 1 if name in flagged else 0
        drifted = [n for n in names if self._drift_streak[n] >= cfg.drift_consecutive]
        if drifted:
            self.alert(now, "drift", "", f"feature drift in {', '.join(drifted)}"
                       + (" (dataset drift)" if report.dataset_drift else ""),
                       features=drifted, dataset_drift=bool(report.dataset_drift))

    def _evaluate_health_policy(self, now: float, snaps) -> None:
        ctx = self.ctx
        if not self.policy.judges_health or "candidate" not in ctx.model_index or ctx.rolled_back:
            return  # no health rule, no candidate, or the candidate serves nobody any more
        snap = snaps[ctx.model_index["candidate"]]
        verdict = self.policy.judge_health(snap.n, {th.metric: getattr(snap, th.metric)
                                                    for th in self.policy.config.thresholds})
        if verdict is None or not verdict.violations:
            return  # too few requests, or a clean window
        violations = list(verdict.violations)
        self.alert(now, "health", "candidate",
                   f"candidate health breach {verdict.breaches}/{self.policy.config.consecutive}: {verdict.text}",
                   violations=violations, breaches=verdict.breaches, n=snap.n)
        if verdict.roll_back:
            self._rollback(now, "health", verdict.text, violations)

    # ---------------------------------------------------------------- alerts
    def _detector_alarm(self, now: float, label: str, m: int, signal: str, x: float) -> None:
        model = self.ctx.model_names[m]
        self.alert(now, "detector", model, f"{label} on {model} {signal} detected a change (last value {x:.4g})",
                   detector=label, signal=signal)

    def alert(self, now: float, monitor: str, model: str, reason: str, **details: Any) -> None:
        """Raise an alert: an event, the callbacks, and a rollback if the policy says so.

        A repeat of a (monitor, model) alert within the cooldown is dropped, except
        health alerts.
        """
        key = (monitor, model)
        last = self._last_alert.get(key)
        cooldown = self.policy.cooldown_s
        first = key not in self.first_alarm_s
        if first:
            self.first_alarm_s[key] = now
        if last is not None and now - last < cooldown and monitor != "health":
            return
        self._last_alert[key] = now
        alert = Alert(time_s=now, monitor=monitor, model=model, reason=reason, details=details)
        self.alerts.append(alert)
        self.ctx.emit("alert", reason, source=f"monitor:{monitor}", model=model, **details)
        for callback in self.callbacks:
            try:
                callback(alert)
            except Exception as exc:  # noqa: BLE001 - a failing callback must never stop the run
                self.ctx.emit("alert_callback_failed", f"{type(exc).__name__}: {exc}",
                              source="alerts", model=model, callback=getattr(callback, "__name__", repr(callback)))
        if self.policy.rolls_back_on_alert(monitor, model, details.get("may_roll_back", True)):
            self._rollback(now, monitor, reason, [details])

    def _rollback(self, now: float, trigger: str, reason: str, violations: list) -> None:
        ctx = self.ctx
        if ctx.rolled_back or "candidate" not in ctx.model_index:
            return
        if not self._candidate_served():
            return
        ctx.rollback(f"rollback policy ({trigger}): {reason}", trigger=f"rollback_policy:{trigger}",
                     violations=violations)

    def _candidate_served(self) -> bool:
        m = self.ctx.model_index["candidate"]
        return self.health[m].snapshot(self.ctx.now_s).n > 0 or self.ctx.strategy.kind not in ("single", "shadow")

    def tables(self) -> dict[str, Any]:
        """The hub's records as DataFrames: ``health``, ``drift`` and ``performance``."""
        import pandas as pd

        return {
            "health": pd.DataFrame(self.health_rows, columns=HEALTH_COLUMNS),
            "drift": pd.DataFrame(self.drift_rows, columns=DRIFT_COLUMNS),
            "performance": pd.DataFrame(self.performance_rows, columns=PERFORMANCE_COLUMNS),
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """Health of every model now (for incident records)."""
        out = {}
        for m, name in enumerate(self.ctx.model_names):
            s = self.health[m].snapshot(now)
            out[name] = {"n": s.n, "error_rate": s.error_rate, "latency_p95_ms": s.latency_p95_ms,
                         "latency_p99_ms": s.latency_p99_ms, "throughput_per_s": s.throughput_per_s}
        return out

