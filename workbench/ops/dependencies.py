"""Dependency graph of models and services, with failure propagation.

Edges point **upstream -> downstream**: ``register_dependency("feature_store",
"ranker", 0.9)`` means *the ranker depends on the feature store* with criticality
0.9 (0 = the ranker does not care, 1 = the ranker cannot answer without it).
Failures therefore travel along the edge direction.

The strength of an indirect dependency is the best path's weakest link: the
maximum over directed paths of the minimum edge criticality (maximum bottleneck or
widest path), computed with a max-min variant of Dijkstra's algorithm. A common pitfall is
``shortest_path(weight=criticality)``, which minimises the *sum* of criticalities
and so prefers the weakest chains.

A node's *impact* is how badly it is hit by the current failures: 1.0 when the
node itself is down, otherwise the largest bottleneck criticality from any failed
node to it, 0.0 when healthy. Impacts are cached and recomputed only when health
or the graph changes, so :meth:`DependencyMonitor.impact` is O(1) per request.
Recovery is automatic: bring the failed node back and its downstream impacts fall
back to 0 (a monitor that only ever marks nodes down leaves its downstream
nodes degraded long after the outage ends).

Cycles are allowed (the widest-path search handles them) but *reported*: a
registration that closes a cycle returns the cycle, appends a
:class:`DependencyCycle` to :attr:`DependencyMonitor.cycle_warnings`, and
:meth:`DependencyMonitor.cycles` lists every elementary cycle of the graph.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["AffectedNodes", "DependencyCycle", "DependencyMonitor", "widest_path"]


@dataclass(frozen=True)
class DependencyCycle:
    """A cycle closed by registering ``edge``.

    ``cycle`` lists its nodes in edge order, starting and ending at ``edge[0]``.
    """

    edge: tuple[Hashable, Hashable]
    cycle: tuple[Hashable, ...]


class AffectedNodes(frozenset):
    """The set of nodes affected by a health update (compares equal to a plain set).

    :attr:`impacts` maps each one to its impact *after* the update.
    """

    impacts: Mapping[Hashable, float]

    def __new__(cls, impacts: Mapping[Hashable, float]):
        """Build the set from the keys of ``impacts``, keeping the mapping."""
        obj = super().__new__(cls, impacts.keys())
        obj.impacts = dict(impacts)
        return obj

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v:g}" for k, v in sorted(self.impacts.items(), key=str))
        return f"AffectedNodes({{{inner}}})"


def _check_criticality(value: float) -> float:
    try:
        c = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"criticality: must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= c <= 1.0):
        raise ValueError(f"criticality: must be in [0, 1], got {value!r}")
    return c


def widest_path(
    graph: nx.DiGraph,
    sources: Mapping[Hashable, float] | Iterable[Hashable],
    weight: str = "criticality",
) -> tuple[dict[Hashable, float], dict[Hashable, Hashable | None]]:
    """Maximum-bottleneck values from one or several sources (max-min Dijkstra).

    Parameters
    ----------
    graph : networkx.DiGraph
        Edge attribute ``weight`` in [0, 1].
    sources : mapping node -> starting capacity, or iterable of nodes (capacity 1).

    Returns
    -------
    width : dict
        For every reachable node, ``max over paths min(start capacity, edge weights)``;
        nodes with width 0 are omitted.
    predecessor : dict
        Predecessor on one best path (``None`` for a source).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph()
    >>> g.add_edge("a", "b", criticality=0.9); g.add_edge("b", "c", criticality=0.8)
    >>> g.add_edge("a", "c", criticality=0.3)
    >>> widest_path(g, ["a"])[0]["c"]
    0.8
    """
    if not isinstance(sources, Mapping):
        sources = {s: 1.0 for s in sources}
    width: dict[Hashable, float] = {}
    pred: dict[Hashable, Hashable | None] = {}
    heap: list[tuple[float, int, Hashable]] = []
    counter = 0  # tie-breaker: nodes need not be comparable
    for node, cap in sources.items():
        if cap > width.get(node, 0.0):
            width[node] = float(cap)
            pred[node] = None
            heapq.heappush(heap, (-float(cap), counter, node))
            counter += 1
    done: set[Hashable] = set()
    while heap:
        neg_w, _, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        w = -neg_w
        for nbr, attrs in graph.succ[node].items():
            cand = min(w, attrs.get(weight, 0.0))
            if cand > width.get(nbr, 0.0):
                width[nbr] = cand
                pred[nbr] = node
                heapq.heappush(heap, (-cand, counter, nbr))
                counter += 1
    return width, pred


class DependencyMonitor:
    """Models and services as a DiGraph (upstream -> downstream) with criticalities.

    Examples
    --------
    The ranker reads the feature store through the embedding service (0.9, 0.8) and
    directly but optionally (0.3). The chain's weakest link is 0.8, not 0.3:

    >>> deps = DependencyMonitor()
    >>> deps.register_dependency("feature_store", "embeddings", 0.9)
    >>> deps.register_dependency("embeddings", "ranker", 0.8)
    >>> deps.register_dependency("feature_store", "ranker", 0.3)
    >>> deps.path_criticality("feature_store", "ranker")
    0.8
    >>> hit = deps.update_model_health("feature_store", False)
    >>> sorted(hit), hit.impacts["ranker"]
    (['embeddings', 'feature_store', 'ranker'], 0.8)
    >>> deps.update_model_health("feature_store", True).impacts["ranker"]
    0.0
    """

    def __init__(self) -> None:
        import networkx as nx

        self._graph = nx.DiGraph()
        self._down: set[Hashable] = set()
        self._impact: dict[Hashable, float] | None = {}
        self.cycle_warnings: list[DependencyCycle] = []

    # -- graph -----------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """A copy of the dependency graph.

        Edges carry the attribute ``criticality``, nodes the attribute ``healthy``.
        """
        g = self._graph.copy()
        for node in g.nodes:
            g.nodes[node]["healthy"] = node not in self._down
        return g

    def add_node(self, name: Hashable) -> None:
        """Declare a model or service with no dependencies yet."""
        self._graph.add_node(name)

    def register_dependency(
        self, source: Hashable, target: Hashable, criticality: float
    ) -> DependencyCycle | None:
        """Declare that ``target`` depends on ``source`` (edge source -> target).

        Registering an existing edge replaces its criticality. Returns the
        :class:`DependencyCycle` this edge closes (also appended to
        :attr:`cycle_warnings`), else ``None``; a cycle never raises.
        """
        import networkx as nx

        c = _check_criticality(criticality)
        closes = None
        if source == target:
            closes = DependencyCycle((source, target), (source, source))
        elif (
            not self._graph.has_edge(source, target)
            and source in self._graph
            and target in self._graph
            and nx.has_path(self._graph, target, source)
        ):
            back = nx.shortest_path(self._graph, target, source)
            closes = DependencyCycle((source, target), (source, *back))
        self._graph.add_edge(source, target, criticality=c)
        if closes is not None:
            self.cycle_warnings.append(closes)
        self._impact = None
        return closes

    def remove_dependency(self, source: Hashable, target: Hashable) -> None:
        """Remove the edge source -> target (``ValueError`` if absent)."""
        if not self._graph.has_edge(source, target):
            raise ValueError(f"no dependency {source!r} -> {target!r}")
        self._graph.remove_edge(source, target)
        self._impact = None

    def cycles(self) -> list[list[Hashable]]:
        """Every elementary cycle currently in the graph (``networkx.simple_cycles``)."""
        import networkx as nx

        return [list(c) for c in nx.simple_cycles(self._graph)]

    def upstream(self, name: Hashable) -> list[Hashable]:
        """Direct dependencies of ``name``."""
        self._require(name, "name")
        return list(self._graph.predecessors(name))

    def downstream(self, name: Hashable) -> list[Hashable]:
        """Direct dependents of ``name``."""
        self._require(name, "name")
        return list(self._graph.successors(name))

    def _require(self, node: Hashable, arg: str) -> None:
        if node not in self._graph:
            raise ValueError(f"{arg}: unknown node {node!r}")

    # -- bottleneck paths ------------------------------------------------------
    def path_criticality(self, source: Hashable, target: Hashable) -> float:
        """How strongly ``target`` depends on ``source``, directly or not.

        The maximum over directed paths source -> ... -> target of the path's
        minimum edge criticality (1.0 when ``source == target``; 0.0 when no path).
        """
        self._require(source, "source")
        self._require(target, "target")
        if source == target:
            return 1.0
        width, _ = widest_path(self._graph, [source])
        return width.get(target, 0.0)

    def critical_path(self, source: Hashable, target: Hashable) -> list[Hashable]:
        """One path achieving :meth:`path_criticality` (empty list when there is none)."""
        self._require(source, "source")
        self._require(target, "target")
        if source == target:
            return [source]
        width, pred = widest_path(self._graph, [source])
        if target not in width:
            return []
        path = [target]
        while pred[path[-1]] is not None:
            path.append(pred[path[-1]])
        return path[::-1]

    # -- health ----------------------------------------------------------------
    def update_model_health(self, name: Hashable, healthy: bool) -> AffectedNodes:
        """Mark ``name`` healthy or failed and return its blast radius.

        Unknown names are added as isolated nodes. The returned set holds ``name``
        and every node downstream of it with a non-zero path criticality; its
        ``impacts`` give each one's impact after the update (so on recovery they
        fall to 0 unless another failure still reaches them).
        """
        self._graph.add_node(name)
        if healthy:
            self._down.discard(name)
        else:
            self._down.add(name)
        self._impact = None
        reach, _ = widest_path(self._graph, [name])
        impacts = self._impacts()
        return AffectedNodes({n: impacts.get(n, 0.0) for n in reach})

    def is_healthy(self, name: Hashable) -> bool:
        """Own health flag of ``name`` (unknown nodes are healthy)."""
        return name not in self._down

    @property
    def failed(self) -> frozenset:
        """Nodes currently marked failed."""
        return frozenset(self._down)

    def _impacts(self) -> dict[Hashable, float]:
        if self._impact is None:
            width, _ = widest_path(self._graph, self._down)
            self._impact = width
        return self._impact

    def impact(self, name: Hashable) -> float:
        """Impact on ``name`` in [0, 1]: 0 healthy, 1 down or hard-dependent on a failed node.

        Cached; unknown nodes return 0.0.
        """
        return self._impacts().get(name, 0.0)

    def status(self) -> pd.DataFrame:
        """One row per node: ``node``, ``healthy`` (own flag), ``impact``."""
        impacts = self._impacts()
        rows = [
            {"node": n, "healthy": n not in self._down, "impact": impacts.get(n, 0.0)}
            for n in self._graph.nodes
        ]
        return pd.DataFrame(rows, columns=["node", "healthy", "impact"])
