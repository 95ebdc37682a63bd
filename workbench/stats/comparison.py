"""``ModelComparison``: compare a candidate with legacy as data arrive, without peeking bias.

It keeps only summary statistics per arm, requires enough data in both arms
(not just one), checks the split for a sample ratio mismatch, and in
``"sequential"`` mode (the default) reports an always-valid confidence sequence
(:func:`confidence_sequence`): a fixed-horizon p-value asked after every request
would reject a true null far more often than ``alpha``, the confidence sequence
does not. Effect sizes use sample variances (Cohen's d with ``n - 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .frequentist import cohens_d, hedges_g, mean_difference
from .sequential import confidence_sequence
from .srm import SRMResult, srm_test
from .summary import SummaryStats, as_array

__all__ = ["ComparisonReport", "ModelComparison"]

_ARMS = {"legacy": "legacy", "a": "legacy", "candidate": "candidate", "b": "candidate"}


@dataclass(frozen=True)
class ComparisonReport:
    """State of a comparison at one look.

    ``status`` is ``"insufficient_data"`` (numbers are NaN), ``"srm"`` (a
    sample ratio mismatch: numbers are given but should not be trusted) or
    ``"ok"``. ``estimate`` is candidate minus legacy (or the relative lift).
    """

    status: str
    mode: str
    metric: str
    n_legacy: int
    n_candidate: int
    mean_legacy: float
    mean_candidate: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    cohens_d: float
    hedges_g: float
    srm: SRMResult | None
    looks: int
    first_significant_look: int | None
    alpha: float
    relative: bool
    verdict: str


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class ModelComparison:
    """Accumulate observations per arm and report at any time.

    Parameters
    ----------
    mode : {"sequential", "fixed"}
        ``"sequential"``: always-valid interval and p-value (safe to look
        after every observation). ``"fixed"``: Welch's t-test, valid only if
        you look once at a planned sample size.
    alpha : float
    relative : bool
        Report ``mean(candidate)/mean(legacy) - 1`` instead of the difference.
    min_samples_per_arm : int
        Below this in *either* arm the report says "insufficient data".
    expected_shares : (float, float)
        Planned legacy/candidate split for the sample-ratio check.
    srm_threshold : float
        Flag a mismatch when the chi-square p-value is below this (0.001).
    tuning : float
        Confidence-sequence tuning: total sample size where it is narrowest.
    metric : str
        Name used in the verdict.
    higher_is_better : bool or None
        If given, the verdict says whether the candidate is better or worse.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> mc = ModelComparison(metric="latency_ms", higher_is_better=False)
    >>> mc.add("legacy", rng.normal(40, 5, 20)).report().status
    'insufficient_data'
    >>> mc.add("candidate", rng.normal(50, 5, 2000)).add("legacy", rng.normal(40, 5, 1980))
    ModelComparison(mode='sequential', n_legacy=2000, n_candidate=2000)
    >>> r = mc.report()
    >>> r.status, r.significant, r.ci_low > 0
    ('ok', True, True)
    """

    def __init__(
        self,
        mode: str = "sequential",
        alpha: float = 0.05,
        relative: bool = False,
        min_samples_per_arm: int = 30,
        expected_shares: Sequence[float] = (50.0, 50.0),
        srm_threshold: float = 0.001,
        tuning: float = 5000,
        metric: str = "metric",
        higher_is_better: bool | None = None,
    ) -> None:
        if mode not in ("sequential", "fixed"):
            raise ValueError(f"mode: must be 'sequential' or 'fixed', got {mode!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
        if min_samples_per_arm < 2:
            raise ValueError(f"min_samples_per_arm: must be >= 2, got {min_samples_per_arm!r}")
        if len(expected_shares) != 2 or min(expected_shares) <= 0:
            raise ValueError(
                f"expected_shares: need two positive shares (legacy, candidate), got {expected_shares!r}"
            )
        if not tuning > 0:
            raise ValueError(f"tuning: must be > 0, got {tuning!r}")
        self.mode = mode
        self.alpha = float(alpha)
        self.relative = bool(relative)
        self.min_samples_per_arm = int(min_samples_per_arm)
        self.expected_shares = (float(expected_shares[0]), float(expected_shares[1]))
        self.srm_threshold = float(srm_threshold)
        self.tuning = float(tuning)
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.legacy = SummaryStats(0, 0.0, 0.0)
        self.candidate = SummaryStats(0, 0.0, 0.0)
        self.looks = 0
        self.first_significant_look: int | None = None

    def __repr__(self) -> str:
        return (f"ModelComparison(mode={self.mode!r}, n_legacy={self.legacy.n}, "
                f"n_candidate={self.candidate.n})")

    def add(self, arm: str, values: Any) -> ModelComparison:
        """Add observations (a number, an array or a :class:`SummaryStats`) to one arm."""
        key = _ARMS.get(arm)
        if key is None:
            raise ValueError(f"arm: must be 'legacy' or 'candidate', got {arm!r}")
        s = values if isinstance(values, SummaryStats) else SummaryStats.from_array(
            as_array(values, "values"))
        setattr(self, key, getattr(self, key) + s)
        return self

    def add_legacy(self, values: Any) -> ModelComparison:
        """Add observations to the legacy arm."""
        return self.add("legacy", values)

    def add_candidate(self, values: Any) -> ModelComparison:
        """Add observations to the candidate arm."""
        return self.add("candidate", values)

    def report(self) -> ComparisonReport:
        """Compare the arms now. Each call counts as one look."""
        self.looks += 1
        la, lb = self.legacy, self.candidate
        nan = float("nan")
        if la.n < self.min_samples_per_arm or lb.n < self.min_samples_per_arm:
            verdict = (f"Insufficient data: legacy has {la.n} and candidate {lb.n} observations of "
                       f"{self.metric}; at least {self.min_samples_per_arm} are needed in each arm.")
            return ComparisonReport(
                status="insufficient_data", mode=self.mode, metric=self.metric, n_legacy=la.n,
                n_candidate=lb.n, mean_legacy=la.mean, mean_candidate=lb.mean, estimate=nan,
                se=nan, ci_low=nan, ci_high=nan, p_value=nan, significant=False, cohens_d=nan,
                hedges_g=nan, srm=None, looks=self.looks,
                first_significant_look=self.first_significant_look, alpha=self.alpha,
                relative=self.relative, verdict=verdict,
            )
        srm = srm_test([la.n, lb.n], self.expected_shares, threshold=self.srm_threshold)
        if self.mode == "sequential":
            r = confidence_sequence(la, lb, relative=self.relative, alpha=self.alpha,
                                    tuning=self.tuning)
            interval = "always-valid CI"
        else:
            r = mean_difference(la, lb, relative=self.relative, alpha=self.alpha)
            interval = "CI"
        significant = bool(r.p_value < self.alpha)
        if significant and self.first_significant_look is None:
            self.first_significant_look = self.looks
        d, g = cohens_d(la, lb), hedges_g(la, lb)
        conf = f"{100 * (1 - self.alpha):g}%"
        numbers = (f"{'lift' if self.relative else 'difference'} {_fmt(r.estimate)} "
                   f"({conf} {interval} {_fmt(r.ci_low)} to {_fmt(r.ci_high)}, "
                   f"p = {r.p_value:.3g}, Hedges' g = {g:.3g})")
        if srm.mismatch:
            status = "srm"
            share = 100 * self.expected_shares[0] / sum(self.expected_shares)
            verdict = (f"Sample ratio mismatch: {la.n} legacy vs {lb.n} candidate observations "
                       f"against a planned {share:g}/{100 - share:g} split (p = {srm.p_value:.2g}); "
                       f"assignment or logging is broken, so do not trust the {numbers}.")
        elif significant:
            status = "ok"
            direction = "higher" if r.estimate > 0 else "lower"
            judgement = ""
            if self.higher_is_better is not None:
                better = (r.estimate > 0) == self.higher_is_better
                judgement = ": the candidate is better" if better else ": the candidate is worse"
            verdict = f"Candidate {self.metric} is {direction} than legacy, {numbers}{judgement}."
        else:
            status = "ok"
            verdict = (f"No significant difference in {self.metric} between candidate and legacy "
                       f"yet, {numbers}.")
        return ComparisonReport(
            status=status, mode=self.mode, metric=self.metric, n_legacy=la.n, n_candidate=lb.n,
            mean_legacy=la.mean, mean_candidate=lb.mean, estimate=r.estimate, se=r.se,
            ci_low=r.ci_low, ci_high=r.ci_high, p_value=r.p_value, significant=significant,
            cohens_d=d, hedges_g=g, srm=srm,
            looks=self.looks, first_significant_look=self.first_significant_look,
            alpha=self.alpha, relative=self.relative, verdict=verdict,
        )
