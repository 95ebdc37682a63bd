"""Shadow: users always get legacy; requests are mirrored to the candidate on its own replicas."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scenario import ShadowStrategy
from .base import Request, Strategy, UniformStream

__all__ = ["Shadow"]


class Shadow(Strategy):
    """Mirror ``mirror_fraction`` of requests to the candidate; the user's answer is legacy's.

    The engine serves mirrored calls on a separate replica pool and logs them in
    ``RunResult.shadow``; they never touch the user-facing request log, so the
    candidate's slowness or failure cannot reach a user. Which requests are
    mirrored is drawn from the strategy's own stream.
    """

    kind = "shadow"
    mirrors = True

    def __init__(self, config: ShadowStrategy):
        super().__init__()
        self.config = config
        self.mirrored = 0
        self.mirror_replicas = config.candidate_replicas
        self.agreement_tolerance = config.agreement_tolerance

    def start(self, ctx) -> None:
        """Open the uniform stream that picks the mirrored requests."""
        super().start(ctx)
        self._uniform = UniformStream(ctx.rng)

    def route(self, request: Request) -> str:
        """Users always get legacy's answer."""
        return "legacy"

    def mirror(self, request: Request) -> bool:
        """Mirror the request to the candidate with probability ``mirror_fraction``."""
        if self.config.mirror_fraction >= 1.0:
            self.mirrored += 1
            return True
        if self._uniform.next() < self.config.mirror_fraction:
            self.mirrored += 1
            return True
        return False

    def route_batch(self, request_ids, times_s, user_ids, features) -> np.ndarray:
        """Legacy for every request of the batch."""
        return np.full(len(request_ids), "legacy")

    def mirror_batch(self, request_ids, times_s, user_ids, features) -> np.ndarray:
        """:meth:`mirror` for a batch: the stream's next uniforms, one per request, in order."""
        if self.config.mirror_fraction >= 1.0:
            hit = np.ones(len(request_ids), dtype=bool)
        else:
            hit = self._uniform.take(len(request_ids)) < self.config.mirror_fraction
        self.mirrored += int(np.count_nonzero(hit))
        return hit

    def summary(self) -> dict[str, Any]:
        """Number of mirrored requests and the configured fraction."""
        out = super().summary()
        out.update(mirrored=self.mirrored, mirror_fraction=self.config.mirror_fraction)
        return out
