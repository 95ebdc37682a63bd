"""Synthetic models: the true signal plus the model's own bias and noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SyntheticModel"]


class SyntheticModel:
    """A model whose prediction is ``signal(X) + bias + noise * z`` with ``z ~ N(0, 1)``.

    ``noise`` is the model's quality knob (lower is better). The noise draws come
    from the generator given, one per row, so the prediction for request ``i`` is
    the same whichever strategy routes it (common random numbers).

    Examples
    --------
    >>> m = SyntheticModel(lambda X: X[:, 0], noise=0.0, bias=1.0, rng=np.random.default_rng(0))
    >>> m.predict(np.array([[1.0], [2.0]])).tolist()
    [2.0, 3.0]
    """

    def __init__(
        self,
        signal: Callable[[np.ndarray], np.ndarray],
        *,
        noise: float,
        bias: float = 0.0,
        rng: np.random.Generator,
    ):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.signal = signal
        self.noise = float(noise)
        self.bias = float(bias)
        self.rng = rng

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Signal plus bias plus Gaussian noise, one value per row (one normal draw per row)."""
        features = np.atleast_2d(np.asarray(features, dtype=float))
        z = self.rng.standard_normal(features.shape[0])
        return self.signal(features) + self.bias + self.noise * z
