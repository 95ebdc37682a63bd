"""Gate judges for progressive rollouts: one interface, two statistical judges.

The engine calls ``judge(legacy, candidate)`` with, per metric name, the raw
per-request values of the analysis window for each arm (``"latency_ms"``,
``"error"`` as 0/1, ``"abs_error"``, ``"business"``) and acts on the
:class:`JudgeVerdict`. Missing, empty or too-small data give
``"inconclusive"``, never a silent pass (the NaN-as-zero trap of Flagger's
metric checks).

* :class:`KayentaJudge`: Netflix Kayenta's ``NetflixACAJudge`` semantics:
  per-metric Mann-Whitney classification (High / Low / Pass) against a
  tolerance band of ``0.25 x |Hodges-Lehmann estimate|``, a 98 % interval,
  directions, critical metrics, a NaN strategy, weighted groups and a 0-100
  score with pass (95) and marginal (75) thresholds.
* :class:`SequentialJudge`: the always-valid confidence sequence
  (:func:`workbench.stats.confidence_sequence`), safe to evaluate at every
  analysis interval of a step; it passes on evidence of non-inferiority
  against a margin, never on the mere absence of evidence of harm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import stats

from .frequentist import mann_whitney, proportion_test
from .sequential import confidence_sequence
from .summary import SummaryStats

__all__ = [
    "JudgeVerdict",
    "GateJudge",
    "KayentaMetric",
    "MetricClassification",
    "KayentaJudge",
    "SequentialJudge",
    "mean_ratio",
    "cles",
]

_OUTCOMES = ("pass", "fail", "inconclusive")
_DIRECTIONS = ("increase", "decrease", "either")
_EFFECT_MEASURES = ("meanRatio", "cles")
_DEFAULT_EFFECT = {"meanRatio": 1.0, "cles": 0.5}  # Kayenta's defaultEffectSize


@dataclass(frozen=True)
class JudgeVerdict:
    """A gate judge's decision for one analysis window.

    Attributes
    ----------
    outcome : {"pass", "fail", "inconclusive"}
    score : float or None
        0-100 for :class:`KayentaJudge`, None otherwise (and when no score
        could be computed).
    reason : str
        One plain-language sentence with the numbers.
    details : dict
        Per-metric numbers, keyed by metric name (for the events table).
    """

    outcome: str
    score: float | None
    reason: str
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome: must be one of {_OUTCOMES}, got {self.outcome!r}")


@runtime_checkable
class GateJudge(Protocol):
    """Anything with ``judge(legacy, candidate) -> JudgeVerdict``."""

    def judge(
        self, legacy: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]
    ) -> JudgeVerdict:
        """Compare the candidate's samples with legacy's, metric by metric."""
        ...


def _unit(metric: str) -> str:
    for suffix, unit in (("_ms", " ms"), ("_s", " s")):
        if metric.endswith(suffix):
            return unit
    return ""


def _values(data: Mapping[str, Any], name: str) -> np.ndarray:
    raw = data.get(name) if data is not None else None
    if raw is None:
        return np.empty(0)
    x = np.asarray(raw, dtype=float)
    return x.reshape(-1)


# ---------------------------------------------------------------------------
# Kayenta
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KayentaMetric:
    """One metric of a Kayenta canary configuration.

    Parameters
    ----------
    name : str
        Key in the mappings passed to :meth:`KayentaJudge.judge`.
    direction : {"increase", "decrease", "either"}
        Which change fails the metric: ``"increase"`` for latency and errors,
        ``"decrease"`` for a business KPI, ``"either"`` (Kayenta's default).
    critical : bool
        A failing critical metric forces the score to 0.
    tolerance : float
        Half-width of the band around 0, as a fraction of the
        Hodges-Lehmann estimate, that the interval must clear (Kayenta 0.25).
    nan_strategy : {"remove", "replace"}
        Drop NaN values, or replace them with 0 (Kayenta's two strategies).
    group : str
        Metric group; groups are scored separately then combined by weight.
    weight : float
        Weight of this metric within its group (1 reproduces Kayenta's
        "passed / total").
    effect_size_measure : {"meanRatio", "cles"}
        Kayenta's ``effectSize.measure``: ``mean(candidate) / mean(legacy)``
        (NaN when either mean is 0), or the common-language effect size
        ``P(candidate > legacy) + P(tie)/2``.
    allowed_increase, allowed_decrease : float, optional
        Kayenta's ``allowedIncrease`` / ``allowedDecrease``: a High metric
        also needs ``effect >= allowed_increase``, a Low one ``effect <=
        allowed_decrease``. Default ``defaultEffectSize``: 1 for meanRatio,
        0.5 for cles (no extra condition beyond the direction of the means).
    critical_increase, critical_decrease : float, optional
        Kayenta's ``criticalIncrease`` / ``criticalDecrease``: a critical
        metric fails the whole judgement only when High with ``effect >=
        critical_increase`` or Low with ``effect <= critical_decrease``
        (same defaults); otherwise it counts as an ordinary failed metric.
        A NaN effect size skips these comparisons, as in Kayenta.
    """

    name: str
    direction: str = "either"
    critical: bool = False
    tolerance: float = 0.25
    nan_strategy: str = "remove"
    group: str = "default"
    weight: float = 1.0
    effect_size_measure: str = "meanRatio"
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name: must be a non-empty metric name")
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction: must be one of {_DIRECTIONS}, got {self.direction!r}")
        if self.nan_strategy not in ("remove", "replace"):
            raise ValueError(
                f"nan_strategy: must be 'remove' or 'replace', got {self.nan_strategy!r}"
            )
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance: must be >= 0, got {self.tolerance!r}")
        if not self.weight > 0:
            raise ValueError(f"weight: must be > 0, got {self.weight!r}")
        if self.effect_size_measure not in _EFFECT_MEASURES:
            raise ValueError(f"effect_size_measure: must be one of {_EFFECT_MEASURES}, got "
                             f"{self.effect_size_measure!r}")
        default = _DEFAULT_EFFECT[self.effect_size_measure]
        for fname in ("allowed_increase", "allowed_decrease", "critical_increase",
                      "critical_decrease"):
            value = getattr(self, fname)
            if value is None:
                object.__setattr__(self, fname, default)
            elif not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{fname}: must be a finite number >= 0, got {value!r}")
            else:
                object.__setattr__(self, fname, float(value))


@dataclass(frozen=True)
class MetricClassification:
    """Kayenta's per-metric result: ``"High"``, ``"Low"``, ``"Pass"`` or ``"NoData"``."""

    name: str
    classification: str
    test: str
    shift: float
    ci_low: float
    ci_high: float
    band: float
    p_value: float
    n_legacy: int
    n_candidate: int
    nan_legacy: int
    nan_candidate: int
    critical: bool
    group: str
    weight: float
    effect_size: float = float("nan")
    critical_failure: bool = False
    nonzero_legacy: float = float("nan")
    nonzero_candidate: float = float("nan")

    @property
    def failed(self) -> bool:
        """True for High or Low."""
        return self.classification in ("High", "Low")

    def as_dict(self) -> dict[str, Any]:
        """Numbers for the events table."""
        return {
            "classification": self.classification, "test": self.test, "shift": self.shift,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "band": self.band,
            "p_value": self.p_value, "n_legacy": self.n_legacy, "n_candidate": self.n_candidate,
            "nan_legacy": self.nan_legacy, "nan_candidate": self.nan_candidate,
            "critical": self.critical, "group": self.group, "weight": self.weight,
            "effect_size": self.effect_size, "critical_failure": self.critical_failure,
            "nonzero_legacy": self.nonzero_legacy, "nonzero_candidate": self.nonzero_candidate,
        }


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0.0) | (x == 1.0)))


def mean_ratio(legacy: Any, candidate: Any) -> float:
    """Kayenta's ``EffectSizes.meanRatio``: ``mean(candidate) / mean(legacy)``, NaN if a mean is 0."""
    ma, mb = float(np.mean(legacy)), float(np.mean(candidate))
    return float("nan") if ma == 0.0 or mb == 0.0 else mb / ma


def cles(legacy: Any, candidate: Any) -> float:
    """Kayenta's ``EffectSizes.cles``: ``(2 R1 - m(m + 1)) / (2 n m)``, R1 the candidate's rank sum.

    Equals ``P(candidate > legacy) + P(tie)/2`` (Vargha and Delaney 2000).
    """
    xa, xb = np.asarray(legacy, dtype=float), np.asarray(candidate, dtype=float)
    m, n = xb.size, xa.size
    r1 = float(stats.rankdata(np.concatenate([xb, xa]))[:m].sum())
    return (2 * r1 - m * (m + 1)) / (2 * n * m)


@dataclass(frozen=True)
class KayentaJudge:
    """Kayenta-style canary judge (``NetflixACAJudge`` with ``MannWhitneyClassifier``).

    Parameters
    ----------
    metrics : sequence of KayentaMetric
    pass_threshold : float
        Score at or above which the canary passes (95).
    marginal_threshold : float
        Score below which it fails (75); in between the verdict is
        ``"inconclusive"`` with ``details["marginal"] = True``.
    confidence : float
        Confidence of the Mann-Whitney interval (Kayenta's judge uses 0.98).
    min_samples : int
        Fewer values than this in either arm for any metric makes the
        verdict inconclusive (Kayenta wants at least 50 points per metric).
    group_weights : mapping of str to float, optional
        Group weights in percent as in Kayenta's ``classifier.groupWeights``;
        groups not listed share what is left of 100. Default: equal weights.

    Notes
    -----
    Per metric (Kayenta's ``MannWhitneyClassifier``): identical data pass;
    otherwise the Hodges-Lehmann shift ``candidate - legacy`` and its
    two-sided interval at ``confidence`` are computed, and the metric is
    High when the interval's lower end exceeds ``tolerance x |shift|`` (and
    the direction allows an increase to fail), Low when its upper end is
    below ``-tolerance x |shift|``; in both cases the effect size
    (``effect_size_measure``) must also reach ``allowed_increase`` /
    ``allowed_decrease``. Group score = weighted share of passing metrics x
    100; summary = weighted mean of group scores; a critical metric whose
    effect size also reaches ``critical_increase`` / ``critical_decrease``
    forces 0 and fails the judgement. Two deliberate departures: for 0/1
    metrics (``"error"``) the Hodges-Lehmann shift is 0 whenever both rates
    are below 50 %, so a doubled error rate would pass silently; those
    metrics compare the two rates (Wald interval at the same confidence)
    with the same tolerance band instead. And when the Hodges-Lehmann
    interval ends on the (tied) estimate, e.g. ``[0, 0]`` for a metric that
    is mostly 0 while its share of non-zero values rises, the rank test
    decides (significant at ``1 - confidence``, in the direction of the
    common-language effect size); the non-zero shares are reported in the
    details. Known weakness kept from Kayenta: a pure increase in variance
    passes, because both the rank test and the Hodges-Lehmann shift look at
    location only.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> judge = KayentaJudge([KayentaMetric("latency_ms", direction="increase")])
    >>> v = judge.judge({"latency_ms": rng.lognormal(3.7, 0.4, 500)},
    ...                 {"latency_ms": 2 * rng.lognormal(3.7, 0.4, 500)})
    >>> v.outcome, v.score
    ('fail', 0.0)
    """

    metrics: Sequence[KayentaMetric]
    pass_threshold: float = 95.0
    marginal_threshold: float = 75.0
    confidence: float = 0.98
    min_samples: int = 50
    group_weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        metrics = tuple(self.metrics)
        if not metrics:
            raise ValueError("metrics: need at least one KayentaMetric")
        for m in metrics:
            if not isinstance(m, KayentaMetric):
                raise ValueError(f"metrics: expected KayentaMetric items, got {m!r}")
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metrics: duplicate metric names in {names}")
        reserved = {"score", "marginal", "group_scores"} & set(names)
        if reserved:
            raise ValueError(f"metrics: names {sorted(reserved)} are reserved for the verdict details")
        object.__setattr__(self, "metrics", metrics)
        if not 0 <= self.marginal_threshold <= self.pass_threshold <= 100:
            raise ValueError(
                "pass_threshold/marginal_threshold: need 0 <= marginal <= pass <= 100, got "
                f"{self.pass_threshold!r} and {self.marginal_threshold!r}"
            )
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence: must be in (0, 1), got {self.confidence!r}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples: must be >= 1, got {self.min_samples!r}")
        if self.group_weights is not None:
            gw = dict(self.group_weights)
            if any(w < 0 for w in gw.values()):
                raise ValueError(f"group_weights: must be >= 0, got {gw!r}")
            object.__setattr__(self, "group_weights", gw)

    # -- per metric ----------------------------------------------------
    def classify(self, metric: KayentaMetric, legacy: Any, candidate: Any) -> MetricClassification:
        """Classify one metric from the two arms' raw values."""
        xa, xb = np.asarray(legacy, dtype=float).reshape(-1), np.asarray(candidate, dtype=float).reshape(-1)
        nan_a, nan_b = int(np.isnan(xa).sum()), int(np.isnan(xb).sum())
        if metric.nan_strategy == "remove":
            xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
        else:
            xa, xb = np.nan_to_num(xa, nan=0.0), np.nan_to_num(xb, nan=0.0)
        nan = float("nan")

        def result(label: str, test: str, shift: float = 0.0, lo: float = 0.0, hi: float = 0.0,
                   p: float = 1.0, effect: float = nan, critical_failure: bool = False
                   ) -> MetricClassification:
            return MetricClassification(
                name=metric.name, classification=label, test=test, shift=float(shift),
                ci_low=float(lo), ci_high=float(hi), band=float(metric.tolerance * abs(shift)),
                p_value=float(p), n_legacy=int(xa.size), n_candidate=int(xb.size),
                nan_legacy=nan_a, nan_candidate=nan_b, critical=metric.critical,
                group=metric.group, weight=metric.weight, effect_size=float(effect),
                critical_failure=bool(critical_failure),
                nonzero_legacy=float(np.mean(xa != 0)) if xa.size else nan,
                nonzero_candidate=float(np.mean(xb != 0)) if xb.size else nan,
            )

        if xa.size < self.min_samples or xb.size < self.min_samples or np.isinf(xa).any() \
                or np.isinf(xb).any():
            return result("NoData", "none", nan, nan, nan, nan)
        if xa.size == xb.size and np.array_equal(np.sort(xa), np.sort(xb)):
            return result("Pass", "identical")
        if np.unique(np.concatenate([xa, xb])).size == 1:
            return result("Pass", "identical")
        if np.ptp(xa) == 0 and np.ptp(xb) == 0:
            # Kayenta jitters degenerate data with noise; the shift is known exactly here.
            d = float(xb[0] - xa[0])
            test, shift, lo, hi, p = "constant", d, d, d, 0.0
        elif _is_binary(xa) and _is_binary(xb):
            r = proportion_test(int(xa.sum()), xa.size, int(xb.sum()), xb.size,
                                alpha=1 - self.confidence)
            test, shift, lo, hi, p = "proportions", r.estimate, r.ci_low, r.ci_high, r.p_value
        else:
            r = mann_whitney(xa, xb, alternative="two-sided", alpha=1 - self.confidence)
            test, shift, lo, hi, p = "mann_whitney", r.shift, r.ci_low, r.ci_high, r.p_value
        allow_up = metric.direction in ("increase", "either")
        allow_down = metric.direction in ("decrease", "either")
        band = metric.tolerance * abs(shift)
        if test == "mann_whitney" and (lo == shift or hi == shift):
            # The interval sits on a tied value (e.g. [0, 0] for a metric that is mostly 0):
            # the shift cannot express a change in how often values differ, so the rank
            # test decides, in the direction of the common-language effect size.
            test = "mann_whitney_ties"
            up = cles(xa, xb) > 0.5
            significant = p < 1 - self.confidence
            high, low = significant and up and allow_up, significant and not up and allow_down
        else:
            high, low = allow_up and lo > band, allow_down and hi < -band
        effect = mean_ratio(xa, xb) if metric.effect_size_measure == "meanRatio" else cles(xa, xb)
        nan_effect = math.isnan(effect)
        # Kayenta: the effect size must also clear allowedIncrease / allowedDecrease
        high = high and (nan_effect or effect >= metric.allowed_increase)
        low = low and (nan_effect or effect <= metric.allowed_decrease)
        label = "High" if high else ("Low" if low else "Pass")
        critical_failure = metric.critical and (
            (high and (nan_effect or effect >= metric.critical_increase))
            or (low and (nan_effect or effect <= metric.critical_decrease)))
        return result(label, test, shift, lo, hi, p, effect, critical_failure)

    # -- scoring -------------------------------------------------------
    def _weights_for(self, groups: Sequence[str]) -> dict[str, float]:
        if self.group_weights is None:
            return {g: 1.0 for g in groups}
        given = {g: w for g, w in self.group_weights.items() if g in groups}
        rest = [g for g in groups if g not in self.group_weights]
        share = max(100.0 - sum(self.group_weights.values()), 0.0) / len(rest) if rest else 0.0
        return {**given, **{g: share for g in rest}}

    def judge(
        self, legacy: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]
    ) -> JudgeVerdict:
        """Score the candidate against legacy over one analysis window."""
        results = [self.classify(m, _values(legacy, m.name), _values(candidate, m.name))
                   for m in self.metrics]
        details: dict[str, Any] = {r.name: r.as_dict() for r in results}
        conf = f"{100 * self.confidence:g}%"

        def describe(r: MetricClassification) -> str:
            u = _unit(r.name)
            text = (f"{r.name} {r.classification} (shift {r.shift:+.4g}{u}, {conf} CI "
                    f"{r.ci_low:.4g} to {r.ci_high:.4g}{u}")
            if r.test == "mann_whitney_ties":
                text += (f", interval on a tied value: rank test p = {r.p_value:.3g}, non-zero "
                         f"{100 * r.nonzero_legacy:.1f}% legacy vs {100 * r.nonzero_candidate:.1f}% "
                         "candidate")
            return text + ")"

        critical_failures = [r for r in results if r.critical_failure]
        if critical_failures:
            r = critical_failures[0]
            details.update(score=0.0, marginal=False, group_scores={})
            return JudgeVerdict(
                "fail", 0.0,
                f"Critical metric {describe(r)} with {r.n_legacy} legacy and {r.n_candidate} "
                "candidate values forces the score to 0.",
                details,
            )
        missing = [r for r in results if r.classification == "NoData"]
        if missing:
            r = missing[0]
            details.update(score=None, marginal=False, group_scores={})
            return JudgeVerdict(
                "inconclusive", None,
                f"Inconclusive: {r.name} has {r.n_legacy} legacy and {r.n_candidate} candidate "
                f"usable values (NaN {r.nan_legacy} and {r.nan_candidate}, strategy "
                f"{next(m.nan_strategy for m in self.metrics if m.name == r.name)}); at least "
                f"{self.min_samples} are needed in each arm.",
                details,
            )
        groups = list(dict.fromkeys(r.group for r in results))
        group_scores = {}
        for g in groups:
            members = [r for r in results if r.group == g]
            total = sum(r.weight for r in members)
            group_scores[g] = 100.0 * sum(r.weight for r in members if not r.failed) / total
        gw = self._weights_for(groups)
        wsum = sum(gw.values())
        if wsum > 0:
            score = sum(gw[g] * group_scores[g] for g in groups) / wsum
        else:
            score = float(np.mean(list(group_scores.values())))
        score = round(float(score), 2)
        failed = [r for r in results if r.failed]
        if score >= self.pass_threshold:
            outcome, marginal = "pass", False
        elif score < self.marginal_threshold:
            outcome, marginal = "fail", False
        else:
            outcome, marginal = "inconclusive", True
        details.update(score=score, marginal=marginal, group_scores=group_scores)
        if failed:
            what = f"{len(failed)} of {len(results)} metrics failed: " + "; ".join(
                describe(r) for r in failed)
        else:
            what = f"all {len(results)} metrics passed"
        label = {"pass": "pass", "fail": "fail", "inconclusive": "marginal"}[outcome]
        reason = (f"Score {score:.2f} ({label}; pass >= {self.pass_threshold:g}, marginal >= "
                  f"{self.marginal_threshold:g}): {what}.")
        return JudgeVerdict(outcome, score, reason, details)


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SequentialJudge:
    """Gate on an always-valid confidence sequence for one metric.

    Parameters
    ----------
    metric : str
        Metric name in the mappings passed to :meth:`judge`.
    direction : {"increase", "decrease", "either"}
        The harmful direction (latency and errors: ``"increase"``).
    alpha : float
        Error rate of the confidence sequence (whole step, any number of looks).
    tuning : float
        Total sample size (both arms) at which the sequence is narrowest.
    relative : bool
        Judge ``mean(candidate)/mean(legacy) - 1`` instead of the difference.
    min_samples : int
        Fewer usable (non-NaN) values than this in either arm: inconclusive.
    margin : float
        Non-inferiority margin: harm tolerated (>= 0, in the metric's units
        or as a fraction when relative). Pass only when the whole interval
        lies on the safe side of it (below ``+margin`` for "increase", above
        ``-margin`` for "decrease", both for "either"): evidence of
        non-inferiority. Fail on evidence of harm that is not shown to be
        tolerable: the whole interval on the harmful side of 0 (a
        deterioration test) and not within the margin. Otherwise
        inconclusive: no evidence of harm is not a pass. With the default 0
        a pass needs evidence that the candidate is better.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> j = SequentialJudge(margin=5.0)
    >>> j.judge({"latency_ms": rng.exponential(40, 2000)},
    ...         {"latency_ms": rng.exponential(80, 2000)}).outcome
    'fail'
    >>> j.judge({"latency_ms": rng.exponential(40, 4000)},
    ...         {"latency_ms": rng.exponential(40, 4000)}).outcome
    'pass'
    """

    metric: str = "latency_ms"
    direction: str = "increase"
    alpha: float = 0.05
    tuning: float = 5000
    relative: bool = False
    min_samples: int = 100
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction: must be one of {_DIRECTIONS}, got {self.direction!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha: must be in (0, 1), got {self.alpha!r}")
        if not self.tuning > 0:
            raise ValueError(f"tuning: must be > 0, got {self.tuning!r}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples: must be >= 2, got {self.min_samples!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin: must be >= 0, got {self.margin!r}")

    def judge(
        self, legacy: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]
    ) -> JudgeVerdict:
        """Pass, fail or inconclusive for the current window."""
        xa, xb = _values(legacy, self.metric), _values(candidate, self.metric)
        bad_a, bad_b = ~np.isfinite(xa), ~np.isfinite(xb)
        xa, xb = xa[~bad_a], xb[~bad_b]
        info: dict[str, Any] = {
            "n_legacy": int(xa.size), "n_candidate": int(xb.size),
            "nan_legacy": int(bad_a.sum()), "nan_candidate": int(bad_b.sum()),
            "direction": self.direction, "margin": self.margin, "alpha": self.alpha,
            "tuning": self.tuning, "relative": self.relative,
        }
        details: dict[str, Any] = {self.metric: info}
        if xa.size < self.min_samples or xb.size < self.min_samples:
            return JudgeVerdict(
                "inconclusive", None,
                f"Inconclusive: {self.metric} has {xa.size} legacy and {xb.size} candidate usable "
                f"values ({info['nan_legacy']} and {info['nan_candidate']} NaN dropped); at least "
                f"{self.min_samples} are needed in each arm.",
                details,
            )
        try:
            r = confidence_sequence(SummaryStats.from_array(xa), SummaryStats.from_array(xb),
                                    relative=self.relative, alpha=self.alpha, tuning=self.tuning)
        except ValueError as exc:  # e.g. relative lift with a zero legacy mean
            return JudgeVerdict("inconclusive", None,
                                f"Inconclusive: {self.metric} cannot be compared ({exc}).", details)
        info.update(mean_legacy=r.mean_a, mean_candidate=r.mean_b, estimate=r.estimate,
                    se=r.se, ci_low=r.ci_low, ci_high=r.ci_high, p_value=r.p_value)
        # non-inferiority: the whole interval within the tolerated harm on every harmful side
        safe_up = self.direction == "decrease" or r.ci_high < self.margin
        safe_down = self.direction == "increase" or r.ci_low > -self.margin
        # deterioration: significantly worse than legacy, and not shown to be within the margin
        harm_up = self.direction in ("increase", "either") and r.ci_low > 0 and not safe_up
        harm_down = self.direction in ("decrease", "either") and r.ci_high < 0 and not safe_down
        u = "" if self.relative else _unit(self.metric)
        what = "relative change" if self.relative else "change"
        numbers = (f"{self.metric} {what} {r.estimate:+.4g}{u} (always-valid "
                   f"{100 * (1 - self.alpha):g}% CI {r.ci_low:.4g} to {r.ci_high:.4g}{u}, "
                   f"{xa.size} legacy and {xb.size} candidate values)")
        bound = {"increase": f"below +{self.margin:g}{u}", "decrease": f"above -{self.margin:g}{u}",
                 "either": f"within +-{self.margin:g}{u}"}[self.direction]
        if harm_up or harm_down:
            side = "above 0" if harm_up else "below 0"
            return JudgeVerdict("fail", None, f"Fail: {numbers} lies entirely {side}{u} (the candidate is "
                                f"worse) and is not entirely {bound}.", details)
        if safe_up and safe_down:
            return JudgeVerdict("pass", None,
                                f"Pass: {numbers} lies entirely {bound}: non-inferior within the "
                                "margin.", details)
        return JudgeVerdict("inconclusive", None,
                            f"Inconclusive: {numbers} is not yet entirely {bound}; no evidence "
                            "of harm is not evidence of non-inferiority.", details)
