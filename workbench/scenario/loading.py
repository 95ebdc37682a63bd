"""Reading scenario files: size and nesting limits, TOML parsing, and :func:`load_scenario`.

A file is refused before parsing when it is too large, not UTF-8 or not a regular
file; parsing refuses nesting deep enough to exhaust the parser's recursion. Every
refusal is a :class:`~workbench.scenario.ScenarioError` that names the file.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import MAX_NESTING
from .errors import ScenarioError
from .overrides import apply_overrides
from .schema import Scenario, validate_mapping

__all__ = ["MAX_FILE_BYTES", "load_scenario", "read_scenario_file", "parse_toml"]

MAX_FILE_BYTES = 10_000_000  # scenario files larger than this are refused before parsing


def read_scenario_file(path: Path) -> dict[str, Any]:
    """The raw mapping of the TOML file at ``path`` (not validated yet).

    Raises
    ------
    ScenarioError
        If the file is missing, a directory, over :data:`MAX_FILE_BYTES`, unreadable,
        not UTF-8 or not valid TOML.
    """
    source = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ScenarioError("is a directory, not a scenario file", source=source)
        if size > MAX_FILE_BYTES:
            raise ScenarioError(
                f"file is {size:,} bytes; scenario files are at most {MAX_FILE_BYTES:,} bytes", source=source
            )
        with path.open("rb") as fh:  # read at most the cap: the file may grow (or be a pipe)
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ScenarioError(f"file is over {MAX_FILE_BYTES:,} bytes", source=source)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read file ({exc.strerror or exc})", source=source) from None
    return parse_toml(text, source)


def parse_toml(text: str, source: str | None) -> dict[str, Any]:
    """Parse TOML text; nesting deep enough to exhaust the parser's recursion is an error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:
        raise ScenarioError(f"tables or arrays nested more than {MAX_NESTING} deep", source=source) from None


def load_scenario(path_or_mapping: str | Path | Mapping[str, Any], overrides=None) -> Scenario:
    """Load and validate a scenario from a TOML path or a mapping.

    Raises
    ------
    ScenarioError
        If the file cannot be read or parsed, or any field is invalid. The message
        names the file and the field path.
    """
    if isinstance(path_or_mapping, Scenario):
        return path_or_mapping.with_overrides(overrides)
    if isinstance(path_or_mapping, Mapping):
        raw = copy.deepcopy(dict(path_or_mapping))
        source = None
    else:
        path = Path(path_or_mapping)
        source = str(path)
        raw = read_scenario_file(path)
    if overrides:
        try:
            defaults = validate_mapping(raw, source=source).to_mapping()
        except ScenarioError:
            defaults = None  # the file alone is invalid: the overrides may be what fixes it
        raw = apply_overrides(raw, overrides, source=source, defaults=defaults)
    return validate_mapping(raw, source=source)
