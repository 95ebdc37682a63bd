"""Failure propagation through a known dependency graph, segment by segment of outage time.

The graph (``feature_store_outage``): the feature store feeds both models with
criticality 1.0 and the embedding service with 0.6; the embedding service feeds both
models with 0.3. A node's impact is its best path's weakest link from a failed node.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import workbench
from workbench.engine import generate_traffic
from workbench.engine.dependency_impacts import ImpactSegment, build_monitor, dependency_segments
from workbench.engine.draws import CAUSE_UPSTREAM, draw_model

FEATURE_STORE_DOWN = {"legacy": 1.0, "candidate": 1.0, "feature_store": 1.0, "embedding_service": 0.6}
EMBEDDINGS_DOWN = {"legacy": 0.3, "candidate": 0.3, "feature_store": 0.0, "embedding_service": 1.0}
BOTH_DOWN = {"legacy": 1.0, "candidate": 1.0, "feature_store": 1.0, "embedding_service": 1.0}


def outage(target, start_s, duration_s):
    return {"kind": "outage", "target": target, "start_s": start_s, "duration_s": duration_s}


@pytest.fixture(scope="module")
def graph(scenarios_dir):
    return workbench.load_scenario(scenarios_dir / "feature_store_outage.toml")


def test_impacts_of_the_known_graph(graph):
    assert dependency_segments(graph) == [
        ImpactSegment(300.0, 420.0, frozenset({"feature_store"}), FEATURE_STORE_DOWN),
        ImpactSegment(600.0, 780.0, frozenset({"embedding_service"}), EMBEDDINGS_DOWN),
    ]
    mon = build_monitor(graph)
    assert set(mon.graph.nodes) == {"legacy", "candidate", "feature_store", "embedding_service"}
    # the direct edge (1.0) wins over the path through the embedding service (min(0.6, 0.3))
    assert mon.path_criticality("feature_store", "legacy") == 1.0
    assert mon.path_criticality("embedding_service", "candidate") == 0.3


def test_overlapping_outages_split_time_at_every_boundary(graph):
    sc = graph.with_overrides({"faults": [outage("feature_store", 300, 120), outage("embedding_service", 350, 150)]})
    assert dependency_segments(sc) == [
        ImpactSegment(300.0, 350.0, frozenset({"feature_store"}), FEATURE_STORE_DOWN),
        ImpactSegment(350.0, 420.0, frozenset({"feature_store", "embedding_service"}), BOTH_DOWN),
        ImpactSegment(420.0, 500.0, frozenset({"embedding_service"}), EMBEDDINGS_DOWN),
    ]


def test_no_outage_or_no_graph_means_no_segments(graph):
    assert dependency_segments(graph.with_overrides({"faults": []})) == []
    no_graph = workbench.load_scenario({"name": "flat", "duration_s": 100, "models": {"legacy": {}},
                                        "faults": [outage("legacy", 10, 10)]})
    assert dependency_segments(no_graph) == []


def test_an_outage_past_the_run_ends_with_the_run(graph):
    sc = graph.with_overrides({"duration_s": 700, "faults": [outage("embedding_service", 600, 500)]})
    assert dependency_segments(sc) == [ImpactSegment(600.0, 700.0, frozenset({"embedding_service"}),
                                                     EMBEDDINGS_DOWN)]


def test_impacts_become_upstream_failures_in_the_draws(graph):
    sc = graph.with_overrides({"duration_s": 800})
    tr = generate_traffic(sc, 5)
    t = tr.time_s
    fs = (t >= 300) & (t < 420)
    emb = (t >= 600) & (t < 780)
    for name in ("legacy", "candidate"):
        d = draw_model(sc, name, tr, 5)
        upstream = d.cause == CAUSE_UPSTREAM
        assert d.fails[fs].all() and upstream[fs].all()  # impact 1.0: every call fails
        assert upstream[emb].mean() == pytest.approx(0.3, abs=0.03)
        assert not upstream[~(fs | emb)].any()
        np.testing.assert_array_equal(d.fails[upstream], True)


def test_each_change_of_the_failed_set_is_an_event(graph):
    sc = graph.with_overrides({"duration_s": 600, "traffic.rate_per_s": 5,
                               "faults": [outage("feature_store", 300, 120), outage("embedding_service", 350, 150)]})
    ev = workbench.run(sc, seed=1).events
    deps = ev[ev.source == "dependencies"]
    assert list(zip(deps.time_s, deps.kind, strict=True)) == [
        (300.0, "dependency_failure"), (350.0, "dependency_failure"), (420.0, "dependency_failure"),
        (500.0, "dependency_recovered"),
    ]
    failed = [json.loads(d)["failed"] for d in deps.details[deps.kind == "dependency_failure"]]
    assert failed == [["feature_store"], ["embedding_service", "feature_store"], ["embedding_service"]]
