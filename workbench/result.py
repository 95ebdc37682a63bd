"""Run results: tidy DataFrames, a summary of KPIs, and writing them to a directory."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .scenario import Scenario
from .status import STATUS_NAMES

__all__ = ["RunResult", "summarise", "format_summary", "STATUS_CATEGORIES"]

STATUS_CATEGORIES = pd.CategoricalDtype(list(STATUS_NAMES))


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
    summary : dict
        KPIs: counts by status, error rate, latency percentiles, utilisation,
        prediction error and conversion per model, strategy outcome.
    """

    scenario: Scenario
    seed: int
    requests: pd.DataFrame
    shadow: pd.DataFrame
    events: pd.DataFrame
    incidents: pd.DataFrame
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def to_dir(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the tables (Parquet), ``summary.json``, ``scenario.json``, ``log.jsonl``,
        ``log_report.md`` and ``report.md`` to the directory ``path``.

        The directory is built next to ``path`` and renamed into place when complete
        (:func:`workbench.outputs.atomic_output_dir`): ``path`` is never a mix of two
        runs, and a previous run there is replaced entirely. A non-empty directory
        that is not a previous run is refused unless ``force``. JSON files are strict
        (NaN and infinities written as ``null``).
        """
        from .ops.logs import LogAnalyzer
        from .outputs import atomic_output_dir

        with atomic_output_dir(path, "run", force=force) as out:
            _atomic_json(out / "summary.json", self.summary)
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
            f"- seed: {self.seed}; simulated {s['duration_s']:.0f} s; warm-up {s['warmup_s']:.0f} s excluded from KPIs",
            f"- arrivals: {s['requests']} from {s['users']} users "
            f"({s['throughput_per_s']:.1f} ok requests/s)",
            f"- status counts: {s['status_counts']}",
            f"- strategy: {s['strategy'].get('kind')} (final state: {s['strategy'].get('final_state')})",
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


def _pct(values: np.ndarray, q: float) -> float:
    """Percentile ``q`` of ``values``, partitioning ``values`` in place (no copy)."""
    return float(np.percentile(values, q, overwrite_input=True)) if values.size else math.nan


def _mean_of(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``values[mask]`` (NaN when the mask selects nothing)."""
    part = values[mask]
    return float(part.mean()) if part.size else math.nan


def _distinct(values: np.ndarray, mask: np.ndarray | None = None, chunk: int = 65_536) -> int:
    """Number of distinct values of ``values[mask]`` (all values when ``mask`` is None).

    Small non-negative integer ids (user ids) are counted with a table of seen ids,
    filled chunk by chunk, so no full-length copy or sort is made.
    """
    n = values.size
    if n == 0:
        return 0
    if values.dtype.kind in "iu":
        top = int(values.max())
        if int(values.min()) >= 0 and top < max(4 * n, 1 << 20):
            seen = np.zeros(top + 1, dtype=bool)
            for lo in range(0, n, chunk):
                part = values[lo : lo + chunk]
                seen[part if mask is None else part[mask[lo : lo + chunk]]] = True
            return int(np.count_nonzero(seen))
    return int(np.unique(values if mask is None else values[mask]).size)


def summarise(
    requests: pd.DataFrame,
    *,
    scenario: Scenario,
    seed: int,
    busy_s_by_model: dict[str, float],
    strategy_summary: dict[str, Any],
) -> dict[str, Any]:
    """KPIs of a run. Per-model metrics use requests arriving after ``warmup_s``.

    Works on numpy views of the columns with boolean masks, one full-length float
    temporary at a time (no filtered copies of the table).
    """
    duration = scenario.duration_s
    counts = requests["status"].value_counts().reindex(list(STATUS_NAMES), fill_value=0)
    n = int(len(requests))
    warm = requests["time_s"].to_numpy() >= scenario.warmup_s
    model_codes = requests["model"].cat.codes.to_numpy()
    model_cats = list(requests["model"].cat.categories)
    status_all = requests["status"].cat.codes.to_numpy()
    ok_all = status_all == 0
    served_all = status_all != 3
    latency_all = requests["latency_ms"].to_numpy()
    queue_all = requests["queue_ms"].to_numpy()
    abs_all = requests["abs_error"].to_numpy()
    conv_all = requests["converted"].to_numpy()
    slo_all = requests["slo_breach"].to_numpy()
    users_all = requests["user_id"].to_numpy()
    models: dict[str, Any] = {}
    for name, cfg in scenario.models.items():
        code = model_cats.index(name) if name in model_cats else -2
        sel = warm & (model_codes == code)
        k = int(np.count_nonzero(sel))
        status = status_all[sel]
        ok = status == 0
        n_ok = int(np.count_nonzero(ok))
        window_s = duration - scenario.warmup_s
        util = (
            busy_s_by_model.get(name, 0.0) / (cfg.replicas * duration)
            if cfg.replicas
            else math.nan
        )
        kept = sel & served_all
        lat = latency_all[kept]  # a copy: the percentiles below partition it in place
        mean_latency = float(lat.mean()) if lat.size else math.nan
        p50, p95, p99 = _pct(lat, 50), _pct(lat, 95), _pct(lat, 99)
        del lat
        mean_queue = _mean_of(queue_all, kept)
        del kept
        abs_err = abs_all[sel & ok_all]
        mae = float(abs_err.mean()) if abs_err.size else math.nan
        rmse = float(np.sqrt(np.mean(np.square(abs_err, out=abs_err)))) if abs_err.size else math.nan
        del abs_err
        models[name] = {
            "requests": k,
            "users": _distinct(users_all, sel),
            "ok": n_ok,
            "error": int(np.count_nonzero(status == 1)),
            "timeout": int(np.count_nonzero(status == 2)),
            "dropped": int(np.count_nonzero(status == 3)),
            "error_rate": float((~ok).mean()) if k else math.nan,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "mean_latency_ms": mean_latency,
            "mean_queue_ms": mean_queue,
            "throughput_per_s": float(n_ok) / window_s,
            "utilisation": util,
            "prediction_mae": mae,
            "prediction_rmse": rmse,
            "conversion_rate": _mean_of(conv_all, sel) if k else math.nan,
            "slo_breaches": int(np.count_nonzero(slo_all & sel)),
        }
    return {
        "scenario": scenario.name,
        "seed": int(seed),
        "duration_s": float(duration),
        "warmup_s": float(scenario.warmup_s),
        "requests": n,
        "users": _distinct(users_all),
        "status_counts": {k: int(v) for k, v in counts.items()},
        "error_rate": float((requests["status"] != "ok").mean()) if n else math.nan,
        "throughput_per_s": float((requests["status"] == "ok").sum()) / duration,
        "models": models,
        "strategy": strategy_summary,
    }


_COLUMNS = [
    ("requests", "requests", "{:d}"),
    ("users", "users", "{:d}"),
    ("ok", "ok", "{:d}"),
    ("error", "error", "{:d}"),
    ("timeout", "timeout", "{:d}"),
    ("dropped", "dropped", "{:d}"),
    ("error_rate", "err %", "{:.2%}"),
    ("latency_p50_ms", "p50 ms", "{:.1f}"),
    ("latency_p95_ms", "p95 ms", "{:.1f}"),
    ("latency_p99_ms", "p99 ms", "{:.1f}"),
    ("mean_queue_ms", "queue ms", "{:.2f}"),
    ("utilisation", "util", "{:.2f}"),
    ("prediction_mae", "MAE", "{:.3f}"),
    ("conversion_rate", "conv %", "{:.2%}"),
]


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return spec.format(value).replace("%", "") + ("%" if spec.endswith("%}") else "")


def format_summary(summary: dict[str, Any], markdown: bool = False) -> str:
    """The per-model table of a summary, as aligned text or markdown."""
    header = ["model"] + [label for _, label, _ in _COLUMNS]
    rows = [header]
    for name, m in summary["models"].items():
        rows.append([name] + [_fmt(m.get(key), spec) for key, _, spec in _COLUMNS])
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)
