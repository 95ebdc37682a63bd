"""Synthetic catalogue and recommenders: grade shares, ideal rankings, quality ordering."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.interleaving import Catalogue, Recommender, make_catalogue, ndcg_at_k


@pytest.fixture(scope="module")
def catalogue():
    return make_catalogue(n_users=200, n_items=500, rng=0)


def test_grades_follow_the_per_user_quantiles(catalogue):
    # default cuts (0.9, 0.97, 0.99, 0.998) over 500 items: numpy's linear quantile
    # leaves 50, 15, 5 and 1 items above them, so every user has exactly
    # 450, 35, 10, 4 and 1 items of grades 0..4
    counts = np.stack([(catalogue.grades == g).sum(axis=1) for g in range(5)], axis=1)
    assert (counts == [450, 35, 10, 4, 1]).all()
    assert catalogue.affinity.mean(axis=1) == pytest.approx(np.zeros(200), abs=1e-9)
    assert catalogue.affinity.std(axis=1) == pytest.approx(np.ones(200))


def test_catalogue_is_seeded_and_read_only():
    one, two = make_catalogue(50, 60, rng=3), make_catalogue(50, 60, rng=3)
    assert np.array_equal(one.grades, two.grades)
    assert not np.array_equal(one.grades, make_catalogue(50, 60, rng=4).grades)
    with pytest.raises(ValueError):
        one.grades[0, 0] = 1


def test_noise_free_recommender_is_ideal_and_noise_degrades_quality(catalogue):
    ideal = Recommender(catalogue, 0.0, rng=1, max_k=20)
    assert ideal.ndcg(10) == pytest.approx(1.0)
    top = ideal.top_k(np.arange(catalogue.n_users), 20)
    expected = np.argsort(-catalogue.affinity, axis=1)[:, :20]
    assert np.array_equal(top, expected)
    quality = [Recommender(catalogue, s, rng=2).ndcg(10) for s in (0.0, 0.5, 1.0, 2.0)]
    assert quality == sorted(quality, reverse=True)
    assert quality[-1] < 0.5


def test_recommend_is_cached_deterministic_and_validated(catalogue):
    rec = Recommender(catalogue, 1.0, rng=5, max_k=10, name="legacy")
    same = Recommender(catalogue, 1.0, rng=5, max_k=10)
    assert rec.recommend(3, 5) == same.recommend(3, 5)
    assert rec.recommend(3, 5) is rec.recommend(3, 5)
    assert rec.recommend(3, 5) == tuple(rec.top_k([3], 5)[0].tolist())
    assert len(set(rec.recommend(7, 10))) == 10
    with pytest.raises(ValueError, match="k:"):
        rec.recommend(0, 11)
    with pytest.raises(ValueError, match="user_id:"):
        rec.recommend(catalogue.n_users, 3)
    with pytest.raises(ValueError, match="noise_sd:"):
        Recommender(catalogue, -1.0, rng=0)
    with pytest.raises(ValueError, match="grade_quantiles:"):
        make_catalogue(10, 10, grade_quantiles=(0.5, 0.4))


def test_ndcg_hand_computed():
    grades = np.array([[1, 0, 2]], dtype=np.int8)
    cat = Catalogue(np.zeros((1, 1)), np.zeros((3, 1)), np.zeros((1, 3)), grades)
    # ranking [0, 1]: DCG = 1/log2(2) + 0 = 1; ideal [2, 0]: 3 + 1/log2(3)
    value = ndcg_at_k(cat, [0], np.array([[0, 1]]))[0]
    assert value == pytest.approx(1.0 / (3.0 + 1.0 / np.log2(3)))
    # grades of empty slots are -1
    assert cat.grades_of(0, [2, -1]).tolist() == [2, -1]
