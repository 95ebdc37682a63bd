"""Canary: a stable cohort of users sees the candidate; the cohort can ramp up."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..rng import bucket, buckets
from ..scenario import CanaryStrategy
from .base import Request, Strategy, UniformStream, UserTable, arm_indices, arm_names

__all__ = ["Canary", "Cohort"]


_BUCKET_TABLES: dict[str, UserTable] = {}  # salt -> the users' buckets hashed so far in this process
_BUCKET_TABLES_KEPT = 8


def _bucket_table(salt: str) -> UserTable:
    """The process's table of users' buckets for ``salt``, shared by every cohort with that salt.

    A bucket depends only on (salt, user id), so the runs of a sweep or a
    comparison, which share their salts, hash each user once per process.
    """
    table = _BUCKET_TABLES.get(salt)
    if table is None:
        if len(_BUCKET_TABLES) >= _BUCKET_TABLES_KEPT:
            _BUCKET_TABLES.pop(next(iter(_BUCKET_TABLES)))  # the oldest salt
        table = _BUCKET_TABLES[salt] = UserTable("h", empty=-1)
    return table


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
        self._buckets = _bucket_table(salt)

    def bucket(self, user_id: int) -> int:
        """The user's basis-point bucket (0..9999), cached."""
        b = self._buckets.get(user_id)
        if b < 0:
            b = bucket(self.salt, user_id)
            self._buckets.set(user_id, b)
        return b

    def buckets(self, user_ids: np.ndarray) -> np.ndarray:
        """The basis-point buckets of ``user_ids`` (each distinct new user hashed once, then cached)."""
        table = self._buckets
        out = table.get_many(user_ids)
        missing = out < 0
        if missing.any():
            new = np.unique(np.asarray(user_ids, dtype=np.int64)[missing])
            table.set_many(new, buckets(self.salt, new))
            out = table.get_many(user_ids)
        return out

    def contains(self, user_id: int, weight_percent: float) -> bool:
        """Whether the user is in the cohort at ``weight_percent`` percent."""
        return self.bucket(user_id) < round(weight_percent * 100)


class Canary(Strategy):
    """Route a random share of requests (or, with ``split = "users"``, a user cohort) to the candidate.

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
        self._seen = UserTable("B", empty=0)  # user -> bitmask of models seen (1 legacy, 2 candidate)
        self._routed = [0, 0]  # requests routed to the candidate, and in all, since the weight last changed

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
                hits, total = self._routed
                share = {}
                said = ""
                if total:
                    share = {"realised_share": 100.0 * hits / total, "requests": total}
                    said = f" ({share['realised_share']:.3g}% of {total} requests went to the candidate at {previous:g}%)"
                self._routed = [0, 0]
                self.ctx.emit("step", f"canary weight {previous:g}% -> {weight:g}%{said}", model="candidate",
                              time_s=at_s, weight=weight, **share)

    def route(self, request: Request) -> str:
        """Advance the schedule; the cohort (or a random share of requests) gets the candidate."""
        if self._next_point < len(self._schedule) and self._schedule[self._next_point][0] <= request.time_s:
            self._advance(request.time_s)
        if self.config.split == "requests":
            hit = self._uniform.next() * 100.0 < self.weight
        else:
            hit = self.cohort.contains(request.user_id, self.weight)
        self._routed[0] += hit
        self._routed[1] += 1
        self._seen.or_(request.user_id, 2 if hit else 1)
        return "candidate" if hit else "legacy"

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: split at the schedule's points, one weight per part.

        The schedule advances at the first request (in order) at or after a pending
        point, with that request's time, as :meth:`route` does; the uniform draws and
        the users' seen-models bits end as the per-request loop leaves them.
        """
        return arm_names(self._candidate_batch(times_s, user_ids))

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """:meth:`route_batch` as model indices."""
        return arm_indices(self._candidate_batch(times_s, user_ids), model_index)

    def _candidate_batch(self, times_s: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        """Which requests of a batch go to the candidate (schedule, draws and seen bits as route leaves them)."""
        times = np.asarray(times_s, dtype=np.float64)
        k = times.size
        hit = np.empty(k, dtype=bool)
        buckets = None if self.config.split == "requests" else self.cohort.buckets(user_ids)
        schedule = self._schedule
        i = 0
        while i < k:
            if self._next_point < len(schedule) and schedule[self._next_point][0] <= times[i]:
                self._advance(float(times[i]))
            j = k
            if self._next_point < len(schedule):
                later = times[i + 1:] >= schedule[self._next_point][0]
                if later.any():
                    j = i + 1 + int(later.argmax())
            if buckets is None:
                hit[i:j] = self._uniform.take(j - i) * 100.0 < self.weight
            else:
                hit[i:j] = buckets[i:j] < round(self.weight * 100)
            self._routed[0] += int(np.count_nonzero(hit[i:j]))
            self._routed[1] += j - i
            i = j
        users = np.asarray(user_ids)
        self._seen.or_many(users[hit], 2)
        self._seen.or_many(users[~hit], 1)
        return hit

    def candidate_weight(self) -> float:
        """The current canary weight, in percent."""
        return self.weight

    def summary(self) -> dict[str, Any]:
        """Final weight and how many users saw both models (many with a request split)."""
        out = super().summary()
        seen = self._seen.values()
        users = int(seen.size)
        both = int(np.count_nonzero(seen == 3))
        out.update(
            final_weight=self.weight,
            users=users,
            users_saw_both=both,
            share_users_saw_both=both / users if users else float("nan"),
            split=self.config.split,
            per_request=self.config.split == "requests",
        )
        return out
