"""The model protocol, and an adapter so a real estimator (e.g. scikit-learn) can be served."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Model", "EstimatorModel", "as_model"]


@runtime_checkable
class Model(Protocol):
    """Anything with ``predict(features) -> predictions`` on a 2-D array of rows."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions for a 2-D array of rows, one value per row."""


class EstimatorModel:
    """Serve a fitted estimator with ``predict(X)`` (scikit-learn or alike).

    The simulation calls ``predict`` once on every arrival's features (vectorised), so
    even a slow estimator costs one batch call per run, not one call per request.
    ``columns`` selects and orders the scenario's features the estimator was fitted on.
    """

    def __init__(self, estimator, columns: list[int] | None = None):
        if not hasattr(estimator, "predict"):
            raise TypeError(f"{type(estimator).__name__} has no predict method")
        self.estimator = estimator
        self.columns = columns

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The estimator's predictions for a 2-D array of rows, one value per row."""
        X = np.atleast_2d(np.asarray(features, dtype=float))
        if self.columns is not None:
            X = X[:, self.columns]
        out = np.asarray(self.estimator.predict(X), dtype=float).reshape(-1)
        if out.shape[0] != X.shape[0]:
            raise ValueError(
                f"{type(self.estimator).__name__}.predict returned {out.shape[0]} values "
                f"for {X.shape[0]} rows"
            )
        return out


def as_model(obj) -> Model:
    """Wrap ``obj`` as a :class:`Model` (estimators get :class:`EstimatorModel`)."""
    if isinstance(obj, EstimatorModel):
        return obj
    if hasattr(obj, "predict"):
        return EstimatorModel(obj)
    raise TypeError(f"{type(obj).__name__} is not a model: it has no predict method")
