"""The runs of a sweep: seeds and varied paths checked, the grid in table order, run keys.

A sweep is ``variants`` (named override sets, e.g. policies) x ``vary`` (each dotted
path's values) x ``seeds``. :func:`sweep_tasks` turns those arguments into one
:class:`SweepTask` per run, each with a stable key (a BLAKE2b hash of its parameters,
overrides and seed) that checkpoints use to recognise finished runs.
:func:`point_scenarios` validates the scenario of every grid point once, in the
client, so a typo fails before any run starts and the runs themselves validate
nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario import Scenario, ScenarioError, load_scenario

__all__ = ["SweepError", "SweepTask", "sweep_tasks", "point_scenarios", "to_plain",
           "MAX_SEEDS", "MAX_RUNS"]

MAX_SEEDS = 100_000  # seeds per grid point
MAX_RUNS = 1_000_000  # runs per sweep (seeds x grid points x policies)


class SweepError(ScenarioError):
    """A sweep's arguments or its output directory are unusable (the message names which).

    A :class:`~workbench.scenario.ScenarioError` (so also a ``ValueError``): the
    command line prints it on one line and exits with status 2.
    """


@dataclass(frozen=True)
class SweepTask:
    """One run of a sweep.

    Attributes
    ----------
    key : str
        Stable hash of ``params``, ``overrides`` and ``seed`` (the checkpoint key).
    params : dict
        Column name to value, as shown in the table (one per varied path).
    overrides : dict
        Dotted-path overrides applied to the base scenario for this run.
    seed : int
    """

    key: str
    params: dict[str, Any]
    overrides: dict[str, Any]
    seed: int


def to_plain(value: Any) -> Any:
    """Numpy scalars to Python, tuples to lists, mapping keys to str (JSON-safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _run_key(params: Mapping[str, Any], overrides: Mapping[str, Any], seed: int) -> str:
    text = _canonical({"params": params, "overrides": overrides, "seed": seed})
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _check_seed_count(seeds: int | np.integer) -> list[int]:
    if seeds < 1:
        raise SweepError(f"seeds: must be at least 1, got {seeds}")
    if seeds > MAX_SEEDS:
        raise SweepError(f"seeds: at most {MAX_SEEDS:,} per sweep, got {int(seeds):,}")
    return list(range(int(seeds)))


def _check_seeds(seeds: int | Iterable[int]) -> list[int]:
    """``n`` as seeds ``0 .. n-1``, or the seeds given: distinct, non-negative, bounded."""
    if isinstance(seeds, (bool, np.bool_)):
        raise SweepError(f"seeds: must be a positive integer or a list of integers, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        return _check_seed_count(seeds)
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):
        raise SweepError(f"seeds: must be a positive integer or a list of integers, got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
            raise SweepError(f"seeds: every seed must be a non-negative integer, got {s!r}")
        out.append(int(s))
        if len(out) > MAX_SEEDS:  # checked while reading: a huge range is never listed
            raise SweepError(f"seeds: at most {MAX_SEEDS:,} per sweep")
    if not out:
        raise SweepError("seeds: must not be empty")
    if len(set(out)) != len(out):
        raise SweepError("seeds: contains duplicates")
    return out


def _check_values(values: Any, where: str) -> list[Any]:
    """One varied path's values: a non-empty list of distinct JSON values."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise SweepError(f"{where}: must be a list of values, got {values!r}")
    vals = [to_plain(v) for v in values]
    if not vals:
        raise SweepError(f"{where}: must not be empty")
    try:
        texts = [_canonical(v) for v in vals]
    except (TypeError, ValueError) as exc:
        raise SweepError(f"{where}: values must be numbers, strings, booleans, "
                         f"lists or tables ({exc})") from None
    if len(set(texts)) != len(texts):
        raise SweepError(f"{where}: contains duplicate values")
    return vals


def _check_vary(vary: Mapping[str, Sequence[Any]] | None, arg: str = "vary") -> dict[str, list[Any]]:
    if vary is None:
        return {}
    if not isinstance(vary, Mapping):
        raise SweepError(f"{arg}: must be a mapping of dotted paths to lists of values")
    out: dict[str, list[Any]] = {}
    for path, values in vary.items():
        if not isinstance(path, str) or not path.strip():
            raise SweepError(f"{arg}: keys must be dotted paths, got {path!r}")
        out[path] = _check_values(values, f"{arg}[{path!r}]")
    return out


def _check_variants(variants: Mapping[str, Mapping[str, Any]], grid: Mapping[str, Any],
                    variant_column: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Named override sets, each checked against the varied paths (no path set twice)."""
    if not isinstance(variants, Mapping) or not variants:
        raise SweepError("policies: must be a non-empty mapping of names to overrides")
    named: list[tuple[str | None, dict[str, Any]]] = []
    for name, ov in variants.items():
        if not isinstance(name, str) or not name:
            raise SweepError(f"policies: names must be non-empty strings, got {name!r}")
        if ov is None:
            ov = {}
        if not isinstance(ov, Mapping):
            raise SweepError(f"policies[{name!r}]: must be a mapping of dotted paths to values")
        clash = sorted(set(ov) & set(grid))
        if clash:
            raise SweepError(f"policies[{name!r}]: sets {clash[0]!r}, which vary also varies")
        named.append((name, {str(k): to_plain(v) for k, v in ov.items()}))
    if variant_column in grid:
        raise SweepError(f"vary: {variant_column!r} clashes with the policy column")
    return named


def _column_values(values: list[Any]) -> list[Any]:
    """How a varied path's values appear in the table: one type per column.

    Numbers stay numbers (all floats if any is a float), booleans and strings stay;
    anything else (tables, lists, mixed kinds) becomes canonical JSON text.
    """
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if all(number(v) for v in values):
        return [float(v) for v in values] if any(isinstance(v, float) for v in values) else values
    if all(isinstance(v, bool) for v in values) or all(isinstance(v, str) for v in values):
        return values
    return [_canonical(v) for v in values]


def sweep_tasks(
    seeds: int | Iterable[int],
    vary: Mapping[str, Sequence[Any]] | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    variant_column: str = "policy",
) -> tuple[list[SweepTask], list[str]]:
    """The runs of a sweep in table order, and the names of its parameter columns.

    The grid is ``variants`` (named override sets, e.g. policies) x ``vary`` (each
    path's values in the order given, the first path varying slowest) x ``seeds``.

    Raises
    ------
    SweepError
        Bad seeds, varied paths or variants, or more than :data:`MAX_RUNS` runs.

    Examples
    --------
    >>> tasks, columns = sweep_tasks(2, {"traffic.rate_per_s": [10, 20]})
    >>> columns
    ['traffic.rate_per_s']
    >>> [(t.params["traffic.rate_per_s"], t.seed) for t in tasks]
    [(10, 0), (10, 1), (20, 0), (20, 1)]
    """
    seed_list = _check_seeds(seeds)
    grid = _check_vary(vary)
    shown = {path: _column_values(values) for path, values in grid.items()}
    columns = list(grid)
    named: list[tuple[str | None, dict[str, Any]]] = [(None, {})]
    if variants is not None:
        named = _check_variants(variants, grid, variant_column)
        columns = [variant_column, *columns]
    points = len(named) * math.prod(len(v) for v in grid.values())
    if points * len(seed_list) > MAX_RUNS:
        raise SweepError(f"seeds x grid points: {len(seed_list):,} x {points:,} = "
                         f"{len(seed_list) * points:,} runs, more than {MAX_RUNS:,} in one sweep; "
                         "split it into several sweeps")
    tasks = []
    paths = list(grid)
    for name, base_ov in named:
        for idx in itertools.product(*(range(len(grid[p])) for p in paths)):
            overrides = dict(base_ov)
            params: dict[str, Any] = {} if name is None else {variant_column: name}
            for p, i in zip(paths, idx, strict=True):
                overrides[p] = grid[p][i]
                params[p] = shown[p][i]
            for seed in seed_list:
                tasks.append(SweepTask(_run_key(params, overrides, seed), params, overrides, seed))
    return tasks, columns


def point_scenarios(base: Scenario, tasks: Sequence[SweepTask]) -> list[Scenario]:
    """The validated scenario of every task, one validation per grid point.

    Every grid point is ``base``'s full mapping (defaults filled in) with the point's
    overrides applied, as :func:`~workbench.scenario.load_scenario` builds it from
    that mapping; tasks of one grid point (its seeds) share one scenario object.

    Raises
    ------
    ScenarioError
        The first grid point that is not a valid scenario; the message names
        ``base``'s file, when it has one, and the field.
    """
    try:
        canonical = load_scenario(base.to_mapping())
    except ScenarioError as exc:  # pragma: no cover - a validated scenario's mapping is valid
        raise ScenarioError(exc.errors[0], source=base.source_path, errors=exc.errors) from None
    by_point: dict[str, Scenario] = {}
    out = []
    for task in tasks:
        point = _canonical(task.overrides)
        if point not in by_point:
            try:
                by_point[point] = canonical.with_overrides(task.overrides)
            except ScenarioError as exc:
                raise ScenarioError(exc.errors[0], source=base.source_path,
                                    errors=exc.errors) from None
        out.append(by_point[point])
    return out
