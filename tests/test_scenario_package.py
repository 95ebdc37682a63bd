"""The scenario package's modules import each other without cycles, and only the bottom layers outside it."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import workbench.scenario as scenario_package

PACKAGE_DIR = Path(scenario_package.__file__).parent
ALLOWED_OUTSIDE = {"workbench.limits", "workbench.status", "workbench.rng"}
# DetectorSpec validates detector parameters with the detectors' own table, when a scenario is validated
KNOWN_EXCEPTIONS = {("monitoring", "workbench.monitoring.detectors")}
# the table modules: each holds part of the schema and never needs the root, the loader or the overrides
TABLE_MODULES = ("latency", "traffic", "serving", "monitoring", "validation", "measures", "strategies", "faults")


def _imports(path: Path) -> set[str]:
    """Absolute names of the workbench modules ``path`` imports, at any depth (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:  # a module of workbench.scenario: "." is the package
            parts = ["workbench", "scenario"][: 3 - node.level] + ([node.module] if node.module else [])
            names.add(".".join(parts))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("workbench"))
    return names


def _modules() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in sorted(PACKAGE_DIR.glob("*.py")) if p.stem != "__init__"}


def test_modules_of_the_package_import_each_other_without_cycles():
    graph = {
        name: {n.removeprefix("workbench.scenario.") for n in names if n.startswith("workbench.scenario.")}
        for name, names in _modules().items()
    }
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order.index("errors") < order.index("base") < order.index("schema") < order.index("loading")


def test_table_modules_need_neither_the_root_nor_the_loader():
    for name in TABLE_MODULES:
        inside = {n for n in _modules()[name] if n.startswith("workbench.scenario.")}
        assert not inside & {"workbench.scenario.schema", "workbench.scenario.loading",
                             "workbench.scenario.overrides"}, name


def test_the_package_imports_only_the_bottom_layers_outside_it():
    for name, names in _modules().items():
        outside = {n for n in names if not n.startswith("workbench.scenario")}
        extra = {n for n in outside - ALLOWED_OUTSIDE if (name, n) not in KNOWN_EXCEPTIONS}
        assert not extra, f"workbench.scenario.{name} imports {sorted(extra)}"
