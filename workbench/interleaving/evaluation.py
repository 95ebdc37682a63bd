"""Evaluating interleaving experiments, and the A/B test they are compared with.

* :func:`delta_ab`: ``Delta_AB = (wins_A + ties / 2) / (wins_A + wins_B + ties) - 0.5``
  (Chapelle, Joachims, Radlinski and Yue 2012); positive favours ranker a.
* :func:`sign_test`: two-sided binomial test on wins, ties dropped (GrowthBook's
  worked example: 30 wins against 18, 12 ties, gives p = 0.1114).
* :func:`bootstrap_delta`: percentile interval for Delta_AB, resampling users (an
  impression's outcome is correlated with the other impressions of the same user).
* :func:`ab_test`: the same synthetic users split between the two recommenders,
  click-through rate per arm and a two-proportion z-test, for contrast.
* :func:`run_interleaving`: many impressions at once (vectorised), and
  :func:`simulate_impression`: one impression, cheap, for the engine.

Outcome codes in arrays: ``+1`` a wins, ``-1`` b wins, ``0`` tie. By convention a is
the legacy recommender and b the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import Catalogue, Recommender
from .clicks import ClickModel
from .methods import METHODS, credit, credit_batch, interleave, interleave_batch

__all__ = [
    "ABResult",
    "BootstrapInterval",
    "Impression",
    "InterleavingResult",
    "SignTestResult",
    "ab_test",
    "bootstrap_delta",
    "delta_ab",
    "run_interleaving",
    "sign_test",
    "sign_test_pvalue",
    "simulate_impression",
    "two_proportion_ztest",
]

_CHUNK_ROWS = 100_000


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng: must be a numpy Generator or an int seed, got {type(rng).__name__}")


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------


def delta_ab(wins_a: int, wins_b: int, ties: int = 0) -> float:
    """Chapelle et al. (2012)'s Delta_AB: the share of impressions a wins (ties half) - 0.5.

    Examples
    --------
    >>> round(delta_ab(30, 18, 12), 4)
    0.1
    """
    wins_a, wins_b, ties = _count(wins_a, "wins_a"), _count(wins_b, "wins_b"), _count(ties, "ties")
    n = wins_a + wins_b + ties
    if n == 0:
        raise ValueError("wins_a, wins_b, ties: no impressions to compare")
    return (wins_a + ties / 2) / n - 0.5


@dataclass(frozen=True)
class SignTestResult:
    """Sign test on per-impression outcomes (ties dropped).

    ``preferred`` is ``"a"`` or ``"b"`` when ``p_value < alpha`` (the side with more
    wins), else ``"none"``.
    """

    wins_a: int
    wins_b: int
    ties: int
    delta_ab: float
    p_value: float
    alpha: float
    preferred: str

    @property
    def significant(self) -> bool:
        """Whether the p-value is below ``alpha``."""
        return self.p_value < self.alpha


def sign_test(wins_a: int, wins_b: int, ties: int = 0, alpha: float = 0.05) -> SignTestResult:
    """Two-sided sign test: ``scipy.stats.binomtest(wins_a, wins_a + wins_b, 0.5)``.

    Examples
    --------
    >>> round(sign_test(30, 18, 12).p_value, 4)
    0.1114
    """
    from scipy import stats

    wins_a, wins_b, ties = _count(wins_a, "wins_a"), _count(wins_b, "wins_b"), _count(ties, "ties")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    decisive = wins_a + wins_b
    p = 1.0 if decisive == 0 else float(stats.binomtest(wins_a, decisive, 0.5).pvalue)
    n = decisive + ties
    delta = (wins_a + ties / 2) / n - 0.5 if n else 0.0
    preferred = "none"
    if p < alpha:
        preferred = "a" if wins_a > wins_b else "b"
    return SignTestResult(wins_a, wins_b, ties, delta, p, alpha, preferred)


def sign_test_pvalue(wins_a, wins_b) -> np.ndarray:
    """Vectorised two-sided sign-test p-values (equal to ``binomtest`` at p = 0.5).

    For a fair coin the binomial is symmetric, so the two-sided p-value is twice the
    smaller tail, capped at 1; no decisive impression gives 1.
    """
    from scipy import stats

    wa = np.asarray(wins_a, dtype=np.int64)
    wb = np.asarray(wins_b, dtype=np.int64)
    n = wa + wb
    p = 2.0 * stats.binom.cdf(np.minimum(wa, wb), n, 0.5)
    return np.where(n > 0, np.minimum(p, 1.0), 1.0)


def two_proportion_ztest(successes_a, n_a, successes_b, n_b):
    """Pooled two-proportion z-test, two-sided; returns ``(z, p_value)`` (vectorised).

    ``z`` is positive when b's proportion is the larger. Same statistic as
    ``statsmodels.stats.proportion.proportions_ztest`` with its default pooled variance.
    """
    from scipy import stats

    sa, na = np.asarray(successes_a, dtype=float), np.asarray(n_a, dtype=float)
    sb, nb = np.asarray(successes_b, dtype=float), np.asarray(n_b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pa, pb = sa / na, sb / nb
        pooled = (sa + sb) / (na + nb)
        se = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
        z = (pb - pa) / se
    ok = (na > 0) & (nb > 0) & (se > 0)
    z = np.where(ok, z, 0.0)
    p = np.where(ok, 2.0 * stats.norm.sf(np.abs(z)), 1.0)
    if z.ndim == 0:
        return float(z), float(p)
    return z, p


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval for Delta_AB, resampling users."""

    delta_ab: float
    low: float
    high: float
    confidence: float
    n_users: int
    n_boot: int


def bootstrap_delta(
    user_ids,
    outcomes,
    rng: np.random.Generator | int,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Bootstrap interval for Delta_AB over users.

    Users, not impressions, are resampled with replacement (each with all their
    impressions), because outcomes of one user's impressions are correlated.

    Parameters
    ----------
    user_ids : array of int
        User of each impression.
    outcomes : array of {-1, 0, 1}
        Per-impression outcome (+1 a wins).
    rng : numpy.random.Generator or int
    n_boot : int
    confidence : float
    """
    users = np.asarray(user_ids)
    out = np.asarray(outcomes)
    if users.ndim != 1 or out.shape != users.shape:
        raise ValueError("outcomes: must be 1-D and as long as user_ids")
    if users.size == 0:
        raise ValueError("user_ids: no impressions")
    if not np.isin(out, (-1, 0, 1)).all():
        raise ValueError("outcomes: values must be -1, 0 or 1")
    n_boot = _count(n_boot, "n_boot")
    if n_boot < 1:
        raise ValueError("n_boot: must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie in (0, 1), got {confidence!r}")
    gen = _generator(rng)
    _, inv = np.unique(users, return_inverse=True)
    n_users = int(inv.max()) + 1
    wa = np.bincount(inv, weights=out == 1, minlength=n_users)
    wb = np.bincount(inv, weights=out == -1, minlength=n_users)
    tot = np.bincount(inv, minlength=n_users).astype(float)
    deltas = np.empty(n_boot)
    chunk = max(1, _CHUNK_ROWS * 10 // n_users)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = gen.integers(0, n_users, size=(stop - start, n_users))
        a, b, t = wa[idx].sum(axis=1), wb[idx].sum(axis=1), tot[idx].sum(axis=1)
        deltas[start:stop] = (a + (t - a - b) / 2) / t - 0.5
    tail = (1 - confidence) / 2
    low, high = np.quantile(deltas, [tail, 1 - tail])
    w_a, w_b, n = int(wa.sum()), int(wb.sum()), int(tot.sum())
    point = (w_a + (n - w_a - w_b) / 2) / n - 0.5
    return BootstrapInterval(point, float(low), float(high), confidence, n_users, n_boot)


# ---------------------------------------------------------------------------
# experiments on the synthetic catalogue
# ---------------------------------------------------------------------------


def _check_pair(catalogue, legacy, candidate, click_model, k):
    if not isinstance(catalogue, Catalogue):
        raise ValueError(f"catalogue: must be a Catalogue, got {type(catalogue).__name__}")
    for name, rec in (("legacy", legacy), ("candidate", candidate)):
        if not isinstance(rec, Recommender):
            raise ValueError(f"{name}: must be a Recommender, got {type(rec).__name__}")
        if rec.catalogue is not catalogue:
            raise ValueError(f"{name}: was built on a different catalogue")
    if not isinstance(click_model, ClickModel):
        raise ValueError(f"click_model: must be a ClickModel, got {type(click_model).__name__}")
    if click_model.n_grades < catalogue.n_grades:
        raise ValueError(
            f"click_model: covers {click_model.n_grades} grades, the catalogue has {catalogue.n_grades}"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")


@dataclass(frozen=True, eq=False)
class InterleavingResult:
    """Outcome of an interleaving experiment (a = legacy, b = candidate).

    ``user_ids`` and ``outcomes`` keep one entry per impression (for the bootstrap).
    """

    method: str
    wins_a: int
    wins_b: int
    ties: int
    delta_ab: float
    p_value: float
    user_ids: np.ndarray
    outcomes: np.ndarray

    @property
    def n_impressions(self) -> int:
        """Impressions counted: wins of either ranker plus ties."""
        return self.wins_a + self.wins_b + self.ties


def interleaving_outcomes(
    catalogue: Catalogue,
    legacy: Recommender,
    candidate: Recommender,
    click_model: ClickModel,
    user_ids: np.ndarray,
    method: str,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-impression outcomes (+1 legacy wins, -1 candidate wins, 0 tie) for ``user_ids``."""
    out = np.empty(len(user_ids), dtype=np.int8)
    for start in range(0, len(user_ids), _CHUNK_ROWS):
        users = user_ids[start : start + _CHUNK_ROWS]
        batch = interleave_batch(method, legacy.top_k(users, k), candidate.top_k(users, k), k, rng)
        grades = catalogue.grades_of(users, batch.items)
        clicks = click_model.clicks_batch(grades, rng)
        out[start : start + len(users)] = credit_batch(batch, clicks)
    return out


def run_interleaving(
    catalogue: Catalogue,
    legacy: Recommender,
    candidate: Recommender,
    click_model: ClickModel,
    n_impressions: int,
    rng: np.random.Generator | int,
    method: str = "team_draft",
    k: int = 10,
) -> InterleavingResult:
    """Simulate ``n_impressions`` interleaved impressions for uniformly drawn users.

    Examples
    --------
    >>> from workbench.interleaving import make_catalogue, Recommender, click_model
    >>> cat = make_catalogue(n_users=200, n_items=100, rng=0)
    >>> old, new = Recommender(cat, 2.0, rng=1), Recommender(cat, 0.0, rng=2)
    >>> res = run_interleaving(cat, old, new, click_model("navigational"), 2000, rng=3)
    >>> res.wins_b > res.wins_a, res.p_value < 0.001
    (True, True)
    """
    _check_pair(catalogue, legacy, candidate, click_model, k)
    if method not in METHODS:
        raise ValueError(f"method: must be one of {METHODS}, got {method!r}")
    n = _count(n_impressions, "n_impressions")
    gen = _generator(rng)
    users = gen.integers(0, catalogue.n_users, size=n)
    outcomes = interleaving_outcomes(
        catalogue, legacy, candidate, click_model, users, method, k, gen
    )
    wa, wb = int((outcomes == 1).sum()), int((outcomes == -1).sum())
    ties = n - wa - wb
    delta = (wa + ties / 2) / n - 0.5 if n else 0.0
    p = float(sign_test_pvalue(wa, wb))
    return InterleavingResult(method, wa, wb, ties, delta, p, users, outcomes)


@dataclass(frozen=True)
class ABResult:
    """A/B comparison: click-through rate (impressions with at least one click) per arm.

    ``z`` is positive when the candidate's (b's) CTR is higher.
    """

    impressions_a: int
    impressions_b: int
    clicked_a: int
    clicked_b: int
    ctr_a: float
    ctr_b: float
    z: float
    p_value: float


def ab_clicked(
    catalogue: Catalogue,
    legacy: Recommender,
    candidate: Recommender,
    click_model: ClickModel,
    user_ids: np.ndarray,
    to_candidate: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Whether each A/B impression got at least one click (arm given by ``to_candidate``)."""
    out = np.empty(len(user_ids), dtype=bool)
    for start in range(0, len(user_ids), _CHUNK_ROWS):
        users = user_ids[start : start + _CHUNK_ROWS]
        arm = to_candidate[start : start + _CHUNK_ROWS]
        lists = np.where(arm[:, None], candidate.top_k(users, k), legacy.top_k(users, k))
        clicks = click_model.clicks_batch(catalogue.grades_of(users, lists), rng)
        out[start : start + len(users)] = clicks.any(axis=1)
    return out


def ab_test(
    catalogue: Catalogue,
    legacy: Recommender,
    candidate: Recommender,
    click_model: ClickModel,
    n_impressions: int,
    rng: np.random.Generator | int,
    k: int = 10,
) -> ABResult:
    """A/B test on the same synthetic users: each impression goes to one arm (50/50).

    Examples
    --------
    >>> from workbench.interleaving import make_catalogue, Recommender, click_model
    >>> cat = make_catalogue(n_users=200, n_items=100, rng=0)
    >>> old, new = Recommender(cat, 2.0, rng=1), Recommender(cat, 0.0, rng=2)
    >>> res = ab_test(cat, old, new, click_model("navigational"), 2000, rng=3)
    >>> res.impressions_a + res.impressions_b
    2000
    """
    _check_pair(catalogue, legacy, candidate, click_model, k)
    n = _count(n_impressions, "n_impressions")
    gen = _generator(rng)
    users = gen.integers(0, catalogue.n_users, size=n)
    to_b = gen.random(n) < 0.5
    clicked = ab_clicked(catalogue, legacy, candidate, click_model, users, to_b, k, gen)
    na, nb = int((~to_b).sum()), int(to_b.sum())
    ca, cb = int(clicked[~to_b].sum()), int(clicked[to_b].sum())
    z, p = two_proportion_ztest(ca, na, cb, nb)
    return ABResult(
        na, nb, ca, cb, ca / na if na else float("nan"), cb / nb if nb else float("nan"), z, p
    )


@dataclass(frozen=True)
class Impression:
    """One interleaved impression, as the engine logs it (a = legacy, b = candidate)."""

    user_id: int
    method: str
    items: tuple[int, ...]
    teams: tuple[str, ...]
    grades: tuple[int, ...]
    clicked_positions: tuple[int, ...]
    winner: str


def simulate_impression(
    catalogue: Catalogue,
    user_id: int,
    legacy: Recommender,
    candidate: Recommender,
    method: str,
    click_model: ClickModel,
    k: int,
    rng: np.random.Generator,
) -> Impression:
    """Interleave the two recommenders' top-k lists for one user, simulate clicks, credit.

    Cheap enough to call once per simulated request (pure Python on short lists).

    Examples
    --------
    >>> from workbench.interleaving import make_catalogue, Recommender, click_model
    >>> cat = make_catalogue(n_users=10, n_items=50, rng=0)
    >>> old, new = Recommender(cat, 1.0, rng=1), Recommender(cat, 0.0, rng=2)
    >>> imp = simulate_impression(cat, 3, old, new, "team_draft", click_model("navigational"),
    ...                           5, np.random.default_rng(0))
    >>> len(imp.items), imp.winner in ("a", "b", "tie")
    (5, True)
    """
    rank_a = legacy.recommend(user_id, k)
    rank_b = candidate.recommend(user_id, k)
    result = interleave(method, rank_a, rank_b, k, rng)
    grades = catalogue.grades[int(user_id)][list(result.items)].tolist() if result.items else []
    clicked = click_model.clicked_positions(grades, rng)
    return Impression(
        int(user_id),
        method,
        result.items,
        result.teams,
        tuple(grades),
        clicked,
        credit(result, clicked),
    )
