"""Calibration from a request log or a Prometheus export recovers the parameters the log was drawn with.

Logs are drawn here with known parameters (a diurnal rate, a lognormal latency, known error and
timeout rates); every tolerance is a stated number of standard errors of its estimate at the
log's size, written next to the assertion.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import workbench
from workbench.engine import generate_traffic
from workbench.ops.calibrate import (
    Calibration,
    calibrate,
    calibrate_prometheus,
    read_prometheus_matrix,
)
from workbench.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "calibrate"

MEAN_RATE, AMPLITUDE, PERIOD_S, PHASE_S, SPAN_S = 20.0, 0.6, 3600.0, 600.0, 7200.0
MEDIAN_MS, P99_MS = 40.0, 160.0
SIGMA = math.log(P99_MS / MEDIAN_MS) / stats.norm.ppf(0.99)
ERROR_RATE, TIMEOUT_RATE = 0.02, 0.01
EPOCH_S = 1_714_521_600.0  # 2024-05-01T00:00:00Z
STEP_S = 60.0


def _draw_log(seed: int, mean_rate: float, span_s: float, amplitude: float = AMPLITUDE) -> pd.DataFrame:
    """Requests of a diurnal Poisson process (thinning), lognormal latencies, HTTP statuses."""
    rng = np.random.default_rng(seed)
    peak = mean_rate * (1 + amplitude)
    t = np.sort(rng.uniform(0, span_s, size=rng.poisson(peak * span_s)))
    rate = mean_rate * (1 + amplitude * np.sin(2 * np.pi * (t - PHASE_S) / PERIOD_S))
    t = t[rng.uniform(size=t.size) * peak < rate]
    n = t.size
    u = rng.uniform(size=n)
    status = np.where(u < ERROR_RATE, 503, np.where(u < ERROR_RATE + TIMEOUT_RATE, 504, 200))
    return pd.DataFrame({
        "ts_ms": np.round((EPOCH_S + t) * 1000.0),
        "latency_ms": MEDIAN_MS * np.exp(SIGMA * rng.standard_normal(n)),
        "status": status,
    })


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    frame = _draw_log(1, MEAN_RATE, SPAN_S)  # about 144,000 requests
    path = tmp_path_factory.mktemp("logs") / "requests.parquet"
    frame.to_parquet(path)
    return path, frame


@pytest.fixture(scope="module")
def diurnal(big_log) -> Calibration:
    return calibrate(big_log[0], time_col="ts_ms", latency_col="latency_ms", status_col="status",
                     pattern="diurnal", period_s=PERIOD_S, step_s=STEP_S)


# ----------------------------------------------------------------------------- traffic
def test_diurnal_fit_recovers_rate_amplitude_and_phase(diurnal):
    fit = diurnal.diurnal
    n_steps = diurnal.rates_per_s.size
    assert n_steps == SPAN_S / STEP_S
    # a step's rate has Poisson sd sqrt(rate / step) <= sd_max; least squares on n steps:
    # se(mean) = sd / sqrt(n), se(sin and cos coefficients) = sd * sqrt(2 / n)
    sd_max = math.sqrt(MEAN_RATE * (1 + AMPLITUDE) / STEP_S)
    se_mean = sd_max / math.sqrt(n_steps)
    se_coef = sd_max * math.sqrt(2 / n_steps)
    assert fit.rate_per_s == pytest.approx(MEAN_RATE, abs=5 * se_mean)
    assert fit.amplitude == pytest.approx(AMPLITUDE, abs=5 * se_coef / MEAN_RATE)
    phase_se_s = se_coef / (MEAN_RATE * AMPLITUDE) * PERIOD_S / (2 * np.pi)
    assert fit.phase_s == pytest.approx(PHASE_S, abs=5 * phase_se_s)
    # the residual is Poisson noise: RMSE^2 ~ (rate / step) chi2_{n-3} / n, relative sd of RMSE ~ 1/sqrt(2 (n-3))
    assert fit.poisson_rmse_per_s == pytest.approx(math.sqrt(fit.rate_per_s / STEP_S))
    assert fit.rmse_per_s / fit.poisson_rmse_per_s == pytest.approx(1.0, abs=4 / math.sqrt(2 * (n_steps - 3)))
    assert fit.relative_error == pytest.approx(fit.rmse_per_s / fit.rate_per_s)
    traffic = diurnal.scenario.traffic
    assert (traffic.pattern, traffic.rate_per_s, traffic.amplitude, traffic.period_s) == (
        "diurnal", fit.rate_per_s, fit.amplitude, PERIOD_S)


def test_rate_curve_counts_requests_per_step(big_log, diurnal):
    _, frame = big_log
    t = frame.ts_ms.to_numpy() / 1000.0
    assert diurnal.origin_s == t.min()
    counts = np.histogram(t - t.min(), bins=np.arange(0, SPAN_S + 1, STEP_S))[0]
    np.testing.assert_array_equal(diurnal.rates_per_s, counts / STEP_S)
    np.testing.assert_array_equal(diurnal.times_s, np.arange(counts.size) * STEP_S)


def test_a_trace_replays_the_observed_rate_within_poisson_error(big_log):
    cal = calibrate(big_log[0], time_col="ts_ms", latency_col="latency_ms", step_s=STEP_S)
    sc = cal.scenario.with_overrides({"duration_s": 1800})  # a half hour keeps the test quick
    assert sc.traffic.pattern == "trace" and sc.traffic.trace_step_s == STEP_S
    np.testing.assert_array_equal(sc.traffic.trace_rates_per_s, cal.rates_per_s)
    assert sc.traffic.rate_per_s == pytest.approx(cal.rates_per_s.mean(), rel=1e-12)
    assert cal.scenario.duration_s == SPAN_S
    tr = generate_traffic(sc, seed=5)
    counts = np.histogram(tr.time_s, bins=np.arange(0, 1801, STEP_S))[0]
    expected = cal.rates_per_s[:30] * STEP_S
    chi2 = float(np.sum((counts - expected) ** 2 / expected))  # Poisson counts: one df per step
    assert chi2 < stats.chi2.ppf(0.999, df=30)


# ----------------------------------------------------------------------------- latency and failures
def test_lognormal_and_quantiles_are_recovered(diurnal, big_log):
    _, frame = big_log
    fit = diurnal.lognormal
    n_ok = int((frame.status == 200).sum())
    assert fit.n == n_ok and diurnal.models["legacy"].n_latencies == n_ok
    # MLE: se(mu) = sigma / sqrt(n), se(sigma) = sigma / sqrt(2 n); ln p99 = mu + z sigma
    se_mu, se_sigma = SIGMA / math.sqrt(n_ok), SIGMA / math.sqrt(2 * n_ok)
    z99 = stats.norm.ppf(0.99)
    assert math.log(fit.median_ms) == pytest.approx(math.log(MEDIAN_MS), abs=5 * se_mu)
    assert fit.sigma == pytest.approx(SIGMA, abs=5 * se_sigma)
    assert math.log(fit.p99_ms) == pytest.approx(math.log(P99_MS), abs=5 * math.hypot(se_mu, z99 * se_sigma))
    # a lognormal sample: KS distance below the 1% critical value 1.63 / sqrt(n) (conservative with fitted parameters)
    assert fit.ks_statistic < 1.63 / math.sqrt(n_ok)
    # sample quantile of ln x: se = sqrt(p (1 - p) / n) / (sigma phi(z_p)) in units of sigma
    for p in (0.5, 0.9, 0.99):
        zp = stats.norm.ppf(p)
        rel_se = SIGMA * math.sqrt(p * (1 - p) / n_ok) / stats.norm.pdf(zp) + abs(zp) * se_sigma + se_mu
        assert abs(fit.quantile_rel_errors[p]) < 5 * rel_se
        observed = diurnal.quantiles[p]
        assert math.log(observed) == pytest.approx(math.log(MEDIAN_MS) + SIGMA * zp,
                                                   abs=5 * SIGMA * math.sqrt(p * (1 - p) / n_ok) / stats.norm.pdf(zp))
    assert fit.max_quantile_rel_error == max(abs(v) for v in fit.quantile_rel_errors.values())
    # the table keeps the probabilities with at least 10 requests beyond them
    assert sorted(diurnal.quantiles) == [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]
    latency = diurnal.scenario.models["legacy"].latency
    assert latency.dist == "empirical" and latency.probabilities == tuple(sorted(diurnal.quantiles))
    np.testing.assert_allclose(latency.quantiles_ms, [diurnal.quantiles[p] for p in latency.probabilities],
                               rtol=5e-6)  # 6 significant digits


def test_error_and_timeout_rates_are_recovered(diurnal, big_log):
    n = len(big_log[1])
    for got, want in ((diurnal.error_rate, ERROR_RATE), (diurnal.timeout_rate, TIMEOUT_RATE)):
        assert got == pytest.approx(want, abs=5 * math.sqrt(want * (1 - want) / n))  # binomial se
    assert diurnal.scenario.models["legacy"].error_rate == pytest.approx(diurnal.error_rate, abs=1e-9)


def test_lognormal_latency_option_puts_the_fit_in_the_scenario(big_log):
    cal = calibrate(big_log[0], time_col="ts_ms", latency_col="latency_ms", latency="lognormal")
    lat = cal.scenario.models["legacy"].latency
    assert lat.dist == "lognormal"
    assert lat.median_ms == pytest.approx(cal.lognormal.median_ms, rel=1e-5)
    assert lat.p99_ms == pytest.approx(cal.lognormal.p99_ms, rel=1e-5)


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        (["ok", "OK", "success", "error", "failed", "timeout", "deadline_exceeded", "dropped"],
         [0, 0, 0, 1, 1, 2, 2, 1]),
        ([200, 404, 408, 499, 500, 503, 504, 301], [0, 0, 2, 0, 1, 1, 2, 0]),
        (["200", "500", "504", "ok"], [0, 1, 2, 0]),
    ],
)
def test_statuses_from_names_and_http_codes(tmp_path, values, codes):
    n = 40 * len(values)  # enough ok latencies for a table
    frame = pd.DataFrame({"t": np.arange(n, dtype=float), "lat": np.linspace(10, 50, n),
                          "s": (values * 40)[:n]})
    frame.to_csv(tmp_path / "s.csv", index=False)
    cal = calibrate(tmp_path / "s.csv", time_col="t", latency_col="lat", status_col="s")
    codes = np.array(codes)
    assert cal.error_rate == pytest.approx(np.mean(codes == 1))
    assert cal.timeout_rate == pytest.approx(np.mean(codes == 2))
    assert cal.models["legacy"].n_latencies == 40 * int(np.sum(codes == 0))


# ----------------------------------------------------------------------------- files and columns
def _small(seed: int = 2) -> pd.DataFrame:
    return _draw_log(seed, 2.0, 1800.0, amplitude=0.3)


@pytest.mark.parametrize(("fmt", "times"), [("csv", "iso"), ("parquet", "epoch_ms"), ("jsonl", "epoch_s"),
                                           ("csv", "epoch_s")])
def test_time_columns_and_formats_give_the_same_calibration(tmp_path, fmt, times):
    frame = _small()
    reference = calibrate(_write(tmp_path / "ref.parquet", frame), time_col="ts_ms", latency_col="latency_ms")
    seconds = frame.ts_ms / 1000.0
    column = {"epoch_s": seconds, "epoch_ms": frame.ts_ms,
              "iso": pd.to_datetime(seconds, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}[times]
    path = _write(tmp_path / f"log.{fmt}", frame.assign(when=column).drop(columns="ts_ms"))
    cal = calibrate(path, time_col="when", latency_col="latency_ms")
    assert cal.origin_s == pytest.approx(reference.origin_s, abs=1e-3)
    np.testing.assert_array_equal(cal.rates_per_s, reference.rates_per_s)
    assert cal.quantiles == pytest.approx(reference.quantiles, rel=1e-12)


def _write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True, double_precision=15)
    return path


def test_latency_units_convert_to_milliseconds(tmp_path):
    frame = _small()
    ms = calibrate(_write(tmp_path / "a.parquet", frame), time_col="ts_ms", latency_col="latency_ms")
    s = calibrate(_write(tmp_path / "b.parquet", frame.assign(latency_ms=frame.latency_ms / 1000)),
                  time_col="ts_ms", latency_col="latency_ms", latency_unit="s")
    assert s.quantiles == pytest.approx(ms.quantiles, rel=1e-12)


def test_two_models_become_legacy_and_candidate_under_the_observed_split(tmp_path):
    frame = _small()
    rng = np.random.default_rng(9)
    frame["model"] = np.where(rng.uniform(size=len(frame)) < 0.25, "v2", "v1")
    frame.loc[frame.model == "v2", "latency_ms"] *= 1.5
    path = _write(tmp_path / "two.csv", frame)
    cal = calibrate(path, time_col="ts_ms", latency_col="latency_ms", model_col="model")
    assert cal.models["legacy"].log_value == "v1" and cal.models["candidate"].log_value == "v2"
    share = float(np.mean(frame.model == "v2"))
    assert cal.scenario.strategy.kind == "ab"
    assert cal.scenario.strategy.candidate_fraction == pytest.approx(share, abs=1e-6)
    ratio = cal.models["candidate"].lognormal.median_ms / cal.models["legacy"].lognormal.median_ms
    n_b = cal.models["candidate"].n
    assert ratio == pytest.approx(1.5, rel=5 * SIGMA * math.sqrt(1 / n_b + 1 / (len(frame) - n_b)))
    only = calibrate(path, time_col="ts_ms", latency_col="latency_ms", model_col="model", model="v2")
    assert list(only.models) == ["legacy"] and only.models["legacy"].n == n_b
    np.testing.assert_array_equal(only.rates_per_s, cal.rates_per_s)  # the traffic counts every row


# ----------------------------------------------------------------------------- TOML
def test_to_toml_round_trips(tmp_path, diurnal):
    for cal in (diurnal, calibrate(_write(tmp_path / "s.parquet", _small()), time_col="ts_ms",
                                   latency_col="latency_ms", status_col="status")):
        path = tmp_path / "calibrated.toml"
        text = cal.to_toml(path)
        assert path.read_text() == text
        again = load_scenario(path)
        assert again.to_mapping() == cal.scenario.to_mapping()
        assert again.content_hash() == cal.scenario.content_hash()


def test_a_base_scenario_keeps_its_rollout_and_gets_the_observed_traffic(tmp_path):
    base = ROOT / "scenarios" / "latency_spike_rollback.toml"
    cal = calibrate(_write(tmp_path / "s.parquet", _small()), time_col="ts_ms", latency_col="latency_ms",
                    status_col="status", base=base)
    original = load_scenario(base)
    sc = cal.scenario
    assert sc.strategy == original.strategy and sc.faults == original.faults and sc.duration_s == original.duration_s
    assert sc.traffic.pattern == "trace" and sc.models["legacy"].latency.dist == "empirical"
    assert sc.models["candidate"] == original.models["candidate"]
    assert load_scenario(tmp_path / "x.toml" if cal.to_toml(tmp_path / "x.toml") else None).to_mapping() == \
        sc.to_mapping()
    r = workbench.run(sc.with_overrides({"duration_s": 60, "faults": [], "rollback.enabled": False}), seed=1)
    assert len(r.requests) > 0


# ----------------------------------------------------------------------------- Prometheus
def _matrix(series: list[tuple[dict, list[float], list[str]]]) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": m, "values": [[t, v] for t, v in zip(ts, vs, strict=True)]} for m, ts, vs in series]}}


def test_prometheus_matrix_round_trip(tmp_path):
    times = [1_700_000_000 + 60.0 * k for k in range(5)]
    doc = _matrix([({"pod": "a"}, times, ["1.5", "NaN", "2", "+Inf", "0"]),
                   ({"pod": "b"}, times[:2], ["3", "4.25"])])
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    series = read_prometheus_matrix(path)
    assert [s.metric for s in series] == [{"pod": "a"}, {"pod": "b"}]
    np.testing.assert_array_equal(series[0].times_s, times)
    np.testing.assert_array_equal(series[0].values, [1.5, np.nan, 2.0, np.inf, 0.0])
    np.testing.assert_array_equal(series[1].values, [3.0, 4.25])
    for a, b in zip(read_prometheus_matrix(doc), series, strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_calibrate_prometheus_sums_rates_and_takes_the_median_quantile(tmp_path):
    times = [1_700_000_000 + 60.0 * k for k in range(6)]
    rate = _matrix([({"pod": "a"}, times, ["10", "20", "NaN", "30", "10", "20"]),
                    ({"pod": "b"}, times, ["5", "5", "NaN", "5", "5", "5"])])
    p50 = _matrix([({}, times, ["0.040", "0.041", "NaN", "0.039", "0.2", "0.040"])])
    p99 = _matrix([({}, times, ["0.150", "0.160", "0.155", "+Inf", "0.9", "0.150"])])
    errors = _matrix([({}, times, ["0.15", "0.25", "0", "0.35", "0.15", "0.25"])])
    files = {}
    for name, doc in {"rate": rate, "p50": p50, "p99": p99, "errors": errors}.items():
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(doc))
    cal = calibrate_prometheus(files["rate"], {0.5: files["p50"], 0.99: files["p99"]}, errors=files["errors"])
    # summed over pods; the missing sample holds the one before
    np.testing.assert_array_equal(cal.rates_per_s, [15.0, 25.0, 25.0, 35.0, 15.0, 25.0])
    assert cal.step_s == 60.0 and cal.origin_s == times[0]
    # medians of the finite samples, seconds -> ms: p50 of (40, 41, 39, 200, 40) and p99 of (150, 160, 155, 900, 150)
    assert cal.quantiles == pytest.approx({0.5: 40.0, 0.99: 155.0}, rel=1e-12)
    assert cal.error_rate == pytest.approx(1.15 / 140.0, rel=1e-12)
    sc = cal.scenario
    assert sc.traffic.trace_rates_per_s == (15.0, 25.0, 25.0, 35.0, 15.0, 25.0)
    assert sc.models["legacy"].latency.quantiles_ms == (40.0, 155.0)
    assert load_scenario(tmp_path / "p.toml" if cal.to_toml(tmp_path / "p.toml") else None).to_mapping() == \
        sc.to_mapping()


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"status": "error", "error": "bad query"}, "status: expected 'success'"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "data.resultType: expected 'matrix'"),
        (_matrix([({}, [1.0, 2.0], ["1", "x"])]), "data.result[0].values[1]: value 'x' is not a number"),
        (_matrix([({}, [2.0, 1.0], ["1", "2"])]), "data.result[0].values: times must increase"),
    ],
)
def test_bad_prometheus_exports_name_the_file_and_field(tmp_path, doc, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ScenarioError) as info:
        read_prometheus_matrix(path)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "kwargs", "expected"),
    [
        (None, {"time_col": "when"}, "time_col 'when': no such column"),
        (None, {"latency_col": "lat"}, "latency_col 'lat': no such column"),
        (None, {"status_col": "code"}, "status_col 'code': no such column"),
        (None, {"model_col": "m"}, "model_col 'm': no such column"),
        ({"status": "weird"}, {"status_col": "status"}, "status_col 'status': row 3 has 'weird'"),
        ({"latency_ms": "slow"}, {}, "latency_col 'latency_ms': row 3 has 'slow', not a number"),
        ({"latency_ms": -1.0}, {}, "latency_col 'latency_ms': row 3 has -1.0 ms"),
        ({"ts_ms": "yesterday"}, {}, "time_col 'ts_ms': expected epoch seconds or milliseconds, or ISO 8601"),
        (None, {"latency_unit": "hours"}, "latency_unit 'hours': expected one of ms, s, us, ns"),
        (None, {"step_s": 0}, "step_s 0: must be a positive number"),
    ],
)
def test_bad_input_names_the_file_and_the_column(tmp_path, change, kwargs, expected):
    frame = _small().astype({"latency_ms": object, "status": object, "ts_ms": object})
    if change:
        for col, value in change.items():
            frame.loc[3, col] = value
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    args = {"time_col": "ts_ms", "latency_col": "latency_ms"} | kwargs
    with pytest.raises(ScenarioError) as info:
        calibrate(path, **args)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)


@pytest.mark.parametrize(("name", "expected"), [("missing.csv", "no such file"), ("log.txt", "unknown log format")])
def test_missing_or_unknown_files_are_named(tmp_path, name, expected):
    (tmp_path / "log.txt").write_text("t,l\n1,2\n")
    with pytest.raises(ScenarioError) as info:
        calibrate(tmp_path / name, time_col="t", latency_col="l")
    assert str(info.value) == f"{tmp_path / name}: {expected}" or expected in str(info.value)


def test_too_few_latencies_are_refused(tmp_path):
    path = _write(tmp_path / "tiny.csv", _small().head(10))
    with pytest.raises(ScenarioError, match="latency_col 'latency_ms': 10 usable latencies"):
        calibrate(path, time_col="ts_ms", latency_col="latency_ms")


# ----------------------------------------------------------------------------- the shipped example
def test_the_shipped_example_is_what_its_script_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_log", EXAMPLES / "make_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes(), path.name
    cal = calibrate(EXAMPLES / "request_log.csv", time_col="timestamp", latency_col="latency_ms",
                    status_col="status", model_col="model", pattern="diurnal", period_s=module.PERIOD_S)
    assert [cal.models[m].log_value for m in ("legacy", "candidate")] == ["model-a", "model-b"]
    assert cal.diurnal.amplitude == pytest.approx(module.AMPLITUDE, abs=0.05)
    prom = calibrate_prometheus(EXAMPLES / "prometheus_rate.json",
                                {p: EXAMPLES / f"prometheus_p{n}.json" for p, n in ((0.5, 50), (0.9, 90), (0.99, 99))},
                                errors=EXAMPLES / "prometheus_errors.json")
    assert prom.scenario.traffic.rate_per_s == pytest.approx(cal.rates_per_s.mean(), rel=0.01)
