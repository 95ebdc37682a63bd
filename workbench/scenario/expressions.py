"""A small, safe evaluator for the analysis conditions Argo Rollouts users write.

An AnalysisTemplate's ``successCondition`` / ``failureCondition`` is an expression
over ``result``, what the metric's query returned: here a vector of numbers
(``[value]``, or ``[]`` when the query found no data), as Argo's Prometheus provider
returns for an instant vector. Supported:

* numbers, ``true``, ``false``, ``result``, ``result[i]`` (negative ``i`` from the end);
* ``+ - * / %``, unary ``-``; comparisons ``< <= > >= == !=`` (numbers, or booleans
  with ``==``/``!=``);
* ``&&`` / ``and``, ``||`` / ``or``, ``!`` / ``not``, short-circuit, so
  ``len(result) == 0 || result[0] < 0.05`` never reads a missing value;
* functions ``len``, ``isNaN``, ``isInf``, ``abs``, ``min``, ``max``, ``asFloat``, ``asInt``.

Anything else is refused when the condition is parsed (:func:`parse_condition` raises
:class:`ConditionError` naming the column), and nothing is ever passed to ``eval``.
Evaluating an expression that reads a missing element, compares a vector with a
number, or gives something other than a boolean raises :class:`ConditionError` too:
Argo counts such a measurement as an Error.

Examples
--------
>>> parse_condition("result[0] >= 0.95").evaluate([0.97])
True
>>> parse_condition("len(result) == 0 || result[0] < 0.05").evaluate([])
True
>>> parse_condition("result[0] < 0.05").evaluate([])
Traceback (most recent call last):
...
workbench.scenario.expressions.ConditionError: result[0]: index 0 out of range (the query returned no values)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ConditionError", "Condition", "parse_condition"]

MAX_CONDITION_CHARS = 2000
MAX_NESTING = 32  # brackets and prefix operators (the parser recurses on each)


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated (the message says where and why)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/%<>!()\[\],]))"
)
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}


@dataclass(frozen=True)
class _Token:
    kind: str  # num, name, op, end
    text: str
    col: int  # 1-based column


def _tokens(text: str) -> list[_Token]:
    out = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ConditionError(f"column {col}: unexpected {text[col - 1]!r}")
        kind = m.lastgroup or "op"
        out.append(_Token(kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _number(x: Any, what: str) -> float:
    if _is_number(x):
        return x
    if isinstance(x, list | tuple):
        raise ConditionError(f"{what}: result is a vector of {len(x)} values; index it, e.g. result[0]")
    raise ConditionError(f"{what}: expected a number, got {_kind(x)}")


def _kind(x: Any) -> str:
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, list | tuple):
        return "a vector"
    return "a number"


def _vector(x: Any, what: str) -> Sequence[float]:
    if isinstance(x, list | tuple):
        return x
    raise ConditionError(f"{what}: expected a vector, got {_kind(x)}")


def _len(x):
    return len(_vector(x, "len()"))


def _is_nan(x):
    return math.isnan(_number(x, "isNaN()"))


def _is_inf(x):
    return math.isinf(_number(x, "isInf()"))


def _abs(x):
    return abs(_number(x, "abs()"))


def _min(*xs):
    values = list(_vector(xs[0], "min()")) if len(xs) == 1 else [_number(x, "min()") for x in xs]
    if not values:
        raise ConditionError("min(): no values")
    return min(values)


def _max(*xs):
    values = list(_vector(xs[0], "max()")) if len(xs) == 1 else [_number(x, "max()") for x in xs]
    if not values:
        raise ConditionError("max(): no values")
    return max(values)


def _as_float(x):
    return float(_number(x, "asFloat()"))


def _as_int(x):
    return int(_number(x, "asInt()"))


_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {  # name -> (function, min args, max args)
    "len": (_len, 1, 1),
    "isNaN": (_is_nan, 1, 1),
    "isInf": (_is_inf, 1, 1),
    "abs": (_abs, 1, 1),
    "min": (_min, 1, 8),
    "max": (_max, 1, 8),
    "asFloat": (_as_float, 1, 1),
    "asInt": (_as_int, 1, 1),
}

# a parsed expression: a function of ``result``
_Node = Callable[[Any], Any]


def _binary(op: str, left: _Node, right: _Node, col: int) -> _Node:
    where = f"column {col}: {op!r}"
    if op in ("&&", "and"):
        return lambda r: _truth(left(r), where) and _truth(right(r), where)
    if op in ("||", "or"):
        return lambda r: _truth(left(r), where) or _truth(right(r), where)
    if op in ("==", "!="):
        def equal(r):
            a, b = left(r), right(r)
            if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, list | tuple) or isinstance(b, list | tuple):
                raise ConditionError(f"{where}: cannot compare {_kind(a)} with {_kind(b)}")
            return (a == b) if op == "==" else (a != b)
        return equal
    compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}
    arith = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__}
    if op in compare:
        f = compare[op]
        return lambda r: f(float(_number(left(r), where)), float(_number(right(r), where)))
    if op in arith:
        f = arith[op]
        return lambda r: f(float(_number(left(r), where)), float(_number(right(r), where)))

    def divide(r):
        a, b = _number(left(r), where), _number(right(r), where)
        if b == 0:
            raise ConditionError(f"{where}: division by zero")
        return a / b if op == "/" else math.fmod(a, b)
    return divide


def _truth(x: Any, where: str) -> bool:
    if not isinstance(x, bool):
        raise ConditionError(f"{where}: expected a boolean, got {_kind(x)}")
    return x


class _Parser:
    """Recursive descent over the tokens; each rule returns a closure of ``result``."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> None:
        t = self.take()
        if t.text != text:
            found = "the end" if t.kind == "end" else repr(t.text)
            raise ConditionError(f"column {t.col}: expected {text!r}, found {found}")

    def parse(self) -> _Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise ConditionError(f"column {self.tok.col}: unexpected {self.tok.text!r}")
        return node

    def or_(self) -> _Node:
        node = self.and_()
        while self.tok.text in ("||", "or"):
            t = self.take()
            node = _binary(t.text, node, self.and_(), t.col)
        return node

    def and_(self) -> _Node:
        node = self.not_()
        while self.tok.text in ("&&", "and"):
            t = self.take()
            node = _binary(t.text, node, self.not_(), t.col)
        return node

    def not_(self) -> _Node:
        if self.tok.text in ("!", "not"):
            t = self.take()
            inner = self.not_()
            where = f"column {t.col}: {t.text!r}"
            return lambda r: not _truth(inner(r), where)
        return self.compare()

    def compare(self) -> _Node:
        node = self.add()
        if self.tok.text in _COMPARE:
            t = self.take()
            node = _binary(t.text, node, self.add(), t.col)
            if self.tok.text in _COMPARE:
                raise ConditionError(f"column {self.tok.col}: chained comparison; join two with &&")
        return node

    def add(self) -> _Node:
        node = self.mul()
        while self.tok.text in ("+", "-"):
            t = self.take()
            node = _binary(t.text, node, self.mul(), t.col)
        return node

    def mul(self) -> _Node:
        node = self.unary()
        while self.tok.text in ("*", "/", "%"):
            t = self.take()
            node = _binary(t.text, node, self.unary(), t.col)
        return node

    def unary(self) -> _Node:
        if self.tok.text == "-":
            t = self.take()
            inner = self.unary()
            where = f"column {t.col}: '-'"
            return lambda r: -_number(inner(r), where)
        return self.postfix()

    def postfix(self) -> _Node:
        node, label = self.primary()
        while self.tok.text == "[":
            self.take()
            index = self.or_()
            self.expect("]")
            node = self._index(node, index, label)
            label = f"{label}[...]"
        return node

    @staticmethod
    def _index(node: _Node, index: _Node, label: str) -> _Node:
        def at(r):
            vec = _vector(node(r), f"{label}[...]")
            i = index(r)
            if not _is_number(i) or int(i) != i:
                raise ConditionError(f"{label}[...]: the index must be a whole number")
            i = int(i)
            if not -len(vec) <= i < len(vec):
                empty = " (the query returned no values)" if not vec else f" ({len(vec)} values)"
                raise ConditionError(f"{label}[{i}]: index {i} out of range{empty}")
            return float(vec[i])
        return at

    def primary(self) -> tuple[_Node, str]:
        t = self.take()
        if t.kind == "num":
            value = float(t.text)
            return (lambda r: value), t.text
        if t.kind == "name":
            if t.text in ("true", "false"):
                value = t.text == "true"
                return (lambda r: value), t.text
            if t.text == "result":
                return (lambda r: r), "result"
            if t.text in _FUNCTIONS and self.tok.text == "(":
                return self.call(t)
            if t.text in _FUNCTIONS:
                raise ConditionError(f"column {t.col}: {t.text} is a function; call it as {t.text}(...)")
            known = ", ".join(sorted(_FUNCTIONS))
            raise ConditionError(f"column {t.col}: unknown name {t.text!r} (use result, true, false or {known})")
        if t.text == "(":
            node = self.or_()
            self.expect(")")
            return node, "(...)"
        found = "the end" if t.kind == "end" else repr(t.text)
        raise ConditionError(f"column {t.col}: expected a value, found {found}")

    def call(self, name: _Token) -> tuple[_Node, str]:
        function, least, most = _FUNCTIONS[name.text]
        self.expect("(")
        args: list[_Node] = []
        if self.tok.text != ")":
            args.append(self.or_())
            while self.tok.text == ",":
                self.take()
                args.append(self.or_())
        self.expect(")")
        if not least <= len(args) <= most:
            want = least if least == most else f"{least} to {most}"
            raise ConditionError(f"column {name.col}: {name.text}() takes {want} argument(s), got {len(args)}")
        return (lambda r: function(*(a(r) for a in args))), f"{name.text}()"


@dataclass(frozen=True)
class Condition:
    """A parsed condition; :meth:`evaluate` applies it to a query's result."""

    text: str
    _node: _Node

    def evaluate(self, result: Sequence[float] | float) -> bool:
        """Whether the condition holds for ``result``; :class:`ConditionError` when it cannot be evaluated."""
        value = self._node(list(result) if isinstance(result, list | tuple) else result)
        if not isinstance(value, bool):
            raise ConditionError(f"{self.text!r} gives {_kind(value)}, not a boolean")
        return value


def parse_condition(text: str) -> Condition:
    """Parse ``text`` once; raises :class:`ConditionError` naming the column of the first mistake.

    Examples
    --------
    >>> parse_condition("result[0] <= 0.01 && !isNaN(result[0])").evaluate([0.002])
    True
    >>> parse_condition("import os")
    Traceback (most recent call last):
    ...
    workbench.scenario.expressions.ConditionError: column 1: unknown name 'import' (use result, true, false or abs, asFloat, asInt, isInf, isNaN, len, max, min)
    """
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("an empty condition")
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"{len(text)} characters; at most {MAX_CONDITION_CHARS}")
    depth = run = 0  # open brackets; consecutive prefix operators
    for token in _tokens(text):
        depth += (token.text in ("(", "[")) - (token.text in (")", "]"))
        run = run + 1 if token.text in ("!", "not", "-") else 0
        if depth > MAX_NESTING or run > MAX_NESTING:
            raise ConditionError(f"column {token.col}: nested more than {MAX_NESTING} deep")
    return Condition(text, _Parser(text).parse())
