"""Canary: a stable cohort of users sees the candidate; the cohort can ramp up."""

from __future__ import annotations

from typing import Any

from ..rng import bucket
from ..scenario import CanaryStrategy
from .base import Request, Strategy, UniformStream

__all__ = ["Canary", "Cohort"]


class Cohort:
    """Users in the candidate cohort at a weight, by a stable hash of (salt, user id).

    Buckets are basis points (0..9999): a user is in the cohort at ``weight`` percent
    when ``bucket < weight * 100``. Raising the weight only adds users, so ramps are
    monotone, and the hash (blake2b) is the same in every process and run.

    Examples
    --------
    >>> c = Cohort("salt")
    >>> small = {u for u in range(2000) if c.contains(u, 5.0)}
    >>> large = {u for u in range(2000) if c.contains(u, 10.0)}
    >>> small <= large
    True
    """

    def __init__(self, salt: str):
        self.salt = salt
        self._buckets: dict[int, int] = {}

    def bucket(self, user_id: int) -> int:
        """The user's basis-point bucket (0..9999), cached."""
        b = self._buckets.get(user_id)
        if b is None:
            b = bucket(self.salt, user_id)
            self._buckets[user_id] = b
        return b

    def contains(self, user_id: int, weight_percent: float) -> bool:
        """Whether the user is in the cohort at ``weight_percent`` percent."""
        return self.bucket(user_id) < round(weight_percent * 100)


class Canary(Strategy):
    """Route a user cohort (or, with ``per_request``, a random share of requests) to the candidate.

    The weight is ``candidate_fraction`` (as a percentage), or follows ``schedule``
    (``at_s``/``weight`` points). The summary reports the share of users who saw
    both models (0 for a cohort canary without ramps down; large per request).
    """

    kind = "canary"

    def __init__(self, config: CanaryStrategy):
        super().__init__()
        self.config = config
        self.cohort = Cohort(config.salt)
        self.weight = 100.0 * config.candidate_fraction
        self._schedule = [(p.at_s, p.weight) for p in config.schedule]
        self._next_point = 0
        self._seen: dict[int, int] = {}  # user -> bitmask of models seen (1 legacy, 2 candidate)

    def start(self, ctx) -> None:
        """Open the uniform stream and apply the schedule's points at time 0."""
        super().start(ctx)
        self._uniform = UniformStream(ctx.rng)
        self._advance(0.0)

    def _advance(self, now_s: float) -> None:
        while self._next_point < len(self._schedule) and self._schedule[self._next_point][0] <= now_s:
            at_s, weight = self._schedule[self._next_point]
            self._next_point += 1
            if weight != self.weight or at_s == 0.0:
                previous, self.weight = self.weight, weight
                self.ctx.emit("step", f"canary weight {previous:g}% -> {weight:g}%", model="candidate", time_s=at_s, weight=weight)

    def route(self, request: Request) -> str:
        """Advance the schedule; the cohort (or a random share of requests) gets the candidate."""
        if self._next_point < len(self._schedule) and self._schedule[self._next_point][0] <= request.time_s:
            self._advance(request.time_s)
        if self.config.per_request:
            hit = self._uniform.next() * 100.0 < self.weight
        else:
            hit = self.cohort.contains(request.user_id, self.weight)
        seen = self._seen
        uid = request.user_id
        seen[uid] = seen.get(uid, 0) | (2 if hit else 1)
        return "candidate" if hit else "legacy"

    def candidate_weight(self) -> float:
        """The current canary weight, in percent."""
        return self.weight

    def summary(self) -> dict[str, Any]:
        """Final weight and how many users saw both models."""
        out = super().summary()
        users = len(self._seen)
        both = sum(1 for v in self._seen.values() if v == 3)
        out.update(
            final_weight=self.weight,
            users=users,
            users_saw_both=both,
            share_users_saw_both=both / users if users else float("nan"),
            per_request=self.config.per_request,
        )
        return out
