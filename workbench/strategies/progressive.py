"""Progressive delivery (Argo Rollouts / Flagger style) and blue/green.

``progressive`` walks through weighted steps. Every ``interval_s`` it analyses the
current step's window (since the step started) with threshold gates and/or a
statistical judge. A failed measurement counts towards ``failure_limit`` (Argo's
semantics: the rollout aborts when failures exceed the limit; with ``consecutive``
a pass resets the count, so one flaky window does not roll back a good release). Inconclusive measurements hold the step, fail or pass, as
configured; never a silent pass. Rollback goes through the engine's single rollback
path: every request goes to legacy from the next one on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scenario import BlueGreenStrategy, ProgressiveStrategy
from .base import Request, Strategy, arm_indices, arm_names
from .canary import Cohort
from .gates import FAIL, INCONCLUSIVE, PASS, analyse, build_judge

__all__ = ["Progressive", "BlueGreen"]


class Progressive(Strategy):
    """Weighted steps, each analysed every ``interval_s``.

    The candidate is promoted after the last step and rolled back when failed
    analyses exceed ``failure_limit``.
    """

    kind = "progressive"

    def __init__(self, config: ProgressiveStrategy):
        super().__init__()
        self.config = config
        self.tick_interval_s = config.interval_s
        self.cohort = Cohort(config.salt)
        self.judge = build_judge(config.judge)
        self.step_index = 0
        self.weight = config.steps[0].weight
        self.step_start_s = 0.0
        self.previous_step_start_s = 0.0
        self.failures = 0
        self.inconclusives = 0
        self.analyses = 0
        self.promoted_at_s: float | None = None
        self.first_failure_s: float | None = None
        self.plan: list[dict[str, Any]] = []

    def start(self, ctx) -> None:
        """Plan the steps' durations and announce the first step."""
        super().start(ctx)
        self.plan = self._plan_steps(ctx)
        ctx.emit("step", f"step 1/{len(self.config.steps)}: weight {self.weight:g}%", model="candidate",
                 step=1, weight=self.weight)

    def _plan_steps(self, ctx) -> list[dict[str, Any]]:
        """How long each step must last to detect the error-rate gate's breach (80% power).

        Uses :func:`workbench.stats.canary_step_duration_s` at the scenario's mean rate
        and legacy's configured error rate; a step whose ``pause_s`` is shorter is
        recorded as a ``planning`` event, so a design review sees it before the run.
        """
        scenario = ctx.scenario
        gate = next((g for g in self.config.gates if g.metric == "error_rate" and g.direction == "max"
                     and not g.relative_to_legacy), None)
        if scenario is None or gate is None:
            return []
        from ..stats import canary_step_duration_s

        base = scenario.models["legacy"].error_rate
        effect = gate.threshold - base
        if effect <= 0:
            return []
        plan = []
        for i, step in enumerate(self.config.steps):
            if step.pause_s is None or not 0 < step.weight < 100:
                continue
            needed = canary_step_duration_s(scenario.traffic.rate_per_s, step.weight,
                                            baseline_rate=max(base, 1e-6), effect=effect)
            plan.append({"step": i + 1, "weight": step.weight, "pause_s": step.pause_s, "needed_s": needed})
            if needed > step.pause_s:
                ctx.emit("planning", f"step {i + 1} ({step.weight:g}%) lasts {step.pause_s:g} s but needs "
                         f"{needed:.0f} s to detect an error rate of {gate.threshold:g} against {base:g} "
                         "with 80% power", model="candidate", time_s=0.0, **plan[-1])
        return plan

    def route(self, request: Request) -> str:
        """The cohort at the current step's weight gets the candidate (everyone once promoted)."""
        if self.state == "promoted":
            return "candidate"
        return "candidate" if self.cohort.contains(request.user_id, self.weight) else "legacy"

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: the weight changes only in :meth:`tick`, so it is one for all."""
        return arm_names(self._candidate_batch(user_ids))

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """:meth:`route_batch` as model indices."""
        return arm_indices(self._candidate_batch(user_ids), model_index)

    def _candidate_batch(self, user_ids: np.ndarray) -> np.ndarray:
        """Which requests of a batch go to the candidate: all once promoted, else the cohort at the weight."""
        if self.state == "promoted":
            return np.ones(len(user_ids), dtype=bool)
        return self.cohort.buckets(user_ids) < round(self.weight * 100)

    def candidate_weight(self) -> float:
        """The current step's weight in percent (100 once promoted, 0 after a rollback)."""
        if self.state == "rolled_back":
            return 0.0
        return 100.0 if self.state == "promoted" else self.weight

    def tick(self, now_s: float) -> None:
        """Analyse the current step, then roll back, hold, or advance a step."""
        if self.state != "running":
            return
        ctx = self.ctx
        start = self.step_start_s
        if self.config.window_s is not None:
            start = max(start, now_s - self.config.window_s)
        legacy_window = None
        if self.weight >= 100.0:  # legacy gets no traffic: compare with its previous-step window
            legacy_window = (self.previous_step_start_s, self.step_start_s)
        m = analyse(ctx, self.config.gates, self.judge, start, legacy_window)
        self.analyses += 1
        outcome = m.outcome
        if outcome == INCONCLUSIVE:
            self.inconclusives += 1
            policy = self.config.inconclusive
            limit = self.config.inconclusive_limit
            if policy == "fail" or (limit is not None and self.inconclusives > limit):
                outcome = FAIL
            elif policy == "pass":
                outcome = PASS
        kind = "gate_failed" if outcome == FAIL else "analysis"
        ctx.emit(kind, f"step {self.step_index + 1} ({self.weight:g}%): {m.outcome}: {m.reason}",
                 model="candidate", step=self.step_index + 1, weight=self.weight,
                 treated_as=outcome, **m.details())
        if outcome == FAIL:
            self.failures += 1
            if self.first_failure_s is None:
                self.first_failure_s = now_s
            if self.failures > self.config.failure_limit:
                ctx.rollback(
                    f"{self.failures} failed analyses > failure_limit {self.config.failure_limit}: {m.reason}",
                    trigger="strategy:progressive",
                    step=self.step_index + 1,
                    weight=self.weight,
                    **m.details(),
                )
            return
        if outcome == PASS:
            if self.config.consecutive:
                self.failures = 0
            self.inconclusives = 0
        else:
            return  # hold: inconclusive, stay on this step
        step = self.config.steps[self.step_index]
        elapsed = now_s - self.step_start_s
        if step.pause_s is not None and elapsed + 1e-9 < step.pause_s:
            return
        if self.step_index + 1 < len(self.config.steps):
            self.step_index += 1
            nxt = self.config.steps[self.step_index]
            self.weight = nxt.weight
            self.previous_step_start_s = self.step_start_s
            self.step_start_s = now_s
            ctx.emit("step", f"step {self.step_index + 1}/{len(self.config.steps)}: weight {self.weight:g}%",
                     model="candidate", step=self.step_index + 1, weight=self.weight)
            last = self.step_index + 1 == len(self.config.steps)
            if last and nxt.weight >= 100.0 and nxt.pause_s is None:
                self._promote(now_s)  # setWeight 100 as the last step is the promotion (Argo)
        else:
            self._promote(now_s)

    def _promote(self, now_s: float) -> None:
        self.state = "promoted"
        self.promoted_at_s = now_s
        self.weight = 100.0
        self.ctx.emit("promotion", "all steps passed: candidate promoted to 100%", model="candidate",
                      analyses=self.analyses)

    def summary(self) -> dict[str, Any]:
        """Step reached, analyses, promotion time, first failure and the step plan."""
        out = super().summary()
        out.update(
            step=self.step_index + 1,
            steps=len(self.config.steps),
            weight=self.candidate_weight(),
            analyses=self.analyses,
            promoted_at_s=self.promoted_at_s,
            first_failure_s=self.first_failure_s,
            judge=self.config.judge.kind,
            step_plan=self.plan,
        )
        return out


class BlueGreen(Strategy):
    """All traffic on legacy (blue), then all on the candidate (green) from ``switch_s``.

    After the switch, gates are analysed every ``interval_s`` over the time since the
    switch; more than ``failure_limit`` failures switch back (rollback).
    """

    kind = "blue_green"

    def __init__(self, config: BlueGreenStrategy):
        super().__init__()
        self.config = config
        self.tick_interval_s = config.interval_s
        self.switched = False
        self.failures = 0
        self.switch_s = config.switch_s
        self.first_failure_s: float | None = None

    def route(self, request: Request) -> str:
        """Legacy until ``switch_s``, then the candidate for every request."""
        if not self.switched and request.time_s >= self.switch_s:
            self.switched = True
            self.ctx.emit("switch", "traffic switched from legacy (blue) to candidate (green)",
                          model="candidate", time_s=self.switch_s)
        return "candidate" if self.switched else "legacy"

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: legacy before the first request at or after ``switch_s``."""
        k = len(request_ids)
        if self.switched:
            return np.full(k, "candidate")
        out = np.full(k, "legacy", dtype="<U9")
        after = np.asarray(times_s, dtype=np.float64) >= self.switch_s
        if after.any():
            first = int(after.argmax())
            self.route(Request(int(request_ids[first]), float(times_s[first]), int(user_ids[first]), features))
            out[first:] = "candidate"
        return out

    def candidate_weight(self) -> float:
        """100 after the switch while running, 0 otherwise."""
        return 100.0 if self.switched and self.state == "running" else 0.0

    def tick(self, now_s: float) -> None:
        """After the switch, analyse the gates against blue's last window; roll back on failures."""
        if not self.switched or self.state != "running" or not self.config.gates:
            return
        start = max(self.switch_s, now_s - self.config.window_s)
        blue = (max(0.0, self.switch_s - self.config.window_s), self.switch_s)
        m = analyse(self.ctx, self.config.gates, None, start, blue)
        kind = "gate_failed" if m.outcome == FAIL else "analysis"
        self.ctx.emit(kind, f"green analysis: {m.outcome}: {m.reason}", model="candidate", **m.details())
        if m.outcome == FAIL:
            self.failures += 1
            if self.first_failure_s is None:
                self.first_failure_s = now_s
            if self.failures > self.config.failure_limit:
                self.ctx.rollback(f"green failed its gates: {m.reason}", trigger="strategy:blue_green", **m.details())
        elif m.outcome == PASS:
            self.failures = 0

    def summary(self) -> dict[str, Any]:
        """Switch time and first failure (``final_state`` is ``switched`` while running)."""
        out = super().summary()
        if self.state == "running" and self.switched:
            out["final_state"] = "switched"
        out.update(switch_s=self.switch_s, first_failure_s=self.first_failure_s)
        return out
