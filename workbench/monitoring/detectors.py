"""Streaming change detectors behind one small interface.

``make_detector(name, **params)`` returns an object with ``update(x)`` (returns whether a
change was detected at this point), a ``drift_detected`` property (river's convention:
read it after ``update``), ``n_seen``, ``n_detections`` and ``detection_indices``.

ADWIN, Page-Hinkley, KSWIN, DDM, EDDM and HDDM_A come from river's ``drift`` module
(BSD-3; defaults as documented there: ADWIN delta 0.002, clock 32;
PageHinkley min_instances 30, delta 0.005, threshold 50, alpha 1 - 1e-4; KSWIN alpha
0.005, window 100, stat_size 30). river has no CUSUM, so :class:`Cusum` is a two-sided
tabular CUSUM (Page 1954; Montgomery, *Introduction to Statistical Quality Control*,
ch. 9) with ``k`` and ``h`` in units of the in-control standard deviation.

Costs per ``update``: ADWIN O(log W) amortised (exponential histogram, checked every
``clock`` points); Page-Hinkley, DDM, EDDM, HDDM_A and CUSUM O(1); KSWIN runs a
two-sample KS test of ``stat_size`` points every update, O(window_size), a constant but
the most expensive one (tens of microseconds).

``update_many(values)`` feeds a batch in order, with the state and detections ``update``
gives one value at a time, and reports where the detections fell and the mean estimate
just before and after each (what a caller needs to keep only increases of ADWIN's
estimate). For river's ADWIN it drives river's compiled window directly, a few tenths
of a microsecond per value instead of several, the Python layers per value (the wrapper,
river's ``update``, the ``estimation`` property) being most of the cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DETECTOR_NAMES",
    "BatchDetections",
    "ChangeDetector",
    "Cusum",
    "RiverDetector",
    "check_detector_params",
    "cusum_arl",
    "make_detector",
]


@runtime_checkable
class ChangeDetector(Protocol):
    """What every detector returned by :func:`make_detector` offers."""

    name: str

    def update(self, x: float) -> bool:
        """Feed one value; returns :attr:`drift_detected`."""
        ...

    @property
    def drift_detected(self) -> bool:
        """True when the last :meth:`update` signalled a change."""
        ...

    @property
    def n_seen(self) -> int:
        """Values fed so far."""
        ...


@dataclass(frozen=True)
class _Spec:
    module: str
    cls: str
    binary: bool


_RIVER: dict[str, _Spec] = {
    "adwin": _Spec("river.drift", "ADWIN", False),
    "page_hinkley": _Spec("river.drift", "PageHinkley", False),
    "kswin": _Spec("river.drift", "KSWIN", False),
    "ddm": _Spec("river.drift.binary", "DDM", True),
    "eddm": _Spec("river.drift.binary", "EDDM", True),
    "hddm_a": _Spec("river.drift.binary", "HDDMA", False),  # accepts values in [0, 1]
}

DETECTOR_NAMES: tuple[str, ...] = (*_RIVER, "cusum")


@dataclass(frozen=True)
class BatchDetections:
    """Detections made by one ``update_many`` call.

    ``positions`` are 0-based in the batch; ``estimate_before[k]`` and
    ``estimate_after[k]`` are the detector's :attr:`estimation` just before and just after
    the update at ``positions[k]``, and ``estimate_last`` is it after the whole batch (NaN
    for a detector without a mean estimate).
    """

    positions: tuple[int, ...]
    estimate_before: tuple[float, ...]
    estimate_after: tuple[float, ...]
    estimate_last: float


def _batch(values: Any, name: str) -> list[float]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(arr).any():
        raise ValueError(f"x: NaN passed to detector {name!r}")
    return arr.tolist()


class _Tracker:
    """Book-keeping shared by every detector: counts and where alarms happened."""

    name: str

    def _init_tracking(self) -> None:
        self._n_seen = 0
        self._detections: list[int] = []

    @property
    def estimation(self) -> float:
        """The detector's current mean estimate; NaN when it keeps none."""
        return math.nan

    def _estimator(self) -> Any:
        """A callable giving :attr:`estimation` cheaply, or None when it is always NaN."""
        return None

    def update_many(self, values: Any) -> BatchDetections:
        """Feed ``values`` in order: the state that :meth:`update` on each one gives.

        A NaN raises ValueError before any value is fed; other invalid values raise as
        :meth:`update` does, at their position.
        """
        return self._update_each(_batch(values, self.name))

    def _update_each(self, xs: list[float]) -> BatchDetections:
        update = self.update
        positions: list[int] = []
        estimate = self._estimator()
        if estimate is None:
            for i, x in enumerate(xs):
                if update(x):
                    positions.append(i)
            nans = (math.nan,) * len(positions)
            return BatchDetections(tuple(positions), nans, nans, math.nan)
        before: list[float] = []
        after: list[float] = []
        prev = estimate()
        for i, x in enumerate(xs):
            hit = update(x)
            est = estimate()
            if hit:
                positions.append(i)
                before.append(prev)
                after.append(est)
            prev = est
        return BatchDetections(tuple(positions), tuple(before), tuple(after), prev)

    @property
    def n_seen(self) -> int:
        """Number of values passed to :meth:`update`."""
        return self._n_seen

    @property
    def n_detections(self) -> int:
        """Number of changes detected so far."""
        return len(self._detections)

    @property
    def detection_indices(self) -> tuple[int, ...]:
        """0-based positions in the stream at which a change was detected."""
        return tuple(self._detections)


def _has_adwin_core(impl: Any) -> bool:
    """True for river's own ADWIN (not a subclass) holding the compiled window it updates."""
    from river.drift import ADWIN

    helper = getattr(impl, "_helper", None)
    return (type(impl) is ADWIN and callable(getattr(impl, "_reset", None))
            and isinstance(getattr(impl, "_drift_detected", None), bool)
            and all(callable(getattr(helper, m, None)) for m in ("update", "get_total", "get_width")))


class RiverDetector(_Tracker):
    """A river ``drift`` detector behind the common interface.

    Parameters
    ----------
    name : str
        One of ``"adwin"``, ``"page_hinkley"``, ``"kswin"``, ``"ddm"``, ``"eddm"``,
        ``"hddm_a"``.
    **params
        Passed to the river class. For ``"kswin"`` a ``seed`` defaults to 0 so runs are
        reproducible; ``rng`` (a ``numpy.random.Generator``) may be given instead and
        draws the seed.
    """

    def __init__(self, name: str, **params: Any) -> None:
        import importlib

        spec = _RIVER[name]
        self.name = name
        self.binary = spec.binary
        if name == "kswin":
            rng = params.pop("rng", None)
            if rng is not None:
                if "seed" in params:
                    raise ValueError("rng: give either seed or rng for kswin, not both")
                params["seed"] = int(rng.integers(0, 2**31 - 1))
            params.setdefault("seed", 0)
        elif "rng" in params:
            raise ValueError(f"rng: detector {name!r} takes no random generator")
        cls = getattr(importlib.import_module(spec.module), spec.cls)
        try:
            self._impl = cls(**params)
        except Exception as exc:  # river's constructors raise TypeError, ValueError, AssertionError, ...
            raise ValueError(f"params: invalid parameters for {name!r}: {exc}") from None
        self.params = dict(params)
        self._init_tracking()
        self._adwin_core = name == "adwin" and _has_adwin_core(self._impl)

    def update(self, x: float) -> bool:
        """Feed one value; returns :attr:`drift_detected`."""
        if self.binary:
            if x not in (0, 1):
                raise ValueError(f"x: detector {self.name!r} takes 0/1 values, got {x!r}")
            self._impl.update(bool(x))
        else:
            xf = float(x)
            if math.isnan(xf):
                raise ValueError(f"x: NaN passed to detector {self.name!r}")
            if self.name == "hddm_a" and not (0.0 <= xf <= 1.0):
                raise ValueError(f"x: 'hddm_a' takes values in [0, 1], got {x!r}")
            self._impl.update(xf)
        self._n_seen += 1
        hit = bool(self._impl.drift_detected)
        if hit:
            self._detections.append(self._n_seen - 1)
        return hit

    @property
    def estimation(self) -> float:
        """The river detector's ``estimation`` (ADWIN: its window's mean); NaN when it has none."""
        return getattr(self._impl, "estimation", math.nan)

    def _estimator(self) -> Any:
        impl = self._impl
        if not hasattr(type(impl), "estimation"):
            return None
        return lambda: impl.estimation

    def update_many(self, values: Any) -> BatchDetections:
        """Feed ``values`` in order: the state that :meth:`update` on each one gives.

        For river's ADWIN the values go straight to its compiled window
        (``AdaptiveWindowing``), doing per value what ``ADWIN.update`` and
        ``ADWIN.estimation`` do: a new window after a detection, then the update, then
        ``total / width`` (0 for an empty window). Any other detector, or an ADWIN
        without that window, takes :meth:`update` per value. A NaN raises ValueError
        before any value is fed.
        """
        xs = _batch(values, self.name)
        if not (self._adwin_core and _has_adwin_core(self._impl)):
            return self._update_each(xs)
        impl = self._impl
        helper = impl._helper
        feed, total, width = helper.update, helper.get_total, helper.get_width
        drift = impl._drift_detected
        # width and total after the previous value; the estimate is total / width (0 if empty)
        w_prev, t_prev = width(), total()
        positions: list[int] = []
        before: list[float] = []
        after: list[float] = []
        i = -1
        for x in xs:
            i += 1
            if drift:  # ADWIN.update starts a new window after a detection
                impl._reset()
                helper = impl._helper
                feed, total, width = helper.update, helper.get_total, helper.get_width
            drift = feed(x)
            w, t = width(), total()
            if drift:
                positions.append(i)
                before.append(t_prev / w_prev if w_prev != 0 else 0.0)
                after.append(t / w if w != 0 else 0.0)
            w_prev, t_prev = w, t
        impl._drift_detected = drift
        start = self._n_seen
        self._n_seen += len(xs)
        self._detections.extend(start + p for p in positions)
        last = t_prev / w_prev if w_prev != 0 else 0.0
        return BatchDetections(tuple(positions), tuple(before), tuple(after), last)

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change (river resets on the next update)."""
        return bool(self._impl.drift_detected)

    @property
    def warning_detected(self) -> bool:
        """Warning zone (DDM family); False for detectors without one."""
        return bool(getattr(self._impl, "warning_detected", False))

    @property
    def river(self) -> Any:
        """The wrapped river object (read-only use)."""
        return self._impl

    def __repr__(self) -> str:
        return f"RiverDetector({self.name!r}, n_seen={self.n_seen}, n_detections={self.n_detections})"


class Cusum(_Tracker):
    """Two-sided tabular CUSUM on standardised values.

    With ``z = (x - mean) / std``: ``S+ = max(0, S+ + z - k)``, ``S- = max(0, S- - z - k)``;
    a change is detected when either exceeds ``h`` (Montgomery, ch. 9.1). The in-control
    ``mean``/``std`` are given or estimated from the first ``warmup`` values (Welford).
    With ``k = 0.5`` and ``h = 5`` the two-sided in-control average run length is about
    465 and a one-sigma shift is detected after about 10 points (Montgomery, table 9.3;
    :func:`cusum_arl`). After a detection the sums reset and, if the mean and std were
    estimated, a new warm-up starts (the process has changed).

    Parameters
    ----------
    k : float
        Reference value (allowance) in std units; ``delta/2`` for a shift ``delta``.
    h : float
        Decision interval in std units.
    warmup : int
        Points used to estimate the in-control mean and std (ignored when both given).
    mean, std : float, optional
        Known in-control mean and standard deviation.
    mode : {"both", "up", "down"}
        Which direction(s) of change to detect.

    Examples
    --------
    >>> det = Cusum(k=0.5, h=5.0, mean=0.0, std=1.0)
    >>> [det.update(v) for v in [0.0, 2.0, 2.0, 2.0, 2.0]]
    [False, False, False, False, True]
    >>> det.detection_indices
    (4,)
    """

    name = "cusum"

    def __init__(self, k: float = 0.5, h: float = 5.0, warmup: int = 100,
                 mean: float | None = None, std: float | None = None, mode: str = "both") -> None:
        if not (k >= 0):
            raise ValueError(f"k: must be >= 0, got {k!r}")
        if not (h > 0):
            raise ValueError(f"h: must be > 0, got {h!r}")
        if mode not in ("both", "up", "down"):
            raise ValueError(f"mode: must be 'both', 'up' or 'down', got {mode!r}")
        if std is not None and not (std > 0):
            raise ValueError(f"std: must be > 0, got {std!r}")
        if (mean is None or std is None) and warmup < 2:
            raise ValueError(f"warmup: must be >= 2 when mean/std are estimated, got {warmup!r}")
        self.k = float(k)
        self.h = float(h)
        self.warmup = int(warmup)
        self.mode = mode
        self._given_mean = mean
        self._given_std = std
        self._init_tracking()
        self._drift = False
        self._restart()

    def _restart(self) -> None:
        self.s_high = 0.0
        self.s_low = 0.0
        self._w_n = 0
        self._w_mean = 0.0
        self._w_m2 = 0.0
        self._mu = self._given_mean
        self._sigma = self._given_std

    @property
    def in_control_mean(self) -> float:
        """Mean used for standardising (NaN while warming up)."""
        return math.nan if self._mu is None else self._mu

    @property
    def in_control_std(self) -> float:
        """Std used for standardising (NaN while warming up)."""
        return math.nan if self._sigma is None else self._sigma

    @property
    def warming_up(self) -> bool:
        """True while the in-control mean or std is still being estimated."""
        return self._mu is None or self._sigma is None

    def update(self, x: float) -> bool:
        """Feed one value; returns :attr:`drift_detected`."""
        x = float(x)
        if math.isnan(x):
            raise ValueError("x: NaN passed to detector 'cusum'")
        if self._drift:
            self._drift = False
            self._restart()
        self._n_seen += 1
        if self.warming_up:
            self._w_n += 1
            d = x - self._w_mean
            self._w_mean += d / self._w_n
            self._w_m2 += d * (x - self._w_mean)
            if self._w_n >= self.warmup:
                if self._mu is None:
                    self._mu = self._w_mean
                if self._sigma is None:
                    sd = math.sqrt(self._w_m2 / (self._w_n - 1))
                    # A constant warm-up gives sd 0: floor it so the first change alarms.
                    self._sigma = sd if sd > 0 else max(abs(self._w_mean) * 1e-9, 1e-12)
            return False
        z = (x - self._mu) / self._sigma
        self.s_high = max(0.0, self.s_high + z - self.k)
        self.s_low = max(0.0, self.s_low - z - self.k)
        up = self.s_high > self.h and self.mode != "down"
        down = self.s_low > self.h and self.mode != "up"
        if up or down:
            self._drift = True
            self._detections.append(self._n_seen - 1)
        return self._drift

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    def __repr__(self) -> str:
        return f"Cusum(k={self.k}, h={self.h}, n_seen={self.n_seen}, n_detections={self.n_detections})"


def cusum_arl(k: float, h: float, shift: float = 0.0, two_sided: bool = True) -> float:
    """Siegmund's approximation to the average run length of a tabular CUSUM.

    One side: with ``d = shift - k`` and ``b = h + 1.166``,
    ``ARL = (exp(-2 d b) + 2 d b - 1) / (2 d^2)`` (``b^2`` when ``d = 0``); the two-sided
    ARL combines the sides as ``1 / (1/ARL+ + 1/ARL-)`` (Montgomery, eq. 9.19-9.20).

    Examples
    --------
    >>> round(cusum_arl(0.5, 5.0))  # Montgomery table 9.3 lists 465
    469
    >>> round(cusum_arl(0.5, 5.0, shift=1.0), 1)  # table 9.3 (exact): 10.4
    10.3
    """

    def one(delta: float) -> float:
        d = delta - k
        b = h + 1.166
        if abs(d) < 1e-12:
            return b * b
        return (math.exp(-2.0 * d * b) + 2.0 * d * b - 1.0) / (2.0 * d * d)

    up = one(shift)
    if not two_sided:
        return up
    down = one(-shift)
    return 1.0 / (1.0 / up + 1.0 / down)


@dataclass(frozen=True)
class _Param:
    """One constructor parameter: its kind and the open/closed range river can work with."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        if self.kind is bool:
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                return f"expected one of {', '.join(map(repr, self.choices))}, got {value!r}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {value!r}"
        if self.kind is int and not float(value).is_integer():
            return f"expected a whole number, got {value!r}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"must be {'>' if self.low_open else '>='} {self.low:g}, got {value!r}"
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return f"must be {'<' if self.high_open else '<='} {self.high:g}, got {value!r}"
        return None


_PROB = _Param(float, 0.0, 1.0, low_open=True, high_open=True)
_COUNT = _Param(int, 1)

# Parameters of each detector and the values it works with. river checks few of these
# itself, and some only fail at the first update (ADWIN ``clock = 0`` panics in its
# compiled core), so they are checked here, when a scenario is validated.
DETECTOR_PARAMS: dict[str, dict[str, _Param]] = {
    "adwin": {"delta": _PROB, "clock": _COUNT, "max_buckets": _Param(int, 2), "min_window_length": _COUNT,
              "grace_period": _COUNT},
    "page_hinkley": {"min_instances": _COUNT, "delta": _Param(float, 0.0), "threshold": _Param(float, 0.0, low_open=True),
                     "alpha": _Param(float, 0.0, 1.0, low_open=True), "mode": _Param(str, choices=("both", "up", "down"))},
    "kswin": {"alpha": _PROB, "window_size": _Param(int, 2), "stat_size": _COUNT, "seed": _Param(int, 0)},
    "ddm": {"warm_start": _COUNT, "warning_threshold": _Param(float, 0.0, low_open=True),
            "drift_threshold": _Param(float, 0.0, low_open=True)},
    "eddm": {"warm_start": _COUNT, "alpha": _PROB, "beta": _PROB},
    "hddm_a": {"drift_confidence": _PROB, "warning_confidence": _PROB, "two_sided_test": _Param(bool)},
    "cusum": {"k": _Param(float, 0.0), "h": _Param(float, 0.0, low_open=True), "warmup": _Param(int, 2),
              "mean": _Param(float), "std": _Param(float, 0.0, low_open=True),
              "mode": _Param(str, choices=("both", "up", "down"))},
}


def check_detector_params(name: str, params: dict[str, Any]) -> None:
    """Check a detector's parameters against its constructor's names and value ranges.

    Raises
    ------
    ValueError
        ``"<param>: <what is wrong>"`` for an unknown parameter, a value of the wrong
        kind or one outside the range the detector works with.

    Examples
    --------
    >>> check_detector_params("adwin", {"delta": 0.01, "clock": 16})
    >>> check_detector_params("adwin", {"clock": 0})
    Traceback (most recent call last):
    ...
    ValueError: clock: must be >= 1, got 0
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in DETECTOR_PARAMS:
        raise ValueError(f"name: unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    allowed = DETECTOR_PARAMS[key]
    for param, value in params.items():
        if param == "rng" and key == "kswin":
            continue  # a numpy Generator handed over by the engine
        if param not in allowed:
            raise ValueError(f"{param}: unknown parameter of {name!r}; it takes {', '.join(sorted(allowed))}")
        problem = allowed[param].problem(value)
        if problem:
            raise ValueError(f"{param}: {problem}")
    merged = {p: params.get(p) for p in allowed}
    if key == "kswin":
        window, stat = merged["window_size"] or 100, merged["stat_size"] or 30
        if stat >= window:
            raise ValueError(f"stat_size: must be smaller than window_size ({window:g}), got {stat!r}")
    if key == "eddm":
        alpha, beta = merged["alpha"] or 0.95, merged["beta"] or 0.9
        if beta >= alpha:
            raise ValueError(f"beta: must be smaller than alpha ({alpha:g}; drift is signalled below beta), got {beta!r}")
    if key == "ddm":
        warn, drift = merged["warning_threshold"] or 2.0, merged["drift_threshold"] or 3.0
        if warn > drift:
            raise ValueError(f"warning_threshold: must be at most drift_threshold ({drift:g}), got {warn!r}")


def make_detector(name: str, **params: Any) -> RiverDetector | Cusum:
    """Build a streaming change detector by name.

    Parameters
    ----------
    name : str
        ``"adwin"``, ``"page_hinkley"``, ``"kswin"``, ``"ddm"``, ``"eddm"``, ``"hddm_a"``
        (river) or ``"cusum"`` (:class:`Cusum`). DDM and EDDM take 0/1 values (1 = error);
        HDDM_A takes values in [0, 1].
    **params
        Constructor parameters of the detector (river's names for river's detectors).

    Returns
    -------
    RiverDetector or Cusum
        ``update(x) -> bool``, ``drift_detected``, ``n_seen``, ``n_detections``,
        ``detection_indices``.

    Examples
    --------
    >>> import numpy as np
    >>> det = make_detector("adwin")
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(3, 1, 200)])
    >>> alarms = [i for i, v in enumerate(stream) if det.update(v)]
    >>> len(alarms) >= 1 and 1000 <= alarms[0] < 1100
    True
    """
    if not isinstance(name, str):
        raise ValueError(f"name: expected a string, got {name!r}")
    key = name.lower().replace("-", "_")
    if key == "pagehinkley":
        key = "page_hinkley"
    if key == "cusum":
        check_detector_params(key, params)
        try:
            return Cusum(**params)
        except TypeError as exc:
            raise ValueError(f"params: invalid parameters for 'cusum': {exc}") from None
    if key not in _RIVER:
        raise ValueError(f"name: unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    check_detector_params(key, params)
    return RiverDetector(key, **params)

