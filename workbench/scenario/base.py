"""What every scenario table shares: strict validation, read-only tables, raw-value limits.

Tables are pydantic models built on :class:`StrictModel`: unknown keys are errors, the
model is frozen, infinities and NaN are refused, and a value of the wrong kind is never
converted (``rate_per_s = true`` or ``"50"`` is an error, not a number). Dict-valued
fields are :data:`FrozenDict`, so a loaded scenario cannot be edited in place.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from .errors import FieldError

__all__ = [
    "MAX_MAGNITUDE",
    "MAX_NESTING",
    "IDENTIFIER",
    "ReadOnlyDict",
    "FrozenDict",
    "StrictModel",
    "nesting_depth",
]

MAX_MAGNITUDE = 1e12  # any real number in a scenario: beyond it products and squares overflow
MAX_NESTING = 64  # tables and arrays inside each other; a scenario needs fewer than ten
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"  # names of models and features (columns of tables)


class ReadOnlyDict(dict):
    """A dict that refuses changes, so a loaded scenario cannot be edited in place.

    Use :meth:`Scenario.with_overrides`, which re-validates.
    """

    def _refuse(self, *args, **kwargs):
        raise TypeError("scenario tables are read-only; use Scenario.with_overrides(...)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    pop = popitem = clear = update = setdefault = _refuse

    def __deepcopy__(self, memo):
        return ReadOnlyDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __reduce__(self):
        return (ReadOnlyDict, (dict(self),))


class _FrozenDictAlias:
    """``FrozenDict[K, V]``: a dict field validated as ``dict[K, V]`` and frozen after."""

    def __class_getitem__(cls, params):
        return Annotated[dict[params], AfterValidator(ReadOnlyDict)]


FrozenDict = _FrozenDictAlias


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of a field's annotation (``Annotated`` and ``X | None`` unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in _unwrap(arg)]
    return [annotation]


def _scalar_problem(alternatives: list[Any], value: Any) -> tuple[str, str] | None:
    """``(sub-path, why)`` when ``value`` has the wrong kind for a number or boolean field."""
    numeric = [a for a in alternatives if a in (int, float)]
    if isinstance(value, bool):
        return None if bool in alternatives else ("", "expected a number, got a boolean")
    if isinstance(value, (int, float)):
        if not numeric and str not in alternatives:
            return "", "expected true or false, got a number"
        finite = not isinstance(value, float) or math.isfinite(value)  # inf and NaN: pydantic's message
        if float in alternatives and finite and abs(value) > MAX_MAGNITUDE:
            return "", f"must be between {-MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g} (larger values overflow)"
        return None
    if isinstance(value, str) and str not in alternatives:
        return "", f"expected {'a number' if numeric else 'true or false'}, got text {value!r}"
    return None


def _type_problem(annotation: Any, value: Any) -> tuple[str, str] | None:
    """``(sub-path, why)`` when ``value`` has the wrong kind for ``annotation``, else None.

    Stricter than pydantic's lax mode on purpose: a boolean is not a number
    (``rate_per_s = true``), a number is not a boolean (``sticky = 1``) and text is not a
    number (``rate_per_s = "50"``), so a typo in a scenario never becomes a value.
    """
    alternatives = _unwrap(annotation)
    if bool in alternatives or any(a in (int, float) for a in alternatives):
        return _scalar_problem(alternatives, value)
    for alt in alternatives:
        if typing.get_origin(alt) is dict and isinstance(value, Mapping):
            inner = typing.get_args(alt)[1] if len(typing.get_args(alt)) == 2 else Any
            for key, item in value.items():
                problem = _type_problem(inner, item)
                if problem:
                    return f".{key}{problem[0]}", problem[1]
    return None


class StrictModel(BaseModel):
    """Base of every scenario table: unknown keys are errors, frozen, finite, no type juggling."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_type_juggling(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is not None:
                    problem = _type_problem(field.annotation, value)
                    if problem:
                        raise FieldError(name + problem[0], problem[1])
        return data


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Depth of nested tables and arrays, counted up to ``limit + 1``.

    Iterative, so a hostile file nested thousands deep cannot exhaust the recursion limit.

    Examples
    --------
    >>> nesting_depth({"a": [1, {"b": 2}]}), nesting_depth(3)
    (3, 0)
    """
    stack = [(value, 0)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
