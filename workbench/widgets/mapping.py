"""Widget state to scenario overrides: the one pure mapping behind the control panel.

The control panel (:mod:`workbench.widgets.panel`) keeps its state as a plain dict of
widget values (the keys of :data:`CONTROLS`). :func:`state_to_overrides` turns that
dict into the overrides :meth:`workbench.Scenario.with_overrides` and
:func:`workbench.run` accept, and :func:`state_from_scenario` reads the initial state
from a scenario. Nothing here imports ipywidgets, so the mapping is unit-tested
without a browser or a kernel.

Round trip: for every scenario file,
``scenario.with_overrides(state_to_overrides(state_from_scenario(scenario), scenario))``
has the same content as ``scenario``: a panel opened on a scenario runs that scenario
until a control is moved.

What each control changes (dotted paths as in ``workbench run --set``):

- ``duration_s``, ``seed``, ``rate_per_s`` -> ``duration_s``, ``seed``, ``traffic.rate_per_s``.
- ``strategy`` and its parameters -> the whole ``strategy`` table: the scenario's own
  table when it configures that kind, else :data:`workbench.scenario.presets.STRATEGY_PRESETS`
  (the same rule as :func:`workbench.compare`), with the panel's main parameters set.
- ``candidate_median_ms`` -> the candidate's latency scaled by ``new / old median``
  (lognormal: ``median_ms`` and ``p99_ms`` both scale, so the shape ``sigma`` is kept);
  ``candidate_noise`` -> ``models.candidate.noise``.
- fault controls -> the whole ``faults`` list: the scenario's faults the panel does not
  control are kept in place; a controlled fault is replaced by the control's values, or
  removed when its control is disabled; a newly enabled fault is appended. A fault
  ``duration`` of 0 means open-ended (until the end of the run).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scenario import LatencyDistribution, Scenario
from ..scenario.presets import STRATEGY_PRESETS, strategy_preset

__all__ = [
    "CONTROLS",
    "Control",
    "STRATEGY_KINDS",
    "STRATEGY_PARAMS",
    "FAULT_KINDS",
    "compare_specs",
    "find_scenarios",
    "state_from_scenario",
    "state_to_overrides",
    "strategy_table",
]

#: Strategies the panel offers (besides the scenario's own kind when it is another one).
STRATEGY_KINDS: tuple[str, ...] = ("ab", "canary", "progressive", "shadow", "blue_green", "bandit")

#: Fault controls: state-key prefix -> fault kind (the fault targets the candidate when it has a target).
FAULT_KINDS: dict[str, str] = {
    "spike": "latency_spike",
    "burst": "error_burst",
    "outage": "outage",
    "data_drift": "data_drift",
    "concept_drift": "concept_drift",
}


@dataclass(frozen=True)
class Control:
    """One control of the panel: its state key, label, widget type and range.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` or ``"seed"``;
    ``group`` is the panel section (``general``, a strategy kind, ``candidate`` or a
    fault prefix of :data:`FAULT_KINDS`). ``max_from_duration`` means the slider's
    maximum follows the run's duration (a start time must fall inside the run).
    """

    key: str
    description: str
    kind: str
    group: str
    min: float = 0.0
    max: float = 1.0
    step: float = 1.0
    options: tuple[str, ...] = ()
    max_from_duration: bool = False

    @property
    def css_class(self) -> str:
        """The CSS class of the widget, e.g. ``wb-slider-spike-multiplier``."""
        prefix = {"float": "slider", "int": "slider", "bool": "check", "choice": "select",
                  "seed": "text"}[self.kind]
        return f"wb-{prefix}-{self.key.replace('_', '-')}"


def _c(key, description, kind, group, lo=0.0, hi=1.0, step=1.0, options=(), from_duration=False):
    return Control(key, description, kind, group, lo, hi, step, tuple(options), from_duration)


#: Every control, in panel order. The state dict has exactly these keys.
CONTROLS: tuple[Control, ...] = (
    _c("duration_s", "duration (s)", "float", "general", 60, 3600, 60),
    _c("seed", "seed", "seed", "general", 0, 2**31 - 1, 1),
    _c("rate_per_s", "traffic (req/s)", "float", "general", 1, 200, 1),
    _c("strategy", "strategy", "choice", "general", options=STRATEGY_KINDS),
    _c("ab_candidate_fraction", "candidate share", "float", "ab", 0, 1, 0.01),
    _c("ab_sticky", "sticky users", "bool", "ab"),
    _c("canary_candidate_fraction", "canary share", "float", "canary", 0, 1, 0.01),
    _c("progressive_first_weight", "first step (%)", "float", "progressive", 1, 50, 1),
    _c("progressive_pause_s", "step pause (s)", "float", "progressive", 30, 1800, 30),
    _c("progressive_interval_s", "analysis every (s)", "float", "progressive", 10, 600, 10),
    _c("progressive_failure_limit", "failure limit", "int", "progressive", 0, 5, 1),
    _c("shadow_mirror_fraction", "mirror share", "float", "shadow", 0.01, 1, 0.01),
    _c("blue_green_switch_s", "switch at (s)", "float", "blue_green", 0, 3600, 30, from_duration=True),
    _c("bandit_algorithm", "algorithm", "choice", "bandit", options=("thompson", "epsilon_greedy")),
    _c("bandit_min_legacy_share", "min legacy share", "float", "bandit", 0, 1, 0.01),
    _c("candidate_median_ms", "median latency (ms)", "float", "candidate", 1, 500, 1),
    _c("candidate_noise", "prediction noise (sd)", "float", "candidate", 0, 2, 0.05),
    _c("spike_enabled", "latency spike", "bool", "spike"),
    _c("spike_start_s", "start (s)", "float", "spike", 0, 3600, 30, from_duration=True),
    _c("spike_duration_s", "duration (s, 0=open)", "float", "spike", 0, 3600, 30),
    _c("spike_multiplier", "latency x", "float", "spike", 1, 20, 0.5),
    _c("burst_enabled", "error burst", "bool", "burst"),
    _c("burst_start_s", "start (s)", "float", "burst", 0, 3600, 30, from_duration=True),
    _c("burst_duration_s", "duration (s, 0=open)", "float", "burst", 0, 3600, 30),
    _c("burst_error_rate", "error rate", "float", "burst", 0, 1, 0.01),
    _c("outage_enabled", "candidate outage", "bool", "outage"),
    _c("outage_start_s", "start (s)", "float", "outage", 0, 3600, 30, from_duration=True),
    _c("outage_duration_s", "duration (s, 0=open)", "float", "outage", 0, 3600, 30),
    _c("data_drift_enabled", "data drift", "bool", "data_drift"),
    _c("data_drift_feature", "feature", "choice", "data_drift"),
    _c("data_drift_start_s", "start (s)", "float", "data_drift", 0, 3600, 30, from_duration=True),
    _c("data_drift_shift", "mean shift", "float", "data_drift", -5, 5, 0.1),
    _c("data_drift_ramp_s", "ramp (s)", "float", "data_drift", 0, 3600, 30),
    _c("concept_drift_enabled", "concept drift", "bool", "concept_drift"),
    _c("concept_drift_feature", "feature", "choice", "concept_drift"),
    _c("concept_drift_start_s", "start (s)", "float", "concept_drift", 0, 3600, 30, from_duration=True),
    _c("concept_drift_weight_shift", "weight shift", "float", "concept_drift", -3, 3, 0.1),
)
_KEYS = tuple(c.key for c in CONTROLS)

#: Strategy parameter keys of the state -> field of that kind's strategy table.
STRATEGY_PARAMS: dict[str, dict[str, str]] = {
    "ab": {"ab_candidate_fraction": "candidate_fraction", "ab_sticky": "sticky"},
    "canary": {"canary_candidate_fraction": "candidate_fraction"},
    "progressive": {},  # steps are rebuilt, see strategy_table
    "shadow": {"shadow_mirror_fraction": "mirror_fraction"},
    "blue_green": {"blue_green_switch_s": "switch_s"},
    "bandit": {"bandit_algorithm": "algorithm", "bandit_min_legacy_share": "min_legacy_share"},
}


# --------------------------------------------------------------------------- scenarios on disk
def find_scenarios(root: str | os.PathLike | None = None) -> list[Path]:
    """Scenario files (``*.toml``) of the first ``scenarios/`` directory found, sorted.

    Looks in ``root`` (a repository root or a ``scenarios`` directory) when given,
    else next to the package (its repository root), then the current directory and
    its parent (notebooks run from ``notebooks/``).
    """
    if root is not None:
        base = Path(root)
        candidates = [base if base.name == "scenarios" else base / "scenarios"]
    else:
        here = Path(__file__).resolve().parents[2]
        candidates = [here / "scenarios", Path.cwd() / "scenarios", Path.cwd().parent / "scenarios"]
    for d in candidates:
        if d.is_dir():
            files = sorted(d.glob("*.toml"))
            if files:
                return files
    return []


# --------------------------------------------------------------------------- scenario -> state
def _controlled(scenario: Scenario) -> dict[str, int]:
    """Index in ``scenario.faults`` of the fault each fault control stands for."""
    found: dict[str, int] = {}
    for i, f in enumerate(scenario.faults):
        for prefix, kind in FAULT_KINDS.items():
            if prefix in found or f.kind != kind:
                continue
            if kind in ("latency_spike", "error_burst", "outage") and f.target != "candidate":
                continue
            found[prefix] = i
            break
    return found


def _strategy_base(scenario: Scenario, kind: str) -> dict[str, Any]:
    if scenario.strategy.kind == kind:
        return scenario.strategy.model_dump(mode="json")
    if kind not in STRATEGY_PRESETS:
        raise ValueError(f"state['strategy']: unknown strategy {kind!r}; expected one of {_kinds(scenario)}")
    return strategy_preset(kind)


def _kinds(scenario: Scenario) -> list[str]:
    out = list(STRATEGY_KINDS)
    for extra in ("single", scenario.strategy.kind):
        if extra not in out:
            out.append(extra)
    return out


def _median_ms(latency: LatencyDistribution) -> float:
    return float(latency.median_ms)


def state_from_scenario(scenario: Scenario) -> dict[str, Any]:
    """The panel's initial state: every control set to what ``scenario`` says.

    Strategy parameters of kinds the scenario does not use take the defaults of
    :data:`~workbench.scenario.presets.STRATEGY_PRESETS`; fault controls without a
    matching fault in the scenario are disabled, with typical values (a 4x latency
    spike for a sixth of the run starting at a third, 10 % errors, a 1-sd data drift).

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {},
    ...     "candidate": {}}, "strategy": {"kind": "canary", "candidate_fraction": 0.1}})
    >>> state = state_from_scenario(sc)
    >>> state["strategy"], state["canary_candidate_fraction"], state["spike_enabled"]
    ('canary', 0.1, False)
    """
    dur = float(scenario.duration_s)
    features = scenario.feature_names
    st: dict[str, Any] = {
        "duration_s": dur,
        "seed": int(scenario.seed),
        "rate_per_s": float(scenario.traffic.rate_per_s),
        "strategy": scenario.strategy.kind,
    }
    tables = {k: _strategy_base(scenario, k) for k in STRATEGY_KINDS}
    for kind, params in STRATEGY_PARAMS.items():
        for key, field in params.items():
            st[key] = tables[kind][field]
    prog = tables["progressive"]
    st["progressive_first_weight"] = float(prog["steps"][0]["weight"])
    st["progressive_pause_s"] = float(prog["steps"][0].get("pause_s") or 300.0)
    st["progressive_interval_s"] = float(prog["interval_s"])
    st["progressive_failure_limit"] = int(prog.get("failure_limit", 0))
    for key in ("ab_candidate_fraction", "canary_candidate_fraction", "shadow_mirror_fraction",
                "blue_green_switch_s", "bandit_min_legacy_share"):
        st[key] = float(st[key])
    st["ab_sticky"] = bool(st["ab_sticky"])
    cand = scenario.models.get("candidate") or scenario.models["legacy"]
    st["candidate_median_ms"] = _median_ms(cand.latency)
    st["candidate_noise"] = float(cand.noise)
    # fault controls: typical values, then the scenario's own fault where there is one
    third, sixth = round(dur / 3.0), max(30.0, round(dur / 6.0))
    st.update({
        "spike_enabled": False, "spike_start_s": float(third), "spike_duration_s": float(sixth),
        "spike_multiplier": 4.0,
        "burst_enabled": False, "burst_start_s": float(third), "burst_duration_s": float(sixth),
        "burst_error_rate": 0.1,
        "outage_enabled": False, "outage_start_s": float(round(dur / 2.0)), "outage_duration_s": 60.0,
        "data_drift_enabled": False, "data_drift_feature": features[0], "data_drift_start_s": float(third),
        "data_drift_shift": 1.0, "data_drift_ramp_s": 300.0,
        "concept_drift_enabled": False, "concept_drift_feature": features[0],
        "concept_drift_start_s": float(third), "concept_drift_weight_shift": 0.8,
    })
    for prefix, i in _controlled(scenario).items():
        f = scenario.faults[i]
        st[f"{prefix}_enabled"] = True
        st[f"{prefix}_start_s"] = float(f.start_s)
        if prefix != "data_drift" and prefix != "concept_drift":
            st[f"{prefix}_duration_s"] = 0.0 if f.duration_s is None else float(f.duration_s)
        if prefix == "spike":
            st["spike_multiplier"] = float(f.multiplier)
        elif prefix == "burst":
            st["burst_error_rate"] = float(f.error_rate)
        elif prefix == "data_drift":
            st["data_drift_feature"] = f.feature
            st["data_drift_shift"] = float(f.shift)
            st["data_drift_ramp_s"] = float(f.ramp_s)
        elif prefix == "concept_drift" and f.weight_shift:
            name = next(iter(f.weight_shift))
            st["concept_drift_feature"] = name
            st["concept_drift_weight_shift"] = float(f.weight_shift[name])
    return st


# --------------------------------------------------------------------------- state -> overrides
def _check_state(state: Mapping[str, Any], scenario: Scenario) -> None:
    if not isinstance(state, Mapping):
        raise ValueError(f"state: expected a dict of widget values, got {type(state).__name__}")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(f"state: missing key(s) {missing}")
    unknown = sorted(set(state) - set(_KEYS))
    if unknown:
        raise ValueError(f"state: unknown key(s) {unknown}")
    if state["strategy"] not in _kinds(scenario):
        raise ValueError(f"state['strategy']: unknown strategy {state['strategy']!r}; "
                         f"expected one of {_kinds(scenario)}")
    for c in CONTROLS:
        if c.kind in ("float", "int", "seed"):
            v = state[c.key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"state[{c.key!r}]: expected a finite number, got {v!r}")
    for key in ("data_drift_feature", "concept_drift_feature"):
        if state[key] not in scenario.feature_names:
            raise ValueError(f"state[{key!r}]: unknown feature {state[key]!r}; "
                             f"expected one of {scenario.feature_names}")


def strategy_table(state: Mapping[str, Any], scenario: Scenario, kind: str | None = None) -> dict[str, Any]:
    """The whole ``strategy`` table for ``kind`` (default: the state's strategy).

    Starts from the scenario's own table when it configures that kind, else from
    :data:`~workbench.scenario.presets.STRATEGY_PRESETS`, then sets the panel's
    parameters. Progressive: the first step gets ``progressive_first_weight``, later
    steps not above it are dropped, every step but the last pauses
    ``progressive_pause_s``.
    """
    _check_state(state, scenario)
    kind = state["strategy"] if kind is None else kind
    table = _strategy_base(scenario, kind)
    for key, field in STRATEGY_PARAMS.get(kind, {}).items():
        value = state[key]
        table[field] = bool(value) if field == "sticky" else (str(value) if field == "algorithm" else float(value))
    if kind == "progressive":
        first = float(state["progressive_first_weight"])
        pause = float(state["progressive_pause_s"])
        orig = [dict(s) for s in table["steps"]]
        steps = [{**orig[0], "weight": first}] + [s for s in orig[1:] if s["weight"] > first]
        if len(orig) > 1 and orig[-1]["weight"] <= first:
            steps.append({**orig[-1], "weight": 100.0})  # the final step was not above the first
        for s in steps[:-1]:
            s["pause_s"] = pause
        if steps[-1].get("pause_s") is None:
            steps[-1].pop("pause_s", None)
        table["steps"] = steps
        table["interval_s"] = float(state["progressive_interval_s"])
        table["failure_limit"] = int(state["progressive_failure_limit"])
    return table


def _fault(prefix: str, state: Mapping[str, Any], original: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The fault a control stands for, or None when the control is off or the fault does nothing."""
    if not state[f"{prefix}_enabled"]:
        return None
    kind = FAULT_KINDS[prefix]
    out = dict(original) if original is not None else {"kind": kind}
    out["start_s"] = float(state[f"{prefix}_start_s"])
    if prefix in ("spike", "burst", "outage"):
        out["target"] = "candidate"
        duration = float(state[f"{prefix}_duration_s"])
        out["duration_s"] = duration if duration > 0 else None
    if prefix == "spike":
        out["multiplier"] = float(state["spike_multiplier"])
        if out["multiplier"] == 1.0 and not out.get("add_ms"):
            return None  # a 1x spike with nothing added changes nothing: no fault
    elif prefix == "burst":
        out["error_rate"] = float(state["burst_error_rate"])
    elif prefix == "data_drift":
        out["feature"] = state["data_drift_feature"]
        out["shift"] = float(state["data_drift_shift"])
        out["ramp_s"] = float(state["data_drift_ramp_s"])
    elif prefix == "concept_drift":
        shifts = dict(out.get("weight_shift") or {})
        if shifts:
            shifts.pop(next(iter(shifts)))  # the control stands for the first entry
        out["weight_shift"] = {state["concept_drift_feature"]: float(state["concept_drift_weight_shift"]),
                               **shifts}
    return out


def state_to_overrides(state: Mapping[str, Any], scenario: Scenario) -> dict[str, Any]:
    """Overrides (dotted paths and whole tables) that make ``scenario`` what the panel shows.

    Parameters
    ----------
    state : dict
        Widget values, one per key of :data:`CONTROLS` (see :func:`state_from_scenario`).
    scenario : Scenario
        The scenario picked in the panel.

    Returns
    -------
    dict
        For :meth:`Scenario.with_overrides` or ``workbench.run(..., overrides=...)``.
        A candidate model is added (a copy of legacy) when the strategy or a
        candidate fault needs one and the scenario has none; a rollback policy is
        switched off under the ``single`` strategy, which never serves a candidate.

    Raises
    ------
    ValueError
        A missing or unknown key, an unknown strategy or feature, a non-numeric value.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {},
    ...     "candidate": {}}, "strategy": {"kind": "canary"}})
    >>> state = state_from_scenario(sc) | {"spike_enabled": True, "spike_start_s": 120.0,
    ...     "spike_duration_s": 60.0, "spike_multiplier": 5.0}
    >>> ov = state_to_overrides(state, sc)
    >>> ov["faults"]
    [{'kind': 'latency_spike', 'start_s': 120.0, 'target': 'candidate', 'duration_s': 60.0, 'multiplier': 5.0}]
    >>> sc.with_overrides(ov).faults[0].multiplier
    5.0
    """
    _check_state(state, scenario)
    ov: dict[str, Any] = {
        "duration_s": float(state["duration_s"]),
        "seed": int(state["seed"]),
        "traffic.rate_per_s": float(state["rate_per_s"]),
        "strategy": strategy_table(state, scenario),
    }
    # faults: keep the ones no control stands for, replace or drop the controlled ones
    controlled = _controlled(scenario)
    by_index = {i: p for p, i in controlled.items()}
    originals = [f.model_dump(mode="json") for f in scenario.faults]
    faults: list[dict[str, Any]] = []
    for i, raw in enumerate(originals):
        if i in by_index:
            made = _fault(by_index[i], state, raw)
            if made is not None:
                faults.append(made)
        else:
            faults.append(raw)
    for prefix in FAULT_KINDS:
        if prefix not in controlled:
            made = _fault(prefix, state, None)
            if made is not None:
                faults.append(made)
    ov["faults"] = faults
    # the candidate model
    needs = state["strategy"] != "single" or any(f.get("target") == "candidate" for f in faults)
    st = scenario.strategy
    if state["strategy"] == st.kind and st.kind in ("ab", "bandit") and "candidate" not in st.arms:
        needs = any(f.get("target") == "candidate" for f in faults)  # an A/B/n split of other models
    if "candidate" in scenario.models:
        cand = scenario.models["candidate"]
        ov.update(_candidate_latency(cand.latency, float(state["candidate_median_ms"]), "models.candidate.latency."))
        ov["models.candidate.noise"] = float(state["candidate_noise"])
    elif needs:
        table = scenario.models["legacy"].model_dump(mode="json", exclude_none=True)
        table.pop("version", None)
        lat = dict(table["latency"])
        for path, value in _candidate_latency(scenario.models["legacy"].latency,
                                              float(state["candidate_median_ms"]), "").items():
            lat[path] = value
        table["latency"] = lat
        table["noise"] = float(state["candidate_noise"])
        ov["models.candidate"] = table
    if state["strategy"] == "single" and scenario.rollback is not None and scenario.rollback.enabled:
        ov["rollback.enabled"] = False
    return ov


def _plain(value):
    """A distribution field as the mapping holds it: a list for a table's tuple, else a float."""
    return list(value) if isinstance(value, tuple) else float(value)


def _candidate_latency(latency: LatencyDistribution, median_ms: float, prefix: str) -> dict[str, float]:
    """Overrides of the latency's parameters that move its median to ``median_ms``, keeping its shape."""
    if not median_ms > 0:
        raise ValueError(f"state['candidate_median_ms']: must be positive, got {median_ms!r}")
    ratio = median_ms / _median_ms(latency)
    scaled = latency.scaled(ratio)
    return {f"{prefix}{name}": _plain(getattr(scaled, name)) for name in scaled.scale_fields}


def compare_specs(state: Mapping[str, Any], scenario: Scenario, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """Strategy tables for :func:`workbench.compare`: each kind with the panel's parameters.

    Comparing ``canary`` uses the canary share set in the panel, exactly as selecting
    ``canary`` and pressing Run would; each table carries ``label = kind``.

    Raises
    ------
    ValueError
        Fewer than two or more than four strategies, a repeated or unknown kind.
    """
    kinds = list(kinds)
    if not 2 <= len(kinds) <= 4:
        raise ValueError(f"kinds: choose two to four strategies, got {len(kinds)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds: a strategy is repeated in {kinds}")
    for k in kinds:
        if k not in _kinds(scenario) or k == "single":
            raise ValueError(f"kinds: unknown strategy {k!r}; expected some of {STRATEGY_KINDS}")
    return [strategy_table(state, scenario, k) | {"label": k} for k in kinds]
