"""Bandit routing: Thompson sampling (Beta-Bernoulli) or epsilon-greedy, with late rewards.

The arms are legacy and one or more candidate models (``arms``); Thompson sampling
draws one Beta per arm and takes the highest, epsilon-greedy explores an arm chosen
uniformly.

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
from .simple import ArmOutcomes, arm_comparison

__all__ = ["Bandit", "UPDATE_COLUMNS", "update_columns"]

ARMS = ("legacy", "candidate")
BLOCK_ROWS = 1024  # rows of (guard, explore) uniforms drawn at once from the strategy's stream


def update_columns(models: tuple[str, ...] = ARMS) -> tuple[str, ...]:
    """The columns of the ``bandit`` table for arms ``models`` (legacy first).

    ``time_s`` (the tick's time), ``batch_size`` (rewards applied at this tick), then
    ``pulls_<model>`` and ``successes_<model>`` for each arm (counts after the update),
    ``routed_<model>`` for each arm (requests routed since the previous tick) and
    ``candidate_share`` (the candidates' share of those, NaN when none).
    """
    counts = [f"{kind}_{m}" for m in models for kind in ("pulls", "successes")]
    return ("time_s", "batch_size", *counts, *(f"routed_{m}" for m in models), "candidate_share")


# the ``bandit`` table of a legacy-and-candidate bandit: one row per update tick
UPDATE_COLUMNS = update_columns(ARMS)


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
        self.models = config.arm_models  # legacy is arm 0
        self._names = np.array(self.models)
        self._arm = {m: k for k, m in enumerate(self.models)}
        n = self.n_arms = len(self.models)
        self.successes = [0] * n
        self.trials = [0] * n
        self.routed = [0] * n
        self._block: np.ndarray | None = None
        self._pos = 0
        self.update_interval_s = float(config.update_interval_s)
        if self.update_interval_s > 0:
            self.batch_routing = True
            self.tick_interval_s = self.update_interval_s
        # rewards waiting for the next update tick (batched updates only)
        self._pending_successes = [0] * n
        self._pending_trials = [0] * n
        self._routed_at_update = [0] * n
        self.updates = 0  # ticks that applied at least one reward
        self.applied = 0  # rewards applied at those ticks
        self._update_rows: list[tuple] = []
        self.outcomes: ArmOutcomes | None = None  # several candidates: each arm's outcomes for the report

    def start(self, ctx) -> None:
        """Start; with several candidates, also collect each arm's outcomes for the report."""
        super().start(ctx)
        if self.n_arms > 2:
            scenario = getattr(ctx, "scenario", None)
            self.outcomes = ArmOutcomes(self.models, scenario.warmup_s if scenario is not None else 0.0)

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
        """Beta parameters (alpha, beta) of every arm (legacy first), from the applied counts."""
        a = self.config.prior_alpha
        b = self.config.prior_beta
        s, t = self.successes, self.trials
        return [a + s[k] for k in range(self.n_arms)], [b + t[k] - s[k] for k in range(self.n_arms)]

    def _greedy_arm(self) -> int:
        """The arm with the highest observed reward rate (an untried arm counts as best; ties: the first)."""
        means = [
            (self.successes[k] / self.trials[k]) if self.trials[k] else float("inf")
            for k in range(self.n_arms)
        ]
        return int(np.argmax(means))

    def _coin_arm(self, u: float) -> int:
        """The arm an exploring request takes from its coin ``u``: each arm with probability 1/n.

        The last arm for the lowest ``u``, down to legacy for the highest, so with two
        arms the candidate is ``u < 0.5``.
        """
        return self.n_arms - 1 - min(int(u * self.n_arms), self.n_arms - 1)

    def route(self, request: Request) -> str:
        """The guardrail share goes to legacy; other requests to the arm the algorithm picks."""
        cfg = self.config
        if self.outcomes is not None:
            self.outcomes.routed(request.request_id, request.time_s)
        u_guard, u_explore = self._draws()
        if u_guard < cfg.min_legacy_share:
            arm = 0
        elif cfg.algorithm == "thompson":
            alpha, beta = self._posterior()
            theta = self.ctx.rng.beta(alpha, beta)
            arm = int(np.argmax(theta))  # ties: the first (legacy)
        else:
            if u_explore < cfg.epsilon:
                arm = self._coin_arm(self._draws()[0])
            else:
                arm = self._greedy_arm()
        self.routed[arm] += 1
        return self.models[arm]

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
        if self.outcomes is not None:
            self.outcomes.routed_batch(request_ids, times_s)
        k = len(request_ids)
        arms = np.zeros(k, dtype=np.intp)
        if k:
            if self.config.algorithm == "thompson":
                self._thompson_batch(arms)
            else:
                self._greedy_batch(arms)
        for j, count in enumerate(np.bincount(arms, minlength=self.n_arms).tolist()):
            self.routed[j] += count
        return self._names[arms]

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
                shape = (free.size, self.n_arms)
                theta = rng.beta(np.broadcast_to(alpha, shape), np.broadcast_to(beta, shape))
                arms[done + free] = np.argmax(theta, axis=1)
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
            seg[np.flatnonzero(explore)[:coins.size]] = self._coin_arms(u[coins, 0])
            self._pos = lo + int(starts[-1]) + 1 + int(explore[-1])
            if spill:
                self._refill()
                seg[-1] = self._coin_arm(self._block[0, 0])
                self._pos = 1
            arms[done:done + m] = seg
            done += m

    def _coin_arms(self, u: np.ndarray) -> np.ndarray:
        """:meth:`_coin_arm` of each of ``u``."""
        n = self.n_arms
        return n - 1 - np.minimum((u * n).astype(np.intp), n - 1)

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
        k = self._arm[model]
        if self.outcomes is not None:
            self.outcomes.add(request_id, model, time_s, status, latency_ms)
        if self.wants_labels:
            if status != OK:
                self._count(k, 0)  # no answer, no conversion; ok requests wait for their label
            return
        self._count(k, int(status == OK and latency_ms <= self.ctx.slo_latency_ms))

    def on_label(self, request_id: int, model: str, time_s: float, prediction: float, label: float) -> None:
        """Count a labelled request as a pull, rewarded when the user converted."""
        k = self._arm[model]
        self._count(k, int(self.ctx.converted(request_id, model)))

    def tick(self, now_s: float) -> None:
        """Apply the rewards buffered since the last update and record the update (batched updates only)."""
        if not self.batch_routing:
            return
        n = self.n_arms
        batch = sum(self._pending_trials)
        for k in range(n):
            self.trials[k] += self._pending_trials[k]
            self.successes[k] += self._pending_successes[k]
        self._pending_trials = [0] * n
        self._pending_successes = [0] * n
        if batch:
            self.updates += 1
            self.applied += batch
        routed = [self.routed[k] - self._routed_at_update[k] for k in range(n)]
        self._routed_at_update = list(self.routed)
        total = sum(routed)
        share = (total - routed[0]) / total if total else float("nan")
        counts = [c for k in range(n) for c in (self.trials[k], self.successes[k])]
        self._update_rows.append((float(now_s), batch, *counts, *routed, share))

    # ------------------------------------------------------------------ reporting
    def candidate_weight(self) -> float:
        """Share of requests routed to the candidates so far, in percent."""
        total = sum(self.routed)
        return 100.0 * (total - self.routed[0]) / total if total else 0.0

    def tables(self) -> dict[str, Any]:
        """With batched updates, ``tables['bandit']``: one row per update tick (see ``UPDATE_COLUMNS``)."""
        if not self.batch_routing:
            return {}
        names = update_columns(self.models)
        columns = list(zip(*self._update_rows, strict=True)) or [()] * len(names)
        frame = pd.DataFrame({
            name: np.asarray(values, dtype=np.float64 if name in ("time_s", "candidate_share") else np.int64)
            for name, values in zip(names, columns, strict=True)
        })
        return {"bandit": frame}

    def summary(self) -> dict[str, Any]:
        """Pulls and reward rates per arm, the best arm and the regret.

        ``routed_<model>`` and ``reward_rate_<model>`` for every arm, legacy first.
        Reward rates count every reward received, including those still waiting for
        an update at the end of the run. With batched updates, also the interval,
        the updates that applied rewards, their mean size and the rewards left
        waiting (``pending_rewards``). With several candidates, also
        ``arm_comparison``: each candidate against legacy (see
        :func:`~workbench.strategies.simple.arm_comparison`), without a sample-ratio
        check, since the allocation is adaptive.
        """
        out = super().summary()
        n = self.n_arms
        successes = [self.successes[k] + self._pending_successes[k] for k in range(n)]
        trials = [self.trials[k] + self._pending_trials[k] for k in range(n)]
        means = [successes[k] / trials[k] if trials[k] else float("nan") for k in range(n)]
        best = int(np.nanargmax(means)) if not all(np.isnan(means)) else 0
        # regret against always choosing the best arm, with the arms' observed reward rates
        regret = sum(
            self.routed[k] * (means[best] - means[k]) for k in range(n) if not np.isnan(means[k])
        )
        out.update(algorithm=self.config.algorithm, reward=self.config.reward)
        out.update({f"routed_{m}": self.routed[k] for k, m in enumerate(self.models)})
        out.update({f"reward_rate_{m}": means[k] for k, m in enumerate(self.models)})
        out.update(better_arm=self.models[best], regret=float(regret))
        if self.batch_routing:
            out.update(
                update_interval_s=self.update_interval_s,
                updates=self.updates,
                mean_batch_size=self.applied / self.updates if self.updates else float("nan"),
                pending_rewards=sum(self._pending_trials),
            )
        if self.outcomes is not None:
            out["arm_comparison"] = arm_comparison(self.outcomes, tuple(self.routed), "requests")
        return out
