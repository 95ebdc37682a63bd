"""Scenario loading: shipped files, defaults, immutability, overrides, errors that name the field.

The property-based tests start from the shipped TOML files, mutate them (delete a
key, add an unknown key, put a wrong value somewhere, swap a ``kind``/``dist``, or
corrupt the text) and check that loading either succeeds or raises
:class:`ScenarioError` naming the file and a field path -- never another exception.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scenario_builders import (
    MINIMAL,
    TWO_MODELS,
    dotted_path,
    raises_scenario_error,
    to_inline_toml,
    walk,
    with_changes,
)
from scipy import stats

from workbench.scenario import (
    LOGNORMAL_Z99,
    LognormalLatency,
    Scenario,
    ScenarioError,
    apply_overrides,
    load_scenario,
)

REPO = Path(__file__).resolve().parents[1]
SCENARIO_DIR = REPO / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))
REQUIRED = {
    "baseline",
    "ab_test",
    "latency_spike",
    "error_burst",
    "data_drift",
    "concept_drift",
    "capacity_crunch",
}
RAW = {p.stem: tomllib.loads(p.read_text(encoding="utf-8")) for p in SHIPPED}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("stem", sorted(RAW))
def test_toml_emitter_round_trips_shipped_files(stem):
    assert _same(tomllib.loads(to_inline_toml(RAW[stem])), RAW[stem])


def test_toml_emitter_round_trips_awkward_values():
    doc = {
        "a": [1, -2.5, float("inf"), float("nan"), 'q"\n\\é'],
        "b": {"c d": {}, "e": [{"f": True}]},
    }
    assert _same(tomllib.loads(to_inline_toml(doc)), doc)


# ----------------------------------------------------------------------------- shipped scenarios
def test_every_required_scenario_is_shipped():
    assert REQUIRED <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_validates(path):
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.name
    assert len(s.description.split()) >= 10, "each scenario says what to look at"
    assert s.source_path == str(path)
    assert "legacy" in s.models
    # the dump is a loadable mapping that gives the same scenario back
    again = load_scenario(s.to_mapping())
    assert again.to_mapping() == s.to_mapping()
    assert again.content_hash() == s.content_hash()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads_from_str_path_and_mapping(path):
    a = load_scenario(str(path))
    b = load_scenario(RAW[path.stem])
    assert a.to_mapping() == b.to_mapping()
    assert b.source_path is None


def test_content_hash_is_stable_and_sensitive():
    s = load_scenario(SCENARIO_DIR / "baseline.toml")
    assert s.content_hash() == load_scenario(SCENARIO_DIR / "baseline.toml").content_hash()
    assert s.content_hash() != s.with_overrides({"traffic.rate_per_s": 61}).content_hash()


def test_lognormal_sigma_matches_scipy():
    """sigma = ln(p99/median) / z_0.99 and mean = median exp(sigma^2/2)."""
    assert LOGNORMAL_Z99 == pytest.approx(stats.norm.ppf(0.99), rel=1e-12)
    lat = LognormalLatency(median_ms=40, p99_ms=120)
    dist = stats.lognorm(s=lat.sigma, scale=40)
    assert dist.ppf(0.99) == pytest.approx(120, rel=1e-9)
    assert dist.median() == pytest.approx(40, rel=1e-12)
    assert lat.mean_ms == pytest.approx(dist.mean(), rel=1e-12)
    assert lat.sigma == pytest.approx(math.log(3) / 2.3263, rel=1e-4)


def test_capacity_crunch_peak_utilisation_is_as_described():
    """The description promises a peak of 76 requests/s and utilisation 0.95."""
    s = load_scenario(SCENARIO_DIR / "capacity_crunch.toml")
    peak = s.traffic.rate_per_s * (1 + s.traffic.amplitude)
    assert peak == pytest.approx(76, abs=0.5)
    m = s.models["legacy"]
    assert peak * m.latency.mean_ms / 1000 / m.replicas == pytest.approx(0.95, abs=0.005)


def test_latency_spike_overloads_only_inside_its_window():
    """Described: utilisation goes past 1 during the spike (and is well below 1 outside)."""
    s = load_scenario(SCENARIO_DIR / "latency_spike.toml")
    m = s.models["legacy"]
    rho = s.traffic.rate_per_s * m.latency.mean_ms / 1000 / m.replicas
    spike = s.faults[0]
    assert spike.kind == "latency_spike" and spike.target == "legacy"
    assert rho < 0.5
    assert rho * spike.multiplier > 1


# ----------------------------------------------------------------------------- defaults
def test_defaults_of_a_minimal_scenario():
    s = load_scenario(MINIMAL)
    assert (s.seed, s.warmup_s, s.description) == (0, 0.0, "")
    t = s.traffic
    assert (t.rate_per_s, t.pattern, t.users, t.label_delay_s) == (50.0, "constant", 10_000, 60.0)
    assert list(t.features) == ["x1", "x2", "x3"]
    assert s.strategy.kind == "single" and s.strategy.model == "legacy"
    assert len(s.faults) == 0
    m = s.models["legacy"]
    assert m.latency.dist == "lognormal"
    assert (m.latency.median_ms, m.latency.p99_ms) == (40.0, 120.0)
    assert m.replicas is None, "no replicas means unlimited concurrency"
    assert m.queue_limit is None and m.timeout_ms is None
    assert (m.error_rate, m.noise, m.bias) == (0.001, 0.3, 0.0)
    assert s.slo.latency_ms == 250.0
    assert s.content_hash() == load_scenario(MINIMAL).content_hash()


def test_defaults_of_strategies_and_faults():
    s = load_scenario(with_changes(TWO_MODELS, strategy={"kind": "ab"}))
    assert (s.strategy.candidate_fraction, s.strategy.sticky) == (0.5, False)
    s = load_scenario(with_changes(TWO_MODELS, strategy={"kind": "canary"}))
    assert s.strategy.candidate_fraction == 0.05
    s = load_scenario(
        with_changes(
            TWO_MODELS,
            faults=[
                {"kind": "error_burst", "target": "candidate", "start_s": 10, "error_rate": 0.2}
            ],
        )
    )
    assert s.faults[0].duration_s is None and s.faults[0].end_s == math.inf


def test_mapping_input_is_not_modified():
    raw = copy.deepcopy(TWO_MODELS)
    load_scenario(raw, overrides={"traffic.rate_per_s": 9})
    assert raw == TWO_MODELS


# ----------------------------------------------------------------------------- immutability
def test_scenario_fields_cannot_be_assigned():
    s = load_scenario(SCENARIO_DIR / "ab_test.toml")
    with pytest.raises(Exception, match="frozen"):
        s.seed = 3
    with pytest.raises(Exception, match="frozen"):
        s.traffic.rate_per_s = 1.0
    with pytest.raises(Exception, match="frozen"):
        s.models["legacy"].replicas = 1
    with pytest.raises(Exception, match="frozen"):
        s.strategy.candidate_fraction = 0.9
    assert s.traffic.rate_per_s == 60


def test_scenario_containers_cannot_be_mutated():
    """BUG: ``models``/``features`` dicts and ``faults``/``steps`` lists stay mutable, so a
    validated scenario can be changed in place without validation (and its content hash
    changes under the run registry's feet). See the report for the proposed fix."""
    s = load_scenario(SCENARIO_DIR / "latency_spike.toml")
    spare = load_scenario(MINIMAL).models["legacy"]
    with pytest.raises((TypeError, AttributeError)):
        s.models["rogue"] = spare
    with pytest.raises((TypeError, AttributeError)):
        s.faults.append(s.faults[0])
    with pytest.raises((TypeError, AttributeError)):
        s.traffic.features.pop("x1")
    assert list(s.models) == ["legacy"] and len(s.faults) == 1


def test_with_overrides_returns_a_new_scenario_and_keeps_the_old():
    s = load_scenario(SCENARIO_DIR / "baseline.toml")
    before = s.to_mapping()
    t = s.with_overrides({"traffic.rate_per_s": 80, "models.legacy.replicas": 5})
    assert t is not s
    assert (t.traffic.rate_per_s, t.models["legacy"].replicas) == (80.0, 5)
    assert s.to_mapping() == before
    assert t.source_path == s.source_path
    assert s.with_overrides(None) is s and s.with_overrides({}) is s


# ----------------------------------------------------------------------------- errors
def _two(**models_candidate) -> dict:
    raw = copy.deepcopy(TWO_MODELS)
    raw["models"]["candidate"].update(models_candidate)
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            _two(latency={"dist": "lognormal", "median_ms": 40, "p99_ms": 30}),
            "models.candidate.latency.p99_ms: must be greater than median_ms",
        ),
        (
            _two(laetncy={"dist": "lognormal", "median_ms": 40, "p99_ms": 120}),
            "models.candidate.laetncy: unknown key",
        ),
        (
            _two(latency={"dist": "gamma", "mean_ms": 3}),
            "models.candidate.latency.dist: unknown kind 'gamma'",
        ),
        (_two(latency={"median_ms": 3}), "models.candidate.latency: needs a"),
        (_two(latency=40), "models.candidate.latency: input should be a valid dictionary"),
        (
            _two(error_rate=1.5),
            "models.candidate.error_rate: input should be less than or equal to 1",
        ),
        (_two(replicas=0), "models.candidate.replicas: input should be greater than or equal to 1"),
        (_two(replicas=2.5), "models.candidate.replicas: input should be a valid integer"),
        (_two(queue_limit=10), "models.candidate.queue_limit: needs replicas"),
        (with_changes(TWO_MODELS, strategy={"kind": "abx"}), "strategy.kind: unknown kind 'abx'"),
        (with_changes(TWO_MODELS, strategy={"candidate_fraction": 0.5}), "strategy: needs a"),
        (
            with_changes(TWO_MODELS, strategy={"kind": "ab", "candidate_fraction": 0.5, "stickyy": True}),
            "strategy.stickyy: unknown key",
        ),
        (
            with_changes(TWO_MODELS, faults=[{"kind": "meteor", "start_s": 1}]),
            "faults[0].kind: unknown kind 'meteor'",
        ),
        (with_changes(TWO_MODELS, faults={"kind": "outage"}), "faults: input should be a valid list"),
        (
            with_changes(
                TWO_MODELS,
                faults=[
                    {"kind": "outage", "target": "candidate", "start_s": 1},
                    {"kind": "outage", "target": "ghost", "start_s": 1},
                ],
            ),
            "faults[1].target: unknown model",
        ),
        (
            with_changes(TWO_MODELS, faults=[{"kind": "outage", "target": "candidate", "start_s": 900}]),
            "faults[0].start_s: must be less than duration_s",
        ),
        (
            with_changes(
                TWO_MODELS,
                faults=[{"kind": "data_drift", "feature": "x9", "start_s": 1, "shift": 1}],
            ),
            "faults[0].feature: unknown feature 'x9'",
        ),
        (
            with_changes(
                TWO_MODELS,
                faults=[{"kind": "outage", "target": "candidate", "start_s": 1, "mode": "hang"}],
            ),
            "faults[0].mode: 'hang' needs models.candidate.timeout_ms",
        ),
        (
            with_changes(
                TWO_MODELS, faults=[{"kind": "latency_spike", "target": "candidate", "start_s": 1}]
            ),
            "faults[0].multiplier: a latency spike needs",
        ),
        (
            with_changes(
                TWO_MODELS,
                strategy={
                    "kind": "progressive",
                    "steps": [
                        {"weight": 10, "pause_s": 60},
                        {"weight": 5, "pause_s": 60},
                        {"weight": 50},
                    ],
                },
            ),
            "strategy.steps[1].weight: must be at least the previous step's weight",
        ),
        (
            with_changes(
                TWO_MODELS,
                strategy={
                    "kind": "progressive",
                    "steps": [
                        {"weight": 10, "pause_s": 60},
                        {"weight": 50, "pause_s": 60},
                        {"weight": 150},
                    ],
                },
            ),
            "strategy.steps[2].weight: input should be less than or equal to 100",
        ),
        (
            with_changes(
                TWO_MODELS,
                strategy={"kind": "progressive", "steps": [{"weight": 10}, {"weight": 10}]},
            ),
            "strategy.steps[0].pause_s: a step that neither waits nor analyses must change the weight",
        ),
        (
            with_changes(TWO_MODELS, strategy={"kind": "progressive", "steps": []}),
            "strategy.steps: list should have at least 1 item",
        ),
        (
            with_changes(
                TWO_MODELS,
                strategy={
                    "kind": "canary",
                    "schedule": [{"at_s": 0, "weight": 5}, {"at_s": 0, "weight": 10}],
                },
            ),
            "strategy.schedule[1].at_s: must be increasing",
        ),
        (
            with_changes(MINIMAL, strategy={"kind": "ab"}),
            "models.candidate: strategy 'ab' needs a model named 'candidate'",
        ),
        (
            with_changes(MINIMAL, models={"primary": {}}),
            "models.legacy: a model named 'legacy' is required",
        ),
        (
            with_changes(MINIMAL, models={"legacy": {}, "bad-name": {}}),
            "models.bad-name: model names must be identifiers",
        ),
        (with_changes(MINIMAL, warmup_s=60), "warmup_s: must be less than duration_s"),
        (with_changes(MINIMAL, duration_s=0), "duration_s: input should be greater than 0"),
        (with_changes(MINIMAL, duration_s="long"), "duration_s: expected a number, got text 'long'"),
        (
            with_changes(MINIMAL, traffic={"pattern": "spiky"}),
            "traffic.pattern: input should be 'constant', 'diurnal', 'bursty' or 'trace'",
        ),
        (
            with_changes(MINIMAL, traffic={"features": {}}),
            "traffic.features: at least one feature is required",
        ),
        (with_changes(MINIMAL, target={"weights": {"x7": 1.0}}), "target.weights.x7: unknown feature"),
        (
            with_changes(MINIMAL, traffic={"features": {"u": {"dist": "uniform", "low": 1, "high": 1}}}),
            "traffic.features.u.high: must be greater than low",
        ),
        ({"duration_s": 60, "models": {"legacy": {}}}, "name: is required"),
        (with_changes(MINIMAL, colour="blue"), "colour: unknown key"),
    ],
)
def test_errors_name_the_field_path(raw, expected):
    err = raises_scenario_error(raw)
    assert any(e.startswith(expected) for e in err.errors), err.errors
    assert expected in str(err)
    assert "Traceback" not in str(err) and "pydantic" not in str(err)


def test_error_in_a_file_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(
        'name = "typo"\nduration_s = 60\n\n[models.legacy]\n\n[models.candidate]\n'
        'latency = { dist = "lognormal", median_ms = 40, p99_ms = 30 }\n\n'
        '[strategy]\nkind = "ab"\n',
        encoding="utf-8",
    )
    err = raises_scenario_error(path)
    assert str(err) == f"{path}: models.candidate.latency.p99_ms: must be greater than median_ms"
    assert err.source == str(path)
    assert isinstance(err, ValueError)


def test_several_errors_are_all_reported(tmp_path):
    path = tmp_path / "many.toml"
    path.write_text('name = "many"\n[models.legacy]\nlaetncy = 3\nreplicas = 0\n', encoding="utf-8")
    err = raises_scenario_error(path)
    text = str(err)
    assert text.startswith(f"{path}: 3 errors")
    for expected in (
        "duration_s: is required",
        "models.legacy.laetncy: unknown key",
        "models.legacy.replicas:",
    ):
        assert expected in text
    assert len(err.errors) == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'name = "x"\nduration_s = [1,\n', "not valid TOML"),
        (b'name = "x"\nname = "y"\n', "line 2"),
        (b"name = x\n", "line 1"),
        (b"[models\n", "not valid TOML"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_unreadable_or_invalid_toml_names_the_file(tmp_path, content, expected):
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    err = raises_scenario_error(path)
    assert str(err).startswith(f"{path}: ")
    assert expected in str(err)


def test_missing_file_and_directory_name_the_file(tmp_path):
    missing = tmp_path / "nope.toml"
    err = raises_scenario_error(missing)
    assert str(err) == f"{missing}: file not found"
    err = raises_scenario_error(tmp_path)
    assert str(err) == f"{tmp_path}: is a directory, not a scenario file"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("duration_s", math.inf),
        ("traffic.rate_per_s", math.inf),
        ("models.legacy.latency.p99_ms", math.inf),
        ("models.legacy.bias", math.nan),
        ("target.intercept", math.nan),
        ("faults[0].add_ms", math.inf),
    ],
)
def test_non_finite_numbers_are_rejected(tmp_path, path, value):
    """BUG: ``inf`` passes ``gt=0`` bounds and ``nan`` passes unconstrained floats (TOML
    has ``inf``/``nan`` literals, and ``--set duration_s=inf`` parses to inf). The
    engine then dies with ``ValueError: lam value too large`` and a traceback."""
    raw = copy.deepcopy(RAW["latency_spike"])
    file = tmp_path / "nonfinite.toml"
    file.write_text(to_inline_toml(apply_overrides(raw, {path: value})), encoding="utf-8")
    err = raises_scenario_error(file)
    assert str(err).startswith(f"{file}: {path}: "), str(err)


# ----------------------------------------------------------------------------- property-based: mutated files
_STRATEGY_KINDS = [
    "single",
    "ab",
    "canary",
    "progressive",
    "shadow",
    "interleaving",
    "blue_green",
    "bandit",
]
_FAULT_KINDS = ["latency_spike", "error_burst", "outage", "data_drift", "concept_drift"]
_DISTS = ["lognormal", "exponential", "constant", "normal", "uniform"]
_FREEFORM = {
    "models",
    "features",
    "weights",
    "services",
    "params",
    "weight_shift",
}  # tables whose keys are names, not fields
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*")

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)
_scalar = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            -1e9,
            1e300,
            2**62,
            -(2**62),
            math.nan,
            math.inf,
            -math.inf,
            "",
            "abc",
            "1e3",
            True,
            False,
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
_bad_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=3),
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), _scalar, max_size=2),
    st.sampled_from(
        [[], {}, [{}], {"kind": "ab"}, {"dist": "constant", "ms": -1}, [{"kind": "outage"}]]
    ),
)
_unknown_key = st.from_regex(r"zz_[a-z0-9_]{0,8}", fullmatch=True)


def _tables(doc):
    return [((), doc)] + [(p, v) for p, v in walk(doc) if isinstance(v, dict)]


def _get(doc, tokens):
    for t in tokens:
        doc = doc[t]
    return doc


def _typo(key: str) -> str | None:
    """Swap two adjacent letters (``latency`` -> ``laetncy``-like typos)."""
    for i in range(1, len(key) - 1):
        if key[i] != key[i + 1]:
            return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    return None


def _mutate(data, doc) -> tuple[str, tuple]:
    """Apply one random mutation to ``doc`` in place; return (operation, location tokens)."""
    op = data.draw(st.sampled_from(["delete", "insert", "replace", "swap_kind"]), label="op")
    if op == "swap_kind":
        tagged = [(p, t) for p, t in _tables(doc) if "kind" in t or "dist" in t]
        if tagged:
            where, table = data.draw(st.sampled_from(tagged), label="tagged table")
            key = "kind" if "kind" in table else "dist"
            table[key] = data.draw(
                st.sampled_from(_STRATEGY_KINDS + _FAULT_KINDS + _DISTS + ["", "Kind"])
            )
            return op, (*where, key)
        op = "replace"
    if op == "insert":
        where, table = data.draw(st.sampled_from(_tables(doc)), label="table")
        typos = [t for t in (_typo(k) for k in table) if t and t not in table]
        key = data.draw(
            st.sampled_from(typos) if typos and data.draw(st.booleans()) else _unknown_key
        )
        if key in table:
            key = key + "_x"
        table[key] = copy.deepcopy(data.draw(_bad_value, label="value"))  # constants are shared
        return op, (*where, key)
    paths = [p for p, _ in walk(doc)]
    tokens = data.draw(st.sampled_from(paths), label="path")
    parent = _get(doc, tokens[:-1])
    if op == "delete":
        del parent[tokens[-1]]
    else:
        parent[tokens[-1]] = copy.deepcopy(
            data.draw(_bad_value, label="value")
        )  # constants are shared
    return op, tokens


def _error_paths(err: ScenarioError) -> list[str]:
    return [e.split(": ", 1)[0] for e in err.errors]


def _under(path: str, prefix: str) -> bool:
    return (
        not prefix
        or path == prefix
        or path.startswith(prefix + ".")
        or path.startswith(prefix + "[")
    )


def _check_error(err: ScenarioError, file: Path, doc: dict, locations: list[tuple]) -> None:
    text = str(err)
    assert text.startswith(f"{file}: "), text
    assert err.source == str(file)
    assert "Traceback" not in text
    paths = _error_paths(err)
    assert paths
    top = set(doc) | set(Scenario.model_fields)
    for e, p in zip(err.errors, paths, strict=True):
        assert p != "<root>", e
        assert _FIELD_PATH.fullmatch(p), f"not a field path: {e!r}"
        assert re.match(r"[A-Za-z_][A-Za-z0-9_]*", p).group(0) in top, e
        assert e[len(p) + 2 :].strip(), f"no message: {e!r}"
    # at least one error is about the mutated place or its parent table (or, after a
    # strategy kind swap, the cross-check that the new strategy needs a candidate model)
    parents = [dotted_path(loc[:-1]) for loc in locations] + ["models.candidate"]
    assert any(_under(p, q) for p in paths for q in parents), (paths, parents)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_scenario_files_load_or_raise_scenario_error(tmp_path_factory, data):
    stem = data.draw(st.sampled_from(sorted(RAW)), label="scenario")
    doc = copy.deepcopy(RAW[stem])
    locations = [
        _mutate(data, doc)[1] for _ in range(data.draw(st.integers(1, 3), label="mutations"))
    ]
    file = tmp_path_factory.getbasetemp() / f"mutated_{stem}.toml"
    file.write_text(to_inline_toml(doc), encoding="utf-8")
    assert _same(tomllib.loads(file.read_text(encoding="utf-8")), doc)
    try:
        s = load_scenario(file)
    except ScenarioError as err:
        event("ScenarioError")
        _check_error(err, file, doc, locations)
    else:
        event("loaded")
        assert isinstance(s, Scenario)
        assert load_scenario(s.to_mapping()).to_mapping() == s.to_mapping()


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_an_unknown_key_in_any_schema_table_is_named(tmp_path_factory, data):
    stem = data.draw(st.sampled_from(sorted(RAW)), label="scenario")
    doc = copy.deepcopy(RAW[stem])
    tables = [(p, t) for p, t in _tables(doc) if not (p and p[-1] in _FREEFORM)]
    where, table = data.draw(st.sampled_from(tables), label="table")
    typos = [t for t in (_typo(k) for k in table) if t and t not in table]
    key = data.draw(st.sampled_from(typos) if typos else _unknown_key, label="key")
    table[key] = data.draw(_scalar, label="value")
    file = tmp_path_factory.getbasetemp() / f"unknown_{stem}.toml"
    file.write_text(to_inline_toml(doc), encoding="utf-8")
    err = raises_scenario_error(file)
    expected = f"{dotted_path((*where, key))}: unknown key"
    assert any(e.startswith(expected) for e in err.errors), (expected, err.errors)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_deleting_a_required_field_names_it(data):
    stem = data.draw(st.sampled_from(sorted(RAW)), label="scenario")
    doc = copy.deepcopy(RAW[stem])
    required = [
        p
        for p, _ in walk(doc)
        if (len(p) == 1 and p[0] in ("name", "duration_s", "models"))
        or p == ("models", "legacy")
        or (p[0] == "models" and p[-1] in ("median_ms", "p99_ms", "mean_ms"))
        or (
            p[0] == "faults"
            and len(p) == 3
            and p[2] in ("start_s", "target", "feature", "error_rate")
        )
        or (p[0] == "strategy" and p[-1] == "steps")
    ]
    tokens = data.draw(st.sampled_from(required), label="path")
    del _get(doc, tokens[:-1])[tokens[-1]]
    err = raises_scenario_error(doc)
    assert any(e.startswith(dotted_path(tokens) + ": ") for e in err.errors), (tokens, err.errors)


_CORRUPTIONS = [
    "delete_line",
    "duplicate_line",
    "swap_lines",
    "truncate",
    "delete_char",
    "insert_char",
]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_corrupted_scenario_text_loads_or_raises_scenario_error(tmp_path_factory, data):
    path = data.draw(st.sampled_from(SHIPPED), label="scenario")
    text = path.read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 2), label="corruptions")):
        lines = text.splitlines(keepends=True)
        op = data.draw(st.sampled_from(_CORRUPTIONS), label="op")
        if op in ("delete_line", "duplicate_line", "swap_lines") and lines:
            i = data.draw(st.integers(0, len(lines) - 1))
            if op == "delete_line":
                del lines[i]
            elif op == "duplicate_line":
                lines.insert(i, lines[i])
            else:
                j = data.draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        elif text:
            i = data.draw(st.integers(0, len(text) - 1))
            if op == "truncate":
                text = text[:i]
            elif op == "delete_char":
                text = text[:i] + text[i + 1 :]
            else:
                text = text[:i] + data.draw(st.sampled_from(list("\"'=[]{},.\n#x0-"))) + text[i:]
    file = tmp_path_factory.getbasetemp() / f"corrupt_{path.stem}.toml"
    file.write_text(text, encoding="utf-8")
    try:
        load_scenario(file)
    except ScenarioError as err:
        assert str(err).startswith(f"{file}: "), str(err)
        assert err.source == str(file)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            assert str(err).startswith(f"{file}: not valid TOML: "), str(err)
            return
        top = set(doc) | set(Scenario.model_fields)
        for e in err.errors:
            p = e.split(": ", 1)[0]
            assert p != "<root>" and ": " in e, e
            assert any(_under(p, k) for k in top), e


# --------------------------------------------------------------------------- hostile values
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"traffic": {"rate_per_s": True}}, "traffic.rate_per_s: expected a number, got a boolean"),
        ({"duration_s": True}, "duration_s: expected a number, got a boolean"),
        ({"seed": False}, "seed: expected a number, got a boolean"),
        ({"models": {"legacy": {"replicas": True}}}, "models.legacy.replicas: expected a number, got a boolean"),
        ({"target": {"weights": {"x1": True}}}, "target.weights.x1: expected a number, got a boolean"),
        ({"traffic": {"rate_per_s": "50"}}, "traffic.rate_per_s: expected a number, got text '50'"),
        ({"monitoring": {"enabled": 1}}, "monitoring.enabled: expected true or false, got a number"),
        ({"source_path": "elsewhere.toml"}, "source_path: unknown key"),
        ({"extra_top_level": 1}, "extra_top_level: unknown key"),
    ],
)
def test_type_juggling_and_unknown_keys_are_errors(changes, expected):
    err = raises_scenario_error(with_changes(MINIMAL, **changes))
    assert expected in str(err), str(err)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration_s": 1e12, "traffic": {"rate_per_s": 1e-6}}, "duration_s: must be at most"),
        ({"duration_s": 1e6, "resources": {"sample_interval_s": 0.01}}, "resources.sample_interval_s: gives 1e+08 ticks"),
        ({"monitoring": {"interval_s": 1e-6}}, "monitoring.interval_s: gives 6e+07 ticks"),
        ({"monitoring": {"drift_interval_s": 1e-6}}, "monitoring.drift_interval_s: gives"),
        ({"monitoring": {"health_window_s": 1e9}}, "monitoring.health_window_s: gives 1e+09 buckets"),
        ({"models": {"legacy": {"replicas": 2, "autoscaling": {"sync_period_s": 1e-5}}}},
         "models.legacy.autoscaling.sync_period_s: gives 6e+06 ticks"),
        ({"traffic": {"pattern": "bursty", "calm_mean_s": 1e-6, "burst_mean_s": 1e-6}}, "traffic.calm_mean_s: gives"),
        ({"models": {"legacy": {"latency": {"dist": "lognormal", "median_ms": 1e-300, "p99_ms": 1.0}}}},
         "models.legacy.latency.p99_ms: must be at most 10000 x median_ms"),
        ({"models": {"legacy": {"latency": {"dist": "exponential", "mean_ms": 1e9}}}},
         "models.legacy.latency.mean_ms: input should be less than or equal to 3600000"),
        ({"faults": [{"kind": "latency_spike", "target": "legacy", "start_s": 1, "multiplier": 1e9}]},
         "faults[0].multiplier: input should be less than or equal to 1000"),
        ({"faults": [{"kind": "latency_spike", "target": "legacy", "start_s": 1, "add_ms": 1e9}]},
         "faults[0].add_ms: input should be less than or equal to 3600000"),
        ({"traffic": {"features": {f"f{i}": {} for i in range(1001)}}}, "traffic.features: 1001 features; at most 1000"),
    ],
)
def test_unbounded_work_is_rejected_before_anything_is_allocated(changes, field):
    err = raises_scenario_error(with_changes(MINIMAL, **changes))
    assert field in str(err), str(err)


def test_progressive_analysis_and_label_delivery_are_bounded():
    prog = {"kind": "progressive", "steps": [{"weight": 10, "pause_s": 10}, {"weight": 100}], "interval_s": 1e-7}
    err = raises_scenario_error(with_changes(TWO_MODELS, strategy=prog))
    assert "strategy.interval_s: gives 6e+09 ticks" in str(err)
    bandit = {"kind": "bandit", "reward": "conversion"}
    err = raises_scenario_error(with_changes(TWO_MODELS, duration_s=2e6, traffic={"rate_per_s": 1e-3}, strategy=bandit))
    assert "duration_s: gives 2e+06 ticks" in str(err)  # labels are delivered once per simulated second
    load_scenario(with_changes(TWO_MODELS, duration_s=2e6, traffic={"rate_per_s": 1e-3}, strategy={"kind": "ab"}))


def test_memory_estimate_rejects_a_huge_interleaving_catalogue(monkeypatch):
    interleaving = {"kind": "interleaving", "n_items": 20_000}
    scenario = with_changes(TWO_MODELS, strategy=interleaving, traffic={"users": 20_000})
    err = raises_scenario_error(scenario)
    assert "strategy.n_items: the run would need about 19,2" in str(err)
    assert "interleaving catalogue 19,200 MB" in str(err) and "budget of 8,192 MB" in str(err)
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET_MB", "30000")
    load_scenario(scenario)  # the budget is configurable
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET_MB", "10")
    err = raises_scenario_error(with_changes(MINIMAL, duration_s=600, traffic={"rate_per_s": 1000}))
    assert "traffic.rate_per_s: the run would need about 194 MB (600,000 arrivals 194 MB)" in str(err), str(err)


def test_memory_estimate_is_an_upper_bound_of_a_measured_run():
    import tracemalloc

    from workbench import run
    from workbench.limits import estimate_memory

    s = load_scenario(with_changes(TWO_MODELS, duration_s=200, traffic={"rate_per_s": 100}, strategy={"kind": "ab"}))
    tracemalloc.start()
    try:
        result = run(s, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = estimate_memory(s)
    assert abs(estimate.arrivals - len(result.requests)) < 5 * math.sqrt(estimate.arrivals)
    assert peak <= estimate.total_bytes * 1.5, (peak, estimate.total_bytes)  # the model is per request, not fixed costs


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"clock": 0}, "params.clock: must be >= 1, got 0"),
        ({"max_buckets": 0}, "params.max_buckets: must be >= 2, got 0"),
        ({"delta": 5}, "params.delta: must be < 1, got 5"),
        ({"clock": 1.5}, "params.clock: expected a whole number, got 1.5"),
        ({"clock": "x"}, "params.clock: expected a number, got 'x'"),
        ({"bogus": 1}, "params.bogus: unknown parameter of 'adwin'"),
        ({"rng": "x"}, "params.rng: is set by the engine"),
    ],
)
def test_detector_parameters_are_checked_at_validate_time(params, expected):
    mon = {"detectors": [{"name": "adwin", "model": "legacy", "params": params}]}
    err = raises_scenario_error(with_changes(MINIMAL, monitoring=mon))
    assert f"monitoring.detectors[0].{expected}" in str(err), str(err)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("kswin", {"rng": "x"}, "params.rng: is set by the engine"),
        ("kswin", {"window_size": 10, "stat_size": 30}, "params.stat_size: must be smaller than window_size"),
        ("kswin", {"alpha": 0}, "params.alpha: must be > 0"),
        ("hddm_a", {"drift_confidence": 0}, "params.drift_confidence: must be > 0"),
        ("hddm_a", {"two_sided_test": "x"}, "params.two_sided_test: expected true or false"),
        ("page_hinkley", {"mode": "sideways"}, "params.mode: expected one of 'both', 'up', 'down'"),
        ("eddm", {"alpha": 0.8, "beta": 0.9}, "params.beta: must be smaller than alpha"),
        ("cusum", {"h": 0}, "params.h: must be > 0"),
    ],
)
def test_every_detector_checks_its_parameters(name, params, expected):
    mon = {"detectors": [{"name": name, "model": "legacy", "params": params}]}
    err = raises_scenario_error(with_changes(MINIMAL, monitoring=mon))
    assert f"monitoring.detectors[0].{expected}" in str(err), str(err)


def test_valid_detector_parameters_still_build():
    mon = {"detectors": [{"name": "hddm_a", "model": "legacy", "params": {"two_sided_test": True}},
                         {"name": "adwin", "model": "legacy", "params": {"clock": 16, "delta": 0.01}}]}
    s = load_scenario(with_changes(MINIMAL, monitoring=mon))
    assert s.monitoring.detectors[0].params["two_sided_test"] is True


def test_service_outage_cannot_hang():
    faults = [{"kind": "outage", "target": "fs", "start_s": 1, "mode": "hang"}]
    err = raises_scenario_error(with_changes(MINIMAL, services={"fs": {}}, faults=faults))
    assert "faults[0].mode: 'hang' is for model outages" in str(err)
    load_scenario(with_changes(MINIMAL, services={"fs": {}}, faults=[{**faults[0], "mode": "refuse"}]))


def test_oversized_and_deeply_nested_files_are_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text('name = "x"\nduration_s = 60\n[models.legacy]\n' + "# padding\n" * 1_100_000)
    err = raises_scenario_error(big)
    assert str(err) == f"{big}: file is {big.stat().st_size:,} bytes; scenario files are at most 10,000,000 bytes"
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    err = raises_scenario_error(deep)
    assert str(err).startswith(f"{deep}: "), str(err)
    nested = tmp_path / "nested.toml"
    nested.write_text("[" + ".".join(["a"] * 200) + "]\nb = 1\n")
    err = raises_scenario_error(nested)
    assert str(err) == f"{nested}: tables or arrays nested more than 64 deep"


def test_extreme_but_valid_latencies_stay_finite():
    from workbench import run

    models = {"legacy": {"latency": {"dist": "lognormal", "median_ms": 1.0, "p99_ms": 10_000.0}}}
    faults = [{"kind": "latency_spike", "target": "legacy", "start_s": 10, "multiplier": 1000, "add_ms": 3.6e6}]
    s = load_scenario(with_changes(MINIMAL, duration_s=30, traffic={"rate_per_s": 50}, models=models, faults=faults))
    req = run(s, seed=3).requests
    ok = req[req["status"] == "ok"]
    assert len(ok) > 0 and np.isfinite(ok["latency_ms"]).all()
    summary = run(s, seed=3).summary.models["legacy"]
    assert all(math.isfinite(getattr(summary, k)) for k in ("latency_p50_ms", "latency_p99_ms"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"target": {"weights": {"x1": 1e308}}}, "target.weights.x1: must be between -1e+12 and 1e+12"),
        ({"target": {"noise_sd": 1e300}}, "target.noise_sd: must be between -1e+12 and 1e+12"),
        ({"target": {"intercept": 10**13}}, "target.intercept: must be between -1e+12 and 1e+12"),
        ({"traffic": {"features": {"a": {"dist": "lognormal", "mean": 50, "sd": 100}}}},
         "traffic.features.a.sd: lognormal mean + 8 sd (of the log) must be at most 700"),
        ({"business": {"error_scale": 5e-324}}, "business.error_scale: input should be greater than or equal to"),
    ],
)
def test_values_that_would_overflow_the_arithmetic_are_refused(changes, expected):
    err = raises_scenario_error(with_changes(MINIMAL, **changes))
    assert expected in str(err), str(err)


def test_thousands_of_errors_show_the_first_ones_and_a_count():
    err = raises_scenario_error(with_changes(MINIMAL, **{f"bogus_{i}": 1 for i in range(500)}))
    lines = str(err).splitlines()
    assert lines[0] == "500 errors" and len(lines) == 22 and lines[-1] == "  ... and 480 more"


def test_deeply_nested_override_values_and_a_bad_budget_are_scenario_errors(monkeypatch):
    from workbench.scenario import parse_override_value

    with pytest.raises(ScenarioError, match="nested more than 64 deep"):
        parse_override_value("[" * 2000)
    with pytest.raises(ScenarioError, match="nested more than 64 deep"):
        parse_override_value("[" * 100 + "]" * 100)
    assert parse_override_value("[[1, 2], [3]]") == [[1, 2], [3]]
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET_MB", "abc")
    err = raises_scenario_error(MINIMAL)
    assert str(err) == "WORKBENCH_MEMORY_BUDGET_MB='abc': expected a number of megabytes"
