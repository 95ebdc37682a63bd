"""Write the example request log and Prometheus exports used by the calibration docs and notebook.

The log is synthetic, with known parameters, so what :func:`workbench.ops.calibrate.calibrate`
recovers from it can be checked:

* arrivals: a Poisson process with rate ``1.5 * (1 + 0.6 * sin(2 pi (t - 600) / 3600))``
  requests per second over two hours (about 10,800 rows);
* models: ``model-a`` serves 90% of the requests, ``model-b`` 10%;
* latency: lognormal, median 40 ms and p99 160 ms for ``model-a``, median 46 ms and p99
  200 ms for ``model-b``;
* status: HTTP 500 for 1% of the requests, 504 (a timeout) for 0.5%, else 200.

``request_log.csv`` has the columns ``timestamp`` (ISO 8601, UTC, milliseconds),
``model``, ``latency_ms`` and ``status``. The Prometheus exports are answers of
``/api/v1/query_range`` at a 60 s step, computed from the same log:
``prometheus_rate.json`` (``sum(rate(http_requests_total[1m]))``),
``prometheus_errors.json`` (the same for status 5xx but 504) and
``prometheus_p50.json``, ``prometheus_p90.json``, ``prometheus_p99.json``
(``histogram_quantile`` of the request duration, in seconds; here the quantiles of each
minute's latencies).

Run ``python examples/calibrate/make_log.py`` to write them next to this script; the
output is the same on every run (a fixed seed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501
START = pd.Timestamp("2024-05-01T00:00:00Z")
DURATION_S = 7200.0
MEAN_RATE_PER_S = 1.5
AMPLITUDE = 0.6
PERIOD_S = 3600.0
PHASE_S = 600.0
MODELS = {"model-a": (0.9, 40.0, 160.0), "model-b": (0.1, 46.0, 200.0)}  # share, median ms, p99 ms
ERROR_RATE = 0.01
TIMEOUT_RATE = 0.005
STEP_S = 60.0
Z99 = 2.3263478740408408


def arrival_times(rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals of the diurnal rate, by thinning a process at the peak rate."""
    peak = MEAN_RATE_PER_S * (1 + AMPLITUDE)
    n = rng.poisson(peak * DURATION_S)
    t = np.sort(rng.uniform(0.0, DURATION_S, size=n))
    rate = MEAN_RATE_PER_S * (1 + AMPLITUDE * np.sin(2 * np.pi * (t - PHASE_S) / PERIOD_S))
    return t[rng.uniform(size=n) * peak < rate]


def make_log(rng: np.random.Generator) -> pd.DataFrame:
    """The request log (one row per request)."""
    t = arrival_times(rng)
    n = t.size
    names = list(MODELS)
    shares = [MODELS[m][0] for m in names]
    model = rng.choice(len(names), size=n, p=shares)
    median = np.array([MODELS[m][1] for m in names])[model]
    sigma = np.array([math.log(MODELS[m][2] / MODELS[m][1]) / Z99 for m in names])[model]
    latency = median * np.exp(sigma * rng.standard_normal(n))
    u = rng.uniform(size=n)
    status = np.where(u < ERROR_RATE, 500, np.where(u < ERROR_RATE + TIMEOUT_RATE, 504, 200))
    stamps = START + pd.to_timedelta(np.round(t * 1000), unit="ms")
    return pd.DataFrame({
        "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        "model": np.array(names)[model],
        "latency_ms": np.round(latency, 3),
        "status": status,
    })


def _matrix(times_s: np.ndarray, values: np.ndarray, metric: dict[str, str]) -> dict:
    """A Prometheus range-query answer with one series (values as strings, NaN as "NaN")."""
    pairs = [[float(t), "NaN" if not np.isfinite(v) else repr(float(v))] for t, v in zip(times_s, values, strict=True)]
    return {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": metric, "values": pairs}]}}


def prometheus_exports(log: pd.DataFrame) -> dict[str, dict]:
    """The rate, error-rate and latency-quantile series of the log, one sample per minute."""
    t = (pd.to_datetime(log["timestamp"], utc=True) - START).dt.total_seconds().to_numpy()
    step = np.floor(t / STEP_S).astype(int)
    n_steps = int(DURATION_S / STEP_S)
    stamps = START.timestamp() + (np.arange(n_steps) + 1) * STEP_S  # a sample closes its minute
    counts = np.bincount(step, minlength=n_steps)[:n_steps]
    errors = np.bincount(step[(log["status"] >= 500) & (log["status"] != 504)], minlength=n_steps)[:n_steps]
    out = {
        "prometheus_rate.json": _matrix(stamps, counts / STEP_S, {"job": "scoring-api"}),
        "prometheus_errors.json": _matrix(stamps, errors / STEP_S, {"job": "scoring-api", "code": "5xx"}),
    }
    seconds = log["latency_ms"].to_numpy() / 1000.0
    for name, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        values = np.array([np.quantile(seconds[step == k], p) if np.any(step == k) else np.nan
                           for k in range(n_steps)])
        out[f"prometheus_{name}.json"] = _matrix(stamps, np.round(values, 6), {"job": "scoring-api", "quantile": str(p)})
    return out


def main(out_dir: Path | None = None) -> Path:
    """Write the log and the exports into ``out_dir`` (default: this script's directory)."""
    out_dir = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    rng = np.random.default_rng(SEED)
    log = make_log(rng)
    log.to_csv(out_dir / "request_log.csv", index=False)
    for name, doc in prometheus_exports(log).items():
        (out_dir / name).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    return out_dir


if __name__ == "__main__":
    print(f"wrote the example log and Prometheus exports to {main()}")
