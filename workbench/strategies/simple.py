"""The two simplest strategies: ``single`` (one model) and ``ab`` (random split, A/B/n).

:func:`arm_comparison` is the A/B/n report the ``ab`` and ``bandit`` strategies add to
their summary when they have several candidates.
"""

from __future__ import annotations

import array
import math
from bisect import bisect_right
from typing import Any

import numpy as np

from ..scenario import ABStrategy, SingleStrategy
from .base import DROPPED, OK, Request, Strategy, UniformStream, UserTable, arm_indices, arm_names
from .canary import Cohort

__all__ = ["Single", "ABTest", "ArmOutcomes", "arm_comparison", "BANDIT_SRM_NOTE"]


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
    """A/B (or A/B/n) split with fixed shares.

    Each request (or each user, when ``sticky``) goes to an arm with its planned
    share: with one candidate, to the candidate with probability
    ``candidate_fraction``; with several, by the configured ``weights`` (or equal
    shares of ``candidate_fraction``).

    Per-request draws come from the strategy's own seeded stream, one uniform per
    request, compared with the candidates' cumulative shares (candidates first, in
    order, then legacy), so one candidate is the classic split draw for draw; sticky
    assignment compares a stable hash of (salt, user id) in basis points with the
    same cumulative shares, never builtin ``hash()``, so a user keeps their arm
    across runs and processes.
    """

    kind = "ab"

    def __init__(self, config: ABStrategy):
        super().__init__()
        self.config = config
        self.fraction = config.candidate_fraction
        self._threshold_bp = round(config.candidate_fraction * 10_000)
        self._cohort = Cohort(config.salt)  # each user's bucket, hashed once per run
        # the classic two-arm split keeps its own (identical, slightly quicker) code path
        self._classic = config.arms == ("candidate",) and config.weights is None
        shares = config.arm_shares
        # arms in the order of the cumulative shares: the candidates, then legacy
        self._order = (*config.arms, "legacy")
        self._order_names = np.array(self._order)
        cumulative = np.cumsum(shares[1:]).tolist()
        self._bounds = cumulative  # arm j (of _order) holds uniforms in [bounds[j-1], bounds[j])
        self._bounds_bp = [round(c * 10_000) for c in cumulative]
        self._bounds_arr = np.array(self._bounds, dtype=np.float64)
        self._bounds_bp_arr = np.array(self._bounds_bp, dtype=np.int64)
        self._users = UserTable("B", empty=0)  # sticky A/B/n: each user's arm (position in _order) + 1
        self.assigned = {m: 0 for m in config.arm_models}
        # several candidates: learn each arm's outcomes for the report (routing never reads them)
        self.outcomes: ArmOutcomes | None = None
        if len(config.arms) > 1:
            self.wants_outcomes = True
            self.batch_routing = True

    def start(self, ctx) -> None:
        """Open the uniform stream for per-request draws."""
        super().start(ctx)
        self._uniform = UniformStream(ctx.rng)
        if self.wants_outcomes:
            scenario = getattr(ctx, "scenario", None)
            self.outcomes = ArmOutcomes(self.config.arm_models, scenario.warmup_s if scenario is not None else 0.0)

    def in_candidate_cohort(self, user_id: int) -> bool:
        """Whether the user's stable bucket puts them in a candidate arm (cached)."""
        return self._cohort.bucket(user_id) < self._threshold_bp

    def arm_of_user(self, user_id: int) -> str:
        """The model a sticky split gives the user (from their stable bucket)."""
        return self._order[bisect_right(self._bounds_bp, self._cohort.bucket(user_id))]

    def route(self, request: Request) -> str:
        """The user's arm when ``sticky``, else a fresh draw per request; counts the assignment."""
        if self._classic:
            if self.config.sticky:
                model = "candidate" if self.in_candidate_cohort(request.user_id) else "legacy"
            else:
                model = "candidate" if self._uniform.next() < self.fraction else "legacy"
        else:
            if self.outcomes is not None:
                self.outcomes.routed(request.request_id, request.time_s)
            model = self._route_arm(request)
        self.assigned[model] += 1
        return model

    def _route_arm(self, request: Request) -> str:
        """The A/B/n arm of one request (by its user's bucket when ``sticky``, else a fresh uniform)."""
        if self.config.sticky:
            j = bisect_right(self._bounds_bp, self._cohort.bucket(request.user_id))
            self._users.set(request.user_id, j + 1)
            return self._order[j]
        return self._order[bisect_right(self._bounds, self._uniform.next())]

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: cached user buckets, or the stream's next uniforms, in order."""
        if self._classic:
            return arm_names(self._candidate_batch(request_ids, user_ids))
        return self._order_names[self._arm_batch(request_ids, user_ids, times_s)]

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """:meth:`route_batch` as model indices."""
        if self._classic:
            return arm_indices(self._candidate_batch(request_ids, user_ids), model_index)
        codes = np.array([model_index[m] for m in self._order], dtype=np.int8)
        return codes[self._arm_batch(request_ids, user_ids, times_s)]

    def _candidate_batch(self, request_ids: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        """Which requests of a batch go to the candidate (the assignments counted; classic split)."""
        if self.config.sticky:
            hit = self._cohort.buckets(user_ids) < self._threshold_bp
        else:
            hit = self._uniform.take(len(request_ids)) < self.fraction
        n_candidate = int(np.count_nonzero(hit))
        self.assigned["candidate"] += n_candidate
        self.assigned["legacy"] += hit.size - n_candidate
        return hit

    def _arm_batch(self, request_ids: np.ndarray, user_ids: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Each request's arm as a position in ``_order`` (the assignments counted; A/B/n)."""
        if self.outcomes is not None:
            self.outcomes.routed_batch(request_ids, times_s)
        if self.config.sticky:
            pos = np.searchsorted(self._bounds_bp_arr, self._cohort.buckets(user_ids), side="right")
            self._users.set_many(user_ids, pos + 1)  # a user's repeats carry the same arm
        else:
            pos = np.searchsorted(self._bounds_arr, self._uniform.take(len(request_ids)), side="right")
        for j, count in enumerate(np.bincount(pos, minlength=len(self._order)).tolist()):
            self.assigned[self._order[j]] += count
        return pos

    def on_outcome(self, request_id: int, model: str, time_s: float, status: int, latency_ms: float) -> None:
        """With several candidates, count the finished request for the report."""
        if self.outcomes is not None:
            self.outcomes.add(request_id, model, time_s, status, latency_ms)

    def candidate_weight(self) -> float:
        """The candidates' total fraction, in percent."""
        return 100.0 * self.fraction

    def arm_counts(self) -> tuple[str, tuple[int, ...]]:
        """The unit of the split and each arm's count so far, legacy first.

        Requests, or distinct users when ``sticky`` (each user once, in their arm).
        """
        models = self.config.arm_models
        if not self.config.sticky:
            return "requests", tuple(self.assigned[m] for m in models)
        if self._classic:
            raise RuntimeError("arm_counts: the classic sticky split does not keep its users")
        per_position = np.bincount(self._users.values().astype(np.intp) - 1, minlength=len(self._order))
        return "users", tuple(int(per_position[self._order.index(m)]) for m in models)

    def summary(self) -> dict[str, Any]:
        """Requests assigned to each arm and the split's configuration.

        With several candidates, also ``arm_comparison``: the sample-ratio check over
        all arms and each candidate against legacy (see :func:`arm_comparison`).
        """
        out = super().summary()
        out.update({f"assigned_{m}": self.assigned[m] for m in self.config.arm_models})
        out.update(candidate_fraction=self.fraction, sticky=self.config.sticky)
        if not self._classic:
            out.update(arms=list(self.config.arm_models), weights=[100.0 * x for x in self.config.arm_shares])
        if self.outcomes is not None:
            unit, counts = self.arm_counts()
            out["arm_comparison"] = arm_comparison(self.outcomes, counts, unit, expected_shares=self.config.arm_shares)
        return out


BANDIT_SRM_NOTE = "no sample-ratio check: a bandit's allocation is adaptive, there is no planned split"


class ArmOutcomes:
    """Each arm's outcomes over the requests that arrived after the warm-up.

    Fed by a strategy's ``on_outcome`` (every finished request, in any order) and
    told which requests it routed, so that it knows where the warm-up ends: request
    ids count arrivals in order, so the first request routed at or after
    ``warmup_s`` splits the ids. Counts requests and failures (error, timeout,
    dropped) and keeps the served requests' latencies, summed in sorted order at
    the end, so the report does not depend on the order outcomes arrive in. The
    counts are those of the per-model KPIs. After a rollback during the warm-up
    (nothing routed after it), an outcome counts when it ended after the warm-up.
    """

    def __init__(self, models: tuple[str, ...], warmup_s: float):
        self.models = tuple(models)
        self.warmup_s = float(warmup_s)
        self.first_warm_id: int | None = None if warmup_s > 0 else 0
        self.last_routed_id = -1
        self._index = {m: k for k, m in enumerate(self.models)}
        self.requests = [0] * len(self.models)
        self.failed = [0] * len(self.models)
        self._latency = [array.array("d") for _ in self.models]

    def routed(self, request_id: int, time_s: float) -> None:
        """A request was routed (arrivals in order)."""
        self.last_routed_id = int(request_id)
        if self.first_warm_id is None and time_s >= self.warmup_s:
            self.first_warm_id = int(request_id)

    def routed_batch(self, request_ids: np.ndarray, times_s: np.ndarray) -> None:
        """A batch of requests was routed (arrivals in order)."""
        if len(request_ids):
            self.last_routed_id = int(request_ids[-1])
        if self.first_warm_id is None and len(times_s):
            j = int(np.searchsorted(times_s, self.warmup_s, side="left"))
            if j < len(times_s):
                self.first_warm_id = int(request_ids[j])

    def add(self, request_id: int, model: str, end_s: float, status: int, latency_ms: float) -> None:
        """One finished request (a model outside the arms is ignored)."""
        k = self._index.get(model)
        if k is None:
            return
        if self.first_warm_id is not None:
            warm = request_id >= self.first_warm_id
        else:  # routed during the warm-up, or (after a rollback) never routed: judged by its end
            warm = request_id > self.last_routed_id and end_s >= self.warmup_s
        if not warm:
            return
        self.requests[k] += 1
        if status != OK:
            self.failed[k] += 1
        if status != DROPPED:
            self._latency[k].append(latency_ms)

    def latency_ms(self, model: str) -> np.ndarray:
        """The served latencies of ``model``'s counted requests, sorted."""
        return np.sort(np.frombuffer(self._latency[self._index[model]], dtype=np.float64))


def arm_comparison(
    outcomes: ArmOutcomes, counts: tuple[int, ...], unit: str,
    expected_shares: tuple[float, ...] | None = None, alpha: float = 0.05, correction: str = "holm",
) -> dict[str, Any]:
    """The A/B/n report of a run: sample ratio over all arms, each candidate against legacy.

    The sample-ratio check is a chi-square goodness of fit of ``counts`` against
    ``expected_shares`` (mismatch at p < 0.001, :func:`workbench.stats.srm_test`);
    an arm planned at 0 % that received traffic is a mismatch (p = 0). Without
    ``expected_shares`` (a bandit's adaptive allocation) there is no check and
    ``srm_note`` says why. Each candidate is compared with legacy over the requests
    that arrived after the warm-up, as the per-model KPIs count them: error rate
    (two-proportion z test) and mean latency of served requests (Welch), each
    metric's p-values adjusted across the candidates (``correction``, Holm by
    default; :func:`workbench.stats.corrections.compare_with_legacy`).

    Parameters
    ----------
    outcomes : ArmOutcomes
        The arms' outcomes (its ``models``: legacy first).
    counts : tuple of int
        Each arm's assigned units (requests or users), legacy first.
    unit : str
        What ``counts`` counts.
    expected_shares : tuple of float, optional
        The planned shares, legacy first; None for an adaptive allocation.

    Returns
    -------
    dict
        Plain values (the ``arm_comparison`` entry of a strategy's summary).
    """
    from ..stats.corrections import compare_with_legacy
    from ..stats.srm import srm_test

    p_value, mismatch, note = math.nan, False, ""
    if expected_shares is None:
        note = BANDIT_SRM_NOTE
    elif sum(counts):
        planned = [k for k, s in enumerate(expected_shares) if s > 0]
        if any(counts[k] for k, s in enumerate(expected_shares) if s <= 0):
            p_value, mismatch = 0.0, True  # traffic on an arm planned at 0 %
        elif len(planned) >= 2:
            res = srm_test([counts[k] for k in planned], [expected_shares[k] for k in planned])
            p_value, mismatch = float(res.p_value), bool(res.mismatch)
    models = outcomes.models
    errors = {m: (outcomes.failed[k], outcomes.requests[k]) for k, m in enumerate(models)}
    latency = {m: outcomes.latency_ms(m) for m in models}
    rows = compare_with_legacy(errors, latency, legacy=models[0], alpha=alpha, method=correction)
    return {
        "arms": list(models),
        "unit": unit,
        "counts": [int(c) for c in counts],
        "expected_shares": None if expected_shares is None else [float(x) for x in expected_shares],
        "srm_p_value": p_value,
        "srm_mismatch": mismatch,
        "srm_note": note,
        "alpha": float(alpha),
        "correction": correction,
        "candidates": [r.as_dict() for r in rows],
    }
