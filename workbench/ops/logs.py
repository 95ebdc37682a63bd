"""Structured run logs (JSON lines) and their analysis.

A run writes one JSON object per line with the fields ``time_s`` (simulated
seconds), ``level``, ``model``, ``message``, ``latency_ms`` and ``status``
(:class:`StructuredLogWriter`). :class:`LogAnalyzer` reads such a file (or a
DataFrame) and

* categorises entries by level and status,
* groups error messages into templates, masking UUIDs, hex strings, ids and
  numbers (``Timeout after <NUM> ms for request <ID>``), the masking step of
  log parsers such as Drain (He et al., ICWS 2017),
* counts volume per window of simulated time,
* flags rate anomalies with a robust z-score (median and MAD, Iglewicz and
  Hoaglin 1993, threshold 3.5) or an EWMA z-score,
* applies retention by simulated time, and
* produces a :class:`LogReport` whose :meth:`LogReport.to_markdown` needs no
  ``tabulate``.

Damaged input is skipped and counted, never fatal: a line is *malformed* if it
is not valid UTF-8, not a JSON object, lacks ``time_s``, ``level`` or ``message``,
has a ``time_s`` that is not a number in ``[0, MAX_TIME_S]`` (1e12 s; NaN,
infinities, negative and absurd times are malformed), or a ``level``, ``model``,
``message`` or ``status`` that is not a string (``null`` allowed for ``model`` and
``status``) or a ``latency_ms`` that is not a number or ``null``. The count and the
first line numbers are kept (:attr:`LogAnalyzer.n_malformed`,
:attr:`LogAnalyzer.malformed_lines`). Volume counts refuse to allocate more than
:data:`MAX_WINDOWS` (1e6) windows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..outputs import escape_control

__all__ = [
    "ERROR_STATUSES",
    "LOG_COLUMNS",
    "MAX_TIME_S",
    "MAX_WINDOWS",
    "LogAnalyzer",
    "LogReport",
    "StructuredLogWriter",
    "apply_retention",
    "frame_to_markdown",
    "mask_message",
    "read_jsonl",
    "requests_to_log_records",
    "template_id",
]

LOG_COLUMNS = ["time_s", "level", "model", "message", "latency_ms", "status"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
ERROR_STATUSES = frozenset({"error", "timeout", "dropped"})
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR"}
MAX_TIME_S = 1e12  # simulated seconds (~31,700 years): later times are not plausible
MAX_WINDOWS = 1_000_000  # volume windows allocated at most
_MAX_REPORTED_LINES = 10


def _normalise_level(level: Any) -> str:
    text = str(level).strip().upper()
    return _LEVEL_ALIASES.get(text, text)


def _json_value(value: Any) -> Any:
    """JSON-safe scalar: numpy scalars unwrapped, NaN/inf -> null."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


class StructuredLogWriter:
    """Append structured entries to a JSON-lines file.

    Parameters
    ----------
    path : str or Path
        Output file; parent directories are created.
    append : bool
        Append to an existing file instead of truncating it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.jsonl"
    >>> with StructuredLogWriter(path) as log:
    ...     log.write(1.5, "error", "candidate", "Timeout after 2000 ms", 2000.0, "timeout")
    >>> LogAnalyzer(path).entries.loc[0, "level"]
    'ERROR'
    """

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        self.n_written = 0

    def write(
        self,
        time_s: float,
        level: str,
        model: str | None,
        message: str,
        latency_ms: float | None = None,
        status: str | None = None,
        **extra: Any,
    ) -> None:
        """Write one entry; ``extra`` fields (JSON scalars) are kept as additional keys."""
        t = float(time_s)
        if not math.isfinite(t):
            raise ValueError(f"time_s: must be finite, got {time_s!r}")
        record = {
            "time_s": t,
            "level": _normalise_level(level),
            "model": _json_value(model),
            "message": str(message),
            "latency_ms": _json_value(None if latency_ms is None else float(latency_ms)),
            "status": _json_value(status),
        }
        for key, value in extra.items():
            record[key] = _json_value(value)
        self._fh.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")
        self.n_written += 1

    def write_records(self, records: pd.DataFrame | Iterable[Mapping[str, Any]]) -> int:
        """Write many entries; returns the number written.

        Entries are DataFrame rows or mappings with at least ``time_s``, ``level`` and
        ``message``.
        """
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        n = 0
        for rec in records:
            rec = dict(rec)
            try:
                args = [rec.pop(k) for k in ("time_s", "level")]
                model = rec.pop("model", None)
                message = rec.pop("message")
            except KeyError as exc:
                raise ValueError(f"records: entry {n} lacks field {exc.args[0]!r}") from None
            self.write(
                args[0],
                args[1],
                model,
                message,
                rec.pop("latency_ms", None),
                rec.pop("status", None),
                **rec,
            )
            n += 1
        return n

    def flush(self) -> None:
        """Flush buffered entries to the file."""
        self._fh.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> StructuredLogWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_STATUS_LEVEL = {"ok": "INFO", "timeout": "WARNING", "dropped": "WARNING", "error": "ERROR"}


def requests_to_log_records(requests: pd.DataFrame, include_ok: bool = True) -> pd.DataFrame:
    """Log entries for a request log, one per request.

    The request log has columns ``request_id``, ``time_s``, ``model``, ``status`` and
    ``latency_ms``. Levels: ``ok`` -> INFO, ``timeout``/``dropped`` -> WARNING,
    ``error`` -> ERROR; messages carry the request id and latency.

    Examples
    --------
    >>> req = pd.DataFrame({"request_id": [7], "time_s": [1.0], "model": ["legacy"],
    ...                     "status": ["timeout"], "latency_ms": [2000.0]})
    >>> requests_to_log_records(req).loc[0, "message"]
    'Timeout after 2000 ms for request req-7'
    """
    for col in ("request_id", "time_s", "model", "status", "latency_ms"):
        if col not in requests.columns:
            raise ValueError(f"requests: missing column {col!r}")
    df = requests if include_ok else requests[requests["status"] != "ok"]
    rid = "req-" + df["request_id"].astype(str)
    lat = df["latency_ms"].astype(float)
    lat_txt = lat.round(0).astype("Int64").astype(str)
    status = df["status"].astype(str)
    msg = pd.Series("Request " + rid + " " + status, index=df.index)
    msg = msg.mask(status == "ok", "Served request " + rid + " in " + lat_txt + " ms")
    msg = msg.mask(status == "timeout", "Timeout after " + lat_txt + " ms for request " + rid)
    msg = msg.mask(status == "dropped", "Dropped request " + rid + ": queue full")
    msg = msg.mask(status == "error", "Model " + df["model"].astype(str) + " failed request " + rid)
    out = pd.DataFrame(
        {
            "time_s": df["time_s"].astype(float),
            "level": status.map(_STATUS_LEVEL).fillna("INFO"),
            "model": df["model"],
            "message": msg,
            "latency_ms": lat,
            "status": status,
        }
    )
    return out.reset_index(drop=True)


# -- message templates ----------------------------------------------------------
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(
    r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"
)
_NUM_UNIT = re.compile(
    r"(?<![\w.\-])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=(?:ms|us|ns|s|m|h|%|kb|mb|gb|KB|MB|GB)\b)"
)
_ID = re.compile(r"(?<![\w<])(?=[\w.:/\-]*[A-Za-z])(?=[\w.:/\-]*\d)[A-Za-z0-9][\w.:/\-]*\w")
_NUM = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


def mask_message(message: str) -> str:
    """Replace the variable parts of a log message with placeholders.

    In order: UUIDs -> ``<UUID>``, hex strings (``0x1f``, 8+ hex digits) ->
    ``<HEX>``, numbers with a unit (``250ms``) -> ``<NUM>ms``, tokens mixing
    letters and digits (``req-00123``, ``user_42``) -> ``<ID>``, other numbers ->
    ``<NUM>``.

    Examples
    --------
    >>> mask_message("Timeout after 2000 ms for request req-000123")
    'Timeout after <NUM> ms for request <ID>'
    >>> mask_message("shard 0x1F failed after 35.5ms (trace 9f86d081884c7d65)")
    'shard <HEX> failed after <NUM>ms (trace <HEX>)'
    >>> mask_message("user 550e8400-e29b-41d4-a716-446655440000 got HTTP 503")
    'user <UUID> got HTTP <NUM>'
    """
    text = _UUID.sub("<UUID>", str(message))
    text = _HEX.sub("<HEX>", text)
    text = _NUM_UNIT.sub("<NUM>", text)
    text = _ID.sub("<ID>", text)
    text = _NUM.sub("<NUM>", text)
    return text


def template_id(template: str) -> str:
    """Stable 12-hex-digit id of a template (blake2b; same in every process)."""
    return hashlib.blake2b(template.encode("utf-8"), digest_size=6).hexdigest()


# -- reading ---------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_time(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and 0 <= value <= MAX_TIME_S


def _well_formed(rec: Any) -> bool:
    """Whether a decoded line is a log entry (see the module docstring)."""
    if not isinstance(rec, dict) or not _valid_time(rec.get("time_s")):
        return False
    if not isinstance(rec.get("level"), str) or not isinstance(rec.get("message"), str):
        return False
    for key in ("model", "status"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            return False
    latency = rec.get("latency_ms")
    return latency is None or _is_number(latency)


def _read_lines(path: str | os.PathLike) -> tuple[list[dict], list[int], int]:
    rows: list[dict] = []
    bad_lines: list[int] = []
    n_bad = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                rec = None
            if rec is not None and _well_formed(rec):
                rec["time_s"] = float(rec["time_s"])
                rows.append(rec)
                continue
            n_bad += 1
            if len(bad_lines) < _MAX_REPORTED_LINES:
                bad_lines.append(lineno)
    return rows, bad_lines, n_bad


def read_jsonl(path: str | os.PathLike) -> tuple[pd.DataFrame, int]:
    """Read a JSON-lines log; returns ``(entries, n_malformed)``.

    Malformed lines (see the module docstring) are skipped and counted.
    """
    rows, _, n_bad = _read_lines(path)
    return pd.DataFrame(rows), n_bad


def _normalise_entries(df: pd.DataFrame) -> pd.DataFrame:
    if "time_s" not in df.columns:
        if df.empty:
            df = pd.DataFrame(columns=LOG_COLUMNS)
        else:
            raise ValueError("source: log entries need a 'time_s' column")
    df = df.copy()
    for col in LOG_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan if col == "latency_ms" else None
    df["time_s"] = pd.to_numeric(df["time_s"], errors="raise").astype(float)
    t = df["time_s"].to_numpy()
    bad = ~(np.isfinite(t) & (t >= 0) & (t <= MAX_TIME_S))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"source: entry {row}: time_s must be a number in [0, {MAX_TIME_S:g}], got {t[row]!r}"
        )
    df["level"] = df["level"].fillna("INFO").map(_normalise_level)
    df["message"] = df["message"].fillna("").astype(str)
    df["latency_ms"] = pd.to_numeric(df["latency_ms"], errors="coerce").astype(float)
    df["status"] = df["status"].astype(object).where(df["status"].notna(), None)
    df["model"] = df["model"].astype(object).where(df["model"].notna(), None)
    ordered = LOG_COLUMNS + [c for c in df.columns if c not in LOG_COLUMNS]
    return df[ordered].sort_values("time_s", kind="stable").reset_index(drop=True)


# -- markdown ----------------------------------------------------------------------
def _fmt_cell(value: Any, float_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return float_format.format(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return escape_control(str(value).replace("|", "\\|").replace("\n", " "))


def frame_to_markdown(
    df: pd.DataFrame, max_rows: int | None = 20, float_format: str = "{:.4g}", index: bool = False
) -> str:
    """GitHub-flavoured markdown table of ``df`` without the ``tabulate`` package.

    Examples
    --------
    >>> print(frame_to_markdown(pd.DataFrame({"a": [1, 2], "b": [0.5, None]})))
    | a | b |
    |---|---|
    | 1 | 0.5 |
    | 2 |  |
    """
    if index:
        df = df.reset_index()
    if df.columns.empty:
        return "_(no columns)_"
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    header = "| " + " | ".join(escape_control(c) for c in shown.columns) + " |"
    sep = "|" + "|".join("---" for _ in shown.columns) + "|"
    lines = [header, sep]
    for row in shown.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_fmt_cell(v, float_format) for v in row) + " |")
    if len(shown) < len(df):
        lines.append(f"\n_{len(df) - len(shown)} more rows not shown._")
    return "\n".join(lines)


# -- report ------------------------------------------------------------------------
@dataclass(frozen=True)
class LogReport:
    """Result of :meth:`LogAnalyzer.report`; every table is a DataFrame."""

    n_entries: int
    n_malformed: int
    start_s: float
    end_s: float
    window_s: float
    categories: pd.DataFrame
    templates: pd.DataFrame
    volume: pd.DataFrame
    anomalies: pd.DataFrame

    @property
    def anomalous_windows(self) -> pd.DataFrame:
        """Rows of :attr:`anomalies` that are flagged."""
        return self.anomalies[self.anomalies["anomaly"]]

    def to_markdown(self, max_rows: int = 20) -> str:
        """The report as markdown (works without ``tabulate``)."""
        parts = [
            "# Log report",
            "",
            f"{self.n_entries} entries from t = {self.start_s:g} s to {self.end_s:g} s"
            f" ({self.n_malformed} malformed lines skipped); windows of {self.window_s:g} s.",
            "",
            "## Categories",
            "",
            frame_to_markdown(self.categories, max_rows),
            "",
            "## Error templates",
            "",
            frame_to_markdown(self.templates.drop(columns=["example"], errors="ignore"), max_rows)
            if not self.templates.empty
            else "_No error entries._",
            "",
            "## Rate anomalies",
            "",
        ]
        flagged = self.anomalous_windows
        if flagged.empty:
            parts.append("_No anomalous windows._")
        else:
            parts.append(frame_to_markdown(flagged, max_rows))
        return "\n".join(parts) + "\n"


class LogAnalyzer:
    """Analyse structured log entries.

    Parameters
    ----------
    source : path, DataFrame or iterable of mappings
        A JSON-lines file written by :class:`StructuredLogWriter`, or entries.
    window_s : float
        Default window of simulated time for volume counts and anomalies.

    Attributes
    ----------
    entries : DataFrame
        Columns ``time_s, level, model, message, latency_ms, status`` (plus any
        extra fields), sorted by time; levels upper-cased.
    n_malformed : int
        Lines of the file that were skipped as malformed (see the module docstring).
    malformed_lines : list of int
        The first (up to 10) of those line numbers, 1-based.
    """

    def __init__(
        self,
        source: str | os.PathLike | pd.DataFrame | Iterable[Mapping[str, Any]],
        window_s: float = 60.0,
    ) -> None:
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s: must be a finite number > 0, got {window_s!r}")
        self.window_s = float(window_s)
        self.n_malformed = 0
        self.malformed_lines: list[int] = []
        if isinstance(source, (str, os.PathLike)):
            rows, self.malformed_lines, self.n_malformed = _read_lines(source)
            frame = pd.DataFrame(rows)
        elif isinstance(source, pd.DataFrame):
            frame = source
        else:
            frame = pd.DataFrame(list(source))
        self.entries = _normalise_entries(frame)

    # -- basic views -----------------------------------------------------------
    def _is_error(self, df: pd.DataFrame | None = None) -> pd.Series:
        df = self.entries if df is None else df
        return df["level"].isin(ERROR_LEVELS) | df["status"].isin(ERROR_STATUSES)

    def categories(self, by: tuple[str, ...] = ("level", "status")) -> pd.DataFrame:
        """Counts and shares of entries per combination of ``by`` columns, most frequent first.

        Missing values are shown as ``"-"``.
        """
        by = list(by)
        for col in by:
            if col not in self.entries.columns:
                raise ValueError(f"by: unknown column {col!r}")
        if self.entries.empty:
            return pd.DataFrame(columns=[*by, "count", "share"])
        keys = self.entries[by].astype(object).fillna("-")
        out = keys.value_counts(sort=False).rename("count").reset_index()
        out["share"] = out["count"] / out["count"].sum()
        return out.sort_values(["count", *by], ascending=[False] + [True] * len(by)).reset_index(
            drop=True
        )

    def templates(self, errors_only: bool = True) -> pd.DataFrame:
        """Messages grouped by template (see :func:`mask_message`).

        With ``errors_only`` only error entries (level ERROR/CRITICAL or status
        error/timeout/dropped) are grouped. Columns: ``template_id``, ``template``,
        ``count``, ``share``, ``first_time_s``, ``last_time_s``, ``models``,
        ``example``; most frequent first.
        """
        cols = [
            "template_id",
            "template",
            "count",
            "share",
            "first_time_s",
            "last_time_s",
            "models",
            "example",
        ]
        df = self.entries[self._is_error()] if errors_only else self.entries
        if df.empty:
            return pd.DataFrame(columns=cols)
        unique = pd.Series(df["message"].unique())
        masks = dict(zip(unique, unique.map(mask_message), strict=True))
        tpl = df["message"].map(masks)
        grouped = df.assign(template=tpl).groupby("template", sort=False)
        out = pd.DataFrame(
            {
                "count": grouped.size(),
                "first_time_s": grouped["time_s"].min(),
                "last_time_s": grouped["time_s"].max(),
                "models": grouped["model"].agg(
                    lambda s: ",".join(sorted({str(m) for m in s if m is not None}))
                ),
                "example": grouped["message"].first(),
            }
        ).reset_index()
        out["template_id"] = out["template"].map(template_id)
        out["share"] = out["count"] / out["count"].sum()
        out = out.sort_values(["count", "template"], ascending=[False, True])
        return out[cols].reset_index(drop=True)

    def volume(
        self,
        window_s: float | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> pd.DataFrame:
        """Entries per window of simulated time, empty windows included.

        Windows are ``[k w, (k+1) w)``. Columns: ``window_start_s``, ``total``,
        ``errors`` and one column per level seen (``DEBUG`` ... ``CRITICAL``).
        """
        w = self.window_s if window_s is None else float(window_s)
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"window_s: must be a finite number > 0, got {window_s!r}")
        df = self.entries
        levels = [lv for lv in LEVELS if lv in set(df["level"])] + sorted(
            set(df["level"]) - set(LEVELS)
        )
        cols = ["window_start_s", "total", "errors", *levels]
        if df.empty and (start_s is None or end_s is None):
            return pd.DataFrame(columns=cols)
        t = df["time_s"].to_numpy(dtype=float)
        first = t.min() if start_s is None else float(start_s)
        last = t.max() if end_s is None else float(end_s)
        if not (math.isfinite(first) and math.isfinite(last)):
            raise ValueError(f"start_s, end_s: must be finite, got {start_s!r}, {end_s!r}")
        top = max(abs(first), abs(last), float(np.abs(t).max()) if t.size else 0.0)
        if top / w >= 2.0**53:
            raise ValueError(
                f"window_s: {w:g} s is too small for times up to {top:g} s "
                "(window numbers beyond 2**53 are not exact)"
            )
        lo = math.floor(first / w)
        hi = math.floor(last / w)
        if end_s is not None and last / w == hi and hi > lo:
            hi -= 1  # end_s on a boundary: the window starting at end_s is empty
        if hi - lo + 1 > MAX_WINDOWS:
            raise ValueError(
                f"window_s: {w:g} s windows over {first:g} .. {last:g} s would need "
                f"{hi - lo + 1:,} windows, more than the cap of {MAX_WINDOWS:,}; use a larger window"
            )
        k = np.floor(t / w).astype(np.int64)
        keep = (k >= lo) & (k <= hi)
        n = hi - lo + 1
        idx = k[keep] - lo
        data = {
            "window_start_s": (np.arange(lo, hi + 1) * w).astype(float),
            "total": np.bincount(idx, minlength=n),
            "errors": np.bincount(
                idx, weights=self._is_error().to_numpy()[keep], minlength=n
            ).astype(np.int64),
        }
        lv = df["level"].to_numpy()[keep]
        for level in levels:
            data[level] = np.bincount(idx, weights=(lv == level), minlength=n).astype(np.int64)
        return pd.DataFrame(data, columns=cols)

    def anomalies(
        self,
        window_s: float | None = None,
        metric: str = "errors",
        method: str = "mad",
        threshold: float = 3.5,
        two_sided: bool = False,
        alpha: float = 0.3,
        warmup: int = 5,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> pd.DataFrame:
        """Windows whose count of ``metric`` is anomalous.

        ``method="mad"``: robust z = (x - median) / (1.4826 MAD) over all windows
        (Iglewicz and Hoaglin 1993; flagged above ``threshold``, 3.5).
        ``method="ewma"``: z against the EWMA mean and variance of the *previous*
        windows (smoothing ``alpha``; the first ``warmup`` windows are not scored),
        so it flags the onset of a change. In both, the scale is floored at the
        Poisson standard deviation ``sqrt(max(baseline, 1))``: with mostly-zero
        error counts the MAD is 0 and one stray error must not count as a burst.

        Parameters
        ----------
        metric : str
            A column of :meth:`volume`: ``"errors"``, ``"total"`` or a level.
        two_sided : bool
            Also flag drops (useful for ``"total"``: a silent service).

        Returns
        -------
        DataFrame
            ``window_start_s``, ``count``, ``baseline``, ``scale``, ``score``, ``anomaly``.
        """
        if method not in ("mad", "ewma"):
            raise ValueError(f"method: must be 'mad' or 'ewma', got {method!r}")
        if not (0 < alpha <= 1):
            raise ValueError(f"alpha: must be in (0, 1], got {alpha!r}")
        if not threshold > 0:
            raise ValueError(f"threshold: must be > 0, got {threshold!r}")
        vol = self.volume(window_s, start_s, end_s)
        cols = ["window_start_s", "count", "baseline", "scale", "score", "anomaly"]
        if vol.empty:
            return pd.DataFrame(columns=cols)
        if metric in vol.columns and metric != "window_start_s":
            x = vol[metric].to_numpy(dtype=float)
        elif metric.upper() in LEVELS:
            x = np.zeros(len(vol))
        else:
            raise ValueError(
                f"metric: unknown column {metric!r}; choose from {list(vol.columns[1:])}"
            )
        if method == "mad":
            med = float(np.median(x))
            mad = float(np.median(np.abs(x - med)))
            baseline = np.full_like(x, med)
            scale = np.full_like(x, max(1.4826 * mad, math.sqrt(max(med, 1.0))))
        else:
            baseline = np.full_like(x, np.nan)
            scale = np.full_like(x, np.nan)
            mean, var = x[0], 0.0
            for i in range(1, len(x)):
                if i >= warmup:
                    baseline[i] = mean
                    scale[i] = max(math.sqrt(var), math.sqrt(max(mean, 1.0)))
                diff = x[i] - mean
                incr = alpha * diff
                mean += incr
                var = (1 - alpha) * (var + diff * incr)
        score = (x - baseline) / scale
        flag = np.abs(score) > threshold if two_sided else score > threshold
        flag = np.where(np.isnan(score), False, flag)
        return pd.DataFrame(
            {
                "window_start_s": vol["window_start_s"],
                "count": x,
                "baseline": baseline,
                "scale": scale,
                "score": score,
                "anomaly": flag.astype(bool),
            },
            columns=cols,
        )

    # -- retention -------------------------------------------------------------
    def retain(self, now_s: float, retention_s: float) -> LogAnalyzer:
        """A new analyser keeping entries with ``time_s >= now_s - retention_s``.

        Retention is by simulated time; entries after ``now_s`` are kept.
        """
        cutoff = _retention_cutoff(now_s, retention_s)
        kept = LogAnalyzer(self.entries[self.entries["time_s"] >= cutoff], self.window_s)
        kept.n_malformed = self.n_malformed
        kept.malformed_lines = list(self.malformed_lines)
        return kept

    # -- report ----------------------------------------------------------------
    def report(
        self,
        window_s: float | None = None,
        method: str = "mad",
        threshold: float = 3.5,
        metric: str = "errors",
    ) -> LogReport:
        """Categories, error templates, volume and anomalies in one object."""
        w = self.window_s if window_s is None else float(window_s)
        t = self.entries["time_s"]
        return LogReport(
            n_entries=len(self.entries),
            n_malformed=self.n_malformed,
            start_s=float(t.min()) if len(t) else math.nan,
            end_s=float(t.max()) if len(t) else math.nan,
            window_s=w,
            categories=self.categories(),
            templates=self.templates(),
            volume=self.volume(w),
            anomalies=self.anomalies(w, metric=metric, method=method, threshold=threshold),
        )


def _retention_cutoff(now_s: float, retention_s: float) -> float:
    if not (math.isfinite(now_s)):
        raise ValueError(f"now_s: must be finite, got {now_s!r}")
    if not (math.isfinite(retention_s) and retention_s >= 0):
        raise ValueError(f"retention_s: must be a finite number >= 0, got {retention_s!r}")
    return float(now_s) - float(retention_s)


def apply_retention(path: str | os.PathLike, now_s: float, retention_s: float) -> int:
    """Drop entries older than ``now_s - retention_s`` from a JSON-lines file, in place.

    The file is rewritten to a temporary file in the same directory and swapped in
    with ``os.replace`` (atomic), so a crash leaves either the old or the new file.
    Malformed lines are dropped too. Returns the number of lines removed.
    """
    cutoff = _retention_cutoff(now_s, retention_s)
    path = Path(path)
    removed = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with open(path, encoding="utf-8") as src, os.fdopen(fd, "w", encoding="utf-8") as dst:
            for line in src:
                if not line.strip():
                    continue
                try:
                    keep = float(json.loads(line)["time_s"]) >= cutoff
                except (ValueError, KeyError, TypeError):
                    keep = False
                if keep:
                    dst.write(line if line.endswith("\n") else line + "\n")
                else:
                    removed += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return removed
