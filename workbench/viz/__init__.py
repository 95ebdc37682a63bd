"""Figures of a run, drawn from its DataFrames only (never from the engine).

Every function returns a :class:`matplotlib.figure.Figure` built inside
:func:`use_style`, with simulated time on the x axis (seconds for runs up to
10 minutes, minutes beyond) and units on every axis label. Time-series
figures mark the run's ``events``: fault windows shaded, rollout steps
dotted, failed gates as triangles, rollbacks, promotions and switches as
vertical lines.

- :func:`traffic_share` -- share of requests by model, with rollout steps.
- :func:`latency_over_time` -- latency percentiles per model, faults shaded.
- :func:`error_rate_over_time` -- non-ok requests per model.
- :func:`shadow_agreement` -- a shadowed candidate's agreement and health.
- :func:`compare_panel` -- KPI bars of a :func:`workbench.compare` table.
- :func:`p_values_over_time` -- naive vs always-valid p-values at each look.
- :func:`oc_curve` -- detection / false-rollback rate against a swept parameter.
- :func:`policy_comparison` -- operating characteristics of policies on the same seeds.
- :func:`drift_scores` -- each feature's drift statistic against its threshold, alerts marked.
- :func:`replicas_vs_load` -- an autoscaled fleet against the arrival rate.
- :func:`interleaving_credit` -- cumulative wins and Delta_AB of an interleaving run.
- :func:`bandit_regret` -- cumulative regret of a bandit run against its best arm.
- :func:`risk_plot` -- each strategy's risk over many seeds, estimates with intervals.
- :func:`dependency_graph` / :func:`version_lineage` -- networkx drawings.
- :func:`html_report` / :func:`write_html_report` -- a run as one self-contained HTML page.
"""

from .bandit import bandit_regret
from .operations import (
    dependency_graph,
    drift_scores,
    interleaving_credit,
    replicas_vs_load,
    version_lineage,
)
from .panels import COMPARE_METRICS, compare_panel, p_values_over_time, shadow_agreement
from .report import html_report, write_html_report
from .risk import RISK_FIGURES, risk_plot
from .style import MODEL_COLORS, RC_PARAMS, fault_windows, time_axis, use_style
from .sweeps import oc_curve, policy_comparison
from .timeseries import error_rate_over_time, latency_over_time, traffic_share

__all__ = [
    "bandit_regret",
    "dependency_graph",
    "drift_scores",
    "interleaving_credit",
    "replicas_vs_load",
    "version_lineage",
    "COMPARE_METRICS",
    "MODEL_COLORS",
    "RC_PARAMS",
    "compare_panel",
    "error_rate_over_time",
    "fault_windows",
    "html_report",
    "latency_over_time",
    "oc_curve",
    "p_values_over_time",
    "policy_comparison",
    "RISK_FIGURES",
    "risk_plot",
    "shadow_agreement",
    "time_axis",
    "traffic_share",
    "use_style",
    "write_html_report",
]
