"""Models served in the simulation: synthetic ones, and adapters for real estimators."""

from .adapters import EstimatorModel, Model, as_model
from .synthetic import SyntheticModel

__all__ = ["Model", "SyntheticModel", "EstimatorModel", "as_model"]
