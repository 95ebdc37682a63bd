"""Latency distributions own their maths: quantiles against scipy, draws against the engine's formulas."""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest
from scipy import stats

from workbench.engine.draws import service_times_ms
from workbench.engine.predeployment import configured_p99_ms
from workbench.scenario import (
    ConstantLatency,
    ExponentialLatency,
    Latency,
    LatencyDistribution,
    LognormalLatency,
    ScenarioError,
    load_scenario,
)
from workbench.scenario.latency import EmpiricalLatency

SPECS = [
    LognormalLatency(median_ms=40, p99_ms=120),
    LognormalLatency(median_ms=0.5, p99_ms=4000),
    ExponentialLatency(mean_ms=10),
    ExponentialLatency(mean_ms=2.5e5),
    ConstantLatency(ms=25),
    ConstantLatency(ms=0),
]


def _frozen(spec):
    """The scipy distribution a latency spec stands for (None for a constant)."""
    if isinstance(spec, LognormalLatency):
        return stats.lognorm(s=spec.sigma, scale=spec.median_ms)
    if isinstance(spec, ExponentialLatency):
        return stats.expon(scale=spec.mean_ms)
    return None


def _reference_draws(spec, n, rng):
    """Service times by the formulas of each distribution, written out here independently."""
    if isinstance(spec, LognormalLatency):
        sigma = math.log(spec.p99_ms / spec.median_ms) / 2.3263478740408408
        return spec.median_ms * np.exp(sigma * rng.standard_normal(n))
    if isinstance(spec, ExponentialLatency):
        return rng.exponential(spec.mean_ms, size=n)
    return np.full(n, spec.ms)


def test_every_distribution_of_the_union_implements_the_interface():
    kinds = typing.get_args(typing.get_args(Latency)[0])
    assert set(kinds) == {LognormalLatency, ExponentialLatency, ConstantLatency, EmpiricalLatency}
    for kind in kinds:
        assert issubclass(kind, LatencyDistribution)
        assert kind.sample is not LatencyDistribution.sample
        assert kind.scale_fields and set(kind.scale_fields) <= set(kind.model_fields)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_median_p99_and_mean_match_scipy(spec):
    dist = _frozen(spec)
    if dist is None:
        assert spec.median_ms == spec.p99_ms == spec.mean_ms == spec.ms
        return
    assert spec.median_ms == pytest.approx(dist.median(), rel=1e-12)
    assert spec.p99_ms == pytest.approx(dist.ppf(0.99), rel=1e-12)
    assert spec.mean_ms == pytest.approx(dist.mean(), rel=1e-12)


def test_lognormal_p99_is_exp_of_mu_plus_z_sigma():
    spec = LognormalLatency(median_ms=40, p99_ms=120)
    mu = math.log(spec.median_ms)
    assert math.exp(mu + 2.3263478740408408 * spec.sigma) == pytest.approx(spec.p99_ms, rel=1e-14)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_sample_draws_bit_identical_numbers_to_the_reference_formulas(spec):
    got = spec.sample(1000, np.random.default_rng(7))
    want = _reference_draws(spec, 1000, np.random.default_rng(7))
    assert got.dtype == np.float64 and got.shape == (1000,)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(service_times_ms(spec, 1000, np.random.default_rng(7)), want)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[2], SPECS[3]], ids=repr)  # tails light enough for a sample mean
def test_sample_quantiles_agree_with_the_properties(spec):
    x = spec.sample(200_000, np.random.default_rng(3))
    assert np.median(x) == pytest.approx(spec.median_ms, rel=0.02)
    assert np.quantile(x, 0.99) == pytest.approx(spec.p99_ms, rel=0.05)
    assert x.mean() == pytest.approx(spec.mean_ms, rel=0.02)


def test_constant_sample_does_not_draw():
    rng = np.random.default_rng(1)
    ConstantLatency(ms=5).sample(10, rng)
    assert rng.random() == np.random.default_rng(1).random()


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("factor", [0.5, 1.0, 3.0])
def test_scaled_multiplies_every_latency_and_keeps_the_kind(spec, factor):
    out = spec.scaled(factor)
    assert type(out) is type(spec) and out.dist == spec.dist
    for name in ("median_ms", "p99_ms", "mean_ms"):
        assert getattr(out, name) == pytest.approx(getattr(spec, name) * factor, rel=1e-12)
    if isinstance(spec, LognormalLatency):
        assert out.sigma == pytest.approx(spec.sigma, rel=1e-12)
    assert spec.scaled(factor) == out  # the original is unchanged (frozen)


@pytest.mark.parametrize("factor", [-1.0, math.nan])
def test_scaled_refuses_a_negative_or_nan_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        ExponentialLatency(mean_ms=10).scaled(factor)


def test_a_scaled_latency_round_trips_through_a_scenario():
    sc = load_scenario({"name": "s", "duration_s": 60, "models": {"legacy": {}}})
    lat = sc.models["legacy"].latency.scaled(2.0)
    table = lat.model_dump(mode="json")
    again = load_scenario({"name": "s", "duration_s": 60, "models": {"legacy": {"latency": table}}})
    assert again.models["legacy"].latency == lat


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_configured_p99_is_the_distributions_p99(spec):
    assert configured_p99_ms(spec) == spec.p99_ms


@pytest.mark.parametrize(
    ("latency", "expected"),
    [
        ({"dist": "lognormal", "median_ms": 40, "p99_ms": 40}, "latency.p99_ms: must be greater than median_ms"),
        ({"dist": "lognormal", "median_ms": 1, "p99_ms": 2e4}, "latency.p99_ms: must be at most 10000 x median_ms"),
        ({"dist": "lognormal", "median_ms": 0, "p99_ms": 5}, "latency.median_ms: input should be greater than 0"),
        ({"dist": "exponential", "mean_ms": 4e6}, "latency.mean_ms: input should be less than or equal to 3600000"),
        ({"dist": "constant", "ms": -1}, "latency.ms: input should be greater than or equal to 0"),
        ({"dist": "exponential", "median_ms": 5}, "latency.median_ms: unknown key"),
        ({"dist": "gamma", "mean_ms": 5}, "latency.dist: unknown kind 'gamma'"),
    ],
)
def test_out_of_range_latencies_name_the_field(latency, expected):
    with pytest.raises(ScenarioError) as info:
        load_scenario({"name": "s", "duration_s": 60, "models": {"legacy": {"latency": latency}}})
    assert f"models.legacy.{expected}" in str(info.value), str(info.value)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("p", [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 1.0])
def test_quantile_matches_scipy(spec, p):
    dist = _frozen(spec)
    want = spec.ms if dist is None else dist.ppf(p)
    assert spec.quantile(p) == pytest.approx(want, rel=1e-12)


def test_quantile_refuses_a_probability_outside_0_1():
    with pytest.raises(ValueError, match="p: must be a probability"):
        LognormalLatency(median_ms=40, p99_ms=120).quantile(1.5)


# ----------------------------------------------------------------------------- empirical
TABLE = EmpiricalLatency(probabilities=[0.5, 0.9, 0.99], quantiles_ms=[41.0, 80.0, 140.0])


def _lognormal_table(spec: LognormalLatency, ps) -> EmpiricalLatency:
    return EmpiricalLatency(probabilities=ps, quantiles_ms=[spec.quantile(p) for p in ps])


def test_empirical_table_of_a_lognormal_is_that_lognormal():
    spec = LognormalLatency(median_ms=40, p99_ms=120)
    table = _lognormal_table(spec, [0.1, 0.5, 0.9, 0.99])
    for p in (1e-6, 0.01, 0.3, 0.5, 0.95, 0.999, 1 - 1e-9):  # between the knots and in both tails
        assert table.quantile(p) == pytest.approx(spec.quantile(p), rel=1e-12)
    assert table.mean_ms == pytest.approx(spec.mean_ms, rel=1e-12)
    # the same standard normal draws, so the same service times (up to rounding)
    np.testing.assert_allclose(table.sample(1000, np.random.default_rng(7)),
                               spec.sample(1000, np.random.default_rng(7)), rtol=1e-12)


def test_empirical_quantiles_at_the_knots_between_and_beyond():
    assert [TABLE.quantile(p) for p in (0.5, 0.9, 0.99)] == [41.0, 80.0, 140.0]
    assert TABLE.median_ms == 41.0 and TABLE.p99_ms == pytest.approx(140.0, rel=1e-14)
    z = stats.norm.ppf
    # between 0.9 and 0.99: ln q linear in the normal score
    frac = (z(0.95) - z(0.9)) / (z(0.99) - z(0.9))
    assert TABLE.quantile(0.95) == pytest.approx(80.0 * (140.0 / 80.0) ** frac, rel=1e-12)
    # below 0.5: the lognormal through (0.5, 41) and (0.9, 80); above 0.99: through (0.9, 80) and (0.99, 140)
    lower_sigma = math.log(80 / 41) / z(0.9)
    assert TABLE.quantile(0.1) == pytest.approx(41.0 * math.exp(lower_sigma * z(0.1)), rel=1e-12)
    upper_sigma = math.log(140 / 80) / (z(0.99) - z(0.9))
    assert TABLE.quantile(0.999) == pytest.approx(140.0 * math.exp(upper_sigma * (z(0.999) - z(0.99))), rel=1e-12)
    assert TABLE.quantile(0.0) == 0.0 and TABLE.quantile(1.0) == math.inf


def test_empirical_mean_is_the_integral_of_the_quantile_function():
    from scipy import integrate

    # E[X] = int_0^1 Q(u) du = int Q(Phi(z)) phi(z) dz
    want, _ = integrate.quad(lambda z: TABLE.quantile(stats.norm.cdf(z)) * stats.norm.pdf(z), -8, 8,
                             points=[0.0, stats.norm.ppf(0.9), stats.norm.ppf(0.99)], limit=200)
    assert TABLE.mean_ms == pytest.approx(want, rel=1e-8)


def test_empirical_sample_agrees_with_its_quantiles_and_mean():
    x = TABLE.sample(400_000, np.random.default_rng(3))
    # sample quantile standard error sqrt(p (1 - p) / n) / density: below 0.5% at these sizes
    for p in (0.1, 0.5, 0.9, 0.95, 0.99):
        assert np.quantile(x, p) == pytest.approx(TABLE.quantile(p), rel=0.01)
    assert x.mean() == pytest.approx(TABLE.mean_ms, rel=0.01)


def test_empirical_flat_ends_clamp_the_tails():
    flat = EmpiricalLatency(probabilities=[0.1, 0.5, 0.9, 0.99], quantiles_ms=[20.0, 20.0, 50.0, 50.0])
    x = flat.sample(10_000, np.random.default_rng(1))
    assert x.min() == pytest.approx(20.0, rel=1e-12) and x.max() == pytest.approx(50.0, rel=1e-12)
    assert flat.quantile(0.0) == 20.0 and flat.quantile(1.0) == 50.0


def test_empirical_scaled_multiplies_the_quantiles():
    out = TABLE.scaled(2.0)
    assert out.quantiles_ms == (82.0, 160.0, 280.0) and out.probabilities == TABLE.probabilities
    assert out.mean_ms == pytest.approx(2 * TABLE.mean_ms, rel=1e-12)
    with pytest.raises(ValueError, match="factor"):
        TABLE.scaled(-1.0)


def test_empirical_latency_reads_from_toml(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nduration_s = 60\n[models.legacy.latency]\ndist = "empirical"\n'
                    "probabilities = [0.5, 0.9, 0.99]\nquantiles_ms = [41, 80.0, 140.0]\n")
    assert load_scenario(path).models["legacy"].latency == TABLE


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"probabilities": [0.5, 0.9], "quantiles_ms": [41.0]}, "quantiles_ms: list should have at least 2 items"),
        ({"probabilities": [0.5, 0.9, 0.99], "quantiles_ms": [41.0, 80.0]}, "quantiles_ms: has 2 values; probabilities has 3"),
        ({"probabilities": [0.5, 1.0], "quantiles_ms": [41.0, 80.0]}, "probabilities[1]: must be strictly between 0 and 1"),
        ({"probabilities": [0.9, 0.5], "quantiles_ms": [41.0, 80.0]}, "probabilities[1]: must be greater than the one before"),
        ({"probabilities": [0.5, 0.9], "quantiles_ms": [41.0, 30.0]}, "quantiles_ms[1]: must be at least the one before"),
        ({"probabilities": [0.5, 0.9], "quantiles_ms": [0.0, 30.0]}, "quantiles_ms[0]: must be in (0, 3.6e+06] ms"),
        ({"probabilities": [0.5, 0.9], "quantiles_ms": [41.0, True]}, "quantiles_ms[1]: expected a number, got True"),
        ({"probabilities": ["0.5", 0.9], "quantiles_ms": [41.0, 80.0]}, "probabilities[0]: expected a number"),
        ({"probabilities": [0.5, 0.51], "quantiles_ms": [1.0, 1e6]}, "quantiles_ms: the upper tail"),
    ],
)
def test_bad_empirical_tables_name_the_field(table, expected):
    with pytest.raises(ScenarioError) as info:
        load_scenario({"name": "s", "duration_s": 60,
                       "models": {"legacy": {"latency": {"dist": "empirical", **table}}}})
    assert f"models.legacy.latency.{expected}" in str(info.value), str(info.value)
