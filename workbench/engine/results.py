"""The results builder: a finished run's request log, events and monitors as a RunResult.

The only place where a :class:`~workbench.summary.RunSummary` is built. It reads the
run through public accessors (:class:`~.context.RunContext`, the simulation's pools,
resource samples, strategy, mirror, validation and monitor hub), shares the engine's
buffers with the request table (no copies), builds full-length columns in place or
chunk by chunk, and releases the per-model draws before the KPIs are computed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..result import STATUS_CATEGORIES, RunResult
from ..scenario import Scenario
from ..status import DROPPED, ERROR, OK, PENDING, STATUS_NAMES, TIMEOUT
from ..summary import (
    CandidateHarm,
    Incident,
    ModelKpis,
    MonitoringOutcome,
    ResourceKpis,
    RollbackOutcome,
    RunSummary,
    SampleRatioCheck,
    ShadowKpis,
    StrategyOutcome,
    ValidationOutcome,
)
from .context import EVENT_COLUMNS, INCIDENT_COLUMNS, RunContext
from .draws import CAUSE_MESSAGES, OUTAGE_HANG
from .simulation import Simulation

if TYPE_CHECKING:
    from ..summary import AbVerdict
    from .fast import FastSimulation

__all__ = ["build_result", "summarise"]


def build_result(sim: Simulation | FastSimulation) -> RunResult:
    """Turn a finished simulation into a :class:`~workbench.result.RunResult`.

    The request table shares the engine's buffers (no copies), full-length columns
    are built in place or chunk by chunk, and the per-model draws are released
    (:meth:`RunContext.release_draws`) before the summary is computed.
    """
    ctx = sim.context
    sc = sim.scenario
    busy_s = _busy_seconds(ctx)  # before the result's own columns are allocated
    prediction, cause = _served_values(ctx)
    converted = ctx.conversion_column()
    shadow = sim.mirror.to_frame(ctx) if sim.mirror is not None else _empty_shadow()
    strategy_outcome = StrategyOutcome.from_dict(sim.strategy.summary())
    strategy_tables = sim.strategy.tables()
    ctx.release_draws()  # nothing below needs per-request draws
    requests = _request_table(ctx, prediction, cause, converted)
    del prediction, cause, converted  # the table holds them
    events = pd.DataFrame(ctx.events, columns=EVENT_COLUMNS)
    if not events.empty:
        events = events.sort_values("time_s", kind="stable").reset_index(drop=True)
    incidents = pd.DataFrame(ctx.incidents, columns=INCIDENT_COLUMNS)
    resources = pd.DataFrame(
        sim.resource_samples,
        columns=["time_s", "model", "replicas", "provisioning", "busy", "queue_length", "in_flight", "utilisation"],
    )
    resource_kpis = _resource_kpis(sim, resources, busy_s)
    models = summarise(requests, scenario=sc, busy_s_by_model=busy_s)
    for name, kpi in resource_kpis.items():
        if sc.models[name].autoscaling is not None and kpi.replica_seconds > 0:
            models[name]["utilisation"] = busy_s[name] / kpi.replica_seconds
    tables = {"resources": resources, **strategy_tables}
    validation = None
    if sim.validation is not None:
        tables["validation"] = sim.validation.table
        validation = ValidationOutcome(passed=bool(sim.validation.passed), blocked=sim.blocked,
                                       summary=sim.validation.summary())
    monitoring = None
    if sim.hub is not None:
        tables.update(sim.hub.tables())
        monitoring = _monitoring_outcome(sim.hub)
    summary = RunSummary(
        **_run_totals(requests, sc, sim.seed),
        models={name: ModelKpis(**kpis) for name, kpis in models.items()},
        strategy=strategy_outcome,
        resources=resource_kpis,
        rollback=RollbackOutcome(rolled_back=ctx.rolled_back, time_s=ctx.rollback_time_s),
        incidents=tuple(Incident(time_s=float(row[0]), trigger=row[1], reason=row[2]) for row in ctx.incidents),
        validation=validation,
        monitoring=monitoring,
        shadow=shadow_kpis(shadow, sim.strategy.agreement_tolerance) if sim.mirror is not None else None,
        srm=ab_sample_ratio(requests, sc, ctx.rollback_time_s) if sc.strategy.kind == "ab" else None,
        ab_verdict=(ab_test_verdict(requests, sc, sim.seed, ctx.rollback_time_s)
                    if sc.strategy.kind == "ab" and len(sc.strategy.arms) == 1 else None),
        harm=candidate_harm(requests, sc, ctx.rollback_time_s) if "candidate" in sc.models else None,
    )
    return RunResult(scenario=sc, seed=sim.seed, requests=requests, shadow=shadow, events=events,
                     incidents=incidents, summary=summary, tables=tables)


def _busy_seconds(ctx: RunContext) -> dict[str, float]:
    """Busy replica-seconds per model: the service time of every started call.

    A hung call holds its replica until the caller's timeout.
    """
    model_idx = np.frombuffer(ctx.log.model, dtype=np.int8)
    queue_ms = np.frombuffer(ctx.log.queue_ms, dtype=np.float64)
    started = np.frombuffer(ctx.log.started, dtype=np.int8).view(bool)  # 0/1 bytes
    busy_s: dict[str, float] = {}
    for k, d in enumerate(ctx.draws):
        rows = np.flatnonzero(started & (model_idx == k))
        hold = d.service_s[rows]
        timeout_s = ctx.timeout_s[k]
        if timeout_s is not None and ctx.outage_any[k]:
            hang = d.outage[rows] == OUTAGE_HANG
            wait = queue_ms[rows] / 1000.0
            hold = np.where(hang, np.maximum(timeout_s - wait, 0.0), hold)
        busy_s[d.name] = float(hold.sum())
        del rows, hold
    return busy_s


def _served_values(ctx: RunContext) -> tuple[np.ndarray, np.ndarray]:
    """What users got: served predictions and failure causes, one entry per request.

    The serving model's prediction for ``ok`` requests (NaN otherwise) and the failure
    cause code of ``error`` requests (0 otherwise).
    """
    n = ctx.n
    model_idx = np.frombuffer(ctx.log.model, dtype=np.int8)
    status_idx = np.frombuffer(ctx.log.status, dtype=np.int8)
    if n and (status_idx == PENDING).any():  # pragma: no cover - conservation guard
        raise RuntimeError(f"{int((status_idx == PENDING).sum())} requests never finished")
    ok = status_idx == OK
    failed = status_idx == ERROR
    prediction = np.full(n, np.nan)
    cause = np.zeros(n, dtype=np.int8)
    for k, d in enumerate(ctx.draws):
        mine = model_idx == k
        np.copyto(prediction, d.prediction, where=ok & mine)
        np.copyto(cause, d.cause, where=failed & mine)
    return prediction, cause


def _request_table(ctx: RunContext, prediction: np.ndarray, cause: np.ndarray, converted: np.ndarray) -> pd.DataFrame:
    """One row per arrival, sharing the request log's buffers (zero-copy views)."""
    sc = ctx.scenario
    tr = ctx.traffic
    n = ctx.n
    model_idx = np.frombuffer(ctx.log.model, dtype=np.int8)
    status_idx = np.frombuffer(ctx.log.status, dtype=np.int8)
    latency = np.frombuffer(ctx.log.latency_ms, dtype=np.float64)
    abs_error = np.subtract(prediction, tr.label)
    np.abs(abs_error, out=abs_error)
    columns: dict[str, Any] = {
        "request_id": np.arange(n, dtype=np.int64),
        "time_s": tr.time_s,
        "user_id": tr.user_id,
        "model": pd.Categorical.from_codes(model_idx, categories=list(ctx.model_names)),
        "status": pd.Categorical.from_codes(status_idx, dtype=STATUS_CATEGORIES),
        "queue_ms": np.frombuffer(ctx.log.queue_ms, dtype=np.float64),
        "latency_ms": latency,
        "end_time_s": np.frombuffer(ctx.log.end_s, dtype=np.float64),
        "prediction": prediction,
        "label": tr.label,
        "label_time_s": tr.label_time_s,
        "abs_error": abs_error,
        "converted": converted,
        "slo_breach": (latency > sc.slo.latency_ms) & (status_idx != DROPPED),
    }
    for j, name in enumerate(tr.feature_names):
        columns[f"feature_{name}"] = tr.features[:, j]
    # failure causes as categorical codes (no per-request strings): 0 none, 1..4 the
    # engine's causes, then timeout and queue full
    categories = ["", *[CAUSE_MESSAGES[c] for c in sorted(CAUSE_MESSAGES)], "timeout", "queue full"]
    codes = cause  # int8, CAUSE_* values match the positions in ``categories``
    codes[status_idx == TIMEOUT] = len(CAUSE_MESSAGES) + 1
    codes[status_idx == DROPPED] = len(CAUSE_MESSAGES) + 2
    columns["failure_cause"] = pd.Categorical.from_codes(codes, categories=categories)
    return pd.DataFrame(columns, copy=False)


def _run_totals(requests: pd.DataFrame, scenario: Scenario, seed: int) -> dict[str, Any]:
    """Whole-run counts (all arrivals, warm-up included)."""
    duration = scenario.duration_s
    counts = requests["status"].value_counts().reindex(list(STATUS_NAMES), fill_value=0)
    n = int(len(requests))
    return {
        "scenario": scenario.name,
        "seed": int(seed),
        "duration_s": float(duration),
        "warmup_s": float(scenario.warmup_s),
        "requests": n,
        "users": _distinct(requests["user_id"].to_numpy()),
        "status_counts": {k: int(v) for k, v in counts.items()},
        "error_rate": float((requests["status"] != "ok").mean()) if n else math.nan,
        "throughput_per_s": float((requests["status"] == "ok").sum()) / duration,
    }


def _monitoring_outcome(hub) -> MonitoringOutcome:
    by_monitor: dict[str, int] = {}
    for a in hub.alerts:
        by_monitor[a["monitor"]] = by_monitor.get(a["monitor"], 0) + 1
    return MonitoringOutcome(
        alerts=by_monitor,
        first_alarm_s={f"{k[0]}:{k[1] or 'traffic'}": v for k, v in hub.first_alarm_s.items()},
    )


def _resource_kpis(sim: Simulation, samples: pd.DataFrame, busy_s: dict[str, float]) -> dict[str, ResourceKpis]:
    """Per model: replica-seconds paid (the cost), mean and peak replicas, busy seconds."""
    out: dict[str, ResourceKpis] = {}
    scale_events = [e[3] for e in sim.context.events if e[1] == "scale"]
    for pool in sim.pools:
        if pool.capacity is None:
            out[pool.name] = ResourceKpis(math.nan, math.nan, math.nan, busy_s.get(pool.name, 0.0))
            continue
        part = samples[samples["model"] == pool.name]
        paid = pool.fleet_area
        out[pool.name] = ResourceKpis(
            replica_seconds=float(paid),
            mean_replicas=float(paid / sim.scenario.duration_s),
            peak_replicas=float((part["replicas"] + part["provisioning"]).max()) if len(part) else math.nan,
            busy_seconds=busy_s.get(pool.name, 0.0),
            scale_events=scale_events.count(pool.name),
        )
    return out


def shadow_kpis(shadow: pd.DataFrame, tolerance: float) -> ShadowKpis:
    """Mirrored calls: candidate health and agreement with what users got."""
    both = shadow["prediction_diff"].notna()
    lat = shadow.loc[shadow["status"] != "dropped", "latency_ms"].to_numpy()
    diff = shadow.loc[both, "prediction_diff"].abs().to_numpy()
    counts = shadow["status"].value_counts().reindex(list(STATUS_NAMES), fill_value=0)
    n = len(shadow)
    return ShadowKpis(
        mirrored=int(n),
        status_counts={k: int(v) for k, v in counts.items()},
        candidate_error_rate=float((shadow["status"] != "ok").mean()) if n else math.nan,
        candidate_latency_p50_ms=float(np.percentile(lat, 50)) if lat.size else math.nan,
        candidate_latency_p99_ms=float(np.percentile(lat, 99)) if lat.size else math.nan,
        compared=int(both.sum()),
        agreement_tolerance=tolerance,
        agreement=float((diff <= tolerance).mean()) if diff.size else math.nan,
        mean_abs_diff=float(diff.mean()) if diff.size else math.nan,
    )


def candidate_harm(requests: pd.DataFrame, scenario: Scenario, rollback_time_s: float | None) -> CandidateHarm:
    """The candidate's bad requests (not ``ok``, or slower than the SLO) and the users who got them."""
    cand = (requests["model"] == "candidate").to_numpy()
    failed = cand & (requests["status"] != "ok").to_numpy()
    bad = failed | (cand & requests["slo_breach"].to_numpy())
    users = requests["user_id"].to_numpy()
    return CandidateHarm(
        requests=int(cand.sum()), users=int(np.unique(users[cand]).size),
        bad_requests=int(bad.sum()), bad_users=int(np.unique(users[bad]).size),
        failed_requests=int(failed.sum()), failed_users=int(np.unique(users[failed]).size),
        slo_ms=float(scenario.slo.latency_ms), rollback_s=rollback_time_s,
    )


def ab_sample_ratio(
    requests: pd.DataFrame, scenario: Scenario, rollback_time_s: float | None = None
) -> SampleRatioCheck:
    """Sample-ratio-mismatch check of an A/B (or A/B/n) split over all arms (chi-square, flag at p < 0.001).

    A sticky split assigns users, so the check counts users; otherwise requests. After
    a rollback the split is intentionally broken, so only earlier arrivals count.
    """
    from ..stats import srm_test

    if rollback_time_s is not None:
        requests = requests[requests["time_s"] < rollback_time_s]
    st = scenario.strategy
    models, shares = st.arm_models, st.arm_shares  # legacy first; every arm of an A/B/n split
    if st.sticky:
        first = requests.drop_duplicates("user_id")
        counts = tuple(int((first["model"] == m).sum()) for m in models)
        unit = "users"
    else:
        counts = tuple(int((requests["model"] == m).sum()) for m in models)
        unit = "requests"
    planned = [k for k, share in enumerate(shares) if share > 0]
    if len(planned) >= 2 and sum(counts):
        res = srm_test([counts[k] for k in planned], [shares[k] for k in planned])
        p, mismatch = float(res.p_value), bool(res.mismatch)
    else:
        p, mismatch = math.nan, False
    return SampleRatioCheck(unit=unit, counts=counts, expected_shares=tuple(shares), p_value=p,
                            mismatch=mismatch, before_rollback_only=rollback_time_s is not None)


AB_ALPHA = 0.05  # significance level of the A/B verdict
AB_CORRECTION = "holm"  # correction across the A/B verdict's guardrails


def ab_test_verdict(
    requests: pd.DataFrame, scenario: Scenario, seed: int, rollback_time_s: float | None = None
) -> AbVerdict:
    """The statistical verdict of a two-arm A/B run (legacy against one candidate).

    Over the requests after the warm-up (and before the rollback, if any):

    * primary metric, per unit of randomisation: with a sticky split each user's
      conversions (``conversions_per_user``, Welch's test over users; a user's arm is
      that of their first request), otherwise each request's conversion
      (``conversion_rate``, two-proportion z test over requests);
    * CUPED, when ``strategy.cuped_pre_period_s > 0``: the same lift adjusted by each
      unit's user's conversions in a simulated pre-period
      (:func:`~workbench.engine.traffic.pre_period_conversions`, at legacy's conversion
      rate in this window); the decision then uses it;
    * guardrails, per request: the non-ok rate (``error_rate``, lower is better) and
      the mean latency of requests that were not dropped (``mean_latency_ms``), their
      p-values Holm-adjusted together. With a sticky split their requests are
      correlated within a user, which these per-request tests do not model.
    """
    from ..stats.abtest import Lift, ab_verdict, lift
    from ..summary import AbGuardrail, AbLift, AbVerdict
    from .traffic import pre_period_conversions

    st = scenario.strategy
    alpha = AB_ALPHA
    times = requests["time_s"].to_numpy()
    keep = times >= scenario.warmup_s
    if rollback_time_s is not None:
        keep &= times < rollback_time_s
    cats = list(requests["model"].cat.categories)
    codes = requests["model"].cat.codes.to_numpy()[keep]
    legacy_code = cats.index("legacy") if "legacy" in cats else -2
    candidate = st.arms[0]
    cand_code = cats.index(candidate) if candidate in cats else -2
    in_a, in_b = codes == legacy_code, codes == cand_code
    users = requests["user_id"].to_numpy()[keep]
    converted = requests["converted"].to_numpy()[keep]
    status = requests["status"].cat.codes.to_numpy()[keep]
    latency = requests["latency_ms"].to_numpy()[keep]

    def measured(metric: str, kind: str, a: np.ndarray, b: np.ndarray, **covariates: Any) -> Lift:
        if a.size < 2 or b.size < 2:
            return Lift.no_data(metric, kind, a.size, b.size, alpha,
                                float(a.mean()) if a.size else math.nan, float(b.mean()) if b.size else math.nan)
        return lift(a, b, kind=kind, alpha=alpha, metric=metric, **covariates)

    if st.sticky:
        unit, metric, kind = "users", "conversions_per_user", "mean"
        unit_users, first, inverse = np.unique(users, return_index=True, return_inverse=True)
        per_user = np.bincount(inverse, weights=converted, minlength=unit_users.size)
        arm = codes[first]
        y_a, y_b = per_user[arm == legacy_code], per_user[arm == cand_code]
        u_a, u_b = unit_users[arm == legacy_code], unit_users[arm == cand_code]
    else:
        unit, metric, kind = "requests", "conversion_rate", "proportion"
        y_a, y_b = converted[in_a], converted[in_b]
        u_a, u_b = users[in_a], users[in_b]
    primary = measured(metric, kind, y_a, y_b)
    cuped = None
    pre_s = float(st.cuped_pre_period_s)
    legacy_rate = float(converted[in_a].mean()) if in_a.any() else math.nan
    if pre_s > 0 and math.isfinite(legacy_rate) and y_a.size >= 2 and y_b.size >= 2:
        _, pre_conversions = pre_period_conversions(scenario, seed, pre_s, legacy_rate)
        cuped = measured(metric, kind, y_a, y_b, covariate_control=pre_conversions[u_a].astype(float),
                         covariate_treatment=pre_conversions[u_b].astype(float))
    ok = status == OK
    served = status != DROPPED
    guardrails = {
        "error_rate": (measured("error_rate", "proportion", (~ok[in_a]).astype(float),
                                (~ok[in_b]).astype(float)), "lower"),
        "mean_latency_ms": (measured("mean_latency_ms", "mean", latency[in_a & served],
                                     latency[in_b & served]), "lower"),
    }
    decided = cuped if cuped is not None else primary
    verdict = ab_verdict(decided, guardrails, alpha=alpha, correction=AB_CORRECTION)

    def record(x: Lift) -> AbLift:
        return AbLift(**{f: getattr(x, f) for f in AbLift.__dataclass_fields__})

    return AbVerdict(
        unit=unit,
        primary=record(primary),
        cuped=None if cuped is None else record(cuped),
        cuped_pre_period_s=pre_s,
        guardrails=tuple(AbGuardrail(metric=g.metric, direction=g.direction, lift=record(g.lift),
                                     adjusted_p=g.adjusted_p, status=g.status) for g in verdict.guardrails),
        correction=verdict.correction,
        alpha=verdict.alpha,
        decision=verdict.decision,
        reason=verdict.reason,
        decided_on="cuped" if cuped is not None else "primary",
        before_rollback_only=rollback_time_s is not None,
    )


def _empty_shadow() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": pd.Series(dtype="int64"),
            "time_s": pd.Series(dtype="float64"),
            "status": pd.Categorical([], categories=list(STATUS_NAMES)),
            "latency_ms": pd.Series(dtype="float64"),
            "prediction": pd.Series(dtype="float64"),
            "legacy_prediction": pd.Series(dtype="float64"),
            "prediction_diff": pd.Series(dtype="float64"),
        }
    )


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Percentiles ``qs`` of ``values``, partitioning ``values`` in place (no copy); NaN when empty.

    One call per percentile: each partition starts from the previous one's order,
    which is quicker than one call with every ``q`` (measured with numpy 2.4).
    """
    if not values.size:
        return tuple(math.nan for _ in qs)
    return tuple(float(np.percentile(values, q, overwrite_input=True)) for q in qs)


def _distinct(values: np.ndarray, mask: np.ndarray | None = None, chunk: int = 65_536) -> int:
    """Number of distinct values of ``values[mask]`` (all values when ``mask`` is None).

    Small non-negative integer ids (user ids) are counted with a table of seen ids,
    filled chunk by chunk, so no full-length copy or sort is made.
    """
    n = values.size
    if n == 0:
        return 0
    if values.dtype.kind in "iu":
        top = int(values.max())
        if int(values.min()) >= 0 and top < max(4 * n, 1 << 20):
            seen = np.zeros(top + 1, dtype=bool)
            for lo in range(0, n, chunk):
                part = values[lo : lo + chunk]
                seen[part if mask is None else part[mask[lo : lo + chunk]]] = True
            return int(np.count_nonzero(seen))
    return int(np.unique(values if mask is None else values[mask]).size)


def summarise(
    requests: pd.DataFrame,
    *,
    scenario: Scenario,
    busy_s_by_model: dict[str, float],
) -> dict[str, dict[str, Any]]:
    """Per-model KPIs over requests arriving after ``warmup_s``.

    The keys are the fields of :class:`~workbench.summary.ModelKpis`.
    Works on numpy views of the columns: each model's rows are found once, and
    each KPI gathers only those rows (no filtered copy of the table).
    """
    duration = scenario.duration_s
    warm = requests["time_s"].to_numpy() >= scenario.warmup_s
    model_codes = requests["model"].cat.codes.to_numpy()
    model_cats = list(requests["model"].cat.categories)
    status_all = requests["status"].cat.codes.to_numpy()
    latency_all = requests["latency_ms"].to_numpy()
    queue_all = requests["queue_ms"].to_numpy()
    abs_all = requests["abs_error"].to_numpy()
    conv_all = requests["converted"].to_numpy()
    slo_all = requests["slo_breach"].to_numpy()
    users_all = requests["user_id"].to_numpy()
    models: dict[str, Any] = {}
    for name, cfg in scenario.models.items():
        code = model_cats.index(name) if name in model_cats else -2
        rows = np.flatnonzero(warm & (model_codes == code))  # found once: no full-length mask per KPI
        k = int(rows.size)
        status = status_all[rows]
        counts = np.bincount(status, minlength=len(STATUS_NAMES)) if k else np.zeros(len(STATUS_NAMES), int)
        ok = status == OK
        n_ok = int(counts[OK])
        window_s = duration - scenario.warmup_s
        util = (
            busy_s_by_model.get(name, 0.0) / (cfg.replicas * duration)
            if cfg.replicas
            else math.nan
        )
        kept = rows[status != DROPPED] if counts[DROPPED] else rows
        lat = latency_all[kept]  # a copy: the percentiles below partition it in place
        mean_latency = float(lat.mean()) if lat.size else math.nan
        p50, p95, p99 = _percentiles(lat, (50, 95, 99))
        del lat
        queue = queue_all[kept]
        mean_queue = float(queue.mean()) if queue.size else math.nan
        del kept, queue
        abs_err = abs_all[rows[ok]]
        mae = float(abs_err.mean()) if abs_err.size else math.nan
        rmse = float(np.sqrt(np.mean(np.square(abs_err, out=abs_err)))) if abs_err.size else math.nan
        del abs_err
        models[name] = {
            "requests": k,
            "users": _distinct(users_all[rows]),
            "ok": n_ok,
            "error": int(counts[ERROR]),
            "timeout": int(counts[TIMEOUT]),
            "dropped": int(counts[DROPPED]),
            "error_rate": float((~ok).mean()) if k else math.nan,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "mean_latency_ms": mean_latency,
            "mean_queue_ms": mean_queue,
            "throughput_per_s": float(n_ok) / window_s,
            "utilisation": util,
            "prediction_mae": mae,
            "prediction_rmse": rmse,
            "conversion_rate": float(conv_all[rows].mean()) if k else math.nan,
            "slo_breaches": int(np.count_nonzero(slo_all[rows])),
        }
    return models
