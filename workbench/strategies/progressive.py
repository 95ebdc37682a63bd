"""Progressive delivery (Argo Rollouts / Flagger style) and blue/green.

``progressive`` walks through weighted steps. A weight is a share of requests (a
seeded draw per request, as Argo's ``setWeight`` and Flagger's ``stepWeight``) or,
with ``split = "users"``, of users (a sticky cohort). Two kinds of analysis decide,
alone or together:

* gates and judges (Flagger's checks): every ``interval_s`` the current step's
  window is analysed; a failed check counts towards ``failure_limit`` (the rollout
  aborts when failures exceed it; with ``consecutive`` a pass resets the count, so
  one flaky window does not roll back a good release); inconclusive checks hold
  the step, fail or pass, as configured, never a silent pass; a step advances on
  a passing check once its pause has passed;
* Argo's AnalysisTemplates (:mod:`workbench.strategies.analysis`): background
  analysis from a starting step to promotion, and inline analysis that blocks a
  step. Failed or Error aborts; Inconclusive pauses the rollout.

Without either, steps advance on their pauses, as Argo's do. Rollback goes through
the engine's single rollback path: every request goes to legacy from the next one on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..scenario import BlueGreenStrategy, ProgressiveStrategy
from .analysis import (
    ERROR,
    ERROR_RETRY_S,
    FAILED,
    RUNNING,
    SUCCESSFUL,
    AnalysisRun,
    tick_resolution_s,
)
from .base import Request, Strategy, UniformStream, arm_indices, arm_names
from .canary import Cohort
from .gates import FAIL, INCONCLUSIVE, PASS, analyse, build_judge

__all__ = ["Progressive", "BlueGreen"]

_EPS_S = 1e-9


def _template_durations(templates) -> list[float | None]:
    """Every interval and initial delay of the templates' metrics, and Argo's error retry."""
    out: list[float | None] = [ERROR_RETRY_S] if templates else []
    for template in templates.values():
        for metric in template.metrics:
            out += [metric.interval_s, metric.initial_delay_s]
    return out


def _start_run(strategy, name: str, templates: tuple[str, ...], now_s: float) -> AnalysisRun:
    """Start an analysis run of ``strategy``'s templates: kept in ``strategy.runs`` and announced."""
    run = AnalysisRun(name, [(t, strategy.config.analysis_templates[t]) for t in templates], now_s)
    strategy.runs.append(run)
    strategy.ctx.emit("analysis_run", f"{name}: analysis {', '.join(templates)} started", model="candidate",
                      time_s=now_s, run=name, templates=list(templates))
    return run


class _RunEvents:
    """Emit a run's new measurements as events (a failed one as ``gate_failed``)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.seen: dict[int, int] = {}

    def emit(self, run: AnalysisRun, **details: Any) -> None:
        seen = self.seen.get(id(run), 0)
        for m in run.measurements[seen:]:
            kind = "gate_failed" if m.phase in (FAILED, ERROR) else "analysis"
            value = "no values" if math.isnan(m.value) else f"{m.value:.4g}"
            self.ctx.emit(kind, f"{m.run}: {m.metric} = {value} (n={m.samples}): {m.phase}: {m.reason}",
                          model="candidate", time_s=m.time_s, run=m.run, metric=m.metric, phase=m.phase,
                          value=m.value, samples=m.samples, **details)
        self.seen[id(run)] = len(run.measurements)


class Progressive(Strategy):
    """Weighted steps, analysed by gates and judges, Argo analysis templates, or both.

    The candidate is promoted after the last step; it is rolled back when failed
    checks exceed ``failure_limit`` or an analysis run ends Failed or Error.
    """

    kind = "progressive"

    def __init__(self, config: ProgressiveStrategy):
        super().__init__()
        self.config = config
        self.checks = config.uses_checks()
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
        self.step_shares: list[dict[str, Any]] = []
        self.runs: list[AnalysisRun] = []
        self.background: AnalysisRun | None = None
        self.inline: AnalysisRun | None = None
        self.step_phase = "pause"
        self.phase_start_s = 0.0
        self.held_until_s: float | None = None
        self.next_check_s = config.interval_s
        self._uniform: UniformStream | None = None
        self._routed = [0, 0]  # requests of the current step routed to the candidate, and in all
        self._pending_rollback: tuple[str, dict[str, Any]] | None = None
        self.rolled_back_at_s: float | None = None
        self.tick_interval_s = self._tick_resolution()

    def _tick_resolution(self) -> float:
        """Ticks land on every check, pause, manual answer and measurement (their common divisor)."""
        c = self.config
        durations: list[float | None] = [c.interval_s] if self.checks else [s.pause_s for s in c.steps]
        uses_templates = bool(c.background_analysis) or any(s.analysis for s in c.steps)
        if any(s.manual for s in c.steps) or (uses_templates and c.inconclusive == "hold"):
            durations.append(c.manual_pause_s)
        if uses_templates:
            durations += _template_durations(c.analysis_templates)
        return tick_resolution_s(durations) or c.interval_s

    def start(self, ctx) -> None:
        """Plan the steps' durations, announce the first step and start its analyses."""
        super().start(ctx)
        if self.config.split == "requests":
            self._uniform = UniformStream(ctx.rng)
        self._events = _RunEvents(ctx)
        self.plan = self._plan_steps(ctx)
        c = self.config
        if not self.checks and not c.background_analysis and not any(s.analysis for s in c.steps):
            ctx.emit("planning", "no gates, judge or analysis: steps advance on their pauses alone, whatever "
                     "the candidate does", model="candidate", time_s=0.0)
        self._enter_step(0, 0.0, announce_share=False)
        if not self.checks:
            self._advance_steps(0.0)

    def _plan_steps(self, ctx) -> list[dict[str, Any]]:
        """How long each step must last to detect the error-rate gate's breach (80% power).

        Uses :func:`workbench.stats.canary_step_duration_s` at the scenario's mean rate,
        the step's expected share of requests (its weight with a request split; the
        cohort's share of the users' activity with a user split) and legacy's
        configured error rate; a step whose ``pause_s`` is shorter is recorded as a
        ``planning`` event, so a design review sees it before the run.
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
            share = self._expected_share_percent(ctx, step.weight)
            if share <= 0:
                continue
            needed = canary_step_duration_s(scenario.traffic.rate_per_s, share,
                                            baseline_rate=max(base, 1e-6), effect=effect)
            plan.append({"step": i + 1, "weight": step.weight, "request_share": share,
                         "pause_s": step.pause_s, "needed_s": needed})
            if needed > step.pause_s:
                split = "" if share == step.weight else f", {share:.3g}% of requests with a user split,"
                ctx.emit("planning", f"step {i + 1} ({step.weight:g}%{split}) lasts {step.pause_s:g} s but needs "
                         f"{needed:.0f} s to detect an error rate of {gate.threshold:g} against {base:g} "
                         "with 80% power", model="candidate", time_s=0.0, **plan[-1])
        return plan

    def _expected_share_percent(self, ctx, weight: float) -> float:
        """The share of requests (percent) a step at ``weight`` sends to the candidate."""
        if self.config.split == "requests":
            return weight
        activity = getattr(ctx, "user_activity", None)
        if activity is None:
            return weight
        user_ids, probabilities, rest = activity()
        inside = self.cohort.buckets(user_ids) < round(weight * 100)
        return 100.0 * (float(probabilities[inside].sum()) + rest * weight / 100.0)

    # -- routing -----------------------------------------------------------------

    def route(self, request: Request) -> str:
        """The candidate for the step's share of requests (or cohort of users); everyone once promoted."""
        if self.state == "promoted":
            return "candidate"
        if self._uniform is not None:
            hit = self._uniform.next() * 100.0 < self.weight
        else:
            hit = self.cohort.contains(request.user_id, self.weight)
        self._routed[0] += hit
        self._routed[1] += 1
        return "candidate" if hit else "legacy"

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: the weight changes only in :meth:`tick`, so it is one for all."""
        return arm_names(self._candidate_batch(user_ids))

    def route_batch_indices(self, request_ids, times_s, user_ids, features, model_index) -> np.ndarray:
        """:meth:`route_batch` as model indices."""
        return arm_indices(self._candidate_batch(user_ids), model_index)

    def _candidate_batch(self, user_ids: np.ndarray) -> np.ndarray:
        """Which requests of a batch go to the candidate (the draws consumed as :meth:`route` does)."""
        if self.state == "promoted":
            return np.ones(len(user_ids), dtype=bool)
        if self._uniform is not None:
            hit = self._uniform.take(len(user_ids)) * 100.0 < self.weight
        else:
            hit = self.cohort.buckets(user_ids) < round(self.weight * 100)
        self._routed[0] += int(np.count_nonzero(hit))
        self._routed[1] += hit.size
        return hit

    def candidate_weight(self) -> float:
        """The current step's weight in percent (100 once promoted, 0 after a rollback)."""
        if self.state == "rolled_back":
            return 0.0
        return 100.0 if self.state == "promoted" else self.weight

    # -- steps -------------------------------------------------------------------

    def _realised_share(self) -> dict[str, Any]:
        """The candidate's share of the requests routed during the current step."""
        n_candidate, total = self._routed
        return {"realised_share": 100.0 * n_candidate / total if total else math.nan,
                "candidate_requests": n_candidate, "requests": total}

    def _enter_step(self, index: int, now_s: float, announce_share: bool = True) -> None:
        """Set the step's weight, record the previous step's realised share, start its analyses."""
        previous = ""
        if announce_share:
            done = self._realised_share()
            done.update(step=self.step_index + 1, weight=self.weight, start_s=self.step_start_s, end_s=now_s)
            self.step_shares.append(done)
            if done["requests"]:
                previous = (f" (step {self.step_index + 1} sent {done['realised_share']:.3g}% of "
                            f"{done['requests']} requests at weight {self.weight:g}%)")
        self._routed = [0, 0]
        self.step_index = index
        step = self.config.steps[index]
        self.weight = step.weight
        if announce_share:
            self.previous_step_start_s = self.step_start_s
        self.step_start_s = now_s
        n = len(self.config.steps)
        self.ctx.emit("step", f"step {index + 1}/{n}: weight {self.weight:g}%{previous}", model="candidate",
                      step=index + 1, weight=self.weight, split=self.config.split,
                      **({k: v for k, v in self.step_shares[-1].items() if k in ("realised_share", "requests")}
                         if announce_share else {}))
        c = self.config
        if c.background_analysis and self.background is None and index + 1 >= c.background_starting_step:
            self.background = self._new_run("background", c.background_analysis, now_s)
        self.inline = self._new_run(f"step {index + 1}", step.analysis, now_s) if step.analysis else None
        self.step_phase = "analysis" if self.inline is not None else "pause"
        self.phase_start_s = now_s

    def _new_run(self, name: str, templates: tuple[str, ...], now_s: float) -> AnalysisRun:
        return _start_run(self, name, templates, now_s)

    def _run_ended(self, run: AnalysisRun, now_s: float) -> str:
        """Report a finished run; abort on Failed or Error. Returns what the rollout does next."""
        info = run.summary()
        if run.phase in (FAILED, ERROR):
            if self.first_failure_s is None:
                self.first_failure_s = now_s
            self.ctx.rollback(f"analysis {run.name} {run.phase}: {run.message}", trigger="strategy:progressive",
                              step=self.step_index + 1, weight=self.weight, analysis=info)
            return "abort"
        self.ctx.emit("analysis_run", f"{run.name}: {run.phase}: {run.message}", model="candidate",
                      time_s=now_s, **info)
        if run.phase == SUCCESSFUL:
            return "go"
        policy = self.config.inconclusive  # Argo pauses the rollout; a person decides
        if policy == "fail":
            self.ctx.rollback(f"analysis {run.name} inconclusive (inconclusive = fail): {run.message}",
                              trigger="strategy:progressive", step=self.step_index + 1, weight=self.weight,
                              analysis=info)
            return "abort"
        if policy == "pass":
            return "go"
        self.held_until_s = now_s + self.config.manual_pause_s
        self.ctx.emit("pause", f"rollout paused on an inconclusive analysis ({run.name}); resumed by a person "
                      f"after {self.config.manual_pause_s:g} s", model="candidate", time_s=now_s)
        return "go"

    def _advance_run(self, run: AnalysisRun, now_s: float) -> str:
        """Measure a run; ``running``, ``go`` (it ended and the rollout goes on) or ``abort``."""
        before = len(run.measurements)
        phase = run.advance(self.ctx, now_s)
        new = run.measurements[before:]
        self.analyses += len(new)
        if self.first_failure_s is None:
            failed = [m.time_s for m in new if m.phase == FAILED and not m.dry_run]
            self.first_failure_s = failed[0] if failed else None
        self._events.emit(run, step=self.step_index + 1, weight=self.weight)
        if phase == RUNNING:
            return "running"
        return self._run_ended(run, now_s)

    def _step_ready(self, now_s: float) -> bool:
        """Walk the step's phases (inline analysis, pause, manual promotion); whether it is done."""
        step = self.config.steps[self.step_index]
        if self.step_phase == "analysis":
            if not self.inline.done and self._advance_run(self.inline, now_s) != "go":
                return False
            if self.held_until_s is not None:  # inconclusive: paused until a person resumes
                return False
            self.step_phase, self.phase_start_s = "pause", now_s
        if self.step_phase == "pause":
            if step.pause_s is not None and now_s - self.phase_start_s + _EPS_S < step.pause_s:
                return False
            self.step_phase, self.phase_start_s = ("manual" if step.manual else "ready"), now_s
        if self.step_phase == "manual":
            if now_s - self.phase_start_s + _EPS_S < self.config.manual_pause_s:
                return False
            self.ctx.emit("resume", f"step {self.step_index + 1}: promoted by a person after "
                          f"{self.config.manual_pause_s:g} s", model="candidate", time_s=now_s)
            self.step_phase = "ready"
        return True

    def _next_step(self, now_s: float) -> None:
        """Enter the next step, or promote after the last."""
        if self.step_index + 1 >= len(self.config.steps):
            self._promote(now_s)
            return
        self._enter_step(self.step_index + 1, now_s)
        nxt = self.config.steps[self.step_index]
        last = self.step_index + 1 == len(self.config.steps)
        if last and nxt.weight >= 100.0 and nxt.pause_s is None and not nxt.manual and not nxt.analysis:
            self._promote(now_s)  # setWeight 100 as the last step is the promotion (Argo)

    def _advance_steps(self, now_s: float) -> None:
        """Without checks: go through every step that is done by now."""
        while self.state == "running" and self.held_until_s is None and self._step_ready(now_s):
            self._next_step(now_s)

    # -- analysis ----------------------------------------------------------------

    def tick(self, now_s: float) -> None:
        """Measure the analyses, then roll back, hold, or advance a step."""
        if self.state != "running":
            return
        if self.background is not None and not self.background.done:
            if self._advance_run(self.background, now_s) == "abort":
                return
        if self.held_until_s is not None:
            if now_s + _EPS_S < self.held_until_s:
                return
            self.held_until_s = None
            self.ctx.emit("resume", "rollout resumed by a person", model="candidate", time_s=now_s)
            if self.background is not None and self.background.done:
                self.background = self._new_run("background", self.config.background_analysis, now_s)
        if not self.checks:
            self._advance_steps(now_s)
        else:
            outcome = None
            if now_s + _EPS_S >= self.next_check_s:
                while self.next_check_s <= now_s + _EPS_S:
                    self.next_check_s += self.config.interval_s
                outcome = self._check(now_s)
            # the step's own phases (inline analysis, pause, manual) move on every tick
            if self.state == "running" and self._step_ready(now_s) and outcome == PASS:
                self._next_step(now_s)
        if self.state == "running" and self.background is not None and not self.background.done:
            self._advance_run(self.background, now_s)  # started by a step entered just now

    def _check(self, now_s: float) -> str:
        """One analysis of gates and judge: counts failures, rolls back past the limit; the outcome."""
        ctx = self.ctx
        if self._pending_rollback is not None:  # Flagger: the count is compared before the next analysis
            reason, details = self._pending_rollback
            ctx.rollback(reason, trigger="strategy:progressive", **details)
            return FAIL
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
                reason = f"{self.failures} failed analyses > failure_limit {self.config.failure_limit}: {m.reason}"
                details = {"step": self.step_index + 1, "weight": self.weight, **m.details()}
                if self.config.rollback_on == "next_check":
                    self._pending_rollback = (reason, details)
                else:
                    ctx.rollback(reason, trigger="strategy:progressive", **details)
            return FAIL
        if outcome == PASS:
            if self.config.consecutive:
                self.failures = 0
            self.inconclusives = 0
        return outcome

    def _promote(self, now_s: float) -> None:
        self.state = "promoted"
        self.promoted_at_s = now_s
        self.weight = 100.0
        if self.background is not None and not self.background.done:
            self.background.terminate(now_s)
            self._events.emit(self.background)
            self.ctx.emit("analysis_run", f"background: {self.background.phase}: {self.background.message}",
                          model="candidate", time_s=now_s, **self.background.summary())
        self.ctx.emit("promotion", "all steps passed: candidate promoted to 100%", model="candidate",
                      analyses=self.analyses)

    def on_rollback(self, now_s: float) -> None:
        """Remember when the rollout ended (the step table's last row ends there)."""
        super().on_rollback(now_s)
        self.rolled_back_at_s = now_s

    def tables(self) -> dict[str, Any]:
        """``steps``: each step's realised request share (the last one too); ``analysis``: every measurement."""
        import pandas as pd

        out = {}
        rows = list(self.step_shares)
        if self._routed[1]:  # the step the run ended on (promoted from, rolled back in, or still running)
            last = self._realised_share()
            end = self.promoted_at_s if self.promoted_at_s is not None else self.rolled_back_at_s
            last.update(step=self.step_index + 1, weight=self.config.steps[self.step_index].weight,
                        start_s=self.step_start_s, end_s=end)
            rows.append(last)
        if rows:
            out["steps"] = pd.DataFrame(rows)
        rows = [m.__dict__ for run in self.runs for m in run.measurements]
        if rows:
            out["analysis"] = pd.DataFrame(rows)
        return out

    def summary(self) -> dict[str, Any]:
        """Step reached, analyses, promotion time, first failure, the step plan and analysis runs."""
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
            split=self.config.split,
        )
        if self.runs:
            out["analysis_runs"] = [run.summary() for run in self.runs]
        return out


class BlueGreen(Strategy):
    """All traffic on legacy (blue), then all on the candidate (green) from the switch.

    The switch happens at ``switch_s`` (Argo's ``autoPromotionSeconds``), or, with
    ``auto_promotion = false``, when a person promotes after ``manual_pause_s``, and
    never before the pre-promotion analysis succeeded (Failed or Error: the
    rollout aborts and green never gets traffic). After the switch, gates are
    analysed every ``interval_s`` over the time since the switch, and the
    post-promotion analysis runs; more than ``failure_limit`` failed gate analyses,
    or a Failed or Error post-promotion analysis, switch back (rollback).
    """

    kind = "blue_green"

    def __init__(self, config: BlueGreenStrategy):
        super().__init__()
        self.config = config
        self.switched = False
        self.failures = 0
        self.switch_s = config.switch_s if config.auto_promotion else config.manual_pause_s
        self.first_failure_s: float | None = None
        self.runs: list[AnalysisRun] = []
        self.pre: AnalysisRun | None = None
        self.post: AnalysisRun | None = None
        self.next_check_s = config.interval_s
        uses_templates = bool(config.pre_promotion_analysis or config.post_promotion_analysis)
        durations: list[float | None] = [config.interval_s]
        if uses_templates:
            durations += _template_durations(config.analysis_templates) + [self.switch_s]
        self.tick_interval_s = tick_resolution_s(durations) or config.interval_s

    def start(self, ctx) -> None:
        """Start the pre-promotion analysis; the switch waits for it."""
        super().start(ctx)
        self._events = _RunEvents(ctx)
        if self.config.pre_promotion_analysis:
            self.planned_switch_s = self.switch_s
            self.switch_s = math.inf  # decided when the pre-promotion analysis ends
            self.pre = self._new_run("pre-promotion", self.config.pre_promotion_analysis, 0.0)

    def _new_run(self, name: str, templates: tuple[str, ...], now_s: float) -> AnalysisRun:
        return _start_run(self, name, templates, now_s)

    def route(self, request: Request) -> str:
        """Legacy until the switch, then the candidate for every request."""
        if not self.switched and request.time_s >= self.switch_s:
            self._switch(self.switch_s)
        return "candidate" if self.switched else "legacy"

    def _switch(self, at_s: float) -> None:
        self.switched = True
        self.ctx.emit("switch", "traffic switched from legacy (blue) to candidate (green)",
                      model="candidate", time_s=at_s)
        if self.config.post_promotion_analysis:
            self.post = self._new_run("post-promotion", self.config.post_promotion_analysis, at_s)

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`route` for a batch: legacy before the first request at or after the switch."""
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

    def _run_phase(self, run: AnalysisRun, now_s: float) -> str:
        phase = run.advance(self.ctx, now_s)
        self._events.emit(run)
        if phase != RUNNING:
            self.ctx.emit("analysis_run", f"{run.name}: {phase}: {run.message}", model="candidate",
                          time_s=now_s, **run.summary())
        return phase

    def tick(self, now_s: float) -> None:
        """Pre-promotion analysis before the switch; after it, post-promotion analysis and gates."""
        if self.state != "running":
            return
        if self.pre is not None and not self.switched and math.isinf(self.switch_s):
            phase = self._run_phase(self.pre, now_s)
            if phase in (FAILED, ERROR):
                self.first_failure_s = now_s
                self.ctx.rollback(f"pre-promotion analysis {phase}: {self.pre.message}; green never switched",
                                  trigger="strategy:blue_green", analysis=self.pre.summary())
                return
            if phase != RUNNING:  # Successful, or Inconclusive: a person promotes after manual_pause_s
                wait = 0.0 if phase == SUCCESSFUL else self.config.manual_pause_s
                self.switch_s = max(self.planned_switch_s, now_s + wait)
        if not self.switched:
            return
        if self.post is not None and not self.post.done:
            phase = self._run_phase(self.post, now_s)
            if phase in (FAILED, ERROR):
                if self.first_failure_s is None:
                    self.first_failure_s = now_s
                self.ctx.rollback(f"post-promotion analysis {phase}: {self.post.message}",
                                  trigger="strategy:blue_green", analysis=self.post.summary())
                return
        if not self.config.gates or now_s + _EPS_S < self.next_check_s:
            return
        while self.next_check_s <= now_s + _EPS_S:
            self.next_check_s += self.config.interval_s
        self._check(now_s)

    def _check(self, now_s: float) -> None:
        """Analyse the gates against blue's last window; roll back on failures."""
        start = max(self.switch_s, now_s - self.config.window_s)
        blue = (max(0.0, self.switch_s - self.config.window_s), self.switch_s)
        m = analyse(self.ctx, self.config.gates, None, start, blue)
        outcome = m.outcome
        if outcome == INCONCLUSIVE and self.config.inconclusive != "hold":
            outcome = FAIL if self.config.inconclusive == "fail" else PASS
        kind = "gate_failed" if outcome == FAIL else "analysis"
        self.ctx.emit(kind, f"green analysis: {m.outcome}: {m.reason}", model="candidate", treated_as=outcome,
                      **m.details())
        if outcome == FAIL:
            self.failures += 1
            if self.first_failure_s is None:
                self.first_failure_s = now_s
            if self.failures > self.config.failure_limit:
                self.ctx.rollback(f"green failed its gates: {m.reason}", trigger="strategy:blue_green", **m.details())
        elif outcome == PASS:
            self.failures = 0

    def tables(self) -> dict[str, Any]:
        """``analysis``: every measurement of the pre- and post-promotion analyses."""
        import pandas as pd

        rows = [m.__dict__ for run in self.runs for m in run.measurements]
        return {"analysis": pd.DataFrame(rows)} if rows else {}

    def summary(self) -> dict[str, Any]:
        """Switch time and first failure (``final_state`` is ``switched`` while running)."""
        out = super().summary()
        if self.state == "running" and self.switched:
            out["final_state"] = "switched"
        out.update(switch_s=self.switch_s if math.isfinite(self.switch_s) else None,
                   first_failure_s=self.first_failure_s)
        if self.runs:
            out["analysis_runs"] = [run.summary() for run in self.runs]
        return out
