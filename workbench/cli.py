"""Command line: ``workbench run | validate | compare``.

Bad input prints one clear message naming the file and the field on stderr and
exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from . import __version__
from .scenario import ScenarioError, load_scenario, parse_override_value

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors also exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _overrides(pairs: Sequence[str] | None) -> dict:
    out = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ScenarioError(f"--set {pair!r}: expected key=value (e.g. traffic.rate_per_s=80)")
        key, value = pair.split("=", 1)
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


def cmd_run(args) -> int:
    from .api import run
    from .result import format_summary

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    update, close = _progress_bar(not args.quiet and sys.stderr.isatty(), scenario.name)
    try:
        result = run(scenario, seed=args.seed, progress=update)
    finally:
        close()
    s = result.summary
    print(f"scenario {scenario.name!r}  seed {result.seed}  {s['requests']} requests  {s['users']} users")
    print(f"status: {s['status_counts']}  strategy: {s['strategy'].get('kind')} -> {s['strategy'].get('final_state')}")
    print(format_summary(s))
    if "shadow" in s:
        sh = s["shadow"]
        print(
            f"\nshadow: {sh['mirrored']} mirrored calls; candidate error rate {sh['candidate_error_rate']:.2%}, "
            f"p99 {sh['candidate_latency_p99_ms']:.0f} ms; agreement {sh['agreement']:.1%} "
            f"(|diff| <= {sh['agreement_tolerance']:g}) over {sh['compared']} compared"
        )
    if "srm" in s:
        srm = s["srm"]
        flag = "MISMATCH" if srm["mismatch"] else "ok"
        print(f"\nsample ratio ({srm['unit']}): {srm['counts']} vs {srm['expected_shares']}: p = {srm['p_value']:.4g} {flag}")
    if not result.events.empty:
        shown = result.events[~result.events["kind"].isin(["analysis"])]
        if len(shown):
            print("\nevents:")
            for row in shown.head(30).itertuples(index=False):
                print(f"  {row.time_s:9.1f}s  {row.kind:<16} {row.model:<10} {row.reason}")
            if len(shown) > 30:
                print(f"  ... {len(shown) - 30} more")
    if args.out:
        out = result.to_dir(args.out)
        print(f"\nwrote {out}/ (requests.parquet, events.parquet, summary.json, report.md)")
    return 0


def cmd_compare(args) -> int:
    import pandas as pd

    from .experiments import compare

    scenario = load_scenario(args.scenario, overrides=_overrides(args.set))
    kinds = [k.strip() for k in args.strategies.split(",") if k.strip()]
    if not kinds:
        raise ScenarioError("--strategies: give at least one strategy kind")
    table = compare(scenario, kinds, seed=args.seed)
    columns = [
        "strategy", "candidate_requests", "candidate_users", "bad_requests_legacy",
        "bad_requests_candidate", "time_to_detect_s", "time_to_rollback_s",
        "time_to_full_rollout_s", "time_degraded_s", "final_state", "prediction_mae", "conversion_rate",
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(f"scenario {scenario.name!r}  seed {table['seed'].iloc[0]}  (paired: same traffic for every row)")
        print(table[columns].to_string(index=False))
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".compare.parquet.tmp"
        table.to_parquet(tmp, index=False)
        os.replace(tmp, out / "compare.parquet")
        print(f"\nwrote {out / 'compare.parquet'}")
    return 0


def cmd_validate(args) -> int:
    status = 0
    for path in args.scenarios:
        try:
            load_scenario(path)
        except ScenarioError as exc:
            print(str(exc), file=sys.stderr)
            status = EXIT_BAD_INPUT
        else:
            print(f"{path}: ok")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="Rehearse ML model rollouts on a simulation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate one scenario and print its summary")
    p.add_argument("scenario", help="scenario TOML file")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--out", default=None, help="directory to write the run's tables and report")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field by dotted path")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run several strategies on the same traffic")
    p.add_argument("scenario")
    p.add_argument("--strategies", default="ab,canary,progressive,shadow,blue_green",
                   help="comma-separated kinds (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None, help="directory to write compare.parquet")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("validate", help="check scenario files")
    p.add_argument("scenarios", nargs="+")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. output directory not writable
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

