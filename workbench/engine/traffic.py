"""Traffic: Poisson arrivals (constant, diurnal, bursty, a replayed trace), returning users, features, labels.

Everything that does not depend on routing is drawn up front, vectorised, from
its own named stream, so that changing the strategy or a model never changes the
traffic (common random numbers), and the per-request work in the simulation is
an array lookup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..rng import stream
from ..scenario import ConceptDrift, DataDrift, FeatureSpec, Scenario

__all__ = ["Traffic", "generate_traffic", "draw_feature", "inverse_cdf_ranks", "rate_at", "ramp_factor",
           "trace_rates", "true_signal", "user_activity_shares", "pre_period_conversions"]


@dataclass(frozen=True)
class Traffic:
    """Pre-drawn arrivals of one run (arrays of equal length, sorted by time)."""

    time_s: np.ndarray
    user_id: np.ndarray  # int32 when the scenario's user count fits
    features: np.ndarray  # (n, d), after data drift
    feature_names: tuple[str, ...]
    label: np.ndarray  # ground truth, after concept drift and noise
    label_time_s: np.ndarray
    # the target function at ``features`` (before concept drift and noise), kept while the
    # models' predictions are drawn so that it is computed once per run (None once released)
    signal: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of arrivals."""
        return int(self.time_s.shape[0])


def rate_at(scenario: Scenario, t_s: np.ndarray, burst_on: np.ndarray | None = None) -> np.ndarray:
    """Arrival rate (per second) at times ``t_s`` for the scenario's pattern."""
    tr = scenario.traffic
    t_s = np.asarray(t_s, dtype=float)
    if tr.pattern == "diurnal":
        return tr.rate_per_s * (1.0 + tr.amplitude * np.sin(2 * np.pi * t_s / tr.period_s))
    if tr.pattern == "bursty":
        if burst_on is None:
            raise ValueError("bursty rate needs the burst indicator")
        return np.where(burst_on, tr.rate_per_s * tr.burst_multiplier, tr.rate_per_s)
    if tr.pattern == "trace":
        return trace_rates(tr.trace_rates_per_s, tr.trace_step_s, t_s) * tr.trace_scale
    return np.full_like(t_s, tr.rate_per_s)


def trace_rates(rates_per_s, step_s: float, t_s: np.ndarray) -> np.ndarray:
    """The rate of a piecewise-constant trace at times ``t_s``, repeating past its end.

    ``rates_per_s[k]`` holds on ``[k * step_s, (k + 1) * step_s)``; at ``t >= len * step_s``
    the trace starts again (step ``floor(t / step_s) mod len``).

    Examples
    --------
    >>> trace_rates([1.0, 5.0, 2.0], 10.0, np.array([0.0, 9.9, 10.0, 25.0, 30.0, 41.0])).tolist()
    [1.0, 1.0, 5.0, 2.0, 1.0, 5.0]
    """
    table = np.asarray(rates_per_s, dtype=float)
    steps = np.floor_divide(np.asarray(t_s, dtype=float), step_s).astype(np.int64)
    return table[steps % table.size]


def _burst_windows(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Alternating calm/burst periods with exponential lengths: rows (start_s, end_s) of bursts."""
    tr = scenario.traffic
    windows = []
    t = 0.0
    while t < scenario.duration_s:
        t += rng.exponential(tr.calm_mean_s)
        if t >= scenario.duration_s:
            break
        length = rng.exponential(tr.burst_mean_s)
        windows.append((t, min(t + length, scenario.duration_s)))
        t += length
    return np.array(windows, dtype=float).reshape(-1, 2)


def _in_windows(t_s: np.ndarray, windows: np.ndarray) -> np.ndarray:
    if windows.size == 0:
        return np.zeros(t_s.shape, dtype=bool)
    idx = np.searchsorted(windows[:, 0], t_s, side="right") - 1
    ok = idx >= 0
    out = np.zeros(t_s.shape, dtype=bool)
    out[ok] = t_s[ok] < windows[idx[ok], 1]
    return out


_CHUNK = 65_536  # fixed draw size: the i-th candidate arrival never depends on the run's length


def _arrival_times(
    scenario: Scenario,
    rng: np.random.Generator,
    thin_rng: np.random.Generator | None = None,
    burst_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrivals on [0, duration) by thinning a homogeneous process at the peak rate.

    Exponential gaps are drawn in fixed-size chunks, so a shorter run is exactly the
    beginning of a longer one with the same seed (a sweep over ``duration_s`` or a
    notebook that shortens a scenario keeps the traffic it had).
    """
    tr = scenario.traffic
    duration = scenario.duration_s
    bursts = np.empty((0, 2))
    if tr.pattern == "bursty":
        bursts = _burst_windows(scenario, burst_rng if burst_rng is not None else rng)
    peak = tr.peak_rate_per_s
    thin_rng = thin_rng if thin_rng is not None else rng
    chunks, thin = [], []
    start = 0.0
    while start < duration:
        t = start + np.cumsum(rng.exponential(1.0 / peak, size=_CHUNK))
        chunks.append(t)
        if tr.pattern != "constant":
            thin.append(thin_rng.uniform(size=_CHUNK))
        start = float(t[-1])
    times = np.concatenate(chunks)
    inside = times < duration
    times = times[inside]
    if tr.pattern != "constant":
        u = np.concatenate(thin)[inside]
        on = _in_windows(times, bursts) if tr.pattern == "bursty" else None
        times = times[u * peak < rate_at(scenario, times, on)]
    return times, bursts


def _zipf_users(scenario: Scenario, n: int, rng: np.random.Generator, seed: int) -> np.ndarray:
    """User id of each arrival, as drawn in 64 bits (int32 when the ids fit: same values)."""
    tr = scenario.traffic
    narrow = np.int32 if tr.users <= np.iinfo(np.int32).max else np.int64
    if tr.user_skew == 0:
        return rng.integers(0, tr.users, size=n).astype(narrow)
    cdf = np.cumsum(_activity_weights(tr.users, tr.user_skew))
    cdf /= cdf[-1]
    ranks = inverse_cdf_ranks(cdf, rng.uniform(size=n))
    ranks = np.minimum(ranks, tr.users - 1)
    # the most active users are not simply the smallest ids
    perm = stream(seed, "users:permutation").permutation(tr.users).astype(narrow)
    return perm[ranks]


def _activity_weights(users: int, skew: float) -> np.ndarray:
    """Unnormalised activity of the users by rank: ``1 / k ** skew``."""
    return 1.0 / np.arange(1, users + 1) ** skew


def user_activity(scenario: Scenario, seed: int, top: int = 100_000) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``top`` most active users' ids and request probabilities, and the probability of the rest.

    A planner asks what share of requests a user cohort sends; the few heaviest users
    carry most of the answer, the rest are spread thinly enough to count at their mean.
    """
    tr = scenario.traffic
    k = min(top, tr.users)
    if tr.user_skew == 0:
        return np.arange(k, dtype=np.int64), np.full(k, 1.0 / tr.users), 1.0 - k / tr.users
    weights = _activity_weights(tr.users, tr.user_skew)
    total = float(weights.sum())
    perm = stream(seed, "users:permutation").permutation(tr.users)
    return perm[:k].astype(np.int64), weights[:k] / total, float(weights[k:].sum()) / total


def user_activity_shares(scenario: Scenario, seed: int) -> np.ndarray:
    """Every user's share of the requests, indexed by user id (the Zipf activity the arrivals follow).

    The shares sum to 1; with ``user_skew = 0`` every user has ``1 / users``.
    """
    tr = scenario.traffic
    if tr.user_skew == 0:
        return np.full(tr.users, 1.0 / tr.users)
    weights = _activity_weights(tr.users, tr.user_skew)
    shares = np.empty(tr.users)
    shares[stream(seed, "users:permutation").permutation(tr.users)] = weights / weights.sum()
    return shares


def pre_period_conversions(
    scenario: Scenario, seed: int, pre_period_s: float, conversion_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated requests and conversions of every user (by id) in a pre-period before the run.

    A pre-period of ``pre_period_s`` seconds served by legacy, from the same traffic
    model: each user's request count is Poisson with mean ``rate_per_s * pre_period_s``
    times the user's activity share (:func:`user_activity_shares`), and their
    conversions are binomial over those requests at ``conversion_rate``. Both are drawn,
    for every user in id order, from the run's own ``pre_period`` stream, so they are
    deterministic and no other draw of the run moves. It is a simulation of history the
    run does not have, used as the CUPED covariate of an A/B verdict.

    Returns
    -------
    requests, conversions : numpy.ndarray
        int64 arrays of length ``traffic.users``.

    Examples
    --------
    >>> from workbench.scenario import load_scenario
    >>> sc = load_scenario({"name": "t", "duration_s": 10, "traffic": {"users": 5, "user_skew": 0},
    ...                     "models": {"legacy": {"latency": {"dist": "constant", "ms": 10}}}})
    >>> requests, conversions = pre_period_conversions(sc, 1, 100.0, 0.1)
    >>> requests.shape, bool((conversions <= requests).all())
    ((5,), True)
    """
    if not (math.isfinite(pre_period_s) and pre_period_s >= 0):
        raise ValueError(f"pre_period_s: must be a finite number >= 0, got {pre_period_s!r}")
    if not (0.0 <= conversion_rate <= 1.0):
        raise ValueError(f"conversion_rate: must be in [0, 1], got {conversion_rate!r}")
    rng = stream(seed, "pre_period")
    mean_requests = scenario.traffic.rate_per_s * pre_period_s * user_activity_shares(scenario, seed)
    requests = rng.poisson(mean_requests).astype(np.int64)
    conversions = rng.binomial(requests, conversion_rate).astype(np.int64)
    return requests, conversions


_GUIDED_MAX_POINTS = 1 << 18  # above this, building the guide table costs more than it saves


def inverse_cdf_ranks(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cdf, u, side="right")`` for uniforms ``u`` in [0, 1), about twice as fast.

    A guide table gives, for each of ``G`` equal slices of [0, 1) (``G`` a power of
    two, so ``u * G`` and ``g / G`` are exact), the ranks at both ends of the slice;
    most draws fall in a slice without a point of ``cdf`` and need nothing more,
    the others count the few points of their slice that are ``<= u``. The result
    is the same integer for every ``u``.

    Examples
    --------
    >>> cdf = np.array([0.5, 0.75, 1.0])
    >>> inverse_cdf_ranks(cdf, np.array([0.0, 0.5, 0.6, 0.75, 0.99])).tolist()
    [0, 1, 1, 2, 2]
    """
    points = cdf.size
    if points > _GUIDED_MAX_POINTS or u.size < 4 * points:
        return np.searchsorted(cdf, u, side="right")
    slices = 1 << max(8, int(math.ceil(math.log2(4 * points))))
    guide = np.searchsorted(cdf, np.arange(slices + 1) / slices, side="right")
    g = (u * slices).astype(np.int64)
    lo = guide[g]
    hi = guide[g + 1]
    out = lo.copy()
    sub = np.flatnonzero(hi > lo)
    if sub.size:
        us, start, top = u[sub], lo[sub], hi[sub]
        ranks = start.copy()
        last = points - 1
        for step in range(int((top - start).max())):
            idx = start + step
            ranks += (idx < top) & (cdf[np.minimum(idx, last)] <= us)
        out[sub] = ranks
    return out


def feature_mean(spec: FeatureSpec) -> float:
    """Population mean of a feature distribution (the centre for drift scaling)."""
    if spec.dist == "normal":
        return spec.mean
    if spec.dist == "uniform":
        return (spec.low + spec.high) / 2
    return math.exp(spec.mean + spec.sd**2 / 2)


def draw_feature(spec: FeatureSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` values of one feature from its own stream ``rng`` (before any data drift)."""
    if spec.dist == "normal":
        return rng.normal(spec.mean, spec.sd, size=n)
    if spec.dist == "uniform":
        return rng.uniform(spec.low, spec.high, size=n)
    return rng.lognormal(spec.mean, spec.sd, size=n)


def ramp_factor(t_s: np.ndarray, start_s: float, end_s: float, ramp_s: float) -> np.ndarray:
    """0 outside [start, end); inside, rises linearly to 1 over ``ramp_s`` (abrupt when 0)."""
    t_s = np.asarray(t_s, dtype=float)
    inside = (t_s >= start_s) & (t_s < end_s)
    if ramp_s > 0:
        level = np.clip((t_s - start_s) / ramp_s, 0.0, 1.0)
    else:
        level = np.ones_like(t_s)
    return np.where(inside, level, 0.0)


_blas_controller = None  # threadpoolctl's view of the loaded BLAS libraries, found once per process


def _one_blas_thread():
    """A context in which BLAS runs on one thread (threadpoolctl).

    A matrix-vector product of a few columns gains nothing from BLAS threads, and
    OpenBLAS's idle threads then spin for a while, costing about 0.04 s of CPU per
    run; the product is the same on one thread (each row's sum is one thread's).
    """
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def true_signal(scenario: Scenario, features: np.ndarray) -> np.ndarray:
    """The target function the models were trained on (before any concept drift)."""
    tgt = scenario.target
    names = scenario.feature_names
    weights = np.array([tgt.weights.get(f, 1.0) for f in names])
    with _one_blas_thread():
        product = features @ weights
    out = tgt.intercept + product
    if tgt.nonlinearity:
        out = out + tgt.nonlinearity * np.sin(features[:, 0])
    return out


def generate_traffic(scenario: Scenario, seed: int) -> Traffic:
    """Draw every arrival of a run: times, users, features (with data drift), labels."""
    times, _ = _arrival_times(
        scenario, stream(seed, "arrivals"), stream(seed, "arrivals:thinning"), stream(seed, "arrivals:bursts")
    )
    n = times.shape[0]
    users = _zipf_users(scenario, n, stream(seed, "users"), seed)
    names = tuple(scenario.feature_names)
    features = np.empty((n, len(names)))
    for j, name in enumerate(names):
        spec = scenario.traffic.features[name]
        features[:, j] = draw_feature(spec, n, stream(seed, f"features:{name}"))
    for fault in scenario.faults:
        if isinstance(fault, DataDrift):
            j = names.index(fault.feature)
            r = ramp_factor(times, fault.start_s, fault.end_s, fault.ramp_s)
            centre = feature_mean(scenario.traffic.features[fault.feature])
            scale = 1.0 + (fault.scale - 1.0) * r
            features[:, j] = centre + (features[:, j] - centre) * scale + fault.shift * r
    signal = true_signal(scenario, features)
    label = signal + scenario.target.noise_sd * stream(seed, "labels:noise").standard_normal(n)
    for fault in scenario.faults:
        if isinstance(fault, ConceptDrift):
            r = ramp_factor(times, fault.start_s, fault.end_s, fault.ramp_s)
            delta = np.full(n, fault.offset)
            for name, shift in fault.weight_shift.items():
                delta += shift * features[:, names.index(name)]
            label = label + r * delta
    label_time = times + scenario.traffic.label_delay_s
    return Traffic(
        time_s=times,
        user_id=users,
        features=features,
        feature_names=names,
        label=label,
        label_time_s=label_time,
        signal=signal,
    )
