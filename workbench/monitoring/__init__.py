"""Monitors that take plain values (the engine feeds them): health, performance from late
labels, feature drift, streaming change detectors, detection quality, autoscaling,
dependencies and log analysis."""

from .autoscaling import (
    HorizontalAutoscaler,
    ResourceSample,
    ScalingDecision,
    hpa_desired_replicas,
    replica_seconds,
    resource_summary,
    samples_to_frame,
)
from .dependencies import AffectedNodes, DependencyCycle, DependencyMonitor, widest_path
from .detection import (
    DetectionReport,
    DetectionSummary,
    FaultWindow,
    detection_table,
    evaluate_detection,
    summarize_detection,
)
from .detectors import DETECTOR_NAMES, Cusum, RiverDetector, make_detector
from .drift import DriftReport, FeatureDriftMonitor, SlidingDriftMonitor, population_stability_index
from .health import HealthMonitor, HealthSnapshot
from .logs import LogAnalyzer, LogReport, StructuredLogWriter, requests_to_log_records
from .performance import PerformanceMonitor, PerformanceStatus
from .quantiles import LogHistogramSketch, P2Quantile

__all__ = [
    "AffectedNodes", "Cusum", "DETECTOR_NAMES", "DependencyCycle", "DependencyMonitor",
    "DetectionReport", "DetectionSummary", "DriftReport", "FaultWindow", "FeatureDriftMonitor",
    "HealthMonitor", "HealthSnapshot", "HorizontalAutoscaler", "LogAnalyzer", "LogHistogramSketch",
    "LogReport", "P2Quantile", "PerformanceMonitor", "PerformanceStatus", "ResourceSample",
    "RiverDetector", "ScalingDecision", "SlidingDriftMonitor", "StructuredLogWriter",
    "detection_table", "evaluate_detection", "hpa_desired_replicas", "make_detector",
    "population_stability_index", "replica_seconds", "requests_to_log_records",
    "resource_summary", "samples_to_frame", "summarize_detection", "widest_path",
]
