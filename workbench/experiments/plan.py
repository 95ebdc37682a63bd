"""A planner that proposes a safer, faster progressive rollout.

A design review asks of a progressive rollout (say 5-25-50-100 % with an analysis
every minute): how often does it roll back a good model, how often does it catch a
bad one, how long until full rollout, how many users does a bad one hurt? And which
plan keeps false rollbacks under 1 % and catches 95 % of bad candidates, as fast as
possible? :func:`plan` answers by simulation.

The scenario as given is the *good* candidate (with the faults that target the
candidate removed, if it has any); ``bad`` overrides (``faults[0].error_rate=0.05``)
applied to the scenario as given make the *bad* candidate. Every plan runs on the
same seeds for the good and the bad candidate (common random numbers: for a seed,
every plan meets the same arrivals, users and faults), and its runs are summarised
by :func:`~workbench.experiments.characteristics.operating_characteristics`.

Search (coarse to fine, on the seeds ``0 .. seeds - 1``):

1. **screen**: every step schedule x pause x ``failure_limit`` of the
   :class:`PlanSpace`, with the scenario's analysis interval, gates' ``min_samples``
   and judge, plus the plan as given, on the first ``coarse_seeds`` seeds;
2. **refine**: around the ``refine`` best screened plans, one setting changed at a
   time (the neighbouring pauses, every other analysis interval, ``min_samples`` and
   judge), on the same seeds;
3. **confirm**: the ``confirm`` best plans so far and the plan as given on all the
   seeds (the screened seeds are reused, only the rest are run); again with the next
   ones while none of those confirmed is feasible.

"Best" ranks feasible plans first, then by how far they miss the constraints, then
by time to full rollout and blast radius; a plan goes on to the refine and confirm
stages only while its Wilson intervals still allow it to meet the constraints.

Objectives of a plan: time to full rollout of the good candidate (mean with a
Student-t interval; a good run neither promoted nor rolled back by the end of the run
counts as the run's duration, a lower bound), false-rollback rate (good candidate,
Wilson interval), detection rate (bad candidate rolled back after its fault began,
Wilson interval) and blast radius (bad candidate: users and requests served badly,
mean with interval). The Pareto set is taken over (time to full rollout,
false-rollback rate, users hurt). **Feasibility uses point estimates**:
false-rollback rate <= ``max_false_rollback`` and detection rate >=
``min_detection`` over the plan's seeds (with 200 seeds a Wilson upper bound
cannot go below 1.9 %, so bounds could never certify a 1 % limit); the intervals are
reported beside them, and :attr:`Plan.certified` says whether the recheck's bounds
alone meet the constraints.

The recommendation is the fastest feasible confirmed plan (ties: fewer users hurt).
It is run again on fresh seeds (``10**6`` and up, disjoint from the search seeds)
before it is returned: :attr:`Plan.recheck` and :attr:`Plan.meets_constraints`.
With no feasible plan, the closest one is recommended and :attr:`Plan.binding` names
the constraint no plan could meet.

Cost: a run stops soon after the plan's nominal promotion time when that is before
the end of the scenario (``early_stop``). A shorter run is exactly the beginning of the
full one, so a run whose outcome is settled by then (a good candidate promoted or
rolled back, a bad one rolled back) gives the figures of the full run; the others run
again over the scenario's full duration, so that a bad candidate that is promoted
counts every request it hurts until the end. With a rollback policy (which may roll
back a promoted candidate) every run lasts the full duration.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..api import resolve_scenario
from ..limits import expected_arrivals
from ..scenario import Scenario, ScenarioError, parse_override_value
from ..scenario.toml import dump_toml
from .characteristics import operating_characteristics, summarise_values
from .detection import candidate_fault_windows
from .executors import local_client, run_sweep
from .grid import MAX_SEEDS, SweepError, sweep_tasks
from .risk import INPROCESS_MAX_REQUESTS, INPROCESS_MAX_RUNS

__all__ = ["PlanSpace", "Plan", "plan", "pareto_mask", "RECHECK_SEED_OFFSET", "OBJECTIVES"]

RECHECK_SEED_OFFSET = 10**6  # fresh seeds for the recheck: offset .. offset + n - 1
# the Pareto objectives, all minimised
OBJECTIVES = ("time_to_full_rollout_s", "false_rollback_rate", "blast_radius_users")
_MAX_CONFIRM_ROUNDS = 3  # confirm stages run while none of the confirmed plans is feasible


# ------------------------------------------------------------------------------ space
@dataclass(frozen=True)
class PlanSpace:
    """The plans :func:`plan` may propose, and how hard it searches.

    Attributes
    ----------
    schedules : tuple of tuple of float
        Weight ladders in percent, each increasing. Every step but the last pauses
        ``pause_s``; a last step of 100 is the promotion itself (no pause).
    pauses_s : tuple of float
        Pause per step on the screening grid.
    fine_pauses_s : tuple of float
        The ladder the refine stage takes neighbouring pauses from (with ``pauses_s``).
    intervals_s : tuple of float
        Analysis intervals tried around the best plans.
    failure_limits : tuple of int
        Failed analyses tolerated before a rollback, on the screening grid.
    min_samples : tuple of int
        Gates' ``min_samples`` tried around the best plans (all gates at once).
    judges : tuple of str or mapping
        Judges tried around the best plans: a kind (``"threshold"``,
        ``"sequential"``, ``"kayenta"``) keeps the scenario's other judge settings; a
        mapping sets judge fields (``{"kind": "sequential", "metric": "error"}``).
    coarse_seeds : int
        Seeds of the screen and refine stages (the first of the search seeds).
    refine : int
        Screened plans whose neighbourhood is explored.
    confirm : int
        Plans run on all the seeds per confirm stage (besides the plan as given).
    """

    schedules: tuple[tuple[float, ...], ...] = ((1, 5, 25, 50, 100), (5, 25, 50, 100), (10, 50, 100),
                                                (25, 100))
    pauses_s: tuple[float, ...] = (120.0, 300.0)
    fine_pauses_s: tuple[float, ...] = (60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0)
    intervals_s: tuple[float, ...] = (30.0, 60.0)
    failure_limits: tuple[int, ...] = (0, 1)
    min_samples: tuple[int, ...] = (50, 100)
    judges: tuple[str | Mapping[str, Any], ...] = ("threshold", "sequential")
    coarse_seeds: int = 40
    refine: int = 3
    confirm: int = 3

    def __post_init__(self) -> None:
        def positive_numbers(name: str, values: Any, integer: bool = False, zero: bool = False) -> None:
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or not list(values):
                raise SweepError(f"space.{name}: must be a non-empty list")
            for i, v in enumerate(values):
                ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                ok = ok and math.isfinite(v) and (v >= 0 if zero else v > 0)
                if ok and integer:
                    ok = float(v).is_integer()
                if not ok:
                    kind = "an integer" if integer else "a number"
                    raise SweepError(f"space.{name}[{i}]: must be {kind} {'>= 0' if zero else '> 0'}, got {v!r}")

        if isinstance(self.schedules, (str, bytes)) or not isinstance(self.schedules, Iterable) \
                or not list(self.schedules):
            raise SweepError("space.schedules: must be a non-empty list of weight ladders")
        for i, weights in enumerate(self.schedules):
            positive_numbers(f"schedules[{i}]", weights)
            w = [float(x) for x in weights]
            if any(b <= a for a, b in zip(w, w[1:], strict=False)) or w[-1] > 100:
                raise SweepError(f"space.schedules[{i}]: weights must increase and end at most at 100, got {w}")
        positive_numbers("pauses_s", self.pauses_s)
        positive_numbers("fine_pauses_s", self.fine_pauses_s)
        positive_numbers("intervals_s", self.intervals_s)
        positive_numbers("failure_limits", self.failure_limits, integer=True, zero=True)
        positive_numbers("min_samples", self.min_samples, integer=True)
        if isinstance(self.judges, (str, bytes, Mapping)) or not list(self.judges):
            raise SweepError("space.judges: must be a non-empty list of judge kinds or tables")
        for i, j in enumerate(self.judges):
            if not isinstance(j, (str, Mapping)):
                raise SweepError(f"space.judges[{i}]: must be a judge kind or a table, got {j!r}")
        for name in ("coarse_seeds", "refine", "confirm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SweepError(f"space.{name}: must be a positive integer, got {v!r}")


# ------------------------------------------------------------------------------ plans
@dataclass(frozen=True)
class _Point:
    """One plan: its settings as shown, and the strategy overrides that make it."""

    steps: tuple[tuple[float, float | None], ...]
    interval_s: float
    failure_limit: int
    min_samples: int | None  # None: the gates as given
    judge: tuple[tuple[str, Any], ...]  # judge-field overrides (sorted); () for the judge as given
    judge_label: str
    given: bool = False

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(w for w, _ in self.steps)

    @property
    def pause_s(self) -> float:
        """The common pause of every paused step (NaN when they differ)."""
        pauses = {p for _, p in self.steps if p is not None}
        return float(pauses.pop()) if len(pauses) == 1 else math.nan

    def overrides(self, n_gates: int) -> dict[str, Any]:
        ov: dict[str, Any] = {
            "strategy.steps": [{"weight": _plain(w)} if p is None else {"weight": _plain(w), "pause_s": _plain(p)}
                               for w, p in self.steps],
            "strategy.interval_s": _plain(self.interval_s),
            "strategy.failure_limit": int(self.failure_limit),
        }
        if self.min_samples is not None:
            for i in range(n_gates):
                ov[f"strategy.gates[{i}].min_samples"] = int(self.min_samples)
        for key, value in self.judge:
            ov[f"strategy.judge.{key}"] = value
        return ov


def _plain(x: float) -> int | float:
    """An integral float as int (tidier TOML and labels), else the float."""
    return int(x) if float(x).is_integer() else float(x)


def _ladder(weights: Sequence[float], pause_s: float) -> tuple[tuple[float, float | None], ...]:
    """Steps of a weight ladder: every step pauses ``pause_s`` but a last one of 100 (the promotion)."""
    w = [float(x) for x in weights]
    last = None if w[-1] >= 100 else float(pause_s)
    return tuple((x, float(pause_s)) for x in w[:-1]) + ((w[-1], last),)


def _judge_spec(judge: str | Mapping[str, Any]) -> tuple[tuple[tuple[str, Any], ...], str]:
    """Judge overrides and the label shown for a :attr:`PlanSpace.judges` entry."""
    if isinstance(judge, str):
        return (("kind", judge),), judge
    items = tuple(sorted((str(k), v) for k, v in judge.items()))
    kind = dict(items).get("kind", "")
    rest = ",".join(f"{k}={v}" for k, v in items if k != "kind")
    return items, f"{kind}({rest})" if rest else str(kind)


def _steps_text(steps: Sequence[tuple[float, float | None]]) -> str:
    return "-".join(f"{_plain(w)}" for w, _ in steps)


# ------------------------------------------------------------------------------ Pareto
def pareto_mask(df: pd.DataFrame, objectives: Sequence[str] = OBJECTIVES) -> np.ndarray:
    """Which rows no other row dominates, all ``objectives`` minimised (NaN counts as worst).

    Row ``a`` dominates ``b`` when it is no worse in every objective and better in at
    least one; equal rows dominate neither.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1.0, 2.0, 2.0, 3.0], "r": [0.5, 0.1, 0.2, 0.1]})
    >>> pareto_mask(df, ["t", "r"]).tolist()
    [True, True, False, False]
    """
    x = df[list(objectives)].to_numpy(dtype=float, copy=True)
    x[~np.isfinite(x)] = np.inf
    n = len(x)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = (x <= x[i]).all(axis=1)
        better = (x < x[i]).any(axis=1)
        if (no_worse & better).any():
            keep[i] = False
    return keep


# ------------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class Plan:
    """The plans evaluated, their Pareto set, the recommended plan and its recheck.

    Attributes
    ----------
    candidates : DataFrame
        One row per evaluated plan: ``plan`` (id), ``given`` (the scenario's own
        plan), ``stage`` reached (``screen``, ``refine``, ``confirm``), its settings
        (``steps``, ``pause_s``, ``interval_s``, ``failure_limit``, ``min_samples``,
        ``judge``), ``seeds`` run, and its objectives: ``time_to_full_rollout_s``
        (``_low``, ``_high``), ``promotion_rate``, ``false_rollback_rate``,
        ``detection_rate`` (each with ``_low``, ``_high``), ``time_to_detect_s``,
        ``blast_radius_users``, ``blast_radius_requests`` (means, with ``_low``,
        ``_high``); ``feasible``, ``violation`` (how far the point estimates miss the
        constraints), ``pareto`` and ``recommended``.
    pareto : DataFrame
        The rows of ``candidates`` no other plan dominates in :data:`OBJECTIVES`
        (each on its own seeds; ``seeds`` says how many).
    recommended : dict
        The recommended plan: ``plan``, ``strategy`` (its full strategy table),
        ``overrides`` (dotted paths that turn the scenario as given into it) and its
        objectives on the search seeds.
    recheck : dict
        Its objectives on the fresh seeds (``seeds``: their number, ``first_seed``).
    given : dict
        The scenario's own plan and its objectives on the search seeds.
    meets_constraints : bool
        The recheck's point estimates meet both constraints.
    certified : bool
        The recheck's interval bounds meet them too (false-rollback upper bound and
        detection lower bound).
    feasible : bool
        Some plan met the constraints on the search seeds.
    binding : str or None
        With no feasible plan: ``"false_rollback"``, ``"detection"`` (no plan meets
        that one) or ``"both"`` (each is met by some plan, never both at once).
    max_false_rollback, min_detection, confidence : float
    search_seeds, recheck_seeds : tuple of int
    bad_overrides : dict
        The overrides that make the candidate bad.
    base : Scenario
        The scenario as given.
    runs : int
        Simulations run in all.
    elapsed_s : float
        Wall-clock time of the search.
    """

    candidates: pd.DataFrame
    pareto: pd.DataFrame
    recommended: dict[str, Any]
    recheck: dict[str, Any]
    given: dict[str, Any]
    meets_constraints: bool
    certified: bool
    feasible: bool
    binding: str | None
    max_false_rollback: float
    min_detection: float
    confidence: float
    search_seeds: tuple[int, ...]
    recheck_seeds: tuple[int, ...]
    bad_overrides: dict[str, Any]
    base: Scenario = field(repr=False)
    runs: int = 0
    elapsed_s: float = math.nan

    def scenario(self) -> Scenario:
        """The scenario as given, with the recommended strategy."""
        return self.base.with_overrides(self.recommended["overrides"])

    def to_toml(self) -> str:
        """The recommended scenario as TOML (the scenario as written, with the new strategy).

        Loading the text gives :meth:`scenario` back.
        """
        sc = self.scenario()
        raw = getattr(sc, "_raw", None) or sc.to_mapping()
        r = self.recheck
        head = (f"# progressive plan proposed by workbench plan (bad candidate: "
                f"{_overrides_text(self.bad_overrides)})\n"
                f"# recheck on {r['seeds']} fresh seeds: false rollbacks {_pct(r['false_rollback_rate'])}, "
                f"detection {_pct(r['detection_rate'])}, full rollout {_num(r['time_to_full_rollout_s'])} s\n")
        return head + dump_toml(raw)

    def to_argo(self) -> str:
        """The recommended plan as an Argo Rollouts manifest (:func:`workbench.rollouts.to_argo`)."""
        from ..rollouts import to_argo

        return to_argo(self.scenario())

    def to_flagger(self) -> str:
        """The recommended plan as a Flagger Canary manifest (:func:`workbench.rollouts.to_flagger`)."""
        from ..rollouts import to_flagger

        return to_flagger(self.scenario())

    def summary(self) -> str:
        """A readable text report: the Pareto front, the plan as given, the recommendation, the recheck."""
        return _summary_text(self)

    def __str__(self) -> str:
        return self.summary()


# ------------------------------------------------------------------------------ inputs
def _parse_bad(bad: Mapping[str, Any] | str | Sequence[str], source: str | None) -> dict[str, Any]:
    """``bad`` as a mapping of dotted paths to values."""
    if isinstance(bad, Mapping):
        out = {str(k): v for k, v in bad.items()}
    else:
        items = [bad] if isinstance(bad, str) else list(bad) if isinstance(bad, Iterable) else None
        if items is None:
            raise ScenarioError(f"bad: expected PATH=VALUE overrides, got {bad!r}", source=source)
        out = {}
        for item in items:
            if not isinstance(item, str) or "=" not in item or not item.split("=", 1)[0].strip():
                raise ScenarioError(f"bad: expected PATH=VALUE (e.g. faults[0].error_rate=0.05), got {item!r}",
                                    source=source)
            path, value = item.split("=", 1)
            out[path.strip()] = parse_override_value(value.strip())
    if not out:
        raise ScenarioError("bad: give at least one PATH=VALUE override that makes the candidate bad",
                            source=source)
    for path in out:
        if path in ("strategy", "duration_s") or path.startswith(("strategy.", "strategy[")):
            raise ScenarioError(f"bad: {path!r}: the bad candidate keeps the plan's strategy and the "
                                "run's duration; override the candidate or its faults", source=source)
    return out


def _good_scenario(given: Scenario) -> Scenario:
    """The scenario as given without the faults that target the candidate."""
    keep = [i for i, f in enumerate(given.faults) if getattr(f, "target", None) != "candidate"]
    if len(keep) == len(given.faults):
        return given
    faults = given.to_mapping()["faults"]
    return given.with_overrides({"faults": [faults[i] for i in keep]})


def _candidate_part(sc: Scenario) -> tuple[Any, list[Any]]:
    """The candidate's model table and the faults that target it."""
    m = sc.to_mapping()
    return m["models"]["candidate"], [f for f in m["faults"] if f.get("target") == "candidate"]


def _check_rate(name: str, value: Any, low_open: bool, high_open: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (0 < value if low_open else 0 <= value) \
        and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise SweepError(f"{name}: must be a number in {interval}, got {value!r}")
    return float(value)


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= MAX_SEEDS:
        raise SweepError(f"{name}: must be an integer from {low} to {MAX_SEEDS:,}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------ search
class _Search:
    """The state of one planning: the scenarios, the plans evaluated and their runs."""

    def __init__(self, given: Scenario, good: Scenario, bad: Scenario, confidence: float,
                 max_fr: float, min_det: float, client, progress, early_stop: bool):
        self.given, self.good, self.bad = given, good, bad
        self.confidence, self.max_fr, self.min_det = confidence, max_fr, min_det
        self.client, self.progress = client, progress
        self.n_gates = len(given.strategy.gates)
        good_map, bad_map = good.to_mapping(), bad.to_mapping()
        # what turns the good scenario into the bad one, as whole top-level tables
        self.bad_top = {k: v for k, v in bad_map.items() if good_map.get(k) != v}
        # a rollback policy may roll back a promoted candidate: then only full runs are exact
        self.early_stop = bool(early_stop) and not (given.rollback is not None and given.rollback.enabled)
        self.arm_faults = {"good": good_map["faults"], "bad": bad_map["faults"]}
        # the bad candidate's detections are timed from here (as in strategy_kpis)
        self.bad_fault_start_s = min((s for s, _ in candidate_fault_windows(bad, include_concept_drift=True)),
                                     default=math.nan)
        self.points: list[_Point] = []
        self.ids: dict[str, str] = {}  # strategy table (canonical JSON) -> plan id
        self.stage: dict[str, str] = {}
        self.point_of: dict[str, _Point] = {}
        self.rows: list[pd.DataFrame] = []
        self.runs = 0

    def horizon_s(self, point: _Point, arm: str) -> float:
        """How long the first run of a plan's arm lasts: past its nominal promotion, or the full run.

        Every paused step lasts a whole number of analysis intervals; the horizon adds
        a quarter of that (at least two intervals) for analyses that hold a step, and
        half an interval, so that no analysis falls on it. It comes after the warm-up,
        and after the start of every fault that times detection (the candidate's
        faults and concept drift), so that a rollback before such a fault is known as
        a false alarm.
        """
        duration = self.good.duration_s
        if not self.early_stop:
            return duration
        iv = point.interval_s
        nominal = sum(math.ceil(p / iv - 1e-9) * iv for _, p in point.steps if p is not None)
        timing = [f["start_s"] for f in self.arm_faults[arm]
                  if f.get("target") == "candidate" or f["kind"] == "concept_drift"]
        h = max(nominal + max(2 * iv, 0.25 * nominal) + iv / 2, self.good.warmup_s + 1.0,
                *(t + 1.0 for t in timing))
        return h if h < duration else duration

    def _short(self, arm: str, overrides: dict[str, Any], h: float) -> dict[str, Any]:
        """An arm's overrides for a run of ``h`` seconds: the faults that start later are left out.

        A fault changes nothing before it starts, and a run's faults must start inside it.
        """
        if h >= self.good.duration_s:
            return overrides
        faults = [f for f in self.arm_faults[arm] if f["start_s"] < h]
        return {**overrides, "duration_s": _plain(h), "faults": faults}

    # -------------------------------------------------------------- plans
    def add(self, point: _Point) -> str | None:
        """Register a plan; its id, or None when an equal plan is known already."""
        try:
            sc = self.given.with_overrides(point.overrides(self.n_gates))
        except ScenarioError as exc:
            raise ScenarioError(f"plan {_describe(point)}: {exc.errors[0]}", source=self.given.source_path) from None
        key = json.dumps(sc.strategy.model_dump(mode="json"), sort_keys=True)
        if key in self.ids:
            return None
        pid = f"p{len(self.points) + 1:02d}"
        self.ids[key] = pid
        self.points.append(point)
        self.point_of[pid] = point
        return pid

    # -------------------------------------------------------------- runs
    def evaluate(self, pids: Sequence[str], seeds: Sequence[int], stage: str) -> None:
        """Run the good and the bad candidate of every plan on ``seeds``.

        Each plan first runs up to its :meth:`horizon_s`. A shorter run is exactly the
        beginning of the full one (arrivals and every per-request draw are prefixes of
        the full run's), so a good run promoted or rolled back before the horizon, and
        a bad run rolled back before it (the candidate serves nobody afterwards), are
        what the full run gives for every figure used here. The other runs (still in
        progress; a bad candidate promoted, who hurts users until the end) run again
        over the full duration.
        """
        if not pids or not seeds:
            return
        first: dict[str, tuple[dict[str, Any], list[int]]] = {}
        full: dict[str, dict[str, Any]] = {}
        horizon: dict[str, float] = {}
        for pid in pids:
            ov = self.point_of[pid].overrides(self.n_gates)
            for arm, arm_ov in (("good", ov), ("bad", {**self.bad_top, **ov})):
                name = f"{pid}|{arm}"
                full[name] = arm_ov
                horizon[name] = h = self.horizon_s(self.point_of[pid], arm)
                first[name] = (self._short(arm, arm_ov, h), list(seeds))
            self.stage[pid] = stage
        runs = self._run(first)
        state = runs["final_state"].astype(str)
        is_good = runs["variant"].str.endswith("|good")
        decided = (state == "rolled_back") | (is_good & (state == "promoted"))
        decided |= runs["variant"].map(horizon) >= self.good.duration_s
        if not decided.all():
            again = runs[~decided]
            todo = {name: (full[name], g["seed"].astype(int).tolist()) for name, g in again.groupby("variant", sort=False)}
            runs = pd.concat([runs[decided], self._run(todo)], ignore_index=True)
        runs = runs.sort_values(["variant", "seed"], kind="mergesort").reset_index(drop=True)
        split = runs["variant"].str.split("|", n=1, expand=True)
        runs.insert(0, "plan", split[0])
        runs["good_candidate"] = split[1] == "good"
        # a bad candidate rolled back before its fault began raised a false alarm, not a
        # detection: operating_characteristics knows it by a negative time to rollback
        start = self.bad_fault_start_s
        if math.isfinite(start):
            rb = pd.to_numeric(runs["rollback_time_s"], errors="coerce")
            early = ~runs["good_candidate"] & (runs["final_state"] == "rolled_back") & (rb < start)
            runs.loc[early, "time_to_rollback_s"] = rb[early] - start
        self.rows.append(runs)

    def _run(self, todo: Mapping[str, tuple[dict[str, Any], list[int]]]) -> pd.DataFrame:
        """Run each variant (name: overrides and seeds) on the good scenario; their rows."""
        tasks = []
        for name, (ov, seed_list) in todo.items():
            tasks += sweep_tasks(seed_list, variants={name: ov}, variant_column="variant")[0]
        runs = run_sweep(self.good, tasks, ["variant"], client=self.client,
                         workers=1 if self.client is None else None, progress=self.progress,
                         record=False, kind="plan")
        self.runs += len(runs)
        return runs

    def table(self) -> pd.DataFrame:
        """One row per plan evaluated so far, with its settings and objectives."""
        runs = pd.concat(self.rows, ignore_index=True)
        oc = operating_characteristics(runs, by=["plan"], good_candidate="good_candidate",
                                       confidence=self.confidence)
        out = []
        for pid, point in self.point_of.items():
            if pid not in self.stage:
                continue
            good = oc[(oc["plan"] == pid) & oc["good_candidate"]].iloc[0]
            bad = oc[(oc["plan"] == pid) & ~oc["good_candidate"]].iloc[0]
            g_runs = runs[(runs["plan"] == pid) & runs["good_candidate"]]
            out.append({**_settings(pid, point, self.stage[pid]), "seeds": int(good["runs"]),
                        **_objectives(good, bad, g_runs, self.good.duration_s, self.confidence)})
        df = pd.DataFrame(out)
        df["violation"] = (np.maximum(0.0, df["false_rollback_rate"] - self.max_fr)
                           + np.maximum(0.0, self.min_det - df["detection_rate"]))
        df["feasible"] = df["violation"] <= 0.0
        df["plausible"] = ((df["false_rollback_rate_low"] <= self.max_fr)
                           & (df["detection_rate_high"] >= self.min_det))
        return df

    def ranked(self, df: pd.DataFrame, among: pd.Series | None = None) -> list[str]:
        """Plan ids, best first: feasible, least violation, fastest, fewest users hurt."""
        d = df if among is None else df[among]
        key = d.assign(_t=d["time_to_full_rollout_s"].fillna(math.inf),
                       _b=d["blast_radius_users"].fillna(math.inf))
        key = key.sort_values(["violation", "_t", "_b", "plan"], kind="mergesort")
        return key["plan"].tolist()

    def neighbours(self, pid: str, space: PlanSpace) -> list[_Point]:
        """Plans one setting away: neighbouring pauses, other intervals, min_samples and judges."""
        p = self.point_of[pid]
        out: list[_Point] = []
        pause = p.pause_s
        if math.isfinite(pause):
            ladder = sorted({float(x) for x in (*space.fine_pauses_s, *space.pauses_s, pause)})
            i = ladder.index(pause)
            for j in (i - 1, i + 1):
                if 0 <= j < len(ladder):
                    out.append(_replace(p, steps=_ladder(p.weights, ladder[j])))
        for interval in space.intervals_s:
            if float(interval) != p.interval_s:
                out.append(_replace(p, interval_s=float(interval)))
        if self.n_gates:
            for ms in space.min_samples:
                if int(ms) != p.min_samples:
                    out.append(_replace(p, min_samples=int(ms)))
        for judge in space.judges:
            items, label = _judge_spec(judge)
            if items != p.judge:
                out.append(_replace(p, judge=items, judge_label=label))
        return out


def _replace(p: _Point, **changes: Any) -> _Point:
    return dataclasses.replace(p, given=False, **changes)


def _describe(p: _Point) -> str:
    return (f"{_steps_text(p.steps)} pause {_num(p.pause_s)} s, interval {_num(p.interval_s)} s, "
            f"failure_limit {p.failure_limit}, min_samples {p.min_samples}, judge {p.judge_label}")


def _settings(pid: str, p: _Point, stage: str) -> dict[str, Any]:
    return {"plan": pid, "given": p.given, "stage": stage, "steps": _steps_text(p.steps),
            "pause_s": p.pause_s, "interval_s": float(p.interval_s), "failure_limit": int(p.failure_limit),
            "min_samples": float(p.min_samples) if p.min_samples is not None else math.nan,
            "judge": p.judge_label}


def _objectives(good: pd.Series, bad: pd.Series, good_runs: pd.DataFrame, duration_s: float,
                confidence: float) -> dict[str, float]:
    """A plan's objectives from its two operating-characteristics rows and its good runs."""
    state = good_runs["final_state"].astype(str)
    ttf = pd.to_numeric(good_runs["time_to_full_rollout_s"], errors="coerce")
    # a good run still rolling out at the end counts as the run's duration (a lower bound)
    censored = ttf.where(state == "promoted", duration_s)[state != "rolled_back"]
    t = summarise_values(censored.to_numpy(dtype=float), confidence)
    out: dict[str, float] = {
        "time_to_full_rollout_s": t.mean, "time_to_full_rollout_s_low": t.lower,
        "time_to_full_rollout_s_high": t.upper,
        "promotion_rate": float(good["promotion_rate"]),
    }
    for name, row in (("false_rollback_rate", good), ("detection_rate", bad)):
        out[name] = float(row[name])
        out[f"{name}_low"] = float(row[f"{name}_lo"])
        out[f"{name}_high"] = float(row[f"{name}_hi"])
    for name in ("time_to_detect_s", "blast_radius_users", "blast_radius_requests"):
        out[name] = float(bad.get(f"{name}_mean", math.nan))
        out[f"{name}_low"] = float(bad.get(f"{name}_mean_lo", math.nan))
        out[f"{name}_high"] = float(bad.get(f"{name}_mean_hi", math.nan))
    return out


def _binding(df: pd.DataFrame, max_fr: float, min_det: float) -> str:
    fr_ok = df["false_rollback_rate"] <= max_fr
    det_ok = df["detection_rate"] >= min_det
    if not det_ok.any() and not fr_ok.any():
        return "both"
    if not det_ok.any():
        return "detection"
    if not fr_ok.any():
        return "false_rollback"
    return "both"


def _base_point(sc: Scenario) -> _Point:
    """The scenario's own plan."""
    st = sc.strategy
    ms = {g.min_samples for g in st.gates}
    return _Point(steps=tuple((float(s.weight), None if s.pause_s is None else float(s.pause_s)) for s in st.steps),
                  interval_s=float(st.interval_s), failure_limit=int(st.failure_limit),
                  min_samples=ms.pop() if len(ms) == 1 else None,
                  judge=(("kind", st.judge.kind),), judge_label=st.judge.kind, given=True)


def _estimated_runs(space: PlanSpace, coarse: int, seeds: int, recheck: int) -> int:
    screen = len(space.schedules) * len(space.pauses_s) * len(space.failure_limits) + 1
    around = 2 + len(space.intervals_s) + len(space.min_samples) + len(space.judges)
    return 2 * (coarse * (screen + space.refine * around) + (seeds - coarse) * (space.confirm + 1) + recheck)


def plan(
    scenario,
    *,
    bad: Mapping[str, Any] | str | Sequence[str],
    max_false_rollback: float = 0.01,
    min_detection: float = 0.95,
    seeds: int = 200,
    recheck_seeds: int | None = None,
    space: PlanSpace | None = None,
    confidence: float = 0.95,
    progress: bool | str = False,
    workers: int | None = None,
    early_stop: bool = True,
) -> Plan:
    """Search progressive rollout plans for the fastest that meets both risk constraints.

    Parameters
    ----------
    scenario : Scenario, path or mapping
        With a ``progressive`` strategy. Its candidate, without the faults that target
        it, is the good candidate; the plan as given is always evaluated.
    bad : str, list of str or mapping
        ``PATH=VALUE`` overrides (``"faults[0].error_rate=0.05"``), or a mapping of
        dotted paths to values (``{"faults": [{...}]}`` to add a fault), applied to the
        scenario as given to make the bad candidate. They may not touch the strategy.
    max_false_rollback : float
        Largest acceptable rate of rolling back the good candidate.
    min_detection : float
        Smallest acceptable rate of rolling back the bad candidate after its fault began.
    seeds : int
        Search seeds ``0 .. seeds - 1``; the screen and refine stages use the first
        ``space.coarse_seeds`` of them.
    recheck_seeds : int, optional
        Fresh seeds for the recheck of the recommendation, from
        :data:`RECHECK_SEED_OFFSET` on (default: ``seeds``).
    space : PlanSpace, optional
        The plans to search and the effort (default :class:`PlanSpace`).
    confidence : float
        Level of every interval.
    progress : bool or "auto"
        Show a progress bar per stage.
    workers : int, optional
        Processes of the local Dask cluster for a large search (default: one per CPU);
        ``1`` runs everything in this process, as does a search of at most
        :data:`~workbench.experiments.risk.INPROCESS_MAX_RUNS` runs or
        :data:`~workbench.experiments.risk.INPROCESS_MAX_REQUESTS` requests.
    early_stop : bool
        Stop runs once their outcome is settled (the same figures, several times
        faster; see the module's notes). ``False`` runs every run over the full duration.

    Returns
    -------
    Plan

    Raises
    ------
    ScenarioError
        Not a progressive strategy, bad ``bad`` overrides (the message names the
        path), or overrides that change neither the candidate nor its faults;
        :class:`~workbench.experiments.grid.SweepError` for bad arguments.
    """
    started = time.perf_counter()
    given = resolve_scenario(scenario)
    source = given.source_path
    if given.strategy.kind != "progressive":
        raise ScenarioError(f"strategy.kind: the planner needs a 'progressive' strategy, "
                            f"got {given.strategy.kind!r}", source=source)
    space = PlanSpace() if space is None else space
    if not isinstance(space, PlanSpace):
        raise SweepError(f"space: must be a PlanSpace, got {type(space).__name__}")
    st = given.strategy
    for i, step in enumerate(st.steps):
        if step.analysis or step.manual:
            raise ScenarioError(f"strategy.steps[{i}]: the planner proposes ladders of weights and pauses; a step "
                                "with inline analysis or a manual pause cannot be carried into them (plan from "
                                "background analysis or gates)", source=source)
    if not st.uses_checks():
        # analysed by Argo templates alone (or not at all): the checks' interval, failure limit, minimum
        # samples and judge decide nothing, so only the steps and pauses are searched
        space = dataclasses.replace(space, intervals_s=(st.interval_s,), failure_limits=(st.failure_limit,),
                                    min_samples=space.min_samples[:1], judges=("threshold",))
    max_fr = _check_rate("max_false_rollback", max_false_rollback, low_open=False, high_open=True)
    min_det = _check_rate("min_detection", min_detection, low_open=True, high_open=False)
    _check_rate("confidence", confidence, low_open=True, high_open=True)
    n_seeds = _check_count("seeds", seeds, 2)
    n_recheck = _check_count("recheck_seeds", n_seeds if recheck_seeds is None else recheck_seeds, 2)
    if workers is not None:
        _check_count("workers", workers, 1)
    bad_ov = _parse_bad(bad, source)
    bad_sc = given.with_overrides(bad_ov)
    good_sc = _good_scenario(given)
    if _candidate_part(bad_sc) == _candidate_part(good_sc):
        raise ScenarioError(f"bad: {_overrides_text(bad_ov)} does not change the candidate (its model or "
                            "a fault that targets it)", source=source)
    search_seeds = tuple(range(n_seeds))
    coarse = search_seeds[: min(int(space.coarse_seeds), n_seeds)]
    fresh = tuple(RECHECK_SEED_OFFSET + i for i in range(n_recheck))

    total = _estimated_runs(space, len(coarse), n_seeds, n_recheck)
    local = workers == 1 or total <= INPROCESS_MAX_RUNS \
        or total * expected_arrivals(good_sc) <= INPROCESS_MAX_REQUESTS
    n = 1 if local else int(workers) if workers is not None else (os.cpu_count() or 1)
    args = (given, good_sc, bad_sc, bad_ov, space, max_fr, min_det, search_seeds, coarse, fresh,
            confidence, progress, early_stop)
    if n <= 1:
        return _plan(*args, None, started)
    with local_client(n) as client:
        return _plan(*args, client, started)


def _plan(given, good_sc, bad_sc, bad_ov, space, max_fr, min_det, search_seeds, coarse, fresh,
          confidence, progress, early_stop, client, started) -> Plan:
    """The search itself (see :func:`plan`), on ``client`` or in this process."""
    s = _Search(given, good_sc, bad_sc, confidence, max_fr, min_det, client, progress, early_stop)
    base = _base_point(given)
    st = given.strategy
    # 1. screen: schedules x pauses x failure limits, the rest as given; and the plan as given
    screen = [pid for pid in [s.add(base)] if pid]
    for weights in space.schedules:
        for pause in space.pauses_s:
            for fl in space.failure_limits:
                pid = s.add(_Point(_ladder(weights, float(pause)), float(st.interval_s), int(fl),
                                   base.min_samples, base.judge, base.judge_label))
                if pid:
                    screen.append(pid)
    s.evaluate(screen, coarse, "screen")
    df = s.table()
    # 2. refine: one setting at a time around the best plausible plans
    plausible = df["plausible"] if df["plausible"].any() else None
    best = s.ranked(df, plausible)[: int(space.refine)]
    refined = []
    for pid in best:
        for point in s.neighbours(pid, space):
            new = s.add(point)
            if new:
                refined.append(new)
    s.evaluate(refined, coarse, "refine")
    df = s.table()
    # 3. confirm on all the seeds: the plan as given and the best plans, until one is feasible
    extra = [x for x in search_seeds if x not in set(coarse)]
    confirmed: list[str] = []
    base_id = df.loc[df["given"], "plan"].iloc[0]
    for _ in range(_MAX_CONFIRM_ROUNDS):
        pool = df["plausible"] & ~df["plan"].isin(confirmed) & ~df["given"]
        given_row = df[df["given"]].iloc[0]
        if base_id in confirmed and given_row["feasible"]:
            # the plan as given holds: only a faster plan can improve on it
            pool &= df["time_to_full_rollout_s"] < given_row["time_to_full_rollout_s"]
        if confirmed and not pool.any():
            break
        order = s.ranked(df, pool if pool.any() else ~df["plan"].isin(confirmed) & ~df["given"])
        batch = order[: int(space.confirm)] + ([base_id] if base_id not in confirmed else [])
        if not batch:
            break
        s.evaluate(batch, extra, "confirm")
        for pid in batch:
            s.stage[pid] = "confirm"
        confirmed += batch
        df = s.table()
        if (df["plan"].isin(confirmed) & ~df["given"] & df["feasible"]).any():
            break  # a new plan holds on all the seeds
    # recommendation among the plans run on all the seeds
    final = df[df["plan"].isin(confirmed)]
    feasible = bool(final["feasible"].any())
    rec_id = s.ranked(final)[0]
    recheck = _recheck(s, rec_id, fresh)
    df["pareto"] = pareto_mask(df)
    df["recommended"] = df["plan"] == rec_id
    df = df.drop(columns=["plausible"]).reset_index(drop=True)
    rec_row = df[df["plan"] == rec_id].iloc[0]
    rec_point = s.point_of[rec_id]
    overrides = rec_point.overrides(s.n_gates)
    recommended = {"plan": rec_id, "strategy": given.with_overrides(overrides).strategy.model_dump(mode="json"),
                   "overrides": overrides, **_objective_dict(rec_row)}
    given_row = df[df["given"]].iloc[0]
    meets = bool(recheck["false_rollback_rate"] <= max_fr and recheck["detection_rate"] >= min_det)
    certified = bool(recheck["false_rollback_rate_high"] <= max_fr and recheck["detection_rate_low"] >= min_det)
    return Plan(
        candidates=df,
        pareto=df[df["pareto"]].reset_index(drop=True),
        recommended=recommended,
        recheck=recheck,
        given={"plan": given_row["plan"], **_objective_dict(given_row)},
        meets_constraints=meets,
        certified=certified,
        feasible=feasible,
        binding=None if feasible else _binding(df, max_fr, min_det),
        max_false_rollback=max_fr,
        min_detection=min_det,
        confidence=float(confidence),
        search_seeds=tuple(search_seeds),
        recheck_seeds=tuple(fresh),
        bad_overrides=dict(bad_ov),
        base=given,
        runs=s.runs,
        elapsed_s=time.perf_counter() - started,
    )


_SHOWN = ("steps", "pause_s", "interval_s", "failure_limit", "min_samples", "judge", "seeds",
          "time_to_full_rollout_s", "time_to_full_rollout_s_low", "time_to_full_rollout_s_high",
          "promotion_rate", "false_rollback_rate", "false_rollback_rate_low", "false_rollback_rate_high",
          "detection_rate", "detection_rate_low", "detection_rate_high",
          "time_to_detect_s", "time_to_detect_s_low", "time_to_detect_s_high",
          "blast_radius_users", "blast_radius_users_low", "blast_radius_users_high",
          "blast_radius_requests", "blast_radius_requests_low", "blast_radius_requests_high", "feasible")


def _objective_dict(row: pd.Series) -> dict[str, Any]:
    out = {}
    for k in _SHOWN:
        v = row[k]
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def _recheck(s: _Search, pid: str, fresh: Sequence[int]) -> dict[str, Any]:
    """The plan ``pid`` on the fresh seeds: its objectives."""
    sub = _Search(s.given, s.good, s.bad, s.confidence, s.max_fr, s.min_det, s.client, s.progress,
                  s.early_stop)
    sub.add(s.point_of[pid])
    sub.evaluate(["p01"], fresh, "recheck")
    s.runs += sub.runs
    row = sub.table().iloc[0]
    out = {k: v for k, v in _objective_dict(row).items()
           if k not in ("steps", "pause_s", "interval_s", "failure_limit", "min_samples", "judge")}
    out["first_seed"] = int(fresh[0])
    return out


# ------------------------------------------------------------------------------ text
def _num(x: Any) -> str:
    x = float(x)
    if not math.isfinite(x):
        return "-"
    return f"{x:.0f}" if abs(x) >= 10 or x.is_integer() else f"{x:.3g}"


def _pct(x: Any) -> str:
    x = float(x)
    return "-" if not math.isfinite(x) else f"{100 * x:.1f}%"


def _rate_cell(r: Mapping[str, Any], name: str) -> str:
    if not math.isfinite(float(r[name])):
        return "-"
    return f"{_pct(r[name])} [{_pct(r[f'{name}_low'])}, {_pct(r[f'{name}_high'])}]"


def _mean_cell(r: Mapping[str, Any], name: str) -> str:
    if not math.isfinite(float(r[name])):
        return "-"
    return f"{_num(r[name])} [{_num(r[f'{name}_low'])}, {_num(r[f'{name}_high'])}]"


def _plan_line(r: Mapping[str, Any]) -> str:
    ms = "as given" if not math.isfinite(float(r["min_samples"])) else _num(r["min_samples"])
    pause = "per step" if not math.isfinite(float(r["pause_s"])) else f"{_num(r['pause_s'])} s"
    return (f"steps {r['steps']} %, pause {pause}, analysis every {_num(r['interval_s'])} s, "
            f"failure_limit {int(r['failure_limit'])}, gates' min_samples {ms}, judge {r['judge']}")


def _figures(r: Mapping[str, Any], indent: str = "  ") -> str:
    return "\n".join([
        f"{indent}full rollout (s)     {_mean_cell(r, 'time_to_full_rollout_s')}   "
        f"promoted {_pct(r['promotion_rate'])}",
        f"{indent}false rollbacks      {_rate_cell(r, 'false_rollback_rate')}",
        f"{indent}catches a bad one    {_rate_cell(r, 'detection_rate')}",
        f"{indent}time to detect (s)   {_mean_cell(r, 'time_to_detect_s')}",
        f"{indent}users hurt           {_mean_cell(r, 'blast_radius_users')}",
        f"{indent}requests hurt        {_mean_cell(r, 'blast_radius_requests')}",
    ])


def _front_table(df: pd.DataFrame) -> str:
    rows = []
    for r in df.sort_values(["time_to_full_rollout_s", "plan"]).to_dict("records"):
        rows.append({
            "plan": r["plan"] + ("*" if r["given"] else ""),
            "steps %": r["steps"],
            "pause s": _num(r["pause_s"]),
            "every s": _num(r["interval_s"]),
            "fail lim": str(int(r["failure_limit"])),
            "min smp": _num(r["min_samples"]),
            "judge": r["judge"],
            "seeds": str(int(r["seeds"])),
            "full rollout s": _num(r["time_to_full_rollout_s"]),
            "false rb": _pct(r["false_rollback_rate"]),
            "detect": _pct(r["detection_rate"]),
            "users hurt": _num(r["blast_radius_users"]),
            "ok": "yes" if r["feasible"] else "no",
        })
    return pd.DataFrame(rows).to_string(index=False)


def _overrides_text(ov: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in ov.items())


def _summary_text(p: Plan) -> str:
    c = p.candidates
    level = f"{p.confidence:.0%}"
    confirmed = int((c["stage"] == "confirm").sum())
    lines = [
        f"Progressive rollout plan for {p.base.name!r}; bad candidate: {_overrides_text(p.bad_overrides)}",
        f"constraints: false rollbacks <= {_pct(p.max_false_rollback)}, catches >= {_pct(p.min_detection)} "
        "of bad candidates (point estimates over the seeds)",
        f"searched {len(c)} plans on seeds {p.search_seeds[0]}..{p.search_seeds[-1]} "
        f"({int(c['seeds'].min())} seeds each, {confirmed} confirmed on {len(p.search_seeds)}); "
        f"{p.runs} runs in {p.elapsed_s:.0f} s",
        "",
        "Pareto front (time to full rollout, false rollbacks, users hurt); * = the plan as given, "
        "ok = meets both constraints on its seeds:",
        _front_table(p.pareto),
        "",
        f"The plan as given ({p.given['plan']}): {_plan_line(p.given)}, on {p.given['seeds']} seeds",
        _figures(p.given),
        "",
    ]
    rec = p.recommended
    if p.feasible:
        lines.append(f"Recommended ({rec['plan']}, the fastest plan that meets both constraints): {_plan_line(rec)}")
    else:
        why = {"false_rollback": f"no plan keeps false rollbacks <= {_pct(p.max_false_rollback)}",
               "detection": f"no plan catches >= {_pct(p.min_detection)} of bad candidates",
               "both": "no plan meets both constraints at once"}[p.binding or "both"]
        lines.append(f"No plan meets the constraints ({why}); the closest ({rec['plan']}): {_plan_line(rec)}")
    lines += [f"  on the {rec['seeds']} search seeds", _figures(rec), "",
              f"Recheck on {p.recheck['seeds']} fresh seeds ({p.recheck['first_seed']}.."
              f"{p.recheck['first_seed'] + p.recheck['seeds'] - 1}):", _figures(p.recheck)]
    if p.meets_constraints:
        verdict = "meets the constraints on the fresh seeds"
        if not p.certified:
            verdict += (f"; the {level} intervals do not yet prove it (false-rollback upper bound "
                        f"{_pct(p.recheck['false_rollback_rate_high'])}, detection lower bound "
                        f"{_pct(p.recheck['detection_rate_low'])}): more seeds narrow them")
    else:
        misses = []
        if p.recheck["false_rollback_rate"] > p.max_false_rollback:
            misses.append(f"false rollbacks {_pct(p.recheck['false_rollback_rate'])} > {_pct(p.max_false_rollback)}")
        if p.recheck["detection_rate"] < p.min_detection:
            misses.append(f"catches {_pct(p.recheck['detection_rate'])} < {_pct(p.min_detection)}")
        verdict = "does NOT meet the constraints on the fresh seeds: " + "; ".join(misses)
    lines += [f"  -> {verdict}",
              f"value [{level} interval]: rates with Wilson intervals, means with Student-t intervals; "
              "a good run not promoted by the end counts as the run's duration"]
    return "\n".join(lines)

