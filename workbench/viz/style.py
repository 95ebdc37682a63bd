"""One look for every figure: rcParams, model colours, the time axis and event marks.

Every plotting function in :mod:`workbench.viz` builds its figure inside
:func:`use_style`, puts simulated time on the x axis (seconds or minutes, said
in the label) and marks what happened during the run from the ``events``
table: fault windows shaded, rollout steps dotted, rollbacks, promotions and
switches as vertical lines, failed gates as triangles. A figure plotted
against the list index with no marks at all hides when anything happened; these
helpers exist so that no figure does that.

Figures are :class:`matplotlib.figure.Figure` objects created without pyplot,
so nothing accumulates in pyplot's figure manager (no "too many figures"
warning in loops) and a notebook displays a returned figure exactly once.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "RC_PARAMS",
    "MODEL_COLORS",
    "EVENT_STYLE",
    "TimeAxis",
    "use_style",
    "new_figure",
    "model_color",
    "time_axis",
    "fault_windows",
    "mark_events",
    "finish_legend",
]

_PALETTE = sns.color_palette("colorblind", 10).as_hex()

#: Colours of the two standard models, the same in every figure.
MODEL_COLORS: dict[str, str] = {"legacy": _PALETTE[0], "candidate": _PALETTE[1]}

#: rcParams applied by :func:`use_style`.
RC_PARAMS: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=_PALETTE),
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
}

#: How each event kind is drawn: (colour, line style, legend label).
EVENT_STYLE: dict[str, tuple[str, str, str]] = {
    "step": ("#555555", ":", "rollout step"),
    "switch": (_PALETTE[4], "-.", "switch"),
    "rollback": ("#c0392b", "-", "rollback"),
    "promotion": ("#1e8449", "-", "promotion"),
    "gate_failed": ("#c0392b", "", "gate failed"),
}
_FAULT_COLOR = "#e74c3c"


@contextlib.contextmanager
def use_style(rc: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Context manager applying the workbench style (plus optional ``rc`` overrides).

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with use_style():
    ...     mpl.rcParams["axes.spines.top"]
    False
    """
    params = dict(RC_PARAMS)
    if rc:
        params.update(rc)
    with mpl.rc_context(params):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width_in: float = 9.0, height_in: float = 3.6,
               sharex: bool = False, squeeze: bool = True) -> tuple[Figure, Any]:
    """A pyplot-free figure with constrained layout; call inside :func:`use_style`."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=squeeze)
    return fig, axes


def model_color(name: str, order: Sequence[str] = ()) -> str:
    """The colour of a model: fixed for legacy and candidate, the palette otherwise."""
    if name in MODEL_COLORS:
        return MODEL_COLORS[name]
    idx = list(order).index(name) if name in order else sum(map(ord, name))
    return _PALETTE[(2 + idx) % len(_PALETTE)]


@dataclass(frozen=True)
class TimeAxis:
    """Conversion of simulated seconds to the unit shown on the x axis."""

    unit: str
    scale_s: float

    @property
    def label(self) -> str:
        """The x-axis label, with its unit."""
        return f"time since start ({self.unit})"

    def __call__(self, seconds: Any) -> Any:
        """Seconds converted to the axis unit."""
        return np.asarray(seconds, dtype=float) / self.scale_s


def time_axis(end_s: float, unit: str = "auto") -> TimeAxis:
    """Seconds for runs up to 10 minutes, minutes beyond (``unit`` forces one).

    Examples
    --------
    >>> time_axis(1800).unit, time_axis(300).unit, time_axis(1800, "s").unit
    ('min', 's', 's')
    """
    if unit == "auto":
        unit = "min" if end_s > 600 else "s"
    if unit == "s":
        return TimeAxis("s", 1.0)
    if unit == "min":
        return TimeAxis("min", 60.0)
    raise ValueError(f"time_unit: must be 'auto', 's' or 'min', got {unit!r}")


def _details(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _fault_key(reason: str) -> str:
    for suffix in (" starts", " ends"):
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


def fault_windows(events: pd.DataFrame | None, end_s: float) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, label)`` of every fault window in an events table.

    A ``fault_start`` is paired with the ``fault_end`` of the same fault (same
    reason stem, e.g. ``"latency_spike #0"``); a fault that never ends (an
    open-ended fault, or one still active when the run stopped) lasts until ``end_s``.

    Examples
    --------
    >>> ev = pd.DataFrame({"time_s": [10.0, 40.0, 50.0], "kind": ["fault_start", "fault_end", "fault_start"],
    ...                    "reason": ["spike #0 starts", "spike #0 ends", "burst #1 starts"]})
    >>> fault_windows(ev, end_s=100.0)
    [(10.0, 40.0, 'spike #0'), (50.0, 100.0, 'burst #1')]
    """
    if events is None or events.empty or "kind" not in events:
        return []
    rows = events[events["kind"].isin(["fault_start", "fault_end"])].sort_values("time_s", kind="stable")
    open_: dict[str, float] = {}
    windows: list[tuple[float, float, str]] = []
    for row in rows.itertuples(index=False):
        key = _fault_key(str(getattr(row, "reason", "")))
        if row.kind == "fault_start":
            open_[key] = float(row.time_s)
        elif key in open_:
            windows.append((open_.pop(key), float(row.time_s), key))
    windows += [(start, float(end_s), key) for key, start in open_.items()]
    return sorted(windows)


def mark_events(
    ax: Axes,
    events: pd.DataFrame | None,
    tx: TimeAxis,
    end_s: float,
    *,
    kinds: Sequence[str] = ("fault", "step", "switch", "rollback", "promotion", "gate_failed"),
    annotate_steps: bool = False,
    fault_band: str = "full",
) -> list[Any]:
    """Draw fault windows and strategy events on ``ax``; return legend handles.

    ``kinds`` selects what to draw: ``"fault"`` (shaded windows) and any event
    kind of :data:`EVENT_STYLE`. Failed gates are triangles along the top edge.
    ``fault_band="strip"`` shades only a strip along the bottom edge (for
    filled plots that a full-height band would hide or tint).
    """
    handles: list[Any] = []
    if events is None or events.empty:
        return handles
    if fault_band not in ("full", "strip"):
        raise ValueError(f"fault_band: must be 'full' or 'strip', got {fault_band!r}")
    if "fault" in kinds:
        windows = fault_windows(events, end_s)
        top, alpha = (1.0, 0.12) if fault_band == "full" else (0.035, 0.9)
        for start, stop, _ in windows:
            ax.axvspan(tx(start), tx(stop), ymin=0.0, ymax=top, color=_FAULT_COLOR, alpha=alpha,
                       lw=0, zorder=3 if fault_band == "strip" else 0.5)
        if windows:
            handles.append(Patch(facecolor=_FAULT_COLOR, alpha=min(1.0, 2 * alpha), label="fault window"))
    trans = ax.get_xaxis_transform()
    for kind in ("step", "switch", "rollback", "promotion"):
        if kind not in kinds:
            continue
        rows = events[events["kind"] == kind]
        if rows.empty:
            continue
        color, ls, label = EVENT_STYLE[kind]
        lw = 1.0 if kind == "step" else 1.8
        for row in rows.itertuples(index=False):
            x = float(tx(row.time_s))
            ax.axvline(x, color=color, ls=ls, lw=lw, alpha=0.9)
            if kind == "step" and annotate_steps:
                weight = _details(getattr(row, "details", "")).get("weight")
                if weight is not None and math.isfinite(float(weight)):
                    ax.text(x, 1.0, f" {float(weight):g}%", transform=trans, fontsize=8,
                            color=color, va="bottom", ha="left", clip_on=False)
        handles.append(Line2D([], [], color=color, ls=ls, lw=lw, label=label))
    if "gate_failed" in kinds:
        rows = events[events["kind"] == "gate_failed"]
        if not rows.empty:
            color, _, label = EVENT_STYLE["gate_failed"]
            x = tx(rows["time_s"].to_numpy())
            ax.plot(x, np.full(x.shape, 0.97), ls="", marker="v", ms=7, color=color,
                    transform=trans, clip_on=False)
            handles.append(Line2D([], [], ls="", marker="v", color=color, label=label))
    return handles


def finish_legend(ax: Axes, handles: Sequence[Any] = (), **kwargs: Any) -> None:
    """A legend of the labelled artists of ``ax`` plus ``handles``; none if empty.

    Calling ``ax.legend()`` with nothing labelled warns; this never does.
    """
    own, _ = ax.get_legend_handles_labels()
    allh = list(own) + list(handles)
    if allh:
        kwargs.setdefault("loc", "upper left")
        kwargs.setdefault("bbox_to_anchor", (1.01, 1.0))
        kwargs.setdefault("borderaxespad", 0.0)
        ax.legend(handles=allh, **kwargs)
