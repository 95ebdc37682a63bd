"""Scenarios written back as TOML load to equal scenarios (what imports, calibrations and plans save)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from workbench.scenario import load_scenario
from workbench.scenario.toml import dump_toml, minimal_mapping

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.parametrize("full", [False, True])
def test_every_shipped_scenario_round_trips(path, full):
    scenario = load_scenario(path)
    again = load_scenario(tomllib.loads(scenario.to_toml(full=full)))
    assert again.model_dump(exclude={"source_path"}) == scenario.model_dump(exclude={"source_path"})


def test_minimal_output_keeps_tags_and_leaves_defaults_out():
    scenario = load_scenario({"name": "m", "duration_s": 60, "models": {"legacy": {}, "candidate": {}},
                              "strategy": {"kind": "canary", "candidate_fraction": 0.1}})
    mapping = minimal_mapping(scenario)
    assert mapping["strategy"] == {"kind": "canary", "candidate_fraction": 0.1}
    assert mapping["models"]["legacy"] == {}  # every field at its default (a default latency too)
    assert "traffic" not in mapping or mapping["traffic"] == {}


def test_dump_writes_sections_arrays_of_tables_and_exact_floats():
    text = dump_toml({"name": "q", "duration_s": 0.1 + 0.2, "tags": ["a", "b"],
                      "strategy": {"kind": "progressive", "steps": [{"weight": 5.0, "pause_s": None}]},
                      "odd key": {"x": 1}})
    data = tomllib.loads(text)
    assert data["duration_s"] == 0.1 + 0.2  # repr keeps every digit
    assert data["strategy"]["steps"] == [{"weight": 5.0}]  # None left out
    assert data["odd key"] == {"x": 1}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_scenario_as_written_round_trips(path):
    scenario = load_scenario(path)
    assert load_scenario(tomllib.loads(dump_toml(scenario._raw))) == scenario


def test_escapes_and_special_values():
    m = {"name": "a \"b\"\n\u00e9\x7f", "x": math.inf, "y": np.float64(0.5), "k": np.int64(3),
         "t": {"k.v": [1, 2], "e": {}}, "n": None}
    back = tomllib.loads(dump_toml(m))
    assert back == {"name": m["name"], "x": math.inf, "y": 0.5, "k": 3, "t": {"k.v": [1, 2], "e": {}}}
