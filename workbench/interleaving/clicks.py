"""Click models: who clicks what on a ranked list, given graded relevance.

Two families, both seeded through a ``numpy.random.Generator``:

* :class:`PositionBasedModel`: every position is examined independently with
  probability ``(1 / rank) ** eta`` and an examined item is clicked with a probability
  set by its grade (Craswell et al. 2008; the form used by Chuklin, Markov and de Rijke,
  "Click Models for Web Search", 2015, and PyClick's PBM).
* :class:`CascadeModel`: the user scans top-down, clicks an item with a probability set
  by its grade, and after a click stops with a probability set by the same grade
  (the dependent click model of Guo et al. 2009; with all stop probabilities 1 it is
  the cascade model of Craswell et al. 2008: click the first attractive item, stop).

Grades are integers ``0 .. len(probabilities) - 1``; a grade of ``-1`` marks an empty
slot, which is never clicked. Interleaving's advantage over A/B testing shows up when
users stop depending on relevance (Iizuka et al. 2023), hence the cascade default.

The presets ``"perfect"``, ``"navigational"`` and ``"informational"`` are the
five-grade instantiations used in interleaving simulations by Hofmann, Whiteson and
de Rijke (2013) and Schuth et al. (2014).

Each model offers ``clicks(grades, rng)`` for one list (cheap, pure Python loop) and
``clicks_batch(grades, rng)`` for a 2-D array of lists. Both consume the generator in
the same way, so one list through either gives the same clicks for the same seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CLICK_PRESETS", "CascadeModel", "ClickModel", "PositionBasedModel", "click_model"]

CLICK_PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # name: (P(click | grade 0..4), P(stop after a click | grade 0..4))
    "perfect": ((0.0, 0.2, 0.4, 0.8, 1.0), (0.0, 0.0, 0.0, 0.0, 0.0)),
    "navigational": ((0.05, 0.3, 0.5, 0.7, 0.95), (0.2, 0.3, 0.5, 0.7, 0.9)),
    "informational": ((0.4, 0.6, 0.7, 0.8, 0.9), (0.1, 0.2, 0.3, 0.4, 0.5)),
}
"""Five-grade click and stop probabilities (Hofmann et al. 2013; Schuth et al. 2014)."""


def _probabilities(values: Sequence[float], name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out:
        raise ValueError(f"{name}: needs at least one grade")
    if any(not (0.0 <= v <= 1.0) for v in out):
        raise ValueError(f"{name}: probabilities must lie in [0, 1], got {out}")
    return out


def _grades_1d(grades, n_grades: int) -> np.ndarray:
    g = np.asarray(grades)
    if g.ndim != 1:
        raise ValueError(f"grades: must be one-dimensional, got shape {g.shape}")
    return _check_grades(g, n_grades)


def _grades_list(grades, n_grades: int) -> list[int]:
    """Validated grades of one list as Python ints (the cheap per-impression path)."""
    if isinstance(grades, np.ndarray):
        return _grades_1d(grades, n_grades).tolist()
    out = list(grades)
    for g in out:
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not -1 <= g < n_grades:
            raise ValueError(f"grades: must be integers in [-1, {n_grades - 1}], got {g!r}")
    return [int(g) for g in out]


def _check_grades(g: np.ndarray, n_grades: int) -> np.ndarray:
    if g.size and not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"grades: must be integers, got dtype {g.dtype}")
    g = g.astype(np.int64)
    if g.size and (g.min() < -1 or g.max() >= n_grades):
        raise ValueError(f"grades: must lie in [-1, {n_grades - 1}] (-1 = empty slot)")
    return g


def _lookup(table: tuple[float, ...], g: np.ndarray) -> np.ndarray:
    # grade -1 (empty) maps to probability 0
    arr = np.asarray(table + (0.0,))
    return arr[g]


class ClickModel(ABC):
    """Base class: ``clicks`` for one list, ``clicks_batch`` for many."""

    n_grades: int

    @abstractmethod
    def clicked_positions(self, grades: Sequence[int], rng: np.random.Generator) -> tuple[int, ...]:
        """0-based clicked positions for one list of grades (top first)."""

    def clicks(self, grades: Sequence[int], rng: np.random.Generator) -> np.ndarray:
        """Boolean click vector for one list of grades (top first)."""
        g = list(grades) if not isinstance(grades, np.ndarray) else grades
        out = np.zeros(len(g), dtype=bool)
        out[list(self.clicked_positions(g, rng))] = True
        return out

    @abstractmethod
    def clicks_batch(self, grades: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boolean click matrix for a 2-D array of grades, one list per row."""


@dataclass(frozen=True)
class PositionBasedModel(ClickModel):
    """Position-based model: ``P(click at rank r) = (1 / r) ** eta * attractiveness[grade]``.

    Parameters
    ----------
    eta : float
        Severity of the position bias (0: no bias; 1 is a common choice).
    attractiveness : sequence of float
        Click probability of an examined item, by grade (default: the navigational
        preset's click probabilities).

    Examples
    --------
    >>> pbm = PositionBasedModel(eta=1.0, attractiveness=(0.0, 1.0))
    >>> pbm.click_probabilities([1, 1, 0, 1]).tolist()
    [1.0, 0.5, 0.0, 0.25]
    """

    eta: float = 1.0
    attractiveness: tuple[float, ...] = CLICK_PRESETS["navigational"][0]

    def __post_init__(self) -> None:
        if not np.isfinite(self.eta) or self.eta < 0:
            raise ValueError(f"eta: must be a non-negative number, got {self.eta!r}")
        object.__setattr__(
            self, "attractiveness", _probabilities(self.attractiveness, "attractiveness")
        )

    @property
    def n_grades(self) -> int:
        """Number of relevance grades the model has probabilities for."""
        return len(self.attractiveness)

    def click_probabilities(self, grades: Sequence[int]) -> np.ndarray:
        """Per-position click probabilities for one list."""
        g = _grades_1d(grades, self.n_grades)
        exam = (1.0 / np.arange(1, g.size + 1, dtype=float)) ** self.eta
        return exam * _lookup(self.attractiveness, g)

    def clicked_positions(self, grades: Sequence[int], rng: np.random.Generator) -> tuple[int, ...]:
        """0-based clicked positions: each position examined and clicked independently."""
        g = _grades_list(grades, self.n_grades)
        u = rng.random(len(g)).tolist()
        attr, eta = self.attractiveness, self.eta
        return tuple(
            j
            for j, grade in enumerate(g)
            if grade >= 0 and u[j] < (1.0 / (j + 1)) ** eta * attr[grade]
        )

    def clicks_batch(self, grades: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boolean click matrix, one list per row; one uniform draw per position."""
        g = _check_grades(np.asarray(grades), self.n_grades)
        if g.ndim != 2:
            raise ValueError(f"grades: must be two-dimensional, got shape {g.shape}")
        exam = (1.0 / np.arange(1, g.shape[1] + 1, dtype=float)) ** self.eta
        p = exam * _lookup(self.attractiveness, g)
        return rng.random(g.shape) < p


@dataclass(frozen=True)
class CascadeModel(ClickModel):
    """Cascade click model with relevance-dependent stopping (dependent click model).

    The user scans top-down; at each item they click with probability
    ``click_prob[grade]``; after a click they stop with probability
    ``stop_prob[grade]`` (satisfied), otherwise they read on. With every stop
    probability 1 this is the plain cascade model: click the first attractive item,
    stop. Uniform draws: two per position (click, stop), drawn as one ``(2, k)`` block
    per list, whether or not the user reaches that position.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> CascadeModel(click_prob=(0.0, 1.0), stop_prob=(1.0, 1.0)).clicks([0, 1, 1], rng).tolist()
    [False, True, False]
    """

    click_prob: tuple[float, ...] = CLICK_PRESETS["navigational"][0]
    stop_prob: tuple[float, ...] = CLICK_PRESETS["navigational"][1]

    def __post_init__(self) -> None:
        click = _probabilities(self.click_prob, "click_prob")
        stop = _probabilities(self.stop_prob, "stop_prob")
        if len(click) != len(stop):
            raise ValueError(
                f"stop_prob: needs one value per grade ({len(click)}), got {len(stop)}"
            )
        object.__setattr__(self, "click_prob", click)
        object.__setattr__(self, "stop_prob", stop)

    @property
    def n_grades(self) -> int:
        """Number of relevance grades the model has probabilities for."""
        return len(self.click_prob)

    def clicked_positions(self, grades: Sequence[int], rng: np.random.Generator) -> tuple[int, ...]:
        """0-based clicked positions: scan top-down, click, and stop after a click or read on."""
        g = _grades_list(grades, self.n_grades)
        n = len(g)
        u = rng.random(2 * n).tolist()  # same layout as a (2, n) block: clicks, then stops
        click, stop = self.click_prob, self.stop_prob
        out = []
        for j, grade in enumerate(g):
            if grade >= 0 and u[j] < click[grade]:
                out.append(j)
                if u[n + j] < stop[grade]:
                    break
        return tuple(out)

    def clicks_batch(self, grades: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boolean click matrix, one list per row; per row the draws of :meth:`clicked_positions`."""
        g = _check_grades(np.asarray(grades), self.n_grades)
        if g.ndim != 2:
            raise ValueError(f"grades: must be two-dimensional, got shape {g.shape}")
        n, k = g.shape
        u = rng.random((n, 2, k))
        p_click = _lookup(self.click_prob, g)
        p_stop = _lookup(self.stop_prob, g)
        clicked = u[:, 0, :] < p_click
        stops = clicked & (u[:, 1, :] < p_stop)
        # the user reaches position j if no stop happened strictly before j
        stopped_before = np.zeros((n, k), dtype=bool)
        if k > 1:
            stopped_before[:, 1:] = np.cumsum(stops[:, :-1], axis=1) > 0
        return clicked & ~stopped_before


def click_model(name: str) -> ClickModel:
    """A click model by name.

    ``"perfect"``, ``"navigational"``, ``"informational"`` (cascade presets),
    ``"cascade"`` (plain cascade over the navigational click probabilities: stop at the
    first click) or ``"pbm"`` (position-based, eta = 1, navigational attractiveness).

    Examples
    --------
    >>> click_model("navigational").stop_prob
    (0.2, 0.3, 0.5, 0.7, 0.9)
    """
    if name in CLICK_PRESETS:
        click, stop = CLICK_PRESETS[name]
        return CascadeModel(click_prob=click, stop_prob=stop)
    if name == "cascade":
        return CascadeModel(click_prob=CLICK_PRESETS["navigational"][0], stop_prob=(1.0,) * 5)
    if name == "pbm":
        return PositionBasedModel()
    raise ValueError(
        f"name: must be one of {sorted(CLICK_PRESETS) + ['cascade', 'pbm']}, got {name!r}"
    )
