"""Interleaving methods: hand-built cases, cross-checks, fairness and the naive-shuffle bias."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from workbench.interleaving import (
    METHODS,
    PositionBasedModel,
    balanced,
    credit,
    credit_batch,
    credit_score,
    interleave,
    interleave_batch,
    naive_shuffle,
    probabilistic,
    sign_test_pvalue,
    team_draft,
)

# ---------------------------------------------------------------------------
# team-draft: hand-built cases with fixed coin flips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flips", "items", "teams"),
    [
        # round 1: a first -> a takes 1, b takes 2; round 2: b first -> b takes 3, a's
        # best unseen is then 4
        (["a", "b"], (1, 2, 3, 4), ("a", "b", "b", "a")),
        # round 1: b first -> b takes 2, a takes 1; round 2: a first -> a takes 3, b takes 5
        (["b", "a"], (2, 1, 3, 5), ("b", "a", "a", "b")),
        (["a", "a"], (1, 2, 3, 5), ("a", "b", "a", "b")),
        (["b", "b"], (2, 1, 3, 4), ("b", "a", "b", "a")),
    ],
)
def test_team_draft_hand_built_lists(flips, items, teams):
    r = team_draft([1, 2, 3, 4], [2, 3, 5, 6], k=4, coin_flips=flips)
    assert r.items == items
    assert r.teams == teams
    assert r.method == "team_draft"


def test_team_draft_hand_built_credit():
    r = team_draft([1, 2, 3, 4], [2, 3, 5, 6], k=4, coin_flips=[True, False])
    assert r.teams == ("a", "b", "b", "a")
    assert credit(r, [0]) == "a"
    assert credit(r, [1]) == "b"
    assert credit(r, [0, 3]) == "a"  # two clicks for a, one impression won by a
    assert credit(r, [1, 2, 3]) == "b"  # two for b against one for a
    assert credit(r, [0, 1]) == "tie"
    assert credit(r, [0, 1, 2, 3]) == "tie"
    assert credit(r, []) == "tie"


def test_team_draft_matches_mpkato_cases():
    # mpkato/interleaving tests/test_team_draft.py: possible outputs per case
    cases = [
        (([1, 2], [2, 3]), 2, {(1, 2), (2, 1)}),
        (([1, 2], [2, 3]), 3, {(1, 2, 3), (2, 1, 3)}),
        (([1, 2], [2, 3]), 4, {(1, 2, 3), (2, 1, 3)}),
        (([1, 2], [3, 4]), 2, {(1, 3), (3, 1)}),
        (([1, 2], [3, 4]), 3, {(1, 3, 2), (1, 3, 4), (3, 1, 2), (3, 1, 4)}),
    ]
    for (a, b), k, expected in cases:
        got = {team_draft(a, b, k, coin_flips=f).items for f in itertools.product("ab", repeat=3)}
        assert got == expected, (a, b, k)
    r = team_draft([1, 2], [2, 3], 2, coin_flips="a")
    assert r.teams == ("a", "b")
    # mpkato's evaluate cases: ranking (1, 3, 4), team a = {1}, team b = {3, 4}
    r = team_draft([1, 2], [3, 4, 5], 3, coin_flips="ab")
    assert (r.items, r.teams) == ((1, 3, 4), ("a", "b", "b"))
    assert [credit(r, c) for c in ([0, 1, 2], [0, 1], [0, 2], [1, 2], [0], [1], [2], [])] == [
        "b",
        "tie",
        "tie",
        "b",
        "a",
        "b",
        "b",
        "tie",
    ]


def test_team_draft_does_not_mutate_and_handles_duplicates_and_short_lists():
    a = [1, 1, 2, 3]  # repeated item: counts at its first rank only
    b = (3, 2)  # shorter than k: the other ranker keeps filling
    a_copy, b_copy = list(a), tuple(b)
    r = team_draft(a, b, k=5, coin_flips=["a", "a", "a"])
    assert a == a_copy and b == b_copy
    assert r.items == (1, 3, 2)  # only three distinct items exist
    assert r.teams == ("a", "b", "a")
    arr = np.array([5, 6, 7])
    team_draft(arr, [7, 6], 3, rng=np.random.default_rng(0))
    assert arr.tolist() == [5, 6, 7]
    assert team_draft([], [], 3, rng=0).items == ()
    assert team_draft([], [4, 5], 3, rng=0).items == (4, 5)


def test_team_draft_rejects_bad_input():
    with pytest.raises(ValueError, match="k:"):
        team_draft([1], [2], 0, rng=0)
    with pytest.raises(ValueError, match="rng:"):
        team_draft([1], [2], 2)
    with pytest.raises(ValueError, match="ranking_a:"):
        team_draft("abc", [2], 2, rng=0)
    with pytest.raises(ValueError, match="coin_flips:"):
        team_draft([1, 2, 3], [4, 5, 6], 6, coin_flips=["a"])
    with pytest.raises(ValueError, match="coin_flips:"):
        team_draft([1, 2, 3], [4, 5, 6], 2, coin_flips=["x"])
    r = team_draft([1, 2], [3, 4], 2, coin_flips="a")
    with pytest.raises(ValueError, match="clicked_positions:"):
        credit(r, [2])
    with pytest.raises(ValueError, match="clicked_positions:"):
        credit(r, np.array([True, False]))
    with pytest.raises(ValueError, match="method:"):
        interleave("shuffle", [1], [2], 1, 0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 12), max_size=10),
    st.lists(st.integers(0, 12), max_size=10),
    st.integers(1, 12),
    st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_team_draft_invariants(a, b, k, flips):
    r = team_draft(a, b, k, coin_flips=flips)
    union = set(a) | set(b)
    assert len(r.items) == min(k, len(union))
    assert len(set(r.items)) == len(r.items)
    for team, ranking in (("a", a), ("b", b)):
        picked = [x for x, t in zip(r.items, r.teams, strict=True) if t == team]
        assert all(x in ranking for x in picked)
        # a team shows its picks in its own ranking's order
        assert picked == sorted(picked, key=ranking.index)
    na, nb = r.teams.count("a"), r.teams.count("b")
    if len(set(a)) >= len(r.items) and len(set(b)) >= len(r.items):
        assert abs(na - nb) <= 1


# ---------------------------------------------------------------------------
# balanced (Joachims 2003), cross-checked against mpkato/interleaving's tests
# ---------------------------------------------------------------------------


def test_balanced_matches_mpkato_cases():
    cases = [
        (([1, 2], [2, 3]), 2, {(1, 2), (2, 1)}),
        (([1, 2], [3, 4]), 2, {(1, 3), (3, 1)}),
        (([1, 2], [2, 3]), 3, {(1, 2), (2, 1, 3)}),
        (([1, 2], [3, 4]), 3, {(1, 3, 2), (3, 1, 4)}),
    ]
    for (a, b), k, expected in cases:
        got = {balanced(a, b, k, coin_flips=[f]).items for f in (True, False)}
        assert got == expected


def test_balanced_credit_matches_mpkato_cases():
    # ranking (1, 2) from a = [1, 2], b = [2, 3]
    r = balanced([1, 2], [2, 3], 2, coin_flips=[True])
    assert r.items == (1, 2)
    assert [credit(r, c) for c in ([0, 1], [0], [1], [])] == ["tie", "a", "b", "tie"]
    # ranking (2, 1, 3) from the same rankings, b first
    r = balanced([1, 2], [2, 3], 3, coin_flips=[False])
    assert r.items == (2, 1, 3)
    expected = {
        (0, 1, 2): "tie",
        (0, 1): "tie",
        (0, 2): "b",
        (1, 2): "tie",
        (0,): "b",
        (1,): "a",
        (2,): "b",
        (): "tie",
    }
    for clicks, outcome in expected.items():
        assert credit(r, clicks) == outcome, clicks


# ---------------------------------------------------------------------------
# probabilistic (Hofmann, Whiteson and de Rijke 2011)
# ---------------------------------------------------------------------------


def test_probabilistic_hand_computed_posterior_and_credit():
    # a = [1, 2], b = [2, 1]; tau = 3: softmax weights 1 and 1/8, total 9/8
    # position 0: a samples with u = 0.5 -> item 1 (1 > 0.5 * 9/8).
    # P_a(1) = 8/9, P_b(1) = 1/9, so P(a | item 1) = 8/9.
    # position 1: only item 2 remains in both, P_a = P_b = 1, so P(a | item 2) = 1/2.
    r = probabilistic([1, 2], [2, 1], 2, coin_flips="ab", draws=[0.5, 0.5])
    assert r.items == (1, 2)
    assert r.teams == ("a", "b")
    assert r.prob_a == pytest.approx((8 / 9, 0.5))
    # one click on position 0: E[sign] = 8/9 - 1/9
    assert credit_score(r, [0]) == pytest.approx(7 / 9)
    assert credit(r, [0]) == "a"
    # a click on position 1 alone: both origins equally likely -> a tie
    assert credit_score(r, [1]) == pytest.approx(0.0)
    assert credit(r, [1]) == "tie"
    # both clicked: a-b (8/9 * 1/2) -> 0; a-a (8/9 * 1/2) -> +1; b-a -> 0; b-b -> -1
    assert credit_score(r, [0, 1]) == pytest.approx(8 / 18 - 1 / 18)


def test_probabilistic_first_item_follows_softmax():
    # first item: P(d) = 0.5 P_a(d) + 0.5 P_b(d), with P(rank r) prop. to r**-3
    a, b = np.array([[0, 1, 2]]), np.array([[2, 1, 0]])
    n = 40_000
    res = interleave_batch(
        "probabilistic", np.repeat(a, n, 0), np.repeat(b, n, 0), 1, np.random.default_rng(3)
    )
    w = 1.0 / np.arange(1, 4) ** 3
    w /= w.sum()
    expected = 0.5 * w + 0.5 * w[::-1]
    observed = np.bincount(res.items[:, 0], minlength=3)
    assert stats.chisquare(observed, expected * n).pvalue > 0.001
    assert observed / n == pytest.approx(expected, abs=0.01)


def test_probabilistic_item_absent_from_one_ranker_belongs_to_the_other():
    r = probabilistic([1, 2], [3, 4], 4, coin_flips="abab", draws=[0.0] * 4)
    assert r.items == (1, 3, 2, 4)
    assert r.prob_a == (1.0, 0.0, 1.0, 0.0)
    assert credit(r, [0, 2]) == "a"


# ---------------------------------------------------------------------------
# naive shuffle (alternate-then-shuffle, a counter-example)
# ---------------------------------------------------------------------------


def test_naive_shuffle_follows_the_seed_alternation():
    # turns: a offers 1, b offers 2, a offers 2 (repeat, not shown again),
    # b offers 1 (repeat), a offers 3, b offers 4.
    a, b = [1, 2, 3, 5], [2, 1, 4, 6]
    r = naive_shuffle(a, b, 4, coin_flips="a", order=[0, 1, 2, 3])
    assert r.items == (1, 2, 3, 4)
    assert r.teams == ("ab", "ab", "a", "b")
    assert a == [1, 2, 3, 5] and b == [2, 1, 4, 6]
    assert credit(r, [0, 1]) == "tie"  # shared items credit both
    assert credit(r, [0, 2]) == "a"
    r = naive_shuffle(a, b, 4, coin_flips="a", order=[3, 2, 1, 0])
    assert r.items == (4, 3, 2, 1)
    # b first: b offers 2, a offers 1, b offers 1 (repeat), a 2 (repeat), b 4, a 3
    r = naive_shuffle(a, b, 4, coin_flips="b", order=[0, 1, 2, 3])
    assert (r.items, r.teams) == ((2, 1, 4, 3), ("ab", "ab", "b", "a"))
    # no injected order: a uniform shuffle
    firsts = [
        naive_shuffle([1, 3], [2, 4], 4, rng=np.random.default_rng(s)).items[0] for s in range(2000)
    ]
    counts = np.bincount(firsts, minlength=5)[1:]
    assert stats.chisquare(counts).pvalue > 0.001
    with pytest.raises(ValueError, match="order:"):
        naive_shuffle(a, b, 4, coin_flips="a", order=[0, 0, 1, 2])


def _exact_expected_score(result, grades, model):
    """E[credit score] under a position-based model, by enumerating click subsets."""
    p = model.click_probabilities([grades[x] for x in result.items])
    total = 0.0
    for mask in itertools.product((False, True), repeat=len(p)):
        prob = np.prod(np.where(mask, p, 1 - p))
        total += prob * credit_score(result, [i for i, m in enumerate(mask) if m])
    return total


def test_naive_shuffle_misses_a_worse_order_that_team_draft_catches():
    # The candidate shows the legacy's items with each adjacent pair swapped: the
    # same items, in a worse order (grades 4, 2, 1, 1 become 2, 4, 1, 1).
    grades = {1: 4, 2: 2, 3: 1, 4: 1}
    legacy, candidate = [1, 2, 3, 4], [2, 1, 4, 3]
    model = PositionBasedModel(eta=1.0)
    # exact expectations: every coin sequence (team-draft), every shuffle (naive)
    td = np.mean(
        [
            _exact_expected_score(team_draft(legacy, candidate, 4, coin_flips=f), grades, model)
            for f in itertools.product("ab", repeat=2)
        ]
    )
    naive = np.mean(
        [
            _exact_expected_score(
                naive_shuffle(legacy, candidate, 4, coin_flips=f, order=o), grades, model
            )
            for o in itertools.permutations(range(4))
            for f in "ab"
        ]
    )
    assert naive == pytest.approx(0.0, abs=1e-12)  # no difference at all
    assert td > 0.1  # team-draft prefers the legacy ranking
    # and by simulation, with the sign test
    n = 20_000
    rng = np.random.default_rng(11)
    a = np.repeat([legacy], n, 0)
    b = np.repeat([candidate], n, 0)
    grade_of = np.array([-1, 4, 2, 1, 1])
    for method, check in (("naive_shuffle", "none"), ("team_draft", "a")):
        res = interleave_batch(method, a, b, 4, rng)
        clicks = model.clicks_batch(grade_of[res.items], rng)
        out = credit_batch(res, clicks)
        wins_a, wins_b = int((out == 1).sum()), int((out == -1).sum())
        delta = (wins_a + (n - wins_a - wins_b) / 2) / n - 0.5
        p = float(sign_test_pvalue(wins_a, wins_b))
        if check == "none":
            assert abs(delta) < 0.01 and p > 0.01
        else:
            assert delta > 0.05 and p < 1e-12


# ---------------------------------------------------------------------------
# batch form agrees exactly with the scalar form
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_batch_matches_scalar(method):
    rng = np.random.default_rng(7)
    m, width, k = 300, 7, 6
    a = rng.integers(0, 10, (m, width))  # repeats within rows on purpose
    b = rng.integers(0, 10, (m, width))
    cols = np.arange(width)[None, :]
    a[cols >= rng.integers(0, width + 1, m)[:, None]] = -1  # short rankings
    b[cols >= rng.integers(0, width + 1, m)[:, None]] = -1
    flips = rng.random((m, k)) < 0.5
    draws = rng.random((m, k))
    clicks = rng.random((m, k)) < 0.4
    res = interleave_batch(method, a, b, k, coin_flips=flips, draws=draws)
    out = credit_batch(res, clicks)
    code = {"a": 1, "b": -1, "tie": 0}
    for i in range(m):
        ra, rb = [x for x in a[i] if x >= 0], [x for x in b[i] if x >= 0]
        if method == "probabilistic":
            r = probabilistic(ra, rb, k, coin_flips=flips[i], draws=draws[i])
        elif method == "naive_shuffle":
            n = len(naive_shuffle(ra, rb, k, coin_flips=flips[i], rng=0))
            r = naive_shuffle(
                ra, rb, k, coin_flips=flips[i], order=np.argsort(draws[i, :n], kind="stable")
            )
        else:
            r = {"team_draft": team_draft, "balanced": balanced}[method](
                ra, rb, k, coin_flips=flips[i]
            )
        row = res.row(i)
        assert (row.items, row.teams, row.rank_a, row.rank_b) == (
            r.items,
            r.teams,
            r.rank_a,
            r.rank_b,
        )
        if method == "probabilistic":
            assert row.prob_a == pytest.approx(r.prob_a)
        clicked = [j for j in range(len(r.items)) if clicks[i, j]]
        assert out[i] == code[credit(r, clicked)]


def test_batch_rejects_bad_input():
    a = np.array([[1, 2]])
    with pytest.raises(ValueError, match="rankings_b:"):
        interleave_batch("team_draft", a, np.array([[1, 2], [3, 4]]), 2, 0)
    with pytest.raises(ValueError, match="rankings_a:"):
        interleave_batch("team_draft", np.array([1, 2]), a, 2, 0)
    with pytest.raises(ValueError, match="rankings_a:"):
        interleave_batch("team_draft", np.array([[0.5, 1.0]]), a, 2, 0)
    with pytest.raises(ValueError, match="method:"):
        interleave_batch("interleave", a, a, 2, 0)
    res = interleave_batch("team_draft", a, a, 2, 0)
    with pytest.raises(ValueError, match="clicks:"):
        credit_batch(res, np.zeros((1, 3), bool))


# ---------------------------------------------------------------------------
# fairness: identical rankers, random clicks
# ---------------------------------------------------------------------------


def _random_rankings(rng, n, k, n_items=30):
    return np.argsort(rng.random((n, n_items)), axis=1)[:, :k]


@pytest.mark.parametrize("method", METHODS)
def test_fairness_identical_rankers_random_clicks(method):
    """Delta_AB about 0 and a sign-test false-positive rate at most alpha over seeds."""
    rng = np.random.default_rng(2024)
    n_seeds, n_imp, k, alpha = 300, 150, 10, 0.05
    ranks = _random_rankings(rng, n_seeds * n_imp, k)
    res = interleave_batch(method, ranks, ranks.copy(), k, rng)
    clicks = rng.random(res.items.shape) < 0.2  # clicks ignore the items entirely
    out = credit_batch(res, clicks).reshape(n_seeds, n_imp)
    wins_a, wins_b = (out == 1).sum(axis=1), (out == -1).sum(axis=1)
    delta = (wins_a.sum() + (out == 0).sum() / 2) / out.size - 0.5
    assert abs(delta) < 0.01
    fpr = float((sign_test_pvalue(wins_a, wins_b) < alpha).mean())
    # the sign test is conservative (discrete); allow two Monte Carlo standard errors
    assert fpr <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / n_seeds)
    if method == "team_draft":
        assert fpr > 0.01  # identical rankers still produce decisive impressions
        # each team fills each position equally often on average
        share_a = res.team_a.mean(axis=0)
        assert share_a == pytest.approx(np.full(k, 0.5), abs=0.01)


def test_team_draft_fair_for_different_but_equally_good_rankers():
    rng = np.random.default_rng(5)
    n_seeds, n_imp, k, alpha = 300, 150, 10, 0.05
    a = _random_rankings(rng, n_seeds * n_imp, k)
    b = _random_rankings(rng, n_seeds * n_imp, k)
    res = interleave_batch("team_draft", a, b, k, rng)
    assert res.team_a.mean(axis=0) == pytest.approx(np.full(k, 0.5), abs=0.01)
    clicks = rng.random(res.items.shape) < 0.2
    out = credit_batch(res, clicks).reshape(n_seeds, n_imp)
    fpr = float((sign_test_pvalue((out == 1).sum(1), (out == -1).sum(1)) < alpha).mean())
    assert fpr <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / n_seeds)
    assert abs(out.mean()) < 0.02
