"""Monitoring and operations figures render on real runs, without warnings, with units."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import workbench
from workbench import viz
from workbench.engine.dependency_impacts import build_monitor
from workbench.registry import ModelRegistry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def _render(fig, tmp_path, name):
    fig.savefig(tmp_path / f"{name}.png")
    for ax in fig.axes:
        if ax.axison:
            assert "(" in ax.get_ylabel(), ax.get_ylabel()  # a unit on every label


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_drift_scores(tmp_path):
    r = workbench.run(scen("gradual_data_drift"))
    fig = viz.drift_scores(r.tables["drift"], r.events, end_s=r.scenario.duration_s)
    _render(fig, tmp_path, "drift")
    x2 = [line for line in fig.axes[0].lines if line.get_label() == "x2"][0]
    assert np.nanmax(x2.get_ydata()) > 0.5  # the drifted feature climbs past the threshold


def test_replicas_vs_load(tmp_path):
    r = workbench.run(scen("autoscaling_diurnal"), overrides={"duration_s": 1800})
    fig = viz.replicas_vs_load(r.tables["resources"], r.requests, events=r.events)
    _render(fig, tmp_path, "fleet")
    assert fig.axes[1].get_ylabel() == "arrivals (requests/s)"
    with pytest.raises(ValueError, match="model"):
        viz.replicas_vs_load(r.tables["resources"], model="nope")


def test_interleaving_credit(tmp_path):
    r = workbench.run(scen("interleaving_recommenders"), overrides={"duration_s": 300})
    fig = viz.interleaving_credit(r.tables["interleaving"])
    _render(fig, tmp_path, "credit")
    delta = fig.axes[1].lines[0].get_ydata()
    assert delta[-1] == pytest.approx(r.summary.strategy.get("delta_ab"))


def test_dependency_graph_and_lineage(tmp_path):
    sc = workbench.load_scenario(scen("feature_store_outage"))
    mon = build_monitor(sc)
    mon.update_model_health("feature_store", False)
    impacts = {n: mon.impact(n) for n in mon.graph.nodes}
    g = mon.graph
    _render(viz.dependency_graph(g, impacts), tmp_path, "deps")
    assert "_layer" not in g.nodes["legacy"]  # the caller's graph is untouched
    reg = ModelRegistry(tmp_path / "reg.sqlite")
    root = reg.register("ranker", {"alpha": 1})
    child = reg.register("ranker", {"alpha": 2}, parent=root)
    reg.register("ranker", {"alpha": 3}, parent=root)
    reg.promote(child, "production")
    fig = viz.version_lineage(reg.graph(), production={"ranker": reg.production("ranker")})
    fig.savefig(tmp_path / "lineage.png")
    with pytest.raises(ValueError, match="graph"):
        viz.version_lineage(g.__class__())
