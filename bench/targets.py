"""What the benchmark scripts share: a table of targets and the machine they ran on.

Each script prints one "measured / target / met?" line per figure as it goes
(:func:`report`) and, at the end, the same rows as a markdown table for the README
(:func:`markdown_table`), under :func:`machine_info`.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the final table; ``met`` is None for figures without a target."""

    workload: str
    baseline: str
    measured: str
    ratio: str
    target: str
    met: bool | None


def met_text(ok: bool | None) -> str:
    """``yes``, ``NO``, or ``-`` for a figure without a target."""
    return "-" if ok is None else ("yes" if ok else "NO")


def report(row: Row, rows: list[Row]) -> None:
    """Print ``row`` as a "measured / target / met?" line and keep it for the table."""
    rows.append(row)
    print(f"  {row.workload}: {row.measured} vs {row.baseline} = {row.ratio} / target {row.target} / "
          f"met? {met_text(row.met)}", flush=True)


def markdown_table(rows: list[Row]) -> str:
    """The rows as a markdown table for the README."""
    lines = ["| workload | baseline | measured | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.workload} | {r.baseline} | {r.measured} | {r.ratio} | {r.target} | {met_text(r.met)} |"
              for r in rows]
    return "\n".join(lines)


def machine_info(**versions: str) -> str:
    """CPU count, CPU model, load average, and the versions of Python, numba and ``versions``."""
    from workbench.engine.fifo import compiled_available

    numba = "not installed"
    if compiled_available():
        import numba as numba_module

        numba = numba_module.__version__
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    extra = "".join(f", {name} {version}" for name, version in versions.items())
    return (f"{os.cpu_count()} CPUs ({model}), load average {os.getloadavg()[0]:.2f}; "
            f"python {platform.python_version()}{extra}, numba {numba}")
