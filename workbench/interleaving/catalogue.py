"""Synthetic catalogue, users with graded relevance, and recommenders of tunable quality.

Users and items get Gaussian embeddings; a user's affinity for an item is their dot
product, standardised per user. Relevance grades 0-4 come from per-user quantiles of
the affinity (by default the top 1% of items are grade 4, the next 4% grade 3, then
15% grade 2, 30% grade 1, the bottom half grade 0). A :class:`Recommender` ranks
items by affinity plus Gaussian noise fixed at construction: ``noise_sd`` is its
ranking quality (0 is the ideal ranking; larger is worse), in units of the per-user
standard deviation of the true affinity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Catalogue", "Recommender", "make_catalogue", "ndcg_at_k"]

DEFAULT_GRADE_QUANTILES: tuple[float, ...] = (0.9, 0.97, 0.99, 0.998)


def _generator(rng: np.random.Generator | int, name: str = "rng") -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"{name}: must be a numpy Generator or an int seed, got {type(rng).__name__}")


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Users, items and each user's graded relevance for each item.

    Attributes
    ----------
    user_embeddings : numpy.ndarray, shape (n_users, dim)
    item_embeddings : numpy.ndarray, shape (n_items, dim)
    affinity : numpy.ndarray, shape (n_users, n_items)
        Dot products standardised per user (mean 0, std 1 over items).
    grades : numpy.ndarray of int8, shape (n_users, n_items)
        Relevance grade 0 .. ``n_grades - 1`` of each item for each user.
    """

    user_embeddings: np.ndarray
    item_embeddings: np.ndarray
    affinity: np.ndarray
    grades: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Catalogue(n_users={self.n_users}, n_items={self.n_items}, "
            f"dim={self.user_embeddings.shape[1]}, n_grades={self.n_grades})"
        )

    @property
    def n_users(self) -> int:
        """Number of users."""
        return self.affinity.shape[0]

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self.affinity.shape[1]

    @property
    def n_grades(self) -> int:
        """Number of relevance grades (highest grade + 1)."""
        return int(self.grades.max()) + 1

    def grades_of(self, user_ids, items) -> np.ndarray:
        """Grades of ``items`` for ``user_ids``; ``-1`` where an item id is ``-1`` (empty).

        ``user_ids`` is an int or a 1-D array; ``items`` a 1-D sequence (one list) or a
        2-D array with one row per user id.
        """
        items = np.asarray(items, dtype=np.int64)
        users = np.asarray(user_ids, dtype=np.int64)
        if users.size and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"user_ids: must lie in [0, {self.n_users})")
        if items.size and (items.min() < -1 or items.max() >= self.n_items):
            raise ValueError(f"items: must lie in [0, {self.n_items}) (-1 = empty slot)")
        if items.ndim == 2 and users.ndim == 1:
            users = users[:, None]
        g = self.grades[users, np.maximum(items, 0)].astype(np.int64)
        return np.where(items >= 0, g, -1)


def make_catalogue(
    n_users: int = 1000,
    n_items: int = 500,
    dim: int = 16,
    grade_quantiles: Sequence[float] = DEFAULT_GRADE_QUANTILES,
    rng: np.random.Generator | int = 0,
) -> Catalogue:
    """Generate a synthetic :class:`Catalogue`.

    Parameters
    ----------
    n_users, n_items, dim : int
        Sizes; embeddings are standard normal.
    grade_quantiles : sequence of float
        Increasing per-user quantiles of affinity that separate the grades; ``m``
        cut points give grades ``0 .. m``.
    rng : numpy.random.Generator or int
        Seed or generator.

    Examples
    --------
    >>> cat = make_catalogue(n_users=20, n_items=100, rng=1)
    >>> cat.grades.shape, int(cat.grades.max()), int((cat.grades[0] == 4).sum())
    ((20, 100), 4, 1)
    """
    n_users = _positive_int(n_users, "n_users")
    n_items = _positive_int(n_items, "n_items")
    dim = _positive_int(dim, "dim")
    if n_items < 2:
        raise ValueError(f"n_items: needs at least 2 items, got {n_items}")
    q = np.asarray(grade_quantiles, dtype=float)
    if q.ndim != 1 or q.size == 0 or np.any((q <= 0) | (q >= 1)) or np.any(np.diff(q) <= 0):
        raise ValueError(
            f"grade_quantiles: must be increasing values in (0, 1), got {list(grade_quantiles)!r}"
        )
    gen = _generator(rng)
    users = gen.standard_normal((n_users, dim))
    items = gen.standard_normal((n_items, dim))
    raw = users @ items.T
    mean = raw.mean(axis=1, keepdims=True)
    std = raw.std(axis=1, keepdims=True)
    affinity = (raw - mean) / np.where(std > 0, std, 1.0)
    cuts = np.quantile(affinity, q, axis=1).T  # (n_users, m)
    grades = (affinity[:, :, None] > cuts[:, None, :]).sum(axis=2).astype(np.int8)
    for arr in (users, items, affinity, grades):
        arr.setflags(write=False)
    return Catalogue(users, items, affinity, grades)


class Recommender:
    """Ranks a catalogue's items for each user by affinity plus fixed Gaussian noise.

    Parameters
    ----------
    catalogue : Catalogue
    noise_sd : float
        Ranking quality: standard deviation of the noise added to the standardised
        affinity (0 = ideal ranking).
    rng : numpy.random.Generator or int
        Seed or generator for the noise (drawn once: the recommender is deterministic).
    max_k : int
        Longest list it can return (rankings are precomputed to this depth).
    name : str

    Examples
    --------
    >>> cat = make_catalogue(n_users=5, n_items=50, rng=0)
    >>> ideal = Recommender(cat, noise_sd=0.0, rng=1, max_k=10)
    >>> top = ideal.recommend(0, 3)
    >>> [int(g) for g in cat.grades[0, list(top)]]
    [4, 2, 1]
    """

    def __init__(
        self,
        catalogue: Catalogue,
        noise_sd: float,
        rng: np.random.Generator | int,
        max_k: int = 50,
        name: str = "",
    ) -> None:
        if not isinstance(catalogue, Catalogue):
            raise ValueError(f"catalogue: must be a Catalogue, got {type(catalogue).__name__}")
        noise_sd = float(noise_sd)
        if not np.isfinite(noise_sd) or noise_sd < 0:
            raise ValueError(f"noise_sd: must be a non-negative number, got {noise_sd!r}")
        max_k = min(_positive_int(max_k, "max_k"), catalogue.n_items)
        gen = _generator(rng)
        scores = catalogue.affinity + noise_sd * gen.standard_normal(catalogue.affinity.shape)
        part = np.argpartition(-scores, max_k - 1, axis=1)[:, :max_k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1).astype(np.int64)
        top.setflags(write=False)
        self._top = top
        self._tuples: dict[tuple[int, int], tuple[int, ...]] = {}
        self.catalogue = catalogue
        self.noise_sd = noise_sd
        self.max_k = max_k
        self.name = name

    def __repr__(self) -> str:
        return f"Recommender(name={self.name!r}, noise_sd={self.noise_sd}, max_k={self.max_k})"

    def _check_k(self, k: int) -> int:
        k = _positive_int(k, "k")
        if k > self.max_k:
            raise ValueError(f"k: at most max_k={self.max_k}, got {k}")
        return k

    def recommend(self, user_id: int, k: int) -> tuple[int, ...]:
        """Top-``k`` item ids for one user, best first (cached, cheap)."""
        k = self._check_k(k)
        key = (int(user_id), k)
        out = self._tuples.get(key)
        if out is None:
            if not 0 <= key[0] < self.catalogue.n_users:
                raise ValueError(
                    f"user_id: must lie in [0, {self.catalogue.n_users}), got {user_id!r}"
                )
            out = tuple(self._top[key[0], :k].tolist())
            self._tuples[key] = out
        return out

    def top_k(self, user_ids, k: int) -> np.ndarray:
        """Top-``k`` lists for many users: int64 array of shape ``(len(user_ids), k)``."""
        k = self._check_k(k)
        return self._top[np.asarray(user_ids, dtype=np.int64), :k]

    def ndcg(self, k: int) -> float:
        """Mean NDCG@k over all users (its ranking quality in the usual IR measure)."""
        k = self._check_k(k)
        users = np.arange(self.catalogue.n_users)
        return float(ndcg_at_k(self.catalogue, users, self._top[:, :k]).mean())


def ndcg_at_k(catalogue: Catalogue, user_ids, rankings: np.ndarray) -> np.ndarray:
    """NDCG of each row of ``rankings`` (gain ``2**grade - 1``, log2 discount).

    Järvelin and Kekäläinen (2002); the ideal list is the user's best items by grade.
    """
    rankings = np.asarray(rankings, dtype=np.int64)
    users = np.asarray(user_ids, dtype=np.int64)
    k = rankings.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    gains = 2.0 ** catalogue.grades_of(users, rankings).clip(min=0) - 1.0
    gains = np.where(rankings >= 0, gains, 0.0)
    dcg = gains @ disc
    ideal_grades = -np.sort(-catalogue.grades[users].astype(np.int64), axis=1)[:, :k]
    idcg = (2.0**ideal_grades - 1.0) @ disc[: ideal_grades.shape[1]]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
