"""Scenario errors: :class:`ScenarioError` and the ``path: message`` text of each mistake.

Every error names the file (when known) and the field path, e.g.
``scenarios/x.toml: models.candidate.latency.p99_ms: must be greater than median_ms``,
so that a mistake in a scenario is found without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SHOWN_ERRORS", "ScenarioError", "FieldError", "format_error"]

MAX_SHOWN_ERRORS = 20  # a file with thousands of mistakes shows the first ones and a count


class ScenarioError(ValueError):
    """A scenario is invalid. The message names the file (when known) and the field path."""

    def __init__(self, message: str, *, source: str | None = None, errors: list[str] | None = None):
        self.source = source
        self.errors = errors or [message]
        prefix = f"{source}: " if source else ""
        if errors and len(errors) > 1:
            shown = errors[:MAX_SHOWN_ERRORS]
            text = prefix + f"{len(errors)} errors\n" + "\n".join(f"  {e}" for e in shown)
            if len(errors) > len(shown):
                text += f"\n  ... and {len(errors) - len(shown)} more"
        else:
            text = prefix + message
        super().__init__(text)


class FieldError(ValueError):
    """Raised inside validators to point at a sub-field of the table being validated.

    :func:`format_error` appends ``field`` to the table's path, so a check on a whole
    table can still name the one key that is wrong.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def _error_path(loc: list[Any], raw: Any) -> tuple[str, Any]:
    """The field path of a pydantic error location, and the raw value it ends at.

    The tags pydantic inserts for discriminated unions (``kind`` and ``dist`` values)
    and its validator-function markers are not keys of the file, so they are left out.
    """
    parts: list[str] = []
    node = raw
    tag_seen = False
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, Mapping) and item in (node.get("kind"), node.get("dist")) and not tag_seen:
            tag_seen = True  # the discriminated-union tag pydantic inserts (once per table)
            continue
        if isinstance(node, Mapping) and item in node:
            parts.append(item if not parts else f".{item}")
            node = node[item]
            tag_seen = False
        elif item in ("function-after", "function-before") or item.startswith("function-"):
            continue
        else:
            parts.append(item if not parts else f".{item}")
            node = None
    return "".join(parts), node


def format_error(err: Mapping[str, Any], raw: Any) -> str:
    """Turn one pydantic error into ``path: message`` with tags of unions removed."""
    path, node = _error_path(list(err.get("loc", ())), raw)
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    kind = err.get("type", "")
    if isinstance(inner, FieldError):
        sub = inner.field
        joiner = "" if sub.startswith("[") or not path else "."
        path = f"{path}{joiner}{sub}"
        message = str(inner).split(": ", 1)[1]
    elif kind == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are not allowed)"
    elif kind == "missing":
        message = "is required"
    elif kind == "union_tag_invalid":
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag", "")
        message = f"unknown kind {tag!r}; expected one of {expected}"
        if isinstance(node, Mapping):
            key = "kind" if "kind" in node else ("dist" if "dist" in node else None)
            if key:
                path = f"{path}.{key}" if path else key
    elif kind == "union_tag_not_found":
        message = f"needs a {ctx.get('discriminator', 'kind')!s} field"
    else:
        message = err.get("msg", "invalid value")
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        message = message.replace("tuple", "list")
    return f"{path or '<root>'}: {message}"
