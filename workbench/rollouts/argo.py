"""Argo Rollouts: import a ``Rollout`` and its ``AnalysisTemplate`` documents, export them back.

:func:`from_argo` builds a :class:`~workbench.scenario.Scenario` from a base scenario
(traffic, models, faults: what the Rollout does not describe) and the Rollout's
strategy; it returns the scenario and the :class:`~workbench.rollouts.common.SpecWarning`
list of what changes behaviour in a cluster but is not simulated. :func:`to_argo`
writes a scenario's strategy as a ``Rollout`` and one ``AnalysisTemplate`` per template,
``---``-separated. ``from_argo(to_argo(s), base=...)`` gives back the imported scenario.

Mapping (canary -> ``kind = "progressive"``)
---------------------------------------------
* ``steps``: each ``setWeight: w`` starts a :class:`~workbench.scenario.Step` at ``w``;
  an ``analysis`` step adds its templates to the step's ``analysis``, ``pause:
  {duration: 10m}`` sets ``pause_s`` (Go durations, or an integer of seconds), ``pause:
  {}`` sets ``manual``. A Step runs analysis, then pause, then manual promotion; an item
  that would come back in that order (a pause before an analysis, a second analysis or
  pause) starts a new Step at the same weight. Items before the first ``setWeight`` are
  at weight 0. Argo promotes after its last step, as the progressive strategy does.
  ``setCanaryScale``, ``experiment``, ``setHeaderRoute``, ``setMirrorRoute`` and
  ``plugin`` steps are not simulated: each is a warning.
* ``analysis`` (background): ``templates`` -> ``background_analysis``; ``startingStep``
  (0-based into Argo's steps) -> ``background_starting_step``, the 1-based Step that
  holds that Argo step; ``args`` fill ``{{args.name}}`` in queries and conditions
  (with the templates' own default values; an argument without a value is a warning and
  stays as written).
* Services (``canaryService``, ``stableService``, ``activeService``,
  ``previewService``), ``trafficRouting``, pod and selector settings do not change what
  the simulation does and are ignored without a warning. ``spec.replicas``, container
  ``resources``, ``scaleDownDelaySeconds``, ``previewReplicaCount``, rollout-level
  ``dryRun`` / ``measurementRetention``, ``consecutiveSuccessLimit``,
  ``measurementRetention`` of a template, arguments read from secrets or fields
  (``valueFrom``), and keys this importer does not know are warnings: the models'
  replicas and resources come from the base scenario.
* Fields Argo has no word for (``interval_s``, ``window_s``, ``manual_pause_s``,
  ``split``, ``salt``, ``inconclusive``) come from the base scenario's strategy when it
  is of the same kind, else their defaults; its gates and judge are not kept (Argo
  decides with its templates only).

blueGreen -> ``kind = "blue_green"``: ``autoPromotionEnabled`` -> ``auto_promotion``,
``autoPromotionSeconds`` -> ``switch_s`` (0 when absent: Argo promotes as soon as the
preview is ready and the pre-promotion analysis passed), ``prePromotionAnalysis`` /
``postPromotionAnalysis`` (templates, args) -> ``pre_promotion_analysis`` /
``post_promotion_analysis``.

AnalysisTemplate metrics -> :class:`~workbench.scenario.AnalysisMetric`: ``interval``,
``count`` (0: until the analysis ends), ``initialDelay``, ``successCondition``,
``failureCondition``, ``failureLimit``, ``inconclusiveLimit``,
``consecutiveErrorLimit`` (numbers or strings of digits), the template's ``dryRun:
[{metricName: regex}]``. Templates that list other ``templates`` are merged (their
metrics first). The provider's name is kept; its query text (``prometheus``,
``datadog``, ``newRelic``, ``wavefront``, ``graphite``, ``influxdb``, ``skywalking``)
is ``query``; other providers keep their whole spec as JSON in ``query``. A ``job``,
``web`` or ``plugin`` provider cannot be simulated (a warning): its metric is measured
from its name.

Query -> ``measure``: a metric map (``metric_map=``, a mapping or a TOML/JSON file of
``name or query text -> measure``, see :func:`~workbench.rollouts.common.resolve_measure`)
first, then :func:`~workbench.rollouts.common.guess_measure`'s heuristics on the name
and the query. The map is kept out of scenarios: the command line reads it from
``--metric-map FILE``, so one map serves every Rollout of a team. No measure is an error naming the file, the template, the metric and
the line, with the measures there are. ``window_s`` is the query's range (``[5m]``)
when it has one. A latency read from ``*_seconds`` metrics gets ``scale = 0.001``, so
its conditions compare seconds, as written. The metric reads the candidate.

A template referenced with different arguments in two places becomes two templates
(``name``, ``name-2``), since their queries differ.

Export writes what Argo can hold plus, as an annotation of each AnalysisTemplate
(``rollout-workbench.io/metrics``, JSON), each metric's ``measure`` and, when they are
not what the import would read, ``model``, ``window_s`` and ``min_samples``, so an export
imports back to the same scenario with any metric map. A metric without a query gets a
Prometheus query written from its measure and window.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..scenario import (
    AnalysisMetric,
    AnalysisTemplate,
    BlueGreenStrategy,
    ConditionError,
    ProgressiveStrategy,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_condition,
    validate_mapping,
)
from .common import (
    MEASURES,
    RolloutSpecError,
    SpecWarning,
    WarningList,
    YamlDocument,
    as_sequence,
    check_metric_map,
    dns_name,
    format_duration,
    load_documents,
    load_metric_map,
    parse_duration,
    query_in_seconds,
    query_window_s,
    resolve_measure,
    substitute_args,
    unique,
)

__all__ = ["from_argo", "to_argo", "ANNOTATION", "API_VERSION"]

API_VERSION = "argoproj.io/v1alpha1"
ANNOTATION = "rollout-workbench.io/metrics"  # per-metric settings Argo has no field for
TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
QUERY_PROVIDERS = ("prometheus", "datadog", "newRelic", "wavefront", "graphite", "influxdb", "skywalking")
UNSIMULATED_PROVIDERS = ("job", "web", "plugin")
UNSUPPORTED_STEPS = ("setCanaryScale", "experiment", "setHeaderRoute", "setMirrorRoute", "plugin")
DEFAULT_ADDRESS = "http://prometheus.example.com:9090"
MAX_TEMPLATE_DEPTH = 8  # templates that include templates

# keys that do not change the simulated behaviour: read silently
_SILENT_SPEC = {"selector", "template", "workloadRef", "revisionHistoryLimit", "minReadySeconds",
                "progressDeadlineSeconds", "restartAt", "rollbackWindow", "analysis", "strategy", "replicas",
                "paused", "progressDeadlineAbort"}
_SILENT_CANARY = {"canaryService", "stableService", "trafficRouting", "maxSurge", "maxUnavailable",
                  "canaryMetadata", "stableMetadata", "antiAffinity", "pingPong", "dynamicStableScale",
                  "abortScaleDownDelaySeconds", "scaleDownDelayRevisionLimit", "minPodsPerReplicaSet",
                  "steps", "analysis", "scaleDownDelaySeconds"}
_SILENT_BLUEGREEN = {"activeService", "previewService", "previewMetadata", "activeMetadata", "antiAffinity",
                     "abortScaleDownDelaySeconds", "scaleDownDelayRevisionLimit", "autoPromotionEnabled",
                     "autoPromotionSeconds", "prePromotionAnalysis", "postPromotionAnalysis",
                     "scaleDownDelaySeconds", "previewReplicaCount"}
_METRIC_KEYS = {"name", "interval", "initialDelay", "count", "successCondition", "failureCondition",
                "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", "consecutiveSuccessLimit",
                "provider"}


# ============================================================================ import


def from_argo(
    rollout: str | Path,
    templates: Sequence[str | Path] = (),
    base: Scenario | str | Path | Mapping[str, Any] | None = None,
    *,
    metric_map: Mapping[str, str] | str | Path | None = None,
) -> tuple[Scenario, list[SpecWarning]]:
    """Rehearse an Argo Rollout: the scenario it describes on ``base``, and the import's warnings.

    Parameters
    ----------
    rollout
        The Rollout's YAML file (a :class:`~pathlib.Path` or a one-line str) or text. It
        may also hold AnalysisTemplates (``---``-separated).
    templates
        Files (or texts) holding the ``AnalysisTemplate`` / ``ClusterAnalysisTemplate``
        documents the Rollout names.
    base
        The scenario to rehearse on (a Scenario, a TOML path or a mapping): its traffic,
        models and everything but the strategy are kept; the scenario takes the
        Rollout's name. Without one: a legacy and a candidate model with the defaults,
        for an hour.
    metric_map
        Metric name or query text -> measure (a mapping, or a TOML/JSON file), tried
        before the name and query heuristics (see the module docstring).

    Returns
    -------
    (Scenario, list of SpecWarning)

    Raises
    ------
    RolloutSpecError
        A document that is not a Kubernetes object, no Rollout or two, a template
        that is missing, a bad duration, condition or limit, or a metric without a
        measure: the message names the file, line, ``Kind/name`` and field path.
    """
    warnings = WarningList()
    docs = load_documents(rollout, what="rollout")
    for spec in templates:
        docs.extend(load_documents(spec, what="template"))
    rollout_doc, library = _sort_documents(docs, warnings)
    if metric_map is None or isinstance(metric_map, Mapping):
        mmap = check_metric_map(metric_map or {})
    else:
        mmap = load_metric_map(metric_map)
    base_scenario = _base(base)
    importer = _Importer(rollout_doc, library, mmap, warnings)
    strategy = importer.strategy(base_scenario.strategy)
    raw = base_scenario.to_mapping()
    raw["name"] = rollout_doc.name or raw["name"]
    raw["strategy"] = strategy
    try:
        scenario = validate_mapping(raw, source=None)
    except ScenarioError as exc:
        raise RolloutSpecError(f"the imported scenario is invalid: {exc}", source=rollout_doc.source,
                               document=rollout_doc.label) from None
    return scenario, list(warnings)


def _base(base: Scenario | str | Path | Mapping[str, Any] | None) -> Scenario:
    """The base scenario, loaded when given as a path or a mapping."""
    if base is None:
        return load_scenario({"name": "argo-rollout", "duration_s": 3600,
                              "models": {"legacy": {}, "candidate": {}}})
    if isinstance(base, Scenario):
        return base
    return load_scenario(base)


def _sort_documents(docs: list[YamlDocument], warnings: WarningList) -> tuple[YamlDocument, dict]:
    """The one Rollout, and the templates by ``(kind, name)``; other objects are warnings."""
    rollouts: list[YamlDocument] = []
    library: dict[tuple[str, str], YamlDocument] = {}
    for doc in docs:
        if not isinstance(doc.data, Mapping) or not doc.kind or "apiVersion" not in doc.data:
            raise doc.error("not a Kubernetes object (it needs apiVersion and kind); expected a Rollout "
                            "or an AnalysisTemplate")
        api = str(doc.data.get("apiVersion"))
        if doc.kind in ("Rollout", *TEMPLATE_KINDS):
            if not api.startswith("argoproj.io/"):
                raise doc.error(f"apiVersion {api!r}: expected {API_VERSION}", ("apiVersion",))
            if not doc.name:
                raise doc.error("needs metadata.name", ("metadata",))
            if not isinstance(doc.data.get("spec"), Mapping):
                raise doc.error("needs a spec mapping", ("spec",))
        if doc.kind == "Rollout":
            rollouts.append(doc)
        elif doc.kind in TEMPLATE_KINDS:
            key = (doc.kind, doc.name)
            if key in library:
                raise doc.error(f"{doc.kind} {doc.name!r} is given twice (also {library[key].source or '<text>'}:"
                                f"{library[key].line()})", ("metadata", "name"))
            library[key] = doc
        else:
            warnings.add(f"{doc.kind} is not part of a rollout's strategy: ignored", doc=doc)
    if not rollouts:
        where = docs[0].source if docs else None
        raise RolloutSpecError("no Rollout document found (kind: Rollout)", source=where)
    if len(rollouts) > 1:
        raise rollouts[1].error(f"a second Rollout (the first is {rollouts[0].label}); import one at a time")
    return rollouts[0], library


def _int(value: Any, doc: YamlDocument, path: tuple, *, minimum: int) -> int:
    """An Argo int-or-string field as an int at least ``minimum``."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise doc.error(f"expected a whole number, got {value!r}", path)
    if value < minimum:
        raise doc.error(f"must be at least {minimum}, got {value}", path)
    return value


def _duration(value: Any, doc: YamlDocument, path: tuple) -> float:
    """A Go duration field in seconds, or an error at its line."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise doc.error(str(exc), path) from None


def _mapping(value: Any, doc: YamlDocument, path: tuple) -> Mapping:
    """``value`` when it is a mapping (``{}`` for None), else an error at its line."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(f"expected a mapping, got {type(value).__name__}", path)
    return value


def _list(value: Any, doc: YamlDocument, path: tuple) -> list:
    """``value`` when it is a list (``[]`` for None), else an error at its line."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(f"expected a list, got {type(value).__name__}", path)
    return value


class _Importer:
    """Converts one Rollout and the templates it names; collects the templates it used."""

    def __init__(self, doc: YamlDocument, library: dict, metric_map: Mapping[str, str], warnings: WarningList):
        self.doc = doc
        self.library = library
        self.metric_map = metric_map
        self.warnings = warnings
        self.templates: dict[str, dict] = {}  # our template name -> AnalysisTemplate mapping

    # ------------------------------------------------------------------ rollout

    def strategy(self, base_strategy: Any) -> dict[str, Any]:
        """The ``[strategy]`` mapping of the Rollout."""
        doc = self.doc
        spec = doc.data["spec"]
        self._spec_warnings(spec)
        strategy = _mapping(spec.get("strategy"), doc, ("spec", "strategy"))
        kinds = [k for k in ("canary", "blueGreen") if k in strategy]
        if len(kinds) != 1:
            raise doc.error("give exactly one of canary and blueGreen", ("spec", "strategy"))
        path = ("spec", "strategy", kinds[0])
        body = _mapping(strategy[kinds[0]], doc, path)
        for key in strategy:
            if key not in ("canary", "blueGreen"):
                self.warnings.add("unknown strategy key: ignored", doc=doc, path=("spec", "strategy", key))
        if kinds[0] == "canary":
            return self._canary(body, path, base_strategy)
        return self._blue_green(body, path, base_strategy)

    def _spec_warnings(self, spec: Mapping) -> None:
        """Warnings for the Rollout's spec fields that change behaviour but are not mapped."""
        doc = self.doc
        if "replicas" in spec:
            self.warnings.add(f"replicas = {spec['replicas']!r} not mapped: the models' replicas come from the base "
                              "scenario", doc=doc, path=("spec", "replicas"))
        if spec.get("paused"):
            self.warnings.add("the Rollout is paused: the rehearsal starts it anyway", doc=doc, path=("spec", "paused"))
        if spec.get("progressDeadlineAbort"):
            self.warnings.add("progressDeadlineAbort: pods never miss a deadline in the simulation",
                              doc=doc, path=("spec", "progressDeadlineAbort"))
        template = spec.get("template")
        pod = template.get("spec") if isinstance(template, Mapping) else None
        containers = pod.get("containers") if isinstance(pod, Mapping) else None
        for i, c in enumerate(as_sequence(containers)):
            if isinstance(c, Mapping) and c.get("resources"):
                self.warnings.add("container resources not mapped: the models' serving capacity comes from the "
                                  "base scenario", doc=doc,
                                  path=("spec", "template", "spec", "containers", i, "resources"))
        for key in spec:
            if key not in _SILENT_SPEC:
                self.warnings.add("unknown Rollout spec key: ignored", doc=doc, path=("spec", key))

    def _inherit(self, base_strategy: Any, kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """The fields Argo has no word for, from the base strategy when it is of the same kind."""
        if getattr(base_strategy, "kind", None) != kind:
            return {}
        dumped = base_strategy.model_dump(mode="json")
        return {f: dumped[f] for f in fields if f in dumped}

    def _canary(self, body: Mapping, path: tuple, base_strategy: Any) -> dict[str, Any]:
        doc = self.doc
        for key in body:
            if key not in _SILENT_CANARY:
                self.warnings.add("unknown canary key: ignored", doc=doc, path=(*path, key))
        if "scaleDownDelaySeconds" in body:
            self.warnings.add("scaleDownDelaySeconds: the old pods' scale-down is not simulated", doc=doc,
                              path=(*path, "scaleDownDelaySeconds"))
        steps, argo_to_ours = self._steps(_list(body.get("steps"), doc, (*path, "steps")), (*path, "steps"))
        out: dict[str, Any] = {"kind": "progressive"}
        out.update(self._inherit(base_strategy, "progressive",
                                 ("split", "interval_s", "window_s", "manual_pause_s", "salt", "inconclusive")))
        out["steps"] = steps
        if "analysis" in body:
            apath = (*path, "analysis")
            analysis = _mapping(body["analysis"], doc, apath)
            names = self._reference(analysis, apath)
            out["background_analysis"] = list(names)
            if "startingStep" in analysis:
                start = _int(analysis["startingStep"], doc, (*apath, "startingStep"), minimum=0)
                if start >= len(argo_to_ours):
                    last = len(argo_to_ours)
                    self.warnings.add(f"startingStep {start} is past the last step ({last - 1}): Argo never starts "
                                      f"this analysis; the rehearsal starts it at the last step",
                                      doc=doc, path=(*apath, "startingStep"))
                    out["background_starting_step"] = len(steps)
                else:
                    out["background_starting_step"] = argo_to_ours[start]
        out["analysis_templates"] = self.templates
        return out

    def _steps(self, items: list, path: tuple) -> tuple[list[dict], list[int]]:
        """Our steps, and for each Argo step the 1-based index of the Step that holds it."""
        doc = self.doc
        steps: list[dict[str, Any]] = []
        where: list[int] = []
        phase = 0  # what the current step holds already: 0 weight, 1 analysis, 2 pause, 3 manual

        def start(weight: float) -> None:
            nonlocal phase
            steps.append({"weight": weight})
            phase = 0

        for i, item in enumerate(items):
            ipath = (*path, i)
            item = _mapping(item, doc, ipath)
            keys = list(item)
            if len(keys) != 1:
                raise doc.error(f"a step has exactly one key, got {keys}", ipath)
            key = keys[0]
            value = item[key]
            if key == "setWeight":
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
                    raise doc.error(f"expected a weight from 0 to 100, got {value!r}", (*ipath, key))
                weight = float(value)
                current = steps[-1] if steps else None
                if current is not None and phase == 0 and current["weight"] == weight:
                    pass  # the same weight again: nothing changes
                else:
                    start(weight)
            elif key == "analysis":
                names = self._reference(_mapping(value, doc, (*ipath, key)), (*ipath, key))
                if not steps or phase >= 1:
                    start(steps[-1]["weight"] if steps else 0.0)
                steps[-1]["analysis"] = list(names)
                phase = 1
            elif key == "pause":
                phase = self._pause(steps, phase, _mapping(value, doc, (*ipath, key)), (*ipath, key), start)
            elif key in UNSUPPORTED_STEPS:
                self.warnings.add(f"{key} steps are not simulated: skipped", doc=doc, path=(*ipath, key))
            else:
                self.warnings.add(f"unknown step {key!r}: skipped", doc=doc, path=(*ipath, key))
            where.append(len(steps) if steps else 1)
        if not steps:
            steps.append({"weight": 100.0})  # no steps: Argo promotes at once
        return steps, where

    def _pause(self, steps: list[dict], phase: int, pause: Mapping, path: tuple, start) -> int:
        """Add a ``pause`` item to the steps (a new Step when the current one is past it); the new phase."""
        doc = self.doc
        for extra in pause:
            if extra != "duration":
                self.warnings.add("unknown pause key: ignored", doc=doc, path=(*path, extra))
        if pause.get("duration") is None:
            if not steps or phase >= 3:
                start(steps[-1]["weight"] if steps else 0.0)
            steps[-1]["manual"] = True
            return 3
        seconds = _duration(pause["duration"], doc, (*path, "duration"))
        if seconds == 0:
            self.warnings.add("a pause of 0 s: nothing to wait for, dropped", doc=doc, path=(*path, "duration"))
            return phase
        if not steps or phase >= 2:
            start(steps[-1]["weight"] if steps else 0.0)
        steps[-1]["pause_s"] = seconds
        return 2

    def _blue_green(self, body: Mapping, path: tuple, base_strategy: Any) -> dict[str, Any]:
        doc = self.doc
        for key in body:
            if key not in _SILENT_BLUEGREEN:
                self.warnings.add("unknown blueGreen key: ignored", doc=doc, path=(*path, key))
        for key, why in (("scaleDownDelaySeconds", "the old pods' scale-down is not simulated"),
                         ("previewReplicaCount", "the preview's replicas come from the base scenario")):
            if key in body:
                self.warnings.add(f"{key}: {why}", doc=doc, path=(*path, key))
        out: dict[str, Any] = {"kind": "blue_green"}
        out.update(self._inherit(base_strategy, "blue_green", ("split", "interval_s", "window_s", "manual_pause_s")))
        auto = body.get("autoPromotionEnabled", True)
        if not isinstance(auto, bool):
            raise doc.error(f"expected true or false, got {auto!r}", (*path, "autoPromotionEnabled"))
        out["auto_promotion"] = auto
        seconds = body.get("autoPromotionSeconds")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise doc.error(f"expected a number of seconds, got {seconds!r}", (*path, "autoPromotionSeconds"))
            out["switch_s"] = float(seconds)
        else:
            out["switch_s"] = 0.0
        for key, field in (("prePromotionAnalysis", "pre_promotion_analysis"),
                           ("postPromotionAnalysis", "post_promotion_analysis")):
            if key in body:
                out[field] = list(self._reference(_mapping(body[key], doc, (*path, key)), (*path, key)))
        out["analysis_templates"] = self.templates
        return out

    # ------------------------------------------------------------------ templates

    def _reference(self, analysis: Mapping, path: tuple) -> tuple[str, ...]:
        """Our template names for a ``{templates, args}`` reference, converting each template once per args."""
        doc = self.doc
        for key, why in (("dryRun", "a rollout-level dryRun is not mapped; put dryRun in the AnalysisTemplate"),
                         ("measurementRetention", "measurement retention does not change a rehearsal")):
            if key in analysis:
                self.warnings.add(why, doc=doc, path=(*path, key))
        args: dict[str, Any] = {}
        for i, arg in enumerate(_list(analysis.get("args"), doc, (*path, "args"))):
            arg = _mapping(arg, doc, (*path, "args", i))
            name = arg.get("name")
            if not isinstance(name, str):
                raise doc.error("an argument needs a name", (*path, "args", i))
            if "valueFrom" in arg:
                self.warnings.add(f"argument {name!r} is read from the cluster (valueFrom): not known in a "
                                  "rehearsal", doc=doc, path=(*path, "args", i, "valueFrom"))
                args[name] = None
            else:
                args[name] = arg.get("value")
        refs = _list(analysis.get("templates"), doc, (*path, "templates"))
        if not refs:
            raise doc.error("names no templates", (*path, "templates"))
        names = []
        for i, ref in enumerate(refs):
            rpath = (*path, "templates", i)
            ref = _mapping(ref, doc, rpath)
            name = ref.get("templateName")
            if not isinstance(name, str) or not name:
                raise doc.error("needs a templateName", rpath)
            kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
            tdoc = self.library.get((kind, name))
            if tdoc is None:
                known = sorted(f"{k}/{n}" for k, n in self.library) or ["none"]
                raise doc.error(f"{kind} {name!r} not found (given: {', '.join(known)})", (*rpath, "templateName"))
            names.append(self._template(tdoc, args))
        return unique(names)

    def _template(self, tdoc: YamlDocument, args: Mapping[str, Any]) -> str:
        """Convert a template with ``args``; its name in ``analysis_templates`` (``name-2`` for other args)."""
        metrics = self._metrics(tdoc, args, depth=0, seen=())
        converted = {"metrics": metrics}
        name = tdoc.name
        key, n = name, 1
        while key in self.templates and self.templates[key] != converted:
            n += 1
            key = f"{name}-{n}"
        if key != name and key not in self.templates:
            self.warnings.add(f"referenced with other arguments than before: imported again as {key!r}", doc=tdoc)
        self.templates[key] = converted
        return key

    def _metrics(self, tdoc: YamlDocument, ref_args: Mapping[str, Any], *, depth: int, seen: tuple) -> list[dict]:
        """The template's metrics (those of the templates it includes first), arguments filled in."""
        spec = tdoc.data["spec"]
        args = self._template_args(tdoc, ref_args)
        for key in spec:
            if key not in ("args", "metrics", "dryRun", "measurementRetention", "templates"):
                self.warnings.add("unknown AnalysisTemplate spec key: ignored", doc=tdoc, path=("spec", key))
        if "measurementRetention" in spec:
            self.warnings.add("measurement retention does not change a rehearsal", doc=tdoc,
                              path=("spec", "measurementRetention"))
        out: list[dict] = []
        for i, ref in enumerate(_list(spec.get("templates"), tdoc, ("spec", "templates"))):
            rpath = ("spec", "templates", i)
            ref = _mapping(ref, tdoc, rpath)
            kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
            inner = self.library.get((kind, ref.get("templateName")))
            if inner is None:
                raise tdoc.error(f"{kind} {ref.get('templateName')!r} not found", (*rpath, "templateName"))
            if inner.name in seen or depth >= MAX_TEMPLATE_DEPTH:
                raise tdoc.error("templates include each other in a loop (or too deep)", rpath)
            out.extend(self._metrics(inner, args, depth=depth + 1, seen=(*seen, tdoc.name)))
        hints = self._hints(tdoc)
        for i, metric in enumerate(_list(spec.get("metrics"), tdoc, ("spec", "metrics"))):
            out.append(self._metric(tdoc, i, _mapping(metric, tdoc, ("spec", "metrics", i)), args, hints))
        for i, pattern in enumerate(self._dry_run(tdoc)):
            hits = [m for m in out if _matches(pattern, m["name"])]
            if not hits:
                raise tdoc.error(f"{pattern!r} matches no metric name", ("spec", "dryRun", i, "metricName"))
            for m in hits:
                m["dry_run"] = True
        names = [m["name"] for m in out]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise tdoc.error(f"metric {n!r} appears twice (Argo refuses to merge them)", ("spec", "metrics"))
        if not out:
            raise tdoc.error("has no metrics", ("spec", "metrics"))
        return out

    def _template_args(self, tdoc: YamlDocument, ref_args: Mapping[str, Any]) -> dict[str, Any]:
        """The template's arguments: its defaults, overridden by the reference's values."""
        args: dict[str, Any] = {}
        for i, arg in enumerate(_list(tdoc.data["spec"].get("args"), tdoc, ("spec", "args"))):
            arg = _mapping(arg, tdoc, ("spec", "args", i))
            name = arg.get("name")
            if not isinstance(name, str):
                raise tdoc.error("an argument needs a name", ("spec", "args", i))
            if "valueFrom" in arg and ref_args.get(name) is None:
                self.warnings.add(f"argument {name!r} is read from a secret or field (valueFrom): not known in a "
                                  "rehearsal", doc=tdoc, path=("spec", "args", i, "valueFrom"))
            args[name] = arg.get("value")
        for name, value in ref_args.items():
            if value is not None or name not in args:
                args[name] = value
        return args

    def _dry_run(self, tdoc: YamlDocument) -> list[str]:
        """The template's ``dryRun`` metric-name patterns."""
        out = []
        for i, entry in enumerate(_list(tdoc.data["spec"].get("dryRun"), tdoc, ("spec", "dryRun"))):
            entry = _mapping(entry, tdoc, ("spec", "dryRun", i))
            pattern = entry.get("metricName")
            if not isinstance(pattern, str):
                raise tdoc.error("needs a metricName", ("spec", "dryRun", i))
            out.append(pattern)
        return out

    def _hints(self, tdoc: YamlDocument) -> dict[str, dict]:
        """The per-metric settings an export wrote in the ``rollout-workbench.io/metrics`` annotation."""
        meta = tdoc.data.get("metadata")
        notes = meta.get("annotations") if isinstance(meta, Mapping) else None
        text = notes.get(ANNOTATION) if isinstance(notes, Mapping) else None
        if text is None:
            return {}
        path = ("metadata", "annotations", ANNOTATION)
        try:
            hints = json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError as exc:
            raise tdoc.error(f"not valid JSON: {exc}", path) from None
        if not isinstance(hints, dict) or not all(isinstance(v, dict) for v in hints.values()):
            raise tdoc.error("expected a JSON object of metric name -> settings", path)
        return hints

    def _metric(self, tdoc: YamlDocument, i: int, metric: Mapping, args: Mapping[str, Any],
                hints: Mapping[str, dict]) -> dict[str, Any]:
        """One metric as an :class:`~workbench.scenario.AnalysisMetric` mapping."""
        mpath = ("spec", "metrics", i)
        name = metric.get("name")
        if not isinstance(name, str) or not name:
            raise tdoc.error("a metric needs a name", mpath)
        label = f"metric {name!r}"
        for key in metric:
            if key not in _METRIC_KEYS:
                self.warnings.add(f"{label}: unknown key, ignored", doc=tdoc, path=(*mpath, key))
        unresolved: list[str] = []

        def fill(value: Any) -> Any:
            if isinstance(value, str):
                text, missing = substitute_args(value, args)
                unresolved.extend(m for m in missing if m not in unresolved)
                return text
            return value

        out: dict[str, Any] = {"name": name}
        out.update(self._settings(tdoc, mpath, metric, label, fill))
        provider, query = self._provider(tdoc, mpath, metric.get("provider"), label, fill)
        out["provider"] = provider
        out["query"] = query
        if unresolved:
            self.warnings.add(f"{label}: arguments without a value: {', '.join(unresolved)} (left as written)",
                              doc=tdoc, path=mpath)
        out.update(self._measure(tdoc, mpath, name, provider, query, hints.get(name, {})))
        return out

    def _settings(self, tdoc: YamlDocument, mpath: tuple, metric: Mapping, label: str, fill) -> dict[str, Any]:
        """The measurement schedule, limits and conditions of one metric."""
        out: dict[str, Any] = {}
        for key, field in (("interval", "interval_s"), ("initialDelay", "initial_delay_s")):
            if metric.get(key) is not None:
                seconds = _duration(fill(metric[key]), tdoc, (*mpath, key))
                if seconds > 0 or field == "initial_delay_s":
                    out[field] = seconds
        if metric.get("count") is not None:
            count = _int(fill(metric["count"]), tdoc, (*mpath, "count"), minimum=0)
            if count > 0:
                out["count"] = count
            else:
                self.warnings.add(f"{label}: count 0 runs until the analysis ends (in a step, Argo skips it)",
                                  doc=tdoc, path=(*mpath, "count"))
        for key, field, minimum in (("failureLimit", "failure_limit", -1),
                                    ("inconclusiveLimit", "inconclusive_limit", 0),
                                    ("consecutiveErrorLimit", "consecutive_error_limit", 0)):
            if metric.get(key) is not None:
                out[field] = _int(fill(metric[key]), tdoc, (*mpath, key), minimum=minimum)
        if metric.get("consecutiveSuccessLimit") not in (None, 0, "0"):
            self.warnings.add(f"{label}: consecutiveSuccessLimit is not simulated (only failureLimit decides)",
                              doc=tdoc, path=(*mpath, "consecutiveSuccessLimit"))
        for key, field in (("successCondition", "success_condition"), ("failureCondition", "failure_condition")):
            if metric.get(key) is not None:
                text = fill(metric[key])
                if not isinstance(text, str):
                    raise tdoc.error(f"{label}: expected a condition (text), got {text!r}", (*mpath, key))
                try:
                    parse_condition(text)
                except ConditionError as exc:
                    raise tdoc.error(f"{label}: {exc}", (*mpath, key)) from None
                out[field] = text
        return out

    def _measure(self, tdoc: YamlDocument, mpath: tuple, name: str, provider: str, query: str,
                 hint: Mapping[str, Any]) -> dict[str, Any]:
        """What the simulated query reads: measure, window (and the export's model and min_samples)."""
        label = f"metric {name!r}"
        measure = hint.get("measure") or resolve_measure(name, query, self.metric_map)
        if measure not in MEASURES:
            raise tdoc.error(f"{label}: cannot tell what it measures from its name or query; give a metric map "
                             f"entry (metric name or query text -> measure), one of {', '.join(MEASURES)}", mpath)
        out: dict[str, Any] = {"measure": measure}
        for field in ("model", "min_samples"):
            if field in hint:
                out[field] = hint[field]
        if "window_s" in hint:
            window = hint["window_s"]
        else:
            window = query_window_s(query) if provider in QUERY_PROVIDERS else None
        if window is not None:
            out["window_s"] = window
        if "scale" in hint:
            out["scale"] = hint["scale"]
        elif measure.startswith("latency_") and query_in_seconds(query):
            out["scale"] = 0.001  # the query reads seconds: its conditions compare seconds
        return out

    def _provider(self, tdoc: YamlDocument, mpath: tuple, provider: Any, label: str, fill) -> tuple[str, str]:
        """The provider's name and query text (JSON of its spec for providers without one query)."""
        ppath = (*mpath, "provider")
        provider = _mapping(provider, tdoc, ppath)
        if len(provider) != 1:
            raise tdoc.error(f"{label}: give exactly one provider, got {list(provider) or 'none'}", ppath)
        (kind, body), = provider.items()
        if kind in UNSIMULATED_PROVIDERS:
            self.warnings.add(f"{label}: a {kind} provider cannot be simulated; the metric is measured from its "
                              "name (or the metric map)", doc=tdoc, path=(*ppath, kind))
        if kind in QUERY_PROVIDERS and isinstance(body, Mapping) and isinstance(body.get("query"), str):
            extra = [k for k in body if k not in ("query", "address")]
            if extra:
                self.warnings.add(f"{label}: {kind} settings {', '.join(map(str, extra))} are not kept",
                                  doc=tdoc, path=(*ppath, kind))
            return kind, fill(body["query"])
        filled = _fill_tree(body, fill)
        return kind, json.dumps(filled, sort_keys=True, separators=(",", ":"))


def _fill_tree(value: Any, fill) -> Any:
    """``value`` with ``fill`` applied to every string inside it."""
    if isinstance(value, Mapping):
        return {str(k): _fill_tree(v, fill) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_tree(v, fill) for v in value]
    return fill(value)


def _matches(pattern: str, name: str) -> bool:
    """Whether a ``dryRun`` metricName selects ``name``: Argo searches the name for the regular expression."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


# ============================================================================ export

# a Prometheus query per measure, for metrics written without one (guess_measure reads it back)
_QUERIES = {
    "success_rate": 'sum(rate(http_requests_total{{code!~"5.."}}[{w}])) / sum(rate(http_requests_total[{w}]))',
    "error_rate": 'sum(rate(http_requests_total{{code=~"5.."}}[{w}])) / sum(rate(http_requests_total[{w}]))',
    "latency_p50_ms": "histogram_quantile(0.5, sum(rate(request_latency_ms_bucket[{w}])) by (le))",
    "latency_p95_ms": "histogram_quantile(0.95, sum(rate(request_latency_ms_bucket[{w}])) by (le))",
    "latency_p99_ms": "histogram_quantile(0.99, sum(rate(request_latency_ms_bucket[{w}])) by (le))",
    "prediction_mae": "avg_over_time(prediction_mae[{w}])",
    "business_rate": "sum(rate(conversions_total[{w}])) / sum(rate(http_requests_total[{w}]))",
}


def _prom_duration(seconds: float) -> str:
    """A Prometheus range for ``seconds`` (whole seconds; ``5m``, ``1h30m``)."""
    whole = max(1, int(math.ceil(seconds)))
    return format_duration(float(whole))


def _number(x: float) -> int | float:
    """An int when ``x`` is whole (YAML then writes ``20``, not ``20.0``)."""
    return int(x) if float(x).is_integer() else x


def to_argo(scenario: Scenario | str | Path | Mapping[str, Any], *, warnings: list | None = None) -> str:
    """The scenario's strategy as Argo Rollouts YAML: the Rollout, then one AnalysisTemplate per template.

    Progressive strategies become ``canary`` steps, blue/green ones ``blueGreen``. The
    Rollout refers to its pods with ``workloadRef`` (a Deployment named like the
    scenario), so the document is complete without inventing a pod template. Threshold
    gates become an AnalysisTemplate (``gates``) run in the background (blue/green:
    after the switch). What Argo cannot express (gates relative to legacy, a statistical
    judge, fractional weights) and how the gates were carried over are named in ``# note:``
    comments at the top and, when ``warnings`` is a list, appended to it.

    Raises
    ------
    RolloutSpecError
        For strategies with no Argo Rollouts equivalent (single, ab, canary, shadow,
        bandit, interleaving).
    """
    import yaml

    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    notes: list[str] = []
    st = s.strategy
    name = dns_name(s.name)
    if isinstance(st, ProgressiveStrategy | BlueGreenStrategy):
        st = _gates_as_analysis(st, notes)
    if isinstance(st, ProgressiveStrategy):
        body = {"canary": _export_canary(st, notes)}
    elif isinstance(st, BlueGreenStrategy):
        body = {"blueGreen": _export_blue_green(st, name)}
    else:
        raise RolloutSpecError(f"strategy kind {st.kind!r} has no Argo Rollouts equivalent; export a progressive "
                               "or blue_green strategy", source=s.source_path, field="strategy.kind")
    rollout = {
        "apiVersion": API_VERSION,
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "strategy": body,
        },
    }
    documents = [rollout]
    for tname, template in st.analysis_templates.items():
        documents.append(_export_template(tname, template))
    header = [f"# Argo Rollouts spec of the rollout-workbench scenario {s.name!r}"]
    header += [f"# note: {n}" for n in notes]
    if warnings is not None:
        warnings.extend(SpecWarning(n, s.source_path, None, None, "strategy") for n in notes)
    text = yaml.dump_all(documents, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                         allow_unicode=True, explicit_start=False, width=100)
    return "\n".join(header) + "\n" + text


def _gates_as_analysis(st: ProgressiveStrategy | BlueGreenStrategy, notes: list[str]):
    """The strategy with its threshold gates as an Argo AnalysisTemplate (Argo decides with templates only).

    Each gate becomes a metric measured every ``interval_s`` over the last ``window_s``
    (the progressive strategy's ``window_s``, else one interval), with the gate's
    ``min_samples`` and a failure condition on its threshold that a window without
    data does not meet; ``failure_limit`` carries over. A progressive strategy runs the
    template in the background from the first step; blue/green after the switch
    (post-promotion). What has no Argo form (gates relative to legacy, a statistical
    judge, failures reset by a pass) is named in ``notes``.
    """
    if isinstance(st, ProgressiveStrategy) and st.judge.kind != "threshold":
        notes.append(f"the {st.judge.kind} judge is not exported: Argo decides with AnalysisTemplates only")
    if not st.gates:
        return st
    metrics, names = [], set()
    window = st.window_s if isinstance(st, ProgressiveStrategy) else st.window_s
    window = window if window is not None else st.interval_s
    for i, g in enumerate(st.gates):
        if g.relative_to_legacy:
            notes.append(f"gates[{i}] ({g.metric} relative to legacy) is not exported: an Argo metric here reads "
                         "one model")
            continue
        name = g.name or g.metric.replace("_", "-")
        while name in names:
            name += "-2"
        names.add(name)
        op = ">" if g.direction == "max" else "<"
        metrics.append(AnalysisMetric(
            name=name, measure=g.metric, window_s=window, min_samples=g.min_samples, interval_s=st.interval_s,
            failure_condition=f"len(result) > 0 && result[0] {op} {g.threshold!r}",
            failure_limit=st.failure_limit))
    if not metrics:
        return st
    template = "gates"
    while template in st.analysis_templates:
        template += "-2"
    notes.append(f"gates exported as the AnalysisTemplate {template!r}: measured every "
                 f"{format_duration(st.interval_s)} over the last {format_duration(window)}; a window without "
                 "data passes in Argo (the scenario holds)")
    if st.failure_limit > 0 and getattr(st, "consecutive", False):
        notes.append("Argo counts failed measurements over the whole analysis; the scenario resets them on a pass")
    templates = {**st.analysis_templates, template: AnalysisTemplate(metrics=tuple(metrics))}
    if isinstance(st, ProgressiveStrategy):
        return st.model_copy(update={"gates": (), "analysis_templates": templates,
                                     "background_analysis": (*st.background_analysis, template),
                                     "background_starting_step": 1 if not st.background_analysis
                                     else st.background_starting_step})
    return st.model_copy(update={"gates": (), "analysis_templates": templates,
                                 "post_promotion_analysis": (*st.post_promotion_analysis, template)})


def _analysis_ref(names: Sequence[str]) -> dict[str, Any]:
    return {"templates": [{"templateName": n} for n in names]}


def _export_canary(st: ProgressiveStrategy, notes: list[str]) -> dict[str, Any]:
    """The ``canary`` body: steps, and the background analysis with its startingStep."""
    items: list[dict[str, Any]] = []
    first_item: list[int] = []  # Argo index of each Step's first item
    previous = 0.0
    for i, step in enumerate(st.steps):
        first_item.append(len(items))
        holds = bool(step.analysis) or step.pause_s is not None or step.manual
        if step.weight != previous or not holds:
            if not float(step.weight).is_integer():
                notes.append(f"steps[{i}].weight {step.weight:g}: Argo's setWeight takes whole percents")
            items.append({"setWeight": _number(step.weight)})
        if step.analysis:
            items.append({"analysis": _analysis_ref(step.analysis)})
        if step.pause_s is not None:
            items.append({"pause": {"duration": format_duration(step.pause_s)}})
        if step.manual:
            items.append({"pause": {}})
        previous = step.weight
    out: dict[str, Any] = {}
    if st.background_analysis:
        ref = _analysis_ref(st.background_analysis)
        start = first_item[st.background_starting_step - 1]
        if start:
            ref["startingStep"] = start
        out["analysis"] = ref
    out["steps"] = items
    return out


def _export_blue_green(st: BlueGreenStrategy, name: str) -> dict[str, Any]:
    """The ``blueGreen`` body."""
    out: dict[str, Any] = {"activeService": f"{name}-active", "previewService": f"{name}-preview"}
    if not st.auto_promotion:
        out["autoPromotionEnabled"] = False
    if st.switch_s > 0:
        out["autoPromotionSeconds"] = _number(st.switch_s)
    if st.pre_promotion_analysis:
        out["prePromotionAnalysis"] = _analysis_ref(st.pre_promotion_analysis)
    if st.post_promotion_analysis:
        out["postPromotionAnalysis"] = _analysis_ref(st.post_promotion_analysis)
    return out


def _export_template(name: str, template: Any) -> dict[str, Any]:
    """One AnalysisTemplate document, with the annotation of what Argo has no field for."""
    metrics = []
    hints: dict[str, dict] = {}
    dry = []
    for m in template.metrics:
        out, query = _export_metric(m)
        metrics.append(out)
        if m.dry_run:  # a pattern (searched) that selects this metric and no other
            others = [o.name for o in template.metrics if o.name != m.name]
            exact = _matches(m.name, m.name) and not any(_matches(m.name, o) for o in others)
            dry.append({"metricName": m.name if exact else f"^{re.escape(m.name)}$"})
        hint: dict[str, Any] = {"measure": m.measure}
        if m.model != "candidate":
            hint["model"] = m.model
        if m.min_samples != 1:
            hint["min_samples"] = m.min_samples
        read_window = query_window_s(query) if m.provider in QUERY_PROVIDERS else None
        if m.window_s != read_window:
            hint["window_s"] = m.window_s
        read_scale = 0.001 if m.measure.startswith("latency_") and query_in_seconds(query) else 1.0
        if m.scale != read_scale:
            hint["scale"] = m.scale
        hints[m.name] = hint
    spec: dict[str, Any] = {}
    if dry:
        spec["dryRun"] = dry
    spec["metrics"] = metrics
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name,
                     "annotations": {ANNOTATION: json.dumps(hints, sort_keys=True, separators=(",", ":"))}},
        "spec": spec,
    }


def _export_metric(m: Any) -> tuple[dict[str, Any], str]:
    """One metric as Argo writes it, and its query (written from the measure when it has none)."""
    query = m.query
    if not query and m.provider in QUERY_PROVIDERS:
        query = _QUERIES[m.measure].format(w=_prom_duration(m.window_s or 300.0))
    out: dict[str, Any] = {"name": m.name}
    if m.interval_s is not None:
        out["interval"] = format_duration(m.interval_s)
    if m.count is not None:
        out["count"] = m.count
    if m.initial_delay_s:
        out["initialDelay"] = format_duration(m.initial_delay_s)
    if m.success_condition:
        out["successCondition"] = m.success_condition
    if m.failure_condition:
        out["failureCondition"] = m.failure_condition
    for key, value, default in (("failureLimit", m.failure_limit, 0), ("inconclusiveLimit", m.inconclusive_limit, 0),
                                ("consecutiveErrorLimit", m.consecutive_error_limit, 4)):
        if value != default:
            out[key] = value
    out["provider"] = _export_provider(m.provider, query)
    return out, query


def _export_provider(provider: str, query: str) -> dict[str, Any]:
    """The provider mapping: ``{prometheus: {address, query}}``, or the spec kept as JSON."""
    if provider in QUERY_PROVIDERS:
        body: dict[str, Any] = {"address": DEFAULT_ADDRESS} if provider == "prometheus" else {}
        body["query"] = query
        return {provider: body}
    try:
        body = json.loads(query) if query else {}
    except json.JSONDecodeError:
        body = {"query": query}
    return {provider: body}


_DUMPER: list = []  # the YAML dumper class, built on first use (importing this module loads no PyYAML)


def _dumper():
    """Safe YAML dumper writing multi-line strings as literal blocks."""
    if not _DUMPER:
        import yaml

        class Dumper(yaml.SafeDumper):
            pass

        def text(dumper, value: str):
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        Dumper.add_representer(str, text)
        _DUMPER.append(Dumper)
    return _DUMPER[0]
