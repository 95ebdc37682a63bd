"""Interactive playground for notebooks: an ipywidgets control panel over the public API.

- :func:`control_panel` -- the panel: Run with a progress bar above seven tabs. The
  control tabs (``setup``, ``faults and drift``, ``gates and rollback``, ``monitors``)
  are built from :data:`CONTROLS` grouped by :data:`TABS`; ``results`` shows the
  summary and plots of the last run beside the previous one, ``compare`` two to four
  strategies on one seed, ``risk`` the same strategies over many seeds with intervals.
  Buttons save the scenario as TOML and load one, export the strategy as Argo Rollouts
  or Flagger YAML, and save an HTML report of the last run. Plots follow the panel's
  width.
- :func:`state_to_overrides` -- the one pure mapping from the panel's state (a plain
  dict of widget values) to scenario overrides; :func:`state_from_scenario` is its
  starting point, :func:`applicable` says which controls apply to a strategy, and
  :func:`save_state` / :func:`load_state` write and read a scenario file. They live in
  :mod:`workbench.widgets.mapping`, which does not import ipywidgets, so they are
  tested without a browser.

``control_panel`` is imported lazily: the mapping works where ipywidgets is missing.
"""

from __future__ import annotations

from typing import Any

from .mapping import (
    CONTROLS,
    STRATEGY_KINDS,
    TABS,
    Control,
    applicable,
    compare_specs,
    find_scenarios,
    load_state,
    save_state,
    scenario_from_state,
    state_from_scenario,
    state_to_overrides,
    strategy_table,
)

__all__ = [
    "CONTROLS",
    "STRATEGY_KINDS",
    "TABS",
    "Control",
    "ControlPanel",
    "applicable",
    "compare_specs",
    "control_panel",
    "find_scenarios",
    "load_state",
    "save_state",
    "scenario_from_state",
    "state_from_scenario",
    "state_to_overrides",
    "strategy_table",
]


def __getattr__(name: str) -> Any:
    if name in ("control_panel", "ControlPanel"):
        from . import panel

        return getattr(panel, name)
    raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")
