"""The SimPy engine (the only part of the core that knows about SimPy).

Two engines share one control plane (:class:`ControlPlane`): :class:`Simulation`,
the reference event loop with one event per arrival and service end, and
:class:`FastSimulation`, which serves requests with the FIFO kernel between control
events and gives the same results for the runs :func:`supports` accepts.
:class:`RunContext` is the run's shared state and the strategies' view of it;
:func:`build_result` the results builder.
"""

from .context import RunContext
from .control import ControlPlane
from .fast import FastSimulation, supports
from .results import build_result
from .simulation import EVENT_COLUMNS, Simulation
from .traffic import Traffic, generate_traffic

__all__ = ["Simulation", "FastSimulation", "ControlPlane", "supports", "RunContext", "build_result",
           "Traffic", "generate_traffic", "EVENT_COLUMNS"]
