"""Operations around the models.

Horizontal autoscaling, dependency graphs and their failure propagation, and
structured-log analysis.
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
from .dependencies import AffectedNodes, DependencyCycle, DependencyMonitor, widest_path
from .logs import LogAnalyzer, LogReport, StructuredLogWriter, requests_to_log_records

__all__ = [
    "AffectedNodes", "DependencyCycle", "DependencyMonitor", "HorizontalAutoscaler",
    "LogAnalyzer", "LogReport", "ResourceSample", "ScalingDecision", "StructuredLogWriter",
    "hpa_desired_replicas", "replica_seconds", "requests_to_log_records", "resource_summary",
    "samples_to_frame", "widest_path",
]
