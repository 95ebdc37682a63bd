"""Flagger ``Canary`` and ``MetricTemplate`` import (:func:`from_flagger`) and export (:func:`to_flagger`).

A Flagger ``Canary`` describes how a new version is analysed and promoted; the
simulation needs the traffic and the models as well, which come from a base scenario.
:func:`from_flagger` keeps the base's traffic, models, faults and monitoring and
replaces its strategy with the Canary's; it returns the scenario and the list of what
could not be mapped (:class:`~workbench.rollouts.common.SpecWarning`, each naming the
file, line, document and field). :func:`to_flagger` writes a scenario's strategy as a
``Canary`` plus the ``MetricTemplate`` documents its custom checks need; importing that
text again gives an equal scenario.

Semantics
---------
What Flagger does, read from its repository (``docs/gitbook/usage/*.md``,
``pkg/controller/scheduler.go``, ``pkg/controller/scheduler_metrics.go``,
``pkg/apis/flagger/v1beta1/canary.go``, ``pkg/metrics/providers/prometheus.go``), and
how each point is simulated:

* **One check per interval.** Flagger runs ``advanceCanary`` on a ticker of
  ``analysis.interval`` (default 60 s; below 10 s it uses 10 s; canary.go:33, 637-652).
  On the first tick of a new revision it only sets the phase to Progressing
  (scheduler.go:902-930); on the next, at weight 0, it runs the pre-rollout webhooks
  and no metric check (scheduler.go:449-459), then sets the first weight. Every later
  tick runs the rollout webhooks and the metric checks (scheduler.go:461-466,
  752-776) and, when they pass, advances. Simulated time 0 is the tick that sets the
  first weight, so the first check runs at ``interval``.
* **Weights.** With ``stepWeight`` the weight grows by ``stepWeight`` on every
  passing check while it is below ``maxWeight`` (default 100; scheduler.go:41-51,
  565-614), capped at 100, so it may end above ``maxWeight`` (20, 40, 60 for
  ``maxWeight: 50, stepWeight: 20``: deployment-strategies.md:128-142). With
  ``stepWeights`` it walks the list and ``maxWeight`` is the last entry
  (scheduler.go:41-45, 58-88); when both are given ``stepWeight`` sets the increment
  (scheduler.go:60). Without either (and without ``iterations``) the weight never
  moves (scheduler.go:493). Once the weight has reached ``maxWeight``, the next
  passing check promotes (scheduler.go:616-636). Each weight is one step of
  ``pause_s = interval``, and a step advances on a passing check, so the promotion
  comes ``interval x ceil(maxWeight / stepWeight)`` after the first weight, the
  documented ``interval * (maxWeight / stepWeight)`` (deployment-strategies.md:57-62).
  ``stepWeightPromotion`` only moves traffic between two copies of the new version
  after promotion (scheduler.go:508-563): not simulated, with a warning.
* **Failed checks.** A failing or erroring check increments ``status.failedChecks``
  and halts advancement (scheduler.go:461-466); nothing resets it during an analysis
  (only a new revision does, scheduler.go:340-346), so failures are cumulative:
  ``consecutive = false``. At the start of each tick, before analysing,
  ``failedChecks >= threshold`` rolls back (scheduler.go:429-440; ``threshold``
  defaults to 1, canary.go:654-660). The import sets ``failure_limit = threshold - 1``
  and ``rollback_on = "next_check"``: the ``threshold``-th failed check marks the
  rollback and the next check carries it out before analysing, so a candidate that
  fails from the first check is rolled back ``interval x threshold`` after it, the
  documented time (deployment-strategies.md:64-68).
* **No values.** A query with no sample or a NaN result (no traffic: 0/0) is
  ``ErrNoValuesFound`` (prometheus.go:170-171); Flagger logs "Halt advancement no
  values found" and the check fails like any other (scheduler_metrics.go:153-162,
  190-197, 227-234, 316-325). Imported gates are inconclusive with fewer than
  ``min_samples`` requests (default 1: exactly "no values"); ``no_values = "fail"``
  (default) sets ``inconclusive = "fail"`` as Flagger does, ``"hold"`` holds the step
  instead.
* **Builtin metrics** (metrics.md:11-28; queries in pkg/metrics/observers):
  ``request-success-rate`` is the percentage of non-5xx responses, checked with
  ``thresholdRange.min`` / ``.max`` (scheduler_metrics.go:148-182); it becomes a
  ``success_rate`` gate on the fraction (percent / 100). ``request-duration`` is the
  P99 of the request duration in milliseconds (scheduler_metrics.go:184-217): a
  ``latency_p99_ms`` gate. The deprecated ``threshold`` field is a minimum for the
  success rate and a maximum otherwise.
* **Custom metrics** reference a ``MetricTemplate`` by ``templateRef`` (name, and a
  namespace defaulting to the Canary's; scheduler_metrics.go:271-349) or give an
  inline ``query`` (scheduler_metrics.go:219-254). The query's value is checked
  against ``thresholdRange`` (``min`` and ``max`` become two gates). Which simulated
  measure a query reads comes from ``metric_map``, then the template's
  ``rollout-workbench/measure`` annotation (what :func:`to_flagger` writes), then the
  metric's name and query (:func:`~workbench.rollouts.common.guess_measure`); its
  unit from the ``rollout-workbench/unit`` annotation, else the query (``* 100``,
  ``100 -`` or "percent" in the name: a percentage; ``*_seconds`` series: seconds).
  A metric with neither a builtin name, a template nor a query fails every check in
  Flagger (scheduler_metrics.go:346-348): refused on import.
* **Windows.** A metric's ``interval`` is its query range (default ``1m``,
  scheduler_metrics.go:144-146, canary.go:36); it becomes ``window_s``. The strategy
  has one window, so when metrics differ the longest is kept, with a warning. The
  simulated window never reaches back before the current step.
* **Blue/green**: ``iterations`` without ``match`` (canary.go:693-711). Each passing
  check adds an iteration (scheduler.go:682-704); after ``iterations`` of them all
  traffic goes to the canary (scheduler.go:711-732), ``interval x iterations`` after
  the start, and one more check promotes (scheduler.go:734-748). Before the switch
  Flagger checks the canary's load-test traffic, which the simulation does not have:
  it becomes ``blue_green`` with ``switch_s = iterations x interval`` and the gates
  analysed after the switch. The ``kubernetes`` provider forces blue/green with 10
  iterations when none are given (scheduler.go:469-480).
* **Mirroring**: ``mirror: true`` with ``iterations`` copies ``mirrorWeight`` percent
  (default 100) of the requests to the canary during the iterations
  (scheduler.go:686-696, deployment-strategies.md:342-369): a ``shadow`` strategy
  with ``mirror_fraction = mirrorWeight / 100`` (the switch and the checks on mirrored
  calls are not simulated, with a warning). With ``stepWeight``, one mirrored
  interval precedes the first weight (scheduler.go:577-588): not simulated, warned.
* **A/B testing**: ``match`` with ``iterations`` routes the requests matching
  headers or cookies to the canary, ``iterations`` passing checks before promotion
  (scheduler.go:639-680, deployment-strategies.md:166-208). The matching users are a
  sticky cohort (``split = "users"``) of ``match_share`` percent (the
  ``rollout-workbench/match-share`` annotation, else 10), one step per iteration.
* **Session affinity** (deployment-strategies.md:397-496): a user routed to the
  canary stays there. The simulation's ``split = "users"`` keeps a sticky cohort at
  the weight on both sides, which is what ``primaryCookieName`` adds; without it a
  primary user is drawn again on every request, so the canary's share of users grows
  above the weight (warned).
* **skipAnalysis** (or no analysis at all) promotes without analysis at the first
  tick (canary.go:685-690, scheduler.go:778-850): a ``single`` strategy serving the
  candidate.
* **Webhooks** (pre-rollout, rollout, confirm-rollout, confirm-traffic-increase,
  confirm-promotion, post-rollout, rollback, event) are assumed to pass at once and
  are listed as warnings; a load test's traffic is not simulated.

Export writes ``flagger.app/v1beta1`` documents. Settings Flagger has no field for
travel as ``rollout-workbench/*`` annotations (``min-samples`` on the Canary,
``match-share`` for A/B, ``measure`` / ``unit`` / ``relative`` on each generated
MetricTemplate); what cannot be written at all is listed in comments at the top.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..scenario import Scenario, ScenarioError, load_scenario
from ..scenario.schema import validate_mapping
from .common import (
    MEASURES,
    RolloutSpecError,
    WarningList,
    YamlDocument,
    dns_name,
    format_duration,
    guess_measure,
    load_documents,
    parse_duration,
    query_in_seconds,
)

__all__ = [
    "API_VERSION",
    "ANNOTATION_PREFIX",
    "DEFAULT_MATCH_SHARE",
    "from_flagger",
    "to_flagger",
]

API_VERSION = "flagger.app/v1beta1"
ANNOTATION_PREFIX = "rollout-workbench/"
DEFAULT_MATCH_SHARE = 10.0  # percent of users an A/B match condition selects, when nothing says
_DEFAULT_INTERVAL_S = 60.0  # canary.go: AnalysisInterval
_MIN_INTERVAL_S = 10.0  # canary.go: GetAnalysisInterval's floor
_DEFAULT_METRIC_WINDOW_S = 60.0  # canary.go: MetricInterval "1m"
_KUBERNETES_ITERATIONS = 10  # scheduler.go: iterations forced for the kubernetes provider
_BUILTIN = {"request-success-rate": "success_rate", "request-duration": "latency_p99_ms"}
_RATES = ("error_rate", "success_rate", "business_rate")
_LATENCIES = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
_UNITS = {"fraction": 1.0, "percent": 0.01, "ms": 1.0, "s": 1000.0, "": 1.0}

_ANALYSIS_KEYS = {
    "interval", "iterations", "mirror", "mirrorWeight", "maxWeight", "stepWeight", "stepWeights",
    "stepWeightPromotion", "threshold", "primaryReadyThreshold", "canaryReadyThreshold", "alerts",
    "metrics", "webhooks", "match", "sessionAffinity",
}
_METRIC_KEYS = {"name", "interval", "threshold", "thresholdRange", "query", "templateRef", "templateVariables"}
_WEBHOOK_EFFECT = {
    "pre-rollout": "runs before the first weight; a failure counts as a failed check",
    "rollout": "runs with every check; a failure fails the check",
    "": "runs with every check (type rollout); a failure fails the check",
    "confirm-rollout": "gates the start of the analysis",
    "confirm-traffic-increase": "gates every weight increase",
    "confirm-promotion": "gates the promotion",
    "post-rollout": "runs after promotion or rollback",
    "rollback": "can ask for a rollback at any check",
    "event": "receives every event",
}


# ---------------------------------------------------------------------------- reading


def _num(doc: YamlDocument, table: Mapping, path: tuple, key: str, *, integer: bool = False,
         lo: float | None = None, hi: float | None = None, default: Any = None) -> Any:
    """``table[key]`` as a number (an integer when asked) within ``[lo, hi]``, or ``default``."""
    if key not in table or table[key] is None:
        return default
    value = table[key]
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise doc.error(f"expected {'an integer' if integer else 'a number'}, got {value!r}", path + (key,))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
            f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise doc.error(f"must be {bounds}, got {value!r}", path + (key,))
    return value


def _duration(doc: YamlDocument, table: Mapping, path: tuple, key: str, default: float) -> float:
    """``table[key]`` as seconds of a Go duration, or ``default``."""
    if key not in table or table[key] in (None, ""):
        return default
    try:
        return parse_duration(table[key])
    except ValueError as exc:
        raise doc.error(str(exc), path + (key,)) from None


def _table(doc: YamlDocument, table: Mapping, path: tuple, key: str) -> Mapping:
    """``table[key]`` as a mapping ({} when missing)."""
    value = table.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(f"expected a mapping, got {type(value).__name__}", path + (key,))
    return value


def _list(doc: YamlDocument, table: Mapping, path: tuple, key: str) -> list:
    """``table[key]`` as a list ([] when missing)."""
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(f"expected a list, got {type(value).__name__}", path + (key,))
    return value


def _annotations(doc: YamlDocument) -> Mapping:
    """The document's ``metadata.annotations`` ({} when none)."""
    meta = doc.data.get("metadata") if isinstance(doc.data, Mapping) else None
    notes = meta.get("annotations") if isinstance(meta, Mapping) else None
    return notes if isinstance(notes, Mapping) else {}


def _namespace(doc: YamlDocument) -> str:
    meta = doc.data.get("metadata") if isinstance(doc.data, Mapping) else None
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(ns) if ns else ""


def _annotation_number(doc: YamlDocument, key: str, lo: float, hi: float) -> float | None:
    """A numeric ``rollout-workbench/<key>`` annotation of ``doc`` (None when absent)."""
    notes = _annotations(doc)
    full = ANNOTATION_PREFIX + key
    if full not in notes:
        return None
    try:
        value = float(str(notes[full]))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise doc.error(f"must be a number between {lo:g} and {hi:g}, got {notes[full]!r}",
                        ("metadata", "annotations", full))
    return value


def _load(specs: Any, what: str) -> list[YamlDocument]:
    """Documents of one spec (path or YAML text) or of a list of them."""
    if specs is None:
        return []
    if isinstance(specs, str | Path):
        return load_documents(specs, what=what)
    out: list[YamlDocument] = []
    for spec in specs:
        out += load_documents(spec, what=what)
    return out


class _Templates:
    """MetricTemplate documents by namespace and name."""

    def __init__(self, docs: list[YamlDocument], warnings: WarningList):
        self.by_key: dict[tuple[str, str], YamlDocument] = {}
        for doc in docs:
            if doc.kind != "MetricTemplate":
                continue
            if not doc.name:
                raise doc.error("a MetricTemplate needs metadata.name", ("metadata",))
            key = (_namespace(doc), doc.name)
            if key in self.by_key:
                warnings.add("a MetricTemplate of the same name was given before; this one wins", doc=doc,
                             path=("metadata", "name"))
            self.by_key[key] = doc

    def find(self, name: str, namespace: str) -> YamlDocument | None:
        """The template ``namespace/name``; one without a namespace matches any."""
        return self.by_key.get((namespace, name)) or self.by_key.get(("", name)) or next(
            (d for (ns, n), d in self.by_key.items() if n == name and not namespace), None)


# ---------------------------------------------------------------------------- metrics -> gates


def _query_unit(measure: str, name: str, query: str) -> str:
    """The unit a query's value is in, from the query text and the metric's name."""
    text = " ".join((query or "").split())
    if measure in _RATES:
        lowered = (name or "").lower()
        if ("percent" in lowered or "%" in lowered or "* 100" in text or "*100" in text
                or text.startswith("100 -") or text.startswith("100-")):
            return "percent"
        return "fraction"
    if measure in _LATENCIES:
        return "s" if query_in_seconds(query) else "ms"
    return ""


def _custom_measure(name: str, query: str, template: YamlDocument | None, metric_map: Mapping[str, str],
                    doc: YamlDocument, path: tuple) -> tuple[str, str, bool]:
    """Measure, unit and relative flag of a custom metric (map, then annotations, then a guess)."""
    notes = _annotations(template) if template is not None else {}
    where = template or doc
    measure = None
    if metric_map:
        measure = metric_map.get(name) or next(
            (metric_map[k] for k in sorted(metric_map, key=len, reverse=True) if k and k in (query or "")), None)
    if measure is None and ANNOTATION_PREFIX + "measure" in notes:
        measure = str(notes[ANNOTATION_PREFIX + "measure"])
        if measure not in MEASURES:
            raise where.error(f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}",
                              ("metadata", "annotations", ANNOTATION_PREFIX + "measure"))
    if measure is None:
        measure = guess_measure(name, query)
    if measure is None:
        raise doc.error(f"cannot tell which simulated measure metric {name!r} reads; map it with "
                        f"metric_map={{{name!r}: measure}} (one of {', '.join(MEASURES)})", path)
    unit = notes.get(ANNOTATION_PREFIX + "unit")
    if unit is None:
        unit = _query_unit(measure, name, query)
    elif unit not in _UNITS:
        raise where.error(f"unknown unit {unit!r}; expected one of fraction, percent, ms, s",
                          ("metadata", "annotations", ANNOTATION_PREFIX + "unit"))
    relative = str(notes.get(ANNOTATION_PREFIX + "relative", "false")).lower() == "true"
    return measure, str(unit), relative


def _metric_source(doc: YamlDocument, metric: Mapping, path: tuple, name: str, templates: _Templates,
                   metric_map: Mapping[str, str], warnings: WarningList) -> tuple[str, str, bool]:
    """Measure, unit and relative flag of a metric: builtin by name, else its template or query."""
    ref = _table(doc, metric, path, "templateRef")
    query = metric.get("query") or ""
    if not isinstance(query, str):
        raise doc.error("expected the query text", path + ("query",))
    if name in _BUILTIN:
        if ref or query:
            warnings.add(f"{name} is a builtin check; Flagger also runs the template or query given here, "
                         "which is not simulated", doc=doc, path=path + ("templateRef" if ref else "query",))
        measure = _BUILTIN[name]
        return measure, "percent" if measure == "success_rate" else "ms", False
    if not ref and not query:
        raise doc.error("needs templateRef or query (Flagger fails this check every time)", path)
    template = None
    if ref:
        tname = ref.get("name")
        if not isinstance(tname, str) or not tname:
            raise doc.error("templateRef needs a name", path + ("templateRef", "name"))
        tns = str(ref.get("namespace") or _namespace(doc))
        template = templates.find(tname, tns)
        if template is None:
            where = f"{tns}/{tname}" if tns else tname
            raise doc.error(f"MetricTemplate {where!r} not found; pass its file in metric_templates",
                            path + ("templateRef", "name"))
        spec = template.data.get("spec") if isinstance(template.data, Mapping) else None
        query = spec.get("query", "") if isinstance(spec, Mapping) else ""
        if not isinstance(query, str) or not query:
            raise template.error("a MetricTemplate needs spec.query", ("spec", "query"))
    return _custom_measure(name, query, template, metric_map, doc, path)


def _bounds(doc: YamlDocument, metric: Mapping, path: tuple, lower_by_default: bool) -> tuple[Any, Any]:
    """``thresholdRange`` min and max (the deprecated ``threshold`` as one of them)."""
    rng = _table(doc, metric, path, "thresholdRange")
    lo = _num(doc, rng, path + ("thresholdRange",), "min")
    hi = _num(doc, rng, path + ("thresholdRange",), "max")
    if not rng:
        legacy = _num(doc, metric, path, "threshold")
        if legacy is None:
            raise doc.error("needs thresholdRange (min and/or max)", path + ("thresholdRange",))
        return (legacy, None) if lower_by_default else (None, legacy)
    if lo is None and hi is None:
        raise doc.error("needs min and/or max", path + ("thresholdRange",))
    if lo is not None and hi is not None and lo > hi:
        raise doc.error(f"min {lo!r} is above max {hi!r}", path + ("thresholdRange",))
    return lo, hi


def _metric_gates(doc: YamlDocument, metric: Any, path: tuple, templates: _Templates, metric_map: Mapping[str, str],
                  min_samples: int, warnings: WarningList) -> tuple[list[dict], float]:
    """The gates of one ``analysis.metrics`` entry, and its window in seconds."""
    if not isinstance(metric, Mapping):
        raise doc.error(f"expected a mapping, got {type(metric).__name__}", path)
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        raise doc.error("every metric needs a name", path + ("name",))
    for key in metric:
        if key not in _METRIC_KEYS:
            warnings.add(f"unknown metric field {key!r}, ignored", doc=doc, path=path + (key,))
    window = _duration(doc, metric, path, "interval", _DEFAULT_METRIC_WINDOW_S)
    if window <= 0:
        raise doc.error("must be greater than 0", path + ("interval",))
    measure, unit, relative = _metric_source(doc, metric, path, name, templates, metric_map, warnings)
    lo, hi = _bounds(doc, metric, path, lower_by_default=name == "request-success-rate")
    scale = _UNITS[unit]
    gates = []
    for bound, direction in ((lo, "min"), (hi, "max")):
        if bound is not None:
            value = bound / 100.0 if scale == 0.01 else bound * scale
            gates.append({"metric": measure, "threshold": float(value), "direction": direction,
                          "relative_to_legacy": relative, "min_samples": min_samples, "name": name})
    return gates, window


# ---------------------------------------------------------------------------- import


def _weights(doc: YamlDocument, analysis: Mapping, path: tuple, warnings: WarningList) -> list[int]:
    """Every canary weight Flagger walks through before promotion (scheduler.go: runCanary)."""
    step = _num(doc, analysis, path, "stepWeight", integer=True, lo=0, hi=100, default=0)
    listed = _list(doc, analysis, path, "stepWeights")
    for i, w in enumerate(listed):
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 100:
            raise doc.error(f"expected a weight between 1 and 100, got {w!r}", path + ("stepWeights", i))
        if i and w <= listed[i - 1]:
            raise doc.error("stepWeights must increase (Flagger stops at a weight that does not)",
                            path + ("stepWeights", i))
    if listed:
        top = min(100, listed[-1])
        if "maxWeight" in analysis:
            warnings.add("with stepWeights, the last weight is the maximum; maxWeight is ignored", doc=doc,
                         path=path + ("maxWeight",))
        if step:
            warnings.add("stepWeight and stepWeights both set: Flagger adds stepWeight up to the last of "
                         "stepWeights", doc=doc, path=path + ("stepWeights",))
            return _linear(step, top)
        return list(listed)
    if not step:
        raise doc.error("needs stepWeight, stepWeights or iterations (without them the weight never moves)",
                        path + ("stepWeight",))
    top = _num(doc, analysis, path, "maxWeight", integer=True, lo=0, hi=100, default=0) or 100
    return _linear(step, top)


def _linear(step: int, top: int) -> list[int]:
    """``step, 2 step, ...`` (capped at 100) until the weight reaches ``top``."""
    out = [min(100, step)]
    while out[-1] < top:
        out.append(min(100, out[-1] + step))
    return out


def _webhook_warnings(doc: YamlDocument, analysis: Mapping, path: tuple, warnings: WarningList) -> None:
    for i, hook in enumerate(_list(doc, analysis, path, "webhooks")):
        if not isinstance(hook, Mapping):
            raise doc.error(f"expected a mapping, got {type(hook).__name__}", path + ("webhooks", i))
        kind = str(hook.get("type") or "")
        effect = _WEBHOOK_EFFECT.get(kind, "unknown webhook type")
        warnings.add(f"webhook {hook.get('name', '?')!r} ({kind or 'rollout'}) {effect}; not simulated: "
                     "assumed to pass at once", doc=doc, path=path + ("webhooks", i))


def from_flagger(
    canary_yaml: str | Path,
    metric_templates: str | Path | Sequence[str | Path] | None = (),
    base: Scenario | str | Path | Mapping[str, Any] | None = None,
    *,
    no_values: str = "fail",
    metric_map: Mapping[str, str] | None = None,
    min_samples: int | None = None,
    match_share: float | None = None,
) -> tuple[Scenario, WarningList]:
    """A scenario running a Flagger ``Canary`` on the traffic and models of ``base``.

    Parameters
    ----------
    canary_yaml : path or YAML text
        A stream holding one ``Canary`` (``MetricTemplate`` documents there count too).
    metric_templates : path, YAML text or a list of them
        Files with the ``MetricTemplate`` documents the Canary's ``templateRef`` names.
    base : Scenario, path or mapping
        Traffic, models, faults and monitoring; its strategy is replaced.
    no_values : {"fail", "hold"}
        A check without values (fewer than ``min_samples`` requests) fails, as in
        Flagger, or holds the step.
    metric_map : mapping, optional
        Metric name (or query text) -> simulated measure, for custom metrics.
    min_samples : int, optional
        Requests a check needs to have values; default the Canary's
        ``rollout-workbench/min-samples`` annotation, else 1 (Flagger: any traffic).
    match_share : float, optional
        Percent of users an A/B ``match`` selects; default the
        ``rollout-workbench/match-share`` annotation, else :data:`DEFAULT_MATCH_SHARE`.

    Returns
    -------
    (Scenario, WarningList)
        The scenario (named after the Canary) and what was not simulated.

    Raises
    ------
    RolloutSpecError
        A spec that cannot be imported; the message names the file, line, document
        and field.
    """
    if no_values not in ("fail", "hold"):
        raise RolloutSpecError(f"no_values must be 'fail' or 'hold', got {no_values!r}")
    if base is None:
        raise RolloutSpecError("give a base scenario (traffic and models) with base=...")
    if metric_map is not None:
        from .common import check_metric_map

        metric_map = check_metric_map(metric_map)
    base_scenario = base if isinstance(base, Scenario) else load_scenario(base)
    warnings = WarningList()
    docs = _load(canary_yaml, "Canary")
    canaries = [d for d in docs if d.kind == "Canary"]
    source = docs[0].source if docs else (str(canary_yaml) if isinstance(canary_yaml, Path) else None)
    if not canaries:
        raise RolloutSpecError("no Canary document (kind: Canary) found", source=source)
    if len(canaries) > 1:
        raise canaries[1].error("one Canary per import: this file holds several", ("kind",))
    doc = canaries[0]
    for other in docs:
        if other.kind not in ("Canary", "MetricTemplate"):
            warnings.add(f"{other.kind or 'untyped'} document ignored", doc=other)
    api = str(doc.data.get("apiVersion", ""))
    if not api.startswith("flagger.app/"):
        raise doc.error(f"apiVersion {api!r} is not Flagger's ({API_VERSION})", ("apiVersion",))
    template_docs = [d for d in docs if d.kind == "MetricTemplate"] + _load(metric_templates, "MetricTemplate")
    for other in template_docs:
        if other.kind != "MetricTemplate":
            warnings.add(f"{other.kind or 'untyped'} document ignored (expected MetricTemplate)", doc=other)
    templates = _Templates(template_docs, warnings)
    if min_samples is None:
        note = _annotation_number(doc, "min-samples", 1, 1e9)
        min_samples = int(note) if note is not None else 1
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise RolloutSpecError(f"min_samples must be an integer >= 1, got {min_samples!r}")

    spec = _table(doc, doc.data, (), "spec")
    strategy = _strategy(doc, spec, templates, metric_map or {}, min_samples, no_values, match_share, warnings)
    raw = base_scenario.to_mapping()
    raw["name"] = doc.name or raw["name"]
    raw["strategy"] = strategy
    try:
        scenario = validate_mapping(raw, source=None)
    except ScenarioError as exc:
        what = f"base scenario {base_scenario.source_path}" if base_scenario.source_path else "the base scenario"
        raise ScenarioError(f"{doc.source or '<text>'}: {doc.label} on {what}: {exc}") from None
    _timing_warnings(scenario, warnings, doc)
    return scenario, warnings


class _Analysis:
    """The settings of a Canary's ``analysis`` that decide the strategy, read once."""

    def __init__(self, doc: YamlDocument, spec: Mapping, path: tuple, warnings: WarningList):
        analysis = _table(doc, spec, ("spec",), path[-1])
        self.doc, self.table, self.path, self.warnings = doc, analysis, path, warnings
        for k in analysis:
            if k not in _ANALYSIS_KEYS:
                warnings.add(f"unknown analysis field {k!r}, ignored", doc=doc, path=path + (k,))
        for k in ("primaryReadyThreshold", "canaryReadyThreshold"):
            if k in analysis:
                warnings.add("pod readiness is not simulated", doc=doc, path=path + (k,))
        if "stepWeightPromotion" in analysis:
            warnings.add("stepWeightPromotion shifts traffic between two copies of the new version after "
                         "promotion; not simulated (the candidate takes all traffic at promotion)", doc=doc,
                         path=path + ("stepWeightPromotion",))
        interval = _duration(doc, analysis, path, "interval", _DEFAULT_INTERVAL_S)
        if interval < _MIN_INTERVAL_S:
            warnings.add(f"Flagger runs checks at most every {_MIN_INTERVAL_S:g} s; interval raised to it",
                         doc=doc, path=path + ("interval",))
            interval = _MIN_INTERVAL_S
        self.interval = interval
        self.threshold = _num(doc, analysis, path, "threshold", integer=True, lo=0, default=0) or 1
        self.iterations = _num(doc, analysis, path, "iterations", integer=True, lo=0, default=0)
        self.mirror = analysis.get("mirror") is True
        self.match = _list(doc, analysis, path, "match")
        self.affinity = _table(doc, analysis, path, "sessionAffinity")
        self.provider = str(spec.get("provider") or "")
        if self.provider == "kubernetes":
            if self.match:
                warnings.add("A/B testing is not supported by the kubernetes provider; match is ignored",
                             doc=doc, path=path + ("match",))
                self.match = []
            if self.iterations < 1:
                warnings.add("the kubernetes provider runs blue/green: iterations set to "
                             f"{_KUBERNETES_ITERATIONS}", doc=doc, path=("spec", "provider"))
                self.iterations = _KUBERNETES_ITERATIONS
        _webhook_warnings(doc, analysis, path, warnings)

    def warn(self, message: str, *keys: str | int, at_spec: bool = False) -> None:
        """A warning at ``analysis.<keys>`` (or ``spec.<keys>``)."""
        self.warnings.add(message, doc=self.doc, path=(("spec",) if at_spec else self.path) + keys)

    def gates(self, templates: _Templates, metric_map: Mapping[str, str], min_samples: int) -> tuple[list, Any]:
        """Every metric's gates and the one window they share (the longest query range)."""
        gates: list[dict] = []
        windows: list[tuple[float, int]] = []
        for i, metric in enumerate(_list(self.doc, self.table, self.path, "metrics")):
            more, window = _metric_gates(self.doc, metric, self.path + ("metrics", i), templates, metric_map,
                                         min_samples, self.warnings)
            gates += more
            windows.append((window, i))
        window_s = max(w for w, _ in windows) if windows else None
        if len({w for w, _ in windows}) > 1:
            shorter = next(i for w, i in windows if w != window_s)
            self.warn(f"metrics query different windows; the simulation analyses one window of "
                      f"{format_duration(window_s)} (the longest) for every gate", "metrics", shorter, "interval")
        if window_s is not None and window_s > self.interval and not self.iterations:
            self.warn(f"the query window ({format_duration(window_s)}) is longer than the interval; the simulated "
                      "window stops at the start of the current step", "metrics")
        return gates, window_s


def _ab_strategy(a: _Analysis, common: dict, window_s, no_values: str, match_share) -> dict:
    share = match_share
    if share is None:
        share = _annotation_number(a.doc, "match-share", 0, 100)
    if share is None:
        share = DEFAULT_MATCH_SHARE
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 100:
        raise RolloutSpecError(f"match_share must be a percent in (0, 100], got {share!r}")
    a.warn(f"A/B match conditions are not simulated: a sticky cohort of {share:g}% of users (match_share) "
           "gets the candidate", "match")
    if a.mirror:
        a.warn("mirror is ignored with match (A/B testing)", "mirror")
    return {"kind": "progressive", "split": "users",
            "steps": [{"weight": float(share), "pause_s": a.interval} for _ in range(a.iterations)],
            "window_s": window_s, "consecutive": False, "inconclusive": no_values, **common}


def _shadow_strategy(a: _Analysis) -> dict:
    weight = _num(a.doc, a.table, a.path, "mirrorWeight", integer=True, lo=0, hi=100, default=0) or 100
    a.warn(f"mirroring with iterations: simulated as a shadow of {weight}% of the requests for the whole run; "
           f"the checks on mirrored calls (rollback after {a.threshold} failures) and the switch after "
           f"{a.iterations} iterations are not simulated", "mirror")
    return {"kind": "shadow", "mirror_fraction": weight / 100.0}


def _blue_green_strategy(a: _Analysis, common: dict, window_s, no_values: str) -> dict:
    if a.affinity:
        a.warn("sessionAffinity applies to canary weights; blue/green switches every request", "sessionAffinity")
    if common["gates"]:
        a.warn(f"before the switch Flagger checks the canary's load-test traffic, which is not simulated: the "
               f"gates are analysed after the switch at {a.iterations} x {format_duration(a.interval)}",
               "iterations")
    if a.provider == "kubernetes":
        a.warn("with the kubernetes provider live traffic moves at promotion (the primary's rolling update), one "
               "interval after the simulated switch", "provider", at_spec=True)
    out = {"kind": "blue_green", "switch_s": a.iterations * a.interval, "inconclusive": no_values, **common}
    if window_s is not None:
        out["window_s"] = window_s
    return out


def _canary_strategy(a: _Analysis, common: dict, window_s, no_values: str) -> dict:
    if a.mirror:
        a.warn("the mirrored interval before the first weight is not simulated", "mirror")
    if a.affinity and not a.affinity.get("primaryCookieName"):
        a.warn("without primaryCookieName Flagger draws a primary user again on every request, so the canary's "
               "share of users grows above the weight; simulated as a sticky cohort at the weight",
               "sessionAffinity")
    weights = _weights(a.doc, a.table, a.path, a.warnings)
    return {"kind": "progressive", "split": "users" if a.affinity else "requests",
            "steps": [{"weight": float(w), "pause_s": a.interval} for w in weights],
            "window_s": window_s, "consecutive": False, "inconclusive": no_values, **common}


def _strategy(doc: YamlDocument, spec: Mapping, templates: _Templates, metric_map: Mapping[str, str],
              min_samples: int, no_values: str, match_share: float | None, warnings: WarningList) -> dict:
    """The ``[strategy]`` table of a Canary's spec."""
    key = "analysis" if spec.get("analysis") is not None else "canaryAnalysis"
    if spec.get("suspend") is True:
        warnings.add("a suspended Canary does not run; simulated as if it were resumed", doc=doc,
                     path=("spec", "suspend"))
    if spec.get("skipAnalysis") is True or not _table(doc, spec, ("spec",), key):
        if spec.get(key):
            warnings.add("skipAnalysis: the analysis (metrics, webhooks) is ignored and the candidate is "
                         "promoted at once", doc=doc, path=("spec", "skipAnalysis"))
        return {"kind": "single", "model": "candidate"}
    a = _Analysis(doc, spec, ("spec", key), warnings)
    gates, window_s = a.gates(templates, metric_map, min_samples)
    common = {"interval_s": a.interval, "gates": gates, "failure_limit": a.threshold - 1}
    if kind_is_progressive := not a.iterations or a.match:
        common["rollback_on"] = "next_check"  # Flagger acts on the count at its next tick
    del kind_is_progressive
    if a.iterations and a.match:
        return _ab_strategy(a, common, window_s, no_values, match_share)
    if a.iterations and a.mirror:
        return _shadow_strategy(a)
    if a.iterations:
        return _blue_green_strategy(a, common, window_s, no_values)
    return _canary_strategy(a, common, window_s, no_values)


def _timing_warnings(scenario: Scenario, warnings: WarningList, doc: YamlDocument) -> None:
    """Warn when the run ends before the rollout can finish."""
    st = scenario.strategy
    if st.kind == "progressive":
        end = sum(s.pause_s or 0.0 for s in st.steps)
        what = "promotion"
    elif st.kind == "blue_green":
        end, what = st.switch_s, "switch"
    else:
        return
    if end > scenario.duration_s:
        warnings.add(f"the base scenario lasts {scenario.duration_s:g} s; the {what} comes at {end:g} s at the "
                     "earliest", doc=doc)


# ---------------------------------------------------------------------------- export


def _percent(x: float) -> float | int:
    """``100 x`` written so that dividing it by 100 gives ``x`` back exactly (shortest form)."""
    p = x * 100.0
    for digits in range(1, 18):
        candidate = float(f"{p:.{digits}g}")
        if candidate / 100.0 == x:
            return int(candidate) if candidate.is_integer() else candidate
    return p


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


_SELECTOR = 'reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"%s"'


def _synthetic_query(measure: str, target: str = "{{ target }}") -> str:
    """A Prometheus (Istio telemetry) query of ``measure`` as a fraction or in milliseconds."""
    sel = _SELECTOR % target
    total = f"sum(rate(istio_requests_total{{{sel}}}[{{{{ interval }}}}]))"
    if measure in ("error_rate", "success_rate"):
        op = "=~" if measure == "error_rate" else "!~"
        return f'sum(rate(istio_requests_total{{{sel}, response_code{op}"5.*"}}[{{{{ interval }}}}]))\n/\n{total}'
    if measure in _LATENCIES:
        q = {"latency_p50_ms": "0.50", "latency_p95_ms": "0.95", "latency_p99_ms": "0.99"}[measure]
        return (f"histogram_quantile({q}, sum(rate(istio_request_duration_milliseconds_bucket{{{sel}}}"
                f"[{{{{ interval }}}}])) by (le))")
    if measure == "business_rate":
        return f"sum(rate(conversions_total{{{sel}}}[{{{{ interval }}}}]))\n/\n{total}"
    return f"avg(avg_over_time(prediction_abs_error{{{sel}}}[{{{{ interval }}}}]))"  # prediction_mae


def _group_gates(gates) -> list[list]:
    """Consecutive gates of one metric (same name, measure and baseline, a min and a max) together."""
    groups: list[list] = []
    for g in gates:
        last = groups[-1] if groups else None
        if (last and len(last) == 1 and last[0].name == g.name and last[0].metric == g.metric
                and last[0].relative_to_legacy == g.relative_to_legacy and last[0].direction != g.direction):
            last.append(g)
        else:
            groups.append([g])
    return groups


def _metrics(gates, window_s: float, notes: list[str], namespace: str) -> tuple[list[dict], list[dict]]:
    """Canary ``metrics`` entries and the MetricTemplates they reference."""
    metrics: list[dict] = []
    templates: list[dict] = []
    used: set[str] = set()
    interval = format_duration(window_s)
    for group in _group_gates(gates):
        g = group[0]
        builtin = next((n for n, m in _BUILTIN.items() if m == g.metric), None)
        use_builtin = builtin is not None and not g.relative_to_legacy and g.name in ("", builtin)
        name = g.name or (builtin if use_builtin else g.metric.replace("_", "-"))
        rng: dict[str, Any] = {}
        for gate in sorted(group, key=lambda x: x.direction, reverse=True):  # min first
            value = gate.threshold
            if use_builtin and g.metric == "success_rate":
                rng[gate.direction] = _percent(value)
            else:
                rng[gate.direction] = _number(value)
        entry: dict[str, Any] = {"name": name}
        if not use_builtin:
            tname = dns_name(name, fallback="metric")
            base, k = tname, 2
            while tname in used:
                tname, k = f"{base}-{k}"[:63], k + 1
            used.add(tname)
            if name in _BUILTIN:
                notes.append(f"metric {name!r} is a Flagger builtin name but reads {g.metric}: Flagger would also "
                             "run its builtin check")
            query = _synthetic_query(g.metric)
            if g.relative_to_legacy:
                query = f"({query})\n/\n({_synthetic_query(g.metric, '{{ target }}-primary')})"
            annotations = {ANNOTATION_PREFIX + "measure": g.metric,
                           ANNOTATION_PREFIX + "unit": "ms" if g.metric in _LATENCIES else (
                               "fraction" if g.metric in _RATES else "")}
            if not annotations[ANNOTATION_PREFIX + "unit"]:
                del annotations[ANNOTATION_PREFIX + "unit"]
            if g.relative_to_legacy:
                annotations[ANNOTATION_PREFIX + "relative"] = "true"
            templates.append({
                "apiVersion": API_VERSION, "kind": "MetricTemplate",
                "metadata": {"name": tname, "namespace": namespace, "annotations": annotations},
                "spec": {"provider": {"type": "prometheus", "address": "http://prometheus.istio-system:9090"},
                         "query": query + "\n"},
            })
            entry["templateRef"] = {"name": tname, "namespace": namespace}
        entry["thresholdRange"] = rng
        entry["interval"] = interval
        metrics.append(entry)
    return metrics, templates


def _min_samples_annotation(gates, notes: list[str]) -> dict[str, str]:
    values = sorted({g.min_samples for g in gates})
    if not values or values == [1]:
        return {}
    if len(values) > 1:
        notes.append(f"gates need different min_samples {values}; the annotation keeps the largest")
    return {ANNOTATION_PREFIX + "min-samples": str(values[-1])}


def _progressive_notes(st, steps, notes: list[str]) -> None:
    """What a progressive strategy says that Flagger cannot."""
    for i, s in enumerate(steps):
        if s.pause_s != st.interval_s:
            notes.append(f"steps[{i}] pauses {s.pause_s} s; Flagger holds every weight for one interval "
                         f"({st.interval_s:g} s)")
        if s.manual:
            notes.append(f"steps[{i}] waits for a person: use a confirm-traffic-increase webhook")
        if s.analysis:
            notes.append(f"steps[{i}] runs Argo analysis templates, which Flagger has not")
    if any(not float(s.weight).is_integer() for s in steps):
        notes.append("Flagger weights are integers: weights rounded")
    if st.consecutive and st.failure_limit > 0:
        notes.append("Flagger counts failed checks cumulatively; the scenario resets them on a pass")
    if st.rollback_on != "next_check":
        notes.append("Flagger rolls back at the check after the threshold-th failure, one interval later than "
                     "the scenario (rollback_on = 'failure')")
    if st.inconclusive != "fail":
        notes.append(f"inconclusive = {st.inconclusive!r}: Flagger fails a check without values "
                     f"(import with no_values={'hold' if st.inconclusive == 'hold' else 'fail'!r})")
    if st.inconclusive_limit is not None:
        notes.append("inconclusive_limit has no Flagger field")
    if st.judge.kind != "threshold":
        notes.append(f"the {st.judge.kind} judge has no Flagger equivalent; only threshold gates are written")
    if st.analysis_templates:
        notes.append("Argo analysis templates have no Flagger equivalent; dropped")


def _progressive(st, notes: list[str], namespace: str) -> tuple[dict, dict, list[dict]]:
    """``analysis``, extra annotations and templates of a progressive strategy."""
    steps = list(st.steps)
    last = steps[-1]
    if len(steps) > 1 and last.weight >= 100 and last.pause_s is None and not last.manual and not last.analysis:
        steps = steps[:-1]  # a last setWeight 100 is the promotion itself
    _progressive_notes(st, steps, notes)
    ints = [max(1, min(100, round(s.weight))) for s in steps]
    annotations: dict[str, str] = {}
    analysis: dict[str, Any] = {"interval": format_duration(st.interval_s), "threshold": st.failure_limit + 1}
    if len(ints) > 1 and len(set(ints)) == 1:
        analysis["iterations"] = len(ints)
        analysis["match"] = [{"headers": {"x-canary": {"exact": "insider"}}}]
        annotations[ANNOTATION_PREFIX + "match-share"] = str(_number(steps[0].weight))
        notes.append("A/B testing: the match condition (header x-canary: insider) is a placeholder for the "
                     f"{steps[0].weight:g}% of users the scenario sends to the candidate")
    else:
        dedup = [w for i, w in enumerate(ints) if i == 0 or w > ints[i - 1]]
        if dedup != ints:
            notes.append("Flagger weights must increase: repeated or decreasing weights dropped")
        if dedup == _linear(dedup[0], dedup[-1]):
            analysis["maxWeight"] = dedup[-1]
            analysis["stepWeight"] = dedup[0]
        else:
            analysis["stepWeights"] = dedup
        if st.split == "users":
            analysis["sessionAffinity"] = {"cookieName": "flagger-cookie",
                                           "primaryCookieName": "flagger-primary-cookie"}
    metrics, templates = _metrics(st.gates, st.window_s or st.interval_s, notes, namespace)
    if metrics:
        analysis["metrics"] = metrics
    annotations.update(_min_samples_annotation(st.gates, notes))
    return analysis, annotations, templates


def _blue_green(st, notes: list[str], namespace: str) -> tuple[dict, dict, list[dict]]:
    iterations = st.switch_s / st.interval_s
    if not iterations.is_integer() or iterations < 1:
        notes.append(f"switch_s {st.switch_s:g} is not a whole number of intervals ({st.interval_s:g} s): "
                     "iterations rounded")
    analysis: dict[str, Any] = {"interval": format_duration(st.interval_s), "threshold": st.failure_limit + 1,
                                "iterations": max(1, round(iterations))}
    if not st.auto_promotion:
        notes.append("manual promotion: use a confirm-promotion webhook")
    if st.inconclusive != "fail":
        notes.append(f"inconclusive = {st.inconclusive!r}: Flagger fails a check without values "
                     f"(import with no_values={'hold' if st.inconclusive == 'hold' else 'fail'!r})")
    if st.analysis_templates:
        notes.append("Argo analysis templates have no Flagger equivalent; dropped")
    metrics, templates = _metrics(st.gates, st.window_s, notes, namespace)
    if metrics:
        analysis["metrics"] = metrics
    return analysis, _min_samples_annotation(st.gates, notes), templates


def to_flagger(scenario: Scenario | str | Path | Mapping[str, Any], *, namespace: str = "default") -> str:
    """A scenario's strategy as Flagger YAML: a ``Canary`` and the ``MetricTemplate`` documents it needs.

    ``progressive`` becomes a canary (``stepWeight``/``maxWeight`` when the weights are
    linear, else ``stepWeights``; ``sessionAffinity`` for a user split) or, when every
    step has the same weight, A/B testing; ``blue_green`` a canary with ``iterations``;
    ``shadow`` a mirrored blue/green over the whole run; ``single`` serving the
    candidate ``skipAnalysis``. What Flagger cannot express is listed in ``#`` comments
    at the top. :func:`from_flagger` on the text gives back an equal scenario.

    Raises
    ------
    ScenarioError
        When the strategy has no Flagger form (``single`` on legacy, ``ab``, ``canary``,
        ``bandit``, ``interleaving``).
    """
    import yaml

    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    st = s.strategy
    name = dns_name(s.name, fallback="canary")
    notes: list[str] = []
    annotations: dict[str, str] = {}
    templates: list[dict] = []
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "service": {"port": 80},
    }
    if st.kind == "progressive":
        analysis, annotations, templates = _progressive(st, notes, namespace)
        spec["analysis"] = analysis
    elif st.kind == "blue_green":
        analysis, annotations, templates = _blue_green(st, notes, namespace)
        spec["analysis"] = analysis
    elif st.kind == "shadow":
        weight = st.mirror_fraction * 100
        if not float(weight).is_integer():
            notes.append("mirrorWeight is an integer percent: rounded")
        if st.candidate_replicas is not None or st.agreement_tolerance != 0.5:
            notes.append("candidate_replicas and agreement_tolerance have no Flagger field")
        analysis = {"interval": "1m", "threshold": 1, "iterations": max(1, math.ceil(s.duration_s / 60.0)),
                    "mirror": True}
        if round(weight) != 100:
            analysis["mirrorWeight"] = max(1, round(weight))
        spec["analysis"] = analysis
    elif st.kind == "single" and st.model == "candidate":
        spec["skipAnalysis"] = True
    else:
        what = "serves legacy only: nothing to roll out" if st.kind == "single" else "has no Flagger equivalent"
        source = s.source_path or s.name
        raise ScenarioError(f"strategy.kind: {st.kind!r} {what} (progressive, blue_green, shadow, or single "
                            "on the candidate)", source=source)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    canary = {"apiVersion": API_VERSION, "kind": "Canary", "metadata": metadata, "spec": spec}
    for t in templates:
        t["metadata"]["namespace"] = namespace
    header = [f"# Flagger Canary written by rollout-workbench from scenario {s.name!r}"]
    header += [f"# warning: {n}" for n in notes]
    class Dumper(yaml.SafeDumper):
        """Multi-line text (queries) as literal blocks."""

    def text(dumper, data: str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    Dumper.add_representer(str, text)
    body = yaml.dump_all([canary, *templates], Dumper=Dumper, sort_keys=False, default_flow_style=False, width=120)
    return "\n".join(header) + "\n" + body
