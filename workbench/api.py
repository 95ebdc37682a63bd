"""The public entry points: :func:`run` (one scenario, one seed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .engine import Simulation
from .engine.results import build_result
from .result import RunResult
from .scenario import Scenario, load_scenario
from .strategies import Strategy

__all__ = ["run", "resolve_scenario"]


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
    sim = Simulation(
        sc, seed, models=models, strategy=strategy, progress=progress, alert_callbacks=alert_callbacks
    ).run()
    return build_result(sim)
