"""Cumulative regret of a bandit run, from its request log or its update table.

Regret counts what the bandit lost by not always serving the best arm: each
request adds ``best arm's reward rate - served arm's reward rate``. As in the
bandit strategy's summary (``regret``), the rates are the arms' *observed*
reward rates over the whole run, so the curve ends at the summary's number when
it is computed from the request log. With batched updates the bandit's
``tables["bandit"]`` holds, per update tick, the requests routed to each arm
since the previous tick; :func:`regret_from_updates` draws the same curve tick
by tick, with the reward rates of the counts applied by the last update.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .style import finish_legend, mark_events, model_color, new_figure, time_axis, use_style
from .timeseries import model_order, require_table

__all__ = ["regret_from_requests", "regret_from_updates", "bandit_regret"]

_REWARDS = ("ok_within_slo", "conversion")


def _request_rewards(requests: pd.DataFrame, reward: str, slo_latency_ms: float | None) -> np.ndarray:
    """Reward of each request as the bandit counts it: 1, 0, or NaN when it never became a pull."""
    ok = requests["status"].astype(str).to_numpy() == "ok"
    if reward == "ok_within_slo":
        if slo_latency_ms is None or not np.isfinite(float(slo_latency_ms)) or float(slo_latency_ms) <= 0:
            raise ValueError(f"slo_latency_ms: must be a positive number of ms, got {slo_latency_ms!r}")
        within = requests["latency_ms"].to_numpy(dtype=float) <= float(slo_latency_ms)
        return (ok & within).astype(float)
    # conversion: a failed request is a zero reward at once, an ok one counts once labelled
    require_table(requests, "requests", ["converted"])
    converted = requests["converted"].to_numpy(dtype=float)
    return np.where(ok, converted, 0.0)


def regret_from_requests(
    requests: pd.DataFrame,
    *,
    slo_latency_ms: float | None = None,
    reward: str = "ok_within_slo",
) -> pd.DataFrame:
    """Cumulative regret request by request, with the arms' observed reward rates.

    Parameters
    ----------
    requests : DataFrame
        Request log of a bandit run: ``time_s``, ``model``, ``status``, ``latency_ms``
        (and ``converted`` for conversion rewards).
    slo_latency_ms : float
        The latency SLO of ``ok_within_slo`` rewards (an ``ok`` request within it earns 1).
    reward : {"ok_within_slo", "conversion"}
        The bandit's reward. With ``conversion``, a non-``ok`` request earns 0 and an
        ``ok`` one its ``converted`` value (unlabelled ones, NaN, are no pull).

    Returns
    -------
    DataFrame
        One row per request in arrival order: ``time_s``, ``model``, ``regret``
        (this request's) and ``cumulative_regret``. ``attrs["reward_rate"]`` holds
        each arm's observed reward rate and ``attrs["best_arm"]`` the best one.

    Examples
    --------
    >>> req = pd.DataFrame({"time_s": [0.0, 1.0, 2.0, 3.0], "model": ["a", "b", "a", "b"],
    ...                     "status": ["ok", "ok", "error", "ok"],
    ...                     "latency_ms": [10.0, 10.0, 10.0, 10.0]})
    >>> regret_from_requests(req, slo_latency_ms=250)["cumulative_regret"].tolist()
    [0.5, 0.5, 1.0, 1.0]
    """
    if reward not in _REWARDS:
        raise ValueError(f"reward: must be one of {_REWARDS}, got {reward!r}")
    require_table(requests, "requests", ["time_s", "model", "status", "latency_ms"])
    order = np.argsort(requests["time_s"].to_numpy(dtype=float), kind="stable")
    req = requests.iloc[order]
    rewards = _request_rewards(req, reward, slo_latency_ms)
    model = req["model"].astype(str).to_numpy()
    arms = model_order(np.unique(model))
    rates = {}
    for m in arms:
        r = rewards[model == m]
        r = r[np.isfinite(r)]
        rates[m] = float(r.mean()) if r.size else float("nan")
    finite = {m: v for m, v in rates.items() if np.isfinite(v)}
    if not finite:
        raise ValueError("requests: no request earned a reward or a zero reward; no reward rate to compare")
    best = max(finite, key=lambda m: (finite[m], -arms.index(m)))  # ties: the first in display order
    per_request = np.array([finite[best] - finite[m] if m in finite else 0.0 for m in arms])
    arm_index = {m: k for k, m in enumerate(arms)}
    regret = per_request[np.fromiter((arm_index[m] for m in model), dtype=np.intp, count=model.size)]
    out = pd.DataFrame({"time_s": req["time_s"].to_numpy(dtype=float), "model": model,
                        "regret": regret, "cumulative_regret": np.cumsum(regret)})
    out.attrs["reward_rate"] = rates
    out.attrs["best_arm"] = best
    return out


def _update_arms(bandit: pd.DataFrame) -> list[str]:
    arms = [c.removeprefix("routed_") for c in bandit.columns if c.startswith("routed_")]
    if not arms:
        raise ValueError("bandit: no routed_<model> columns; expected the bandit strategy's update table")
    missing = [f"{k}_{m}" for m in arms for k in ("pulls", "successes") if f"{k}_{m}" not in bandit.columns]
    if missing:
        raise ValueError(f"bandit: missing column(s) {missing}")
    return arms


def regret_from_updates(bandit: pd.DataFrame) -> pd.DataFrame:
    """Cumulative regret at each update tick of a batched bandit.

    Parameters
    ----------
    bandit : DataFrame
        ``tables["bandit"]`` of a run with ``update_interval_s > 0``: ``time_s``,
        ``routed_<model>`` (requests routed since the previous tick),
        ``pulls_<model>`` and ``successes_<model>`` (counts after the update).

    Returns
    -------
    DataFrame
        ``time_s``, ``regret`` (of the requests routed since the previous tick) and
        ``cumulative_regret``; the reward rates are those of the last row's counts
        (``attrs["reward_rate"]``, ``attrs["best_arm"]``). Rewards still waiting for
        an update at the end of the run, and requests routed after the last tick,
        are not in the table, so the end can differ slightly from the summary.

    Examples
    --------
    >>> tab = pd.DataFrame({"time_s": [5.0, 10.0], "pulls_legacy": [4, 10], "successes_legacy": [2, 5],
    ...                     "pulls_candidate": [4, 10], "successes_candidate": [4, 9],
    ...                     "routed_legacy": [5, 2], "routed_candidate": [5, 8]})
    >>> regret_from_updates(tab)["cumulative_regret"].round(3).tolist()
    [2.0, 2.8]
    """
    require_table(bandit, "bandit", ["time_s"])
    arms = _update_arms(bandit)
    last = bandit.iloc[-1]
    rates = {m: (float(last[f"successes_{m}"]) / float(last[f"pulls_{m}"]) if last[f"pulls_{m}"] > 0
                 else float("nan")) for m in arms}
    finite = {m: v for m, v in rates.items() if np.isfinite(v)}
    if not finite:
        raise ValueError("bandit: no arm has a pull in the last update; no reward rate to compare")
    best = max(finite, key=lambda m: (finite[m], -arms.index(m)))
    routed = np.vstack([bandit[f"routed_{m}"].to_numpy(dtype=float) for m in arms])
    gap = np.array([finite[best] - finite[m] if m in finite else 0.0 for m in arms])
    regret = gap @ routed
    out = pd.DataFrame({"time_s": bandit["time_s"].to_numpy(dtype=float), "regret": regret,
                        "cumulative_regret": np.cumsum(regret)})
    out.attrs["reward_rate"] = rates
    out.attrs["best_arm"] = best
    return out


def _result_reward(result: Any) -> tuple[str, float | None]:
    details = getattr(getattr(result.summary, "strategy", None), "details", None) or {}
    reward = str(details.get("reward", "ok_within_slo"))
    slo = getattr(getattr(result.scenario, "slo", None), "latency_ms", None)
    return reward, (None if slo is None else float(slo))


def bandit_regret(
    result: Any,
    *,
    source: str = "requests",
    time_unit: str = "auto",
    title: str | None = "Cumulative regret against always serving the best arm",
    ax: Axes | None = None,
) -> Figure:
    """Cumulative regret of a bandit run over time, with the arms' share of requests.

    Parameters
    ----------
    result : RunResult
        A run of the ``bandit`` strategy (its ``requests``, ``events``, ``tables``,
        ``scenario.slo`` and the strategy's ``reward`` in the summary).
    source : {"requests", "updates"}
        ``requests``: request by request (ends at the summary's ``regret``);
        ``updates``: tick by tick from ``tables["bandit"]`` (batched updates only).
    time_unit : {"auto", "s", "min"}
        Unit of the x axis.
    ax : Axes, optional
        Draw into an existing axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if source not in ("requests", "updates"):
        raise ValueError(f"source: must be 'requests' or 'updates', got {source!r}")
    if source == "updates":
        table = (getattr(result, "tables", None) or {}).get("bandit")
        if table is None:
            raise ValueError("source: 'updates' needs tables['bandit'], written by a bandit with "
                             "update_interval_s > 0; use source='requests'")
        curve = regret_from_updates(table)
    else:
        reward, slo = _result_reward(result)
        curve = regret_from_requests(result.requests, slo_latency_ms=slo, reward=reward)
    end = float(getattr(result.scenario, "duration_s", curve["time_s"].max()))
    tx = time_axis(end, time_unit)
    rates = curve.attrs["reward_rate"]
    best = curve.attrs["best_arm"]
    with use_style():
        if ax is None:
            fig, ax = new_figure(height_in=3.4)
        else:
            fig = ax.figure
        ax.plot(tx(curve["time_s"]), curve["cumulative_regret"], color=model_color(best),
                drawstyle="steps-post" if source == "updates" else "default",
                label=f"regret (best arm: {best})")
        handles = mark_events(ax, getattr(result, "events", None), tx, end,
                              kinds=("fault", "rollback", "promotion"))
        ax.set_xlim(0, tx(end))
        ax.set_ylim(bottom=0)
        ax.set_xlabel(tx.label)
        ax.set_ylabel("cumulative regret (expected rewards lost)")
        if title:
            ax.set_title(title)
        rate_text = ", ".join(f"{m} {rates[m]:.4f}" for m in model_order(rates))
        ax.text(0.01, 0.98, f"observed reward rates: {rate_text}", transform=ax.transAxes, fontsize=8,
                va="top", ha="left")
        finish_legend(ax, handles)
    return fig
