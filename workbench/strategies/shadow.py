"""Shadow: users always get legacy; requests are mirrored to the candidate on its own replicas."""

from __future__ import annotations

from typing import Any

from ..scenario import ShadowStrategy
from .base import Request, Strategy

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
        self._uniforms = None
        self._pos = 0
        self.mirrored = 0

    def route(self, request: Request) -> str:
        return "legacy"

    def mirror(self, request: Request) -> bool:
        if self.config.mirror_fraction >= 1.0:
            self.mirrored += 1
            return True
        if self._uniforms is None or self._pos >= self._uniforms.shape[0]:
            self._uniforms = self.ctx.rng.random(4096)
            self._pos = 0
        u = self._uniforms[self._pos]
        self._pos += 1
        if u < self.config.mirror_fraction:
            self.mirrored += 1
            return True
        return False

    def on_rollback(self, now_s: float) -> None:
        super().on_rollback(now_s)

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.update(mirrored=self.mirrored, mirror_fraction=self.config.mirror_fraction)
        return out
