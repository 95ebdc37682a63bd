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
until a control is moved. A section of the scenario (a strategy's gates, its judge,
``[rollback]``, ``[monitoring]``, a model's autoscaling) is rewritten only when one of
its controls differs from what the scenario says, so what the panel does not show (a
second gate's name, a detector's other parameters) is kept as written.

What each control changes (dotted paths as in ``workbench run --set``):

- ``duration_s``, ``seed``, ``rate_per_s`` -> ``duration_s``, ``seed``, ``traffic.rate_per_s``.
- ``strategy`` and its parameters (:data:`STRATEGY_PARAMS`, the progressive steps, the
  first gate of progressive and blue/green, the progressive judge) -> the whole
  ``strategy`` table: the scenario's own table when it configures that kind, else
  :data:`workbench.scenario.presets.STRATEGY_PRESETS` (the same rule as
  :func:`workbench.compare`), with the panel's parameters set.
- ``candidate_median_ms`` -> the candidate's latency scaled by ``new / old median``
  (lognormal: ``median_ms`` and ``p99_ms`` both scale, so the shape ``sigma`` is kept);
  ``candidate_noise`` -> ``models.candidate.noise``.
- fault controls -> the whole ``faults`` list: the scenario's faults the panel does not
  control are kept in place; a controlled fault is replaced by the control's values, or
  removed when its control is disabled; a newly enabled fault is appended. A fault
  ``duration`` of 0 means open-ended (until the end of the run).
- ``rollback_*`` -> the whole ``rollback`` table (its first health threshold);
  ``monitor_*`` and ``detector_*`` -> the whole ``monitoring`` table (its first
  detector); ``autoscaling_*`` -> ``models.<autoscaling_model>.autoscaling`` (and that
  model's ``replicas`` when the initial fleet falls outside the new bounds).

:func:`scenario_from_state`, :func:`save_state` and :func:`load_state` save the panel's
scenario as a TOML file (:meth:`Scenario.to_toml`) and open one again.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scenario import (
    ABStrategy,
    AutoscalingConfig,
    BanditStrategy,
    BlueGreenStrategy,
    CanaryStrategy,
    DetectorSpec,
    Gate,
    InterleavingStrategy,
    JudgeConfig,
    LatencyDistribution,
    MonitoringConfig,
    ProgressiveStrategy,
    RollbackConfig,
    RollbackThreshold,
    Scenario,
    ScenarioError,
    ShadowStrategy,
    SingleStrategy,
    load_scenario,
)
from ..scenario.presets import STANDARD_GATES, STRATEGY_PRESETS, strategy_preset
from ..strategies.gates import SEQUENTIAL_DEFAULT_MARGINS

__all__ = [
    "CONTROLS",
    "Control",
    "DETECTOR_PARAMS",
    "GATED_KINDS",
    "STRATEGY_KINDS",
    "STRATEGY_PARAMS",
    "FAULT_KINDS",
    "SWITCHES",
    "TABS",
    "applicable",
    "choice_options",
    "compare_specs",
    "find_scenarios",
    "inactive",
    "load_state",
    "save_state",
    "scenario_from_state",
    "state_from_scenario",
    "state_to_overrides",
    "strategy_table",
]

#: Strategies the panel offers (besides the scenario's own kind when it is another one).
STRATEGY_KINDS: tuple[str, ...] = ("ab", "canary", "progressive", "shadow", "blue_green", "bandit")

#: Strategies analysed by threshold gates: each has its own gate and policy controls.
GATED_KINDS: tuple[str, ...] = ("progressive", "blue_green")

#: Fault controls: state-key prefix -> fault kind (the fault targets the candidate when it has a target).
FAULT_KINDS: dict[str, str] = {
    "spike": "latency_spike",
    "burst": "error_burst",
    "outage": "outage",
    "data_drift": "data_drift",
    "concept_drift": "concept_drift",
}

#: The main parameter of each change detector: name -> (parameter, its default, slider min, max, step).
#: Defaults are the detectors' own (river's constructors and :class:`~workbench.monitoring.detectors.Cusum`).
DETECTOR_PARAMS: dict[str, tuple[str, float, float, float, float]] = {
    "adwin": ("delta", 0.002, 0.0001, 0.2, 0.0001),
    "page_hinkley": ("threshold", 50.0, 1.0, 500.0, 1.0),
    "kswin": ("alpha", 0.005, 0.0001, 0.1, 0.0001),
    "ddm": ("drift_threshold", 3.0, 2.0, 6.0, 0.1),
    "eddm": ("beta", 0.9, 0.5, 0.94, 0.01),
    "hddm_a": ("drift_confidence", 0.001, 0.0001, 0.1, 0.0001),
    "cusum": ("h", 5.0, 0.5, 20.0, 0.5),
}

_ROLLBACK_TRIGGERS: tuple[str, ...] = typing.get_args(typing.get_args(RollbackConfig.model_fields["triggers"].annotation)[0])


def _literal(model: type, field: str) -> tuple[str, ...]:
    """The values a ``Literal`` field of a scenario table accepts, in the schema's order."""
    return tuple(typing.get_args(model.model_fields[field].annotation))


@dataclass(frozen=True)
class Control:
    """One control of the panel: its state key, label, widget type and range.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` or ``"seed"``;
    ``group`` is the panel section: one of the groups of :data:`TABS` (``general``, a
    strategy kind, ``split``, ``candidate``, a fault prefix of :data:`FAULT_KINDS`,
    ``gates``, ``policy``, ``judge``, ``rollback``, ``monitors``, ``drift_monitor``,
    ``detectors``, ``autoscaling``). ``max_from_duration`` means the slider's maximum
    follows the run's duration (a start time must fall inside the run). A choice
    whose options depend on the scenario (strategies, features, models) lists typical
    ones in ``options``; :func:`choice_options` gives the scenario's.
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


def _gate_controls(p: str) -> tuple[Control, ...]:
    return (
        _c(f"{p}_gate_enabled", "first gate", "bool", "gates"),
        _c(f"{p}_gate_metric", "gate metric", "choice", "gates", options=_literal(Gate, "metric")),
        _c(f"{p}_gate_threshold", "gate threshold", "float", "gates", 0, 500, 0.001),
        _c(f"{p}_gate_direction", "gate fails when", "choice", "gates", options=_literal(Gate, "direction")),
        _c(f"{p}_gate_min_samples", "gate min samples", "int", "gates", 1, 1000, 1),
        _c(f"{p}_gate_relative", "relative to legacy", "bool", "gates"),
    )


_INCONCLUSIVE = _literal(ProgressiveStrategy, "inconclusive")

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
    _c("shadow_mirror_fraction", "mirror share", "float", "shadow", 0.01, 1, 0.01),
    _c("blue_green_switch_s", "switch at (s)", "float", "blue_green", 0, 3600, 30, from_duration=True),
    _c("bandit_algorithm", "algorithm", "choice", "bandit", options=_literal(BanditStrategy, "algorithm")),
    _c("bandit_min_legacy_share", "min legacy share", "float", "bandit", 0, 1, 0.01),
    _c("interleaving_method", "interleaving method", "choice", "interleaving",
       options=_literal(InterleavingStrategy, "method")),
    _c("interleaving_click_model", "click model", "choice", "interleaving",
       options=_literal(InterleavingStrategy, "click_model")),
    _c("interleaving_k", "list length k", "int", "interleaving", 1, 50, 1),
    _c("interleaving_n_items", "catalogue items", "int", "interleaving", 10, 20_000, 10),
    _c("interleaving_legacy_noise_sd", "legacy ranking noise", "float", "interleaving", 0, 3, 0.05),
    _c("interleaving_candidate_noise_sd", "candidate ranking noise", "float", "interleaving", 0, 3, 0.05),
    _c("interleaving_catalogue_seed", "catalogue seed", "seed", "interleaving", 0, 2**31 - 1, 1),
    _c("canary_split", "split by", "choice", "split", options=_literal(CanaryStrategy, "split")),
    _c("progressive_split", "split by", "choice", "split", options=_literal(ProgressiveStrategy, "split")),
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
    # gates of the gated strategies, and when their analyses run
    *_gate_controls("progressive"),
    _c("progressive_interval_s", "analysis every (s)", "float", "gates", 10, 600, 10),
    _c("progressive_window_s", "analysis window (s, 0=step)", "float", "gates", 0, 1800, 30),
    *_gate_controls("blue_green"),
    _c("blue_green_interval_s", "analysis every (s)", "float", "gates", 5, 600, 5),
    _c("blue_green_window_s", "analysis window (s)", "float", "gates", 10, 1800, 10),
    # what failed and inconclusive analyses do
    _c("progressive_failure_limit", "failure limit", "int", "policy", 0, 5, 1),
    _c("progressive_consecutive", "count failures in a row", "bool", "policy"),
    _c("progressive_inconclusive", "when inconclusive", "choice", "policy", options=_INCONCLUSIVE),
    _c("progressive_rollback_on", "roll back at", "choice", "policy",
       options=_literal(ProgressiveStrategy, "rollback_on")),
    _c("blue_green_failure_limit", "failure limit", "int", "policy", 0, 5, 1),
    _c("blue_green_inconclusive", "when inconclusive", "choice", "policy",
       options=_literal(BlueGreenStrategy, "inconclusive")),
    # the progressive strategy's statistical judge
    _c("judge_kind", "judge", "choice", "judge", options=_literal(JudgeConfig, "kind")),
    _c("judge_metric", "judge metric", "choice", "judge", options=_literal(JudgeConfig, "metric")),
    _c("judge_direction", "bad direction", "choice", "judge", options=_literal(JudgeConfig, "direction")),
    _c("judge_alpha", "alpha", "float", "judge", 0.001, 0.2, 0.001),
    _c("judge_margin", "margin (metric units)", "float", "judge", 0, 50, 0.001),
    _c("judge_pass_threshold", "pass score", "float", "judge", 0, 100, 1),
    _c("judge_marginal_threshold", "marginal score", "float", "judge", 0, 100, 1),
    _c("judge_min_samples", "judge min samples", "int", "judge", 1, 2000, 1),
    # automated rollback on monitor alarms
    _c("rollback_enabled", "automated rollback", "bool", "rollback"),
    _c("rollback_on_health", "on health breach", "bool", "rollback"),
    _c("rollback_on_performance", "on performance alarm", "bool", "rollback"),
    _c("rollback_on_drift", "on drift alarm", "bool", "rollback"),
    _c("rollback_on_detector", "on detector alarm", "bool", "rollback"),
    _c("rollback_threshold_metric", "health metric", "choice", "rollback",
       options=_literal(RollbackThreshold, "metric")),
    _c("rollback_threshold", "health threshold", "float", "rollback", 0, 1000, 0.001),
    _c("rollback_threshold_direction", "breaches when", "choice", "rollback",
       options=_literal(RollbackThreshold, "direction")),
    _c("rollback_consecutive", "breaches in a row", "int", "rollback", 1, 10, 1),
    _c("rollback_min_samples", "min samples", "int", "rollback", 1, 1000, 1),
    _c("rollback_cooldown_s", "alert cool-down (s)", "float", "rollback", 0, 600, 10),
    _c("rollback_performance_relative", "only if legacy is fine", "bool", "rollback"),
    # monitors
    _c("monitors_enabled", "monitoring", "bool", "monitors"),
    _c("monitor_interval_s", "evaluate every (s)", "float", "monitors", 1, 300, 1),
    _c("monitor_health_window_s", "health window (s)", "float", "monitors", 10, 600, 10),
    _c("monitor_performance", "performance (labels)", "bool", "monitors"),
    _c("monitor_performance_reference_n", "reference labels", "int", "monitors", 20, 5000, 10),
    _c("monitor_performance_window_n", "labels per window", "int", "monitors", 20, 2000, 10),
    _c("monitor_drift", "feature drift", "bool", "drift_monitor"),
    _c("monitor_drift_reference_n", "reference arrivals", "int", "drift_monitor", 20, 20_000, 100),
    _c("monitor_drift_window_n", "window arrivals", "int", "drift_monitor", 20, 20_000, 100),
    _c("monitor_drift_interval_s", "check every (s)", "float", "drift_monitor", 10, 600, 10),
    _c("monitor_drift_consecutive", "flags in a row", "int", "drift_monitor", 1, 10, 1),
    _c("detector_enabled", "change detector", "bool", "detectors"),
    _c("detector_name", "detector", "choice", "detectors", options=_literal(DetectorSpec, "name")),
    _c("detector_signal", "signal", "choice", "detectors", options=_literal(DetectorSpec, "signal")),
    _c("detector_model", "model", "choice", "detectors", options=("candidate", "legacy")),
    *(_c(f"detector_{name}_{param}", param.replace("_", " "), "float", "detectors", lo, hi, step)
      for name, (param, _default, lo, hi, step) in DETECTOR_PARAMS.items()),
    # autoscaling of one model's fleet
    _c("autoscaling_enabled", "autoscaling", "bool", "autoscaling"),
    _c("autoscaling_model", "fleet", "choice", "autoscaling", options=("legacy", "candidate")),
    _c("autoscaling_min_replicas", "min replicas", "int", "autoscaling", 1, 50, 1),
    _c("autoscaling_max_replicas", "max replicas", "int", "autoscaling", 1, 100, 1),
    _c("autoscaling_target_utilisation", "target utilisation", "float", "autoscaling", 0.1, 1, 0.05),
    _c("autoscaling_cooldown_s", "scale-down cool-down (s)", "float", "autoscaling", 0, 1800, 30),
    _c("autoscaling_sync_period_s", "sync every (s)", "float", "autoscaling", 1, 120, 1),
    _c("autoscaling_provisioning_delay_s", "provisioning delay (s)", "float", "autoscaling", 0, 600, 5),
)
_KEYS = tuple(c.key for c in CONTROLS)
_BY_KEY = {c.key: c for c in CONTROLS}
_DETECTOR_PARAM_KEYS = {f"detector_{name}_{spec[0]}": name for name, spec in DETECTOR_PARAMS.items()}

#: Tabs of the panel: title -> the groups of :data:`CONTROLS` it shows, in order.
TABS: dict[str, tuple[str, ...]] = {
    "setup": ("general", "ab", "canary", "progressive", "shadow", "blue_green", "bandit", "interleaving", "split"),
    "faults and drift": ("candidate", "spike", "burst", "outage", "data_drift", "concept_drift"),
    "gates and rollback": ("gates", "policy", "judge", "rollback"),
    "monitors": ("monitors", "drift_monitor", "detectors", "autoscaling"),
}

#: Strategy parameter keys of the state -> field of that kind's strategy table.
STRATEGY_PARAMS: dict[str, dict[str, str]] = {
    "ab": {"ab_candidate_fraction": "candidate_fraction", "ab_sticky": "sticky"},
    "canary": {"canary_candidate_fraction": "candidate_fraction", "canary_split": "split"},
    "progressive": {  # steps, window, gates and judge: see strategy_table
        "progressive_split": "split", "progressive_interval_s": "interval_s",
        "progressive_failure_limit": "failure_limit", "progressive_consecutive": "consecutive",
        "progressive_inconclusive": "inconclusive", "progressive_rollback_on": "rollback_on",
    },
    "shadow": {"shadow_mirror_fraction": "mirror_fraction"},
    "blue_green": {  # gates: see strategy_table
        "blue_green_switch_s": "switch_s", "blue_green_interval_s": "interval_s",
        "blue_green_window_s": "window_s", "blue_green_failure_limit": "failure_limit",
        "blue_green_inconclusive": "inconclusive",
    },
    "bandit": {"bandit_algorithm": "algorithm", "bandit_min_legacy_share": "min_legacy_share"},
    "interleaving": {
        "interleaving_method": "method", "interleaving_click_model": "click_model", "interleaving_k": "k",
        "interleaving_n_items": "n_items", "interleaving_legacy_noise_sd": "legacy_noise_sd",
        "interleaving_candidate_noise_sd": "candidate_noise_sd",
        "interleaving_catalogue_seed": "catalogue_seed",
    },
}


def _switches() -> dict[str, str]:
    out: dict[str, str] = {}
    for c in CONTROLS:
        g = c.group
        if g in FAULT_KINDS and c.key != f"{g}_enabled":
            out[c.key] = f"{g}_enabled"
        elif g == "gates" and "_gate_" in c.key and not c.key.endswith("_gate_enabled"):
            out[c.key] = c.key.split("_gate_")[0] + "_gate_enabled"
        elif g == "rollback" and c.key != "rollback_enabled":
            out[c.key] = "rollback_enabled"
        elif g == "monitors" and c.key != "monitors_enabled":
            out[c.key] = ("monitor_performance" if c.key.startswith("monitor_performance_")
                          else "monitors_enabled")
        elif g == "drift_monitor":
            out[c.key] = "monitor_drift" if c.key != "monitor_drift" else "monitors_enabled"
        elif g == "detectors":
            out[c.key] = "detector_enabled" if c.key != "detector_enabled" else "monitors_enabled"
        elif g == "autoscaling" and c.key not in ("autoscaling_enabled", "autoscaling_model"):
            out[c.key] = "autoscaling_enabled"
    return out


#: Control key -> the on/off control it depends on (a switch may itself depend on another).
#: The panel greys a control out while its switch, or its switch's switch, is off: see :func:`inactive`.
SWITCHES: dict[str, str] = _switches()

_STRATEGY_CLASSES: dict[str, type] = {
    "single": SingleStrategy, "ab": ABStrategy, "canary": CanaryStrategy, "progressive": ProgressiveStrategy,
    "shadow": ShadowStrategy, "blue_green": BlueGreenStrategy, "bandit": BanditStrategy,
    "interleaving": InterleavingStrategy,
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


# --------------------------------------------------------------------------- which controls apply
def choice_options(scenario: Scenario) -> dict[str, tuple[str, ...]]:
    """The options of every choice control for ``scenario``.

    The strategy offers :data:`STRATEGY_KINDS`, ``single`` and the scenario's own
    kind; the drift features are the scenario's features; a detector watches one of
    the scenario's models (or the candidate the panel adds); autoscaling sizes one of
    the scenario's models. The other choices are the schema's values.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {}}})
    >>> choice_options(sc)["autoscaling_model"], choice_options(sc)["detector_model"]
    (('legacy',), ('candidate', 'legacy'))
    """
    out = {c.key: c.options for c in CONTROLS if c.kind == "choice"}
    out["strategy"] = tuple(_kinds(scenario))
    out["data_drift_feature"] = out["concept_drift_feature"] = tuple(scenario.feature_names)
    out["detector_model"] = tuple(dict.fromkeys(["candidate", *scenario.models]))
    out["autoscaling_model"] = tuple(scenario.models)
    return out


def applicable(state: Mapping[str, Any], scenario: Scenario) -> set[str]:
    """Keys of the controls that mean something for the state's strategy and choices.

    A strategy kind's group applies under that kind only; the split under canary and
    progressive; gates and the failure policy under progressive and blue/green (each its
    own); the judge under progressive, with its parameters for the chosen judge
    (``threshold`` has none: the gates decide); the rollback policy (which watches the
    model named ``candidate``) under every strategy but ``single`` and an A/B/n split of
    other models; the candidate's settings under every strategy but ``single``; a detector's parameter for the chosen detector only. Controls that
    are merely switched off still apply (see :func:`inactive`). The panel hides the rest.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {},
    ...     "candidate": {}}, "strategy": {"kind": "canary"}})
    >>> keys = applicable(state_from_scenario(sc), sc)
    >>> "canary_split" in keys, "progressive_split" in keys, "progressive_gate_metric" in keys
    (True, False, False)
    """
    kind = state["strategy"]
    out: set[str] = set()
    for c in CONTROLS:
        g, key = c.group, c.key
        if g in _STRATEGY_CLASSES:
            ok = g == kind
        elif g in ("split", "gates", "policy"):
            ok = key.startswith(f"{kind}_")
        elif g == "judge":
            judge = state["judge_kind"]
            ok = kind == "progressive" and (
                key == "judge_kind"
                or (judge == "sequential" and key in ("judge_metric", "judge_direction", "judge_alpha",
                                                      "judge_margin", "judge_min_samples"))
                or (judge == "kayenta" and key in ("judge_direction", "judge_pass_threshold",
                                                   "judge_marginal_threshold", "judge_min_samples")))
        elif g == "rollback":
            ok = kind != "single" and not _other_arms(state, scenario)
        elif g == "candidate":
            ok = kind != "single"  # one model serves everyone: a candidate's settings would change nothing
        elif key in _DETECTOR_PARAM_KEYS:
            ok = _DETECTOR_PARAM_KEYS[key] == state["detector_name"]
        else:
            ok = True
        if ok:
            out.add(key)
    return out


def _other_arms(state: Mapping[str, Any], scenario: Scenario) -> bool:
    """Whether the state runs the scenario's own A/B/n split (or bandit) of models other than ``candidate``."""
    st = scenario.strategy
    return state["strategy"] == st.kind and st.kind in ("ab", "bandit") and "candidate" not in st.arms


def inactive(state: Mapping[str, Any]) -> set[str]:
    """Keys of the controls whose switch (see :data:`SWITCHES`), or that switch's own, is off.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {}}})
    >>> off = inactive(state_from_scenario(sc))
    >>> "spike_multiplier" in off, "spike_enabled" in off, "detector_name" in off
    (True, False, True)
    """
    out: set[str] = set()
    for key in _KEYS:
        switch = SWITCHES.get(key)
        while switch is not None:
            if not state[switch]:
                out.add(key)
                break
            switch = SWITCHES.get(switch)
    return out


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
    """The ``strategy`` table ``kind`` starts from: the scenario's own, else the preset (as written)."""
    if scenario.strategy.kind == kind:
        return scenario.strategy.model_dump(mode="json")
    if kind not in STRATEGY_PRESETS:
        raise ValueError(f"state['strategy']: unknown strategy {kind!r}; expected one of {_kinds(scenario)}")
    return strategy_preset(kind)


def _strategy_model(scenario: Scenario, kind: str) -> Any:
    """The validated table of :func:`_strategy_base` (every default filled in), or the schema's defaults."""
    if scenario.strategy.kind == kind:
        return scenario.strategy
    if kind in STRATEGY_PRESETS:
        return _STRATEGY_CLASSES[kind].model_validate(strategy_preset(kind))
    return _STRATEGY_CLASSES[kind]()


def _kinds(scenario: Scenario) -> list[str]:
    out = list(STRATEGY_KINDS)
    for extra in ("single", scenario.strategy.kind):
        if extra not in out:
            out.append(extra)
    return out


def _median_ms(latency: LatencyDistribution) -> float:
    return float(latency.median_ms)


def _as(kind: str, value: Any) -> Any:
    """A state value as the scenario holds it: the control's ``kind`` decides."""
    if kind == "bool":
        return bool(value)
    if kind == "choice":
        return str(value)
    if kind in ("int", "seed"):
        return int(value)
    return float(value)


def _unchanged(state: Mapping[str, Any], read: Mapping[str, Any]) -> bool:
    """Whether every control of a section still shows what the scenario says."""
    return all(state[k] == v for k, v in read.items())


def _gate_state(p: str, model: Any) -> dict[str, Any]:
    """The first gate of a gated strategy (a typical gate, switched off, when it has none)."""
    g = model.gates[0] if model.gates else Gate.model_validate(STANDARD_GATES[0])
    return {
        f"{p}_gate_enabled": bool(model.gates), f"{p}_gate_metric": g.metric,
        f"{p}_gate_threshold": float(g.threshold), f"{p}_gate_direction": g.direction,
        f"{p}_gate_min_samples": int(g.min_samples), f"{p}_gate_relative": bool(g.relative_to_legacy),
    }


def _judge_state(judge: JudgeConfig) -> dict[str, Any]:
    """The judge's controls; a margin left out shows the one the sequential judge uses."""
    margin = judge.margin if judge.margin is not None else SEQUENTIAL_DEFAULT_MARGINS.get(judge.metric, 0.0)
    return {
        "judge_kind": judge.kind, "judge_metric": judge.metric, "judge_direction": judge.direction,
        "judge_alpha": float(judge.alpha), "judge_margin": float(margin),
        "judge_pass_threshold": float(judge.pass_threshold),
        "judge_marginal_threshold": float(judge.marginal_threshold), "judge_min_samples": int(judge.min_samples),
    }


def _rollback_state(scenario: Scenario) -> dict[str, Any]:
    """The rollback policy's controls; without a ``[rollback]`` table, the schema's defaults, off."""
    rb = scenario.rollback
    cfg = rb if rb is not None else RollbackConfig()
    t = cfg.thresholds[0] if cfg.thresholds else RollbackThreshold(metric="error_rate", threshold=0.05)
    return {
        "rollback_enabled": rb is not None and rb.enabled,
        **{f"rollback_on_{name}": name in cfg.triggers for name in _ROLLBACK_TRIGGERS},
        "rollback_threshold_metric": t.metric, "rollback_threshold": float(t.threshold),
        "rollback_threshold_direction": t.direction, "rollback_consecutive": int(cfg.consecutive),
        "rollback_min_samples": int(cfg.min_samples), "rollback_cooldown_s": float(cfg.cooldown_s),
        "rollback_performance_relative": bool(cfg.performance_relative),
    }


def _detector_state(cfg: MonitoringConfig) -> dict[str, Any]:
    """The first detector's controls; each detector's main parameter (its default when unset)."""
    d = cfg.detectors[0] if cfg.detectors else None
    st: dict[str, Any] = {
        "detector_enabled": d is not None,
        "detector_name": d.name if d is not None else "adwin",
        "detector_signal": d.signal if d is not None else "latency_ms",
        "detector_model": d.model if d is not None else "candidate",
    }
    for name, (param, default, *_range) in DETECTOR_PARAMS.items():
        value = d.params.get(param, default) if d is not None and d.name == name else default
        st[f"detector_{name}_{param}"] = float(value)
    return st


def _monitor_state(scenario: Scenario) -> dict[str, Any]:
    """The monitors' controls; without a ``[monitoring]`` table, the schema's defaults, off."""
    m = scenario.monitoring
    cfg = m if m is not None else MonitoringConfig()
    return {
        "monitors_enabled": m is not None and m.enabled,
        "monitor_interval_s": float(cfg.interval_s), "monitor_health_window_s": float(cfg.health_window_s),
        "monitor_performance": bool(cfg.performance),
        "monitor_performance_reference_n": int(cfg.performance_reference_n),
        "monitor_performance_window_n": int(cfg.performance_window_n),
        "monitor_drift": bool(cfg.drift), "monitor_drift_reference_n": int(cfg.drift_reference_n),
        "monitor_drift_window_n": int(cfg.drift_window_n), "monitor_drift_interval_s": float(cfg.drift_interval_s),
        "monitor_drift_consecutive": int(cfg.drift_consecutive),
        **_detector_state(cfg),
    }


def _autoscaling_state(scenario: Scenario, model: str | None = None) -> dict[str, Any]:
    """The autoscaling controls of ``model`` (default: the first autoscaled model, else the candidate)."""
    if model is None:
        scaled = [name for name, m in scenario.models.items() if m.autoscaling is not None]
        model = scaled[0] if scaled else ("candidate" if "candidate" in scenario.models else "legacy")
    a = scenario.models[model].autoscaling
    cfg = a if a is not None else AutoscalingConfig()
    return {
        "autoscaling_enabled": a is not None, "autoscaling_model": model,
        "autoscaling_min_replicas": int(cfg.min_replicas), "autoscaling_max_replicas": int(cfg.max_replicas),
        "autoscaling_target_utilisation": float(cfg.target_utilisation),
        "autoscaling_cooldown_s": float(cfg.scale_down_stabilisation_s),
        "autoscaling_sync_period_s": float(cfg.sync_period_s),
        "autoscaling_provisioning_delay_s": float(cfg.provisioning_delay_s),
    }


def state_from_scenario(scenario: Scenario) -> dict[str, Any]:
    """The panel's initial state: every control set to what ``scenario`` says.

    Strategy parameters of kinds the scenario does not use take the defaults of
    :data:`~workbench.scenario.presets.STRATEGY_PRESETS` (interleaving: the schema's);
    fault controls without a matching fault in the scenario are disabled, with typical
    values (a 4x latency spike for a sixth of the run starting at a third, 10 % errors,
    a 1-sd data drift); a gated strategy without gates shows a typical gate (error rate
    at most 2 %), switched off; without a ``[rollback]`` or ``[monitoring]`` table their
    controls are off and show the schema's defaults.

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
    models = {k: _strategy_model(scenario, k) for k in STRATEGY_PARAMS}
    for kind, params in STRATEGY_PARAMS.items():
        for key, field in params.items():
            st[key] = _as(_BY_KEY[key].kind, getattr(models[kind], field))
    prog = models["progressive"]
    st["progressive_first_weight"] = float(prog.steps[0].weight)
    st["progressive_pause_s"] = float(prog.steps[0].pause_s or 300.0)
    st["progressive_window_s"] = float(prog.window_s or 0.0)
    for p in GATED_KINDS:
        st.update(_gate_state(p, models[p]))
    st.update(_judge_state(prog.judge))
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
    st.update(_rollback_state(scenario))
    st.update(_monitor_state(scenario))
    st.update(_autoscaling_state(scenario))
    return {k: st[k] for k in _KEYS}  # in panel order


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
    for key in ("data_drift_feature", "concept_drift_feature"):
        if state[key] not in scenario.feature_names:
            raise ValueError(f"state[{key!r}]: unknown feature {state[key]!r}; "
                             f"expected one of {scenario.feature_names}")
    options = choice_options(scenario)
    for c in CONTROLS:
        v = state[c.key]
        if c.kind in ("float", "int", "seed"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"state[{c.key!r}]: expected a finite number, got {v!r}")
            if c.kind != "float" and not float(v).is_integer():
                raise ValueError(f"state[{c.key!r}]: expected a whole number, got {v!r}")
        elif c.kind == "bool" and not isinstance(v, bool):
            raise ValueError(f"state[{c.key!r}]: expected true or false, got {v!r}")
        elif c.kind == "choice" and v not in options[c.key]:
            raise ValueError(f"state[{c.key!r}]: expected one of {list(options[c.key])}, got {v!r}")


def _set_gates(p: str, state: Mapping[str, Any], table: dict[str, Any], model: Any) -> None:
    """The strategy's gates with the first one as the panel shows it (the others kept)."""
    if _unchanged(state, _gate_state(p, model)):
        return
    orig = [dict(g) for g in table.get("gates") or []]
    if state[f"{p}_gate_enabled"]:
        first = orig[0] if orig else {}
        first.update({
            "metric": _as("choice", state[f"{p}_gate_metric"]),
            "threshold": _as("float", state[f"{p}_gate_threshold"]),
            "direction": _as("choice", state[f"{p}_gate_direction"]),
            "min_samples": _as("int", state[f"{p}_gate_min_samples"]),
            "relative_to_legacy": _as("bool", state[f"{p}_gate_relative"]),
        })
        table["gates"] = [first, *orig[1:]]
    else:
        table["gates"] = orig[1:]


def _set_judge(state: Mapping[str, Any], table: dict[str, Any], model: ProgressiveStrategy) -> None:
    """The progressive judge as the panel shows it; an untouched margin stays as written."""
    read = _judge_state(model.judge)
    if _unchanged(state, read):
        return
    judge = dict(table.get("judge") or {})
    for key in read:
        if key != "judge_margin":
            judge[key.removeprefix("judge_")] = _as(_BY_KEY[key].kind, state[key])
    if state["judge_margin"] != read["judge_margin"]:
        judge["margin"] = float(state["judge_margin"])
    table["judge"] = judge


def strategy_table(state: Mapping[str, Any], scenario: Scenario, kind: str | None = None) -> dict[str, Any]:
    """The whole ``strategy`` table for ``kind`` (default: the state's strategy).

    Starts from the scenario's own table when it configures that kind, else from
    :data:`~workbench.scenario.presets.STRATEGY_PRESETS`, then sets the panel's
    parameters (a field the starting table leaves out is written only when the panel
    changes it). Progressive: the first step gets ``progressive_first_weight``, later
    steps not above it are dropped, every step but the last pauses
    ``progressive_pause_s``; ``progressive_window_s = 0`` means the whole step. Gated
    strategies: their first gate; progressive: its judge.
    """
    _check_state(state, scenario)
    kind = state["strategy"] if kind is None else kind
    table = _strategy_base(scenario, kind)
    model = _strategy_model(scenario, kind)
    for key, field in STRATEGY_PARAMS.get(kind, {}).items():
        value = _as(_BY_KEY[key].kind, state[key])
        if field in table or value != getattr(model, field):
            table[field] = value
    if kind == "progressive":
        first = float(state["progressive_first_weight"])
        pause = float(state["progressive_pause_s"])
        orig = [dict(s) for s in table["steps"]]
        steps = [{**orig[0], "weight": first}] + [s for s in orig[1:] if s["weight"] > first]
        reached_full = orig[-1]["weight"] >= 100.0
        if steps[-1]["weight"] < 100.0 and (reached_full or (len(orig) > 1 and orig[-1]["weight"] <= first)):
            steps.append({**orig[-1], "weight": 100.0})  # the rollout still ends at full weight
        for s in steps[:-1]:
            s["pause_s"] = pause
        if steps[-1].get("pause_s") is None:
            steps[-1].pop("pause_s", None)
        table["steps"] = steps
        window = float(state["progressive_window_s"])
        if window != float(model.window_s or 0.0):
            table["window_s"] = window if window > 0 else None
        _set_judge(state, table, model)
    if kind in GATED_KINDS:
        _set_gates(kind, state, table, model)
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
        feature = state["concept_drift_feature"]
        out["weight_shift"] = {feature: float(state["concept_drift_weight_shift"]),
                               **{k: v for k, v in shifts.items() if k != feature}}  # the knob's value wins
    return out


def _rollback_overrides(state: Mapping[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The ``rollback`` table as the panel shows it (its first health threshold); off under ``single``."""
    rb = scenario.rollback
    single = state["strategy"] == "single"
    if _unchanged(state, _rollback_state(scenario)):
        return {"rollback.enabled": False} if single and rb is not None and rb.enabled else {}
    if rb is None and not state["rollback_enabled"]:
        return {}
    table = rb.model_dump(mode="json") if rb is not None else {}
    table["enabled"] = bool(state["rollback_enabled"]) and not single
    wanted = [name for name in _ROLLBACK_TRIGGERS if state[f"rollback_on_{name}"]]
    kept = [name for name in table.get("triggers", ()) if name in wanted]  # in the file's order
    table["triggers"] = kept + [name for name in wanted if name not in kept]
    first = {"metric": _as("choice", state["rollback_threshold_metric"]),
             "threshold": _as("float", state["rollback_threshold"]),
             "direction": _as("choice", state["rollback_threshold_direction"])}
    thresholds = [dict(t) for t in table.get("thresholds", ())]
    if thresholds:
        thresholds[0] = first
    elif "health" in table["triggers"]:
        thresholds = [first]  # the health trigger needs a threshold
    table["thresholds"] = thresholds
    table["consecutive"] = _as("int", state["rollback_consecutive"])
    table["min_samples"] = _as("int", state["rollback_min_samples"])
    table["cooldown_s"] = _as("float", state["rollback_cooldown_s"])
    table["performance_relative"] = _as("bool", state["rollback_performance_relative"])
    return {"rollback": table}


_MONITOR_FIELDS: dict[str, str] = {
    "monitors_enabled": "enabled", "monitor_interval_s": "interval_s", "monitor_health_window_s": "health_window_s",
    "monitor_performance": "performance", "monitor_performance_reference_n": "performance_reference_n",
    "monitor_performance_window_n": "performance_window_n", "monitor_drift": "drift",
    "monitor_drift_reference_n": "drift_reference_n", "monitor_drift_window_n": "drift_window_n",
    "monitor_drift_interval_s": "drift_interval_s", "monitor_drift_consecutive": "drift_consecutive",
}


def _detectors(state: Mapping[str, Any], cfg: MonitoringConfig) -> list[dict[str, Any]]:
    """The detectors with the first one as the panel shows it (the others kept)."""
    orig = [d.model_dump(mode="json") for d in cfg.detectors]
    read = _detector_state(cfg)
    if _unchanged(state, read):
        return orig
    if not state["detector_enabled"]:
        return orig[1:]
    name = _as("choice", state["detector_name"])
    param, default, *_range = DETECTOR_PARAMS[name]
    key = f"detector_{name}_{param}"
    value = float(state[key])
    first = orig[0] if orig else {}
    if first.get("name") == name:
        params = dict(first.get("params") or {})  # the detector's other parameters stay
        if value != read[key]:
            params[param] = value
    else:
        params = {param: value} if value != default else {}
    first.update({"name": name, "signal": _as("choice", state["detector_signal"]),
                  "model": _as("choice", state["detector_model"]), "params": params})
    return [first, *orig[1:]]


def _monitoring_overrides(state: Mapping[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The ``monitoring`` table as the panel shows it (its first detector)."""
    m = scenario.monitoring
    if _unchanged(state, _monitor_state(scenario)):
        return {}
    if m is None and not state["monitors_enabled"]:
        return {}
    cfg = m if m is not None else MonitoringConfig()
    table = m.model_dump(mode="json") if m is not None else {}
    for key, field in _MONITOR_FIELDS.items():
        table[field] = _as(_BY_KEY[key].kind, state[key])
    table["detectors"] = _detectors(state, cfg)
    return {"monitoring": table}


_AUTOSCALING_FIELDS: dict[str, str] = {
    "autoscaling_min_replicas": "min_replicas", "autoscaling_max_replicas": "max_replicas",
    "autoscaling_target_utilisation": "target_utilisation", "autoscaling_cooldown_s": "scale_down_stabilisation_s",
    "autoscaling_sync_period_s": "sync_period_s", "autoscaling_provisioning_delay_s": "provisioning_delay_s",
}


def _autoscaling_overrides(state: Mapping[str, Any], scenario: Scenario) -> dict[str, Any]:
    """``models.<fleet>.autoscaling`` as the panel shows it; the initial fleet moved inside the bounds."""
    if _unchanged(state, _autoscaling_state(scenario)):
        return {}
    name = state["autoscaling_model"]
    model = scenario.models[name]
    if not state["autoscaling_enabled"]:
        return {f"models.{name}.autoscaling": None} if model.autoscaling is not None else {}
    table = model.autoscaling.model_dump(mode="json") if model.autoscaling is not None else {}
    for key, field in _AUTOSCALING_FIELDS.items():
        table[field] = _as(_BY_KEY[key].kind, state[key])
    ov: dict[str, Any] = {f"models.{name}.autoscaling": table}
    lo, hi = table["min_replicas"], table["max_replicas"]
    replicas = min(max(model.replicas if model.replicas is not None else lo, lo), hi)
    if replicas != model.replicas:
        ov[f"models.{name}.replicas"] = replicas  # autoscaling needs an initial fleet inside its bounds
    return ov


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
        ``rollback``, ``monitoring`` and a model's ``autoscaling`` appear only when
        one of their controls differs from the scenario.

    Raises
    ------
    ValueError
        A missing or unknown key, an unknown strategy, feature, model or option, a
        non-numeric value, a fraction where a whole number is expected.

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
    if _other_arms(state, scenario):
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
    ov.update(_rollback_overrides(state, scenario))
    ov.update(_monitoring_overrides(state, scenario))
    ov.update(_autoscaling_overrides(state, scenario))
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


# --------------------------------------------------------------------------- save and load
def scenario_from_state(state: Mapping[str, Any], scenario: Scenario) -> Scenario:
    """The scenario the panel shows: ``scenario`` with :func:`state_to_overrides` applied.

    Raises
    ------
    ValueError
        A bad state (see :func:`state_to_overrides`).
    ScenarioError
        The values make an invalid scenario; the message names the field.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "s", "duration_s": 600, "models": {"legacy": {}}})
    >>> scenario_from_state(state_from_scenario(sc) | {"rate_per_s": 80.0}, sc).traffic.rate_per_s
    80.0
    """
    return scenario.with_overrides(state_to_overrides(state, scenario))


def save_state(state: Mapping[str, Any], scenario: Scenario, path: str | os.PathLike) -> Path:
    """Write the panel's scenario (:func:`scenario_from_state`) to ``path`` as TOML.

    The text is :meth:`Scenario.to_toml`, which :func:`load_state` (or
    ``workbench.load_scenario``) reads back to an equal scenario. Missing parent
    directories are created; the file is written whole or not at all (a temporary
    sibling renamed into place).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ScenarioError
        The state makes an invalid scenario, or the file cannot be written (naming it).
    """
    out = Path(path)
    try:
        text = scenario_from_state(state, scenario).to_toml()
    except ScenarioError:
        raise
    except ValueError as exc:
        raise ScenarioError(str(exc), source=str(out)) from None
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)  # the file holds the whole scenario or what it held before
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise ScenarioError(f"cannot write file ({exc.strerror or exc})", source=str(out)) from None
    return out


def load_state(path: str | os.PathLike) -> tuple[Scenario, dict[str, Any]]:
    """Open a scenario file for the panel: the scenario and its state (:func:`state_from_scenario`).

    Raises
    ------
    ScenarioError
        The file is missing, unreadable, not TOML or not a valid scenario; the
        message names the file (and the field).
    """
    scenario = load_scenario(Path(path))
    return scenario, state_from_scenario(scenario)
