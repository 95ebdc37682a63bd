"""Dependency graph: bottleneck paths, failure propagation, recovery and cycles."""

import itertools

import networkx as nx
import numpy as np
import pytest

from workbench.ops.dependencies import (
    AffectedNodes,
    DependencyCycle,
    DependencyMonitor,
    widest_path,
)


def brute_force_bottleneck(g: nx.DiGraph, s, t) -> float:
    best = 0.0
    for path in nx.all_simple_paths(g, s, t):
        best = max(best, min(g.edges[u, v]["criticality"] for u, v in itertools.pairwise(path)))
    return best


@pytest.fixture
def shortest_path_trap():
    """A -> D directly is optional (0.1); A -> B -> D is a strong chain (0.9, 0.8);
    A -> C -> D has a weak link (0.2, 1.0)."""
    deps = DependencyMonitor()
    deps.register_dependency("A", "B", 0.9)
    deps.register_dependency("B", "D", 0.8)
    deps.register_dependency("A", "D", 0.1)
    deps.register_dependency("A", "C", 0.2)
    deps.register_dependency("C", "D", 1.0)
    return deps


def test_path_criticality_is_the_bottleneck_not_the_shortest_path(shortest_path_trap):
    deps = shortest_path_trap
    g = deps.graph
    # the trap: shortest path by summed criticality, then its weakest edge
    sp = nx.shortest_path(g, "A", "D", weight="criticality")
    shortest_path_answer = min(g.edges[u, v]["criticality"] for u, v in itertools.pairwise(sp))
    assert sp == ["A", "D"] and shortest_path_answer == pytest.approx(0.1)
    # the right answer: the best path's weakest link
    assert deps.path_criticality("A", "D") == pytest.approx(0.8)
    assert deps.critical_path("A", "D") == ["A", "B", "D"]
    assert brute_force_bottleneck(g, "A", "D") == pytest.approx(0.8)


def test_path_criticality_edge_cases(shortest_path_trap):
    deps = shortest_path_trap
    assert deps.path_criticality("D", "A") == 0.0  # edges are directed
    assert deps.critical_path("D", "A") == []
    assert deps.path_criticality("B", "B") == 1.0
    with pytest.raises(ValueError, match="source"):
        deps.path_criticality("nope", "A")
    with pytest.raises(ValueError, match="target"):
        deps.path_criticality("A", "nope")


@pytest.mark.parametrize("seed", range(6))
def test_widest_path_matches_brute_force_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    g = nx.gnp_random_graph(9, 0.3, seed=int(rng.integers(1 << 30)), directed=True)
    for u, v in g.edges:
        g.edges[u, v]["criticality"] = float(rng.choice([0.1, 0.25, 0.5, 0.75, 1.0]))
    width, _ = widest_path(g, [0])
    for t in g.nodes:
        if t == 0:
            continue
        assert width.get(t, 0.0) == pytest.approx(brute_force_bottleneck(g, 0, t))


def test_failure_propagates_downstream_with_bottleneck_impact(shortest_path_trap):
    deps = shortest_path_trap
    deps.register_dependency("D", "E", 0.5)
    deps.add_node("Z")  # unrelated
    hit = deps.update_model_health("A", healthy=False)
    assert isinstance(hit, AffectedNodes)
    assert hit == {"A", "B", "C", "D", "E"}  # compares equal to a plain set
    assert hit.impacts == pytest.approx({"A": 1.0, "B": 0.9, "C": 0.2, "D": 0.8, "E": 0.5})
    assert deps.impact("D") == pytest.approx(0.8)
    assert deps.impact("Z") == 0.0
    assert deps.impact("never-registered") == 0.0  # unknown: healthy, no KeyError
    assert not deps.is_healthy("A") and deps.is_healthy("D")  # own flag vs impact


def test_downstream_recovers_when_upstream_recovers(shortest_path_trap):
    deps = shortest_path_trap
    deps.update_model_health("A", False)
    assert deps.impact("D") > 0
    back = deps.update_model_health("A", True)
    assert back == {"A", "B", "C", "D"}
    assert all(v == 0.0 for v in back.impacts.values())
    assert deps.status()["impact"].eq(0.0).all()


def test_overlapping_failures_take_the_worst_and_recover_independently(shortest_path_trap):
    deps = shortest_path_trap
    deps.update_model_health("A", False)
    deps.update_model_health("C", False)
    assert deps.impact("D") == 1.0  # C -> D is hard (1.0) and C is down
    partial = deps.update_model_health("C", True)
    assert partial.impacts["D"] == pytest.approx(0.8)  # still degraded through A -> B -> D
    assert partial.impacts["C"] == pytest.approx(0.2)  # C itself is fine, A still reaches it
    assert deps.failed == frozenset({"A"})


def test_impact_is_cached_and_invalidated_by_changes(shortest_path_trap, monkeypatch):
    deps = shortest_path_trap
    deps.update_model_health("B", False)
    calls = []
    import workbench.ops.dependencies as mod

    real = mod.widest_path

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, "widest_path", counting)
    for _ in range(1000):
        deps.impact("D")
    assert len(calls) == 0  # served from the cache
    deps.register_dependency("B", "E", 0.6)  # graph change invalidates
    assert deps.impact("E") == pytest.approx(0.6)
    assert len(calls) == 1


def test_cycles_are_reported_not_fatal():
    deps = DependencyMonitor()
    assert deps.register_dependency("ranker", "reranker", 0.9) is None
    assert deps.register_dependency("reranker", "cache", 0.7) is None
    closed = deps.register_dependency("cache", "ranker", 0.4)
    assert isinstance(closed, DependencyCycle)
    assert closed.edge == ("cache", "ranker")
    assert closed.cycle == ("cache", "ranker", "reranker", "cache")
    assert deps.cycle_warnings == [closed]
    assert sorted(map(sorted, deps.cycles())) == [["cache", "ranker", "reranker"]]
    # propagation still terminates and is right on the cycle
    hit = deps.update_model_health("ranker", False)
    assert hit.impacts == pytest.approx({"ranker": 1.0, "reranker": 0.9, "cache": 0.7})
    assert deps.path_criticality("reranker", "ranker") == pytest.approx(0.4)
    # re-registering an existing edge of the cycle is not a new report
    deps.register_dependency("cache", "ranker", 0.5)
    assert len(deps.cycle_warnings) == 1
    assert deps.register_dependency("x", "x", 1.0).cycle == ("x", "x")


def test_zero_criticality_edge_does_not_propagate():
    deps = DependencyMonitor()
    deps.register_dependency("logging", "ranker", 0.0)
    assert deps.update_model_health("logging", False) == {"logging"}
    assert deps.impact("ranker") == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high", None])
def test_criticality_must_be_in_unit_interval(bad):
    with pytest.raises(ValueError, match="criticality"):
        DependencyMonitor().register_dependency("a", "b", bad)


def test_remove_dependency_and_neighbours(shortest_path_trap):
    deps = shortest_path_trap
    assert sorted(deps.upstream("D")) == ["A", "B", "C"]
    assert sorted(deps.downstream("A")) == ["B", "C", "D"]
    deps.remove_dependency("B", "D")
    assert deps.path_criticality("A", "D") == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no dependency"):
        deps.remove_dependency("B", "D")
