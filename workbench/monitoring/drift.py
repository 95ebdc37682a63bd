"""Feature drift: per-feature tests chosen the way Evidently does, PSI, dataset drift.

:class:`FeatureDriftMonitor` compares a current batch with a reference batch, one feature
at a time. The default test follows Evidently's drift test defaults (Evidently
``stattests/registry.py::_get_default_stattest``), with ``n_unique`` counted over reference
and current together:

=====================  ======================================  =====================
reference rows         feature                                 test (drift when)
=====================  ======================================  =====================
<= 1000                numeric, n_unique > 5                   ``ks`` (p < 0.05)
<= 1000                categorical or n_unique <= 5, > 2       ``chisquare`` (p < 0.05)
<= 1000                categorical or n_unique <= 5, <= 2      ``z`` (p < 0.05)
> 1000                 numeric, n_unique > 5                   ``wasserstein`` / ref std (>= 0.1)
> 1000                 otherwise                               ``jensenshannon`` (>= 0.1)
=====================  ======================================  =====================

``jensenshannon`` is :func:`scipy.spatial.distance.jensenshannon` with its default natural
logarithm, as Evidently computes it; Evidently's 0.1 threshold is calibrated for that base.
NannyML's convention, base 2, is the separate test ``jensenshannon_base2``: the same
distributions give a distance larger by ``1/sqrt(ln 2)`` (about 1.2011), so the same 0.1
threshold flags more.

The PSI of every feature is reported beside it (threshold 0.1), on ``psi_bins`` bins at
the reference's quantiles for numeric features (or on categories), with empty bins floored
at 1e-4 as Evidently does. Dataset drift is declared when the share of drifted features
among those tested is >= ``drift_share`` (0.5).

Deliberate differences from Evidently, and pitfalls avoided:

* Wasserstein is divided by the reference's standard deviation
  (:func:`workbench.stats.distances.normalised_wasserstein`), so thresholds mean the same
  for every feature and scaling a feature by 1000 changes no decision. The standard
  deviation is floored at 0.001 as in Evidently: a constant reference gives 0 when
  nothing changed and a large finite value otherwise (note ``"constant reference"``).
* The chi-square test is the two-sample test of homogeneity on the 2 x K contingency
  table (``scipy.stats.chi2_contingency``). Evidently's goodness-of-fit version treats the
  reference frequencies as exact, which roughly doubles the statistic's null variance
  when both samples are the same size and flags an A/A split far above 5 %.
* Features missing from the current data, unknown to the reference, or empty after
  dropping NaN are rows of the table (``test`` = ``"missing"``, ``"unknown"``,
  ``"empty"``; ``drift`` False, with a ``note``), never a KeyError.

Checks are cheap because the reference is prepared once: its standard deviation, PSI bins,
categories and a :class:`workbench.stats.distances.SortedReference` (the values sorted
once) are kept, and each check sorts the current window once and shares that sort between
KS or Wasserstein, the PSI counts and the histograms. The KS and Wasserstein values are
the ones ``scipy.stats.ks_2samp`` and ``scipy.stats.wasserstein_distance`` return on the
raw samples, bit for bit.

:class:`SlidingDriftMonitor` is the streaming front end the engine feeds row by row: the
first ``reference_n`` rows become the reference, the last ``window_n`` rows sit in a ring
buffer (O(1) per row), and :meth:`SlidingDriftMonitor.evaluate` runs the batch check on
its schedule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.stats.distances import (
    SortedReference,
    jensen_shannon,
    population_stability_index,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DriftReport",
    "FeatureDriftMonitor",
    "SlidingDriftMonitor",
    "population_stability_index",
]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "jensenshannon_base2": 0.1,
    "psi": 0.1,
}
#: Tests whose drift rule is "p-value below the threshold" (the others: distance above it)
P_VALUE_TESTS = ("ks", "chisquare", "z")
_TESTS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "jensenshannon_base2")
_JS_BASES = {"jensenshannon": None, "jensenshannon_base2": 2.0}  # None: natural log (scipy)
_COLUMNS = ["feature", "type", "test", "statistic", "p_value", "threshold", "drift", "psi",
            "psi_drift", "n_reference", "n_current", "note"]
_COLUMN_DTYPES = {"statistic": np.float64, "p_value": np.float64, "threshold": np.float64,
                  "drift": np.bool_, "psi": np.float64, "psi_drift": np.bool_,
                  "n_reference": np.int64, "n_current": np.int64}  # the others: object
_SMALL_REFERENCE_ROWS = 1000  # Evidently: <= 1000 reference rows -> p-value tests
_FEW_VALUES = 5  # Evidently: <= 5 unique values -> treated as categorical


@dataclass(frozen=True, eq=False)
class DriftReport:
    """Result of one drift check.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per feature: ``feature, type, test, statistic, p_value, threshold, drift,
        psi, psi_drift, n_reference, n_current, note``.
    dataset_drift : bool
        ``share_drifted >= drift_share`` (False when nothing could be tested).
    share_drifted : float
        Drifted features over tested features (NaN when none was tested).
    n_drifted, n_tested : int
    drift_share : float
    n_reference, n_current : int
        Rows in the reference and the current data.
    time_s, window_start_s, window_end_s : float
        Set by :class:`SlidingDriftMonitor` (NaN for a batch check).
    """

    table: pd.DataFrame
    dataset_drift: bool
    share_drifted: float
    n_drifted: int
    n_tested: int
    drift_share: float
    n_reference: int
    n_current: int
    time_s: float = math.nan
    window_start_s: float = math.nan
    window_end_s: float = math.nan

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features whose test flagged drift."""
        t = self.table
        return [name for name, drift in zip(t["feature"].tolist(), t["drift"].tolist(), strict=True)
                if drift]


@dataclass
class _Feature:
    """One reference feature and what every check reuses, computed once."""

    name: str
    kind: str  # "numeric" | "categorical"
    values: np.ndarray  # NaN dropped, reference order
    std: float = math.nan  # population standard deviation (numeric)
    nunique: int = 0  # distinct values (numeric)
    reference: SortedReference | None = None  # values, stable sort (numeric)
    psi_edges: np.ndarray | None = None  # interior edges (numeric, many values)
    psi_ref: np.ndarray | None = None
    uniques: np.ndarray | None = None  # categories in order of first appearance (lazy)
    ref_counts: np.ndarray | None = None  # reference count of each of ``uniques``

    def categories(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference categories (``pd.factorize`` order) and their counts, cached."""
        if self.uniques is None:
            codes, uniques = pd.factorize(self.values)
            self.uniques = np.asarray(uniques)
            self.ref_counts = np.bincount(codes, minlength=self.uniques.size)
        return self.uniques, self.ref_counts


class _Current:
    """One feature's current values and what the tests derive from them, each made once."""

    __slots__ = ("_counts", "_sorted", "values")

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self._sorted: np.ndarray | None = None
        self._counts: tuple[np.ndarray, np.ndarray] | None = None

    def sorted(self) -> np.ndarray:
        """The values, stable sort (ties keep their order, as scipy's mergesort does)."""
        if self._sorted is None:
            self._sorted = np.sort(self.values, kind="stable")
        return self._sorted

    def counts(self, f: _Feature) -> tuple[np.ndarray, np.ndarray]:
        """Reference and current counts per category over the union of categories.

        The same arrays as factorising reference and current together: the reference's
        categories keep their codes (order of first appearance), new ones follow in
        order of first appearance in the current data.
        """
        if self._counts is None:
            uniques, ref_counts = f.categories()
            k = uniques.size
            codes, union = pd.factorize(np.concatenate([uniques, self.values]))
            rc = np.zeros(union.size)
            rc[:k] = ref_counts
            cc = np.bincount(codes[k:], minlength=union.size).astype(float)
            self._counts = rc, cc
        return self._counts


def _is_numeric(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "iuf"


def _clean(values: Any, kind: str) -> np.ndarray:
    """Values without missing entries (NaN, None, +-inf for numeric features)."""
    arr = np.asarray(values)
    if kind == "numeric":
        if arr.dtype.kind in "iufb":
            a = arr.astype(float)
        else:
            a = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float)
        return a[np.isfinite(a)]
    arr = arr.astype(object)
    return arr[~pd.isna(arr)]


def _histogram_sorted(a_sorted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(a, edges)[0]`` from sorted ``a`` (numpy's own search on edges)."""
    cum = np.concatenate((a_sorted.searchsorted(edges[:-1], "left"),
                          a_sorted.searchsorted(edges[-1:], "right")))
    return np.diff(cum)


def _ks(f: _Feature, cur: _Current) -> tuple[float, float, str]:
    statistic, p_value = f.reference.ks_2samp(cur.values, current_sorted=cur.sorted())
    return statistic, p_value, ""


def _wasserstein(f: _Feature, cur: _Current) -> tuple[float, float, str]:
    # f.std is np.std of the reference in its own order; that of the sorted copy can
    # differ in the last bit
    note = "constant reference" if f.std == 0 else ""
    w_norm = f.reference.normalised_wasserstein(cur.values, reference_std=f.std,
                                                current_sorted=cur.sorted())
    return w_norm, math.nan, note


def _chisquare(f: _Feature, cur: _Current) -> tuple[float, float, str]:
    from scipy import stats

    rc, cc = cur.counts(f)
    if rc.size < 2:
        return 0.0, 1.0, "single category"
    res = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    return float(res.statistic), float(res.pvalue), ""


def _z(f: _Feature, cur: _Current) -> tuple[float, float, str]:
    """Two-proportion z-test on the share of the first category."""
    from scipy import special

    rc, cc = cur.counts(f)
    if rc.size < 2:
        return 0.0, 1.0, "single category"
    n1, n2 = rc.sum(), cc.sum()
    p1, p2 = rc[0] / n1, cc[0] / n2
    pooled = (rc[0] + cc[0]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    # scipy.stats.norm.sf(x) is special.ndtr(-x) for finite x (se > 0 with two categories)
    return float(z), float(2 * special.ndtr(-abs(z))), ""


def _js_props(f: _Feature, cur: _Current) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares per bin (Sturges bins for many numeric values)."""
    if f.kind == "numeric" and f.nunique > 20:
        # Evidently: Sturges bins over reference and current together.
        edges = np.histogram_bin_edges(np.concatenate([f.values, cur.values]), bins="sturges")
        return (_histogram_sorted(f.reference.values, edges) / f.values.size,
                _histogram_sorted(cur.sorted(), edges) / cur.values.size)
    rc, cc = cur.counts(f)
    return rc / rc.sum(), cc / cc.sum()


def _js(base: float | None):
    def run(f: _Feature, cur: _Current) -> tuple[float, float, str]:
        rp, cp = _js_props(f, cur)
        return jensen_shannon(rp, cp, base=base), math.nan, ""
    return run


_RUNNERS = {
    "ks": _ks,
    "wasserstein": _wasserstein,
    "chisquare": _chisquare,
    "z": _z,
    **{name: _js(base) for name, base in _JS_BASES.items()},
}


def _columns(data: Any, name: str) -> dict[str, Any]:
    """``feature name -> values`` of a DataFrame or a mapping."""
    if isinstance(data, pd.DataFrame):
        return {str(c): data[c] for c in data.columns}
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    raise ValueError(f"{name}: expected a DataFrame or a mapping of name -> array, "
                     f"got {type(data).__name__}")


def _thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """:data:`DEFAULT_THRESHOLDS` with validated overrides."""
    out = dict(DEFAULT_THRESHOLDS)
    for k, v in (overrides or {}).items():
        if k not in DEFAULT_THRESHOLDS:
            raise ValueError(f"thresholds: unknown test {k!r}; expected one of {list(DEFAULT_THRESHOLDS)}")
        if not (float(v) > 0):
            raise ValueError(f"thresholds[{k!r}]: must be > 0, got {v!r}")
        out[k] = float(v)
    return out


def _per_feature(choices: Mapping[str, str] | None, name: str, columns: Mapping[str, Any],
                 allowed: tuple[str, ...]) -> dict[str, str]:
    """A per-feature option, checked: known features, allowed values."""
    out = dict(choices or {})
    for k, v in out.items():
        if k not in columns:
            raise ValueError(f"{name}: {k!r} is not a reference feature")
        if v not in allowed:
            raise ValueError(_per_feature_error(name, k, v, allowed))
    return out


def _per_feature_error(name: str, feature: str, value: Any, allowed: tuple[str, ...]) -> str:
    if name == "feature_types":
        return f"feature_types[{feature!r}]: must be 'numeric' or 'categorical', got {value!r}"
    return f"{name}[{feature!r}]: unknown test {value!r}; expected one of {allowed}"


class FeatureDriftMonitor:
    """Per-feature drift tests against a fixed reference.

    Parameters
    ----------
    reference : pandas.DataFrame or mapping of name -> array-like
        Reference data, one column per feature.
    thresholds : mapping, optional
        Overrides of :data:`DEFAULT_THRESHOLDS` by test name (``"ks"``, ``"chisquare"``,
        ``"z"``, ``"wasserstein"``, ``"jensenshannon"``, ``"jensenshannon_base2"``,
        ``"psi"``); p-value tests flag
        ``p < threshold``, distances ``statistic >= threshold``.
    feature_types : mapping, optional
        ``name -> "numeric" | "categorical"``; by default numeric dtypes are numeric and
        everything else (bool, object, category) categorical.
    drift_share : float
        Share of drifted features from which the dataset drifts (Evidently: 0.5).
    stattests : mapping, optional
        Force a test per feature (``name -> test name``) instead of the default rule.
    psi_bins : int
        Quantile bins of the reference used for PSI on numeric features.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(0, 1, 500), "c": rng.choice(["a", "b", "c"], 500)})
    >>> cur = pd.DataFrame({"x": rng.normal(1, 1, 500), "c": rng.choice(["a", "b", "c"], 500),
    ...                     "new": 1.0})
    >>> report = FeatureDriftMonitor(ref).check(cur)
    >>> report.table["test"].tolist(), report.table["drift"].tolist()
    (['ks', 'chisquare', 'unknown'], [True, False, False])
    >>> report.share_drifted, report.dataset_drift
    (0.5, True)
    """

    def __init__(self, reference: pd.DataFrame | Mapping[str, Any],
                 thresholds: Mapping[str, float] | None = None,
                 feature_types: Mapping[str, str] | None = None,
                 drift_share: float = 0.5,
                 stattests: Mapping[str, str] | None = None,
                 psi_bins: int = 10) -> None:
        columns = _columns(reference, "reference")
        if not columns:
            raise ValueError("reference: has no features")
        self.thresholds = _thresholds(thresholds)
        if not (0.0 < drift_share <= 1.0):
            raise ValueError(f"drift_share: must be in (0, 1], got {drift_share!r}")
        self.drift_share = float(drift_share)
        if int(psi_bins) != psi_bins or psi_bins < 2:
            raise ValueError(f"psi_bins: must be an integer >= 2, got {psi_bins!r}")
        self.psi_bins = int(psi_bins)
        feature_types = _per_feature(feature_types, "feature_types", columns,
                                     ("numeric", "categorical"))
        self.stattests = _per_feature(stattests, "stattests", columns, _TESTS)
        self.n_reference = max(int(np.size(v)) for v in columns.values())
        self._features: dict[str, _Feature] = {}
        for name, raw in columns.items():
            arr = np.asarray(raw)
            kind = feature_types.get(name) or ("numeric" if _is_numeric(arr) else "categorical")
            if kind == "numeric" and not (_is_numeric(arr) or arr.dtype.kind == "b"):
                try:
                    arr.astype(float)
                except (TypeError, ValueError):
                    raise ValueError(f"feature_types[{name!r}]: 'numeric' but values are not numbers") from None
            self._features[name] = self._prepare(name, kind, arr)

    @property
    def features(self) -> list[str]:
        """Reference feature names."""
        return list(self._features)

    def feature_type(self, name: str) -> str:
        """``"numeric"`` or ``"categorical"``."""
        return self._features[name].kind

    def _prepare(self, name: str, kind: str, arr: np.ndarray) -> _Feature:
        values = _clean(arr, kind)
        f = _Feature(name=name, kind=kind, values=values)
        if kind == "numeric" and values.size:
            f.std = float(np.std(values))
            f.reference = SortedReference(values)
            f.nunique = int(np.unique(values).size)
            if f.nunique > self.psi_bins:
                qs = np.quantile(values, np.linspace(0.0, 1.0, self.psi_bins + 1))
                edges = np.unique(qs[1:-1])
                f.psi_edges = edges
                f.psi_ref = np.bincount(np.searchsorted(edges, values, side="right"),
                                        minlength=edges.size + 1) / values.size
        return f

    # -- tests -----------------------------------------------------------------------
    def _choose(self, f: _Feature, cur: _Current) -> str:
        if f.name in self.stattests:
            return self.stattests[f.name]
        if f.kind == "numeric" and f.nunique > _FEW_VALUES:
            # more distinct values than _FEW_VALUES in the reference alone: no need to
            # count those of reference and current together
            n_values = f.nunique
        else:
            n_values = cur.counts(f)[0].size  # distinct values of reference and current
        few = f.kind == "categorical" or n_values <= _FEW_VALUES
        if f.values.size <= _SMALL_REFERENCE_ROWS:
            if not few:
                return "ks"
            return "chisquare" if n_values > 2 else "z"
        return "jensenshannon" if few else "wasserstein"

    def _run(self, test: str, f: _Feature, cur: _Current) -> tuple[float, float, str]:
        """Return (statistic, p_value, note)."""
        if test in ("ks", "wasserstein") and f.kind != "numeric":
            raise ValueError(f"stattests[{f.name!r}]: {test!r} needs a numeric feature")
        runner = _RUNNERS.get(test)
        if runner is None:  # pragma: no cover - tests are validated in __init__
            raise ValueError(f"test: unknown {test!r}")
        return runner(f, cur)

    def _psi(self, f: _Feature, cur: _Current) -> float:
        if f.psi_edges is not None:
            # bin i holds the values with i edges <= value: counts from the sorted window
            n = cur.values.size
            counts = np.diff(np.searchsorted(cur.sorted(), f.psi_edges, side="left"),
                             prepend=0, append=n)
            return population_stability_index(f.psi_ref, counts / n)
        rc, cc = cur.counts(f)
        return population_stability_index(rc / rc.sum(), cc / cc.sum())

    def check(self, current: pd.DataFrame | Mapping[str, Any]) -> DriftReport:
        """Compare ``current`` with the reference, feature by feature.

        Parameters
        ----------
        current : pandas.DataFrame or mapping of name -> array-like

        Returns
        -------
        DriftReport
        """
        cur_cols = _columns(current, "current")
        n_current = max((int(np.size(v)) for v in cur_cols.values()), default=0)
        rows: list[tuple] = []  # in _COLUMNS order
        nan = math.nan
        n_tested = n_drifted = 0
        for name, f in self._features.items():
            n_ref = int(f.values.size)
            if name not in cur_cols:
                rows.append((name, f.kind, "missing", nan, nan, nan, False, nan, False, n_ref, 0,
                             "feature absent from current data"))
                continue
            cur = _clean(np.atleast_1d(np.asarray(cur_cols[name])), f.kind)
            if cur.size == 0 or n_ref == 0:
                which = "current" if cur.size == 0 else "reference"
                rows.append((name, f.kind, "empty", nan, nan, nan, False, nan, False, n_ref,
                             int(cur.size), f"no non-missing values in {which}"))
                continue
            window = _Current(cur)
            test = self._choose(f, window)
            threshold = self.thresholds[test]
            statistic, p_value, note = self._run(test, f, window)
            if test in P_VALUE_TESTS:
                drift = bool(p_value < threshold)
            else:
                drift = bool(statistic >= threshold)
            psi = self._psi(f, window)
            n_tested += 1
            n_drifted += drift
            rows.append((name, f.kind, test, statistic, p_value, threshold, drift, psi,
                         bool(psi >= self.thresholds["psi"]), n_ref, int(cur.size), note))
        for name in cur_cols:
            if name not in self._features:
                rows.append((name, "", "unknown", nan, nan, nan, False, nan, False, 0,
                             int(np.size(cur_cols[name])), "feature not in reference"))
        share = n_drifted / n_tested if n_tested else math.nan
        return DriftReport(table=_table(rows), dataset_drift=bool(n_tested and share >= self.drift_share),
                           share_drifted=share, n_drifted=n_drifted, n_tested=n_tested,
                           drift_share=self.drift_share, n_reference=self.n_reference,
                           n_current=n_current)


def _table(rows: list[tuple]) -> pd.DataFrame:
    """The report's table from row tuples, one typed array per column.

    The same frame as ``pd.DataFrame(rows, columns=_COLUMNS)`` would infer (text as
    object, counts int64, flags bool), built without per-row inference.
    """
    columns = zip(*rows, strict=True)
    return pd.DataFrame({name: np.array(col, dtype=_COLUMN_DTYPES.get(name, object))
                         for name, col in zip(_COLUMNS, columns, strict=True)}, copy=False)


@dataclass(frozen=True)
class _Evaluation:
    time_s: float
    n_current: int
    n_tested: int
    n_drifted: int
    share_drifted: float
    dataset_drift: bool


class SlidingDriftMonitor:
    """Feature drift over a sliding window of rows, fed one row at a time.

    The first ``reference_n`` rows become the reference; afterwards the last ``window_n``
    rows are kept in a ring buffer (O(1) per row). :meth:`evaluate`, called on the
    engine's schedule, checks the window against the reference with
    :class:`FeatureDriftMonitor`. Categorical features must be encoded as numbers and
    declared in ``feature_types``.

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns of each row.
    reference_n : int
        Rows captured as the reference.
    window_n : int
        Rows in the sliding current window.
    min_current_n : int, optional
        Fewest rows needed to evaluate (default ``window_n``: only full windows).
    **kwargs
        ``thresholds``, ``feature_types``, ``drift_share``, ``stattests``, ``psi_bins``
        for :class:`FeatureDriftMonitor`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mon = SlidingDriftMonitor(["x", "y"], reference_n=500, window_n=200)
    >>> for i in range(1000):
    ...     shift = 2.0 if i >= 800 else 0.0
    ...     mon.observe(i * 0.1, np.array([rng.normal(shift, 1), rng.normal(0, 1)]))
    >>> report = mon.evaluate(100.0)
    >>> report.drifted_features, report.dataset_drift
    (['x'], True)
    """

    def __init__(self, feature_names: Sequence[str], reference_n: int, window_n: int,
                 min_current_n: int | None = None, **kwargs: Any) -> None:
        names = [str(n) for n in feature_names]
        if not names:
            raise ValueError("feature_names: must not be empty")
        if len(set(names)) != len(names):
            raise ValueError("feature_names: must be unique")
        if int(reference_n) != reference_n or reference_n < 2:
            raise ValueError(f"reference_n: must be an integer >= 2, got {reference_n!r}")
        if int(window_n) != window_n or window_n < 2:
            raise ValueError(f"window_n: must be an integer >= 2, got {window_n!r}")
        min_current_n = window_n if min_current_n is None else min_current_n
        if not (1 <= min_current_n <= window_n):
            raise ValueError(f"min_current_n: must be in [1, window_n], got {min_current_n!r}")
        unknown = set(kwargs) - {"thresholds", "feature_types", "drift_share", "stattests", "psi_bins"}
        if unknown:
            raise ValueError(f"kwargs: unknown argument(s) {sorted(unknown)}")
        self.feature_names = names
        self.reference_n = int(reference_n)
        self.window_n = int(window_n)
        self.min_current_n = int(min_current_n)
        self._kwargs = kwargs
        d = len(names)
        self._ref = np.empty((self.reference_n, d))
        self._n_ref = 0
        self._ring = np.empty((self.window_n, d))
        self._ring_t = np.empty(self.window_n)
        self._head = 0
        self._n_window = 0
        self.n_seen = 0
        self.monitor: FeatureDriftMonitor | None = None
        self.reference_end_s = math.nan
        self._history: list[_Evaluation] = []
        self.first_drift_s = math.nan

    @property
    def reference_ready(self) -> bool:
        """True once the reference window is full and the monitor is built."""
        return self.monitor is not None

    def observe(self, time_s: float, features: Sequence[float] | np.ndarray) -> None:
        """Add one row (O(1); building the reference once costs O(reference_n))."""
        row = np.asarray(features, dtype=float)
        if row.shape != (len(self.feature_names),):
            raise ValueError(f"features: expected {len(self.feature_names)} values, got shape {row.shape}")
        self.n_seen += 1
        if self.monitor is None:
            self._ref[self._n_ref] = row
            self._n_ref += 1
            if self._n_ref == self.reference_n:
                ref = {n: self._ref[:, j] for j, n in enumerate(self.feature_names)}
                self.monitor = FeatureDriftMonitor(ref, **self._kwargs)
                self.reference_end_s = float(time_s)
                self._ref = np.empty((0, len(self.feature_names)))
            return
        self._ring[self._head] = row
        self._ring_t[self._head] = time_s
        self._head = (self._head + 1) % self.window_n
        if self._n_window < self.window_n:
            self._n_window += 1

    def window(self) -> pd.DataFrame:
        """The current window's rows, oldest first."""
        idx = (np.arange(self._n_window) + self._head - self._n_window) % self.window_n
        return pd.DataFrame(self._ring[idx], columns=self.feature_names)

    def evaluate(self, now_s: float) -> DriftReport | None:
        """Check the window against the reference; None until both are large enough."""
        if self.monitor is None or self._n_window < self.min_current_n:
            return None
        idx = (np.arange(self._n_window) + self._head - self._n_window) % self.window_n
        data = {n: self._ring[idx, j] for j, n in enumerate(self.feature_names)}
        r = self.monitor.check(data)
        report = DriftReport(table=r.table, dataset_drift=r.dataset_drift,
                             share_drifted=r.share_drifted, n_drifted=r.n_drifted,
                             n_tested=r.n_tested, drift_share=r.drift_share,
                             n_reference=r.n_reference, n_current=r.n_current,
                             time_s=float(now_s), window_start_s=float(self._ring_t[idx[0]]),
                             window_end_s=float(self._ring_t[idx[-1]]))
        self._history.append(_Evaluation(float(now_s), r.n_current, r.n_tested, r.n_drifted,
                                         r.share_drifted, r.dataset_drift))
        if r.dataset_drift and math.isnan(self.first_drift_s):
            self.first_drift_s = float(now_s)
        return report

    def history(self) -> pd.DataFrame:
        """One row per evaluation: ``time_s, n_current, n_tested, n_drifted, share_drifted, dataset_drift``."""
        cols = ["time_s", "n_current", "n_tested", "n_drifted", "share_drifted", "dataset_drift"]
        return pd.DataFrame([e.__dict__ for e in self._history], columns=cols)
