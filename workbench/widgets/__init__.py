"""Interactive playground for notebooks: an ipywidgets control panel over the public API.

- :func:`control_panel` -- the panel (scenario picker, strategy and its parameters,
  faults, candidate model, Run with a progress bar, summary and plots, the previous run
  beside the current one, and a compare section for two to four strategies).
- :func:`state_to_overrides` -- the one pure mapping from the panel's state (a plain
  dict of widget values) to scenario overrides; :func:`state_from_scenario` is its
  starting point. Both live in :mod:`workbench.widgets.mapping`, which does not import
  ipywidgets, so they are tested without a browser.

``control_panel`` is imported lazily: the mapping works where ipywidgets is missing.
"""

from __future__ import annotations

from typing import Any

from .mapping import (
    CONTROLS,
    STRATEGY_KINDS,
    Control,
    compare_specs,
    find_scenarios,
    state_from_scenario,
    state_to_overrides,
    strategy_table,
)

__all__ = [
    "CONTROLS",
    "STRATEGY_KINDS",
    "Control",
    "ControlPanel",
    "compare_specs",
    "control_panel",
    "find_scenarios",
    "state_from_scenario",
    "state_to_overrides",
    "strategy_table",
]


def __getattr__(name: str) -> Any:
    if name in ("control_panel", "ControlPanel"):
        from . import panel

        return getattr(panel, name)
    raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")
