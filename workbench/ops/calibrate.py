"""Calibrate a scenario from a real request log or a Prometheus export.

A team brings what its service saw; :func:`calibrate` turns it into a scenario whose
traffic and latency match, so that a rollout is rehearsed on *their* traffic:

* **traffic**: the requests per ``step_s`` of the log become a ``trace`` pattern that
  replays the observed rate curve (``pattern="trace"``), or a fitted ``diurnal`` cycle
  (``pattern="diurnal"``, with the fit's error);
* **latency**: the observed quantiles become an ``empirical`` latency table (the default,
  ``latency="empirical"``), and a lognormal is fitted too (``latency="lognormal"`` puts it
  in the scenario), with its goodness of fit;
* **failures**: the share of requests that ended in an error becomes the model's
  ``error_rate``; the timeout rate is reported (a simulated model times out through its
  ``timeout_ms`` and its queue, not at a configured rate).

The log is a CSV, Parquet or JSON-lines file (by suffix: ``.csv``, ``.csv.gz``,
``.parquet``, ``.pq``, ``.jsonl``, ``.ndjson``) with one row per request. The time
column holds epoch seconds, epoch milliseconds (any number of at least 1e11; 1e14 and
1e17 mean microseconds and nanoseconds), relative seconds, or ISO 8601 timestamps. The
status column, when given, holds names or HTTP codes:

* ``ok``, ``success``, ``succeeded`` and every code below 500 but 408 are ``ok`` (a 4xx is
  the client's mistake, not the model's);
* ``timeout``, ``timed_out``, ``deadline_exceeded`` and the codes 408 and 504 are ``timeout``;
* ``error``, ``failed``, ``failure``, ``fail``, ``dropped``, ``rejected`` and every other
  5xx are ``error``.

Latencies of ``ok`` requests make the latency table (an error's or a timeout's latency
says nothing of the service time); a latency that is missing or 0 is left out of the
fit and counted.

:func:`calibrate_prometheus` does the same from a Prometheus range-query export
(``/api/v1/query_range``): a request-rate series becomes the trace, and
``histogram_quantile`` series become the latency table.

Examples
--------
>>> import pandas as pd, tempfile, os
>>> rows = pd.DataFrame({"ts": [0.5 * i for i in range(2400)],
...                      "latency_ms": [20.0 + (i * 7919) % 61 for i in range(2400)]})
>>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
>>> rows.to_csv(path, index=False)
>>> cal = calibrate(path, time_col="ts", latency_col="latency_ms")
>>> cal.rates_per_s[:3].tolist(), cal.scenario.traffic.pattern, cal.scenario.duration_s
([2.0, 2.0, 2.0], 'trace', 1200.0)
>>> cal.quantiles[0.5]
50.0
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..scenario import Scenario, ScenarioError, load_scenario
from ..scenario.toml import drop_none

__all__ = [
    "LATENCY_PROBABILITIES",
    "MIN_TAIL_OBSERVATIONS",
    "Calibration",
    "DiurnalFit",
    "LognormalFit",
    "ModelFit",
    "PrometheusSeries",
    "calibrate",
    "calibrate_prometheus",
    "fit_diurnal",
    "fit_lognormal",
    "quantile_table",
    "rate_curve",
    "read_prometheus_matrix",
]

LATENCY_PROBABILITIES = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
"""Probabilities of the empirical latency table, those the sample can estimate (see below)."""

MIN_TAIL_OBSERVATIONS = 10
"""A probability ``p`` enters the table when at least this many latencies lie beyond it
(``n * min(p, 1 - p) >= 10``): an extreme quantile is then an estimate, not one request."""

MIN_LATENCIES = 20  # fewer ok latencies than this give no table

_Z99 = 2.3263478740408408  # standard normal 99th percentile
_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "ns": 1e-6}
_OK_WORDS = {"ok", "success", "succeeded", "successful"}
_ERROR_WORDS = {"error", "failed", "failure", "fail", "dropped", "rejected"}
_TIMEOUT_WORDS = {"timeout", "timed_out", "timedout", "deadline_exceeded"}
_TIMEOUT_CODES = {408, 504}
_OK, _ERROR, _TIMEOUT = 0, 1, 2


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class LognormalFit:
    """A lognormal fitted by maximum likelihood to the ok latencies, and how well it fits.

    ``median_ms = exp(mean(ln x))``, ``sigma = sd(ln x)`` (the MLE, divisor ``n``),
    ``p99_ms = median_ms * exp(z_0.99 * sigma)``. ``ks_statistic`` is the Kolmogorov-Smirnov
    distance between the sample and the fit (about ``1.36 / sqrt(n)`` or less when the log
    is lognormal); ``quantile_rel_errors`` the relative error ``fit / observed - 1`` at the
    0.5, 0.9 and 0.99 quantiles, and ``max_quantile_rel_error`` the largest in absolute value.
    """

    median_ms: float
    p99_ms: float
    sigma: float
    n: int
    ks_statistic: float
    quantile_rel_errors: dict[float, float]

    @property
    def max_quantile_rel_error(self) -> float:
        """Largest ``|fit / observed - 1|`` at p50, p90 and p99."""
        return max(abs(v) for v in self.quantile_rel_errors.values())


@dataclass(frozen=True)
class DiurnalFit:
    """``rate(t) = rate_per_s * (1 + amplitude * sin(2 pi (t - phase_s) / period_s))`` fitted to the rate curve.

    Least squares on the observed rate of each step (at the step's middle), ``t`` in seconds
    after the log's first step. The scenario's diurnal pattern has no phase, so its
    ``t = 0`` is ``phase_s`` into the log (the cycle crossing its mean on the way up).
    ``rmse_per_s`` is the root mean square of observed minus fitted rate and
    ``relative_error = rmse_per_s / rate_per_s``; ``poisson_rmse_per_s`` is the part of it a
    perfect fit would still show, the Poisson noise of a step's count
    (``sqrt(rate_per_s / step_s)``). An amplitude of 1 or more (the fit dips below zero) is
    capped at 0.999, the schema's bound.
    """

    rate_per_s: float
    amplitude: float
    period_s: float
    phase_s: float
    rmse_per_s: float
    relative_error: float
    poisson_rmse_per_s: float


@dataclass(frozen=True)
class ModelFit:
    """What the log says about one model: its latency table and lognormal, its failure rates."""

    name: str  # the model's name in the scenario
    log_value: str | None  # its value in the log's model column (None without one)
    n: int  # requests
    n_latencies: int  # ok requests with a usable latency (the table's sample)
    n_latency_excluded: int  # ok requests whose latency was missing or 0
    quantiles: dict[float, float]  # probability -> ms (the empirical table)
    lognormal: LognormalFit | None  # None when the export has quantiles only
    error_rate: float
    timeout_rate: float


@dataclass(frozen=True)
class Calibration:
    """A calibrated scenario and the measurements behind it.

    ``rates_per_s[k]`` is the observed request rate over ``[k * step_s, (k + 1) * step_s)``
    after ``origin_s`` (the log's first request, in epoch seconds when the log has
    timestamps). ``models`` holds one :class:`ModelFit` per model of the scenario;
    ``quantiles``, ``lognormal``, ``error_rate`` and ``timeout_rate`` are legacy's.
    ``mapping`` is the scenario as a plain mapping; :meth:`to_toml` writes it. In the
    scenario, latencies are rounded to 6 significant digits and the error rate to 9 decimals.
    """

    scenario: Scenario
    mapping: dict[str, Any]
    source: str
    step_s: float
    origin_s: float
    rates_per_s: np.ndarray
    models: dict[str, ModelFit]
    diurnal: DiurnalFit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def times_s(self) -> np.ndarray:
        """Start of each step of the rate curve, in seconds after ``origin_s``."""
        return np.arange(self.rates_per_s.size) * self.step_s

    @property
    def mean_rate_per_s(self) -> float:
        """Mean of the observed rate curve."""
        return float(self.rates_per_s.mean())

    @property
    def quantiles(self) -> dict[float, float]:
        """Legacy's empirical latency table (probability -> ms)."""
        return self.models["legacy"].quantiles

    @property
    def lognormal(self) -> LognormalFit | None:
        """Legacy's lognormal fit."""
        return self.models["legacy"].lognormal

    @property
    def error_rate(self) -> float:
        """Legacy's share of requests ending in an error."""
        return self.models["legacy"].error_rate

    @property
    def timeout_rate(self) -> float:
        """Legacy's share of requests ending in a timeout."""
        return self.models["legacy"].timeout_rate

    def summary(self) -> str:
        """What was measured and how well the fits hold, as a few lines for the CLI and notebooks."""
        rates = self.rates_per_s
        lines = [f"{self.source}: {rates.size} steps of {self.step_s:g} s, rate mean {rates.mean():.3g}/s "
                 f"(min {rates.min():.3g}, max {rates.max():.3g})"]
        d = self.diurnal
        if d is not None:
            lines.append(f"diurnal fit: {d.rate_per_s:.3g}/s x (1 + {d.amplitude:.3f} sin(2 pi (t - {d.phase_s:.0f} s)"
                         f" / {d.period_s:g} s)); rmse {d.rmse_per_s:.3g}/s ({d.relative_error:.1%} of the mean; "
                         f"Poisson noise alone {d.poisson_rmse_per_s:.3g}/s)")
        pattern = self.scenario.traffic.pattern
        lines.append(f"traffic pattern written: {pattern}")
        for fit in self.models.values():
            table = ", ".join(f"p{100 * p:g} {q:.4g}" for p, q in fit.quantiles.items() if p in (0.5, 0.9, 0.99))
            lines.append(f"{fit.name}: {fit.n} requests, error {fit.error_rate:.3%}, timeout {fit.timeout_rate:.3%};"
                         f" latency (ms) {table}")
            ln = fit.lognormal
            if ln is not None:
                worst = max(ln.quantile_rel_errors, key=lambda q: abs(ln.quantile_rel_errors[q]))
                lines.append(f"  lognormal fit: median {ln.median_ms:.4g} ms, p99 {ln.p99_ms:.4g} ms, sigma "
                             f"{ln.sigma:.3f}; KS {ln.ks_statistic:.4f} (n={ln.n}), worst quantile error "
                             f"{ln.quantile_rel_errors[worst]:+.1%} at p{100 * worst:g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_toml(self, path: str | Path | None = None) -> str:
        """The scenario as TOML text, written to ``path`` when given (read back by ``load_scenario``)."""
        text = self.scenario.to_toml()
        if path is not None:
            from ..outputs import atomic_write_text

            atomic_write_text(Path(path), text)
        return text


# ----------------------------------------------------------------------------- reading a log
def _read_table(path: Path):
    """The log as a DataFrame, by suffix."""
    import pandas as pd

    name = path.name.lower()
    source = str(path)
    if not path.is_file():
        raise ScenarioError("no such file" if not path.exists() else "not a file", source=source)
    try:
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
            return pd.read_json(path, lines=True)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the log: {exc}", source=source) from None
    except Exception as exc:  # parser errors of pandas and pyarrow have no common base
        raise ScenarioError(f"cannot read the log: {type(exc).__name__}: {exc}", source=source) from None
    raise ScenarioError("unknown log format: expected .csv, .parquet or .jsonl", source=source)


def _column(frame, name: str, arg: str, source: str):
    if name not in frame.columns:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
        raise ScenarioError(f"{arg} {name!r}: no such column (the log has {shown})", source=source)
    return frame[name]


def _epoch_seconds(col, name: str, source: str, time_unit: str) -> np.ndarray:
    """Times in seconds: numbers (s, ms, us or ns; ``auto`` by magnitude) or timestamps."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = pd.to_datetime(col, utc=True)
    else:
        numbers = pd.to_numeric(col, errors="coerce") if not pd.api.types.is_bool_dtype(col) else None
        if numbers is not None and numbers.notna().sum() == col.notna().sum() and col.notna().any():
            values = numbers.to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ScenarioError(f"time_col {name!r}: row {int(bad[0])} has no time", source=source)
            scale = _time_scale(values, time_unit, name, source)
            return values / scale
        try:
            stamps = pd.to_datetime(col, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ScenarioError(
                f"time_col {name!r}: expected epoch seconds or milliseconds, or ISO 8601 timestamps ({exc})",
                source=source,
            ) from None
    missing = np.flatnonzero(stamps.isna().to_numpy())
    if missing.size:
        raise ScenarioError(f"time_col {name!r}: row {int(missing[0])} has no time", source=source)
    epoch = pd.Timestamp(0, tz="UTC")
    return ((stamps - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def _time_scale(values: np.ndarray, time_unit: str, name: str, source: str) -> float:
    units = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
    if time_unit != "auto":
        if time_unit not in units:
            raise ScenarioError(f"time_unit {time_unit!r}: expected auto, s, ms, us or ns", source=source)
        return units[time_unit]
    typical = float(np.median(np.abs(values)))
    for unit, bound in (("ns", 1e17), ("us", 1e14), ("ms", 1e11)):
        if typical >= bound:
            return units[unit]
    return 1.0


def _statuses(col, name: str, source: str) -> np.ndarray:
    """Status codes (ok, error, timeout) of names or HTTP codes (see the module docstring)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        raise ScenarioError(f"status_col {name!r}: expected status names or HTTP codes, got booleans", source=source)
    text = col.astype("string").str.strip().str.lower()
    if pd.api.types.is_float_dtype(col):  # HTTP codes read as floats (a column with a gap): 500.0 -> 500
        text = text.str.replace(r"\.0+$", "", regex=True)
    values = text.to_numpy(dtype=object, na_value="")
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    table = np.empty(uniques.size, dtype=np.int8)
    for u, v in enumerate(uniques):
        if v == "":
            row = int(np.flatnonzero(inverse == u)[0])
            raise ScenarioError(f"status_col {name!r}: row {row} has no status", source=source)
        if v in _OK_WORDS:
            table[u] = _OK
        elif v in _ERROR_WORDS:
            table[u] = _ERROR
        elif v in _TIMEOUT_WORDS:
            table[u] = _TIMEOUT
        elif re.fullmatch(r"[1-5][0-9][0-9]", v):
            http = int(v)
            table[u] = _TIMEOUT if http in _TIMEOUT_CODES else (_ERROR if http >= 500 else _OK)
        else:
            row = int(np.flatnonzero(inverse == u)[0])
            raise ScenarioError(
                f"status_col {name!r}: row {row} has {str(v)!r}; expected ok, error, timeout or an HTTP code",
                source=source,
            )
    return table[inverse]


def _latencies_ms(col, name: str, unit: str, source: str) -> np.ndarray:
    import pandas as pd

    if unit not in _LATENCY_UNITS:
        raise ScenarioError(f"latency_unit {unit!r}: expected one of {', '.join(_LATENCY_UNITS)}", source=source)
    if pd.api.types.is_bool_dtype(col):
        raise ScenarioError(f"latency_col {name!r}: expected numbers, got booleans", source=source)
    values = pd.to_numeric(col, errors="coerce")
    text = col.notna() & values.isna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise ScenarioError(f"latency_col {name!r}: row {i} has {str(col.iloc[i])!r}, not a number", source=source)
    out = values.to_numpy(dtype=float) * _LATENCY_UNITS[unit]
    bad = np.flatnonzero(out < 0) if np.any(out < 0) else np.flatnonzero(np.isinf(out))
    if bad.size:
        raise ScenarioError(f"latency_col {name!r}: row {int(bad[0])} has {float(out[bad[0]])!r} ms", source=source)
    return out


# ----------------------------------------------------------------------------- fits
def rate_curve(times_s: np.ndarray, step_s: float) -> tuple[float, np.ndarray]:
    """``(origin_s, rates_per_s)``: requests per second in consecutive steps from the first request.

    The curve has ``max(1, round(span / step_s))`` steps, ``span`` the time from the first to
    the last request: a last step covered for at least half its length counts as complete, a
    shorter remainder is left out (its requests still count for latency and failures).

    Examples
    --------
    >>> rate_curve(np.array([100.0, 100.5, 101.0, 102.5, 103.9]), 2.0)
    (100.0, array([1.5, 1. ]))
    """
    origin = float(times_s.min())
    span = float(times_s.max()) - origin
    n_steps = max(1, int(round(span / step_s)))
    k = np.floor((times_s - origin) / step_s).astype(np.int64)
    counts = np.bincount(k[k < n_steps], minlength=n_steps)
    return origin, counts / step_s


def fit_diurnal(rates_per_s: np.ndarray, step_s: float, period_s: float) -> DiurnalFit:
    """Least-squares fit of a sinusoid of period ``period_s`` to a rate curve (see :class:`DiurnalFit`).

    Examples
    --------
    >>> t = (np.arange(240) + 0.5) * 60.0
    >>> fit = fit_diurnal(10 * (1 + 0.4 * np.sin(2 * np.pi * (t - 600) / 7200)), 60.0, 7200.0)
    >>> round(fit.rate_per_s, 6), round(fit.amplitude, 6), round(fit.phase_s, 3), fit.rmse_per_s < 1e-9
    (10.0, 0.4, 600.0, True)
    """
    y = np.asarray(rates_per_s, dtype=float)
    t = (np.arange(y.size) + 0.5) * step_s
    w = 2 * np.pi * t / period_s
    design = np.column_stack([np.ones_like(t), np.sin(w), np.cos(w)])
    (mean, b_sin, b_cos), *_ = np.linalg.lstsq(design, y, rcond=None)
    mean = float(mean)
    if not mean > 0:
        raise ValueError("rates_per_s: the fitted mean rate is not positive")
    amplitude = min(math.hypot(b_sin, b_cos) / mean, 0.999)
    phase = (math.atan2(-b_cos, b_sin) * period_s / (2 * np.pi)) % period_s
    fitted = mean * (1 + amplitude * np.sin(2 * np.pi * (t - phase) / period_s))
    rmse = float(np.sqrt(np.mean((y - fitted) ** 2)))
    return DiurnalFit(
        rate_per_s=mean, amplitude=float(amplitude), period_s=float(period_s), phase_s=float(phase),
        rmse_per_s=rmse, relative_error=rmse / mean, poisson_rmse_per_s=math.sqrt(mean / step_s),
    )


def quantile_table(latencies_ms: np.ndarray, probabilities: Sequence[float] = LATENCY_PROBABILITIES
                   ) -> dict[float, float]:
    """Sample quantiles (numpy's default, linear) at the probabilities the sample supports.

    ``p`` is kept when ``n * min(p, 1 - p) >= MIN_TAIL_OBSERVATIONS``.
    """
    n = latencies_ms.size
    ps = [p for p in probabilities if n * min(p, 1 - p) >= MIN_TAIL_OBSERVATIONS]
    qs = np.quantile(latencies_ms, ps)
    return {float(p): float(q) for p, q in zip(ps, np.maximum.accumulate(qs), strict=True)}


def fit_lognormal(latencies_ms: np.ndarray) -> LognormalFit:
    """Maximum-likelihood lognormal of positive latencies, with its KS distance and quantile errors."""
    from scipy import stats

    logs = np.log(latencies_ms)
    mu, sigma = float(logs.mean()), float(logs.std())
    median = math.exp(mu)
    ks = float(stats.kstest(logs, "norm", args=(mu, sigma)).statistic) if sigma > 0 else 1.0
    errors = {}
    for p in (0.5, 0.9, 0.99):
        observed = float(np.quantile(latencies_ms, p))
        fitted = median * math.exp(sigma * float(stats.norm.ppf(p)))
        errors[p] = fitted / observed - 1.0
    return LognormalFit(median_ms=median, p99_ms=median * math.exp(_Z99 * sigma), sigma=sigma,
                        n=int(latencies_ms.size), ks_statistic=ks, quantile_rel_errors=errors)


def _round_ms(x: float) -> float:
    return float(f"{x:.6g}")


def _latency_table(fit: ModelFit, kind: str) -> dict[str, Any]:
    """A model's ``latency`` table in the scenario: the empirical quantiles or the lognormal."""
    if kind == "lognormal":
        if fit.lognormal is None:
            raise ValueError("latency: 'lognormal' needs the latencies themselves (a log, not quantiles)")
        ln = fit.lognormal
        return {"dist": "lognormal", "median_ms": _round_ms(ln.median_ms), "p99_ms": _round_ms(ln.p99_ms)}
    ps = sorted(fit.quantiles)
    qs = np.maximum.accumulate([_round_ms(fit.quantiles[p]) for p in ps])
    return {"dist": "empirical", "probabilities": ps, "quantiles_ms": [float(q) for q in qs]}


# ----------------------------------------------------------------------------- the scenario
def _base_mapping(base: Any) -> dict[str, Any] | None:
    """The base scenario as a plain mapping without empty (None) fields, or None."""
    if base is None:
        return None
    scenario = base if isinstance(base, Scenario) else load_scenario(base)
    return drop_none(scenario.to_mapping())


def _build(
    *,
    source: str,
    base: Any,
    name: str | None,
    step_s: float,
    origin_s: float,
    rates: np.ndarray,
    fits: list[ModelFit],
    shares: dict[str, float],
    pattern: str,
    period_s: float,
    latency: str,
    notes: list[str],
) -> Calibration:
    if pattern not in ("trace", "diurnal"):
        raise ScenarioError(f"pattern {pattern!r}: expected 'trace' or 'diurnal'", source=source)
    if latency not in ("empirical", "lognormal"):
        raise ScenarioError(f"latency {latency!r}: expected 'empirical' or 'lognormal'", source=source)
    if not rates.mean() > 0:
        raise ScenarioError("the log has no request in its rate curve", source=source)
    diurnal = None
    if pattern == "diurnal":
        span_s = rates.size * step_s
        if span_s < period_s:
            raise ScenarioError(f"pattern 'diurnal': the data cover {span_s:g} s, less than one period_s "
                                f"({period_s:g} s); a cycle cannot be fitted to part of it (give period_s, or "
                                "use pattern 'trace' to replay the observed curve)", source=source)
        try:
            diurnal = fit_diurnal(rates, step_s, period_s)
        except ValueError as exc:
            raise ScenarioError(f"pattern 'diurnal': {exc}", source=source) from None
        traffic = {"pattern": "diurnal", "rate_per_s": diurnal.rate_per_s, "amplitude": diurnal.amplitude,
                   "period_s": diurnal.period_s}
    else:
        traffic = {"pattern": "trace", "trace_step_s": float(step_s),
                   "trace_rates_per_s": [float(r) for r in rates]}
        traffic["rate_per_s"] = math.fsum(traffic["trace_rates_per_s"]) / rates.size
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name) or "log"
    mapping = _base_mapping(base)
    if mapping is None:
        mapping = {"name": name or f"calibrated_{stem}",
                   "description": f"Traffic and latency calibrated from {Path(source).name}.",
                   "duration_s": float(rates.size * step_s), "models": {}}
        if "candidate" in shares:
            mapping["strategy"] = {"kind": "ab", "candidate_fraction": round(shares["candidate"], 6)}
    elif name:
        mapping["name"] = name
    old = mapping.pop("traffic", {})
    kept = {k: v for k, v in old.items() if k in ("users", "user_skew", "label_delay_s", "features")}
    models = dict(mapping.pop("models", {}))
    mapping = {**{k: mapping.pop(k) for k in ("name", "description", "duration_s") if k in mapping},
               "traffic": {**kept, **traffic}, **mapping}
    for fit in fits:
        table = dict(models.get(fit.name, {}))
        try:
            table["latency"] = _latency_table(fit, latency)
        except ValueError as exc:
            raise ScenarioError(str(exc), source=source) from None
        table["error_rate"] = round(fit.error_rate, 9)
        models[fit.name] = table
    mapping["models"] = models
    try:
        scenario = load_scenario(mapping)
    except ScenarioError as exc:
        raise ScenarioError(f"the calibrated scenario is invalid: {exc}", source=source) from None
    return Calibration(scenario=scenario, mapping=mapping, source=source, step_s=float(step_s),
                       origin_s=float(origin_s), rates_per_s=rates, models={f.name: f for f in fits},
                       diurnal=diurnal, notes=tuple(notes))


def _model_fit(name: str, value: str | None, lat_ms: np.ndarray, status: np.ndarray, source: str,
               latency_col: str) -> ModelFit:
    n = int(status.size)
    ok_lat = lat_ms[status == _OK]
    usable = ok_lat[np.isfinite(ok_lat) & (ok_lat > 0)]
    if usable.size < MIN_LATENCIES:
        which = f" of model {value!r}" if value is not None else ""
        raise ScenarioError(
            f"latency_col {latency_col!r}: {usable.size} usable latencies of ok requests{which}; "
            f"at least {MIN_LATENCIES} are needed", source=source)
    return ModelFit(
        name=name, log_value=value, n=n, n_latencies=int(usable.size),
        n_latency_excluded=int(ok_lat.size - usable.size), quantiles=quantile_table(usable),
        lognormal=fit_lognormal(usable), error_rate=float(np.mean(status == _ERROR)),
        timeout_rate=float(np.mean(status == _TIMEOUT)),
    )


def calibrate(
    path: str | Path,
    *,
    time_col: str,
    latency_col: str,
    status_col: str | None = None,
    model_col: str | None = None,
    model: str | None = None,
    latency_unit: str = "ms",
    time_unit: str = "auto",
    base: Any = None,
    pattern: Literal["trace", "diurnal"] = "trace",
    step_s: float = 60.0,
    period_s: float = 86_400.0,
    latency: Literal["empirical", "lognormal"] = "empirical",
    name: str | None = None,
) -> Calibration:
    """Calibrate a scenario's traffic, latency and error rate from a request log.

    Parameters
    ----------
    path
        A CSV, Parquet or JSON-lines file, one row per request (see the module docstring).
    time_col, latency_col, status_col
        Columns: the request's time, its latency (in ``latency_unit``: ms, s, us or ns) and
        its status (names or HTTP codes; without it every request is ok).
    model_col, model
        Without ``model_col`` every row is legacy's. With it and ``model``, the rows of that
        model are legacy's. With it alone, one value means legacy, two values mean legacy
        (the one with more rows) and candidate, split by an A/B strategy at the observed
        share; more values need ``model``. The rate curve always counts every row (the
        traffic reaching the service).
    time_unit
        ``auto`` (by magnitude, see the module docstring) or s, ms, us, ns for numeric times.
    base
        A scenario (path, mapping or :class:`Scenario`) to calibrate: its traffic pattern
        and the calibrated models' latency and error rate are replaced, everything else
        (duration, strategy, faults, other models) is kept; a model the log adds is added.
        Without it the scenario is minimal, lasting the log's span.
    pattern
        ``trace`` replays the rate curve (repeating past its end); ``diurnal`` fits
        ``rate * (1 + amplitude * sin(2 pi t / period_s))`` (see :class:`DiurnalFit`).
    step_s
        Width of a step of the rate curve, in seconds.
    latency
        ``empirical`` (the quantile table) or ``lognormal`` (the fit) in the scenario.
    name
        The scenario's name (default ``calibrated_<file name>``, or the base's).

    Returns
    -------
    Calibration

    Raises
    ------
    ScenarioError
        A missing or unreadable file, a missing column or a value it cannot read; the
        message names the file and the column.
    """
    path = Path(path)
    source = str(path)
    if not (isinstance(step_s, (int, float)) and math.isfinite(step_s) and step_s > 0):
        raise ScenarioError(f"step_s {step_s!r}: must be a positive number of seconds", source=source)
    if not (isinstance(period_s, (int, float)) and math.isfinite(period_s) and period_s > 0):
        raise ScenarioError(f"period_s {period_s!r}: must be a positive number of seconds", source=source)
    frame = _read_table(path)
    if len(frame) == 0:
        raise ScenarioError("the log has no rows", source=source)
    times = _epoch_seconds(_column(frame, time_col, "time_col", source), time_col, source, time_unit)
    lat_ms = _latencies_ms(_column(frame, latency_col, "latency_col", source), latency_col, latency_unit, source)
    if status_col is not None:
        status = _statuses(_column(frame, status_col, "status_col", source), status_col, source)
    else:
        status = np.zeros(len(frame), dtype=np.int8)
    origin, rates = rate_curve(times, float(step_s))
    notes: list[str] = []
    if model_col is None:
        if model is not None:
            raise ScenarioError("model: needs model_col (the column that names each request's model)", source=source)
        groups = [("legacy", None, np.ones(len(frame), dtype=bool))]
    else:
        ids = _column(frame, model_col, "model_col", source).astype("string").to_numpy(dtype=object, na_value="")
        counts: dict[str, int] = {}
        for v in ids:
            counts[v] = counts.get(v, 0) + 1
        if model is not None:
            if str(model) not in counts:
                raise ScenarioError(f"model_col {model_col!r}: no row has model {model!r} "
                                    f"(values: {', '.join(sorted(counts)[:20])})", source=source)
            groups = [("legacy", str(model), ids == str(model))]
        elif len(counts) > 2:
            raise ScenarioError(f"model_col {model_col!r}: {len(counts)} models in the log; choose one with model=",
                                source=source)
        else:
            ranked = sorted(counts, key=lambda v: (-counts[v], v))
            groups = [(label, v, ids == v) for label, v in zip(("legacy", "candidate"), ranked, strict=False)]
            if len(ranked) == 2:
                notes.append(f"legacy is {ranked[0]!r} ({counts[ranked[0]]} rows), "
                             f"candidate is {ranked[1]!r} ({counts[ranked[1]]} rows)")
    fits = [_model_fit(label, value, lat_ms[mask], status[mask], source, latency_col) for label, value, mask in groups]
    total = sum(f.n for f in fits)
    shares = {f.name: f.n / total for f in fits}
    return _build(source=source, base=base, name=name, step_s=float(step_s), origin_s=origin, rates=rates,
                  fits=fits, shares=shares, pattern=pattern, period_s=float(period_s), latency=latency, notes=notes)


# ----------------------------------------------------------------------------- Prometheus
@dataclass(frozen=True)
class PrometheusSeries:
    """One series of a range query: its labels, its sample times (epoch s) and values (NaN kept)."""

    metric: dict[str, str]
    times_s: np.ndarray
    values: np.ndarray


def read_prometheus_matrix(path_or_mapping: str | Path | Mapping[str, Any]) -> list[PrometheusSeries]:
    """The series of a Prometheus range-query answer (``resultType`` ``matrix``).

    The answer of ``/api/v1/query_range`` is
    ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
    "values": [[<unix time>, "<value>"], ...]}, ...]}}``; values are strings, and
    ``"NaN"``, ``"+Inf"`` and ``"-Inf"`` are read as such.

    Raises
    ------
    ScenarioError
        The file is missing or not JSON, or the answer is not a successful matrix; the
        message names the file and the field (``data.result[0].values[3]``).

    Examples
    --------
    >>> doc = {"status": "success", "data": {"resultType": "matrix", "result": [
    ...     {"metric": {"job": "api"}, "values": [[1700000000, "2.5"], [1700000060, "NaN"]]}]}}
    >>> s = read_prometheus_matrix(doc)[0]
    >>> s.metric, s.times_s.tolist(), s.values.tolist()
    ({'job': 'api'}, [1700000000.0, 1700000060.0], [2.5, nan])
    """
    if isinstance(path_or_mapping, Mapping):
        doc, source = path_or_mapping, None
    else:
        path = Path(path_or_mapping)
        source = str(path)
        if not path.is_file():
            raise ScenarioError("no such file", source=source)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise ScenarioError(f"not a JSON document: {exc}", source=source) from None

    def fail(where: str, why: str):
        raise ScenarioError(f"{where}: {why}", source=source)

    if not isinstance(doc, Mapping):
        fail("<root>", "expected a JSON object")
    if doc.get("status") != "success":
        fail("status", f"expected 'success', got {doc.get('status')!r} ({doc.get('error', 'no error text')})")
    data = doc.get("data")
    if not isinstance(data, Mapping):
        fail("data", "expected an object")
    if data.get("resultType") != "matrix":
        fail("data.resultType", f"expected 'matrix' (a range query), got {data.get('resultType')!r}")
    result = data.get("result")
    if not isinstance(result, list):
        fail("data.result", "expected a list of series")
    return [_series(item, f"data.result[{i}]", fail) for i, item in enumerate(result)]


def _series(item: Any, where: str, fail) -> PrometheusSeries:
    """One ``{"metric": ..., "values": ...}`` entry of a matrix (``fail(field, why)`` raises)."""
    if not isinstance(item, Mapping) or not isinstance(item.get("values"), list):
        fail(where, "expected an object with 'metric' and 'values'")
    metric = item.get("metric", {})
    if not isinstance(metric, Mapping):
        fail(f"{where}.metric", "expected an object of labels")
    times, values = [], []
    for j, pair in enumerate(item["values"]):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (int, float))
                and not isinstance(pair[0], bool) and isinstance(pair[1], str)):
            fail(f"{where}.values[{j}]", "expected [<unix time>, \"<value>\"]")
        try:
            values.append(float(pair[1]))
        except ValueError:
            fail(f"{where}.values[{j}]", f"value {pair[1]!r} is not a number")
        times.append(float(pair[0]))
    t = np.array(times, dtype=float)
    if t.size > 1 and np.any(np.diff(t) <= 0):
        fail(f"{where}.values", "times must increase")
    return PrometheusSeries(metric={str(k): str(v) for k, v in metric.items()}, times_s=t,
                            values=np.array(values, dtype=float))


def _summed_series(series: list[PrometheusSeries], source: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and the sum over series at each time (a NaN sample counts as missing)."""
    if not series:
        raise ScenarioError(f"{what}: the export has no series", source=source)
    times = np.unique(np.concatenate([s.times_s for s in series]))
    total = np.zeros(times.size)
    seen = np.zeros(times.size, dtype=bool)
    for s in series:
        idx = np.searchsorted(times, s.times_s)
        ok = np.isfinite(s.values)
        np.add.at(total, idx[ok], s.values[ok])
        seen[idx[ok]] = True
    total[~seen] = np.nan
    return times, total


def _source_of(arg: Any) -> str:
    return "<mapping>" if isinstance(arg, Mapping) else str(arg)


def calibrate_prometheus(
    rate: str | Path | Mapping[str, Any],
    quantiles: Mapping[float, str | Path | Mapping[str, Any]],
    *,
    errors: str | Path | Mapping[str, Any] | None = None,
    timeouts: str | Path | Mapping[str, Any] | None = None,
    latency_unit: str = "s",
    base: Any = None,
    pattern: Literal["trace", "diurnal"] = "trace",
    period_s: float = 86_400.0,
    name: str | None = None,
) -> Calibration:
    """Calibrate a scenario from Prometheus range-query exports (see :func:`read_prometheus_matrix`).

    Parameters
    ----------
    rate
        The request rate, e.g. ``sum(rate(http_requests_total[1m]))``. Several series
        (one per pod) are summed at each time. The trace's step is the query's step (the
        median gap between samples); a missing or NaN sample takes the value before it
        (the first ones the first value seen).
    quantiles
        Probability -> export of ``histogram_quantile(p, ...)`` (at least two, each
        strictly between 0 and 1). Each quantile over time is combined into one number by
        its median over every finite sample (of every series of that export): the typical
        latency, not moved by a short spike. If the medians decrease with the probability
        they are made non-decreasing (running maximum). Values are in ``latency_unit``
        (Prometheus histograms are in seconds) and become milliseconds.
    errors, timeouts
        Optional rates of failed and timed-out requests; the error (timeout) rate is their
        total over the query's range divided by the total request rate.
    base, pattern, period_s, name
        As for :func:`calibrate`.

    Returns
    -------
    Calibration
        Legacy's latency is the empirical table (no lognormal: the export has no latencies).

    Raises
    ------
    ScenarioError
        An export that is not a successful matrix, or too few quantiles; the message names
        the file and the field.
    """
    source = _source_of(rate)
    times, values = _summed_series(read_prometheus_matrix(rate), source, "rate")
    finite = np.isfinite(values)
    if not finite.any():
        raise ScenarioError("rate: every sample is NaN", source=source)
    notes = []
    if not finite.all():
        notes.append(f"{int((~finite).sum())} missing rate samples took the value before them")
        first = int(np.flatnonzero(finite)[0])
        values[:first] = values[first]
        for i in range(first + 1, values.size):
            if not np.isfinite(values[i]):
                values[i] = values[i - 1]
    if np.any(values < 0):
        raise ScenarioError("rate: a request rate is negative", source=source)
    step = float(np.median(np.diff(times))) if times.size > 1 else 60.0
    if latency_unit not in _LATENCY_UNITS:
        raise ScenarioError(f"latency_unit {latency_unit!r}: expected one of {', '.join(_LATENCY_UNITS)}",
                            source=source)
    if len(quantiles) < 2:
        raise ScenarioError("quantiles: need at least two quantile series (e.g. 0.5 and 0.99)", source=source)
    table: dict[float, float] = {}
    for p, where in sorted(quantiles.items()):
        qsource = _source_of(where)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < 1:
            raise ScenarioError(f"quantiles: probability {p!r} must be strictly between 0 and 1", source=qsource)
        samples = np.concatenate([s.values for s in read_prometheus_matrix(where)] or [np.empty(0)])
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            raise ScenarioError(f"quantiles[{p}]: no finite sample", source=qsource)
        table[float(p)] = float(np.median(samples)) * _LATENCY_UNITS[latency_unit]
    ps = sorted(table)
    monotone = np.maximum.accumulate([table[p] for p in ps])
    if np.any(monotone != [table[p] for p in ps]):
        notes.append("the quantile medians decreased with the probability; made non-decreasing")
    table = {p: float(q) for p, q in zip(ps, monotone, strict=True)}
    seconds = values.sum() * step

    def share(arg) -> float:
        if arg is None:
            return 0.0
        _, v = _summed_series(read_prometheus_matrix(arg), _source_of(arg), "errors")
        return float(np.nansum(v) * step / seconds) if seconds > 0 else 0.0

    fit = ModelFit(name="legacy", log_value=None, n=int(round(seconds)), n_latencies=0, n_latency_excluded=0,
                   quantiles=table, lognormal=None, error_rate=min(share(errors), 1.0),
                   timeout_rate=min(share(timeouts), 1.0))
    return _build(source=source, base=base, name=name, step_s=step, origin_s=float(times[0]), rates=values,
                  fits=[fit], shares={"legacy": 1.0}, pattern=pattern, period_s=float(period_s),
                  latency="empirical", notes=notes)


