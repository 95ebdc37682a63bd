"""Interleaving for recommenders: catalogue, click models, methods, evaluation, sensitivity.

Interleaving shows one user a single list merged from two recommenders and credits
each impression to the recommender whose items drew more clicks. Done properly
(team-draft: Radlinski, Kurup and Joachims 2008) it needs a small fraction of the
traffic an A/B test needs; done naively (alternate, then shuffle: :func:`naive_shuffle`,
kept as a counter-example) it measures how attractive each item set is, not how well
it is ranked.

Examples
--------
>>> from workbench.interleaving import team_draft, credit
>>> r = team_draft(["x", "y", "z"], ["y", "w", "x"], k=3, coin_flips=[True, False])
>>> r.items, r.teams, credit(r, clicked_positions=[1])
(('x', 'y', 'w'), ('a', 'b', 'b'), 'b')
"""

from .catalogue import Catalogue, Recommender, make_catalogue, ndcg_at_k
from .clicks import CLICK_PRESETS, CascadeModel, ClickModel, PositionBasedModel, click_model
from .evaluation import (
    ABResult,
    BootstrapInterval,
    Impression,
    InterleavingResult,
    SignTestResult,
    ab_test,
    bootstrap_delta,
    delta_ab,
    run_interleaving,
    sign_test,
    sign_test_pvalue,
    simulate_impression,
    two_proportion_ztest,
)
from .methods import (
    METHODS,
    Interleaving,
    InterleavingBatch,
    balanced,
    credit,
    credit_batch,
    credit_score,
    interleave,
    interleave_batch,
    naive_shuffle,
    probabilistic,
    team_draft,
)
from .sensitivity import STUDY_METHODS, impressions_for_power, power_curve, sensitivity_study

__all__ = [
    "ABResult",
    "BootstrapInterval",
    "CLICK_PRESETS",
    "CascadeModel",
    "Catalogue",
    "ClickModel",
    "Impression",
    "Interleaving",
    "InterleavingBatch",
    "InterleavingResult",
    "METHODS",
    "PositionBasedModel",
    "Recommender",
    "STUDY_METHODS",
    "SignTestResult",
    "ab_test",
    "balanced",
    "bootstrap_delta",
    "click_model",
    "credit",
    "credit_batch",
    "credit_score",
    "delta_ab",
    "impressions_for_power",
    "interleave",
    "interleave_batch",
    "make_catalogue",
    "naive_shuffle",
    "ndcg_at_k",
    "power_curve",
    "probabilistic",
    "run_interleaving",
    "sensitivity_study",
    "sign_test",
    "sign_test_pvalue",
    "simulate_impression",
    "team_draft",
    "two_proportion_ztest",
]
