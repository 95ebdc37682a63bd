"""Model performance from late labels: baseline, windowed tests and a change detector.

Three pitfalls are common: a monitor that never sets its baseline, one that assumes labels
arrive at once, and one that runs a KS test over overlapping windows (a correlated sequence
of tests). :class:`PerformanceMonitor` instead

1. is fed each ``(prediction, label)`` pair when the label *arrives* (``time_s`` is the
   arrival time on the monitor's clock), and turns it into an error;
2. captures a baseline automatically from the first reference period (the first
   ``reference_n`` labels, or the labels arriving in the first ``reference_s`` seconds);
3. then compares consecutive **non-overlapping** windows of ``window_n`` errors with the
   baseline: two-sample KS (``scipy.stats.ks_2samp``) and the Wasserstein distance divided
   by the baseline's standard deviation, floored at 0.001
   (:func:`workbench.stats.distances.normalised_wasserstein`, Evidently's normed
   Wasserstein drift test), both computed by
   :class:`workbench.stats.distances.SortedReference` (scipy's results bit for bit, the
   baseline sorted once). A window "breaches" when ``p < ks_alpha`` **and** the normalised
   distance is ``>= wasserstein_threshold`` (significant and large enough to matter), and, when
   ``direction="increase"``, the window's mean error is above the baseline's;
4. feeds every error to a streaming change detector (:func:`make_detector`, ADWIN by
   default) whose detections after the baseline also raise the alarm (for ADWIN only
   an increase of its mean estimate counts when ``direction="increase"``).

Costs: O(1) per label (batches go to the detector's ``update_many``), plus one KS test per
``window_n`` labels (O(w log w + m) with m baseline errors and w = ``window_n``: the
window is sorted and merged with the baseline, sorted once), i.e. O(1) amortised for
fixed sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.monitoring.detectors import make_detector
from workbench.stats.distances import SortedReference

__all__ = ["BaselineSummary", "PerformanceMonitor", "PerformanceStatus", "WindowTest"]

_ERRORS = ("absolute", "squared", "zero_one")


@dataclass(frozen=True)
class BaselineSummary:
    """The reference period's error distribution."""

    n: int
    start_s: float
    end_s: float
    mean_error: float
    std_error: float
    p50_error: float
    p95_error: float


@dataclass(frozen=True)
class WindowTest:
    """One non-overlapping window compared with the baseline."""

    index: int
    start_s: float
    end_s: float
    n: int
    mean_error: float
    ks_statistic: float
    ks_p_value: float
    wasserstein_norm: float
    breach: bool


@dataclass(frozen=True)
class PerformanceStatus:
    """What the performance monitor knows at ``time_s``.

    ``alarm`` is True once a window breach (``consecutive`` in a row) or a detector
    detection has happened after the baseline; ``first_alarm_s`` and
    ``first_alarm_source`` (``"window"`` or ``"detector"``) say when and how.
    """

    time_s: float
    n_labels: int
    baseline: BaselineSummary | None
    last_test: WindowTest | None
    n_windows_tested: int
    n_window_breaches: int
    detector: str
    detector_detections: int
    detector_estimate: float
    alarm: bool
    first_alarm_s: float
    first_alarm_source: str
    last_alarm_s: float


class PerformanceMonitor:
    """Prediction error against late labels, compared with an automatic baseline.

    Parameters
    ----------
    reference_s : float, optional
        Length of the reference period in seconds, from ``reference_start_s`` (or from the
        first label's time). Give this or ``reference_n``.
    reference_n : int, optional
        Number of labels in the reference period.
    window_n : int
        Errors per current window (windows do not overlap).
    detector : str or None
        Name for :func:`make_detector` (``"adwin"`` by default); None for none.
    detector_params : mapping, optional
        Parameters for the detector.
    error : {"absolute", "squared", "zero_one"}
        How a (prediction, label) pair becomes an error.
    ks_alpha : float
        KS significance level per window.
    wasserstein_threshold : float
        Minimum normalised Wasserstein distance for a breach (Evidently default 0.1).
    direction : {"increase", "either"}
        ``"increase"``: only worse errors count (a better model is not an incident); also
        sets ``mode="up"`` for ``"cusum"`` and ``"page_hinkley"`` unless given.
    consecutive : int
        Window breaches in a row needed for an alarm. Each window breaches falsely with
        probability at most ``ks_alpha``; over a dozen windows one false breach is likely
        (about 11 % at 1 %), two in a row are not, hence the default 2 (the
        consecutive-failure rule of Argo Rollouts' analysis).
    reference_start_s : float, optional
        Start of the reference period for ``reference_s`` (default: first label's time).
    max_reference_n : int
        Cap on stored baseline errors for a time-based reference (first ones kept).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> mon = PerformanceMonitor(reference_n=500, window_n=200)
    >>> for i in range(2000):
    ...     noise = 1.0 if i < 1200 else 2.0   # the model gets worse at label 1200
    ...     mon.observe_label(i * 0.5, rng.normal(0, noise), 0.0)
    >>> st = mon.status(1000.0)
    >>> st.alarm, 600.0 <= st.first_alarm_s <= 700.0
    (True, True)
    >>> round(st.baseline.mean_error, 1)  # E|N(0, 1)| = 0.80
    0.8
    """

    def __init__(self, reference_s: float | None = None, reference_n: int | None = None,
                 window_n: int = 200, detector: str | None = "adwin",
                 detector_params: dict[str, Any] | None = None, error: str = "absolute",
                 ks_alpha: float = 0.01, wasserstein_threshold: float = 0.1,
                 direction: str = "increase", consecutive: int = 2,
                 reference_start_s: float | None = None, max_reference_n: int = 100_000) -> None:
        if (reference_s is None) == (reference_n is None):
            raise ValueError("reference_s/reference_n: give exactly one of them")
        if reference_s is not None and not (reference_s > 0):
            raise ValueError(f"reference_s: must be > 0, got {reference_s!r}")
        if reference_n is not None and (int(reference_n) != reference_n or reference_n < 2):
            raise ValueError(f"reference_n: must be an integer >= 2, got {reference_n!r}")
        if int(window_n) != window_n or window_n < 2:
            raise ValueError(f"window_n: must be an integer >= 2, got {window_n!r}")
        if error not in _ERRORS:
            raise ValueError(f"error: must be one of {_ERRORS}, got {error!r}")
        if not (0 < ks_alpha < 1):
            raise ValueError(f"ks_alpha: must be in (0, 1), got {ks_alpha!r}")
        if not (wasserstein_threshold >= 0):
            raise ValueError(f"wasserstein_threshold: must be >= 0, got {wasserstein_threshold!r}")
        if direction not in ("increase", "either"):
            raise ValueError(f"direction: must be 'increase' or 'either', got {direction!r}")
        if int(consecutive) != consecutive or consecutive < 1:
            raise ValueError(f"consecutive: must be a positive integer, got {consecutive!r}")
        self.reference_s = None if reference_s is None else float(reference_s)
        self.reference_n = None if reference_n is None else int(reference_n)
        self.window_n = int(window_n)
        self.error = error
        self.ks_alpha = float(ks_alpha)
        self.wasserstein_threshold = float(wasserstein_threshold)
        self.direction = direction
        self.consecutive = int(consecutive)
        self.max_reference_n = int(max_reference_n)
        self.detector_name = detector or ""
        params = dict(detector_params or {})
        if detector in ("cusum", "page_hinkley") and direction == "increase":
            params.setdefault("mode", "up")
        self._detector = None if detector is None else make_detector(detector, **params)
        self._ref_start = reference_start_s
        cap = self.reference_n if self.reference_n is not None else min(self.max_reference_n, 1024)
        self._ref_buf = np.empty(cap)
        self._n_ref = 0
        self._ref_first_s = math.nan
        self._baseline_values: np.ndarray | None = None
        self._reference: SortedReference | None = None
        self.baseline: BaselineSummary | None = None
        self._win = np.empty(self.window_n)
        self._n_win = 0
        self._win_start_s = math.nan
        self.n_labels = 0
        self._tests: list[WindowTest] = []
        self._run = 0
        self.n_window_breaches = 0
        self._detections_s: list[float] = []
        self._prev_estimate = math.nan
        self.first_alarm_s = math.nan
        self.first_alarm_source = ""
        self.last_alarm_s = math.nan
        self._last_time_s = math.nan

    def _error(self, prediction: float, label: float) -> float:
        if self.error == "absolute":
            return abs(prediction - label)
        if self.error == "squared":
            d = prediction - label
            return d * d
        return 0.0 if prediction == label else 1.0

    def _alarm(self, time_s: float, source: str) -> None:
        if math.isnan(self.first_alarm_s):
            self.first_alarm_s = time_s
            self.first_alarm_source = source
        self.last_alarm_s = time_s

    def _capture_baseline(self) -> None:
        values = self._ref_buf[: self._n_ref].copy()
        self._baseline_values = np.sort(values)
        self._reference = SortedReference(self._baseline_values, is_sorted=True)
        self.baseline = BaselineSummary(
            n=int(values.size), start_s=self._ref_first_s, end_s=self._last_time_s,
            mean_error=float(values.mean()), std_error=float(values.std()),
            p50_error=float(np.quantile(values, 0.5)), p95_error=float(np.quantile(values, 0.95)))
        self._ref_buf = np.empty(0)

    def _reference_done(self, time_s: float) -> bool:
        if self.reference_n is not None:
            return self._n_ref >= self.reference_n
        start = self._ref_start if self._ref_start is not None else self._ref_first_s
        return time_s >= start + self.reference_s

    def observe_label(self, time_s: float, prediction: float, label: float) -> None:
        """Record one labelled prediction at the label's arrival time ``time_s``."""
        prediction = float(prediction)
        label = float(label)
        if math.isnan(prediction) or math.isnan(label):
            raise ValueError("prediction/label: must not be NaN")
        time_s = float(time_s)
        err = self._error(prediction, label)
        self.n_labels += 1
        if self.baseline is None and self._n_ref == 0 and math.isnan(self._ref_first_s):
            self._ref_first_s = time_s
        # Baseline capture: a time-based period ends with the first label past it.
        if self.baseline is None and self.reference_s is not None and self._reference_done(time_s):
            if self._n_ref >= 2:
                self._capture_baseline()
        self._last_time_s = time_s
        if self.baseline is None:
            limit = self.reference_n or self.max_reference_n
            if self._n_ref < limit:
                if self._n_ref == self._ref_buf.size:
                    grown = np.empty(min(self._ref_buf.size * 2, limit))
                    grown[: self._n_ref] = self._ref_buf
                    self._ref_buf = grown
                self._ref_buf[self._n_ref] = err
                self._n_ref += 1
            if self.reference_n is not None and self._reference_done(time_s):
                self._capture_baseline()
            self._feed_detector(time_s, err, baseline_ready=False)
            return
        self._feed_detector(time_s, err, baseline_ready=True)
        if self._n_win == 0:
            self._win_start_s = time_s
        self._win[self._n_win] = err
        self._n_win += 1
        if self._n_win == self.window_n:
            self._test_window(time_s)

    def observe_labels(self, time_s: float, predictions: np.ndarray, labels: np.ndarray) -> None:
        """Record many labelled predictions arriving at ``time_s``: the state :meth:`observe_label` gives on each.

        The reference period goes one label at a time (it ends inside a batch); after
        it, the errors are computed with numpy, the change detector takes them one by
        one (it is sequential), and each window is filled with one slice and tested when
        full, after the detector has seen its last error, as one by one. A NaN raises
        ValueError before anything changes.
        """
        preds = np.asarray(predictions, dtype=np.float64).ravel()
        labs = np.asarray(labels, dtype=np.float64).ravel()
        if preds.size != labs.size:
            raise ValueError(f"predictions/labels: lengths differ ({preds.size} and {labs.size})")
        if np.isnan(preds).any() or np.isnan(labs).any():
            raise ValueError("prediction/label: must not be NaN")
        time_s = float(time_s)
        n = preds.size
        k = 0
        while k < n and self.baseline is None:
            self.observe_label(time_s, preds[k], labs[k])
            k += 1
        if k == n:
            return
        if self.error == "absolute":
            errs = np.abs(preds[k:] - labs[k:])
        elif self.error == "squared":
            d = preds[k:] - labs[k:]
            errs = d * d
        else:
            errs = (preds[k:] != labs[k:]).astype(np.float64)
        n_errs = errs.size
        self.n_labels += n_errs
        self._last_time_s = time_s
        window_n, win, feed = self.window_n, self._win, self._detector is not None
        lo = 0
        while lo < n_errs:
            n_win = self._n_win
            hi = min(n_errs, lo + window_n - n_win)
            if feed:
                self._feed_detector_many(time_s, errs[lo:hi])
            if n_win == 0:
                self._win_start_s = time_s
            n_win += hi - lo
            win[self._n_win: n_win] = errs[lo:hi]
            self._n_win = n_win
            if n_win == window_n:
                self._test_window(time_s)
            lo = hi

    def _feed_detector(self, time_s: float, err: float, baseline_ready: bool) -> None:
        det = self._detector
        if det is None:
            return
        hit = det.update(err)
        estimate = getattr(getattr(det, "river", None), "estimation", math.nan)
        if hit and baseline_ready:
            increased = True
            if self.direction == "increase" and self.detector_name == "adwin":
                # ADWIN is two-sided: keep only detections where the mean went up.
                increased = not (estimate <= self._prev_estimate)
            if increased:
                self._detections_s.append(time_s)
                self._alarm(time_s, "detector")
        self._prev_estimate = estimate

    def _feed_detector_many(self, time_s: float, errs: np.ndarray) -> None:
        """:meth:`_feed_detector` on each error after the baseline, in order, as one batch."""
        found = self._detector.update_many(errs)
        two_sided_adwin = self.direction == "increase" and self.detector_name == "adwin"
        # estimate_before is the estimate after the previous error: at a batch's first
        # position that is self._prev_estimate (the detector has seen the baseline already)
        for before, after in zip(found.estimate_before, found.estimate_after, strict=True):
            if not (two_sided_adwin and after <= before):
                self._detections_s.append(time_s)
                self._alarm(time_s, "detector")
        if errs.size:
            self._prev_estimate = found.estimate_last

    def _test_window(self, time_s: float) -> None:
        n = self._n_win
        window = self._win[:n]
        baseline = self.baseline
        res = self._reference.compare(window, reference_std=baseline.std_error)
        mean = float(np.add.reduce(window)) / n  # window.mean()'s sum and division
        breach = res.ks_p_value < self.ks_alpha and res.wasserstein_norm >= self.wasserstein_threshold
        if breach and self.direction == "increase" and mean <= baseline.mean_error:
            breach = False
        test = WindowTest(index=len(self._tests), start_s=self._win_start_s, end_s=time_s,
                          n=n, mean_error=mean, ks_statistic=res.ks_statistic,
                          ks_p_value=res.ks_p_value, wasserstein_norm=res.wasserstein_norm, breach=breach)
        self._tests.append(test)
        self._n_win = 0
        if breach:
            self.n_window_breaches += 1
            self._run += 1
            if self._run >= self.consecutive:
                self._alarm(time_s, "window")
        else:
            self._run = 0

    @property
    def alarm(self) -> bool:
        """True once the monitor has raised an alarm (it stays raised)."""
        return not math.isnan(self.first_alarm_s)

    def status(self, now_s: float) -> PerformanceStatus:
        """Baseline, last window test, detector state and alarm as of ``now_s``."""
        det = self._detector
        estimate = math.nan
        if det is not None:
            estimate = float(getattr(getattr(det, "river", None), "estimation", math.nan))
        return PerformanceStatus(
            time_s=float(now_s), n_labels=self.n_labels, baseline=self.baseline,
            last_test=self._tests[-1] if self._tests else None,
            n_windows_tested=len(self._tests), n_window_breaches=self.n_window_breaches,
            detector=self.detector_name, detector_detections=len(self._detections_s),
            detector_estimate=estimate, alarm=self.alarm, first_alarm_s=self.first_alarm_s,
            first_alarm_source=self.first_alarm_source, last_alarm_s=self.last_alarm_s)

    def tests(self) -> pd.DataFrame:
        """Every window test so far, one row each (columns of :class:`WindowTest`)."""
        cols = list(WindowTest.__dataclass_fields__)
        return pd.DataFrame([t.__dict__ for t in self._tests], columns=cols)

    @property
    def detector_alarm_times_s(self) -> tuple[float, ...]:
        """Times of detector detections counted as alarms (after the baseline)."""
        return tuple(self._detections_s)
