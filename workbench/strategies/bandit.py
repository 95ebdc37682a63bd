"""Bandit routing: Thompson sampling (Beta-Bernoulli) or epsilon-greedy, with late rewards.

The reward of a request is 1 when it was ``ok`` within the latency SLO (known when
it finishes) or, with ``reward = "conversion"``, when the user converted (known when
the label arrives; a failed request is a zero reward as soon as it fails). A guardrail keeps at least ``min_legacy_share`` of traffic on
legacy. Seldon Core's routers use the same priors (Beta(1, 1)) and epsilon 0.1.

With ``update_interval_s > 0`` the rewards are buffered as they arrive and applied to
the arms' counts only at update ticks, every ``update_interval_s`` seconds, as
deployed bandits update their posteriors in batches. Between two ticks the
allocation is fixed, so a batch of arrivals is routed with one vectorised draw
(:meth:`Bandit.route_batch`) that consumes the random stream exactly as
:meth:`Bandit.route` does request by request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..scenario import BanditStrategy
from .base import OK, Request, Strategy

__all__ = ["Bandit", "UPDATE_COLUMNS"]

ARMS = ("legacy", "candidate")
_ARM_NAMES = np.array(ARMS)
BLOCK_ROWS = 1024  # rows of (guard, explore) uniforms drawn at once from the strategy's stream

# the ``bandit`` table: one row per update tick
UPDATE_COLUMNS = (
    "time_s",  # the tick's time
    "batch_size",  # rewards applied at this tick
    "pulls_legacy",  # counts after the update
    "successes_legacy",
    "pulls_candidate",
    "successes_candidate",
    "routed_legacy",  # requests routed since the previous tick
    "routed_candidate",
    "candidate_share",  # routed_candidate / (routed_legacy + routed_candidate), NaN when none
)


class Bandit(Strategy):
    """Route each request to the arm a bandit picks, learning from late rewards.

    Thompson sampling (Beta-Bernoulli) or epsilon-greedy; a guardrail keeps
    ``min_legacy_share`` of the traffic on legacy.

    With ``update_interval_s > 0``, ``batch_routing`` is True: routing reads only
    the counts, which change only in :meth:`tick`, so an engine may route the
    arrivals between two control events as one batch provided that, before each
    tick at ``t``, it has reported (``on_outcome``, ``on_label``) exactly the
    rewards the per-request engine has reported by ``t``.
    """

    kind = "bandit"
    batch_routing = False

    def __init__(self, config: BanditStrategy):
        super().__init__()
        self.config = config
        # outcomes always (a failed request is a zero-reward pull at once); labels for conversions
        self.wants_outcomes = True
        self.wants_labels = config.reward == "conversion"
        self.successes = [0, 0]
        self.trials = [0, 0]
        self.routed = [0, 0]
        self._block: np.ndarray | None = None
        self._pos = 0
        self.update_interval_s = float(config.update_interval_s)
        if self.update_interval_s > 0:
            self.batch_routing = True
            self.tick_interval_s = self.update_interval_s
        # rewards waiting for the next update tick (batched updates only)
        self._pending_successes = [0, 0]
        self._pending_trials = [0, 0]
        self._routed_at_update = [0, 0]
        self.updates = 0  # ticks that applied at least one reward
        self.applied = 0  # rewards applied at those ticks
        self._update_rows: list[tuple] = []

    # ------------------------------------------------------------------ routing
    def _refill(self) -> None:
        """The next block of (guard, explore) uniform rows."""
        self._block = self.ctx.rng.random((BLOCK_ROWS, 2))
        self._pos = 0

    def _draws(self) -> np.ndarray:
        if self._block is None or self._pos >= BLOCK_ROWS:
            self._refill()
        row = self._block[self._pos]
        self._pos += 1
        return row

    def _posterior(self) -> tuple[list[float], list[float]]:
        """Beta parameters (alpha, beta) of legacy and the candidate, from the applied counts."""
        a = self.config.prior_alpha
        b = self.config.prior_beta
        s, t = self.successes, self.trials
        return [a + s[0], a + s[1]], [b + t[0] - s[0], b + t[1] - s[1]]

    def _greedy_arm(self) -> int:
        """The arm with the higher observed reward rate (an untried arm counts as best; ties: legacy)."""
        means = [
            (self.successes[k] / self.trials[k]) if self.trials[k] else float("inf")
            for k in (0, 1)
        ]
        return int(means[1] > means[0])

    def route(self, request: Request) -> str:
        """The guardrail share goes to legacy; other requests to the arm the algorithm picks."""
        cfg = self.config
        u_guard, u_explore = self._draws()
        if u_guard < cfg.min_legacy_share:
            arm = 0
        elif cfg.algorithm == "thompson":
            alpha, beta = self._posterior()
            theta = self.ctx.rng.beta(alpha, beta)
            arm = int(theta[1] > theta[0])
        else:
            if u_explore < cfg.epsilon:
                arm = int(self._draws()[0] < 0.5)
            else:
                arm = self._greedy_arm()
        self.routed[arm] += 1
        return ARMS[arm]

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch, vectorised: the counts are fixed until the next :meth:`tick`.

        The stream is consumed as the per-request calls consume it: the rows of the
        current block of uniforms, a new block only when a request needs a row past
        its end, and for Thompson sampling one Beta pair per request outside the
        guardrail, drawn block segment by block segment (``Generator.beta`` on an
        ``(m, 2)`` array draws element by element in row order, as ``m`` calls on a
        pair do). Valid whenever no reward is applied during the batch, which
        ``batch_routing`` guarantees between two ticks.
        """
        k = len(request_ids)
        arms = np.zeros(k, dtype=np.intp)
        if k:
            if self.config.algorithm == "thompson":
                self._thompson_batch(arms)
            else:
                self._greedy_batch(arms)
        n_candidate = int(np.count_nonzero(arms))
        self.routed[0] += k - n_candidate
        self.routed[1] += n_candidate
        return _ARM_NAMES[arms]

    def _thompson_batch(self, arms: np.ndarray) -> None:
        """Fill ``arms``: one block row per request, one Beta pair for each outside the guardrail."""
        guard = self.config.min_legacy_share
        alpha, beta = (np.asarray(p, dtype=np.float64) for p in self._posterior())
        rng = self.ctx.rng
        done, k = 0, arms.size
        while done < k:
            if self._block is None or self._pos >= BLOCK_ROWS:
                self._refill()
            lo = self._pos
            hi = min(lo + k - done, BLOCK_ROWS)
            self._pos = hi
            free = np.flatnonzero(self._block[lo:hi, 0] >= guard)
            if free.size:
                shape = (free.size, 2)
                theta = rng.beta(np.broadcast_to(alpha, shape), np.broadcast_to(beta, shape))
                arms[done + free] = theta[:, 1] > theta[:, 0]
            done += hi - lo

    def _greedy_batch(self, arms: np.ndarray) -> None:
        """Fill ``arms``: one block row per request, and the next row's coin when it explores.

        A row starts a request unless the row before it started one that explored
        (that row is the coin). So rows after a non-exploring row start requests, and
        along a run of exploring rows starts and coins alternate: a row starts a
        request when the number of exploring rows just before it is even.
        """
        cfg = self.config
        greedy = self._greedy_arm()
        done, k = 0, arms.size
        while done < k:
            if self._block is None or self._pos >= BLOCK_ROWS:
                self._refill()
            need = k - done
            lo = self._pos
            u = self._block[lo:lo + 2 * need]  # a request takes one row, or two when it explores
            rows = np.arange(u.shape[0])
            explores = (u[:, 0] >= cfg.min_legacy_share) & (u[:, 1] < cfg.epsilon)
            last_calm = np.maximum.accumulate(np.where(explores, -1, rows))  # last non-exploring row so far
            before = np.concatenate(([-1], last_calm[:-1]))
            starts = np.flatnonzero((rows - 1 - before) % 2 == 0)[:need]
            m = starts.size
            explore = explores[starts]
            seg = np.full(m, greedy, dtype=np.intp)
            seg[u[starts, 0] < cfg.min_legacy_share] = 0
            coins = starts[explore] + 1
            # the last request's coin lies past the block only when u reaches the block's end
            spill = bool(explore[-1]) and coins[-1] >= u.shape[0]
            if spill:
                coins = coins[:-1]
            seg[np.flatnonzero(explore)[:coins.size]] = u[coins, 0] < 0.5
            self._pos = lo + int(starts[-1]) + 1 + int(explore[-1])
            if spill:
                self._refill()
                seg[-1] = int(self._block[0, 0] < 0.5)
                self._pos = 1
            arms[done:done + m] = seg
            done += m

    # ------------------------------------------------------------------ rewards
    def _count(self, k: int, success: int) -> None:
        """One pull of arm ``k``: into the counts now, or into the buffer until the next update."""
        if self.batch_routing:
            self._pending_trials[k] += 1
            self._pending_successes[k] += success
        else:
            self.trials[k] += 1
            self.successes[k] += success

    def on_outcome(self, request_id: int, model: str, time_s: float, status: int, latency_ms: float) -> None:
        """Count a finished request as a pull, rewarded when ``ok`` within the latency SLO.

        With conversion rewards only a failure counts here (a zero reward); ``ok``
        requests wait for their label.
        """
        k = 0 if model == "legacy" else 1
        if self.wants_labels:
            if status != OK:
                self._count(k, 0)  # no answer, no conversion; ok requests wait for their label
            return
        self._count(k, int(status == OK and latency_ms <= self.ctx.slo_latency_ms))

    def on_label(self, request_id: int, model: str, time_s: float, prediction: float, label: float) -> None:
        """Count a labelled request as a pull, rewarded when the user converted."""
        k = 0 if model == "legacy" else 1
        self._count(k, int(self.ctx.converted(request_id, model)))

    def tick(self, now_s: float) -> None:
        """Apply the rewards buffered since the last update and record the update (batched updates only)."""
        if not self.batch_routing:
            return
        batch = self._pending_trials[0] + self._pending_trials[1]
        for k in (0, 1):
            self.trials[k] += self._pending_trials[k]
            self.successes[k] += self._pending_successes[k]
        self._pending_trials = [0, 0]
        self._pending_successes = [0, 0]
        if batch:
            self.updates += 1
            self.applied += batch
        routed = [self.routed[k] - self._routed_at_update[k] for k in (0, 1)]
        self._routed_at_update = list(self.routed)
        total = routed[0] + routed[1]
        share = routed[1] / total if total else float("nan")
        self._update_rows.append((float(now_s), batch, self.trials[0], self.successes[0], self.trials[1],
                                  self.successes[1], routed[0], routed[1], share))

    # ------------------------------------------------------------------ reporting
    def candidate_weight(self) -> float:
        """Share of requests routed to the candidate so far, in percent."""
        total = sum(self.routed)
        return 100.0 * self.routed[1] / total if total else 0.0

    def tables(self) -> dict[str, Any]:
        """With batched updates, ``tables['bandit']``: one row per update tick (see ``UPDATE_COLUMNS``)."""
        if not self.batch_routing:
            return {}
        columns = list(zip(*self._update_rows, strict=True)) or [()] * len(UPDATE_COLUMNS)
        frame = pd.DataFrame({
            name: np.asarray(values, dtype=np.float64 if name in ("time_s", "candidate_share") else np.int64)
            for name, values in zip(UPDATE_COLUMNS, columns, strict=True)
        })
        return {"bandit": frame}

    def summary(self) -> dict[str, Any]:
        """Pulls and reward rates per arm, the better arm and the regret.

        Reward rates count every reward received, including those still waiting for
        an update at the end of the run. With batched updates, also the interval,
        the updates that applied rewards, their mean size and the rewards left
        waiting (``pending_rewards``).
        """
        out = super().summary()
        successes = [self.successes[k] + self._pending_successes[k] for k in (0, 1)]
        trials = [self.trials[k] + self._pending_trials[k] for k in (0, 1)]
        means = [successes[k] / trials[k] if trials[k] else float("nan") for k in (0, 1)]
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
        if self.batch_routing:
            out.update(
                update_interval_s=self.update_interval_s,
                updates=self.updates,
                mean_batch_size=self.applied / self.updates if self.updates else float("nan"),
                pending_rewards=self._pending_trials[0] + self._pending_trials[1],
            )
        return out
