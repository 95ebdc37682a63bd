"""Evaluation (Delta_AB, sign test, bootstrap, A/B) and the sensitivity study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from workbench.interleaving import (
    Recommender,
    ab_test,
    bootstrap_delta,
    click_model,
    credit,
    delta_ab,
    impressions_for_power,
    make_catalogue,
    power_curve,
    run_interleaving,
    sensitivity_study,
    sign_test,
    sign_test_pvalue,
    simulate_impression,
    team_draft,
    two_proportion_ztest,
)


@pytest.fixture(scope="module")
def setting():
    cat = make_catalogue(n_users=300, n_items=300, rng=0)
    legacy = Recommender(cat, 1.0, rng=1, max_k=10, name="legacy")
    candidate = Recommender(cat, 0.8, rng=2, max_k=10, name="candidate")
    return cat, legacy, candidate, click_model("navigational")


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------


def test_growthbook_sign_test_value():
    # GrowthBook's worked example: 30 wins against 18, 12 ties -> p = 0.1114
    res = sign_test(30, 18, 12)
    assert round(res.p_value, 4) == 0.1114
    assert res.delta_ab == pytest.approx((30 + 6) / 60 - 0.5)
    assert res.preferred == "none" and not res.significant
    assert delta_ab(30, 18, 12) == pytest.approx(0.1)
    assert float(sign_test_pvalue(30, 18)) == pytest.approx(res.p_value)
    assert sign_test(40, 10).preferred == "a"
    assert sign_test(10, 40).preferred == "b"
    assert sign_test(0, 0, 5).p_value == 1.0


def test_vectorised_sign_test_equals_binomtest():
    wa, wb = np.meshgrid(np.arange(0, 31), np.arange(0, 31))
    p = sign_test_pvalue(wa, wb)
    for x, y, value in zip(wa.ravel(), wb.ravel(), p.ravel(), strict=True):
        expected = 1.0 if x + y == 0 else stats.binomtest(int(x), int(x + y), 0.5).pvalue
        assert value == pytest.approx(expected, rel=1e-9), (x, y)


def test_two_proportion_ztest_matches_statsmodels():
    for sa, na, sb, nb in [(120, 1000, 150, 1000), (30, 400, 22, 380), (5, 50, 9, 60)]:
        z, p = two_proportion_ztest(sa, na, sb, nb)
        z_sm, p_sm = proportions_ztest([sb, sa], [nb, na])
        assert z == pytest.approx(z_sm)
        assert p == pytest.approx(p_sm)
    assert two_proportion_ztest(0, 0, 1, 10) == (0.0, 1.0)


def test_delta_and_sign_test_validation():
    with pytest.raises(ValueError, match="wins_a, wins_b, ties"):
        delta_ab(0, 0, 0)
    with pytest.raises(ValueError, match="wins_b:"):
        delta_ab(1, -1, 0)
    with pytest.raises(ValueError, match="alpha:"):
        sign_test(1, 2, alpha=1.5)


def test_bootstrap_over_users_matches_the_analytic_standard_error():
    rng = np.random.default_rng(8)
    n_users = 2000
    out = rng.choice([1, -1, 0], p=[0.4, 0.3, 0.3], size=n_users)
    users = np.arange(n_users)
    iid = bootstrap_delta(users, out, rng=1, n_boot=2000)
    se = out.std() / np.sqrt(n_users) / 2  # Delta_AB = mean(outcome) / 2
    assert iid.delta_ab == pytest.approx(out.mean() / 2)
    assert iid.low < iid.delta_ab < iid.high
    assert iid.high - iid.low == pytest.approx(2 * 1.96 * se, rel=0.1)
    # every user repeats the same outcome 16 times: the information is still that of
    # 2000 users, so the interval does not shrink (an impression-level interval
    # would wrongly be 4 times narrower)
    clustered = bootstrap_delta(np.repeat(users, 16), np.repeat(out, 16), rng=1, n_boot=2000)
    assert clustered.n_users == n_users
    assert clustered.high - clustered.low == pytest.approx(iid.high - iid.low, rel=0.1)
    with pytest.raises(ValueError, match="outcomes:"):
        bootstrap_delta([1, 2], [1, 2], rng=0)


# ---------------------------------------------------------------------------
# experiments on the synthetic catalogue
# ---------------------------------------------------------------------------


def test_run_interleaving_and_ab_test(setting):
    cat, legacy, candidate, model = setting
    res = run_interleaving(cat, legacy, candidate, model, 3000, rng=4)
    assert res.n_impressions == 3000 and res.outcomes.shape == (3000,)
    assert res.wins_b > res.wins_a and res.p_value < 1e-6 and res.delta_ab < 0
    assert res.p_value == pytest.approx(stats.binomtest(res.wins_a, res.wins_a + res.wins_b).pvalue)
    same = run_interleaving(cat, legacy, candidate, model, 3000, rng=4)
    assert np.array_equal(same.outcomes, res.outcomes)
    ab = ab_test(cat, legacy, candidate, model, 3000, rng=4)
    assert ab.impressions_a + ab.impressions_b == 3000
    assert (ab.z, ab.p_value) == pytest.approx(
        two_proportion_ztest(ab.clicked_a, ab.impressions_a, ab.clicked_b, ab.impressions_b)
    )
    ci = bootstrap_delta(res.user_ids, res.outcomes, rng=0, n_boot=500)
    assert ci.high < 0  # the candidate's win is outside the interval's doubt
    with pytest.raises(ValueError, match="method:"):
        run_interleaving(cat, legacy, candidate, model, 10, rng=0, method="shuffle")
    other = Recommender(make_catalogue(10, 20, rng=1), 0.0, rng=0)
    with pytest.raises(ValueError, match="candidate:"):
        ab_test(cat, legacy, other, model, 10, rng=0)


def test_simulate_impression_is_one_team_draft_impression(setting):
    cat, legacy, candidate, model = setting
    imp = simulate_impression(
        cat, 17, legacy, candidate, "team_draft", model, 10, np.random.default_rng(9)
    )
    rng = np.random.default_rng(9)
    r = team_draft(legacy.recommend(17, 10), candidate.recommend(17, 10), 10, rng)
    grades = [int(g) for g in cat.grades[17, list(r.items)]]
    clicked = model.clicked_positions(grades, rng)
    assert (imp.items, imp.teams, imp.grades, imp.clicked_positions) == (
        r.items,
        r.teams,
        tuple(grades),
        clicked,
    )
    assert imp.winner == credit(r, clicked)
    assert imp.user_id == 17 and imp.method == "team_draft"


# ---------------------------------------------------------------------------
# sensitivity
# ---------------------------------------------------------------------------


def test_team_draft_finds_the_better_candidate_where_ab_mostly_does_not(setting):
    cat, legacy, candidate, model = setting
    assert candidate.ndcg(10) > legacy.ndcg(10)
    curve = power_curve(
        cat, legacy, candidate, model, impressions=[1600], methods=("team_draft", "ab"), n_seeds=40
    )
    power = dict(zip(curve["method"], curve["power"], strict=True))
    assert power["team_draft"] >= 0.8  # most seeds detect the better candidate
    assert power["ab"] <= 0.5  # most A/B tests of the same size do not
    assert (curve["false_winner_rate"] == 0).all()


def test_sensitivity_study_reports_the_ratio(setting):
    cat = setting[0]
    df, curve = sensitivity_study(
        cat,
        legacy_noise_sd=1.0,
        candidate_noise_sd=0.8,
        methods=("team_draft", "ab"),
        impressions=[200, 400, 800, 1600, 3200, 6400, 12800],
        n_seeds=40,
        seed=1,
        return_curve=True,
    )
    assert isinstance(df, pd.DataFrame)
    assert list(df["method"]) == ["team_draft", "ab"]
    assert df["reached"].all()
    td, ab = df.set_index("method").loc["team_draft"], df.set_index("method").loc["ab"]
    assert td["ratio_ab_over_method"] == pytest.approx(
        ab["impressions_needed"] / td["impressions_needed"]
    )
    assert td["ratio_ab_over_method"] > 4
    assert ab["ratio_ab_over_method"] == pytest.approx(1.0)
    # tables of several studies concatenate (no DataFrame hidden in attrs)
    assert len(pd.concat([df, df])) == 2 * len(df)
    assert set(curve["method"]) == {"team_draft", "ab"}
    # the study stops a method once it reaches the target power
    assert curve[curve["method"] == "team_draft"]["power"].iloc[-1] >= 0.8
    assert (curve[curve["method"] == "team_draft"]["power"].iloc[:-1] < 0.8).all()


def test_impressions_for_power_interpolates_on_a_log_scale():
    curve = pd.DataFrame({"impressions": [100, 200, 400], "power": [0.2, 0.6, 1.0]})
    n, reached = impressions_for_power(curve, 0.8)
    assert reached and n == pytest.approx(200 * np.sqrt(2))
    assert impressions_for_power(curve, 0.1) == (100.0, True)
    low = pd.DataFrame({"impressions": [100, 200], "power": [0.1, 0.3]})
    assert impressions_for_power(low, 0.8) == (200.0, False)


def test_study_validation(setting):
    cat, legacy, candidate, model = setting
    with pytest.raises(ValueError, match="methods:"):
        power_curve(cat, legacy, candidate, model, methods=("ab", "shuffle"))
    with pytest.raises(ValueError, match="impressions:"):
        power_curve(cat, legacy, candidate, model, impressions=[400, 200])
    with pytest.raises(ValueError, match="target_power:"):
        sensitivity_study(cat, target_power=1.0)
