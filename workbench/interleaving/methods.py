"""Interleaving methods: team-draft, balanced, probabilistic, and the naive shuffle.

Each method merges two rankings into one list shown to a user and remembers which
ranker ("team") each position came from, so that clicks can be credited per
impression as a win for ``"a"``, a win for ``"b"`` or a ``"tie"``.

Two forms are provided:

* scalar functions (:func:`team_draft`, :func:`balanced`, :func:`probabilistic`,
  :func:`naive_shuffle`, :func:`credit`) taking any sequences of hashable items; cheap
  per call (pure Python, tens of microseconds for ``k = 10``), for the engine;
* batch functions (:func:`interleave_batch`, :func:`credit_batch`) taking integer
  arrays of shape ``(n_impressions, list_length)`` (``-1`` pads short lists), vectorised
  over impressions for Monte Carlo studies. With the same injected coin flips (and
  draws) they give exactly what the scalar functions give.

Conventions shared by all methods: input rankings are never mutated; a ranker's
repeated item counts only at its first (best) rank; ``clicked_positions`` are 0-based
indices into ``result.items``.

References
----------
Radlinski, Kurup and Joachims (2008), "How does clickthrough data reflect retrieval
quality?" (team-draft). Joachims (2003), "Evaluating retrieval performance using
clickthrough data" (balanced). Hofmann, Whiteson and de Rijke (2011), "A probabilistic
method for inferring preferences from click data" (probabilistic, softmax over rank
with tau = 3, outcome marginalised over team assignments). Cross-checked against the
test cases of mpkato/interleaving.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

__all__ = [
    "METHODS",
    "Interleaving",
    "InterleavingBatch",
    "balanced",
    "credit",
    "credit_batch",
    "credit_score",
    "interleave",
    "interleave_batch",
    "naive_shuffle",
    "probabilistic",
    "team_draft",
]

METHODS: tuple[str, ...] = ("team_draft", "balanced", "probabilistic", "naive_shuffle")
"""Names of the interleaving methods, as accepted by :func:`interleave`."""

DEFAULT_TAU = 3.0
"""Softmax exponent of probabilistic interleaving (Hofmann et al. 2011)."""

_TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Interleaving:
    """One interleaved list and the bookkeeping needed to credit its clicks.

    Attributes
    ----------
    items : tuple
        The list shown to the user, top first (no duplicates).
    teams : tuple of str
        ``"a"`` or ``"b"`` per position: the ranker that contributed the item (the
        naive shuffle also uses ``"ab"``: offered by both).
    method : str
        One of :data:`METHODS`.
    rank_a, rank_b : tuple of int
        0-based rank of each shown item in ranking a (b) after de-duplication, or the
        length of that ranking when the item is absent (balanced credit uses these).
    prob_a : tuple of float or None
        Probabilistic interleaving only: the posterior probability that position ``i``
        was filled by ranker a given the list shown (used to marginalise the credit).
    """

    items: tuple
    teams: tuple[str, ...]
    method: str
    rank_a: tuple[int, ...]
    rank_b: tuple[int, ...]
    prob_a: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _as_ranking(ranking: Sequence[Hashable], name: str) -> tuple:
    """De-duplicated copy of ``ranking`` (first occurrence kept); never mutates it."""
    if isinstance(ranking, np.ndarray):
        if ranking.ndim != 1:
            raise ValueError(f"{name}: must be one-dimensional, got shape {ranking.shape}")
        ranking = ranking.tolist()
    if isinstance(ranking, (str, bytes)) or not isinstance(ranking, Sequence):
        raise ValueError(f"{name}: must be a sequence of item ids, got {type(ranking).__name__}")
    try:
        return tuple(dict.fromkeys(ranking))
    except TypeError as exc:
        raise ValueError(f"{name}: item ids must be hashable ({exc})") from None


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")
    return int(k)


def _check_rng(rng: np.random.Generator | int | None, needed: bool) -> np.random.Generator | None:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        if needed:
            raise ValueError("rng: a numpy Generator (or an int seed) is required")
        return None
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng: must be a numpy Generator or an int seed, got {type(rng).__name__}")


def _flip_value(flip: object, name: str) -> bool:
    if flip in ("a", "b"):
        return flip == "a"
    if isinstance(flip, (bool, np.bool_)) or flip in (0, 1):
        return bool(flip)
    raise ValueError(f"{name}: each flip must be True/False, 1/0 or 'a'/'b', got {flip!r}")


class _Flips:
    """Coin flips, drawn from ``rng`` on demand or read from an injected sequence.

    ``flip(i)`` is True when team a wins the i-th coin toss.
    """

    __slots__ = ("_rng", "_seq", "_name")

    def __init__(self, rng: np.random.Generator | None, seq: Sequence | None, name: str):
        self._rng = rng
        self._seq = None if seq is None else [_flip_value(f, name) for f in seq]
        self._name = name

    def flip(self, i: int) -> bool:
        if self._seq is None:
            return bool(self._rng.random() < 0.5)
        if i >= len(self._seq):
            raise ValueError(f"{self._name}: needed more than {len(self._seq)} coin flips")
        return self._seq[i]


def _ranks(items: Sequence, ranking: tuple) -> tuple[int, ...]:
    pos = dict(zip(ranking, range(len(ranking)), strict=True))
    return tuple(map(pos.get, items, repeat(len(ranking), len(items))))


# ---------------------------------------------------------------------------
# scalar methods
# ---------------------------------------------------------------------------


def team_draft(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    rng: np.random.Generator | int | None = None,
    *,
    coin_flips: Sequence | None = None,
) -> Interleaving:
    """Team-draft interleaving (Radlinski, Kurup and Joachims 2008).

    The team with fewer picks chooses next (a coin breaks ties) and adds its
    highest-ranked item not yet shown. When one ranker has nothing new left, the
    other keeps filling until ``k`` items (as mpkato/interleaving does).

    Parameters
    ----------
    ranking_a, ranking_b : sequence of hashable
        The two rankings, best first. Not modified.
    k : int
        Maximum length of the interleaved list.
    rng : numpy.random.Generator or int, optional
        Source of the coin flips; required unless ``coin_flips`` is given.
    coin_flips : sequence, optional
        Injected coin flips, one per tie in team sizes (``True``/``"a"`` means team a
        picks first in that round); for hand-checked cases.

    Examples
    --------
    >>> r = team_draft([1, 2, 3, 4], [2, 3, 5, 6], k=4, coin_flips=["a", "b"])
    >>> r.items, r.teams
    ((1, 2, 3, 4), ('a', 'b', 'b', 'a'))
    >>> credit(r, [0, 3])
    'a'
    """
    a = _as_ranking(ranking_a, "ranking_a")
    b = _as_ranking(ranking_b, "ranking_b")
    k = _check_k(k)
    flips = _Flips(_check_rng(rng, coin_flips is None), coin_flips, "coin_flips")
    shown: set = set()
    items: list = []
    teams: list[str] = []
    ia = ib = na = nb = 0
    la, lb = len(a), len(b)
    while len(items) < k:
        while ia < la and a[ia] in shown:
            ia += 1
        while ib < lb and b[ib] in shown:
            ib += 1
        has_a, has_b = ia < la, ib < lb
        if has_a and has_b:
            pick_a = na < nb or (na == nb and flips.flip(na))
        elif has_a or has_b:
            pick_a = has_a
        else:
            break
        if pick_a:
            item = a[ia]
            na += 1
        else:
            item = b[ib]
            nb += 1
        shown.add(item)
        items.append(item)
        teams.append("a" if pick_a else "b")
    return Interleaving(
        tuple(items), tuple(teams), "team_draft", _ranks(items, a), _ranks(items, b)
    )


def balanced(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    rng: np.random.Generator | int | None = None,
    *,
    coin_flips: Sequence | None = None,
) -> Interleaving:
    """Balanced interleaving (Joachims 2003).

    One coin decides which ranker goes first; then the rankers alternate by rank
    (the one with the lower pointer moves), skipping items already shown. The list
    ends at ``k`` items or when either ranking is exhausted (as in Joachims 2003 and
    mpkato/interleaving). ``teams`` records which ranker contributed each item; the
    credit (:func:`credit`) follows Joachims' rule, not the teams.

    Parameters
    ----------
    ranking_a, ranking_b, k, rng
        As in :func:`team_draft`.
    coin_flips : sequence, optional
        Injected coin: its first element says whether a goes first.

    Examples
    --------
    >>> balanced([1, 2], [2, 3], k=3, coin_flips=[False]).items
    (2, 1, 3)
    >>> balanced([1, 2], [2, 3], k=3, coin_flips=[True]).items
    (1, 2)
    """
    a = _as_ranking(ranking_a, "ranking_a")
    b = _as_ranking(ranking_b, "ranking_b")
    k = _check_k(k)
    flips = _Flips(_check_rng(rng, coin_flips is None), coin_flips, "coin_flips")
    la, lb = len(a), len(b)
    items: list = []
    teams: list[str] = []
    if la == 0 or lb == 0:
        return Interleaving((), (), "balanced", (), ())
    a_first = flips.flip(0)
    shown: set = set()
    ka = kb = 0
    while len(items) < k and ka < la and kb < lb:
        if ka < kb or (ka == kb and a_first):
            item, team = a[ka], "a"
            ka += 1
        else:
            item, team = b[kb], "b"
            kb += 1
        if item not in shown:
            shown.add(item)
            items.append(item)
            teams.append(team)
    return Interleaving(tuple(items), tuple(teams), "balanced", _ranks(items, a), _ranks(items, b))


def probabilistic(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    rng: np.random.Generator | int | None = None,
    *,
    tau: float = DEFAULT_TAU,
    coin_flips: Sequence | None = None,
    draws: Sequence[float] | None = None,
) -> Interleaving:
    """Probabilistic interleaving (Hofmann, Whiteson and de Rijke 2011).

    Each ranker becomes a softmax over its ranks, ``P(d) proportional to 1 / rank(d)^tau``.
    For each position a fair coin picks a ranker, which samples an item from its
    softmax renormalised over the items not yet shown (original ranks kept). An item a
    ranker does not contain has probability 0 under it. When one ranker is exhausted
    the other fills. ``prob_a`` stores, per position, the posterior probability that the
    item came from ranker a given the list shown; :func:`credit` marginalises over it.

    Parameters
    ----------
    ranking_a, ranking_b, k, rng
        As in :func:`team_draft`.
    tau : float
        Softmax exponent (3 in Hofmann et al. 2011).
    coin_flips : sequence, optional
        Injected coin per position (``True``/``"a"``: ranker a samples).
    draws : sequence of float, optional
        Injected uniform(0, 1) numbers, one per position, used to sample the item.

    Examples
    --------
    >>> r = probabilistic([1, 2, 3], [3, 2, 1], k=3, coin_flips="aaa", draws=[0.0, 0.0, 0.0])
    >>> r.items, r.teams
    ((1, 2, 3), ('a', 'a', 'a'))
    """
    a = _as_ranking(ranking_a, "ranking_a")
    b = _as_ranking(ranking_b, "ranking_b")
    k = _check_k(k)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau: must be a positive number, got {tau!r}")
    need_rng = coin_flips is None or draws is None
    gen = _check_rng(rng, need_rng)
    flips = _Flips(gen, coin_flips, "coin_flips")
    if draws is not None:
        draws = [float(u) for u in draws]
    # remaining items per ranker -> softmax weight by original rank (insertion = rank order)
    rem_a = {item: 1.0 / (r + 1) ** tau for r, item in enumerate(a)}
    rem_b = {item: 1.0 / (r + 1) ** tau for r, item in enumerate(b)}
    items: list = []
    teams: list[str] = []
    prob_a: list[float] = []
    while len(items) < k and (rem_a or rem_b):
        pos = len(items)
        use_a = flips.flip(pos) if (rem_a and rem_b) else bool(rem_a)
        rem = rem_a if use_a else rem_b
        if draws is None:
            u = float(gen.random())
        else:
            if pos >= len(draws):
                raise ValueError(f"draws: needed more than {len(draws)} draws")
            u = draws[pos]
        total_a = sum(rem_a.values())
        total_b = sum(rem_b.values())
        target = u * (total_a if use_a else total_b)
        acc = 0.0
        item = None
        for cand, w in rem.items():
            acc += w
            item = cand
            if acc > target:
                break
        pa = rem_a.get(item, 0.0) / total_a if total_a > 0 else 0.0
        pb = rem_b.get(item, 0.0) / total_b if total_b > 0 else 0.0
        prob_a.append(pa / (pa + pb))
        rem_a.pop(item, None)
        rem_b.pop(item, None)
        items.append(item)
        teams.append("a" if use_a else "b")
    return Interleaving(
        tuple(items),
        tuple(teams),
        "probabilistic",
        _ranks(items, a),
        _ranks(items, b),
        tuple(prob_a),
    )


def naive_shuffle(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    rng: np.random.Generator | int | None = None,
    *,
    coin_flips: Sequence | None = None,
    order: Sequence[int] | None = None,
) -> Interleaving:
    """Alternate-then-shuffle: a common naive method, kept as a counter-example.

    The rankers take turns, each offering the next item down its
    *own* list, until ``k`` distinct items are shown; then the list is shuffled
    uniformly. (Always letting ranker a go first hands a the last,
    unmatched item of identical lists; here a coin decides, so that the only flaw
    left is the one this method is kept to teach.) An item offered by both is shown once and belongs to both
    teams (``teams`` is ``"ab"`` there), so it credits neither. The shuffle throws away
    rank order: clicks measure how attractive each ranker's *set* of offered items
    is, not how well it is ranked, so a ranker that shows the right items in the
    wrong order is not penalised. Other pitfalls of naive implementations
    (mutating the inputs with ``pop(0)``, showing duplicates, appending a stale item
    when a list runs out, crediting per click) are not reproduced.

    Parameters
    ----------
    ranking_a, ranking_b, k, rng
        As in :func:`team_draft`; ``rng`` draws the coin, then the shuffle.
    coin_flips : sequence, optional
        Injected coin: its first element says whether a goes first.
    order : sequence of int, optional
        Injected permutation: position ``i`` of the result shows the alternated list's
        item ``order[i]``.

    Examples
    --------
    >>> r = naive_shuffle([1, 2, 3], [2, 1, 4], k=3, coin_flips="a", order=[2, 1, 0])
    >>> r.items, r.teams
    ((3, 2, 1), ('a', 'ab', 'ab'))
    """
    a = _as_ranking(ranking_a, "ranking_a")
    b = _as_ranking(ranking_b, "ranking_b")
    k = _check_k(k)
    gen = _check_rng(rng, order is None or coin_flips is None)
    a_first = _Flips(gen, coin_flips, "coin_flips").flip(0)
    shown: set = set()
    items: list = []
    ia = ib = turn = 0
    la, lb = len(a), len(b)
    while len(items) < k and (ia < la or ib < lb):
        use_a = ((turn % 2 == 0) == a_first) if (ia < la and ib < lb) else ia < la
        turn += 1
        if use_a:
            item = a[ia]
            ia += 1
        else:
            item = b[ib]
            ib += 1
        if item not in shown:
            shown.add(item)
            items.append(item)
    n = len(items)
    if order is None:
        perm = np.argsort(gen.random(n), kind="stable").tolist()
    else:
        perm = [int(i) for i in order]
        if sorted(perm) != list(range(n)):
            raise ValueError(f"order: must be a permutation of range({n}), got {list(order)!r}")
    items = [items[i] for i in perm]
    rank_a, rank_b = _ranks(items, a), _ranks(items, b)
    teams = tuple(_naive_team(ra < ia, rb < ib) for ra, rb in zip(rank_a, rank_b, strict=True))
    return Interleaving(tuple(items), teams, "naive_shuffle", rank_a, rank_b)


def _naive_team(by_a: bool, by_b: bool) -> str:
    return "ab" if (by_a and by_b) else ("a" if by_a else "b")


_SCALAR = {
    "team_draft": team_draft,
    "balanced": balanced,
    "probabilistic": probabilistic,
    "naive_shuffle": naive_shuffle,
}


def interleave(
    method: str,
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    rng: np.random.Generator | int,
) -> Interleaving:
    """Interleave with the method named ``method`` (one of :data:`METHODS`)."""
    try:
        fn = _SCALAR[method]
    except KeyError:
        raise ValueError(f"method: must be one of {METHODS}, got {method!r}") from None
    return fn(ranking_a, ranking_b, k, rng)


# ---------------------------------------------------------------------------
# credit
# ---------------------------------------------------------------------------


def _clicked(result: Interleaving, clicked_positions: Sequence[int]) -> list[int]:
    if isinstance(clicked_positions, np.ndarray) and clicked_positions.dtype == bool:
        raise ValueError("clicked_positions: give position indices, not a boolean mask")
    n = len(result.items)
    out = sorted({int(c) for c in clicked_positions})
    if out and (out[0] < 0 or out[-1] >= n):
        raise ValueError(f"clicked_positions: must be in [0, {n}), got {list(clicked_positions)!r}")
    return out


def _expected_sign(prob_a: Sequence[float]) -> float:
    """E[sign(#a - #b)] when each clicked position is a's with its own probability."""
    dist = {0: 1.0}
    for q in prob_a:
        new: dict[int, float] = {}
        for d, p in dist.items():
            if q > 0.0:
                new[d + 1] = new.get(d + 1, 0.0) + p * q
            if q < 1.0:
                new[d - 1] = new.get(d - 1, 0.0) + p * (1.0 - q)
        dist = new
    return sum(p for d, p in dist.items() if d > 0) - sum(p for d, p in dist.items() if d < 0)


def credit_score(result: Interleaving, clicked_positions: Sequence[int]) -> float:
    """Credit of one impression as a number in [-1, 1]: positive favours a.

    Team-draft and naive shuffle: sign of (clicks on a's items - clicks on b's items);
    in the naive shuffle an item offered by both counts for both.
    Balanced: Joachims' rule: with ``k`` the smaller rank, in either ranking, of the
    lowest clicked item, compare clicks on each ranking's top ``k + 1`` items.
    Probabilistic: the expected sign over the posterior team assignments (Hofmann et
    al. 2011), which uses every possible origin of each clicked item, not only the
    one drawn.
    """
    clicks = _clicked(result, clicked_positions)
    if not clicks:
        return 0.0
    if result.method == "balanced":
        last = clicks[-1]
        cut = min(result.rank_a[last], result.rank_b[last])
        h_a = sum(result.rank_a[c] <= cut for c in clicks)
        h_b = sum(result.rank_b[c] <= cut for c in clicks)
        return float(np.sign(h_a - h_b))
    if result.method == "probabilistic":
        if result.prob_a is None:
            raise ValueError("result: probabilistic interleaving without prob_a")
        return _expected_sign([result.prob_a[c] for c in clicks])
    if result.method in ("team_draft", "naive_shuffle"):
        h_a = sum("a" in result.teams[c] for c in clicks)
        h_b = sum("b" in result.teams[c] for c in clicks)
        return float(np.sign(h_a - h_b))
    raise ValueError(f"result.method: unknown method {result.method!r}")


def credit(result: Interleaving, clicked_positions: Sequence[int]) -> str:
    """Outcome of one impression: ``"a"``, ``"b"`` or ``"tie"`` (no clicks is a tie).

    Credit is per impression, not per click (Radlinski et al. 2008): an impression
    with three clicks on a's items and one on b's is one win for a.

    Examples
    --------
    >>> r = team_draft([1, 2], [2, 3], k=2, coin_flips=["a"])
    >>> credit(r, [0]), credit(r, [1]), credit(r, [0, 1]), credit(r, [])
    ('a', 'b', 'tie', 'tie')
    """
    score = credit_score(result, clicked_positions)
    if score > _TIE_TOLERANCE:
        return "a"
    if score < -_TIE_TOLERANCE:
        return "b"
    return "tie"


# ---------------------------------------------------------------------------
# batch (vectorised over impressions)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InterleavingBatch:
    """Many interleaved lists at once (arrays of shape ``(n_impressions, k)``).

    Attributes
    ----------
    method : str
    items : numpy.ndarray of int64
        Item ids, ``-1`` in positions left empty (short rankings).
    team_a, team_b : numpy.ndarray of bool
        True where ranker a (b) contributed the item; exactly one of them on filled
        positions, except in the naive shuffle where an item offered by both has both.
    rank_a, rank_b : numpy.ndarray of int64
        As :attr:`Interleaving.rank_a` / ``rank_b`` (meaningless where items is -1).
    prob_a : numpy.ndarray of float or None
        Probabilistic interleaving only: posterior that a filled the position.
    """

    method: str
    items: np.ndarray
    team_a: np.ndarray
    team_b: np.ndarray
    rank_a: np.ndarray
    rank_b: np.ndarray
    prob_a: np.ndarray | None = None

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of filled positions."""
        return self.items >= 0

    def __len__(self) -> int:
        return self.items.shape[0]

    def row(self, i: int) -> Interleaving:
        """Impression ``i`` as a scalar :class:`Interleaving`."""
        n = int(self.valid[i].sum())
        items = tuple(int(x) for x in self.items[i, :n])
        teams = tuple(
            _naive_team(bool(ta), bool(tb))
            for ta, tb in zip(self.team_a[i, :n], self.team_b[i, :n], strict=True)
        )
        prob = None if self.prob_a is None else tuple(float(p) for p in self.prob_a[i, :n])
        return Interleaving(
            items,
            teams,
            self.method,
            tuple(int(r) for r in self.rank_a[i, :n]),
            tuple(int(r) for r in self.rank_b[i, :n]),
            prob,
        )


def _prepare_batch(rankings: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate, de-duplicate within rows and compact to the left; returns (ids, lengths)."""
    arr = np.asarray(rankings)
    if arr.ndim != 2:
        raise ValueError(f"{name}: must be a 2-D integer array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: must hold integer item ids (-1 for padding), got {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    if arr.size and arr.min() < -1:
        raise ValueError(f"{name}: item ids must be >= 0 (-1 pads short rankings)")
    valid = arr >= 0
    width = arr.shape[1]
    for j in range(1, width):
        valid[:, j] &= ~(arr[:, :j] == arr[:, j : j + 1]).any(axis=1)
    if not valid.all():
        order = np.argsort(~valid, axis=1, kind="stable")
        arr = np.take_along_axis(arr, order, axis=1)
        valid = np.take_along_axis(valid, order, axis=1)
        arr[~valid] = -1
    return arr, valid.sum(axis=1)


def _first_true(mask: np.ndarray) -> np.ndarray:
    return np.argmax(mask, axis=1)


def _batch_ranks(items: np.ndarray, ranking: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    if ranking.shape[1] == 0:
        return np.broadcast_to(lengths[:, None], items.shape).astype(np.int64)
    eq = (items[:, :, None] == ranking[:, None, :]) & (items[:, :, None] >= 0)
    found = eq.any(axis=2)
    return np.where(found, np.argmax(eq, axis=2), lengths[:, None]).astype(np.int64)


def _injected(arr: np.ndarray | None, shape: tuple[int, int], name: str, as_bool: bool):
    if arr is None:
        return None
    out = np.asarray(arr)
    if out.ndim != 2 or out.shape[0] != shape[0] or out.shape[1] < shape[1]:
        raise ValueError(f"{name}: must have shape ({shape[0]}, >= {shape[1]}), got {out.shape}")
    return out.astype(bool) if as_bool else out.astype(float)


def interleave_batch(
    method: str,
    rankings_a: np.ndarray,
    rankings_b: np.ndarray,
    k: int,
    rng: np.random.Generator | int | None = None,
    *,
    tau: float = DEFAULT_TAU,
    coin_flips: np.ndarray | None = None,
    draws: np.ndarray | None = None,
) -> InterleavingBatch:
    """Interleave many pairs of rankings at once (row ``i`` of a with row ``i`` of b).

    Same semantics as the scalar functions. ``coin_flips`` (bool) and ``draws``
    (uniform floats, shape ``(n, >= k)``) may be injected; column ``j`` of
    ``coin_flips`` is the scalar functions' ``j``-th flip (team-draft: the flip when
    both teams have ``j`` picks; probabilistic: position ``j``; balanced and naive
    shuffle use column 0 only: a goes first). ``draws`` are probabilistic's sampling
    numbers or, for the naive shuffle, the sort keys of the permutation.

    Examples
    --------
    >>> a = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    >>> b = np.array([[2, 3, 5, 6], [8, 7, 6, 5]])
    >>> res = interleave_batch("team_draft", a, b, 4, np.random.default_rng(0))
    >>> res.items.shape, bool(np.all(res.team_a.sum(axis=1) == 2))
    ((2, 4), True)
    """
    if method not in METHODS:
        raise ValueError(f"method: must be one of {METHODS}, got {method!r}")
    k = _check_k(k)
    a, len_a = _prepare_batch(rankings_a, "rankings_a")
    b, len_b = _prepare_batch(rankings_b, "rankings_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"rankings_b: must have as many rows as rankings_a ({a.shape[0]}), got {b.shape[0]}"
        )
    n = a.shape[0]
    n_flips = 1 if method in ("balanced", "naive_shuffle") else k
    flips = _injected(coin_flips, (n, n_flips), "coin_flips", True)
    u = _injected(draws, (n, k), "draws", False)
    needs_draws = method in ("probabilistic", "naive_shuffle")
    gen = _check_rng(rng, flips is None or (needs_draws and u is None))
    if flips is None:
        flips = gen.random((n, k)) < 0.5
    if needs_draws and u is None:
        u = gen.random((n, k))
    rank_a = rank_b = None
    prob = None
    if method == "team_draft":
        items, team_a = _team_draft_batch(a, b, k, flips)
    elif method == "naive_shuffle":
        items, depth_a, depth_b = _naive_batch(a, b, len_a, len_b, k, flips[:, 0])
        keys = np.where(items >= 0, u[:, :k], np.inf)
        order = np.argsort(keys, axis=1, kind="stable")
        items = np.take_along_axis(items, order, axis=1)
        rank_a = _batch_ranks(items, a, len_a)
        rank_b = _batch_ranks(items, b, len_b)
        valid = items >= 0
        team_a = valid & (rank_a < depth_a[:, None])
        team_b = valid & (rank_b < depth_b[:, None])
    elif method == "balanced":
        items, team_a = _balanced_batch(a, b, len_a, len_b, k, flips[:, 0])
    else:
        if not np.isfinite(tau) or tau <= 0:
            raise ValueError(f"tau: must be a positive number, got {tau!r}")
        items, team_a, prob = _probabilistic_batch(a, b, k, flips, u, tau)
    if method != "naive_shuffle":
        team_b = (items >= 0) & ~team_a
        rank_a = _batch_ranks(items, a, len_a)
        rank_b = _batch_ranks(items, b, len_b)
    return InterleavingBatch(method, items, team_a, team_b, rank_a, rank_b, prob)


def _team_draft_batch(a, b, k, flips):
    n = a.shape[0]
    rows = np.arange(n)
    items = np.full((n, k), -1, dtype=np.int64)
    team_a = np.zeros((n, k), dtype=bool)
    avail_a = a >= 0
    avail_b = b >= 0
    na = np.zeros(n, dtype=np.int64)
    nb = np.zeros(n, dtype=np.int64)
    for t in range(k):
        has_a = avail_a.any(axis=1) if a.shape[1] else np.zeros(n, bool)
        has_b = avail_b.any(axis=1) if b.shape[1] else np.zeros(n, bool)
        active = has_a | has_b
        if not active.any():
            break
        coin = flips[rows, np.minimum(na, k - 1)]
        both = np.where(na == nb, coin, na < nb)
        pick_a = np.where(has_a & has_b, both, has_a)
        item_a = a[rows, _first_true(avail_a)] if a.shape[1] else np.full(n, -1)
        item_b = b[rows, _first_true(avail_b)] if b.shape[1] else np.full(n, -1)
        item = np.where(active, np.where(pick_a, item_a, item_b), -1)
        items[:, t] = item
        team_a[:, t] = pick_a & active
        na += pick_a & active
        nb += ~pick_a & active
        avail_a &= a != item[:, None]
        avail_b &= b != item[:, None]
    return items, team_a


def _naive_batch(a, b, len_a, len_b, k, a_first):
    """Naive alternation: turns, each down its own list, repeats skipped."""
    n = a.shape[0]
    rows = np.arange(n)
    items = np.full((n, k), -1, dtype=np.int64)
    ka = np.zeros(n, dtype=np.int64)
    kb = np.zeros(n, dtype=np.int64)
    filled = np.zeros(n, dtype=np.int64)
    wa, wb = max(a.shape[1], 1), max(b.shape[1], 1)
    a_pad = a if a.shape[1] else np.full((n, 1), -1)
    b_pad = b if b.shape[1] else np.full((n, 1), -1)
    for _ in range(a.shape[1] + b.shape[1]):
        a_left, b_left = ka < len_a, kb < len_b
        active = (a_left | b_left) & (filled < k)
        if not active.any():
            break
        # strict alternation while both have items: the turn number is ka + kb
        use_a = np.where(a_left & b_left, ((ka + kb) % 2 == 0) == a_first, a_left)
        cand = np.where(
            use_a, a_pad[rows, np.minimum(ka, wa - 1)], b_pad[rows, np.minimum(kb, wb - 1)]
        )
        new = active & ~(items == cand[:, None]).any(axis=1)
        slot = np.minimum(filled, k - 1)
        items[rows[new], slot[new]] = cand[new]
        filled += new
        ka += active & use_a
        kb += active & ~use_a
    return items, ka, kb


def _balanced_batch(a, b, len_a, len_b, k, a_first):
    n = a.shape[0]
    rows = np.arange(n)
    items = np.full((n, k), -1, dtype=np.int64)
    team_a = np.zeros((n, k), dtype=bool)
    ka = np.zeros(n, dtype=np.int64)
    kb = np.zeros(n, dtype=np.int64)
    filled = np.zeros(n, dtype=np.int64)
    wa, wb = max(a.shape[1], 1), max(b.shape[1], 1)
    a_pad = a if a.shape[1] else np.full((n, 1), -1)
    b_pad = b if b.shape[1] else np.full((n, 1), -1)
    for _ in range(a.shape[1] + b.shape[1]):
        active = (ka < len_a) & (kb < len_b) & (filled < k)
        if not active.any():
            break
        turn_a = (ka < kb) | ((ka == kb) & a_first)
        cand = np.where(
            turn_a, a_pad[rows, np.minimum(ka, wa - 1)], b_pad[rows, np.minimum(kb, wb - 1)]
        )
        new = active & ~(items == cand[:, None]).any(axis=1)
        slot = np.minimum(filled, k - 1)
        items[rows[new], slot[new]] = cand[new]
        team_a[rows[new], slot[new]] = turn_a[new]
        filled += new
        ka += active & turn_a
        kb += active & ~turn_a
    return items, team_a


def _probabilistic_batch(a, b, k, flips, u, tau):
    n = a.shape[0]
    items = np.full((n, k), -1, dtype=np.int64)
    team_a = np.zeros((n, k), dtype=bool)
    prob_a = np.zeros((n, k), dtype=float)
    w_a = 1.0 / np.arange(1, a.shape[1] + 1, dtype=float) ** tau
    w_b = 1.0 / np.arange(1, b.shape[1] + 1, dtype=float) ** tau
    avail_a = a >= 0
    avail_b = b >= 0
    for t in range(k):
        wa = np.where(avail_a, w_a, 0.0)
        wb = np.where(avail_b, w_b, 0.0)
        # sequential sums, as the scalar version accumulates them
        tot_a = np.cumsum(wa, axis=1)[:, -1] if a.shape[1] else np.zeros(n)
        tot_b = np.cumsum(wb, axis=1)[:, -1] if b.shape[1] else np.zeros(n)
        has_a = avail_a.any(axis=1) if a.shape[1] else np.zeros(n, bool)
        has_b = avail_b.any(axis=1) if b.shape[1] else np.zeros(n, bool)
        active = has_a | has_b
        if not active.any():
            break
        use_a = np.where(has_a & has_b, flips[:, t], has_a)
        item_a = _sample_softmax(a, avail_a, wa, u[:, t])
        item_b = _sample_softmax(b, avail_b, wb, u[:, t])
        item = np.where(use_a, item_a, item_b)
        item = np.where(active, item, -1)
        match_a = avail_a & (a == item[:, None])
        match_b = avail_b & (b == item[:, None])
        pa = np.divide((wa * match_a).sum(axis=1), tot_a, out=np.zeros(n), where=tot_a > 0)
        pb = np.divide((wb * match_b).sum(axis=1), tot_b, out=np.zeros(n), where=tot_b > 0)
        denom = pa + pb
        prob_a[:, t] = np.divide(pa, denom, out=np.zeros(n), where=denom > 0)
        items[:, t] = item
        team_a[:, t] = use_a & active
        avail_a &= ~match_a
        avail_b &= ~match_b
    return items, team_a, prob_a


def _sample_softmax(ranking, avail, weights, u):
    """Row-wise: the first available entry whose cumulative weight exceeds u * total."""
    n, width = ranking.shape
    if width == 0:
        return np.full(n, -1, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    above = cum > (u * cum[:, -1])[:, None]
    last_avail = width - 1 - np.argmax(avail[:, ::-1], axis=1)
    idx = np.where(above.any(axis=1), np.argmax(above, axis=1), last_avail)
    return np.where(avail.any(axis=1), ranking[np.arange(n), idx], -1)


def credit_batch(batch: InterleavingBatch, clicks: np.ndarray) -> np.ndarray:
    """Per-impression credit for a batch: int8 array, +1 a wins, -1 b wins, 0 tie.

    ``clicks`` is a boolean array shaped like ``batch.items`` (clicks on empty
    positions are ignored). Same rules as :func:`credit_score`.
    """
    clicks = np.asarray(clicks, dtype=bool)
    if clicks.shape != batch.items.shape:
        raise ValueError(f"clicks: must have shape {batch.items.shape}, got {clicks.shape}")
    clicks = clicks & batch.valid
    n, k = clicks.shape
    if batch.method in ("team_draft", "naive_shuffle"):
        h_a = (clicks & batch.team_a).sum(axis=1)
        h_b = (clicks & batch.team_b).sum(axis=1)
        return np.sign(h_a - h_b).astype(np.int8)
    if batch.method == "balanced":
        any_click = clicks.any(axis=1)
        last = k - 1 - np.argmax(clicks[:, ::-1], axis=1)
        rows = np.arange(n)
        cut = np.minimum(batch.rank_a[rows, last], batch.rank_b[rows, last])
        h_a = (clicks & (batch.rank_a <= cut[:, None])).sum(axis=1)
        h_b = (clicks & (batch.rank_b <= cut[:, None])).sum(axis=1)
        return np.where(any_click, np.sign(h_a - h_b), 0).astype(np.int8)
    if batch.method == "probabilistic":
        score = _expected_sign_batch(batch.prob_a, clicks)
        return np.where(score > _TIE_TOLERANCE, 1, np.where(score < -_TIE_TOLERANCE, -1, 0)).astype(
            np.int8
        )
    raise ValueError(f"batch.method: unknown method {batch.method!r}")


def _expected_sign_batch(prob_a: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    n, k = clicks.shape
    dist = np.zeros((n, 2 * k + 1))
    dist[:, k] = 1.0
    for j in range(k):
        c = clicks[:, j]
        if not c.any():
            continue
        q = prob_a[:, j][:, None]
        up = np.zeros_like(dist)
        down = np.zeros_like(dist)
        up[:, 1:] = dist[:, :-1]
        down[:, :-1] = dist[:, 1:]
        dist = np.where(c[:, None], q * up + (1.0 - q) * down, dist)
    return dist[:, k + 1 :].sum(axis=1) - dist[:, :k].sum(axis=1)
