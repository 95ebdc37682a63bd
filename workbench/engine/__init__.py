"""The SimPy engine (the only part of the core that knows about SimPy)."""

from .simulation import EVENT_COLUMNS, Simulation
from .traffic import Traffic, generate_traffic

__all__ = ["Simulation", "Traffic", "generate_traffic", "EVENT_COLUMNS"]
