"""What the Argo Rollouts and Flagger converters share.

* :class:`RolloutSpecError`: a :class:`~workbench.scenario.ScenarioError` whose message
  names the file, the line, the document (``Kind/name``) and the field path, e.g.
  ``rollout.yaml:14: AnalysisTemplate/success-rate: spec.metrics[0].successCondition:
  column 12: unexpected ')'``.
* :class:`SpecWarning` and :class:`WarningList`: what an import could not map (a field
  that changes behaviour but is not simulated), each with the same location.
* YAML documents with line numbers (:func:`load_documents`, :class:`YamlDocument`):
  PyYAML's safe loader composes each document into nodes, which keep their marks, and
  constructs the plain data from the same nodes.
* Go durations (:func:`parse_duration`, :func:`format_duration`) and Prometheus range
  durations in queries (:func:`query_window_s`).
* From a query to a simulated measure: :func:`resolve_measure` (a metric map first,
  then :func:`guess_measure`'s name and query heuristics), :func:`load_metric_map`.
* ``{{args.name}}`` substitution (:func:`substitute_args`) and DNS-1123 names
  (:func:`dns_name`).

PyYAML is imported inside the functions that read YAML.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scenario import AnalysisMeasure, ScenarioError
from ..scenario.loading import MAX_FILE_BYTES

__all__ = [
    "MEASURES",
    "MAX_YAML_NODES",
    "RolloutSpecError",
    "SpecWarning",
    "WarningList",
    "YamlDocument",
    "read_text",
    "load_documents",
    "parse_duration",
    "format_duration",
    "parse_prom_duration",
    "query_window_s",
    "query_in_seconds",
    "guess_measure",
    "resolve_measure",
    "load_metric_map",
    "check_metric_map",
    "substitute_args",
    "dns_name",
    "render_path",
    "unique",
    "as_sequence",
]

MEASURES: tuple[str, ...] = typing.get_args(AnalysisMeasure)  # what a simulated query can return
MAX_YAML_NODES = 200_000  # nodes of a YAML file with every alias expanded (billion-laughs guard)

Path_ = tuple[str | int, ...]  # a field path inside a document: keys and list indices


def render_path(path: Path_) -> str:
    """``("spec", "steps", 2, "pause")`` -> ``spec.steps[2].pause``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _location(source: str | None, line: int | None, document: str | None, path: Path_ | str | None) -> tuple[str, str]:
    """The ``file:line`` prefix and the ``Kind/name: field`` part of a message."""
    where = source or "<text>"
    if line is not None:
        where = f"{where}:{line}"
    parts = []
    if document:
        parts.append(document)
    if path:
        parts.append(path if isinstance(path, str) else render_path(path))
    return where, ": ".join(parts)


class RolloutSpecError(ScenarioError):
    """A rollout spec (Argo Rollout, AnalysisTemplate, Flagger Canary, metric map) that cannot be imported.

    The message reads ``FILE:LINE: Kind/name: field.path: what is wrong``; the parts are
    kept as attributes (``source``, ``line``, ``document``, ``field``) for tools.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 document: str | None = None, field: Path_ | str | None = None):
        where, what = _location(source, line, document, field)
        text = f"{what}: {message}" if what else message
        super().__init__(text, source=where)
        self.source = source
        self.line = line
        self.document = document
        self.field = field if isinstance(field, str) or field is None else render_path(field)
        self.detail = message


@dataclass(frozen=True)
class SpecWarning:
    """Something of the spec that changes behaviour but is not simulated (or only in part)."""

    message: str
    source: str | None = None
    line: int | None = None
    document: str | None = None
    field: str = ""

    def __str__(self) -> str:
        where, what = _location(self.source, self.line, self.document, self.field)
        return f"{where}: {what}: {self.message}" if what else f"{where}: {self.message}"


class WarningList(list):
    """The warnings of one import, in the order they were found (a list of :class:`SpecWarning`)."""

    def add(self, message: str, *, doc: YamlDocument | None = None, path: Path_ = (),
            source: str | None = None, document: str | None = None) -> SpecWarning:
        """Append a warning located at ``path`` in ``doc`` (its file, line and ``Kind/name``)."""
        if doc is not None:
            source = doc.source if source is None else source
            document = doc.label if document is None else document
            line = doc.line(path)
        else:
            line = None
        w = SpecWarning(message, source, line, document, render_path(path))
        self.append(w)
        return w


# ---------------------------------------------------------------------------- YAML


@dataclass
class YamlDocument:
    """One document of a YAML stream: its data, its node tree (with marks) and where it came from."""

    data: Any
    node: Any
    source: str | None = None
    index: int = 0  # position in the stream, from 0
    _labels: dict = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """The document's ``kind`` ('' when it has none)."""
        return str(self.data.get("kind", "")) if isinstance(self.data, Mapping) else ""

    @property
    def name(self) -> str:
        """The document's ``metadata.name`` ('' when it has none)."""
        meta = self.data.get("metadata") if isinstance(self.data, Mapping) else None
        return str(meta.get("name", "")) if isinstance(meta, Mapping) else ""

    @property
    def label(self) -> str:
        """``Kind/name`` as kubectl writes it (``document N`` when it has neither)."""
        if self.kind or self.name:
            return f"{self.kind or '?'}/{self.name or '?'}"
        return f"document {self.index + 1}"

    def line(self, path: Path_ = ()) -> int | None:
        """1-based line of the field at ``path`` (of its deepest existing parent when missing).

        A mapping key's line is the key's own line, so ``spec.steps[1].pause`` points at
        the ``pause:`` key.
        """
        from yaml import MappingNode, SequenceNode

        node = self.node
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, MappingNode) and isinstance(part, str):
                for key, value in node.value:
                    if getattr(key, "value", None) == part:
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return line
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def error(self, message: str, path: Path_ = ()) -> RolloutSpecError:
        """A :class:`RolloutSpecError` located at ``path`` in this document (raise it)."""
        return RolloutSpecError(message, source=self.source, line=self.line(path), document=self.label, field=path)


def read_text(spec: str | Path, *, what: str = "spec") -> tuple[str, str | None]:
    """The text of a spec and its source name: a :class:`~pathlib.Path` (or a one-line str) is a file.

    A str with a line break is the YAML text itself (its source is ``None``). Files over
    the scenario size limit, missing or not UTF-8 are :class:`RolloutSpecError`.
    """
    if isinstance(spec, str) and ("\n" in spec or not spec.strip()):
        if len(spec.encode()) > MAX_FILE_BYTES:
            raise RolloutSpecError(f"{what} text is over {MAX_FILE_BYTES:,} bytes")
        return spec, None
    path = Path(spec)
    source = str(path)
    try:
        if path.is_dir():
            raise RolloutSpecError("is a directory, not a file", source=source)
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise RolloutSpecError(f"file is over {MAX_FILE_BYTES:,} bytes", source=source)
        return data.decode("utf-8"), source
    except FileNotFoundError:
        raise RolloutSpecError("file not found", source=source) from None
    except UnicodeDecodeError as exc:
        raise RolloutSpecError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
    except OSError as exc:
        raise RolloutSpecError(f"cannot read file ({exc.strerror or exc})", source=source) from None


def _expanded_size(node: Any, memo: dict[int, int], depth: int = 0) -> int:
    """Number of nodes of ``node`` with every alias expanded (memoised, so linear in the file)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > 200:
        raise RecursionError
    memo[key] = MAX_YAML_NODES + 1  # a node that contains itself is too large
    total = 1
    value = node.value
    if isinstance(value, list):
        for item in value:
            for child in item if isinstance(item, tuple) else (item,):
                total += _expanded_size(child, memo, depth + 1)
                if total > MAX_YAML_NODES:
                    break
    memo[key] = total
    return total


def load_documents(spec: str | Path, *, what: str = "spec") -> list[YamlDocument]:
    """Every non-empty document of a YAML file or text, with its node tree for line numbers.

    Uses PyYAML's safe loader only (no Python objects). Invalid YAML, or a stream whose
    aliases expand past :data:`MAX_YAML_NODES` nodes, is a :class:`RolloutSpecError`
    naming the file and line.
    """
    import yaml

    text, source = read_text(spec, what=what)
    loader = yaml.SafeLoader(text)
    docs: list[YamlDocument] = []
    memo: dict[int, int] = {}
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            index = len(docs)
            try:
                if _expanded_size(node, memo) > MAX_YAML_NODES:
                    raise RolloutSpecError(f"document {index + 1} expands to over {MAX_YAML_NODES:,} nodes",
                                           source=source, line=node.start_mark.line + 1)
            except RecursionError:
                raise RolloutSpecError(f"document {index + 1} is nested too deep",
                                       source=source, line=node.start_mark.line + 1) from None
            data = loader.construct_document(node)
            if data is None:
                continue
            docs.append(YamlDocument(data, node, source, index))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise RolloutSpecError(f"not valid YAML: {problem}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise RolloutSpecError(f"not valid YAML: {exc}", source=source) from None
    except RecursionError:
        raise RolloutSpecError("not valid YAML: nested too deep", source=source) from None
    finally:
        loader.dispose()
    return docs


# ---------------------------------------------------------------------------- durations

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_PROM_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PROM_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(value: Any) -> float:
    """Seconds of a Go duration (``"30s"``, ``"10m"``, ``"1h30m"``, ``"1.5h"``, ``"300ms"``) or a number of seconds.

    Argo Rollouts reads a pause ``duration`` given as an integer (or a string of digits)
    as seconds; everything else follows Go's ``time.ParseDuration``. Raises
    :class:`ValueError` with the reason (callers add the file and field).

    Examples
    --------
    >>> parse_duration("1h30m"), parse_duration(45), parse_duration("2m30.5s")
    (5400.0, 45.0, 150.5)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s' or '5m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            seconds = float(text)
        else:
            sign = -1.0 if text.startswith("-") else 1.0
            body = text.lstrip("+-")
            parts = _GO_PART.findall(body)
            if not body or "".join(n + u for n, u in parts) != body:
                raise ValueError(f"{value!r} is not a Go duration (e.g. '30s', '10m', '1h30m')")
            seconds = sign * math.fsum(float(n) * _GO_UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"expected a duration such as '30s' or '5m', got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r}: a duration must be finite and not negative")
    return seconds


def format_duration(seconds: float) -> str:
    """A Go duration for ``seconds``, shortest form: ``5400 -> "1h30m"``, ``300 -> "5m"``, ``0.25 -> "250ms"``.

    Whole seconds are written in ``h``/``m``/``s`` parts; other values as seconds with
    Python's shortest round-tripping decimal, so :func:`parse_duration` gives back
    exactly ``seconds``.

    Examples
    --------
    >>> format_duration(5400), format_duration(90), format_duration(0), format_duration(1.5)
    ('1h30m', '1m30s', '0s', '1.5s')
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot write {seconds!r} as a duration")
    if seconds == int(seconds) and seconds < 1e15:
        whole = int(seconds)
        h, rest = divmod(whole, 3600)
        m, s = divmod(rest, 60)
        out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
        return out or "0s"
    ms = seconds * 1000
    if seconds < 1 and ms == int(ms) and parse_duration(f"{int(ms)}ms") == seconds:
        return f"{int(ms)}ms"
    from decimal import Decimal

    return f"{Decimal(repr(seconds)):f}s"  # Go reads no exponents


def parse_prom_duration(text: str) -> float:
    """Seconds of a Prometheus duration (``5m``, ``1h30m``, ``2d``, ``500ms``); :class:`ValueError` if it is not one."""
    parts = _PROM_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Prometheus duration")
    return math.fsum(int(n) * _PROM_UNITS[u] for n, u in parts)


_RANGE = re.compile(r"\[\s*([0-9a-z]+)\s*(?::\s*[0-9a-z]*\s*)?\]")


def query_window_s(query: str) -> float | None:
    """The range of a query's range selectors (``rate(x[5m])`` -> 300), when they all agree.

    ``None`` when the query has no range selector, or several different ones (the
    window is then not one number). Subqueries ``[10m:1m]`` count by their range.

    Examples
    --------
    >>> query_window_s('sum(rate(http_requests_total{code!~"5.*"}[5m])) / sum(rate(http_requests_total[5m]))')
    300.0
    >>> query_window_s("up") is None
    True
    """
    windows = set()
    for m in _RANGE.finditer(query or ""):
        try:
            windows.add(parse_prom_duration(m.group(1)))
        except ValueError:
            continue  # an index or a label list, not a range
    return windows.pop() if len(windows) == 1 else None


_SECONDS = re.compile(r"_seconds(?:_bucket|_sum|_count)?\b|\bduration_seconds\b")


def query_in_seconds(query: str) -> bool:
    """Whether a latency query reads a metric in seconds (``*_seconds_bucket`` and the like)."""
    return bool(_SECONDS.search(query or ""))


# ---------------------------------------------------------------------------- measures


def guess_measure(name: str, query: str = "") -> str | None:
    """The simulated measure a metric most likely means, from its name, then its query.

    The kind comes from the name when it says one, else from the query (lower case):
    ``success`` -> ``success_rate``; ``error``, ``5xx`` or ``fail`` -> ``error_rate``;
    ``latency``, ``duration`` or ``histogram_quantile`` is a latency, whose quantile is
    read from the name, else the query: ``99`` -> ``latency_p99_ms``, ``95`` ->
    ``latency_p95_ms``, ``50``, ``0.5`` or ``median`` -> ``latency_p50_ms`` (none: the
    p99, the quantile rollouts usually gate on); ``mae`` -> ``prediction_mae``;
    ``conversion`` or ``business`` -> ``business_rate``. ``None`` when nothing matches.

    Examples
    --------
    >>> guess_measure("success-rate")
    'success_rate'
    >>> guess_measure("latency", "histogram_quantile(0.95, rate(request_duration_seconds_bucket[1m]))")
    'latency_p95_ms'
    """
    name, query = (name or "").lower(), (query or "").lower()
    kind = _kind_of(name) or _kind_of(query)
    if kind != "latency":
        return kind
    return _quantile(name) or _quantile(query) or "latency_p99_ms"


def _kind_of(text: str) -> str | None:
    """The measure (or ``"latency"``) a lower-case name or query speaks of."""
    if not text:
        return None
    if "success" in text:
        return "success_rate"
    if "error" in text or "5xx" in text or "fail" in text:
        return "error_rate"
    if "latency" in text or "duration" in text or "histogram_quantile" in text or re.search(r"\bp(50|95|99)\b", text):
        return "latency"
    if "mae" in text:
        return "prediction_mae"
    if "conversion" in text or "business" in text:
        return "business_rate"
    return None


def _quantile(text: str) -> str | None:
    """The latency quantile measure a lower-case text names, if any."""
    if "99" in text:
        return "latency_p99_ms"
    if "95" in text:
        return "latency_p95_ms"
    if "50" in text or "0.5" in text or "median" in text:
        return "latency_p50_ms"
    return None


def resolve_measure(name: str, query: str = "", metric_map: Mapping[str, str] | None = None) -> str | None:
    """The measure of a metric: ``metric_map`` first, then :func:`guess_measure`.

    A map key equal to the metric's name wins; otherwise the longest key that occurs in
    the query (ties in key order), so ``{"http_request_duration": "latency_p95_ms"}``
    maps every query over that metric. ``None`` when neither finds one.
    """
    if metric_map:
        if name in metric_map:
            return metric_map[name]
        hits = [k for k in metric_map if k and k in (query or "")]
        if hits:
            return metric_map[max(hits, key=len)]
    return guess_measure(name, query)


def check_metric_map(mapping: Mapping[str, Any], *, source: str | None = None) -> dict[str, str]:
    """A metric map checked: string keys, each value one of :data:`MEASURES`."""
    if not isinstance(mapping, Mapping):
        raise RolloutSpecError("a metric map is a table of metric name (or query text) -> measure", source=source)
    out: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise RolloutSpecError("keys must be non-empty strings", source=source, field=repr(key))
        if value not in MEASURES:
            raise RolloutSpecError(f"unknown measure {value!r}; expected one of {', '.join(MEASURES)}",
                                   source=source, field=key)
        out[key] = value
    return out


def load_metric_map(path: str | Path) -> dict[str, str]:
    """Read a metric map file: TOML (``.toml``) or JSON, one flat table ``key = "measure"``.

    A key is a metric name or a piece of query text (see :func:`resolve_measure`).
    Example (TOML)::

        "request-success" = "success_rate"
        "http_request_duration_seconds_bucket" = "latency_p99_ms"
    """
    path = Path(path)
    text, source = read_text(path, what="metric map")
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise RolloutSpecError(f"not valid {kind}: {exc}", source=source) from None
    return check_metric_map(raw, source=source)


# ---------------------------------------------------------------------------- text

_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def substitute_args(text: str, args: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Replace ``{{args.name}}`` with ``args[name]``; returns the text and the names left unresolved.

    Examples
    --------
    >>> substitute_args('x{service="{{args.service-name}}"}', {"service-name": "web"})
    ('x{service="web"}', [])
    """
    missing: list[str] = []

    def repl(m: re.Match) -> str:
        key = m.group(1)
        if key in args and args[key] is not None:
            return str(args[key])
        if key not in missing:
            missing.append(key)
        return m.group(0)

    return _ARG.sub(repl, text or ""), missing


def dns_name(text: str, *, fallback: str = "rollout") -> str:
    """A valid DNS-1123 label (lower case, digits, ``-``, at most 63 characters) made from ``text``.

    Examples
    --------
    >>> dns_name("Progressive_Good Candidate!")
    'progressive-good-candidate'
    """
    name = re.sub(r"[^a-z0-9-]+", "-", (text or "").lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")[:63].rstrip("-")
    return name or fallback


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats."""
    return tuple(dict.fromkeys(items))


def as_sequence(value: Any) -> Sequence[Any]:
    """``value`` when it is a list, else an empty tuple (for optional YAML lists)."""
    return value if isinstance(value, list) else ()
