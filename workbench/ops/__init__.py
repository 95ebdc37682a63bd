"""Operations around the models.

Horizontal autoscaling, dependency graphs and their failure propagation,
structured-log analysis, and scenarios calibrated from a service's request log.
"""

from .autoscaling import (
    HorizontalAutoscaler,
    ResourceSample,
    ScalingDecision,
    hpa_desired_replicas,
    replica_seconds,
    resource_summary,
    samples_to_frame,
)
from .calibrate import Calibration, calibrate, calibrate_prometheus, read_prometheus_matrix
from .dependencies import AffectedNodes, DependencyCycle, DependencyMonitor, widest_path
from .logs import LogAnalyzer, LogReport, StructuredLogWriter, requests_to_log_records

__all__ = [
    "AffectedNodes", "Calibration", "DependencyCycle", "DependencyMonitor", "HorizontalAutoscaler",
    "LogAnalyzer", "LogReport", "ResourceSample", "ScalingDecision", "StructuredLogWriter",
    "calibrate", "calibrate_prometheus", "hpa_desired_replicas", "read_prometheus_matrix", "replica_seconds", "requests_to_log_records", "resource_summary",
    "samples_to_frame", "widest_path",
]
