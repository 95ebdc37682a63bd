"""The SimPy engine (the only part of the core that knows about SimPy).

:class:`Simulation` is the event loop, :class:`RunContext` the run's shared state and
the strategies' view of it, :func:`build_result` the results builder.
"""

from .context import RunContext
from .results import build_result
from .simulation import EVENT_COLUMNS, Simulation
from .traffic import Traffic, generate_traffic

__all__ = ["Simulation", "RunContext", "build_result", "Traffic", "generate_traffic", "EVENT_COLUMNS"]
