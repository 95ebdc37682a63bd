"""The two simplest strategies: ``single`` (one model) and ``ab`` (random split)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scenario import ABStrategy, SingleStrategy
from .base import Request, Strategy, UniformStream, arm_indices, arm_names
from .canary import Cohort

__all__ = ["Single", "ABTest"]


class Single(Strategy):
    """Every request to one model (legacy by default)."""

    kind = "single"

    def __init__(self, config: SingleStrategy | None = None):
        super().__init__()
        self.model = (config or SingleStrategy()).model

    def route(self, request: Request) -> str:
        """The configured model serves every request."""
        return self.model

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """The configured model for every request of the batch."""
        return np.full(len(request_ids), self.model)

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """The configured model's index for every request of the batch."""
        return np.full(len(request_ids), model_index[self.model], dtype=np.int8)


class ABTest(Strategy):
    """A/B split with a fixed candidate share.

    Each request (or each user, when ``sticky``) goes to the candidate with
    probability ``candidate_fraction``.

    Per-request draws come from the strategy's own seeded stream; sticky assignment
    uses a stable hash of (salt, user id) at basis-point granularity, never builtin
    ``hash()``, so a user keeps their arm across runs and processes.
    """

    kind = "ab"

    def __init__(self, config: ABStrategy):
        super().__init__()
        self.config = config
        self.fraction = config.candidate_fraction
        self._threshold_bp = round(config.candidate_fraction * 10_000)
        self._cohort = Cohort(config.salt)  # each user's bucket, hashed once per run
        self.assigned = {"legacy": 0, "candidate": 0}

    def start(self, ctx) -> None:
        """Open the uniform stream for per-request draws."""
        super().start(ctx)
        self._uniform = UniformStream(ctx.rng)

    def in_candidate_cohort(self, user_id: int) -> bool:
        """Whether the user's stable bucket puts them in the candidate arm (cached)."""
        return self._cohort.bucket(user_id) < self._threshold_bp

    def route(self, request: Request) -> str:
        """The user's arm when ``sticky``, else a fresh draw per request; counts the assignment."""
        if self.config.sticky:
            model = "candidate" if self.in_candidate_cohort(request.user_id) else "legacy"
        else:
            model = "candidate" if self._uniform.next() < self.fraction else "legacy"
        self.assigned[model] += 1
        return model

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: cached user buckets, or the stream's next uniforms, in order."""
        return arm_names(self._candidate_batch(request_ids, user_ids))

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """:meth:`route_batch` as model indices."""
        return arm_indices(self._candidate_batch(request_ids, user_ids), model_index)

    def _candidate_batch(self, request_ids: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        """Which requests of a batch go to the candidate (the assignments counted)."""
        if self.config.sticky:
            hit = self._cohort.buckets(user_ids) < self._threshold_bp
        else:
            hit = self._uniform.take(len(request_ids)) < self.fraction
        n_candidate = int(np.count_nonzero(hit))
        self.assigned["candidate"] += n_candidate
        self.assigned["legacy"] += hit.size - n_candidate
        return hit

    def candidate_weight(self) -> float:
        """The candidate fraction, in percent."""
        return 100.0 * self.fraction

    def summary(self) -> dict[str, Any]:
        """Requests assigned to each arm and the split's configuration."""
        out = super().summary()
        out.update(
            assigned_legacy=self.assigned["legacy"],
            assigned_candidate=self.assigned["candidate"],
            candidate_fraction=self.fraction,
            sticky=self.config.sticky,
        )
        return out
