"""Import and export progressive-delivery specs: Argo Rollouts and Flagger.

:func:`from_argo` turns an Argo ``Rollout`` (canary or blueGreen) and its
``AnalysisTemplate`` documents into a :class:`~workbench.scenario.Scenario` built on a
base scenario (the traffic and the models), with the list of what could not be mapped;
:func:`to_argo` writes a scenario's strategy back as Argo YAML. :func:`from_flagger` and
:func:`to_flagger` do the same for Flagger's ``Canary``. Submodules load on first use,
so ``import workbench.rollouts`` does not import PyYAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["from_argo", "to_argo", "from_flagger", "to_flagger"]

_EXPORTS = {
    "from_argo": "argo",
    "to_argo": "argo",
    "from_flagger": "flagger",
    "to_flagger": "flagger",
}

if TYPE_CHECKING:
    from .argo import from_argo, to_argo
    from .flagger import from_flagger, to_flagger


def __getattr__(name: str) -> Any:
    """Load ``from_argo`` / ``to_argo`` / ``from_flagger`` / ``to_flagger`` from their submodule on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
