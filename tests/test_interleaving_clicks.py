"""Click models: exact probabilities, Monte Carlo frequencies, scalar/batch agreement."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.interleaving import (
    CLICK_PRESETS,
    CascadeModel,
    PositionBasedModel,
    click_model,
)

GRADES = np.array([4, 3, 2, 1, 0, 2, -1])  # -1: an empty slot


def test_position_based_probabilities_are_exact():
    pbm = PositionBasedModel(eta=2.0, attractiveness=(0.1, 0.2, 0.4, 0.6, 0.9))
    expected = (1.0 / np.arange(1, 8) ** 2) * np.array([0.9, 0.6, 0.4, 0.2, 0.1, 0.4, 0.0])
    assert pbm.click_probabilities(GRADES) == pytest.approx(expected)
    # eta = 0: no position bias
    flat = PositionBasedModel(eta=0.0, attractiveness=(0.5,))
    assert flat.click_probabilities([0, 0, 0]).tolist() == [0.5, 0.5, 0.5]


def test_position_based_frequencies_match_probabilities():
    pbm = PositionBasedModel()
    n = 100_000
    clicks = pbm.clicks_batch(np.tile(GRADES, (n, 1)), np.random.default_rng(1))
    p = pbm.click_probabilities(GRADES)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(clicks.mean(axis=0) - p) <= 4 * se + 1e-12)
    assert not clicks[:, -1].any()  # empty slot never clicked


def _cascade_click_probabilities(model, grades):
    """P(click at j) = P(reach j) * c_j with P(reach j) = prod_{i<j} (1 - c_i s_i)."""
    reach, out = 1.0, []
    for g in grades:
        c = model.click_prob[g] if g >= 0 else 0.0
        s = model.stop_prob[g] if g >= 0 else 0.0
        out.append(reach * c)
        reach *= 1 - c * s
    return np.array(out)


@pytest.mark.parametrize("preset", sorted(CLICK_PRESETS))
def test_cascade_frequencies_match_the_recursion(preset):
    model = click_model(preset)
    n = 100_000
    clicks = model.clicks_batch(np.tile(GRADES, (n, 1)), np.random.default_rng(2))
    p = _cascade_click_probabilities(model, GRADES)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(clicks.mean(axis=0) - p) <= 4 * se + 1e-12)


def test_plain_cascade_clicks_the_first_attractive_item_and_stops():
    model = click_model("cascade")
    assert model.stop_prob == (1.0,) * 5
    n = 50_000
    clicks = model.clicks_batch(np.tile(GRADES, (n, 1)), np.random.default_rng(3))
    assert clicks.sum(axis=1).max() == 1
    c = np.array([model.click_prob[g] for g in GRADES[:-1]])
    first = np.cumprod(np.r_[1.0, 1 - c[:-1]]) * c  # prod_{i<j}(1 - c_i) c_j
    assert clicks.mean(axis=0)[:-1] == pytest.approx(first, abs=0.01)
    # deterministic case: click probability 1 on relevant items only
    sure = CascadeModel(click_prob=(0.0, 1.0), stop_prob=(1.0, 1.0))
    rng = np.random.default_rng(0)
    assert sure.clicks([0, 0, 1, 1], rng).tolist() == [False, False, True, False]


@pytest.mark.parametrize("model", [PositionBasedModel(eta=1.5), click_model("navigational")])
def test_scalar_and_batch_give_the_same_clicks(model):
    grades = np.random.default_rng(4).integers(-1, 5, (50, 8))
    grades.sort(axis=1)
    grades = grades[:, ::-1]  # empty slots (-1) at the end, as in interleaved lists
    for seed, row in enumerate(grades):
        one = model.clicks(row, np.random.default_rng(seed))
        many = model.clicks_batch(row[None, :], np.random.default_rng(seed))[0]
        assert one.tolist() == many.tolist()
        assert model.clicked_positions(row, np.random.default_rng(seed)) == tuple(
            np.flatnonzero(one).tolist()
        )


def test_presets_and_validation():
    assert CLICK_PRESETS["navigational"] == (
        (0.05, 0.3, 0.5, 0.7, 0.95),
        (0.2, 0.3, 0.5, 0.7, 0.9),
    )
    assert isinstance(click_model("pbm"), PositionBasedModel)
    with pytest.raises(ValueError, match="name:"):
        click_model("nope")
    with pytest.raises(ValueError, match="eta:"):
        PositionBasedModel(eta=-1.0)
    with pytest.raises(ValueError, match="attractiveness:"):
        PositionBasedModel(attractiveness=(0.5, 1.5))
    with pytest.raises(ValueError, match="stop_prob:"):
        CascadeModel(click_prob=(0.1, 0.2), stop_prob=(0.5,))
    with pytest.raises(ValueError, match="grades:"):
        click_model("navigational").clicks([0, 5], np.random.default_rng(0))
    with pytest.raises(ValueError, match="grades:"):
        PositionBasedModel().clicks_batch(np.array([0, 1]), np.random.default_rng(0))
