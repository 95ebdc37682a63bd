"""Sensitivity study: how many impressions each method needs to see a quality gap.

For a legacy and a candidate recommender of different ranking quality, the study
estimates by Monte Carlo (independent replicates, "seeds") the power of each method at
a growing number of impressions: the interleaving methods with the sign test, the A/B
test with the two-proportion z-test on click-through rate. A replicate counts as a
detection when the test rejects at ``alpha`` and the winner is the better recommender
(the one with the higher NDCG@k). The impressions needed for the target power are
interpolated on a log scale between grid points, and the ratio A/B over each method is
the traffic saving (Chapelle et al. 2012 measure interleaving's sensitivity against
A/B metrics; industry reports: Thumbtack "up to 100x faster than A/B", Etsy "10% or
less of the traffic"). The saving depends on the click model: it needs users whose
stopping depends on relevance (Iizuka et al. 2023); under a position-based model it
is small.

Impressions are simulated in increments, all replicates at once (vectorised), and a
method stops once its power has reached the target, so the cost is driven by the
least sensitive method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .catalogue import Catalogue, Recommender, make_catalogue
from .clicks import ClickModel
from .clicks import click_model as _click_model
from .evaluation import (
    _check_pair,
    ab_clicked,
    interleaving_outcomes,
    sign_test_pvalue,
    two_proportion_ztest,
)
from .methods import METHODS

__all__ = ["STUDY_METHODS", "impressions_for_power", "power_curve", "sensitivity_study"]

STUDY_METHODS: tuple[str, ...] = METHODS + ("ab",)
"""Methods a study can compare: the interleaving methods and ``"ab"``."""

DEFAULT_IMPRESSIONS: tuple[int, ...] = tuple(int(round(100 * 2 ** (i / 2))) for i in range(21))
"""Default grid: 100 to 102 400 impressions, a factor sqrt(2) apart."""


def _grid(impressions: Sequence[int]) -> np.ndarray:
    grid = np.asarray(impressions)
    if (
        grid.ndim != 1
        or grid.size == 0
        or not np.issubdtype(grid.dtype, np.integer)
        or grid.min() < 2
        or np.any(np.diff(grid) <= 0)
    ):
        raise ValueError(
            f"impressions: must be increasing integers >= 2, got {list(np.atleast_1d(impressions))!r}"
        )
    return grid.astype(np.int64)


def _methods(methods: Sequence[str]) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    bad = [m for m in methods if m not in STUDY_METHODS]
    if bad or not methods:
        raise ValueError(f"methods: must be among {STUDY_METHODS}, got {list(methods)!r}")
    return methods


def power_curve(
    catalogue: Catalogue,
    legacy: Recommender,
    candidate: Recommender,
    click_model: ClickModel,
    impressions: Sequence[int] = DEFAULT_IMPRESSIONS,
    methods: Sequence[str] = ("team_draft", "ab"),
    n_seeds: int = 100,
    k: int = 10,
    alpha: float = 0.05,
    seed: int = 0,
    stop_at_power: float | None = None,
) -> pd.DataFrame:
    """Monte Carlo power of each method at each impression count.

    Parameters
    ----------
    catalogue, legacy, candidate, click_model
        The setting (a = legacy, b = candidate).
    impressions : sequence of int
        Increasing total impression counts (for A/B, both arms together).
    methods : sequence of str
        Among :data:`STUDY_METHODS`.
    n_seeds : int
        Monte Carlo replicates per method.
    k : int
        List length.
    alpha : float
        Two-sided significance level.
    seed : int
        Root seed; each method gets its own stream, so adding a method does not
        change another method's numbers.
    stop_at_power : float, optional
        Stop simulating a method once its power reaches this value (later grid points
        are left out of the result).

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``impressions``, ``power``, ``false_winner_rate`` (rejections
        naming the worse recommender), ``mean_delta_ab`` (interleaving) or
        ``mean_ctr_diff`` (A/B: better minus worse), ``n_seeds``.
    """
    _check_pair(catalogue, legacy, candidate, click_model, k)
    grid = _grid(impressions)
    methods = _methods(methods)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds: must be a positive integer, got {n_seeds!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    better_is_b = candidate.ndcg(k) >= legacy.ndcg(k)
    rows = []
    for method in methods:
        gen = np.random.default_rng(
            np.random.SeedSequence(int(seed), spawn_key=(STUDY_METHODS.index(method),))
        )
        if method == "ab":
            counts = np.zeros((4, n_seeds), dtype=np.int64)  # n_a, clicked_a, n_b, clicked_b
        else:
            counts = np.zeros((3, n_seeds), dtype=np.int64)  # wins_a, wins_b, ties
        done = 0
        for n_total in grid.tolist():
            step = n_total - done
            users = gen.integers(0, catalogue.n_users, size=n_seeds * step)
            if method == "ab":
                to_b = gen.random(users.size) < 0.5
                clicked = ab_clicked(
                    catalogue, legacy, candidate, click_model, users, to_b, k, gen
                ).reshape(n_seeds, step)
                to_b = to_b.reshape(n_seeds, step)
                counts[0] += (~to_b).sum(axis=1)
                counts[1] += (clicked & ~to_b).sum(axis=1)
                counts[2] += to_b.sum(axis=1)
                counts[3] += (clicked & to_b).sum(axis=1)
                z, p = two_proportion_ztest(counts[1], counts[0], counts[3], counts[2])
                b_ahead = z > 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    diff = counts[3] / counts[2] - counts[1] / counts[0]
                effect_name, effect = (
                    "mean_ctr_diff",
                    float(np.nanmean(diff if better_is_b else -diff)),
                )
            else:
                out = interleaving_outcomes(
                    catalogue, legacy, candidate, click_model, users, method, k, gen
                ).reshape(n_seeds, step)
                counts[0] += (out == 1).sum(axis=1)
                counts[1] += (out == -1).sum(axis=1)
                counts[2] += (out == 0).sum(axis=1)
                p = sign_test_pvalue(counts[0], counts[1])
                b_ahead = counts[1] > counts[0]
                delta = (counts[0] + counts[2] / 2) / n_total - 0.5
                effect_name, effect = "mean_delta_ab", float(delta.mean())
            done = n_total
            reject = p < alpha
            right = b_ahead if better_is_b else ~b_ahead
            power = float((reject & right).mean())
            rows.append(
                {
                    "method": method,
                    "impressions": n_total,
                    "power": power,
                    "false_winner_rate": float((reject & ~right).mean()),
                    "mean_delta_ab": effect if effect_name == "mean_delta_ab" else np.nan,
                    "mean_ctr_diff": effect if effect_name == "mean_ctr_diff" else np.nan,
                    "n_seeds": n_seeds,
                }
            )
            if stop_at_power is not None and power >= stop_at_power:
                break
    return pd.DataFrame(rows)


def impressions_for_power(curve: pd.DataFrame, target: float = 0.8) -> tuple[float, bool]:
    """Impressions at which one method's power curve first reaches ``target``.

    Linear interpolation in log(impressions) between the grid points around the
    crossing. Returns ``(impressions, reached)``; when the target is never reached,
    the largest impression count simulated and ``False``.
    """
    n = curve["impressions"].to_numpy(dtype=float)
    power = curve["power"].to_numpy(dtype=float)
    hit = np.flatnonzero(power >= target)
    if hit.size == 0:
        return float(n[-1]), False
    i = int(hit[0])
    if i == 0:
        return float(n[0]), True
    x0, x1 = np.log(n[i - 1]), np.log(n[i])
    y0, y1 = power[i - 1], power[i]
    x = x0 + (target - y0) * (x1 - x0) / (y1 - y0)
    return float(np.exp(x)), True


def sensitivity_study(
    catalogue: Catalogue | None = None,
    *,
    legacy_noise_sd: float = 1.0,
    candidate_noise_sd: float = 0.8,
    click_model: ClickModel | str = "navigational",
    methods: Sequence[str] = STUDY_METHODS,
    impressions: Sequence[int] = DEFAULT_IMPRESSIONS,
    n_seeds: int = 100,
    k: int = 10,
    alpha: float = 0.05,
    target_power: float = 0.8,
    seed: int = 0,
    return_curve: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Impressions each method needs for ``target_power``, and the ratio A/B over it.

    Parameters
    ----------
    catalogue : Catalogue, optional
        Defaults to ``make_catalogue(rng=seed)`` (1000 users, 500 items).
    legacy_noise_sd, candidate_noise_sd : float
        Ranking quality of the two recommenders (noise on the true affinity; lower is
        better); the gap between them is the effect to detect.
    click_model : ClickModel or str
        A model or a name for :func:`~workbench.interleaving.clicks.click_model`.
    methods : sequence of str
        Among :data:`STUDY_METHODS`; include ``"ab"`` to get the ratio.
    impressions : sequence of int
        Grid of total impression counts (increasing).
    n_seeds : int
        Monte Carlo replicates per method and grid point.
    k, alpha, target_power, seed
        List length, two-sided level, power to reach, root seed.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``impressions_needed`` (interpolated),
        ``reached`` (False: the target was not reached on the grid and
        ``impressions_needed`` is only a lower bound), ``power_at_max``,
        ``ratio_ab_over_method`` (A/B's impressions over this method's; NaN when this
        method did not reach the target; a lower bound when A/B did not, flagged by
        ``ratio_is_lower_bound``),
        ``legacy_ndcg``, ``candidate_ndcg``, ``n_seeds``. With ``return_curve=True`` the
        result is ``(table, power_curve)`` (the full curve as a DataFrame).

    Examples
    --------
    >>> df = sensitivity_study(
    ...     make_catalogue(n_users=200, n_items=200, rng=0), legacy_noise_sd=1.0,
    ...     candidate_noise_sd=0.5, methods=("team_draft", "ab"),
    ...     impressions=(25, 50, 100, 200, 400, 800, 1600, 3200), n_seeds=20)
    >>> list(df["method"])
    ['team_draft', 'ab']
    >>> bool(df.loc[0, "ratio_ab_over_method"] > 1)
    True
    """
    if catalogue is None:
        catalogue = make_catalogue(rng=seed)
    if isinstance(click_model, str):
        click_model = _click_model(click_model)
    methods = _methods(methods)
    if not 0 < target_power < 1:
        raise ValueError(f"target_power: must lie in (0, 1), got {target_power!r}")
    root = np.random.SeedSequence(int(seed), spawn_key=(len(STUDY_METHODS),))
    seed_legacy, seed_candidate = root.spawn(2)
    max_k = max(k, 1)
    legacy = Recommender(
        catalogue, legacy_noise_sd, np.random.default_rng(seed_legacy), max_k=max_k, name="legacy"
    )
    candidate = Recommender(
        catalogue,
        candidate_noise_sd,
        np.random.default_rng(seed_candidate),
        max_k=max_k,
        name="candidate",
    )
    curve = power_curve(
        catalogue,
        legacy,
        candidate,
        click_model,
        impressions=impressions,
        methods=methods,
        n_seeds=n_seeds,
        k=k,
        alpha=alpha,
        seed=seed,
        stop_at_power=target_power,
    )
    needed: dict[str, tuple[float, bool]] = {}
    for method in methods:
        needed[method] = impressions_for_power(curve[curve["method"] == method], target_power)
    ab_needed, ab_reached = needed.get("ab", (np.nan, False))
    rows = []
    for method in methods:
        n, reached = needed[method]
        sub = curve[curve["method"] == method]
        ratio = ab_needed / n if ("ab" in needed and reached) else np.nan
        rows.append(
            {
                "method": method,
                "impressions_needed": n,
                "reached": reached,
                "power_at_max": float(sub["power"].iloc[-1]),
                "max_impressions": int(sub["impressions"].iloc[-1]),
                "ratio_ab_over_method": ratio,
                "ratio_is_lower_bound": bool("ab" in needed and not ab_reached),
                "legacy_ndcg": legacy.ndcg(k),
                "candidate_ndcg": candidate.ndcg(k),
                "n_seeds": n_seeds,
            }
        )
    result = pd.DataFrame(rows)
    if return_curve:
        return result, curve
    return result
