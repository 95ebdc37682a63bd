"""Interleaving for recommenders, as a strategy in the engine.

Each request is a recommendation request. The serving stack (legacy's replicas; both
rankers run inside it) answers it; for every ``ok`` answer the two rankers' top-k lists
are interleaved, the user clicks according to the click model, and the impression is
credited to legacy (``a``), the candidate (``b``) or neither (tie). The impressions
are exported as ``result.tables["interleaving"]`` (joinable on ``request_id``) and
summarised with Delta_AB, the sign test and a bootstrap interval over users.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..interleaving import (
    Recommender,
    bootstrap_delta,
    click_model,
    delta_ab,
    make_catalogue,
    sign_test,
)
from ..interleaving.evaluation import simulate_impression
from ..scenario import InterleavingStrategy
from .base import OK, Request, Strategy

__all__ = ["Interleaving"]


class Interleaving(Strategy):
    """Serve every request on legacy; credit each ``ok`` impression to a ranker by interleaving."""

    kind = "interleaving"
    wants_outcomes = True
    batch_routing = True  # every request goes to legacy, whatever the outcomes

    def __init__(self, config: InterleavingStrategy, users: int):
        super().__init__()
        self.config = config
        self.users = users
        self.rows: list[tuple] = []
        self._pending: dict[int, int] = {}

    def start(self, ctx) -> None:
        """Build the catalogue, the two rankers and the click model from ``catalogue_seed``."""
        super().start(ctx)
        cfg = self.config
        seeds = np.random.SeedSequence(cfg.catalogue_seed).spawn(3)
        self.catalogue = make_catalogue(n_users=self.users, n_items=cfg.n_items, rng=np.random.default_rng(seeds[0]))
        self.legacy = Recommender(self.catalogue, cfg.legacy_noise_sd, rng=np.random.default_rng(seeds[1]), name="legacy")
        self.candidate = Recommender(
            self.catalogue, cfg.candidate_noise_sd, rng=np.random.default_rng(seeds[2]), name="candidate"
        )
        self.clicks = click_model(cfg.click_model)

    def route(self, request: Request) -> str:
        """Legacy's stack serves every request; remember the user for the impression."""
        self._pending[request.request_id] = request.user_id
        return "legacy"

    def route_batch(self, request_ids, times_s, user_ids, features) -> np.ndarray:
        """:meth:`route` for a batch: legacy for each, the users remembered for their impressions."""
        self._pending.update(zip(np.asarray(request_ids).tolist(), np.asarray(user_ids).tolist(), strict=True))
        return np.full(len(request_ids), "legacy")

    def on_outcome(self, request_id: int, model: str, time_s: float, status: int, latency_ms: float) -> None:
        """For an ``ok`` answer, interleave the two lists, simulate clicks and record the winner."""
        user = self._pending.pop(request_id, None)
        if user is None or status != OK:
            return
        imp = simulate_impression(
            self.catalogue, user, self.legacy, self.candidate, self.config.method, self.clicks,
            self.config.k, self.ctx.rng,
        )
        self.rows.append((request_id, time_s, user, self.config.method, list(imp.items), list(imp.teams),
                          list(imp.clicked_positions), imp.winner))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The impressions as ``tables['interleaving']``, in request order."""
        frame = pd.DataFrame(self.rows, columns=["request_id", "time_s", "user_id", "method", "items",
                                                 "teams", "clicked_positions", "winner"])
        return {"interleaving": frame.sort_values("request_id", kind="stable").reset_index(drop=True)}

    def summary(self) -> dict[str, Any]:
        """Wins, ties, Delta_AB with a bootstrap interval, sign tests over impressions and users."""
        out = super().summary()
        winners = [r[-1] for r in self.rows]
        wins_a, wins_b = winners.count("a"), winners.count("b")
        ties = len(winners) - wins_a - wins_b
        test = sign_test(wins_a, wins_b, ties)
        outcome = np.array([1 if w == "a" else (-1 if w == "b" else 0) for w in winners], dtype=np.int8)
        users = np.array([r[2] for r in self.rows], dtype=np.int64)
        interval = (
            bootstrap_delta(users, outcome, np.random.default_rng(self.config.catalogue_seed), n_boot=500)
            if len(winners) > 1 else None
        )
        # impressions of a returning user are correlated (same user, same two lists), so
        # the per-impression sign test overstates the evidence; a sign test over users
        # (each user's net preference) is the conservative one
        if len(users):
            uniq, inv = np.unique(users, return_inverse=True)
            net = np.bincount(inv, weights=outcome, minlength=uniq.size)
            users_a, users_b = int((net > 0).sum()), int((net < 0).sum())
        else:
            users_a = users_b = 0
        user_test = sign_test(users_a, users_b, 0)
        out.update(
            method=self.config.method,
            click_model=self.config.click_model,
            impressions=len(winners),
            wins_legacy=wins_a,
            wins_candidate=wins_b,
            ties=ties,
            delta_ab=delta_ab(wins_a, wins_b, ties) if winners else float("nan"),
            sign_test_p_value=float(test.p_value),
            users_prefer_legacy=users_a,
            users_prefer_candidate=users_b,
            user_sign_test_p_value=float(user_test.p_value),
            delta_ci=[float(interval.low), float(interval.high)] if interval is not None else None,
            ndcg_legacy=float(self.legacy.ndcg(self.config.k)),
            ndcg_candidate=float(self.candidate.ndcg(self.config.k)),
        )
        return out
