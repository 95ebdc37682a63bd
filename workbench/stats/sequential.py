"""Peeking-safe tests: mSPRT, asymptotic confidence sequences, group-sequential bounds.

A fixed-horizon test checked at 10 looks rejects a true null about 19 % of
the time (Armitage, McPherson and Rowe 1969). The tools here keep the error
rate at ``alpha`` however often one looks:

* :func:`msprt`: the mixture sequential probability ratio test of Johari,
  Pekelis and Walsh ("Always Valid Inference"), with a normal mixing
  distribution whose variance is set from an expected horizon.
* :func:`confidence_sequence`: the asymptotic confidence sequence of
  Waudby-Smith et al. (2023) as implemented in GrowthBook's sequential engine
  (tuning parameter ``N``, default 5000).
* :func:`group_sequential_bounds`: boundaries for a *planned* number of looks,
  O'Brien-Fleming and Pocock, classical or by Lan-DeMets alpha spending
  (``alpha/2`` spent per side, as gsDesign and ldbounds).

Formulas: the papers above and, for group-sequential bounds, Jennison and
Turnbull, *Group Sequential Methods with Applications to Clinical Trials* (2000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from .frequentist import EffectResult, check_alpha, effect_moments
from .summary import SummaryStats, as_summary

__all__ = [
    "SequentialResult",
    "MSPRTResult",
    "MSPRT",
    "GroupSequentialBounds",
    "sequential_rho",
    "confidence_sequence",
    "msprt",
    "msprt_mixing_variance",
    "group_sequential_bounds",
]


# ---------------------------------------------------------------------------
# Asymptotic confidence sequence (Waudby-Smith et al.; GrowthBook)
# ---------------------------------------------------------------------------


def sequential_rho(alpha: float, tuning: float) -> float:
    """Mixing parameter ``rho = sqrt((-2 ln a + ln(1 - 2 ln a)) / N)``.

    It makes the confidence sequence narrowest near ``N`` total observations
    (Waudby-Smith et al. 2023, eq. 161; GrowthBook ``sequential_rho``).
    """
    alpha = check_alpha(alpha)
    if not tuning > 0:
        raise ValueError(f"tuning: must be > 0, got {tuning!r}")
    la = math.log(alpha)
    return math.sqrt((-2 * la + math.log(1 - 2 * la)) / tuning)


def _cs_halfwidth(var_est: float, n: float, alpha: float, rho: float) -> float:
    s2 = var_est * n
    tr = n * rho * rho + 1
    return math.sqrt(s2) * math.sqrt(2 * tr * math.log(math.sqrt(tr) / alpha) / (n * rho) ** 2)


@dataclass(frozen=True)
class SequentialResult(EffectResult):
    """An :class:`EffectResult` whose interval and p-value are valid at any look.

    Extra attributes: ``e_value`` (the mixture likelihood ratio; the p-value is
    ``min(1, 1/e_value)``) and ``tuning``.
    """

    e_value: float
    tuning: float


def confidence_sequence(
    a: Any,
    b: Any,
    relative: bool = False,
    alpha: float = 0.05,
    tuning: float = 5000,
) -> SequentialResult:
    """Always-valid interval and p-value for ``b - a`` (or ``b/a - 1``).

    With ``n = n_a + n_b`` and ``s^2 = Var(estimate) n``, the half-width is
    ``s sqrt(2 (n rho^2 + 1) ln(sqrt(n rho^2 + 1)/alpha) / (n rho)^2)``
    (Waudby-Smith et al. 2023; GrowthBook ``SequentialTwoSidedTTest``). The interval may
    be recomputed after every observation: the chance that it ever excludes
    the true effect is at most ``alpha`` (asymptotically).

    Parameters
    ----------
    tuning : float
        Total sample size (both arms) at which the interval is narrowest
        (GrowthBook default 5000); set it near the expected final size.

    Examples
    --------
    GrowthBook's ``test_sequential_test_runs`` (relative, tuning 1000):

    >>> from workbench.stats import SummaryStats
    >>> a = SummaryStats(n=3000, sum=1396.87, sum_sq=52377.9767)
    >>> b = SummaryStats(n=3461, sum=2422.7, sum_sq=134698.29)
    >>> r = confidence_sequence(a, b, relative=True, tuning=1000)
    >>> round(r.estimate, 5), round(r.ci_low, 5), round(r.ci_high, 5), r.p_value
    (0.50336, -0.55844, 1.56516, 1.0)
    """
    alpha = check_alpha(alpha)
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    rho = sequential_rho(alpha, tuning)
    estimate, var, _ = effect_moments(sa, sb, relative, "z")
    n = sa.n + sb.n
    se = math.sqrt(var)
    if se == 0.0:
        e_value = 1.0 if estimate == 0 else float("inf")
        half = 0.0
    else:
        half = _cs_halfwidth(var, n, alpha, rho)
        tr = n * rho * rho + 1
        st2 = estimate * estimate * n / var  # Waudby-Smith eq. 155, GrowthBook's form
        log_e = rho * rho * st2 / (2 * tr) - 0.5 * math.log(tr)
        e_value = math.exp(min(log_e, 700.0))
    p = min(1.0, 1.0 / e_value) if e_value > 0 else 1.0
    return SequentialResult(
        estimate=estimate, se=se, ci_low=estimate - half, ci_high=estimate + half,
        p_value=float(p), statistic=estimate / se if se > 0 else 0.0, dof=float("inf"),
        method="confidence_sequence", relative=bool(relative), alpha=alpha, n_a=sa.n, n_b=sb.n,
        mean_a=sa.mean, mean_b=sb.mean, e_value=float(e_value), tuning=float(tuning),
    )


# ---------------------------------------------------------------------------
# mSPRT (Johari, Pekelis and Walsh)
# ---------------------------------------------------------------------------


def msprt_mixing_variance(var_at_horizon: float, alpha: float = 0.05) -> float:
    """Mixing variance ``tau^2`` that makes the mSPRT sharpest at an expected horizon.

    ``tau^2 = Var(estimate at the horizon) * (-2 ln a + ln(1 - 2 ln a))``: the
    normal-mixture boundary is then narrowest at the horizon (the same
    optimisation as :func:`sequential_rho`, Waudby-Smith et al. eq. 161,
    written in the units of the estimate).
    """
    alpha = check_alpha(alpha)
    if not var_at_horizon > 0:
        raise ValueError(f"var_at_horizon: must be > 0, got {var_at_horizon!r}")
    la = math.log(alpha)
    return float(var_at_horizon * (-2 * la + math.log(1 - 2 * la)))


@dataclass(frozen=True)
class MSPRTResult:
    """One evaluation of the mSPRT.

    Attributes
    ----------
    likelihood_ratio : float
        ``Lambda_n``; reject "no difference" when it reaches ``1/alpha``.
    p_value : float
        ``min(1, 1/Lambda_n)`` for this look; :class:`MSPRT` keeps the running
        minimum, which is the always-valid p-value.
    ci_low, ci_high : float
        Effects not rejected at this look (always-valid interval).
    tau2 : float
        Mixing variance used (NaN while neither arm has any spread).
    """

    estimate: float
    se: float
    likelihood_ratio: float
    p_value: float
    reject: bool
    ci_low: float
    ci_high: float
    tau2: float
    alpha: float
    n_a: int
    n_b: int


def _msprt_core(estimate: float, var: float, tau2: float, alpha: float) -> tuple[float, float]:
    """Log likelihood ratio and always-valid half-width for a normal estimate.

    ``Lambda = sqrt(V/(V + tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2)))`` with
    ``V = Var(estimate)``; with V = sigma^2/n this is Johari et al.'s
    ``sqrt(V/(V + n tau^2)) exp(n^2 tau^2 dbar^2 / (2 V (V + n tau^2)))``.
    """
    log_lr = 0.5 * math.log(var / (var + tau2)) + tau2 * estimate**2 / (2 * var * (var + tau2))
    half = math.sqrt(
        2 * var * (var + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * math.log((var + tau2) / var))
    )
    return log_lr, half


def _var_at_horizon(sa: SummaryStats, sb: SummaryStats, horizon_per_arm: float,
                    relative: bool) -> float:
    """Variance of the estimate if each arm had ``horizon_per_arm`` observations."""
    scaled_a = SummaryStats.from_moments(int(horizon_per_arm), sa.mean, sa.sd)
    scaled_b = SummaryStats.from_moments(int(horizon_per_arm), sb.mean, sb.sd)
    _, var, _ = effect_moments(scaled_a, scaled_b, relative, "z")
    return var


def msprt(
    a: Any,
    b: Any,
    alpha: float = 0.05,
    tau2: float | None = None,
    horizon_per_arm: float | None = None,
    relative: bool = False,
) -> MSPRTResult:
    """Mixture SPRT for the difference of means (or proportions) of ``b`` and ``a``.

    Give either the mixing variance ``tau2`` (in squared units of the
    estimate) or ``horizon_per_arm``, the expected final size of each arm,
    from which ``tau2`` is set by :func:`msprt_mixing_variance`. For
    proportions pass :meth:`SummaryStats.from_counts`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> r = msprt(rng.normal(0, 1, 500), rng.normal(0.5, 1, 500), horizon_per_arm=1000)
    >>> r.reject
    True
    """
    alpha = check_alpha(alpha)
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    estimate, var, _ = effect_moments(sa, sb, relative, "z")
    if tau2 is None:
        if horizon_per_arm is None:
            raise ValueError("tau2/horizon_per_arm: give one (the mixing variance must be fixed "
                             "before the data arrive)")
        if horizon_per_arm < 2:
            raise ValueError(f"horizon_per_arm: must be >= 2, got {horizon_per_arm!r}")
        if var > 0:
            tau2 = msprt_mixing_variance(_var_at_horizon(sa, sb, horizon_per_arm, relative), alpha)
    elif not tau2 > 0:
        raise ValueError(f"tau2: must be > 0, got {tau2!r}")
    if var == 0:  # no spread yet: nothing to mix over (tau2 stays unset if it was)
        lr = 1.0 if estimate == 0 else float("inf")
        half = 0.0
    else:
        assert tau2 is not None
        log_lr, half = _msprt_core(estimate, var, tau2, alpha)
        lr = math.exp(min(log_lr, 700.0))
    return MSPRTResult(
        estimate=estimate, se=math.sqrt(var), likelihood_ratio=lr, p_value=min(1.0, 1.0 / lr),
        reject=bool(lr >= 1.0 / alpha), ci_low=estimate - half, ci_high=estimate + half,
        tau2=float("nan") if tau2 is None else float(tau2), alpha=alpha, n_a=sa.n, n_b=sb.n,
    )


class MSPRT:
    """Stateful mSPRT: feed cumulative summaries at each look, read always-valid results.

    The mixing variance is fixed at the first look (from ``tau2`` or
    ``horizon_per_arm``); the p-value is the running minimum of ``1/Lambda``
    and the interval the running intersection, both valid under continuous
    monitoring (Johari et al., section 3).

    Examples
    --------
    >>> from workbench.stats import SummaryStats
    >>> t = MSPRT(horizon_per_arm=1000)
    >>> r = t.update(SummaryStats.from_array([1.0, 2.0, 3.0]), SummaryStats.from_array([1.5, 2.5, 3.5]))
    >>> 0.0 <= t.p_value <= 1.0
    True
    """

    def __init__(self, alpha: float = 0.05, tau2: float | None = None,
                 horizon_per_arm: float | None = None, relative: bool = False) -> None:
        self.alpha = check_alpha(alpha)
        if tau2 is None and horizon_per_arm is None:
            raise ValueError("tau2/horizon_per_arm: give one")
        self.tau2 = tau2
        self.horizon_per_arm = horizon_per_arm
        self.relative = relative
        self.p_value = 1.0
        self.ci_low = -math.inf
        self.ci_high = math.inf
        self.looks = 0
        self.rejected_at: int | None = None

    def update(self, a: Any, b: Any) -> MSPRTResult:
        """Evaluate at the current cumulative data of both arms."""
        r = msprt(a, b, alpha=self.alpha, tau2=self.tau2,
                  horizon_per_arm=self.horizon_per_arm, relative=self.relative)
        if math.isfinite(r.tau2):
            self.tau2 = r.tau2
        self.looks += 1
        self.p_value = min(self.p_value, r.p_value)
        self.ci_low = max(self.ci_low, r.ci_low)
        self.ci_high = min(self.ci_high, r.ci_high)
        if self.rejected_at is None and self.p_value <= self.alpha:
            self.rejected_at = self.looks
        return r


# ---------------------------------------------------------------------------
# Group-sequential boundaries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSequentialBounds:
    """Two-sided z boundaries for planned looks.

    Attributes
    ----------
    information_fractions : tuple of float
        Share of the final information at each look (last is 1).
    z_bounds : tuple of float
        Reject at look k when ``|Z_k| >= z_bounds[k]``.
    nominal_p : tuple of float
        The same bounds as two-sided p-value thresholds.
    cumulative_alpha : tuple of float
        Probability under the null of having stopped by each look.
    """

    information_fractions: tuple[float, ...]
    z_bounds: tuple[float, ...]
    nominal_p: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    alpha: float
    kind: str
    method: str
    convention: str = "per_side"

    def first_crossing(self, z_values: Sequence[float]) -> int | None:
        """0-based index of the first look whose ``|z|`` reaches its bound, else None."""
        for k, (z, bound) in enumerate(zip(z_values, self.z_bounds, strict=False)):
            if abs(z) >= bound:
                return k
        return None


class _Recursion:
    """Numerical integration of the score process ``S(t) ~ BM`` across looks.

    Armitage, McPherson and Rowe's recursive integration on a grid (Simpson
    weights): ``density`` is the sub-density of S at the current look on the
    continuation region.
    """

    def __init__(self, n_grid: int) -> None:
        self.n_grid = n_grid + (1 - n_grid % 2)  # odd for Simpson
        self.t_prev = 0.0
        self.grid: np.ndarray | None = None
        self.wdens: np.ndarray | None = None  # Simpson weight * density

    def cross_prob(self, c: float, t: float) -> float:
        """Probability of continuing to now and crossing ``|Z| >= c`` at information ``t``."""
        if self.grid is None:
            return float(2 * stats.norm.sf(c))
        sd = math.sqrt(t - self.t_prev)
        b = c * math.sqrt(t)
        up = special.ndtr((self.grid - b) / sd)
        down = special.ndtr((-b - self.grid) / sd)
        return float(np.dot(self.wdens, up + down))

    def advance(self, c: float, t: float) -> None:
        """Move to look ``t`` keeping only paths with ``|Z| < c``."""
        b = c * math.sqrt(t)
        new_grid = np.linspace(-b, b, self.n_grid)
        h = new_grid[1] - new_grid[0]
        w = np.ones(self.n_grid)
        w[1:-1:2], w[2:-1:2] = 4.0, 2.0
        w *= h / 3.0
        if self.grid is None:
            dens = np.exp(-0.5 * new_grid**2 / t) / math.sqrt(2 * math.pi * t)
        else:
            sd = math.sqrt(t - self.t_prev)
            z = (new_grid[:, None] - self.grid[None, :]) / sd
            kern = np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))
            dens = kern @ self.wdens
        self.grid, self.wdens, self.t_prev = new_grid, w * dens, t


def _info_fractions(looks: int | Sequence[float]) -> np.ndarray:
    if isinstance(looks, (int, np.integer)):
        if looks < 1:
            raise ValueError(f"looks: must be >= 1, got {looks!r}")
        return np.arange(1, looks + 1) / looks
    t = np.asarray(looks, dtype=float)
    if t.ndim != 1 or t.size < 1 or np.any(np.diff(t) <= 0) or t[0] <= 0:
        raise ValueError(f"looks: information fractions must be increasing and > 0, got {looks!r}")
    return t / t[-1]


_CONVENTIONS = ("per_side", "full_alpha")


def _spend(kind: str, t: np.ndarray, alpha: float, convention: str) -> np.ndarray:
    """Cumulative two-sided alpha spent by information fraction ``t``.

    ``"per_side"`` (gsDesign, ldbounds): each side spends ``f(t; alpha/2)``, so the
    two-sided total is ``2 f(t; alpha/2)``. ``"full_alpha"`` (Lan and DeMets 1983 read
    literally): ``f(t; alpha)`` spent on ``|Z|``. Here ``f`` is the O'Brien-Fleming-type
    ``2 - 2 Phi(z_{a/2}/sqrt(t))`` or the Pocock-type ``a ln(1 + (e - 1) t)``. The Pocock
    type is linear in ``a``, so both conventions give the same bounds.
    """
    side = alpha / 2 if convention == "per_side" else alpha
    if kind == "obrien_fleming":  # Lan and DeMets (1983)
        f = 2 * stats.norm.sf(stats.norm.isf(side / 2) / np.sqrt(t))
    else:  # Pocock type
        f = side * np.log(1 + (math.e - 1) * t)
    return 2 * f if convention == "per_side" else f


def group_sequential_bounds(
    looks: int | Sequence[float],
    alpha: float = 0.05,
    kind: str = "obrien_fleming",
    method: str = "spending",
    n_grid: int = 201,
    convention: str = "per_side",
) -> GroupSequentialBounds:
    """Two-sided boundaries for a planned number of looks.

    Parameters
    ----------
    looks : int or sequence of float
        Number of equally spaced looks, or the information (e.g. sample
        sizes) at each look.
    kind : {"obrien_fleming", "pocock"}
        Boundary shape: O'Brien-Fleming spends little alpha early; Pocock
        spends it evenly.
    method : {"spending", "classical"}
        ``"spending"``: Lan-DeMets alpha-spending functions
        ``f(t; a) = 2 - 2 Phi(z_{a/2}/sqrt(t))`` and ``a ln(1 + (e - 1) t)``
        (works for any look times). ``"classical"``: Pocock's constant bound
        and O'Brien-Fleming's ``c sqrt(K/k)`` for equally spaced looks
        (Jennison and Turnbull 2000, table 2.1).
    convention : {"per_side", "full_alpha"}
        How a two-sided ``alpha`` is spent (``"spending"`` only).
        ``"per_side"`` (default), the convention of gsDesign and ldbounds:
        ``alpha/2`` per side, each side spending ``f(t; alpha/2)``.
        ``"full_alpha"``: ``f(t; alpha)`` spent on ``|Z|`` (Lan and DeMets'
        1983 formula taken literally), which spends more at early looks of
        the O'Brien-Fleming type (first of 5 bounds 4.383 instead of 4.877).

    Examples
    --------
    ldbounds' ``ldBounds(t = seq(0.2, 1, 0.2), iuse = 1, alpha = 0.05)``:

    >>> b = group_sequential_bounds(5)
    >>> [round(z, 3) for z in b.z_bounds]
    [4.877, 3.357, 2.68, 2.29, 2.031]
    >>> b = group_sequential_bounds(5, kind="pocock", method="classical")
    >>> round(b.z_bounds[0], 3)
    2.413
    """
    alpha = check_alpha(alpha)
    if kind not in ("obrien_fleming", "pocock"):
        raise ValueError(f"kind: must be 'obrien_fleming' or 'pocock', got {kind!r}")
    if method not in ("spending", "classical"):
        raise ValueError(f"method: must be 'spending' or 'classical', got {method!r}")
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention: must be one of {_CONVENTIONS}, got {convention!r}")
    t = _info_fractions(looks)
    k_looks = t.size
    if method == "classical":
        if not isinstance(looks, (int, np.integer)):
            raise ValueError("looks: the classical method needs equally spaced looks (an int)")
        shape = np.ones(k_looks) if kind == "pocock" else np.sqrt(k_looks / np.arange(1, k_looks + 1))

        def total(c: float) -> tuple[float, list[float]]:
            rec = _Recursion(n_grid)
            cum, acc = 0.0, []
            for k in range(k_looks):
                cum += rec.cross_prob(c * shape[k], t[k])
                acc.append(cum)
                if k + 1 < k_looks:
                    rec.advance(c * shape[k], t[k])
            return cum, acc

        c = optimize.brentq(lambda c: total(c)[0] - alpha, 0.5, 10.0, xtol=1e-10)
        bounds = c * shape
        cumulative = total(c)[1]
    else:
        spent = _spend(kind, t, alpha, convention)
        rec = _Recursion(n_grid)
        bounds_l: list[float] = []
        cumulative = []
        cum = 0.0
        for k in range(k_looks):
            target = spent[k] - cum
            if target <= 1e-15:
                c = 40.0
            else:
                c = optimize.brentq(lambda c, k=k, target=target: rec.cross_prob(c, t[k]) - target,
                                    1e-6, 40.0, xtol=1e-12)
            cum += rec.cross_prob(c, t[k])
            bounds_l.append(c)
            cumulative.append(cum)
            if k + 1 < k_looks:
                rec.advance(c, t[k])
        bounds = np.asarray(bounds_l)
    return GroupSequentialBounds(
        information_fractions=tuple(float(x) for x in t),
        z_bounds=tuple(float(x) for x in bounds),
        nominal_p=tuple(float(2 * stats.norm.sf(x)) for x in bounds),
        cumulative_alpha=tuple(float(x) for x in cumulative),
        alpha=alpha, kind=kind, method=method, convention=convention,
    )
