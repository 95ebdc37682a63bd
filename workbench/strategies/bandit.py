"""Bandit routing: Thompson sampling (Beta-Bernoulli) or epsilon-greedy, with late rewards.

The reward of a request is 1 when it was ``ok`` within the latency SLO (known when
it finishes) or, with ``reward = "conversion"``, when the user converted (known when
the label arrives; a failed request is a zero reward as soon as it fails). A guardrail keeps at least ``min_legacy_share`` of traffic on
legacy. Seldon Core's routers use the same priors (Beta(1, 1)) and epsilon 0.1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scenario import BanditStrategy
from .base import OK, Request, Strategy

__all__ = ["Bandit"]

ARMS = ("legacy", "candidate")


class Bandit(Strategy):
    """Route each request to the arm a bandit picks, learning from late rewards.

    Thompson sampling (Beta-Bernoulli) or epsilon-greedy; a guardrail keeps
    ``min_legacy_share`` of the traffic on legacy.
    """

    kind = "bandit"

    def __init__(self, config: BanditStrategy):
        super().__init__()
        self.config = config
        # outcomes always (a failed request is a zero-reward pull at once); labels for conversions
        self.wants_outcomes = True
        self.wants_labels = config.reward == "conversion"
        self.successes = [0, 0]
        self.trials = [0, 0]
        self.routed = [0, 0]
        self._block = None
        self._pos = 0

    def _draws(self) -> np.ndarray:
        if self._block is None or self._pos >= self._block.shape[0]:
            self._block = self.ctx.rng.random((1024, 2))
            self._pos = 0
        row = self._block[self._pos]
        self._pos += 1
        return row

    def route(self, request: Request) -> str:
        """The guardrail share goes to legacy; other requests to the arm the algorithm picks."""
        cfg = self.config
        u_guard, u_explore = self._draws()
        if u_guard < cfg.min_legacy_share:
            arm = 0
        elif cfg.algorithm == "thompson":
            a = cfg.prior_alpha
            b = cfg.prior_beta
            s, t = self.successes, self.trials
            theta = self.ctx.rng.beta([a + s[0], a + s[1]], [b + t[0] - s[0], b + t[1] - s[1]])
            arm = int(theta[1] > theta[0])
        else:
            if u_explore < cfg.epsilon:
                arm = int(self._draws()[0] < 0.5)
            else:
                means = [
                    (self.successes[k] / self.trials[k]) if self.trials[k] else float("inf")
                    for k in (0, 1)
                ]
                arm = int(means[1] > means[0])
        self.routed[arm] += 1
        return ARMS[arm]

    def on_outcome(self, request_id: int, model: str, time_s: float, status: int, latency_ms: float) -> None:
        """Count a finished request as a pull, rewarded when ``ok`` within the latency SLO.

        With conversion rewards only a failure counts here (a zero reward); ``ok``
        requests wait for their label.
        """
        k = 0 if model == "legacy" else 1
        if self.wants_labels:
            if status != OK:
                self.trials[k] += 1  # no answer, no conversion; ok requests wait for their label
            return
        self.trials[k] += 1
        if status == OK and latency_ms <= self.ctx.slo_latency_ms:
            self.successes[k] += 1

    def on_label(self, request_id: int, model: str, time_s: float, prediction: float, label: float) -> None:
        """Count a labelled request as a pull, rewarded when the user converted."""
        k = 0 if model == "legacy" else 1
        self.trials[k] += 1
        self.successes[k] += int(self.ctx.converted(request_id, model))

    def candidate_weight(self) -> float:
        """Share of requests routed to the candidate so far, in percent."""
        total = sum(self.routed)
        return 100.0 * self.routed[1] / total if total else 0.0

    def summary(self) -> dict[str, Any]:
        """Pulls and reward rates per arm, the better arm and the regret."""
        out = super().summary()
        means = [self.successes[k] / self.trials[k] if self.trials[k] else float("nan") for k in (0, 1)]
        best = int(np.nanargmax(means)) if not all(np.isnan(means)) else 0
        # regret against always choosing the better arm, with the arms' observed reward rates
        regret = sum(
            self.routed[k] * (means[best] - means[k]) for k in (0, 1) if not np.isnan(means[k])
        )
        out.update(
            algorithm=self.config.algorithm,
            reward=self.config.reward,
            routed_legacy=self.routed[0],
            routed_candidate=self.routed[1],
            reward_rate_legacy=means[0],
            reward_rate_candidate=means[1],
            better_arm=ARMS[best],
            regret=float(regret),
        )
        return out
