"""Monitors that take plain values, fed by the engine.

Health, performance from late labels, feature drift, streaming change detectors and
quantile sketches.

Operations tools (autoscaling, dependency graphs, log analysis) live in
:mod:`workbench.ops`; scoring monitors against known faults in
:mod:`workbench.experiments.detection`.
"""

from .detectors import DETECTOR_NAMES, Cusum, RiverDetector, make_detector
from .drift import DriftReport, FeatureDriftMonitor, SlidingDriftMonitor, population_stability_index
from .health import HealthMonitor, HealthSnapshot
from .performance import PerformanceMonitor, PerformanceStatus
from .quantiles import LogHistogramSketch, P2Quantile

__all__ = [
    "Cusum", "DETECTOR_NAMES", "DriftReport", "FeatureDriftMonitor", "HealthMonitor",
    "HealthSnapshot", "LogHistogramSketch", "P2Quantile", "PerformanceMonitor",
    "PerformanceStatus", "RiverDetector", "SlidingDriftMonitor", "make_detector",
    "population_stability_index",
]
