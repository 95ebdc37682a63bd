"""Monitoring and operations figures.

Drift scores, fleet against load, interleaving credit, dependency graphs and version
lineage. DataFrames (or networkx graphs) in, Figures out.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import finish_legend, mark_events, model_color, new_figure, time_axis, use_style
from .timeseries import require_table

__all__ = ["drift_scores", "replicas_vs_load", "interleaving_credit", "dependency_graph", "version_lineage"]


def drift_scores(
    drift: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    end_s: float | None = None,
    time_unit: str = "auto",
) -> Figure:
    """Each feature's drift statistic over time against its threshold, with drift alerts.

    ``drift`` is ``RunResult.tables["drift"]`` (``time_s, feature, test, statistic,
    threshold, drift``). Statistics of different tests have different scales, so each
    test gets its own panel; alerts from ``events`` (``kind == "alert"`` from the drift
    monitor) are marked.
    """
    require_table(drift, "drift", ["time_s", "feature", "test", "statistic", "threshold"])
    end = float(end_s if end_s is not None else (drift["time_s"].max() if len(drift) else 1.0))
    tx = time_axis(end, time_unit)
    tests = [t for t in drift["test"].astype(str).unique() if t not in ("missing", "unknown", "empty")]
    if not tests:
        raise ValueError("drift: no tested features to draw")
    with use_style():
        fig, axes = new_figure(len(tests), 1, height_in=3.4 * len(tests), sharex=True, squeeze=False)
        for ax, test in zip(axes[:, 0], tests, strict=True):
            part = drift[drift["test"].astype(str) == test]
            for feature, rows in part.groupby("feature", sort=True):
                line = ax.plot(tx(rows["time_s"]), rows["statistic"], marker=".", ms=3, label=str(feature))[0]
                flagged = rows[rows["drift"].astype(bool)] if "drift" in rows else rows.iloc[:0]
                ax.scatter(tx(flagged["time_s"]), flagged["statistic"], color=line.get_color(), s=18, zorder=3)
            thresholds = part["threshold"].dropna().unique()
            if thresholds.size == 1:
                ax.axhline(float(thresholds[0]), color="#555555", ls="--", lw=1, label=f"threshold {thresholds[0]:g}")
            handles = []
            if events is not None and len(events):
                alerts = events[(events["kind"] == "alert") & (events["source"] == "monitor:drift")]
                for t in alerts["time_s"]:
                    ax.axvline(tx(t), color="#C44E52", lw=0.8, alpha=0.6)
                handles = mark_events(ax, events, tx, end, kinds=("fault",))
            unit = "p-value" if test in ("ks", "chisquare", "z") else "unitless"
            ax.set_ylabel(f"{test} ({unit})")
            finish_legend(ax, handles, fontsize=8)
        axes[-1, 0].set_xlabel(tx.label)
        axes[-1, 0].set_xlim(0, tx(end))
        fig.suptitle("Feature drift against the reference (filled dots: flagged; red lines: alerts)")
    return fig


def replicas_vs_load(
    resources: pd.DataFrame,
    requests: pd.DataFrame | None = None,
    *,
    model: str = "legacy",
    bin_s: float = 60.0,
    events: pd.DataFrame | None = None,
    time_unit: str = "auto",
) -> Figure:
    """A model's fleet (ready and provisioning replicas, busy replicas) against its load.

    ``resources`` is ``RunResult.tables["resources"]``; with ``requests``, the arrival
    rate to the model per ``bin_s`` is drawn on a second axis.
    """
    require_table(resources, "resources", ["time_s", "model", "replicas", "provisioning", "busy"])
    part = resources[resources["model"] == model]
    if part.empty:
        raise ValueError(f"model: no resource samples for {model!r}")
    end = float(part["time_s"].max()) or 1.0
    tx = time_axis(end, time_unit)
    with use_style():
        fig, ax = new_figure(height_in=3.8)
        t = tx(part["time_s"])
        ax.step(t, part["replicas"] + part["provisioning"], where="post", color="#999999",
                label="replicas paid (incl. provisioning)")
        ax.step(t, part["replicas"], where="post", color=model_color(model), lw=2, label="replicas serving")
        ax.plot(t, part["busy"], color=model_color(model), lw=0.8, alpha=0.6, label="busy replicas")
        ax.set_ylabel("replicas (count)")
        ax.set_xlabel(tx.label)
        ax.set_xlim(0, tx(end))
        ax.set_ylim(0, None)
        if requests is not None and len(requests):
            mine = requests[requests["model"] == model]
            edges = np.arange(0.0, end + bin_s, bin_s)
            counts, _ = np.histogram(mine["time_s"], bins=edges)
            ax2 = ax.twinx()
            ax2.plot(tx(edges[:-1] + bin_s / 2), counts / bin_s, color="#DD8452", lw=1.5, label="arrival rate")
            ax2.set_ylabel("arrivals (requests/s)")
            ax2.set_ylim(0, None)
            ax2.grid(False)
            ax2.legend(loc="upper right", fontsize=8)
        handles = mark_events(ax, events, tx, end, kinds=("fault",)) if events is not None else []
        finish_legend(ax, handles, loc="upper left", fontsize=8)
        ax.set_title(f"{model}: fleet against load")
    return fig


def interleaving_credit(interleaving: pd.DataFrame, *, time_unit: str = "auto") -> Figure:
    """Cumulative wins of each ranker and the running Delta_AB of an interleaving run.

    ``interleaving`` is ``RunResult.tables["interleaving"]`` (``time_s, winner``;
    ``a`` is legacy, ``b`` the candidate). Delta_AB < 0 favours the candidate
    (Chapelle et al. 2012).
    """
    require_table(interleaving, "interleaving", ["time_s", "winner"])
    if interleaving.empty:
        raise ValueError("interleaving: no impressions")
    df = interleaving.sort_values("time_s")
    end = float(df["time_s"].max()) or 1.0
    tx = time_axis(end, time_unit)
    wins_a = (df["winner"] == "a").cumsum().to_numpy()
    wins_b = (df["winner"] == "b").cumsum().to_numpy()
    ties = (df["winner"] == "tie").cumsum().to_numpy()
    total = wins_a + wins_b + ties
    delta = (wins_a + ties / 2) / np.maximum(total, 1) - 0.5
    with use_style():
        fig, (top, bottom) = new_figure(2, 1, height_in=5.2, sharex=True)
        t = tx(df["time_s"])
        top.plot(t, wins_a, color=model_color("legacy"), label="legacy wins (a)")
        top.plot(t, wins_b, color=model_color("candidate"), label="candidate wins (b)")
        top.plot(t, ties, color="#999999", label="ties")
        top.set_ylabel("impressions (count)")
        finish_legend(top, fontsize=8)
        bottom.plot(t, delta, color="#333333")
        bottom.axhline(0, color="#555555", ls="--", lw=1)
        bottom.set_ylabel("Delta_AB (share)")
        bottom.set_xlabel(tx.label)
        bottom.set_xlim(0, tx(end))
        bottom.set_title("Delta_AB < 0: the candidate ranks better", fontsize=10)
        fig.suptitle("Interleaving credit over time")
    return fig


def dependency_graph(graph: nx.DiGraph, impacts: dict | None = None, *, title: str | None = None) -> Figure:
    """Models and services with each edge's criticality; failed or affected nodes coloured.

    ``graph`` is ``DependencyMonitor.graph`` (edges upstream -> downstream with a
    ``criticality`` attribute); ``impacts`` maps nodes to their impact in [0, 1]
    (``DependencyMonitor.impact``), drawn from white (healthy) to red (down).
    """
    if not isinstance(graph, nx.DiGraph):
        raise ValueError(f"graph: expected a networkx DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("graph: no nodes to draw")
    impacts = impacts or {}
    graph = graph.copy()  # layout attributes go on a copy, never on the caller's graph
    layers = {}
    if nx.is_directed_acyclic_graph(graph):
        for k, generation in enumerate(nx.topological_generations(graph)):
            for node in generation:
                layers[node] = k
    if layers:
        for node in graph.nodes:
            graph.nodes[node]["_layer"] = layers[node]
        pos = nx.multipartite_layout(graph, subset_key="_layer", align="horizontal", scale=1.0)
        pos = {n: (x, -y) for n, (x, y) in pos.items()}
    else:
        pos = nx.circular_layout(graph)
    import matplotlib as mpl

    cmap = mpl.colormaps["Reds"]
    colors = [cmap(0.15 + 0.8 * float(impacts.get(n, 0.0))) for n in graph.nodes]
    with use_style({"axes.grid": False}):
        fig, ax = new_figure(width_in=7.5, height_in=4.8)
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=1900, edgecolors="#333333")
        nx.draw_networkx_labels(graph, pos, ax=ax, font_size=8)
        widths = [0.8 + 3.0 * float(d.get("criticality", 0.5)) for _, _, d in graph.edges(data=True)]
        nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, arrowsize=16, node_size=1900,
                               edge_color="#555555")
        labels = {(u, v): f"{d.get('criticality', math.nan):g}" for u, v, d in graph.edges(data=True)}
        nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, ax=ax, font_size=8)
        ax.set_axis_off()
        ax.set_title(title or "Dependencies (edge: upstream -> downstream, label: criticality; red: impact)")
    return fig


def version_lineage(graph: nx.DiGraph, *, production: dict | None = None, title: str | None = None) -> Figure:
    """A model registry's lineage DAG (parent -> child), production versions highlighted.

    ``graph`` is ``ModelRegistry.graph()``; node attributes ``name`` and ``stage`` are
    used when present; ``production`` maps model name to its production version id.
    """
    if not isinstance(graph, nx.DiGraph):
        raise ValueError(f"graph: expected a networkx DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("graph: no versions to draw")
    live = set((production or {}).values())
    graph = graph.copy()
    depth = {}
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        depth[node] = 0 if not preds else 1 + max(depth[p] for p in preds)
    for node in graph.nodes:
        graph.nodes[node]["_depth"] = depth[node]
    pos = nx.multipartite_layout(graph, subset_key="_depth", align="vertical")
    stage_colors = {"production": "#55A868", "staging": "#DD8452", "archived": "#BBBBBB"}
    colors = [stage_colors.get(graph.nodes[n].get("stage"), "#8DA0CB") for n in graph.nodes]
    edge_colors = ["#C44E52" if n in live else "#333333" for n in graph.nodes]
    labels = {n: f"{graph.nodes[n].get('name', '')}\n{str(n)[:8]}\n{graph.nodes[n].get('stage') or ''}"
              for n in graph.nodes}
    with use_style({"axes.grid": False}):
        fig, ax = new_figure(width_in=8.0, height_in=4.2)
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=2300, edgecolors=edge_colors,
                               linewidths=[3.0 if n in live else 1.0 for n in graph.nodes])
        nx.draw_networkx_labels(graph, pos, labels=labels, ax=ax, font_size=7)
        nx.draw_networkx_edges(graph, pos, ax=ax, arrowsize=14, node_size=2300, edge_color="#555555")
        ax.set_axis_off()
        ax.set_title(title or "Version lineage (left: roots; green: production, orange: staging, grey: archived)")
    return fig
