"""Failure propagation through the dependency graph, over the scenario's outage windows.

Outage windows are known up front, so the impact of every failed node on every
model is computed once per segment of time between outage boundaries, with the
same :class:`~workbench.ops.dependencies.DependencyMonitor` a live system
would use (best path's weakest link). The engine turns impacts into per-request
failure draws and records each change of the failed set as an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ops.dependencies import DependencyMonitor
from ..scenario import Outage, Scenario

__all__ = ["ImpactSegment", "dependency_segments", "build_monitor"]


@dataclass(frozen=True)
class ImpactSegment:
    """From ``start_s`` to ``end_s`` the nodes in ``failed`` are down; ``impacts`` per node."""

    start_s: float
    end_s: float
    failed: frozenset
    impacts: dict


def build_monitor(scenario: Scenario) -> DependencyMonitor:
    """A dependency monitor holding the scenario's models, services and dependency edges."""
    mon = DependencyMonitor()
    for name in list(scenario.models) + list(scenario.services):
        mon.add_node(name)
    for dep in scenario.dependencies:
        mon.register_dependency(dep.source, dep.target, dep.criticality)
    return mon


def dependency_segments(scenario: Scenario) -> list[ImpactSegment]:
    """Segments of time with at least one failed node, with every node's impact."""
    if not scenario.dependencies:
        return []
    outages = [f for f in scenario.faults if isinstance(f, Outage)]
    if not outages:
        return []
    bounds = sorted({0.0, scenario.duration_s, *(f.start_s for f in outages),
                     *(min(f.end_s, scenario.duration_s) for f in outages)})
    mon = build_monitor(scenario)
    segments = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        down = {f.target for f in outages if f.start_s <= start < f.end_s}
        for node in list(mon.failed):
            if node not in down:
                mon.update_model_health(node, True)
        for node in down:
            if mon.is_healthy(node):
                mon.update_model_health(node, False)
        if down:
            impacts = {n: mon.impact(n) for n in mon.graph.nodes}
            segments.append(ImpactSegment(start, end, frozenset(down), impacts))
    return segments
