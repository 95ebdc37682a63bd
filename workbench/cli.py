"""Command line: ``workbench <command> [options]``.

Commands
--------
run
    Simulate one scenario, print its summary, what it showed (outcome, users hurt, the
    strategy's verdict) and its events (``--out DIR`` writes the run); ``--seeds N``: its
    strategy's risk over N seeds, with intervals; ``--rerun RUN_DIR``: repeat a written
    run and say whether its summary is the same.
compare
    Run several strategies on the same traffic and print one row per strategy (120
    columns; ``--wide`` for every column); ``--seeds N``: each strategy's risk over the
    same N seeds, with intervals.
sweep
    Monte-Carlo operating characteristics of a rollout policy over seeds and a grid.
capacity
    An autoscaled fleet against a fixed fleet sized for the peak, on the same traffic,
    and the autoscaler's scale events.
runs
    List the runs recorded in the run registry.
runs show RUN_ID
    Show one recorded run (a unique prefix of its id will do): its outcome, KPIs per model.
runs diff RUN_A RUN_B
    What differs between two recorded runs: scenario, seed, version, then each KPI with B - A.
report RUN_DIR [-o report.html]
    A self-contained HTML report of a run written with ``run --out``: outcome, KPIs,
    figures, events and the scenario, for a review's minutes.
logs
    Analyse a run's structured log: templates, volume and anomalies.
import argo|flagger SPEC [TEMPLATES...]
    A scenario that rehearses an Argo Rollout or a Flagger Canary (with its analysis templates).
export argo|flagger SCENARIO
    A scenario's rollout as Argo Rollouts or Flagger YAML.
calibrate LOG
    A scenario with the traffic and latency of a request log (or a Prometheus export).
plan SCENARIO
    Search step schedules for the fastest rollout within risk limits (exit 1 when none meets them).
validate
    Check scenario files and report every problem found.

Bad input prints one clear message naming the file and the field on stderr and
exits with status 2, without a traceback. User-supplied text (scenario names, run
ids, reasons, log messages) is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from .scenario import ScenarioError
    from .summary import RunSummary

EXIT_BAD_INPUT = 2
OUTPUT_WIDTH = 120  # sentences are wrapped to this; default tables fit in it


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _positive(text: str, most: int = 10**9) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    if value > most:
        raise argparse.ArgumentTypeError(f"must be at most {most:,}, got {text}")
    return value


def _workers(text: str) -> int:
    """Local worker processes: at most 8 per core (each is a Python interpreter)."""
    return _positive(text, most=8 * (os.cpu_count() or 1))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors also exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _overrides(pairs: Sequence[str] | None) -> dict:
    from .outputs import escape_control
    from .scenario import ScenarioError, parse_override_value

    out = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ScenarioError(f"--set {escape_control(pair)!r}: expected key=value (e.g. traffic.rate_per_s=80)")
        if key.strip() in out:
            raise ScenarioError(f"--set {escape_control(key.strip())}: given twice")
        out[key.strip()] = parse_override_value(value.strip())
    return out


def _progress_bar(enabled: bool, desc: str):
    """A tqdm bar that appears only if the run takes more than a couple of seconds."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    state = {"bar": None, "t0": time.monotonic()}

    def update(fraction: float) -> None:
        if state["bar"] is None:
            if time.monotonic() - state["t0"] < 2.0 and fraction < 1.0:
                return
            state["bar"] = tqdm(total=100, desc=desc, unit="%", file=sys.stderr, leave=False)
        bar = state["bar"]
        bar.update(max(0, round(fraction * 100) - bar.n))

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def _safe_frame(frame):
    """A copy of ``frame`` with control characters in its text cells and labels escaped."""
    from .outputs import escape_control

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "category"):
            out[col] = out[col].map(lambda v: escape_control(v) if isinstance(v, str) else v)
    out.columns = [escape_control(c) for c in out.columns]
    return out


def _record(args, kind: str, scenario, seed, kpis: dict, out) -> None:
    """Record a CLI run in the run registry (``--registry`` or the default database).

    The outputs are already on disk: a registry that cannot be used (damaged,
    another program's database, a newer schema, not writable) gives a one-line
    warning, not an error.
    """
    from .outputs import escape_control

    if getattr(args, "no_registry", False):
        return
    import sqlite3

    from .registry import RegistryError, RunRegistry

    try:
        _check_registry_arg(args.registry)
        with RunRegistry(args.registry) as reg:
            run_id = reg.record_run(kind, scenario.name, scenario.content_hash(), seed, __version__, kpis,
                                    str(Path(out).resolve()) if out else None)
    except (RegistryError, OSError, sqlite3.Error) as exc:
        print(f"warning: {kind} not recorded in the run registry: {escape_control(exc)}", file=sys.stderr)
        return
    print(f"recorded as run {escape_control(run_id)} in {escape_control(reg.path)}", file=sys.stderr)


def _check_registry_arg(path) -> None:
    """``--registry`` names the database file: a directory there is a mistake."""
    if path is not None and Path(path).expanduser().is_dir():
        from .registry import RegistryError

        raise RegistryError(f"{path}: is a directory; --registry takes the database file")


def _check_out(args) -> None:
    """Refuse a bad ``--out`` before any simulation (a file, a foreign directory, not writable)."""
    if args.out:
        from .outputs import check_output_dir

        check_output_dir(args.out, force=args.force, kind=args.command)


def _run_kpis(summary: RunSummary) -> dict:
    """The headline KPIs of a run, as recorded in the registry."""
    return {
        "requests": summary.requests,
        "users": summary.users,
        "status_counts": dict(summary.status_counts),
        "error_rate": summary.error_rate,
        "throughput_per_s": summary.throughput_per_s,
        "rollback": summary.rollback.to_dict(),
        "final_state": summary.strategy.final_state,
        "models": {
            name: {k: getattr(m, k) for k in ("requests", "error_rate", "latency_p95_ms", "latency_p99_ms",
                                              "prediction_mae", "conversion_rate")}
            for name, m in summary.models.items()
        },
    }


def _risk_kpis(summary) -> dict:
    """The risk figures of each strategy kept in the run registry."""
    keep = ("runs", "good_candidate", "false_rollback_rate", "detection_rate", "promotion_rate",
            "time_to_detect_s_mean", "time_to_rollback_s_mean", "blast_radius_users_mean",
            "blast_radius_requests_mean", "time_to_full_rollout_s_mean")
    return {row["strategy"]: {k: row[k] for k in keep if k in row} for row in summary.to_dict("records")}


def _risk_over_seeds(args, scenario, strategies: list[str], runs_file: str) -> int:
    """``run``/``compare`` with ``--seeds N``: each strategy's risk over seeds 0..N-1, with intervals.

    Bad ``N`` (below 1, above the sweep's limit) fails before any run with one line
    (:class:`~workbench.experiments.grid.SweepError`). ``--out`` gets the run table
    (``runs_file``) and ``summary.parquet``.
    """
    from .experiments import compare
    from .experiments.grid import SweepError
    from .experiments.risk import format_risk
    from .outputs import escape_control
    from .scenario import ScenarioError

    if args.seed is not None:
        raise ScenarioError("--seed, --seeds: give one of them (--seeds N runs seeds 0..N-1)")
    quiet = getattr(args, "quiet", False)
    try:
        result = compare(scenario, strategies, seeds=args.seeds, progress=False if quiet else "auto")
    except SweepError as exc:  # the sweep's own seed checks, named as the option
        if str(exc).startswith("seeds:"):
            raise ScenarioError(f"--{exc}") from None
        raise
    seeds = result.seeds
    print(f"scenario '{escape_control(scenario.name)}'  {len(seeds)} seeds ({seeds[0]}..{seeds[-1]})"
          + ("  (paired: the same seeds for every strategy)" if len(strategies) > 1 else ""))
    safe = _safe_frame(result.summary)
    safe.attrs.update(result.summary.attrs)
    print(format_risk(safe))
    if args.out:
        from .outputs import atomic_output_dir

        with atomic_output_dir(args.out, args.command, force=args.force) as tmp:
            result.runs.to_parquet(tmp / runs_file, index=False)
            result.summary.to_parquet(tmp / "summary.parquet", index=False)
        print(f"\nwrote {escape_control(args.out)}/ ({runs_file}, summary.parquet)")
    _record(args, args.command, scenario, list(seeds), _risk_kpis(result.summary), args.out)
    return 0


def cmd_run(args) -> int:
    """``workbench run``: simulate one scenario, print it, optionally write and record it."""
    from .api import run
    from .outputs import escape_control
    from .result import format_summary
    from .scenario import ScenarioError, load_scenario
    from .story import story_lines

    previous = None
    if args.rerun is not None:
        if args.scenario is not None:
            raise ScenarioError("run: give a scenario file or --rerun RUN_DIR, not both")
        if args.seeds is not None:
            raise ScenarioError("--rerun, --seeds: a rerun repeats one recorded run; give one of them")
        from .result import RunResult

        previous = RunResult.from_dir(args.rerun)
        scenario = previous.scenario.with_overrides(_overrides(args.set))
        if args.seed is None:
            args.seed = previous.seed
    else:
        scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    _check_out(args)
    if args.seeds is not None:
        return _risk_over_seeds(args, scenario, [scenario.strategy.kind], "runs.parquet")
    name = escape_control(scenario.name)
    update, close = _progress_bar(not args.quiet and sys.stderr.isatty(), name)
    try:
        result = run(scenario, seed=args.seed, progress=update)
    finally:
        close()
    s = result.summary
    print(f"scenario '{name}'  seed {result.seed}  {s.requests} requests  {s.users} users")
    print(f"status: {dict(s.status_counts)}  strategy: {escape_control(s.strategy.kind)} -> "
          f"{escape_control(s.strategy.final_state)}")
    print(format_summary(s))  # model names are identifiers
    print()
    for item in story_lines(result):
        if "\n" in item:  # a table: printed as it is
            print("\n".join(escape_control(line) for line in item.split("\n")))
        else:
            print(textwrap.fill(escape_control(item), width=OUTPUT_WIDTH, subsequent_indent="    ",
                                break_on_hyphens=False))
    if not result.events.empty:
        shown = result.events[~result.events["kind"].isin(["analysis"])]
        if len(shown):
            print("\nevents:")
            for row in shown.head(30).itertuples(index=False):
                print(f"  {row.time_s:9.1f}s  {escape_control(row.kind):<16} {escape_control(row.model):<10} "
                      f"{escape_control(row.reason)}")
            if len(shown) > 30:
                print(f"  ... {len(shown) - 30} more")
    if args.out:
        out = result.to_dir(args.out, force=args.force)
        print(f"\nwrote {escape_control(out)}/ (requests.parquet, events.parquet, summary.json, report.md, "
              "log.jsonl)")
    _record(args, "run", scenario, result.seed, _run_kpis(s), args.out)
    if previous is not None:
        return _rerun_verdict(args, previous, result)
    return 0


def _rerun_verdict(args, previous, result) -> int:
    """``run --rerun``: whether the new summary equals the recorded one; 1 when an unchanged rerun differs."""
    from .outputs import escape_control, to_strict_json

    changed = bool(args.set) or result.seed != previous.seed
    old = _flat_kpis(to_strict_json(previous.summary.to_dict()))
    new = _flat_kpis(to_strict_json(result.summary.to_dict()))
    differ = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    where = escape_control(args.rerun)
    if not differ:
        print(f"\nrerun of {where}: the summary is identical ({len(new)} values compared)")
        return 0
    print(f"\nrerun of {where}: {len(differ)} of {len(new)} summary values differ"
          + (" (expected: seed or --set changed)" if changed else
             " although scenario and seed are the same: another version of the tool, or a reproducibility bug"))
    rows = [(escape_control(k), escape_control(_kpi_text(old.get(k))), escape_control(_kpi_text(new.get(k))))
            for k in differ[:20]]
    print("\n".join(_aligned([("value", "recorded", "now"), *rows], indent="  ")))
    if len(differ) > 20:
        print(f"  ... {len(differ) - 20} more")
    return 0 if changed else 1


def cmd_compare(args) -> int:
    """``workbench compare``: several strategies on the same traffic, one row each."""
    import pandas as pd

    from .experiments import compare
    from .outputs import escape_control
    from .scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    kinds = [k.strip() for k in args.strategies.split(",") if k.strip()]
    if not kinds:
        raise ScenarioError("--strategies: give at least one strategy kind")
    repeated = sorted({k for k in kinds if kinds.count(k) > 1})
    if repeated:
        raise ScenarioError(f"--strategies: {', '.join(escape_control(k) for k in repeated)} listed more than once")
    _check_out(args)
    if args.seeds is not None:
        return _risk_over_seeds(args, scenario, kinds, "compare.parquet")
    table = compare(scenario, kinds, seed=args.seed)
    print(f"scenario '{escape_control(scenario.name)}'  seed {table['seed'].iloc[0]}  "
          "(paired: same traffic for every row)")
    if args.wide:
        with pd.option_context("display.width", 1000, "display.max_columns", 100,
                               "display.float_format", "{:.3f}".format):
            print(_safe_frame(table).to_string(index=False))
    else:
        print(format_compare(_safe_frame(table)))
    if args.out:
        from .outputs import atomic_output_dir

        with atomic_output_dir(args.out, "compare", force=args.force) as tmp:
            table.to_parquet(tmp / "compare.parquet", index=False)
        print(f"\nwrote {escape_control(Path(args.out) / 'compare.parquet')}")
    kpis = {row["strategy"]: {k: row[k] for k in ("final_state", "bad_requests_candidate", "time_to_detect_s",
                                                  "time_to_rollback_s", "time_to_full_rollout_s")}
            for row in table.to_dict("records")}
    _record(args, "compare", scenario, int(table["seed"].iloc[0]), kpis, args.out)
    return 0


#: ``workbench compare``'s default columns: (column, header, format); fits 120 columns
COMPARE_COLUMNS = (
    ("strategy", "strategy", "{}"),
    ("final_state", "state", "{}"),
    ("candidate_requests", "cand req", "{:,.0f}"),
    ("candidate_users", "cand users", "{:,.0f}"),
    ("bad_requests_candidate", "bad", "{:,.0f}"),
    ("bad_users_candidate", "hurt", "{:,.0f}"),
    ("bad_requests_legacy", "bad legacy", "{:,.0f}"),
    ("time_to_detect_s", "detect s", "{:,.0f}"),
    ("time_to_rollback_s", "rollback s", "{:,.0f}"),
    ("time_to_full_rollout_s", "full s", "{:,.0f}"),
    ("time_degraded_s", "degraded s", "{:,.0f}"),
)
COMPARE_NOTE = (
    "bad: the candidate's requests not ok or slower than the SLO; hurt: users who got one; bad legacy: the same "
    "on legacy\ndetect, rollback: seconds from the first fault; full: seconds to full rollout; degraded: seconds "
    "users were\non a faulty candidate. --wide: every column (MAE, conversion, errors, timeouts, ...)")


def format_compare(table) -> str:
    """``workbench compare``'s table: the columns a review reads first, in at most 120 characters."""
    rows = [[header for _, header, _ in COMPARE_COLUMNS]]
    for rec in table.to_dict("records"):
        row = []
        for col, _, spec in COMPARE_COLUMNS:
            value = rec.get(col)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            row.append("-" if missing else spec.format(value))
        rows.append(row)
    return "\n".join(_aligned(rows, left=2) + [COMPARE_NOTE])


def _aligned(rows: list, left: int = 1, indent: str = "") -> list[str]:
    """Rows of text cells as lines: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) if c < left else cell.rjust(w)
                               for c, (cell, w) in enumerate(zip(r, widths, strict=True))) for r in rows]


def _parse_vary(items: Sequence[str] | None) -> dict:
    """``--vary KEY=V1,V2`` options as ``{key: [values]}`` (values parsed as TOML, else text)."""
    from .scenario import ScenarioError, parse_override_value

    vary: dict = {}
    example = "e.g. faults[0].error_rate=0.02,0.05"
    for item in items or ():
        if "=" not in item:
            raise ScenarioError(f"--vary {item!r}: expected KEY=V1,V2,... ({example})")
        key, values = (part.strip() for part in item.split("=", 1))
        if not key:
            raise ScenarioError(f"--vary {item!r}: no key before '=' ({example})")
        if key in vary:
            raise ScenarioError(f"--vary {key}: given twice; list all its values once ({key}=V1,V2,...)")
        texts = [v.strip() for v in values.split(",")]
        if not any(texts):
            raise ScenarioError(f"--vary {item!r}: give at least one value ({example})")
        if not all(texts):
            raise ScenarioError(f"--vary {item!r}: an empty value between commas")
        vary[key] = [parse_override_value(v) for v in texts]
    return vary


def cmd_sweep(args) -> int:
    """``workbench sweep``: run the scenario over seeds (and a ``--vary`` grid) and tabulate."""
    from .experiments.sweep import format_sweep_table, sweep
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    vary = _parse_vary(args.vary)
    # sweep() validates every grid point once, before any worker starts, and raises
    # SweepError (a ScenarioError: one line, exit 2) for bad seeds, scheduler or --out
    table = sweep(
        scenario, seeds=args.seeds, vary=vary or None, workers=args.workers, scheduler=args.scheduler,
        out=args.out, progress=False if args.quiet else "auto", record=not args.no_registry,
        registry=args.registry, force=args.force,
    )
    print(f"scenario {scenario.name!r}: {len(table)} runs ({args.seeds} seeds"
          + (f" x {', '.join(f'{k} in {v}' for k, v in vary.items())}" if vary else "") + ")")
    print(format_sweep_table(table, by=list(vary) or None))
    if args.out:
        print(f"\nwrote {args.out}/sweep.parquet (finished runs in {args.out}/runs/; re-run to resume)")
    return 0


def cmd_capacity(args) -> int:
    """``workbench capacity``: an autoscaled fleet against a fixed fleet sized for the peak."""
    import pandas as pd

    from .experiments.capacity import autoscaling_vs_fixed
    from .outputs import escape_control
    from .scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    if args.model not in scenario.models:
        raise ScenarioError(f"--model: unknown model {args.model!r}; the scenario has {sorted(scenario.models)}",
                            source=args.scenario)
    try:
        table = autoscaling_vs_fixed(scenario, seed=args.seed, model=args.model)
    except ValueError as exc:
        raise ScenarioError(str(exc), source=args.scenario) from None
    cols = {"fleet": "fleet", "latency_p95_ms": "p95 ms", "latency_p99_ms": "p99 ms", "p95_within_slo": "p95 ok",
            "replica_seconds": "replica-s", "mean_replicas": "mean repl", "peak_replicas": "peak repl",
            "utilisation": "util", "cost_vs_fixed": "cost vs fixed", "scale_ups": "scale up",
            "scale_downs": "scale down"}
    with pd.option_context("display.width", 120, "display.float_format", "{:,.2f}".format):
        print(f"scenario {escape_control(scenario.name)!r}  seed {table['seed'].iloc[0]}  (same traffic for both "
              f"fleets; SLO p95 <= {table['slo_ms'].iloc[0]:g} ms)")
        print(table[list(cols)].rename(columns=cols).to_string(index=False))
    events = table.attrs.get("scale_events")
    if events is not None and len(events):
        print(f"\nscale events of the autoscaled fleet ({len(events)}):")
        for row in events.head(40).itertuples(index=False):
            print(f"  {row.time_s:8.0f} s  {escape_control(row.reason)}")
        if len(events) > 40:
            print(f"  ... {len(events) - 40} more")
    return 0


def _flat_kpis(value, prefix: str = "") -> dict:
    """A run's recorded KPIs as ``{dotted.key: value}`` (lists of numbers stay whole)."""
    if isinstance(value, dict):
        out: dict = {}
        for key in sorted(value):
            out.update(_flat_kpis(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _kpi_text(value, most: int = 48) -> str:
    """A recorded value as a short cell: numbers with separators, long text cut at ``most`` characters."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value)
        return text if len(text) <= most else text[:most - 3] + "..."
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "-"
    return f"{value:,.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"


def _show_run(rec) -> None:
    """``runs show``: the run's identity, its outcome, then every KPI as an aligned ``key  value`` list."""
    from .outputs import escape_control as e

    print(f"run {e(rec.run_id)}  ({e(rec.kind)}, recorded {e(rec.created_at)})")
    seed = rec.seed if not isinstance(rec.seed, list) else (
        f"{len(rec.seed)} seeds ({rec.seed[0]}..{rec.seed[-1]})" if rec.seed else "none")
    print(f"scenario '{e(rec.scenario_name)}'  hash {e(rec.scenario_hash)}  seed {e(seed)}  "
          f"workbench {e(rec.package_version)}")
    print(f"output: {e(rec.output_dir or '-')}")
    kpis = rec.kpis or {}
    if "final_state" in kpis:
        rb = kpis.get("rollback") or {}
        when = f", rolled back at {rb['time_s']:.0f} s" if rb.get("rolled_back") and rb.get("time_s") is not None else ""
        print(f"final state: {e(kpis['final_state'])}{when}")
    models = kpis.get("models") if isinstance(kpis.get("models"), dict) else {}
    flat = _flat_kpis({k: v for k, v in kpis.items() if k != "models" or not models})
    if not flat and not models:
        print("no KPIs recorded")
        return
    if models:  # one column per model
        names = list(models)
        metrics = sorted({m for kp in models.values() if isinstance(kp, dict) for m in kp})
        rows = [["per model", *map(e, names)]]
        rows += [[e(m), *(e(_kpi_text((models[n] or {}).get(m))) for n in names)] for m in metrics]
        print()
        print("\n".join(_aligned(rows, indent="  ")))
    if flat:
        width = min(max(len(k) for k in flat), 60)
        print()
        for key, value in flat.items():
            print(f"  {e(key):<{width}}  {e(_kpi_text(value))}")


def _diff_runs(a, b, show_all: bool) -> None:
    """``runs diff A B``: what differs between two recorded runs (identity, then KPIs with B - A)."""
    from .outputs import escape_control as e

    print(f"A: run {e(a.run_id)}  {e(a.kind)}  '{e(a.scenario_name)}'  seed {e(a.seed)}  workbench "
          f"{e(a.package_version)}")
    print(f"B: run {e(b.run_id)}  {e(b.kind)}  '{e(b.scenario_name)}'  seed {e(b.seed)}  workbench "
          f"{e(b.package_version)}")
    same_scenario = a.scenario_hash == b.scenario_hash
    print("same scenario content" if same_scenario else
          f"different scenario content (hash {e(a.scenario_hash)} vs {e(b.scenario_hash)})")
    fa, fb = _flat_kpis(a.kpis or {}), _flat_kpis(b.kpis or {})
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = []
    for key in keys:
        va, vb = fa.get(key), fb.get(key)
        if va == vb and not show_all:
            continue
        delta = ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not isinstance(va, bool) \
                and not isinstance(vb, bool):
            d = vb - va
            delta = _kpi_text(d) if d <= 0 or isinstance(d, float) and math.isnan(d) else "+" + _kpi_text(d)
        rows.append((e(key), e(_kpi_text(va)), e(_kpi_text(vb)), delta))
    if not rows:
        print(f"identical KPIs ({len(keys)} compared)")
        return
    changed = sum(1 for k in keys if fa.get(k) != fb.get(k))
    print(f"{changed} of {len(keys)} KPIs differ" + (" (all shown)" if show_all else ""))
    print("\n".join(_aligned([("kpi", "A", "B", "B - A"), *rows], indent="  ")))


def cmd_runs(args) -> int:
    """``workbench runs [show RUN_ID | diff RUN_A RUN_B]``: list recorded runs, show one, or compare two."""
    import pandas as pd

    from .registry import RegistryError, RunRegistry
    from .scenario import ScenarioError

    try:
        _check_registry_arg(args.registry)
        with RunRegistry(args.registry) as reg:
            def get(run_id):
                try:
                    return reg.get_run(run_id)
                except RegistryError:
                    raise
                except (KeyError, ValueError) as exc:
                    raise ScenarioError(f"runs {args.action}: {exc}") from None

            if args.action == "show":
                _show_run(get(args.run_id))
                return 0
            if args.action == "diff":
                _diff_runs(get(args.run_id), get(args.other_id), args.all)
                return 0
            table = reg.list_runs(limit=args.limit)
    except RegistryError as exc:
        raise ScenarioError(f"registry: {exc}") from None
    if table.empty:
        print("no runs recorded yet")
        return 0
    cols = [c for c in ("run_id", "created_at", "kind", "scenario_name", "seed", "output_dir") if c in table]
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(_safe_frame(table[cols]).to_string(index=False))
    return 0


def cmd_report(args) -> int:
    """``workbench report RUN_DIR -o report.html``: a self-contained HTML report of a written run."""
    from .outputs import escape_control
    from .viz.report import write_html_report

    out = Path(args.out) if args.out else Path(args.run_dir) / "report.html"
    if out.is_dir():
        from .scenario import ScenarioError

        raise ScenarioError(f"-o {out}: is a directory; give the HTML file to write")
    path = write_html_report(args.run_dir, out)
    print(f"wrote {escape_control(path)}")
    return 0


def cmd_logs(args) -> int:
    """``workbench logs``: report on a run's ``log.jsonl`` (templates, volume, anomalies)."""
    from .ops.logs import LogAnalyzer
    from .outputs import escape_control
    from .scenario import ScenarioError

    path = Path(args.path)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.exists():
        raise ScenarioError("no log.jsonl here (write one with `workbench run ... --out DIR`)", source=str(path))
    if not path.is_file():
        raise ScenarioError("not a file", source=str(path))
    try:
        analyser = LogAnalyzer(path, window_s=args.window_s)
        if analyser.entries.empty:
            where = f" (line {', '.join(map(str, analyser.malformed_lines))})" if analyser.malformed_lines else ""
            raise ValueError(f"no readable log entries: {analyser.n_malformed} malformed lines{where}"
                             if analyser.n_malformed else "the log is empty")
        if analyser.n_malformed:
            lines = ", ".join(map(str, analyser.malformed_lines))
            more = ", ..." if analyser.n_malformed > len(analyser.malformed_lines) else ""
            print(f"warning: {escape_control(path)}: skipped {analyser.n_malformed} malformed "
                  f"line{'s' if analyser.n_malformed != 1 else ''} (line {lines}{more})", file=sys.stderr)
        if args.retention_s is not None:  # retain() checks the value (finite, >= 0)
            analyser = analyser.retain(float(analyser.entries["time_s"].max()), args.retention_s)
        report = analyser.report()
    except ValueError as exc:
        raise ScenarioError(str(exc).replace("window_s:", "--window-s:").replace("retention_s:", "--retention-s:"),
                            source=str(path)) from None
    print(report.to_markdown())
    return 0


def _error_text(exc: ScenarioError) -> str:
    """A scenario error for the terminal: one line, or one line per validation error."""
    from .outputs import escape_control

    if len(exc.errors) > 1:  # the list of validation errors, one per line
        return "\n".join(escape_control(line) for line in str(exc).split("\n"))
    return escape_control(exc)


def cmd_validate(args) -> int:
    """``workbench validate``: load every scenario file; exit 2 if any is invalid."""
    from .outputs import escape_control
    from .scenario import ScenarioError, load_scenario

    status = 0
    for path in args.scenarios:
        try:
            load_scenario(path)
        except ScenarioError as exc:
            print(_error_text(exc), file=sys.stderr)
            status = EXIT_BAD_INPUT
        else:
            print(f"{escape_control(path)}: ok")
    return status


def _write_or_print(text: str, out: str | None) -> None:
    """Write ``text`` to ``out`` atomically, or print it when no file is given."""
    if out:
        from .outputs import atomic_write_text, escape_control

        atomic_write_text(out, text)
        print(f"wrote {escape_control(out)}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_import(args) -> int:
    """``workbench import argo|flagger SPEC [TEMPLATE ...]``: a scenario rehearsing the team's rollout."""
    from pathlib import Path

    from .outputs import escape_control

    templates = [Path(t) for t in args.templates]
    base = Path(args.base) if args.base else None
    metric_map = Path(args.metric_map) if args.metric_map else None
    if args.tool == "argo":
        from .rollouts import from_argo

        scenario, warnings = from_argo(Path(args.spec), templates, base=base, metric_map=metric_map)
    else:
        from .rollouts import from_flagger

        scenario, warnings = from_flagger(Path(args.spec), templates, base=base, no_values=args.no_values,
                                          metric_map=metric_map)
    for warning in warnings:
        print(f"warning: {escape_control(warning)}", file=sys.stderr)
    _write_or_print(scenario.to_toml(), args.out)
    return 0


def cmd_export(args) -> int:
    """``workbench export argo|flagger SCENARIO``: the scenario's rollout as the tool's YAML."""
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.tool == "argo":
        from .rollouts import to_argo

        text = to_argo(scenario)
    else:
        from .rollouts import to_flagger

        text = to_flagger(scenario)
    _write_or_print(text, args.out)
    return 0


def _quantile_file(text: str) -> tuple[float, str]:
    """``P=FILE`` of ``--prometheus-quantile``."""
    prob, sep, path = text.partition("=")
    try:
        p = float(prob)
    except ValueError:
        p = math.nan
    if not sep or not path or not 0 < p < 1:
        raise argparse.ArgumentTypeError(f"expected P=FILE with 0 < P < 1, got {text!r}")
    return p, path


def cmd_calibrate(args) -> int:
    """``workbench calibrate``: a scenario whose traffic and latency match a request log or a Prometheus export."""
    from .ops.calibrate import calibrate, calibrate_prometheus
    from .outputs import escape_control

    if args.prometheus_rate:
        if args.log or not args.prometheus_quantile:
            print("error: calibrate: give either LOG or --prometheus-rate with --prometheus-quantile", file=sys.stderr)
            return EXIT_BAD_INPUT
        cal = calibrate_prometheus(args.prometheus_rate, dict(args.prometheus_quantile),
                                   errors=args.prometheus_errors, base=args.base, pattern=args.pattern,
                                   period_s=args.period_s, latency_unit=args.latency_unit or "s", name=args.name)
    else:
        if not args.log or not args.time_col or not args.latency_col:
            print("error: calibrate: give LOG with --time-col and --latency-col (or a Prometheus export)",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        cal = calibrate(args.log, time_col=args.time_col, latency_col=args.latency_col, status_col=args.status_col,
                        model_col=args.model_col, latency_unit=args.latency_unit or "ms", base=args.base,
                        pattern=args.pattern, step_s=args.step_s, period_s=args.period_s, name=args.name)
    for line in cal.summary().splitlines():
        print(escape_control(line), file=sys.stderr)
    _write_or_print(cal.scenario.to_toml(), args.out)
    return 0


def cmd_plan(args) -> int:
    """``workbench plan``: the fastest progressive rollout that meets both risk limits, re-checked on fresh seeds."""
    from .experiments.plan import plan
    from .outputs import escape_control
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    result = plan(scenario, bad=args.bad, max_false_rollback=args.max_false_rollback,
                  min_detection=args.min_detection, seeds=args.seeds, recheck_seeds=args.recheck_seeds,
                  workers=args.workers, progress=not args.quiet)
    for line in result.summary().splitlines():
        print(escape_control(line))
    if args.export == "argo":
        text = result.to_argo()
    elif args.export == "flagger":
        text = result.to_flagger()
    else:
        text = result.to_toml()
    if args.out or args.export:
        _write_or_print(text, args.out)
    return 0 if result.meets_constraints else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (each sets ``func``, the function to run)."""
    parser = _Parser(prog="workbench", description="Rehearse ML model rollouts on a simulation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate one scenario and print its summary")
    p.add_argument("scenario", nargs="?", help="scenario TOML file")
    p.add_argument("--rerun", default=None, metavar="RUN_DIR",
                   help="run again the scenario and seed of a run written with --out, and say whether the "
                        "summary is the same (exit 1 when it differs without --seed or --set)")
    p.add_argument("--seed", type=_seed, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="instead of one run: the strategy's risk over seeds 0..N-1, with intervals "
                        "(rollback and detection rates, time to detect, users hurt, time to full rollout)")
    p.add_argument("--out", default=None, help="directory to write the run's tables and report")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it is a non-empty directory that is not a previous run")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field by dotted path")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--registry", default=None, help="run registry database (default: user data dir)")
    p.add_argument("--no-registry", action="store_true", help="do not record this run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run several strategies on the same traffic")
    p.add_argument("scenario")
    p.add_argument("--strategies", default="ab,canary,progressive,shadow,blue_green",
                   help="comma-separated kinds (default: %(default)s); a kind the scenario does not "
                        "configure runs with its named preset (workbench.scenario.presets)")
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="instead of one seed: each strategy's risk over the same seeds 0..N-1, with intervals")
    p.add_argument("--wide", action="store_true", help="print every column (the default fits 120 characters)")
    p.add_argument("--out", default=None,
                   help="directory to write compare.parquet (with --seeds also summary.parquet)")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it is a non-empty directory that is not a previous run")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--registry", default=None)
    p.add_argument("--no-registry", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="Monte-Carlo operating characteristics of a rollout policy (Dask)")
    p.add_argument("scenario")
    p.add_argument("--seeds", type=_positive, default=100, help="number of seeds (0..N-1; at most 100,000)")
    p.add_argument("--vary", action="append", metavar="KEY=V1,V2", help="a parameter grid by dotted path")
    p.add_argument("--workers", type=_workers, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of an existing Dask scheduler")
    p.add_argument("--out", default=None, help="directory for results (an interrupted sweep resumes from it)")
    p.add_argument("--force", action="store_true",
                   help="use --out even if it holds another sweep or other files (the old sweep is deleted)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
    p.add_argument("--registry", default=None)
    p.add_argument("--no-registry", action="store_true")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("capacity", help="an autoscaled fleet against a fixed fleet sized for the peak")
    p.add_argument("scenario")
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--model", default="legacy")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_capacity)

    p = sub.add_parser("runs", help="list recorded runs, show one, or diff two",
                       usage="workbench runs [show RUN_ID | diff RUN_A RUN_B] [options]")
    p.add_argument("action_word", nargs="?", choices=["show", "diff"], help=argparse.SUPPRESS)
    p.add_argument("run_id", nargs="?", help="run id (or a unique prefix) to show")
    p.add_argument("other_id", nargs="?", help="with diff: the second run id")
    p.add_argument("--all", action="store_true", help="with diff: list equal KPIs too")
    p.add_argument("--limit", type=lambda text: _positive(text, most=1_000_000), default=20)
    p.add_argument("--registry", default=None, help="registry database (default: user data dir or $WORKBENCH_REGISTRY)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="a self-contained HTML report of a run written with --out (figures inline)")
    p.add_argument("run_dir", help="a run directory written by `workbench run --out`")
    p.add_argument("-o", "--out", default=None, help="HTML file to write (default: RUN_DIR/report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("logs", help="analyse a run's structured log (templates, volume, anomalies)")
    p.add_argument("path", help="a run directory written with --out, or a log.jsonl file")
    p.add_argument("--window-s", type=float, default=60.0)
    p.add_argument("--retention-s", type=float, default=None, help="keep only the last N simulated seconds")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("import", help="a scenario that rehearses an Argo Rollout or a Flagger Canary")
    p.add_argument("tool", choices=["argo", "flagger"])
    p.add_argument("spec", help="the Rollout or Canary YAML")
    p.add_argument("templates", nargs="*", help="AnalysisTemplate or MetricTemplate YAML files")
    p.add_argument("--base", default=None,
                   help="scenario TOML giving traffic, models and faults to rehearse on (default: a minimal one)")
    p.add_argument("--metric-map", default=None, metavar="FILE",
                   help="TOML or JSON table: metric name (or a piece of its query) -> simulated measure")
    p.add_argument("--no-values", choices=["fail", "hold"], default="fail",
                   help="flagger: a check with no data fails (Flagger's behaviour, default) or holds")
    p.add_argument("-o", "--out", default=None, help="scenario TOML to write (default: print it)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="a scenario's rollout as Argo Rollouts or Flagger YAML")
    p.add_argument("tool", choices=["argo", "flagger"])
    p.add_argument("scenario")
    p.add_argument("-o", "--out", default=None, help="YAML file to write (default: print it)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("calibrate", help="a scenario with the traffic and latency of a request log or Prometheus export")
    p.add_argument("log", nargs="?", help="request log: .csv, .parquet or .jsonl, one row per request")
    p.add_argument("--time-col", help="arrival time column (epoch s or ms, or ISO timestamps)")
    p.add_argument("--latency-col", help="latency column")
    p.add_argument("--status-col", default=None, help="status column: ok/error/timeout or HTTP codes")
    p.add_argument("--model-col", default=None, help="model column (two values: legacy and candidate)")
    p.add_argument("--latency-unit", choices=["ms", "s"], default=None,
                   help="unit of the latencies (default: ms for a log, s for Prometheus)")
    p.add_argument("--pattern", choices=["trace", "diurnal"], default="trace",
                   help="replay the observed rate curve (trace) or fit a daily cycle (diurnal)")
    p.add_argument("--step-s", type=float, default=60.0, help="width of the rate curve's steps (default 60)")
    p.add_argument("--period-s", type=float, default=86_400.0,
                   help="period of the diurnal cycle to fit (default one day; the data must cover it)")
    p.add_argument("--prometheus-rate", default=None, metavar="JSON",
                   help="Prometheus range-query export (matrix) of the request rate")
    p.add_argument("--prometheus-quantile", action="append", type=_quantile_file, metavar="P=JSON",
                   help="a histogram_quantile export, e.g. 0.99=p99.json (repeat for each quantile)")
    p.add_argument("--prometheus-errors", default=None, metavar="JSON", help="export of the error rate (per second)")
    p.add_argument("--base", default=None, help="scenario TOML whose models, strategy and faults to keep")
    p.add_argument("--name", default=None, help="the scenario's name")
    p.add_argument("-o", "--out", default=None, help="scenario TOML to write (default: print it)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("plan", help="search step schedules for the fastest rollout within risk limits",
                       description="Search progressive step schedules on paired seeds for a good and a bad "
                                   "candidate; print the Pareto set and the fastest plan that meets both limits, "
                                   "re-checked on fresh seeds. Exits 1 when no plan meets the limits.")
    p.add_argument("scenario", help="scenario TOML with a progressive strategy (its candidate is the good one)")
    p.add_argument("--bad", action="append", required=True, metavar="PATH=VALUE",
                   help="override that makes the candidate bad, e.g. 'faults[0].error_rate=0.05' (repeatable)")
    p.add_argument("--max-false-rollback", type=float, default=0.01,
                   help="largest acceptable rate of rolling back the good candidate (default %(default)s)")
    p.add_argument("--min-detection", type=float, default=0.95,
                   help="smallest acceptable rate of catching the bad candidate (default %(default)s)")
    p.add_argument("--seeds", type=_positive, default=200, help="search seeds (default %(default)s)")
    p.add_argument("--recheck-seeds", type=_positive, default=None,
                   help="fresh seeds the recommendation is re-checked on (default: as many as --seeds)")
    p.add_argument("--workers", type=_workers, default=None, help="local worker processes for large searches")
    p.add_argument("--export", choices=["argo", "flagger"], default=None,
                   help="write the recommended plan as Argo Rollouts or Flagger YAML instead of a scenario")
    p.add_argument("-o", "--out", default=None, help="file for the recommended plan (scenario TOML or --export YAML)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("validate", help="check scenario files")
    p.add_argument("scenarios", nargs="+")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and usage errors exit here, before any heavy import
    from .outputs import OutputDirError, escape_control
    from .scenario import ScenarioError

    if args.command == "run" and args.scenario is None and args.rerun is None:
        parser.print_usage(sys.stderr)
        parser.exit(EXIT_BAD_INPUT, "workbench run: error: give a scenario file (or --rerun RUN_DIR)\n")
    if args.command == "runs":
        args.action = args.action_word or ("show" if args.run_id else "list")
        if args.action == "show" and (not args.run_id or args.other_id):
            parser.exit(EXIT_BAD_INPUT, "workbench runs show: error: give one run id\n")
        if args.action == "diff" and not (args.run_id and args.other_id):
            parser.exit(EXIT_BAD_INPUT, "workbench runs diff: error: give two run ids\n")
    try:
        return int(args.func(args) or 0)
    except ScenarioError as exc:
        print(f"error: {_error_text(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputDirError as exc:
        print(f"error: {escape_control(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. output directory not writable, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {escape_control(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

