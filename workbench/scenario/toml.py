"""Scenarios written back as TOML: what an import, a calibration, a plan or the panel saves.

:func:`dump_toml` writes a scenario mapping so that
:func:`~workbench.scenario.load_scenario` reads it back to an equal scenario: tables
become ``[a.b]`` sections, lists of tables ``[[a]]`` entries (tables inside them
inline), floats keep every digit (``repr``; ``inf`` and ``nan`` as TOML writes them), and
``None`` values, which TOML cannot hold, are left out (every optional field defaults
to ``None``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["dump_toml", "drop_none", "minimal_mapping"]

_TAGS = ("kind", "dist")  # discriminators: always written, so a union reads back as the same class

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: Any) -> str:
    key = str(key)
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        # a JSON string is a TOML basic string, but for DEL, which TOML wants escaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


def drop_none(value: Any) -> Any:
    """``value`` with every ``None`` left out of its mappings (TOML has no null)."""
    if isinstance(value, Mapping):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [drop_none(v) for v in value]
    return value


def _write_table(lines: list[str], prefix: str, table: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_list(v)}
    if prefix and (scalars or not any(isinstance(v, Mapping) or _is_table_list(v) for v in table.values())):
        lines += ["", f"[{prefix}]"]
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        key = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, Mapping):
            _write_table(lines, key, v)
        elif _is_table_list(v):
            for item in v:
                lines += ["", f"[[{key}]]"]
                for ik, iv in item.items():
                    lines.append(f"{_key(ik)} = {_value(iv)}")


def dump_toml(mapping: Mapping[str, Any]) -> str:
    """A scenario mapping as TOML text that loads back to the same scenario.

    Examples
    --------
    >>> print(dump_toml({"name": "x", "duration_s": 60.0, "models": {"legacy": {"error_rate": 0.01}},
    ...                  "faults": [{"kind": "error_burst", "start_s": 5.0}]}), end="")
    name = "x"
    duration_s = 60.0
    <BLANKLINE>
    [models.legacy]
    error_rate = 0.01
    <BLANKLINE>
    [[faults]]
    kind = "error_burst"
    start_s = 5.0
    """
    lines: list[str] = []
    _write_table(lines, "", drop_none(dict(mapping)))
    return "\n".join(lines).lstrip("\n") + "\n"


def minimal_mapping(model: Any) -> dict[str, Any]:
    """A pydantic model as a mapping of the fields that differ from their defaults (and its tags).

    Loading the mapping again gives an equal model: what is left out is the default.
    """
    from pydantic import BaseModel

    def walk(value: Any) -> Any:
        if isinstance(value, BaseModel):
            out = {}
            for name, field in type(value).model_fields.items():
                if field.exclude:
                    continue
                item = getattr(value, name)
                if name in _TAGS or field.is_required() or item != field.get_default(call_default_factory=True):
                    out[name] = walk(item)
            return out
        if isinstance(value, Mapping):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(model)
