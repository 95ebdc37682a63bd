"""The package's layers hold: who may import whom, and what ``import workbench`` costs.

The layers are written as import-linter contracts in ``pyproject.toml``
(``[tool.importlinter]``) and described in ``docs/architecture.md``. These tests run
those contracts, check every top-level module of the package is placed in a layer,
repeat the most important rule (nothing in the core imports a user interface) with
a plain AST scan that needs no third-party tool, and check that importing the package
does not load the heavy scientific libraries that only some functions need.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
UI_PACKAGES = ("workbench.widgets", "workbench.cli", "workbench.viz")
HEAVY_MODULES = ("scipy.stats", "sklearn", "networkx", "statsmodels", "river", "matplotlib", "numba")
DOCS = sorted((ROOT / "docs").glob("*.md"))
SOURCE_PATH = re.compile(r"[\w./-]+/[\w.-]*\.py\b|\bworkbench/[\w/]+/")


def _module_name(path: Path) -> str:
    """Dotted name of a source file under ``workbench/``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_names(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Absolute names of every module that ``module``'s source imports, at any depth
    (imports inside functions run too, only later).

    ``from a import b`` yields both ``a`` and ``a.b``, since ``b`` may be a submodule.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _importlinter_config() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["tool"]["importlinter"]


def test_import_contracts_are_kept():
    """``lint-imports`` passes: every contract in ``[tool.importlinter]`` is kept."""
    code = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filenames=('pyproject.toml',), no_cache=True, no_logo=True))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_top_level_module_is_in_a_layer():
    """A new package or top-level module must be given its place in the layers, and in
    the list of modules that may not import simpy (everything but the engine)."""
    layered: set[str] = set()
    contracts = _importlinter_config()["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    for layer in layers:
        separator = "|" if "|" in layer else ":"
        layered.update(part.strip() for part in layer.split(separator))
    present = {
        f"workbench.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.is_file() and p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert sorted(present - layered) == []
    assert sorted(layered - present) == []
    (simpy_free,) = [
        c["source_modules"] for c in contracts if c.get("id") == "simpy-only-in-engine"
    ]
    assert sorted(present - set(simpy_free)) == ["workbench.engine"]


def test_core_never_imports_a_user_interface():
    """No module outside widgets, cli and viz imports any of them (lazily or not)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if any(_within(module, ui) for ui in UI_PACKAGES):
            continue
        source = path.read_text(encoding="utf-8")
        for name in sorted(_imported_names(source, module, is_package=path.name == "__init__.py")):
            if any(_within(name, ui) for ui in UI_PACKAGES):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_ast_scan_resolves_relative_and_lazy_imports():
    """The scan above sees relative imports, and imports inside functions, by full name."""
    source = (
        "from ..viz import plot\n"
        "from . import server\n"
        "def f():\n"
        "    from .. import cli\n"
        "    import workbench.widgets.panel\n"
    )
    names = _imported_names(source, "workbench.engine.simulation")
    assert {
        "workbench.viz",
        "workbench.engine.server",
        "workbench.cli",
        "workbench.widgets.panel",
    } <= names
    assert "workbench.strategies" in _imported_names(
        "from ..strategies import Strategy", "workbench.engine", is_package=True
    )


@pytest.mark.parametrize(
    "statement",
    [
        "import workbench",
        "import workbench.cli; workbench.cli.build_parser()",
        # the entry points a user touches first: running a scenario loads the engine,
        # pandas and numpy, but not the libraries only some analyses need
        "from workbench import run, load_scenario, RunSummary, RunResult",
    ],
)
def test_start_up_leaves_heavy_libraries_unloaded(statement):
    """Start-up stays quick: heavy libraries load in the functions that use them."""
    code = (
        f"import json, sys\n{statement}\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert sorted({h for h in HEAVY_MODULES for m in loaded if _within(m, h)}) == []


def test_import_workbench_loads_no_submodule_until_a_name_is_used():
    code = "import sys, workbench; print(sorted(m for m in sys.modules if m.startswith('workbench.')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['workbench._version']"


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_docs_name_files_that_exist(page):
    """Every source path a page names (``engine/draws.py``, ``workbench/ops/``) exists,
    from the repository root or from ``workbench/``; placeholders like ``<table>`` are skipped."""
    missing = sorted(
        {
            path
            for path in SOURCE_PATH.findall(page.read_text(encoding="utf-8"))
            if not (ROOT / path).exists() and not (PACKAGE / path).exists()
        }
    )
    assert missing == []
