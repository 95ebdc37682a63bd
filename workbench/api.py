"""The public entry points: :func:`run` (one scenario, one seed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .engine import Simulation
from .engine.fast import FastSimulation, supports
from .engine.results import build_result
from .result import RunResult
from .scenario import Scenario, ScenarioError, load_scenario
from .strategies import Strategy

__all__ = ["run", "resolve_scenario", "ENGINES"]

ENGINES = ("auto", "reference", "fast")


def resolve_scenario(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """A :class:`Scenario` from a scenario, a path or a mapping, with overrides applied."""
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(overrides)
    if isinstance(scenario, (str, Path, os.PathLike)):
        return load_scenario(scenario, overrides=overrides)
    return load_scenario(scenario, overrides=overrides)


def run(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any],
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    models: Mapping[str, Any] | None = None,
    strategy: Strategy | None = None,
    progress: Callable[[float], None] | None = None,
    alert_callbacks: list[Callable[[Any], Any]] | None = None,
    engine: str = "auto",
) -> RunResult:
    """Simulate a scenario and return its :class:`~workbench.result.RunResult`.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    seed : int, optional
        Defaults to the scenario's ``seed``. Same scenario and seed, same results.
    overrides : mapping, optional
        Dotted paths to values, e.g. ``{"traffic.rate_per_s": 80}``.
    models : mapping, optional
        Real estimators (anything with ``predict``) to serve instead of synthetic models.
    strategy : Strategy, optional
        A custom strategy object instead of the scenario's ``[strategy]``.
    alert_callbacks : list of callables, optional
        Called with each monitoring alert (a dict); one that raises is logged as an
        ``alert_callback_failed`` event and never stops the run.
    engine : {"auto", "reference", "fast"}
        Which engine simulates the run. ``"reference"`` is the SimPy event loop with
        one event per arrival and service end. ``"fast"`` schedules only the control
        events (strategy ticks, resource samples) and serves the requests with a FIFO
        queue kernel, with the same results bit for bit, several times faster; it
        serves runs without monitoring, rollback policy, autoscaling or real
        estimators, with a ``single``, ``ab``, ``canary``, ``progressive`` or
        ``blue_green`` strategy (:func:`workbench.engine.fast.supports` says why not).
        ``"auto"`` (default) uses the fast engine when it can, else the reference.

    Raises
    ------
    ScenarioError
        With ``engine="fast"`` for a run the fast engine cannot serve (names the reason).

    Examples
    --------
    >>> import workbench
    >>> r = workbench.run({"name": "tiny", "duration_s": 10, "models": {"legacy": {}}}, seed=1)
    >>> r.summary.status_counts["ok"] + r.summary.status_counts["error"] == len(r.requests)
    True
    """
    sc = resolve_scenario(scenario, overrides)
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed}")
    if engine not in ENGINES:
        raise ValueError(f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    engine_class: type[Simulation] | type[FastSimulation] = Simulation
    if engine != "reference":
        reason = supports(sc, strategy, models=models)
        if reason is None:
            engine_class = FastSimulation
        elif engine == "fast":
            raise ScenarioError(f"engine 'fast' cannot run scenario {sc.name!r}: {reason}")
    sim = engine_class(
        sc, seed, models=models, strategy=strategy, progress=progress, alert_callbacks=alert_callbacks
    ).run()
    return build_result(sim)
