"""Dotted-path overrides of a raw scenario mapping (``--set traffic.rate_per_s=80``).

Overrides apply to the mapping as written, before validation, so that the result is
validated like a file: a path such as ``faults[0].multiplier`` or
``strategy.steps[1].weight`` names a key, and an override that makes the scenario
invalid is reported with that key's path.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from .base import MAX_NESTING, nesting_depth
from .errors import ScenarioError

__all__ = ["apply_overrides", "parse_override_value", "parse_path", "render_path"]

_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """The keys (str) and list indices (int) of a dotted override path.

    Raises
    ------
    ValueError
        If the path is empty, has surrounding blanks or is not ``key``, ``.key`` and ``[i]`` parts.

    Examples
    --------
    >>> parse_path("strategy.steps[1].weight")
    ['strategy', 'steps', 1, 'weight']
    """
    if not path or path.strip() != path:
        raise ValueError(f"bad override path {path!r}")
    tokens: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(path):
        gap = path[pos : m.start()]
        if gap not in ("", "."):
            raise ValueError(f"bad override path {path!r}")
        tokens.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not tokens:
        raise ValueError(f"bad override path {path!r}")
    return tokens


def render_path(tokens: list[str | int]) -> str:
    """The dotted path of ``tokens`` (inverse of :func:`parse_path`)."""
    text = ""
    for t in tokens:
        text += f"[{t}]" if isinstance(t, int) else (f".{t}" if text else t)
    return text


def _descend(
    out: dict[str, Any],
    tokens: list[str | int],
    overrides: Mapping[str, Any],
    defaults: Mapping[str, Any] | None,
    source: str | None,
) -> Any:
    """The container the last token of ``tokens`` is set in, creating missing tables on the way."""
    node: Any = out
    default: Any = defaults
    for depth, tok in enumerate(tokens[:-1]):
        nxt = tokens[depth + 1]
        where = render_path(tokens[: depth + 1])
        if isinstance(tok, int):
            if not isinstance(node, list) or tok >= len(node):
                raise ScenarioError(f"{where}: no such list element", source=source)
            node = node[tok]
            default = default[tok] if isinstance(default, list) and tok < len(default) else None
            continue
        if not isinstance(node, dict):
            raise ScenarioError(f"{where}: not a table", source=source)
        default = default.get(tok) if isinstance(default, Mapping) else None
        if tok not in node or node[tok] is None:
            variant_set = any(k in (f"{where}.kind", f"{where}.dist") for k in overrides)
            if isinstance(default, (dict, list)) and not variant_set:
                node[tok] = copy.deepcopy(default)
            else:
                node[tok] = [] if isinstance(nxt, int) else {}
        node = node[tok]
    return node


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any],
    *,
    source: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``raw`` with dotted-path overrides set.

    Paths look like ``traffic.rate_per_s``, ``faults[0].multiplier`` or
    ``strategy.steps[1].weight``. A missing table on the way is created; a list
    index out of range is an error. With ``defaults`` (the validated scenario's full
    mapping), a table missing on the way is first filled from the defaults, unless the
    overrides themselves set that table's ``kind`` or ``dist`` (a different variant).

    Examples
    --------
    >>> apply_overrides({"traffic": {"rate_per_s": 5}}, {"traffic.rate_per_s": 8})
    {'traffic': {'rate_per_s': 8}}
    """
    out = copy.deepcopy(dict(raw))
    for path, value in overrides.items():
        try:
            tokens = parse_path(path)
        except ValueError as exc:
            raise ScenarioError(str(exc), source=source) from None
        node = _descend(out, tokens, overrides, defaults, source)
        last = tokens[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ScenarioError(f"{render_path(tokens)}: no such list element", source=source)
        elif not isinstance(node, dict):
            raise ScenarioError(f"{render_path(tokens[:-1])}: not a table", source=source)
        node[last] = copy.deepcopy(value)
    return out


def parse_override_value(text: str) -> Any:
    """Parse a CLI ``--set`` value as TOML (numbers, booleans, arrays), else a string.

    Examples
    --------
    >>> parse_override_value("80"), parse_override_value("true"), parse_override_value("abc")
    (80, True, 'abc')
    """
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ScenarioError(f"value {text[:20]!r}...: arrays or tables nested more than {MAX_NESTING} deep") from None
    if nesting_depth(value) > MAX_NESTING:
        raise ScenarioError(f"value {text[:20]!r}...: arrays or tables nested more than {MAX_NESTING} deep")
    return value
