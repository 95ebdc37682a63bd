"""Pre-deployment validation of a model on held-out data.

A :class:`ValidationSuite` is a list of checks run against any object with
``predict(X)`` (a synthetic model, a scikit-learn estimator, an adapter):

* prediction bounds (and finiteness),
* performance thresholds: MAE, RMSE, MSE, R^2 for regression; ROC AUC and
  accuracy for binary classification (scikit-learn's metrics when importable,
  the numpy implementations of this module otherwise),
* prediction drift against reference predictions (two-sample KS p-value, or the
  Wasserstein distance divided by the reference standard deviation; "auto"
  follows Evidently's default: KS up to 1000 reference rows, normalised
  Wasserstein with threshold 0.1 above),
* a latency budget, measured with ``time.perf_counter`` per predict batch,
* custom validators (callables).

Every check yields a :class:`ValidationResult` row; a check that raises becomes a
failed row with the error message instead of aborting the suite. A metric that
comes out NaN fails (a NaN must never pass a threshold, a trap Flagger users hit).

Examples
--------
>>> import numpy as np
>>> class Doubler:
...     def predict(self, X):
...         return 2.0 * np.asarray(X)[:, 0]
>>> X = np.arange(10.0).reshape(-1, 1); y = 2.0 * X[:, 0] + 0.5
>>> suite = (ValidationSuite()
...          .add_prediction_bounds(lower=0.0, upper=20.0)
...          .add_performance("mae", max_value=1.0)
...          .add_custom("monotone", lambda m, X, y: bool(np.all(np.diff(m.predict(X)) >= 0))))
>>> report = suite.run(Doubler(), X, y)
>>> report.passed, report.table["name"].tolist(), report.table["value"].tolist()[:2]
(True, ['prediction_bounds', 'mae', 'monotone'], [0.0, 0.5])
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.stats.distances import normalised_wasserstein

__all__ = [
    "METRICS",
    "ValidationContext",
    "ValidationReport",
    "ValidationResult",
    "ValidationSuite",
    "accuracy",
    "mae",
    "mse",
    "normalised_wasserstein",
    "r2",
    "rmse",
    "roc_auc",
]


# -- numpy metrics (used when scikit-learn is missing; cross-checked in tests) -------
def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=float).ravel()
    b = np.asarray(y_pred, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_pred: length {b.size} does not match y_true length {a.size}")
    if a.size == 0:
        raise ValueError("y_true: empty")
    return a, b


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def mse(y_true, y_pred) -> float:
    """Mean squared error."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean((a - b) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    return math.sqrt(mse(y_true, y_pred))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN when y is constant)."""
    a, b = _pair(y_true, y_pred)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot == 0:
        return math.nan
    return 1.0 - float(np.sum((a - b) ** 2)) / ss_tot


def roc_auc(y_true, scores) -> float:
    """Binary ROC AUC by the Mann-Whitney rank formula (ties get half credit).

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"scores: length {s.size} does not match y_true length {y.size}")
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(f"y_true: ROC AUC needs exactly two classes, got {classes.size}")
    pos = y == classes[1]
    from scipy import stats

    ranks = stats.rankdata(s)
    n_pos = int(pos.sum())
    n_neg = y.size - n_pos
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches."""
    a = np.asarray(y_true).ravel()
    b = np.asarray(y_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_pred: length {b.size} does not match y_true length {a.size}")
    if a.size == 0:
        raise ValueError("y_true: empty")
    return float(np.mean(a == b))


@functools.cache
def _sklearn_metric(name: str) -> Callable[[Any, Any], float] | None:
    """scikit-learn's metric ``name``, or None when scikit-learn is not installed.

    Imported on first use: scikit-learn takes longer to import than the rest of this module.
    """
    try:
        from sklearn import metrics
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return getattr(metrics, name)


@dataclass(frozen=True)
class _Metric:
    fn: Callable[[Any, Any], float]
    sk_name: str | None  # scikit-learn's equivalent, preferred when importable
    higher_is_better: bool
    uses: str  # "values" (regression), "scores" (probabilities), "labels"

    @property
    def sk_fn(self) -> Callable[[Any, Any], float] | None:
        return None if self.sk_name is None else _sklearn_metric(self.sk_name)

    def __call__(self, y_true, y_pred) -> float:
        sk_fn = self.sk_fn
        if sk_fn is not None:
            return float(sk_fn(y_true, y_pred))
        return self.fn(y_true, y_pred)


METRICS: dict[str, _Metric] = {
    "mae": _Metric(mae, "mean_absolute_error", False, "values"),
    "mse": _Metric(mse, "mean_squared_error", False, "values"),
    "rmse": _Metric(rmse, None, False, "values"),
    "r2": _Metric(r2, None, True, "values"),
    "auc": _Metric(roc_auc, "roc_auc_score", True, "scores"),
    "accuracy": _Metric(accuracy, "accuracy_score", True, "labels"),
}
"""Supported performance metrics: name -> implementation and direction."""


# -- results -----------------------------------------------------------------------
@dataclass(frozen=True)
class ValidationResult:
    """One check's outcome.

    ``value`` is what was measured, ``threshold`` the limit it was held to
    (NaN when not applicable).
    """

    name: str
    passed: bool
    value: float = math.nan
    threshold: float = math.nan
    message: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """All results of one :meth:`ValidationSuite.run`."""

    results: tuple[ValidationResult, ...]
    model_name: str | None = None

    @property
    def passed(self) -> bool:
        """True when every check passed (and there was at least one)."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[ValidationResult, ...]:
        """The results of the checks that failed, in run order."""
        return tuple(r for r in self.results if not r.passed)

    @property
    def table(self) -> pd.DataFrame:
        """One row per check: name, passed, value, threshold, message."""
        return pd.DataFrame(
            [(r.name, r.passed, r.value, r.threshold, r.message) for r in self.results],
            columns=["name", "passed", "value", "threshold", "message"],
        )

    def summary(self) -> str:
        """One line, e.g. for an event log: ``"validation failed: mae (0.9 > 0.5)"``."""
        if self.passed:
            return f"validation passed ({len(self.results)} checks)"
        if not self.results:
            return "validation failed: no checks"
        return "validation failed: " + "; ".join(f"{r.name} ({r.message})" for r in self.failures)

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class ValidationContext:
    """What a check sees: the model, the held-out data and the predictions.

    The predictions are computed once and shared by all checks; they are
    ``None``, with ``predict_error`` set, when ``predict`` raised.
    """

    model: Any
    X: Any
    y: Any
    predictions: np.ndarray | None
    predict_error: str | None = None
    scores: np.ndarray | None = field(default=None, repr=False)


Check = Callable[[ValidationContext], ValidationResult]


def _finite(value: float) -> bool:
    return value is not None and not math.isnan(value)


def _needs_predictions(name: str, ctx: ValidationContext) -> ValidationResult | None:
    if ctx.predictions is None:
        return ValidationResult(name, False, message=f"predict failed: {ctx.predict_error}")
    return None


def _take(X: Any, start: int, stop: int) -> Any:
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.iloc[start:stop]
    return X[start:stop]


def _n_rows(X: Any) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


# -- checks --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Bounds:
    name: str
    lower: float | None
    upper: float | None
    max_fraction_outside: float
    allow_nan: bool

    def __call__(self, ctx: ValidationContext) -> ValidationResult:
        if (bad := _needs_predictions(self.name, ctx)) is not None:
            return bad
        p = np.asarray(ctx.predictions, dtype=float)
        finite = np.isfinite(p)
        outside = ~finite if not self.allow_nan else np.isinf(p)
        if self.lower is not None:
            outside |= finite & (p < self.lower)
        if self.upper is not None:
            outside |= finite & (p > self.upper)
        frac = float(outside.mean()) if p.size else 0.0
        passed = frac <= self.max_fraction_outside
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        msg = f"{int(outside.sum())} of {p.size} predictions outside [{lo}, {hi}] or not finite"
        return ValidationResult(self.name, passed, frac, self.max_fraction_outside, msg)


@dataclass(frozen=True)
class _Performance:
    name: str
    metric: str
    min_value: float | None
    max_value: float | None
    threshold_proba: float

    def __call__(self, ctx: ValidationContext) -> ValidationResult:
        if (bad := _needs_predictions(self.name, ctx)) is not None:
            return bad
        if ctx.y is None:
            return ValidationResult(self.name, False, message="no labels (y) given")
        m = METRICS[self.metric]
        if m.uses == "scores":
            pred = ctx.scores if ctx.scores is not None else ctx.predictions
        elif m.uses == "labels":
            pred = np.asarray(ctx.predictions)
            y_vals = np.unique(np.asarray(ctx.y))
            if (
                pred.dtype.kind == "f"
                and np.isin(y_vals, [0, 1]).all()
                and not np.isin(pred[np.isfinite(pred)], [0.0, 1.0]).all()
            ):
                pred = (pred >= self.threshold_proba).astype(int)  # probabilities -> labels
        else:
            pred = ctx.predictions
        if m.uses != "labels" and not np.all(np.isfinite(np.asarray(pred, dtype=float))):
            value = math.nan
        else:
            value = m(np.asarray(ctx.y), pred)
        threshold = self.min_value if self.min_value is not None else self.max_value
        if not _finite(value):
            return ValidationResult(
                self.name, False, math.nan, threshold, f"{self.metric} is NaN (fails by rule)"
            )
        if self.min_value is not None and value < self.min_value:
            return ValidationResult(
                self.name,
                False,
                value,
                threshold,
                f"{self.metric} {value:.4g} < {self.min_value:g}",
            )
        if self.max_value is not None and value > self.max_value:
            return ValidationResult(
                self.name,
                False,
                value,
                threshold,
                f"{self.metric} {value:.4g} > {self.max_value:g}",
            )
        return ValidationResult(self.name, True, value, threshold, f"{self.metric} {value:.4g}")


@dataclass(frozen=True)
class _Drift:
    name: str
    reference: np.ndarray = field(repr=False)
    method: str
    threshold: float

    def __call__(self, ctx: ValidationContext) -> ValidationResult:
        if (bad := _needs_predictions(self.name, ctx)) is not None:
            return bad
        cur = np.asarray(ctx.predictions, dtype=float).ravel()
        cur = cur[np.isfinite(cur)]
        if cur.size == 0:
            return ValidationResult(
                self.name, False, math.nan, self.threshold, "no finite predictions"
            )
        if self.method == "ks":
            from scipy import stats

            p = float(stats.ks_2samp(self.reference, cur).pvalue)
            passed = p >= self.threshold
            msg = f"KS p-value {p:.4g} ({'>=' if passed else '<'} {self.threshold:g})"
            return ValidationResult(self.name, passed, p, self.threshold, msg)
        d = normalised_wasserstein(self.reference, cur)
        passed = d < self.threshold
        msg = f"normalised Wasserstein {d:.4g} ({'<' if passed else '>='} {self.threshold:g})"
        return ValidationResult(self.name, passed, d, self.threshold, msg)


@dataclass(frozen=True)
class _Latency:
    name: str
    max_ms: float
    quantile: float
    batch_size: int
    n_batches: int
    warmup: int
    clock: Callable[[], float] = field(repr=False)

    def __call__(self, ctx: ValidationContext) -> ValidationResult:
        n = _n_rows(ctx.X)
        if n == 0:
            return ValidationResult(self.name, False, message="no rows to time")
        size = min(self.batch_size, n)
        times_ms = []
        start = 0
        for i in range(self.warmup + self.n_batches):
            if start + size > n:
                start = 0
            batch = _take(ctx.X, start, start + size)
            start += size
            t0 = self.clock()
            ctx.model.predict(batch)
            elapsed_ms = (self.clock() - t0) * 1000.0
            if i >= self.warmup:
                times_ms.append(elapsed_ms)
        value = float(np.quantile(times_ms, self.quantile))
        passed = value <= self.max_ms
        msg = (
            f"q{self.quantile:g} of {self.n_batches} batches of {size} row(s): "
            f"{value:.3g} ms (budget {self.max_ms:g} ms)"
        )
        return ValidationResult(self.name, passed, value, self.max_ms, msg)


@dataclass(frozen=True)
class _Custom:
    name: str
    fn: Callable[[Any, Any, Any], Any] = field(repr=False)
    threshold: float

    def __call__(self, ctx: ValidationContext) -> ValidationResult:
        out = self.fn(ctx.model, ctx.X, ctx.y)
        if isinstance(out, ValidationResult):
            return out
        if isinstance(out, tuple):
            passed, value = out[0], float(out[1])
            message = str(out[2]) if len(out) > 2 else ""
        else:
            passed, value, message = out, math.nan, ""
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(
                f"custom validator {self.name!r} must return a bool, (bool, value[, message]) "
                f"or a ValidationResult, got {type(out).__name__}"
            )
        return ValidationResult(self.name, bool(passed), value, self.threshold, message)


class ValidationSuite:
    """Pre-deployment checks on a model and held-out data.

    Build with the ``add_*`` methods (chainable), then :meth:`run`. See the
    module docstring for an example.
    """

    def __init__(self) -> None:
        self._checks: list[tuple[str, Check]] = []

    def __len__(self) -> int:
        return len(self._checks)

    @property
    def names(self) -> list[str]:
        """Check names in the order they run."""
        return [n for n, _ in self._checks]

    def add(self, name: str, check: Check) -> ValidationSuite:
        """Add any ``check(context) -> ValidationResult`` (see :class:`ValidationContext`)."""
        if not callable(check):
            raise ValueError(f"check: must be callable, got {check!r}")
        if name in self.names:
            raise ValueError(f"name: duplicate check name {name!r}")
        self._checks.append((str(name), check))
        return self

    def add_prediction_bounds(
        self,
        lower: float | None = None,
        upper: float | None = None,
        max_fraction_outside: float = 0.0,
        allow_nan: bool = False,
        name: str = "prediction_bounds",
    ) -> ValidationSuite:
        """Predictions must lie in ``[lower, upper]`` and be finite.

        NaN predictions are allowed with ``allow_nan``. Passes when the fraction
        outside the bounds is at most ``max_fraction_outside``.
        """
        if lower is not None and upper is not None and lower > upper:
            raise ValueError(f"lower: {lower!r} is above upper {upper!r}")
        if not 0 <= max_fraction_outside <= 1:
            raise ValueError(
                f"max_fraction_outside: must be in [0, 1], got {max_fraction_outside!r}"
            )
        return self.add(name, _Bounds(name, lower, upper, float(max_fraction_outside), allow_nan))

    def add_performance(
        self,
        metric: str,
        min_value: float | None = None,
        max_value: float | None = None,
        name: str | None = None,
        threshold_proba: float = 0.5,
    ) -> ValidationSuite:
        """Metric threshold on the held-out labels.

        ``metric`` is one of :data:`METRICS` (``mae``, ``mse``, ``rmse``, ``r2``,
        ``auc``, ``accuracy``). Give ``max_value`` for error metrics, ``min_value``
        for scores (the default direction follows the metric). AUC uses
        ``predict_proba(X)[:, 1]`` when the model has it; accuracy turns
        probability predictions into labels at ``threshold_proba``.
        """
        key = str(metric).lower()
        if key not in METRICS:
            raise ValueError(f"metric: unknown {metric!r}; choose from {sorted(METRICS)}")
        if min_value is None and max_value is None:
            raise ValueError("min_value/max_value: give at least one threshold")
        m = METRICS[key]
        if m.higher_is_better and min_value is None:
            raise ValueError(f"min_value: {key} is higher-is-better; give min_value")
        if not m.higher_is_better and max_value is None:
            raise ValueError(f"max_value: {key} is lower-is-better; give max_value")
        name = name or key
        return self.add(name, _Performance(name, key, min_value, max_value, threshold_proba))

    def add_prediction_drift(
        self,
        reference_predictions: Sequence[float] | np.ndarray,
        method: str = "auto",
        threshold: float | None = None,
        name: str = "prediction_drift",
    ) -> ValidationSuite:
        """Compare the prediction distribution with reference predictions.

        The reference is e.g. the production model's predictions on the same
        rows, or last release's. ``method="ks"``: passes while the two-sample KS p-value >= ``threshold``
        (default 0.05). ``method="wasserstein"``: passes while the normalised
        Wasserstein distance < ``threshold`` (default 0.1). ``"auto"``: KS for up to
        1000 reference values, Wasserstein above (Evidently's default choice).
        """
        ref = np.asarray(reference_predictions, dtype=float).ravel()
        ref = ref[np.isfinite(ref)]
        if ref.size < 2:
            raise ValueError("reference_predictions: need at least two finite values")
        if method == "auto":
            method = "ks" if ref.size <= 1000 else "wasserstein"
        if method not in ("ks", "wasserstein"):
            raise ValueError(f"method: must be 'auto', 'ks' or 'wasserstein', got {method!r}")
        if threshold is None:
            threshold = 0.05 if method == "ks" else 0.1
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold: must be a finite number > 0, got {threshold!r}")
        return self.add(name, _Drift(name, ref, method, float(threshold)))

    def add_latency_budget(
        self,
        max_ms: float,
        quantile: float = 0.99,
        batch_size: int = 1,
        n_batches: int = 50,
        warmup: int = 2,
        clock: Callable[[], float] = time.perf_counter,
        name: str = "latency_budget",
    ) -> ValidationSuite:
        """Time ``model.predict`` and hold a latency quantile to a budget.

        Runs ``n_batches`` consecutive batches of ``batch_size`` rows (after
        ``warmup`` untimed batches), timed with ``clock`` (seconds,
        ``time.perf_counter`` by default); passes when the ``quantile`` of the
        batch latencies is at most ``max_ms``. This is a real measurement of this
        machine, not of the simulated servers.
        """
        if not (math.isfinite(max_ms) and max_ms > 0):
            raise ValueError(f"max_ms: must be a finite number > 0, got {max_ms!r}")
        if not 0 <= quantile <= 1:
            raise ValueError(f"quantile: must be in [0, 1], got {quantile!r}")
        for arg, v, lo in (
            ("batch_size", batch_size, 1),
            ("n_batches", n_batches, 1),
            ("warmup", warmup, 0),
        ):
            if int(v) != v or v < lo:
                raise ValueError(f"{arg}: must be an integer >= {lo}, got {v!r}")
        return self.add(
            name,
            _Latency(
                name,
                float(max_ms),
                float(quantile),
                int(batch_size),
                int(n_batches),
                int(warmup),
                clock,
            ),
        )

    def add_custom(
        self, name: str, fn: Callable[[Any, Any, Any], Any], threshold: float = math.nan
    ) -> ValidationSuite:
        """Add a check written as a plain function.

        ``fn(model, X, y)`` returns a bool, ``(passed, value[, message])`` or a
        :class:`ValidationResult`.
        """
        if not callable(fn):
            raise ValueError(f"fn: must be callable, got {fn!r}")
        return self.add(name, _Custom(name, fn, threshold))

    @classmethod
    def from_specs(cls, specs: Iterable[Mapping[str, Any]]) -> ValidationSuite:
        """Build from plain mappings (e.g. a scenario's ``[[validation.checks]]``).

        Each mapping is ``{"kind": "bounds" | "performance" | "drift" | "latency", ...}`` with the
        keyword arguments of the matching ``add_*`` method (drift takes
        ``reference_predictions``).

        Examples
        --------
        >>> s = ValidationSuite.from_specs([{"kind": "performance", "metric": "rmse",
        ...                                  "max_value": 2.0}])
        >>> s.names
        ['rmse']
        """
        suite = cls()
        adders = {
            "bounds": suite.add_prediction_bounds,
            "performance": suite.add_performance,
            "drift": suite.add_prediction_drift,
            "latency": suite.add_latency_budget,
        }
        for i, spec in enumerate(specs):
            spec = dict(spec)
            kind = spec.pop("kind", None)
            if kind not in adders:
                raise ValueError(f"specs[{i}].kind: must be one of {sorted(adders)}, got {kind!r}")
            try:
                adders[kind](**spec)
            except TypeError as exc:
                raise ValueError(f"specs[{i}]: {exc}") from None
            except ValueError as exc:
                raise ValueError(f"specs[{i}].{exc}") from None
        return suite

    def run(
        self, model: Any, X: Any, y: Any = None, model_name: str | None = None
    ) -> ValidationReport:
        """Run every check on ``model`` with held-out ``X`` (and labels ``y``)."""
        if not hasattr(model, "predict"):
            raise ValueError(f"model: needs a predict(X) method, got {type(model).__name__}")
        predictions = None
        scores = None
        error = None
        try:
            predictions = np.asarray(model.predict(X))
            if predictions.ndim == 2 and predictions.shape[1] == 1:
                predictions = predictions[:, 0]
            if hasattr(model, "predict_proba"):
                proba = np.asarray(model.predict_proba(X))
                scores = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else None
        except Exception as exc:  # noqa: BLE001 - reported as failed checks
            error = f"{type(exc).__name__}: {exc}"
            predictions = None
        ctx = ValidationContext(model, X, y, predictions, error, scores)
        results = []
        for name, check in self._checks:
            try:
                res = check(ctx)
            except Exception as exc:  # noqa: BLE001 - a broken check fails, the suite goes on
                res = ValidationResult(name, False, message=f"{type(exc).__name__}: {exc}")
            results.append(res)
        return ValidationReport(tuple(results), model_name)
