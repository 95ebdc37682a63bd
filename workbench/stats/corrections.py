"""Multiple testing across a family of metrics (Holm, Benjamini-Hochberg), and A/B/n comparisons.

Guardrail metrics (latency, errors) are checked on their own, each at the
nominal level, and are left out of the family: correcting them would make
the guardrail weaker as more goal metrics are added (GrowthBook applies its
corrections to goal metrics only).

An A/B/n test compares each of several candidates with legacy; the more candidates,
the likelier one looks different by luck, so :func:`compare_with_legacy` adjusts each
metric's p-values across the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["MetricDecision", "CorrectionResult", "adjust_p_values", "CandidateComparison", "compare_with_legacy"]

_METHODS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}


@dataclass(frozen=True)
class MetricDecision:
    """One metric's raw and adjusted p-value and decision."""

    metric: str
    p_value: float
    adjusted_p: float
    reject: bool
    guardrail: bool


@dataclass(frozen=True)
class CorrectionResult:
    """Decisions for every metric; ``family`` lists those that were corrected together."""

    decisions: tuple[MetricDecision, ...]
    method: str
    alpha: float
    family: tuple[str, ...]

    def __getitem__(self, metric: str) -> MetricDecision:
        for d in self.decisions:
            if d.metric == metric:
                return d
        raise KeyError(metric)

    @property
    def rejected(self) -> tuple[str, ...]:
        """Names of metrics whose null is rejected."""
        return tuple(d.metric for d in self.decisions if d.reject)


def adjust_p_values(
    p_values: Mapping[str, float],
    method: str = "holm",
    alpha: float = 0.05,
    guardrails: Iterable[str] = (),
) -> CorrectionResult:
    """Adjust p-values of a family of metrics; guardrails stay unadjusted.

    Parameters
    ----------
    p_values : mapping of metric name to p-value
    method : {"holm", "bh", "bonferroni", "none"}
        Holm's step-down (family-wise error) or Benjamini-Hochberg (false
        discovery rate); computed with statsmodels' ``multipletests``.
    guardrails : iterable of str
        Metrics tested on their own at ``alpha`` and excluded from the family.

    Examples
    --------
    >>> r = adjust_p_values({"ctr": 0.01, "revenue": 0.04, "latency_ms": 0.03},
    ...                     method="holm", guardrails=["latency_ms"])
    >>> r["ctr"].adjusted_p, r["revenue"].adjusted_p, r["latency_ms"].adjusted_p
    (0.02, 0.04, 0.03)
    >>> r.rejected
    ('ctr', 'revenue', 'latency_ms')
    """
    if method not in _METHODS:
        raise ValueError(f"method: must be one of {tuple(_METHODS)}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    guard = set(guardrails)
    unknown = guard - set(p_values)
    if unknown:
        raise ValueError(f"guardrails: not among the p-values: {sorted(unknown)}")
    for name, p in p_values.items():
        if not (0.0 <= float(p) <= 1.0):
            raise ValueError(f"p_values[{name!r}]: must be in [0, 1], got {p!r}")
    family = [m for m in p_values if m not in guard]
    adjusted: dict[str, float] = {}
    if family:
        raw = np.array([float(p_values[m]) for m in family])
        sm = _METHODS[method]
        adj = raw if sm is None else multipletests(raw, alpha=alpha, method=sm)[1]
        adjusted.update({m: float(min(p, 1.0)) for m, p in zip(family, adj, strict=True)})
    for m in guard:
        adjusted[m] = float(p_values[m])
    decisions = tuple(
        MetricDecision(metric=m, p_value=float(p_values[m]), adjusted_p=adjusted[m],
                       reject=bool(adjusted[m] <= alpha), guardrail=m in guard)
        for m in p_values
    )
    return CorrectionResult(decisions=decisions, method=method, alpha=float(alpha),
                            family=tuple(family))


@dataclass(frozen=True)
class CandidateComparison:
    """One candidate against legacy: error-rate and mean-latency differences (candidate - legacy).

    ``error_p_value`` is the two-proportion z test's, ``latency_p_value`` Welch's;
    the ``*_adjusted_p`` values are corrected across the candidates, metric by metric.
    A test without enough data (no request in an arm, or fewer than two latencies)
    has NaN values and is left out of the correction. ``verdict`` is ``"worse"`` when
    either difference is significantly above 0 after correction, ``"better"`` when
    one is significantly below 0 and none above, ``"no data"`` when neither test
    could run, else ``"inconclusive"``.
    """

    candidate: str
    n_legacy: int
    n_candidate: int
    error_rate_legacy: float
    error_rate_candidate: float
    error_rate_diff: float
    error_p_value: float
    error_adjusted_p: float
    mean_latency_legacy_ms: float
    mean_latency_candidate_ms: float
    latency_diff_ms: float
    latency_p_value: float
    latency_adjusted_p: float
    verdict: str

    def as_dict(self) -> dict[str, float | int | str]:
        """The fields as plain values."""
        return dict(self.__dict__)


def compare_with_legacy(
    errors: Mapping[str, tuple[int, int]],
    latency_ms: Mapping[str, object],
    legacy: str = "legacy",
    alpha: float = 0.05,
    method: str = "holm",
) -> tuple[CandidateComparison, ...]:
    """Each candidate against legacy on error rate and mean latency, corrected across candidates.

    Many-to-one comparisons of an A/B/n test: with several candidates the chance
    that one of them looks significantly different by luck grows with their
    number, so each metric's p-values are adjusted across the candidates
    (Holm by default, statsmodels' ``multipletests`` through :func:`adjust_p_values`).

    Parameters
    ----------
    errors : mapping of model to (failed, requests)
        Failed requests (error, timeout or dropped) and all requests of each arm,
        legacy included; the candidates are the other keys, in order.
    latency_ms : mapping of model to array_like or SummaryStats
        Each arm's latencies (served requests), raw or summarised.
    legacy : str
        The control arm's key.
    alpha : float
        Significance level of the corrected decisions.
    method : {"holm", "bh", "bonferroni", "none"}
        The correction (see :func:`adjust_p_values`).

    Returns
    -------
    tuple of CandidateComparison
        One per candidate, in the order of ``errors``.

    Examples
    --------
    >>> rows = compare_with_legacy(
    ...     {"legacy": (100, 10_000), "good": (60, 5_000), "bad": (150, 5_000)},
    ...     {"legacy": [40.0, 42.0, 41.0, 39.0], "good": [40.0, 41.0, 39.0, 42.0],
    ...      "bad": [50.0, 52.0, 51.0, 49.0]})
    >>> [(r.candidate, r.verdict) for r in rows]
    [('good', 'inconclusive'), ('bad', 'worse')]
    """
    from .frequentist import mean_difference, proportion_test
    from .summary import as_summary

    if legacy not in errors or legacy not in latency_ms:
        raise ValueError(f"legacy: {legacy!r} must be a key of errors and latency_ms")
    candidates = [m for m in errors if m != legacy]
    if not candidates:
        raise ValueError("errors: need at least one candidate besides legacy")
    missing = [m for m in candidates if m not in latency_ms]
    if missing:
        raise ValueError(f"latency_ms: no latencies for {missing}")
    fail_a, n_a = (int(x) for x in errors[legacy])
    lat_a = as_summary(latency_ms[legacy], f"latency_ms[{legacy!r}]")
    raw: dict[str, dict[str, float]] = {}
    err_p: dict[str, float] = {}
    lat_p: dict[str, float] = {}
    for m in candidates:
        fail_b, n_b = (int(x) for x in errors[m])
        lat_b = as_summary(latency_ms[m], f"latency_ms[{m!r}]")
        row = {
            "n_candidate": n_b,
            "error_rate_legacy": fail_a / n_a if n_a else math.nan,
            "error_rate_candidate": fail_b / n_b if n_b else math.nan,
            "error_rate_diff": math.nan, "error_p_value": math.nan,
            "mean_latency_legacy_ms": lat_a.mean, "mean_latency_candidate_ms": lat_b.mean,
            "latency_diff_ms": math.nan, "latency_p_value": math.nan,
        }
        if n_a and n_b:
            e = proportion_test(fail_a, n_a, fail_b, n_b, alpha=alpha)
            row["error_rate_diff"], row["error_p_value"] = e.estimate, e.p_value
            err_p[m] = e.p_value
        if lat_a.n >= 2 and lat_b.n >= 2:
            d = mean_difference(lat_a, lat_b, alpha=alpha)
            row["latency_diff_ms"], row["latency_p_value"] = d.estimate, d.p_value
            lat_p[m] = d.p_value
        raw[m] = row
    err_adj = adjust_p_values(err_p, method=method, alpha=alpha) if err_p else None
    lat_adj = adjust_p_values(lat_p, method=method, alpha=alpha) if lat_p else None
    out = []
    for m in candidates:
        row = raw[m]
        e_adj = err_adj[m].adjusted_p if m in err_p else math.nan
        l_adj = lat_adj[m].adjusted_p if m in lat_p else math.nan
        tested = [(d, p) for d, p in ((row["error_rate_diff"], e_adj), (row["latency_diff_ms"], l_adj))
                  if not math.isnan(p)]
        if not tested:
            verdict = "no data"
        elif any(p <= alpha and d > 0 for d, p in tested):
            verdict = "worse"
        elif any(p <= alpha and d < 0 for d, p in tested):
            verdict = "better"
        else:
            verdict = "inconclusive"
        out.append(CandidateComparison(
            candidate=m, n_legacy=n_a, error_adjusted_p=float(e_adj), latency_adjusted_p=float(l_adj),
            verdict=verdict, **{k: (int(v) if k == "n_candidate" else float(v)) for k, v in row.items()},
        ))
    return tuple(out)
