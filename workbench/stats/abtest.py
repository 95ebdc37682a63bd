"""The verdict of an A/B test: the primary metric's lift, CUPED, and guardrails under Holm.

* :func:`lift` estimates the absolute difference ``treatment - control`` with its
  interval and p-value (Welch's t for means; the two-proportion z test with an
  unpooled Wald interval for proportions) and the relative lift
  ``mean(treatment) / mean(control) - 1`` with its delta-method interval (Kohavi,
  Tang and Xu 2020, ch. 18; Deng, Knoblich and Lu 2018). It reuses
  :func:`~workbench.stats.frequentist.mean_difference` and
  :func:`~workbench.stats.frequentist.proportion_test`.
* :func:`cuped` is the CUPED adjustment (Deng, Xu, Kohavi and Walker 2013): a
  covariate measured before the experiment, independent of the assignment, removes the
  part of the metric's variance it explains, ``y_adj = y - theta (x - mean(x))`` with
  ``theta = cov(y, x) / var(x)`` over both arms; the variance shrinks by the factor
  ``1 - rho^2`` (``rho`` the correlation of ``y`` and ``x``) and the difference of the
  arms' means stays unbiased. ``lift(..., covariate_control=, covariate_treatment=)``
  applies it and runs Welch's test on the adjusted values (theta taken as known, as
  in the paper).
* :func:`ab_verdict` turns a primary lift and guardrail lifts into a decision: the
  guardrails' p-values are adjusted together (Holm by default, through
  :func:`~workbench.stats.corrections.adjust_p_values`), a guardrail significantly
  worse after the adjustment is breached, and the candidate ships only when the
  primary metric is significantly better and no guardrail is breached.

Conventions of :mod:`workbench.stats`: the control is legacy, the treatment the
candidate, and every difference is treatment minus control. scipy and statsmodels are
imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Lift", "GuardrailCheck", "AbVerdict", "lift", "cuped", "ab_verdict", "DECISIONS", "DIRECTIONS"]

KINDS = ("mean", "proportion")
DIRECTIONS = ("higher", "lower")  # which way is better
DECISIONS = ("ship", "don't ship", "inconclusive")
GUARDRAIL_STATUSES = ("breached", "better", "ok", "no data")
CORRECTIONS = ("holm", "bh", "bonferroni", "none")


@dataclass(frozen=True)
class Lift:
    """One metric's treatment-minus-control estimate, absolute and relative.

    Attributes
    ----------
    metric : str
        The metric's name (``mean_latency_ms``; a name ending in ``_ms`` is in milliseconds).
    kind : {"mean", "proportion"}
    method : str
        ``"welch"``, ``"proportion_z"``, or ``"cuped_welch"`` when a covariate adjusted the values.
    n_control, n_treatment : int
        Units (users or requests) per arm.
    mean_control, mean_treatment : float
        The arms' means (CUPED: the adjusted means).
    difference, difference_ci_low, difference_ci_high : float
        ``mean_treatment - mean_control`` and its two-sided ``1 - alpha`` interval.
    p_value : float
        Two-sided p-value of "no difference" (NaN without enough data).
    relative, relative_ci_low, relative_ci_high : float
        ``mean_treatment / mean_control - 1`` and its delta-method interval (NaN when
        the control's mean is 0).
    cuped_theta, variance_reduction : float
        CUPED's ``theta`` and the share of the variance it removed (NaN without CUPED).
    """

    metric: str
    kind: str
    method: str
    alpha: float
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    p_value: float
    relative: float
    relative_ci_low: float
    relative_ci_high: float
    cuped_theta: float = math.nan
    variance_reduction: float = math.nan

    @property
    def significant(self) -> bool:
        """True when ``p_value < alpha`` (False without data)."""
        return bool(self.p_value < self.alpha)

    @classmethod
    def no_data(cls, metric: str, kind: str, n_control: int, n_treatment: int, alpha: float = 0.05,
                mean_control: float = math.nan, mean_treatment: float = math.nan) -> Lift:
        """A lift that could not be estimated (too few units in an arm): every estimate NaN."""
        nan = math.nan
        return cls(metric=metric, kind=kind, method="none", alpha=float(alpha), n_control=int(n_control),
                   n_treatment=int(n_treatment), mean_control=float(mean_control),
                   mean_treatment=float(mean_treatment), difference=nan, difference_ci_low=nan,
                   difference_ci_high=nan, p_value=nan, relative=nan, relative_ci_low=nan,
                   relative_ci_high=nan)


def _values(values: Any, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: must be finite (no NaN or infinity)")
    return x


def cuped(y: Any, x: Any) -> tuple[np.ndarray, float, float]:
    """CUPED adjustment of ``y`` by the pre-experiment covariate ``x`` (both arms together).

    Parameters
    ----------
    y : array_like
        The metric of every unit, control and treatment together.
    x : array_like
        The covariate of the same units, measured before the experiment.

    Returns
    -------
    adjusted_y : numpy.ndarray
        ``y - theta * (x - mean(x))``: same mean as ``y``.
    theta : float
        ``cov(y, x) / var(x)``, the least-squares slope of ``y`` on ``x`` (0 when ``x`` is constant).
    variance_reduction : float
        ``1 - var(adjusted_y) / var(y)``, which equals the squared sample correlation of
        ``y`` and ``x`` (0 when either is constant).

    Examples
    --------
    >>> adj, theta, reduction = cuped([1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    >>> round(theta, 6), round(reduction, 6), adj.round(2).tolist()
    (1.3, 0.965714, [2.95, 2.65, 2.35, 3.05])
    """
    y = _values(y, "y")
    x = _values(x, "x")
    if y.shape != x.shape:
        raise ValueError(f"x: needs one covariate per value of y ({y.size}), got {x.size}")
    if y.size < 2:
        raise ValueError(f"y: needs at least 2 values, got {y.size}")
    xc = x - x.mean()
    yc = y - y.mean()
    sxx = float(np.dot(xc, xc))
    syy = float(np.dot(yc, yc))
    theta = float(np.dot(yc, xc)) / sxx if sxx > 0 else 0.0
    adjusted = y - theta * xc
    if syy > 0:
        ac = adjusted - adjusted.mean()
        reduction = 1.0 - float(np.dot(ac, ac)) / syy
    else:
        reduction = 0.0
    return adjusted, theta, float(reduction)


def lift(
    control: Any,
    treatment: Any,
    *,
    kind: str = "mean",
    alpha: float = 0.05,
    metric: str = "",
    covariate_control: Any = None,
    covariate_treatment: Any = None,
) -> Lift:
    """Absolute and relative lift of ``treatment`` over ``control``, with intervals and a p-value.

    Parameters
    ----------
    control, treatment : array_like
        One value per unit (0/1 values for ``kind="proportion"``); for ``kind="mean"``
        without covariates a :class:`~workbench.stats.SummaryStats` works too.
    kind : {"mean", "proportion"}
        ``"mean"``: Welch's t test and interval. ``"proportion"``: the two-proportion z
        test (pooled standard error) with the unpooled Wald interval.
    alpha : float
        One minus the intervals' coverage.
    metric : str
        The metric's name, kept in the result.
    covariate_control, covariate_treatment : array_like, optional
        A pre-experiment covariate of every unit (both or neither). The values are
        CUPED-adjusted with ``theta`` pooled over both arms (:func:`cuped`) and compared
        with Welch's test, whatever ``kind`` (adjusted values are no longer 0/1).

    Returns
    -------
    Lift

    Examples
    --------
    >>> r = lift([0, 1, 0, 0, 1, 0, 0, 0], [1, 1, 0, 1, 0, 1, 0, 1], kind="proportion")
    >>> round(r.difference, 3), round(r.relative, 3), round(r.p_value, 4)
    (0.375, 1.5, 0.1306)
    """
    from .frequentist import check_alpha, mean_difference, proportion_test
    from .summary import SummaryStats

    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {KINDS}, got {kind!r}")
    alpha = check_alpha(alpha)
    if (covariate_control is None) != (covariate_treatment is None):
        raise ValueError("covariate_control/covariate_treatment: give both covariates or neither")
    theta = reduction = math.nan
    if covariate_control is not None:
        yc, yt = _values(control, "control"), _values(treatment, "treatment")
        xc, xt = _values(covariate_control, "covariate_control"), _values(covariate_treatment, "covariate_treatment")
        if xc.shape != yc.shape:
            raise ValueError(f"covariate_control: needs one value per control unit ({yc.size}), got {xc.size}")
        if xt.shape != yt.shape:
            raise ValueError(f"covariate_treatment: needs one value per treatment unit ({yt.size}), got {xt.size}")
        adjusted, theta, reduction = cuped(np.concatenate([yc, yt]), np.concatenate([xc, xt]))
        a, b = adjusted[: yc.size], adjusted[yc.size:]
        method = "cuped_welch"
    elif kind == "proportion":
        a, b = _values(control, "control"), _values(treatment, "treatment")
        for name, v in (("control", a), ("treatment", b)):
            if not np.all((v == 0) | (v == 1)):
                raise ValueError(f"{name}: a proportion needs 0/1 values")
        method = "proportion_z"
    else:
        a, b = control, treatment
        method = "welch"
    if method == "proportion_z":
        counts = (int(a.sum()), int(a.size), int(b.sum()), int(b.size))
        absolute = proportion_test(*counts, alpha=alpha)
        rel = proportion_test(*counts, relative=True, alpha=alpha) if counts[0] > 0 else None
    else:
        sa = a if isinstance(a, SummaryStats) else SummaryStats.from_array(a)
        sb = b if isinstance(b, SummaryStats) else SummaryStats.from_array(b)
        absolute = mean_difference(sa, sb, alpha=alpha)
        rel = mean_difference(sa, sb, relative=True, alpha=alpha) if sa.mean != 0 else None
    nan = math.nan
    return Lift(
        metric=str(metric), kind=kind, method=method, alpha=alpha,
        n_control=absolute.n_a, n_treatment=absolute.n_b,
        mean_control=absolute.mean_a, mean_treatment=absolute.mean_b,
        difference=absolute.estimate, difference_ci_low=absolute.ci_low, difference_ci_high=absolute.ci_high,
        p_value=absolute.p_value,
        relative=rel.estimate if rel is not None else nan,
        relative_ci_low=rel.ci_low if rel is not None else nan,
        relative_ci_high=rel.ci_high if rel is not None else nan,
        cuped_theta=float(theta), variance_reduction=float(reduction),
    )


@dataclass(frozen=True)
class GuardrailCheck:
    """One guardrail: its lift, which way is better, its adjusted p-value and its status.

    ``status`` is ``"breached"`` (significantly worse after the correction),
    ``"better"`` (significantly better), ``"ok"`` (no significant change) or
    ``"no data"`` (the lift could not be estimated).
    """

    metric: str
    direction: str
    lift: Lift
    adjusted_p: float
    status: str


@dataclass(frozen=True)
class AbVerdict:
    """The decision of an A/B test from its primary metric and its guardrails.

    ``decision`` is ``"ship"`` (the primary metric is significantly better and no
    guardrail is breached), ``"don't ship"`` (a guardrail is breached, or the primary
    metric is significantly worse) or ``"inconclusive"``; ``reason`` says which.
    """

    primary: Lift
    primary_direction: str
    guardrails: tuple[GuardrailCheck, ...]
    decision: str
    reason: str
    alpha: float
    correction: str

    @property
    def breached(self) -> tuple[str, ...]:
        """The guardrails significantly worse than control after the correction."""
        return tuple(g.metric for g in self.guardrails if g.status == "breached")


def _check_direction(direction: str, name: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"{name}: must be one of {DIRECTIONS} (which way is better), got {direction!r}")
    return direction


def _worse(difference: float, direction: str) -> bool:
    return difference < 0 if direction == "higher" else difference > 0


def ab_verdict(
    primary: Lift,
    guardrails: Mapping[str, tuple[Lift, str]],
    *,
    alpha: float = 0.05,
    correction: str = "holm",
    primary_direction: str = "higher",
) -> AbVerdict:
    """Decide an A/B test: the primary lift and the guardrails, corrected together.

    Parameters
    ----------
    primary : Lift
        The primary metric (decided at ``alpha`` on its own p-value).
    guardrails : mapping of name to (Lift, direction)
        Each guardrail's lift and which way is better (``"lower"`` or ``"higher"``).
        Their p-values are adjusted as one family with ``correction`` (guardrails
        without data are left out of it).
    alpha : float
        Significance level of every decision.
    correction : {"holm", "bh", "bonferroni", "none"}
        See :func:`~workbench.stats.corrections.adjust_p_values`.
    primary_direction : {"higher", "lower"}
        Which way is better for the primary metric.

    Returns
    -------
    AbVerdict

    Examples
    --------
    >>> conv = lift([0] * 900 + [1] * 100, [0] * 860 + [1] * 140, kind="proportion", metric="conversion")
    >>> err = lift([0] * 990 + [1] * 10, [0] * 985 + [1] * 15, kind="proportion", metric="error_rate")
    >>> v = ab_verdict(conv, {"error_rate": (err, "lower")})
    >>> v.decision, v.guardrails[0].status
    ('ship', 'ok')
    """
    from .corrections import adjust_p_values
    from .frequentist import check_alpha

    alpha = check_alpha(alpha)
    if correction not in CORRECTIONS:
        raise ValueError(f"correction: must be one of {CORRECTIONS}, got {correction!r}")
    _check_direction(primary_direction, "primary_direction")
    for name, (_, direction) in guardrails.items():
        _check_direction(direction, f"guardrails[{name!r}]")
    tested = {name: float(g.p_value) for name, (g, _) in guardrails.items() if not math.isnan(g.p_value)}
    adjusted = adjust_p_values(tested, method=correction, alpha=alpha) if tested else None
    checks = []
    for name, (g, direction) in guardrails.items():
        if name not in tested:
            checks.append(GuardrailCheck(metric=name, direction=direction, lift=g, adjusted_p=math.nan,
                                         status="no data"))
            continue
        decision = adjusted[name]
        if not decision.reject:
            status = "ok"
        elif _worse(g.difference, direction):
            status = "breached"
        else:
            status = "better"
        checks.append(GuardrailCheck(metric=name, direction=direction, lift=g,
                                     adjusted_p=float(decision.adjusted_p), status=status))
    breached = [c.metric for c in checks if c.status == "breached"]
    label = primary.metric or "the primary metric"
    if breached:
        decision, reason = "don't ship", f"guardrail breached: {', '.join(breached)}"
    elif math.isnan(primary.p_value):
        decision, reason = "inconclusive", f"{label} could not be estimated"
    elif primary.significant and _worse(primary.difference, primary_direction):
        decision, reason = "don't ship", f"{label} is significantly worse"
    elif primary.significant:
        decision, reason = "ship", f"{label} is significantly better and no guardrail is breached"
    else:
        decision, reason = "inconclusive", f"{label} shows no significant difference at alpha {alpha:g}"
    return AbVerdict(primary=primary, primary_direction=primary_direction, guardrails=tuple(checks),
                     decision=decision, reason=reason, alpha=alpha, correction=correction)
