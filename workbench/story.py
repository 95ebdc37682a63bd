"""What a run showed, in lines a reader can quote: the summary's verdicts plus what its tables hold.

:func:`story_lines` is what ``workbench run`` prints under the KPI table and what the
HTML report shows under "Outcome": :func:`workbench.summary.outcome_lines` (outcome,
users hurt, interleaving, bandit, shadow and A/B verdicts, sample ratio, alerts)
followed by the parts only the run's tables hold: each fault's effect (every model's
KPIs before and during it), overload (replicas saturated), the autoscaler's scale
events, a bandit's share and regret over time, and the feature drift monitor's
scores over time.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .summary import model_order, outcome_lines

if TYPE_CHECKING:
    from .result import RunResult

__all__ = ["story_lines", "fault_impact", "fault_lines", "saturated_spans", "overload_lines", "scale_lines", "scale_counts", "bandit_over_time", "drift_over_time"]

SATURATED = 0.98  # mean utilisation over a minute at or above this counts as overload
OVERLOAD_WINDOW_S = 60.0
MAX_ROWS = 12  # rows of a table over time printed under a run


def saturated_spans(resources: pd.DataFrame, window_s: float = OVERLOAD_WINDOW_S,
                    level: float = SATURATED) -> list[tuple[float, float]]:
    """Spans ``(start_s, end_s)`` where one model's mean utilisation over ``window_s`` was at least ``level``.

    ``resources`` holds one model's fleet samples (``time_s``, ``utilisation``) at a
    regular interval. A single sample with every replica busy is ordinary at high
    load; a minute of them means requests queued throughout.

    Examples
    --------
    >>> t = [float(x) for x in range(0, 200, 10)]
    >>> u = [0.5] * 5 + [1.0] * 10 + [0.5] * 5
    >>> saturated_spans(pd.DataFrame({"time_s": t, "utilisation": u}))
    [(50.0, 140.0)]
    """
    rows = resources.sort_values("time_s")
    t = rows["time_s"].to_numpy(dtype=float)
    if t.size < 2:
        return []
    step = float(np.median(np.diff(t)))
    k = max(1, round(window_s / step))
    mean = rows["utilisation"].rolling(k).mean().to_numpy()
    hot = mean >= level
    spans = []
    i = 0
    while i < t.size:
        if not hot[i]:
            i += 1
            continue
        j = i
        while j + 1 < t.size and hot[j + 1]:
            j += 1
        spans.append((float(t[i] - (k - 1) * step), float(t[j])))
        i = j + 1
    return spans


def overload_lines(result: RunResult) -> list[str]:
    """One note per model whose replicas were saturated for a minute or more (see :func:`saturated_spans`).

    The fleet is sampled every few seconds (busy replicas over replicas); a minute of
    samples that all find every replica busy means requests were queueing throughout,
    near or past utilisation 1. The note says when, how long the queue got and what
    timed out or was dropped meanwhile.
    """
    res = result.tables.get("resources")
    if res is None or res.empty:
        return []
    lines = []
    req = result.requests
    for model in model_order(res["model"].unique()):
        rows = res[res["model"] == model]
        spans = saturated_spans(rows)
        if not spans:
            continue
        inside = np.zeros(len(req), dtype=bool)
        queue = 0
        for start, end in spans:
            inside |= ((req["time_s"] >= start) & (req["time_s"] <= end)).to_numpy()
            queue = max(queue, int(rows.loc[rows["time_s"].between(start, end), "queue_length"].max()))
        mine = inside & (req["model"] == model).to_numpy()
        timeouts = int((mine & (req["status"] == "timeout").to_numpy()).sum())
        dropped = int((mine & (req["status"] == "dropped").to_numpy()).sum())
        when = ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in spans[:4]) + (" ..." if len(spans) > 4 else "")
        lines.append(
            f"overload: {model}'s replicas were all busy in the fleet samples of a minute or more (sampled "
            f"utilisation >= {SATURATED:g} over {OVERLOAD_WINDOW_S:.0f} s) in {when}; its queue reached "
            f"{queue:,} requests, and {timeouts:,} of its requests timed out and {dropped:,} were dropped then")
    return lines


def _model_window_row(rows: pd.DataFrame) -> dict:
    served = rows[rows["status"] != "dropped"]
    ok = rows[rows["status"] == "ok"]
    return {
        "requests": len(rows),
        "non_ok": float((rows["status"] != "ok").mean()) if len(rows) else math.nan,
        "p99_ms": float(np.percentile(served["latency_ms"], 99)) if len(served) else math.nan,
        "mae": float(ok["abs_error"].mean()) if ok["abs_error"].notna().any() else math.nan,
    }


def fault_impact(result: RunResult, index: int) -> pd.DataFrame:
    """Each model's non-ok share, p99 latency and MAE before fault ``index`` and during it.

    "Before" is every arrival after the warm-up and before the fault starts that falls
    in no fault's window; "during" is the fault's window (to the end of the run when
    open-ended). A data drift adds its feature's mean and standard deviation.
    """
    sc = result.scenario
    fault = sc.faults[index]
    req = result.requests
    t = req["time_s"]
    end = min(fault.end_s, sc.duration_s)
    clear = t >= sc.warmup_s
    for other in sc.faults:
        clear &= ~((t >= other.start_s) & (t < other.end_s))
    before_mask = clear & (t < fault.start_s)
    during_mask = (t >= fault.start_s) & (t < end)
    rows = []
    for model in model_order(sc.models):
        mine = req["model"] == model
        before, during = _model_window_row(req[before_mask & mine]), _model_window_row(req[during_mask & mine])
        if not during["requests"]:
            continue
        rows.append({"model": model, "requests_during": during["requests"],
                     **{f"{k}_before": before[k] for k in ("non_ok", "p99_ms", "mae")},
                     **{f"{k}_during": during[k] for k in ("non_ok", "p99_ms", "mae")}})
    table = pd.DataFrame(rows)
    if fault.kind == "data_drift" and f"feature_{fault.feature}" in req:
        col = req[f"feature_{fault.feature}"]
        table.attrs["feature"] = {"name": fault.feature,
                                  "mean_before": float(col[before_mask].mean()),
                                  "mean_during": float(col[during_mask].mean()),
                                  "sd_before": float(col[before_mask].std()),
                                  "sd_during": float(col[during_mask].std())}
    return table


def _arrow(before: float, during: float, spec: str) -> str:
    def one(v: float) -> str:
        return "-" if math.isnan(v) else spec.format(v)
    return f"{one(before)} -> {one(during)}"


def fault_lines(result: RunResult) -> list[str]:
    """For each injected fault: a title, then a table of each model's KPIs before and during it."""
    lines = []
    for k, fault in enumerate(result.scenario.faults):
        table = fault_impact(result, k)
        end = min(fault.end_s, result.scenario.duration_s)
        where = getattr(fault, "target", None) or getattr(fault, "feature", None) or "the target function"
        title = f"{fault.kind} #{k} on {where}, {fault.start_s:.0f}-{end:.0f} s: before -> during"
        feature = table.attrs.get("feature")
        if feature:
            title += (f"; feature {feature['name']} mean {feature['mean_before']:.2f} -> {feature['mean_during']:.2f}, "
                      f"sd {feature['sd_before']:.2f} -> {feature['sd_during']:.2f}")
        if table.empty:
            lines.append(title + " (no request during it)")
            continue
        shown = pd.DataFrame({
            "model": table["model"],
            "requests": table["requests_during"].map("{:,}".format),
            "non-ok %": [_arrow(100 * a, 100 * b, "{:.2f}") for a, b in zip(table["non_ok_before"],
                                                                            table["non_ok_during"], strict=True)],
            "p99 ms": [_arrow(a, b, "{:.0f}") for a, b in zip(table["p99_ms_before"], table["p99_ms_during"],
                                                              strict=True)],
            "MAE": [_arrow(a, b, "{:.3f}") for a, b in zip(table["mae_before"], table["mae_during"], strict=True)],
        })
        lines += [title, shown.to_string(index=False)]
    return lines


def scale_lines(result: RunResult) -> list[str]:
    """One line per autoscaled model: scale events up and down, the replica range and replica-seconds paid."""
    lines = []
    for model in model_order(result.summary.resources):
        kpi = result.summary.resources[model]
        if result.scenario.models[model].autoscaling is None:
            continue
        ups, downs = scale_counts(result.events, model)
        res = result.tables.get("resources")
        rows = res[res["model"] == model] if res is not None and len(res) else None
        low = int(rows["replicas"].min()) if rows is not None and len(rows) else kpi.peak_replicas
        lines.append(
            f"autoscaling {model}: {ups + downs} scale events ({ups} up, {downs} down); "
            f"{low}-{kpi.peak_replicas:g} replicas, mean {kpi.mean_replicas:.1f}; "
            f"{kpi.replica_seconds:,.0f} replica-seconds paid")
    return lines


def scale_counts(events: pd.DataFrame, model: str) -> tuple[int, int]:
    """``(up, down)``: the autoscaler's ``scale`` events of ``model``, from their recorded replica counts.

    Examples
    --------
    >>> ev = pd.DataFrame({"kind": ["scale", "scale", "step"], "model": ["legacy"] * 3,
    ...                    "details": ['{"current": 3, "desired": 5}', '{"current": 5, "desired": 4}', "{}"]})
    >>> scale_counts(ev, "legacy")
    (1, 1)
    """
    if events.empty:
        return 0, 0
    mine = events[(events["kind"] == "scale") & (events["model"] == model)]
    ups = sum(int(d["desired"]) > int(d["current"]) for d in map(json.loads, mine["details"]))
    return ups, len(mine) - ups


def bandit_over_time(result: RunResult, bins: int = 6) -> pd.DataFrame:
    """A bandit's share of each arm and cumulative regret at ``bins`` equal steps of the run.

    Regret is counted as the strategy's summary counts it: each request routed to an
    arm costs the best arm's observed reward rate minus that arm's, so the last row's
    ``regret`` equals ``summary.strategy.get("regret")``.
    """
    d = result.summary.strategy.details
    arms = model_order(k[len("reward_rate_"):] for k in d if k.startswith("reward_rate_"))
    rates = {a: d[f"reward_rate_{a}"] for a in arms}
    if not arms or any(r is None or not math.isfinite(r) for r in rates.values()):
        return pd.DataFrame()
    best = max(rates.values())
    req = result.requests
    cost = req["model"].astype(str).map({a: best - r for a, r in rates.items()}).fillna(0.0).to_numpy()
    edges = np.linspace(0.0, result.scenario.duration_s, bins + 1)[1:]
    time_s = req["time_s"].to_numpy()
    cum = np.cumsum(cost)
    rows = []
    start = 0.0
    for end in edges:
        window = req[(time_s >= start) & (time_s < end) if end < edges[-1] else (time_s >= start)]
        row = {"until_s": float(end), "requests": len(window)}
        for a in arms:
            row[f"share_{a}"] = float((window["model"] == a).mean()) if len(window) else math.nan
        k = int(np.searchsorted(time_s, end, side="left")) if end < edges[-1] else len(cum)
        row["regret"] = float(cum[k - 1]) if k else 0.0
        rows.append(row)
        start = end
    return pd.DataFrame(rows)


def drift_over_time(result: RunResult, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The feature drift monitor's statistic per feature at its checks (at most ``max_rows`` of them).

    Checks are thinned evenly when there are more than ``max_rows``, always keeping the
    first and last check and the first check that flagged each feature. A ``*`` after
    a value marks a check that flagged that feature.
    """
    drift = result.tables.get("drift")
    if drift is None or drift.empty:
        return pd.DataFrame()
    times = np.sort(drift["time_s"].unique())
    keep = set(times[np.unique(np.linspace(0, len(times) - 1, min(max_rows, len(times))).round().astype(int))])
    for _, rows in drift[drift["drift"]].groupby("feature"):
        keep.add(float(rows["time_s"].min()))
    shown = drift[drift["time_s"].isin(keep)]
    cell = shown["statistic"].map("{:.3f}".format) + np.where(shown["drift"], "*", "")
    table = pd.DataFrame({"time_s": shown["time_s"], "feature": shown["feature"], "cell": cell})
    wide = table.pivot(index="time_s", columns="feature", values="cell").reset_index()
    wide.columns.name = None
    return wide


def _drift_rule(drift: pd.DataFrame) -> str:
    """How the drift table's tests flag a feature: a distance above its threshold, or a p-value below it."""
    from .monitoring.drift import P_VALUE_TESTS

    rules = []
    for (test, threshold), _ in drift.groupby(["test", "threshold"], sort=True):
        rule = f"its p-value is below {threshold:g}" if test in P_VALUE_TESTS else f"it is above {threshold:g}"
        rules.append(f"{test} statistic shown, flagged when {rule}")
    return "; ".join(rules)


def _frame_lines(title: str, frame: pd.DataFrame) -> list[str]:
    """A titled table: the title, then the whole table as one multi-line item."""
    return [title, frame.to_string(index=False)]


def story_lines(result: RunResult) -> list[str]:
    """Everything the run showed (see the module docstring): sentences, one per item, and tables.

    A table over time is one item holding several lines (it contains a newline), so a
    reader can wrap the sentences and keep the tables as they are.
    """
    lines = outcome_lines(result.summary) + fault_lines(result) + overload_lines(result) + scale_lines(result)
    if result.summary.strategy.kind == "bandit":
        over_time = bandit_over_time(result)
        if not over_time.empty:
            shown = over_time.copy()
            for col in shown.columns:
                if col.startswith("share_"):
                    shown[col] = shown[col].map(lambda v: "-" if math.isnan(v) else f"{v:.1%}")
            shown["regret"] = shown["regret"].map("{:,.1f}".format)
            lines += _frame_lines("bandit share and cumulative regret over time:", shown)
    over_time = drift_over_time(result)
    if not over_time.empty:
        lines += _frame_lines(f"feature drift over time ({_drift_rule(result.tables['drift'])}; "
                              "* = flagged at that check):", over_time)
    return lines
