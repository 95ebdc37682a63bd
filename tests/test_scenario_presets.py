"""Strategy presets: each is a valid ``[strategy]`` table, and how it differs from the
schema's own defaults for its kind is written down here."""

from __future__ import annotations

import pytest

from workbench.experiments.compare import DEFAULT_STRATEGIES
from workbench.scenario import ScenarioError, load_scenario
from workbench.scenario.presets import STANDARD_GATES, STRATEGY_PRESETS, strategy_preset

BASE = {"name": "presets", "duration_s": 600, "models": {"legacy": {}, "candidate": {}}}

GATES = [
    {"metric": "error_rate", "threshold": 0.02, "direction": "max", "relative_to_legacy": False,
     "min_samples": 50, "name": ""},
    {"metric": "latency_p99_ms", "threshold": 1.5, "direction": "max", "relative_to_legacy": True,
     "min_samples": 50, "name": ""},
]

# kind -> {field: preset value} for every field where the preset departs from the schema's
# default (fields the schema requires are listed in REQUIRED instead)
DIFFERS_FROM_SCHEMA = {
    "single": {},
    "ab": {"sticky": True},  # per user, not per request
    "canary": {},
    "progressive": {"gates": GATES, "failure_limit": 1},
    "shadow": {},
    "blue_green": {"switch_s": 300.0, "gates": GATES},
    "bandit": {},
}
REQUIRED = {
    "progressive": {"steps": [{"weight": w, "pause_s": pause, "manual": False, "analysis": []}
                              for w, pause in ((5.0, 300.0), (25.0, 300.0), (50.0, 300.0), (100.0, None))]},
}


def _strategy(table: dict) -> dict:
    return load_scenario({**BASE, "strategy": table}).strategy.model_dump(mode="json")


def _required_fields(kind: str) -> set[str]:
    cls = type(load_scenario({**BASE, "strategy": STRATEGY_PRESETS[kind]}).strategy)
    return {name for name, field in cls.model_fields.items() if field.is_required()}


@pytest.mark.parametrize("kind", list(STRATEGY_PRESETS))
def test_every_preset_is_a_valid_strategy_of_its_kind(kind):
    preset = strategy_preset(kind)
    assert preset["kind"] == kind
    assert _strategy(preset)["kind"] == kind


@pytest.mark.parametrize("kind", list(STRATEGY_PRESETS))
def test_how_each_preset_differs_from_the_schema_defaults(kind):
    preset = _strategy(strategy_preset(kind))
    required = REQUIRED.get(kind, {})
    assert _required_fields(kind) == set(required)
    assert {name: preset[name] for name in required} == required
    defaults = _strategy({"kind": kind, **required})
    differs = {name: value for name, value in preset.items() if defaults[name] != value}
    assert differs == DIFFERS_FROM_SCHEMA[kind]


def test_presets_cover_the_compared_kinds_and_copies_are_independent():
    assert set(STRATEGY_PRESETS) == set(DIFFERS_FROM_SCHEMA)
    assert DEFAULT_STRATEGIES is STRATEGY_PRESETS
    mine = strategy_preset("progressive")
    mine["gates"].append({"metric": "error_rate", "threshold": 0.5})
    mine["steps"][0]["weight"] = 1
    assert STRATEGY_PRESETS["progressive"]["gates"] == STANDARD_GATES and len(STANDARD_GATES) == 2
    assert STRATEGY_PRESETS["progressive"]["steps"][0]["weight"] == 5


def test_unknown_kind_names_the_presets():
    with pytest.raises(ScenarioError, match=r"no preset for 'interleaving'.*'ab'"):
        strategy_preset("interleaving")
