"""Scenario mappings and TOML writing shared by the test modules.

The scenarios are plain dicts, as a user would pass to ``workbench.run`` or
``load_scenario``; tests copy them (``with_changes``, ``{**MIXED, ...}``) and never
change them in place, because every test module in a worker shares these objects.
The TOML writer turns such mappings back into files, including deliberately
awkward ones (``Verbatim`` text, ``Inline`` tables, ``DeepTable`` nesting).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workbench.scenario import ScenarioError, load_scenario

__all__ = [
    "MINIMAL",
    "MIXED",
    "TWO_MODELS",
    "DeepTable",
    "Inline",
    "Verbatim",
    "dotted_path",
    "mmc",
    "shipped",
    "raises_scenario_error",
    "to_inline_toml",
    "to_toml",
    "toml_key",
    "toml_value",
    "walk",
    "with_changes",
]

# ----------------------------------------------------------------------------- scenarios
MINIMAL = {"name": "minimal", "duration_s": 60, "models": {"legacy": {}}}
"""The smallest valid scenario: one model, every other field at its default."""

TWO_MODELS = {
    "name": "two",
    "duration_s": 600,
    "models": {
        "legacy": {"latency": {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}},
        "candidate": {"latency": {"dist": "lognormal", "median_ms": 35, "p99_ms": 100}},
    },
    "strategy": {"kind": "ab", "candidate_fraction": 0.2},
}
"""A legacy and a candidate model under an A/B split: the smallest two-model scenario."""

MIXED = {
    "name": "mixed", "duration_s": 240, "warmup_s": 30,
    "traffic": {"rate_per_s": 80, "users": 400},
    "models": {
        "legacy": {"latency": {"dist": "lognormal", "median_ms": 30, "p99_ms": 120}, "replicas": 3,
                   "timeout_ms": 200, "error_rate": 0.01},
        "candidate": {"latency": {"dist": "exponential", "mean_ms": 35}, "replicas": 3, "timeout_ms": 200,
                      "queue_limit": 4, "error_rate": 0.02, "noise": 0.4},
    },
    "strategy": {"kind": "ab", "candidate_fraction": 0.5},
    "faults": [
        {"kind": "latency_spike", "target": "candidate", "start_s": 100, "duration_s": 40, "multiplier": 4.0},
        {"kind": "error_burst", "target": "legacy", "start_s": 160, "duration_s": 30, "error_rate": 0.3},
    ],
}
"""A short A/B run in which every status and failure cause occurs (errors, a burst, timeouts, a full queue)."""


def mmc(rate, mean_ms, c, duration=3600, **extra):
    """An M/M/c queue: Poisson arrivals at ``rate`` per s, exponential service, ``c`` replicas.

    ``extra`` goes into the one model's table (e.g. ``queue_limit``).
    """
    return {
        "name": "mmc",
        "duration_s": duration,
        "warmup_s": min(200, duration / 4),
        "traffic": {"rate_per_s": rate, "users": 1000},
        "models": {
            "legacy": {
                "latency": {"dist": "exponential", "mean_ms": mean_ms},
                "replicas": c,
                "error_rate": 0.0,
                **extra,
            }
        },
    }


SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"


def shipped(name: str):
    """A shipped scenario (``scenarios/<name>.toml``), loaded and validated."""
    return load_scenario(SCENARIOS_DIR / f"{name}.toml")


def with_changes(base: dict, **changes: Any) -> dict:
    """A deep copy of ``base`` with top-level keys replaced by ``changes``."""
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def raises_scenario_error(source, match: str | None = None, **kwargs) -> ScenarioError:
    """The :class:`ScenarioError` that loading ``source`` must raise (containing ``match``)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(source, **kwargs)
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value


def walk(node: Any, tokens: tuple = ()):
    """Every (path tokens, value) below ``node``, tables and lists included (not the root itself)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*tokens, k), v
            yield from walk(v, (*tokens, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*tokens, i), v
            yield from walk(v, (*tokens, i))


def dotted_path(tokens: tuple) -> str:
    """Path tokens as the field path errors name, e.g. ``faults[0].start_s``."""
    text = ""
    for t in tokens:
        text += f"[{t}]" if isinstance(t, int) else (f".{t}" if text else t)
    return text


# ----------------------------------------------------------------------------- TOML writing
class Inline(dict):
    """A table that ``to_toml`` always writes inline, ``{...}``, rather than under a header."""


class Verbatim(str):
    """A value written to TOML as given (e.g. ``nan``, or text that is not valid TOML)."""


@dataclass(frozen=True)
class DeepTable:
    """``depth`` nested tables ``[...key.key.key]`` written as one header holding ``x = 1``."""

    depth: int
    key: str


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else a quoted string."""
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """A TOML inline value: scalars, arrays and inline tables, ``nan``/``inf`` as literals."""
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML escapes
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_inline_toml(doc: dict[str, Any]) -> str:
    """Every top-level key as ``key = <inline value>``: one line each, no table headers."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, dict) and not isinstance(v, Inline) for v in value)


def _dump_table(table: dict, prefix: tuple[str, ...], lines: list[str], *, header: str | None) -> None:
    scalars = [(k, v) for k, v in table.items()
               if not ((isinstance(v, dict) and not isinstance(v, Inline)) or _is_table_array(v)
                       or isinstance(v, DeepTable))]
    deep = [(k, v) for k, v in table.items() if isinstance(v, DeepTable)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict) and not isinstance(v, Inline)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    # an intermediate table holding only one sub-table needs no header of its own
    implicit = header is not None and header.startswith("[") and not header.startswith("[[") and not scalars \
        and len(tables) == 1 and not arrays and not deep
    if header is not None and not implicit:
        lines.append(header)
    for k, v in scalars:
        lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in tables:
        path = (*prefix, k)
        _dump_table(v, path, lines, header="[" + ".".join(map(toml_key, path)) + "]")
    for k, v in arrays:
        path = (*prefix, k)
        for item in v:
            _dump_table(item, path, lines, header="[[" + ".".join(map(toml_key, path)) + "]]")
    for k, v in deep:
        path = (*prefix, k) + (v.key,) * (v.depth - 1)
        lines += ["[" + ".".join(map(toml_key, path)) + "]", "x = 1"]


def to_toml(doc: dict) -> str:
    """A TOML document for ``doc``: tables under headers, ``Inline`` tables inline."""
    lines: list[str] = []
    _dump_table(doc, (), lines, header=None)
    return "\n".join(lines) + "\n"
