"""Run results: tidy DataFrames, a summary of KPIs, and writing them to a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .outputs import OutputDirError, escape_control
from .scenario import Scenario
from .status import STATUS_NAMES
from .summary import RunSummary, format_summary

__all__ = ["RunResult", "RunSummary", "RunDirError", "format_summary", "STATUS_CATEGORIES", "RUN_TABLES"]

STATUS_CATEGORIES = pd.CategoricalDtype(list(STATUS_NAMES))

#: The tables every run directory holds, each as ``<name>.parquet``; any other
#: Parquet file of the directory is one of :attr:`RunResult.tables`.
RUN_TABLES = ("requests", "shadow", "events", "incidents")


class RunDirError(OutputDirError):
    """A run directory cannot be read back; the message names the directory and the file."""


@dataclass
class RunResult:
    """What one run produced.

    Attributes
    ----------
    requests : DataFrame
        One row per arrival: ``request_id, time_s, user_id, model, status, queue_ms,
        latency_ms, end_time_s, prediction, label, label_time_s, abs_error,
        converted, slo_breach`` and ``feature_<name>`` columns.
    shadow : DataFrame
        Mirrored calls (shadow strategy): candidate latency, status, prediction and
        the difference from legacy's prediction. Empty otherwise.
    events : DataFrame
        ``time_s, kind, source, model, reason, details`` (details as JSON text):
        fault windows, strategy decisions, gates, rollbacks, promotions.
    incidents : DataFrame
        One row per rollback incident (time, trigger, violations).
    summary : RunSummary
        KPIs: counts by status, error rate, latency percentiles, utilisation,
        prediction error and conversion per model, the strategy's outcome, rollback
        and incidents (:mod:`workbench.summary`).
    tables : dict of DataFrame
        Further tables: ``resources`` (fleet samples), monitor tables (``health``,
        ``drift``, ``performance``), ``validation`` and the strategy's own tables.
    """

    scenario: Scenario
    seed: int
    requests: pd.DataFrame
    shadow: pd.DataFrame
    events: pd.DataFrame
    incidents: pd.DataFrame
    summary: RunSummary
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def to_dir(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the run to the directory ``path``.

        Files: the tables (Parquet), ``summary.json``, ``scenario.json``,
        ``log.jsonl``, ``log_report.md`` and ``report.md``.

        The directory is built next to ``path`` and renamed into place when complete
        (:func:`workbench.outputs.atomic_output_dir`): ``path`` is never a mix of two
        runs, and a previous run there is replaced entirely. A non-empty directory
        that is not a previous run is refused unless ``force``. JSON files are strict
        (NaN and infinities written as ``null``).
        """
        from .ops.logs import LogAnalyzer
        from .outputs import atomic_output_dir

        with atomic_output_dir(path, "run", force=force) as out:
            _atomic_json(out / "summary.json", self.summary.to_dict())
            _atomic_json(out / "scenario.json", {"seed": self.seed, "scenario": self.scenario.to_mapping()})
            tables = {
                "requests": self.requests,
                "shadow": self.shadow,
                "events": self.events,
                "incidents": self.incidents,
                **self.tables,
            }
            for name, frame in tables.items():
                frame.to_parquet(out / f"{name}.parquet", index=False)
            self.write_log(out / "log.jsonl")
            log_report = LogAnalyzer(out / "log.jsonl", window_s=60.0).report()
            (out / "log_report.md").write_text(log_report.to_markdown(), encoding="utf-8")
            (out / "report.md").write_text(self.report_markdown(), encoding="utf-8")
        return Path(path)

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> RunResult:
        """Read back a run directory written by :meth:`to_dir`.

        The scenario is validated again from ``scenario.json``, the summary read from
        ``summary.json`` (``null`` floats back to NaN), the four run tables from their
        Parquet files, and every other ``*.parquet`` file becomes an entry of
        :attr:`tables` under its stem.

        Raises
        ------
        RunDirError
            When ``path`` is not a directory, holds no run manifest (or the manifest of
            another kind of output), or a file is missing, unreadable or damaged. The
            message names the directory and the file.
        """
        from .outputs import MANIFEST_NAME, read_manifest

        directory = Path(path)
        if not directory.exists():
            raise RunDirError(f"{directory}: no such run directory")
        if not directory.is_dir():
            raise RunDirError(f"{directory}: not a directory (give the directory `workbench run --out` wrote)")
        manifest = read_manifest(directory)
        if manifest is None:
            raise RunDirError(f"{directory}: {MANIFEST_NAME}: missing or damaged; not a run directory of this tool")
        if manifest.get("kind") != "run":
            raise RunDirError(f"{directory}: {MANIFEST_NAME}: holds a {escape_control(manifest.get('kind'))} "
                              "output, not a run")
        scenario, seed = _read_scenario(directory)
        summary = _read_summary(directory)
        frames = {name: _read_table(directory, name) for name in RUN_TABLES}
        extra = sorted(p.stem for p in directory.glob("*.parquet")
                       if p.is_file() and not p.name.startswith(".") and p.stem not in RUN_TABLES)
        tables = {name: _read_table(directory, name) for name in extra}
        return cls(scenario=scenario, seed=seed, summary=summary, tables=tables, **frames)

    def log_records(self) -> pd.DataFrame:
        """The run's structured log: one entry per request and per event, by time.

        Columns ``time_s, level, model, message, latency_ms, status``; messages carry
        request ids and numbers, as production logs do, so the log analyser has real
        templates to find.
        """
        req = self.requests
        rid = "req-" + req["request_id"].astype(str)
        lat = req["latency_ms"].round(1).astype(str)
        status = req["status"].astype(str)
        model = req["model"].astype(str)
        msg = "Served request " + rid + " for user u-" + req["user_id"].astype(str) + " in " + lat + " ms"
        msg = msg.mask(status == "error", "Model " + model + " failed request " + rid + ": "
                       + req["failure_cause"].astype(str) + " after " + lat + " ms")
        msg = msg.mask(status == "timeout", "Timeout after " + lat + " ms for request " + rid + " on " + model)
        msg = msg.mask(status == "dropped", "Dropped request " + rid + " on " + model + ": queue full")
        level = status.map({"ok": "INFO", "error": "ERROR", "timeout": "WARNING", "dropped": "WARNING"})
        entries = pd.DataFrame({
            "time_s": req["end_time_s"].to_numpy(),
            "level": level.to_numpy(),
            "model": model.to_numpy(),
            "message": msg.to_numpy(),
            "latency_ms": req["latency_ms"].to_numpy(),
            "status": status.to_numpy(),
        })
        ev = self.events
        if len(ev):
            ev_level = ev["kind"].map(lambda k: "WARNING" if k in (
                "alert", "gate_failed", "rollback", "fault_start", "dependency_failure", "validation_failed"
            ) else "INFO")
            entries = pd.concat([entries, pd.DataFrame({
                "time_s": ev["time_s"].to_numpy(), "level": ev_level.to_numpy(),
                "model": ev["model"].replace("", "-").to_numpy(),
                "message": ("[" + ev["kind"] + "] " + ev["reason"]).to_numpy(),
                "latency_ms": np.nan, "status": "event",
            })], ignore_index=True)
        return entries.sort_values("time_s", kind="stable").reset_index(drop=True)

    def write_log(self, path: str | os.PathLike) -> Path:
        """Write :meth:`log_records` as JSON lines (atomically)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        self.log_records().to_json(tmp, orient="records", lines=True)
        os.replace(tmp, path)
        return path

    def report_markdown(self) -> str:
        """A short human-readable report of the run."""
        s = self.summary
        lines = [
            f"# Run report: {self.scenario.name}",
            "",
            self.scenario.description.strip() or "(no description)",
            "",
            f"- seed: {self.seed}; simulated {s.duration_s:.0f} s; warm-up {s.warmup_s:.0f} s excluded from KPIs",
            f"- arrivals: {s.requests} from {s.users} users ({s.throughput_per_s:.1f} ok requests/s)",
            f"- status counts: {dict(s.status_counts)}",
            f"- strategy: {s.strategy.kind} (final state: {s.strategy.final_state})",
            "",
            "## Per model",
            "",
            format_summary(s, markdown=True),
            "",
        ]
        if not self.events.empty:
            lines += ["## Events", "", "| time_s | kind | source | model | reason |", "|---|---|---|---|---|"]
            for row in self.events.head(200).itertuples(index=False):
                lines.append(f"| {row.time_s:.1f} | {row.kind} | {row.source} | {row.model} | {row.reason} |")
            if len(self.events) > 200:
                lines.append(f"| ... | {len(self.events) - 200} more rows in events.parquet | | | |")
            lines.append("")
        return "\n".join(lines)


def _atomic_json(path: Path, obj: Any) -> None:
    """Strict JSON (NaN and infinities as ``null``), written atomically."""
    from .outputs import atomic_write_text, dumps_strict

    atomic_write_text(path, dumps_strict(obj, indent=2, sort_keys=True) + "\n")


def _read_json(directory: Path, name: str) -> Any:
    """The parsed JSON file ``directory / name``; a :class:`RunDirError` naming it otherwise."""
    import json

    file = directory / name
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirError(f"{directory}: {name}: missing") from None
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{directory}: {name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RunDirError(f"{directory}: {name}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RunDirError(f"{directory}: {name}: not valid JSON ({exc})") from None


def _read_scenario(directory: Path) -> tuple[Scenario, int]:
    """The scenario and seed of ``scenario.json`` (``{"seed": int, "scenario": mapping}``)."""
    from .scenario import ScenarioError, validate_mapping

    name = "scenario.json"
    data = _read_json(directory, name)
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), dict):
        raise RunDirError(f"{directory}: {name}: expected an object with a 'scenario' table and a 'seed'")
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunDirError(f"{directory}: {name}: seed: expected a non-negative integer, got {seed!r}")
    try:
        scenario = validate_mapping(data["scenario"], source=None)
    except ScenarioError as exc:
        raise RunDirError(f"{directory}: {name}: scenario: {exc}") from None
    return scenario, seed


def _read_summary(directory: Path) -> RunSummary:
    """The run summary of ``summary.json``."""
    name = "summary.json"
    data = _read_json(directory, name)
    if not isinstance(data, dict):
        raise RunDirError(f"{directory}: {name}: expected a JSON object, got {type(data).__name__}")
    try:
        return RunSummary.from_dict(data)
    except KeyError as exc:
        raise RunDirError(f"{directory}: {name}: field {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RunDirError(f"{directory}: {name}: not a run summary ({exc})") from None


def _read_table(directory: Path, name: str) -> pd.DataFrame:
    """The table ``<name>.parquet``, with the request statuses as their categorical."""
    import pyarrow

    file = directory / f"{name}.parquet"
    if not file.is_file():
        raise RunDirError(f"{directory}: {file.name}: missing")
    try:
        frame = pd.read_parquet(file)
    except (OSError, ValueError, TypeError, pyarrow.ArrowException) as exc:
        raise RunDirError(f"{directory}: {file.name}: not a readable Parquet table ({exc})") from None
    # Parquet keeps no categories for an empty column: give statuses their fixed ones back
    if "status" in frame.columns and isinstance(frame["status"].dtype, pd.CategoricalDtype):
        unknown = sorted(set(frame["status"].dropna().astype(str)) - set(STATUS_NAMES))
        if unknown:
            raise RunDirError(f"{directory}: {file.name}: status: unknown value(s) {unknown[:5]}; "
                              f"expected {list(STATUS_NAMES)}")
        frame["status"] = frame["status"].astype(STATUS_CATEGORIES)
    return frame
