"""Peeking study: Armitage et al.'s inflation, and sequential tests that stay at alpha."""

import math

import numpy as np
import pandas as pd
import pytest

from workbench.stats import peeking_study

SIMS = 6000


@pytest.fixture(scope="module")
def aa():
    return peeking_study(looks=10, n_per_look=20, sims=SIMS, seed=2024).set_index("method")


def test_columns_and_methods(aa):
    assert list(aa.index) == ["naive_t_test", "msprt", "confidence_sequence", "group_sequential",
                              "fixed_horizon"]
    for col in ("rejection_rate", "mc_low", "mc_high", "mc_se", "expected_n_per_arm",
                "mean_reject_look"):
        assert col in aa.columns
    assert (aa["mc_low"] <= aa["rejection_rate"]).all() and (aa["rejection_rate"] <= aa["mc_high"]).all()


def test_naive_t_test_inflates_to_armitage_level(aa):
    # Armitage, McPherson and Rowe (1969): 19.3 % at 10 looks
    assert 0.17 <= aa.loc["naive_t_test", "rejection_rate"] <= 0.22


def test_sequential_methods_stay_at_or_below_alpha(aa):
    mc = 2 * math.sqrt(0.05 * 0.95 / SIMS)
    for m in ("msprt", "confidence_sequence", "group_sequential", "fixed_horizon"):
        assert aa.loc[m, "rejection_rate"] <= 0.05 + mc, m
    # group-sequential spending uses (about) all of alpha; the always-valid tests are conservative
    assert aa.loc["group_sequential", "rejection_rate"] == pytest.approx(0.05, abs=mc)


def test_real_effect_is_detected_and_stopping_time_reported():
    df = peeking_study(looks=10, n_per_look=20, sims=3000, seed=7, effect_size=0.5).set_index("method")
    for m in ("msprt", "confidence_sequence", "group_sequential"):
        assert df.loc[m, "rejection_rate"] > 0.8, m
        # they stop early on average: fewer than the 200 observations per arm of the full run
        assert df.loc[m, "expected_n_per_arm"] < 200
        assert 1 <= df.loc[m, "mean_reject_look"] < 10
    # the price of always-valid inference: less power at a small effect than a fixed test
    small = peeking_study(looks=10, n_per_look=20, sims=3000, seed=8, effect_size=0.25)
    small = small.set_index("method")
    assert small.loc["msprt", "rejection_rate"] < small.loc["fixed_horizon", "rejection_rate"]
    assert small.loc["group_sequential", "rejection_rate"] == pytest.approx(
        small.loc["fixed_horizon", "rejection_rate"], abs=0.05)


def test_seeded_and_reproducible():
    a = peeking_study(looks=3, n_per_look=10, sims=500, seed=1)
    b = peeking_study(looks=3, n_per_look=10, sims=500, seed=1, batch_size=70)
    pd.testing.assert_frame_equal(a, peeking_study(looks=3, n_per_look=10, sims=500, seed=1))
    assert set(a.columns) == set(b.columns)
    c = peeking_study(looks=3, n_per_look=10, sims=500, seed=np.random.SeedSequence(1))
    assert c["rejection_rate"].between(0, 1).all()


def test_one_look_is_a_plain_t_test():
    df = peeking_study(looks=1, n_per_look=30, sims=4000, seed=3).set_index("method")
    assert df.loc["naive_t_test", "rejection_rate"] == df.loc["fixed_horizon", "rejection_rate"]
    assert df.loc["naive_t_test", "rejection_rate"] == pytest.approx(0.05, abs=0.012)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_per_look"):
        peeking_study(looks=5, n_per_look=1, sims=10, seed=0)
    with pytest.raises(ValueError, match="looks"):
        peeking_study(looks=0, n_per_look=10, sims=10, seed=0)
