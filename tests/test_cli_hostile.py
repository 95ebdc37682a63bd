"""Hostile input through every ``workbench`` subcommand.

Every expected error is one short message on stderr that names the file (and the
field, where there is one), exit status 2, no traceback, and no output left behind.
Scenarios that would loop or allocate without bound are refused at validation.

The module has three parts: a property-based test that corrupts one field of a
shipped scenario at a time (Hypothesis, derandomised), a corpus of damaged inputs
per subcommand with their positive twins, and scenarios whose run would never end.
Every call runs under a guard: a wall-clock alarm and an address-space limit, so a
hang or a runaway allocation fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from scenario_builders import DeepTable, Inline, Verbatim, dotted_path, to_toml, walk

from workbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

SHORT_DURATION_S = 20.0
SHORT_RATE_PER_S = 20.0
CALL_TIMEOUT_S = 10.0  # one CLI call; a refused input takes milliseconds
ADDRESS_SPACE_HEADROOM_BYTES = 4 * 2**30  # on top of what the test process maps already
MAX_ERROR_LINES = 5  # "one line, or a small number of lines"
BIG_FILE_BYTES = 10 * 2**20 + 512 * 2**10  # just over 10 MB
UNKNOWN_KEY = "bogus_key_xyz"
NEST_KEY = "nest"
NEST_DEPTH = 1000


# --------------------------------------------------------------------------- guards
class CallTimedOut(BaseException):  # noqa: N818 - a BaseException so no `except Exception` swallows it
    """A CLI call ran longer than its guard allows."""


def _vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def _guard(timeout_s: float = CALL_TIMEOUT_S):
    """Interrupt the block after ``timeout_s`` and cap its address space.

    A runaway allocation raises ``MemoryError`` instead of exhausting the machine.
    """

    def _alarm(signum, frame):
        raise CallTimedOut(f"no answer within {timeout_s:g} s")

    old_handler = signal.signal(signal.SIGALRM, _alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size_bytes() + ADDRESS_SPACE_HEADROOM_BYTES
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _cli(capsys, *argv: str, timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, str, str]:
    """``main(argv)`` in-process under a guard; returns (exit status, stdout, stderr).

    An exception escaping ``main`` is what a user would see as a traceback: the test
    fails naming it.
    """
    capsys.readouterr()
    try:
        with _guard(timeout_s):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    except CallTimedOut as exc:
        out, err = capsys.readouterr()
        pytest.fail(f"workbench {' '.join(argv)[:300]}: hung ({exc}); stderr: {err[-300:]!r}")
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure under test
        out, err = capsys.readouterr()
        pytest.fail(f"workbench {' '.join(argv)[:300]}: traceback, {type(exc).__name__}: {str(exc)[:300]}")
    out, err = capsys.readouterr()
    return int(code), out, err


def _cli_subprocess(*argv: str, timeout_s: float = 30.0, env: dict | None = None) -> tuple[int, str, str]:
    """The CLI in a child process with a 3 GB address-space limit and a wall-clock timeout."""

    def _limit():  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))

    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True,
            timeout=timeout_s, preexec_fn=_limit, env=full_env, cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"workbench {' '.join(argv)}: hung (no answer within {timeout_s:g} s)")
    return proc.returncode, proc.stdout, proc.stderr


def _assert_clean_error(code: int, out: str, err: str, *, must: tuple[str, ...] = (),
                        any_of: tuple[str, ...] = (), what: str = "") -> None:
    """Exit 2, a short message on stderr naming everything in ``must`` (and one of ``any_of``)."""
    context = f"{what}\nexit {code}\nstderr: {err[-1500:]!r}\nstdout: {out[-300:]!r}"
    assert "Traceback" not in out + err, f"traceback printed: {context}"
    assert code == 2, f"expected exit status 2: {context}"
    lines = _message_lines(err)
    assert lines, f"no message on stderr: {context}"
    assert len(lines) <= MAX_ERROR_LINES, f"{len(lines)} lines on stderr: {context}"
    for name in must:
        assert name in err, f"the message does not name {name!r}: {context}"
    if any_of:
        assert any(name in err for name in any_of), f"the message names none of {any_of}: {context}"


def _message_lines(err: str) -> list[str]:
    """Non-empty stderr lines, without argparse's ``usage:`` block (printed before its one-line error)."""
    lines, in_usage = [], False
    for line in err.splitlines():
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        if line.strip():
            lines.append(line)
    return lines


def _tree_digest(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``path`` (directories as '<dir>')."""
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    out = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _strict_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN`` / ``Infinity`` (not JSON)."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


# --------------------------------------------------------------------------- scenarios
def _shrink(raw: dict) -> dict:
    """A shipped scenario cut to ``SHORT_DURATION_S`` at ``SHORT_RATE_PER_S`` (times scaled)."""
    out = copy.deepcopy(raw)
    factor = SHORT_DURATION_S / float(raw["duration_s"])
    out["duration_s"] = SHORT_DURATION_S
    out["warmup_s"] = 0.0
    out.setdefault("traffic", {})["rate_per_s"] = SHORT_RATE_PER_S
    for fault in out.get("faults", []):
        fault["start_s"] = round(float(fault["start_s"]) * factor, 3)
        if "duration_s" in fault:
            fault["duration_s"] = max(round(float(fault["duration_s"]) * factor, 3), 0.5)
    return out


BASES: dict[str, dict] = {
    p.stem: _shrink(tomllib.loads(p.read_text(encoding="utf-8"))) for p in sorted(SCENARIOS.glob("*.toml"))
}
BASE_NAMES = sorted(BASES)


def _get(node: Any, tokens: tuple) -> Any:
    for t in tokens:
        node = node[t]
    return node


def _set(doc: dict, tokens: tuple, value: Any) -> None:
    _get(doc, tokens[:-1])[tokens[-1]] = value


FREE_FORM = ("params",)  # detector parameters: numbers and strings both allowed
# keys whose value must not be negative (times, sizes, counts, rates, probabilities)
NON_NEGATIVE = {
    "users", "replicas", "queue_limit", "error_rate", "candidate_fraction", "mirror_fraction", "noise",
    "sd", "k", "n_items", "seed", "multiplier", "holdout_n", "min_replicas", "max_replicas",
    "criticality", "consecutive", "min_samples", "failure_limit", "drift_consecutive", "tolerance",
    "target_utilisation", "amplitude", "user_skew", "epsilon", "min_legacy_share", "base_conversion",
    "noise_sd", "legacy_noise_sd", "candidate_noise_sd", "scale", "weight", "catalogue_seed",
}
# keys whose value must be greater than zero
POSITIVE = {
    "rate_per_s", "median_ms", "p99_ms", "mean_ms", "timeout_ms", "sync_period_s", "pause_s", "period_s",
    "interval_s", "drift_interval_s", "sample_interval_s", "health_window_s", "budget_p99_ms", "users",
    "replicas", "n_items", "k", "burst_mean_s", "calm_mean_s", "prior_alpha", "prior_beta", "error_scale",
}
# integer fields (a TOML integer elsewhere may be a float field written without a decimal point)
INT_KEYS = {
    "users", "replicas", "queue_limit", "seed", "k", "n_items", "holdout_n", "min_replicas", "max_replicas",
    "min_samples", "failure_limit", "inconclusive_limit", "drift_consecutive", "performance_reference_n",
    "performance_window_n", "drift_reference_n", "drift_window_n", "catalogue_seed", "candidate_replicas",
}
# keys with an upper bound far below 1e308 (or whose product with the duration is capped)
HUGE_REFUSED = {"rate_per_s", "users", "n_items", "k", "holdout_n", "error_rate", "candidate_fraction",
                "amplitude", "criticality", "base_conversion", "mirror_fraction"}


def _time_or_size_key(key: str) -> bool:
    return key.endswith(("_s", "_ms", "_n")) or key in NON_NEGATIVE


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _leaves(raw: dict, pred) -> list[tuple]:
    return [tok for tok, v in walk(raw) if pred(tok, v) and not any(f in tok for f in FREE_FORM)]


def _required(raw: dict, tokens: tuple) -> bool:
    """Whether the schema requires the key at ``tokens`` (so deleting it is an error)."""
    *parent, key = tokens
    parent = tuple(parent)
    node = _get(raw, parent)
    kind = node.get("kind") if isinstance(node, dict) else None
    strategy_kind = raw.get("strategy", {}).get("kind", "single")
    if not parent:
        return key in ("name", "duration_s", "models")
    if parent == ("models",):
        return key == "legacy" or (key == "candidate" and strategy_kind != "single")
    if len(parent) == 3 and parent[0] == "models" and parent[2] == "latency":
        return key in ("median_ms", "p99_ms", "mean_ms", "ms")
    if len(parent) == 2 and parent[0] == "faults":
        return key in ("start_s", "kind") or (
            key == "target" and kind in ("latency_spike", "error_burst", "outage")) or (
            key == "error_rate" and kind == "error_burst") or (key == "feature" and kind == "data_drift")
    if parent == ("strategy",):
        return key == "kind" or (key == "steps" and kind == "progressive")
    if len(parent) == 3 and parent[:2] == ("strategy", "steps"):
        return key == "weight"
    if len(parent) == 3 and parent[:2] in (("strategy", "gates"), ("rollback", "thresholds")):
        return key in ("metric", "threshold")
    if len(parent) == 3 and parent[:2] == ("strategy", "schedule"):
        return key in ("at_s", "weight")
    if parent == ("validation",):
        return key == "checks"
    if len(parent) == 3 and parent[:2] == ("validation", "checks"):
        return key == "kind" or (key == "budget_p99_ms" and kind == "latency") or (
            kind == "performance" and key in ("max_value", "min_value") and len(
                {"max_value", "min_value"} & set(node)) == 1)
    if len(parent) == 2 and parent[0] == "dependencies":
        return key in ("source", "target", "criticality")
    return False


@dataclass
class Damage:
    """One corrupted scenario: the file's text and what its error must name."""

    base: str
    text: str = field(repr=False)
    what: str
    must: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()


def _damage_wrong_type(draw, base: str, raw: dict) -> Damage:
    numbers = _leaves(raw, lambda t, v: _is_number(v))
    strings = _leaves(raw, lambda t, v: isinstance(v, str))
    bools = _leaves(raw, lambda t, v: isinstance(v, bool))
    tables = [t for t, v in walk(raw) if isinstance(v, dict)]
    pools = [("number", numbers), ("string", strings), ("bool", bools), ("table", tables)]
    family, pool = draw(st.sampled_from([p for p in pools if p[1]]))
    tokens = draw(st.sampled_from(pool))
    old = _get(raw, tokens)
    if family == "number":
        choices: list[Any] = [True, False, "20", "abc", "", [1, 2], {"x": 1}]
        if tokens[-1] in INT_KEYS:
            choices.append(2.5)
        new = draw(st.sampled_from(choices))
    elif family == "string":
        new = draw(st.sampled_from([5, 2.5, True, [1], {"x": "y"}]))
    elif family == "bool":
        new = draw(st.sampled_from(["yes", "true", 1, 0.0, [True]]))
    else:
        new = draw(st.sampled_from([[1, 2], "table", 3]))
    if isinstance(new, dict):
        new = Inline(new)
    _set(raw, tokens, new)
    path = dotted_path(tokens)
    return Damage(base, to_toml(raw), f"{path} = {new!r} (was {old!r})", must=(path,))


def _damage_out_of_range(draw, base: str, raw: dict) -> Damage:
    numbers = _leaves(raw, lambda t, v: _is_number(v))
    tokens = draw(st.sampled_from(numbers))
    key = next(t for t in reversed(tokens) if isinstance(t, str))
    choices: list[Any] = [Verbatim("nan"), Verbatim("inf"), Verbatim("-inf")]
    if _time_or_size_key(key) or key == "duration_s":
        choices += [-1, -1e-9, -1e308]
    if key in POSITIVE or tokens == ("duration_s",):
        choices += [0, 0.0]
    if key in HUGE_REFUSED:
        choices += [1e308]
    new = draw(st.sampled_from(choices))
    _set(raw, tokens, new)
    path = dotted_path(tokens)
    any_of: tuple[str, ...] = ()
    must: tuple[str, ...] = (path,)
    if tokens == ("duration_s",) and new == 1e308:
        must, any_of = (), ("duration_s", "traffic.rate_per_s")
    return Damage(base, to_toml(raw), f"{path} = {new!r}", must=must, any_of=any_of)


def _damage_unknown_key(draw, base: str, raw: dict) -> Damage:
    tables = [()] + [t for t, v in walk(raw) if isinstance(v, dict)]
    tokens = draw(st.sampled_from(tables))
    _get(raw, tokens)[UNKNOWN_KEY] = 1
    path = dotted_path((*tokens, UNKNOWN_KEY))
    must = (dotted_path(tokens), UNKNOWN_KEY) if tokens and tokens[-1] in FREE_FORM else (path,)
    return Damage(base, to_toml(raw), f"unknown key {path}", must=must)


def _damage_deleted_key(draw, base: str, raw: dict) -> Damage:
    keys = [t for t, _ in walk(raw) if isinstance(t[-1], str) and _required(raw, t)]
    tokens = draw(st.sampled_from(keys))
    del _get(raw, tokens[:-1])[tokens[-1]]
    path = dotted_path(tokens)
    if tokens[-1] == "kind":  # a variant table without its tag: "strategy: needs a kind field"
        must = (dotted_path(tokens[:-1]), "kind")
    elif tokens[-1] in ("max_value", "min_value"):
        must = (dotted_path(tokens[:-1]),)
    else:
        must = (path,)
    return Damage(base, to_toml(raw), f"deleted {path}", must=must)


def _nest(depth: int, form: str) -> Any:
    """``depth`` levels of tables (as headers or inline) or of arrays under one key."""
    if form == "headers":
        return DeepTable(depth, NEST_KEY)
    if form == "inline":
        return Verbatim(f"{{{NEST_KEY} = " * (depth - 1) + "{x = 1}" + "}" * (depth - 1))
    return Verbatim("[" * depth + "1" + "]" * depth)


def _damage_deep_nest(draw, base: str, raw: dict) -> Damage:
    form = draw(st.sampled_from(["headers", "inline", "arrays"]))
    depth = NEST_DEPTH if form == "headers" else draw(st.sampled_from([NEST_DEPTH, 100 * NEST_DEPTH]))
    # tables reachable by dotted keys (a header [a.b.nest...] can reopen them)
    tables = [()] + [t for t, v in walk(raw) if isinstance(v, dict) and all(isinstance(x, str) for x in t)]
    tokens = draw(st.sampled_from(tables))
    _get(raw, tokens)[NEST_KEY] = _nest(depth, form)
    path = dotted_path((*tokens, NEST_KEY))
    # the message names the path, or says the file nests too deep
    return Damage(base, to_toml(raw), f"{depth} levels of {form} at {path}", any_of=(path, "deep"))


def _damage_huge_file(draw, base: str, raw: dict) -> Damage:
    form = draw(st.sampled_from(["comment", "description"]))
    if form == "description":
        raw["description"] = "x" * BIG_FILE_BYTES
        text = to_toml(raw)
    else:
        line = "# " + "padding " * 12 + "\n"
        text = to_toml(raw) + line * (BIG_FILE_BYTES // len(line) + 1)
    return Damage(base, text, f"{len(text.encode()) / 2**20:.1f} MB file ({form})")


DAMAGES = {
    "wrong_type": _damage_wrong_type,
    "out_of_range": _damage_out_of_range,
    "unknown_key": _damage_unknown_key,
    "deleted_key": _damage_deleted_key,
    "deep_nest": _damage_deep_nest,
    "huge_file": _damage_huge_file,
}
EXAMPLES = {"wrong_type": 120, "out_of_range": 120, "unknown_key": 60, "deleted_key": 60, "deep_nest": 16,
            "huge_file": 4}


@st.composite
def damaged_scenarios(draw, kind: str) -> Damage:
    base = draw(st.sampled_from(BASE_NAMES))
    return DAMAGES[kind](draw, base, copy.deepcopy(BASES[base]))


def _check_damage(capsys, damage: Damage) -> None:
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        path = Path(tmp) / f"{damage.base}-damaged.toml"
        path.write_text(damage.text, encoding="utf-8")
        out_dir = Path(tmp) / "out"
        what = f"{damage.base}: {damage.what}"
        code, out, err = _cli(capsys, "validate", str(path))
        _assert_clean_error(code, out, err, must=(str(path), *damage.must), any_of=damage.any_of,
                            what=f"validate {what}")
        code, out, err = _cli(capsys, "run", str(path), "--out", str(out_dir), "--no-registry", "--quiet")
        _assert_clean_error(code, out, err, must=(str(path), *damage.must), any_of=damage.any_of,
                            what=f"run {what}")
        assert not out_dir.exists(), f"run {what}: left {sorted(os.listdir(out_dir))} in --out"


# --------------------------------------------------------------------------- part 1: properties
def test_every_shrunk_scenario_is_valid(capsys, tmp_path):
    """The starting points of the property test are themselves valid (else a failure proves nothing)."""
    paths = []
    for name in BASE_NAMES:
        path = tmp_path / f"{name}.toml"
        path.write_text(to_toml(BASES[name]), encoding="utf-8")
        paths.append(str(path))
    code, out, err = _cli(capsys, "validate", *paths)
    assert code == 0, err
    assert out.count(": ok") == len(BASE_NAMES) == 21


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_one_damaged_field_is_refused_by_validate_and_run(kind, capsys):
    """Corrupt one field of a shipped scenario; both ``validate`` and ``run`` refuse it cleanly."""

    @settings(max_examples=EXAMPLES[kind], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(damage=damaged_scenarios(kind))
    def check(damage: Damage) -> None:
        _check_damage(capsys, damage)

    check()


@st.composite
def hostile_overrides(draw) -> tuple[str, str, str, tuple[str, ...]]:
    """(base scenario, dotted path, ``--set`` value text, names the error must contain)."""
    base = draw(st.sampled_from(BASE_NAMES))
    raw = BASES[base]
    family = draw(st.sampled_from(["wrong_type", "out_of_range", "unknown_key"]))
    if family == "unknown_key":
        tables = [()] + [t for t, v in walk(raw) if isinstance(v, dict) and not any(f in t for f in FREE_FORM)]
        tokens = (*draw(st.sampled_from(tables)), UNKNOWN_KEY)
        return base, dotted_path(tokens), "1", (dotted_path(tokens),)
    tokens = draw(st.sampled_from(_leaves(raw, lambda t, v: _is_number(v))))
    key = tokens[-1] if isinstance(tokens[-1], str) else str(tokens[-1])
    if family == "wrong_type":
        choices = ["true", "false", '"20"', "[1, 2]", "{x = 1}"] + (["2.5"] if key in INT_KEYS else [])
    else:
        choices = ["nan", "inf", "-inf"]
        if _time_or_size_key(key) or key == "duration_s":
            choices += ["-1", "-1e308"]
        if key in POSITIVE or tokens == ("duration_s",):
            choices += ["0"]
        if key in HUGE_REFUSED:
            choices += ["1e308"]
    return base, dotted_path(tokens), draw(st.sampled_from(choices)), (dotted_path(tokens),)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=hostile_overrides())
def test_one_hostile_set_is_refused_by_run(case, capsys):
    """The same damage given as ``--set PATH=VALUE`` on a valid file: refused naming the path and the file."""
    base, path_text, value, must = case
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        path = Path(tmp) / f"{base}.toml"
        path.write_text(to_toml(BASES[base]), encoding="utf-8")
        out_dir = Path(tmp) / "out"
        code, out, err = _cli(capsys, "run", str(path), "--set", f"{path_text}={value}", "--out", str(out_dir),
                              "--no-registry", "--quiet")
        _assert_clean_error(code, out, err, must=(str(path), *must), what=f"{base}: --set {path_text}={value}")
        assert not out_dir.exists()


# --------------------------------------------------------------------------- part 2: corpus
def _write_scenario(path: Path, base: str = "baseline", **overrides: Any) -> Path:
    """A shrunk shipped scenario with top-level or dotted overrides, written as TOML."""
    raw = copy.deepcopy(BASES[base])
    for dotted, value in overrides.items():
        tokens = tuple(dotted.split("__"))
        node = raw
        for t in tokens[:-1]:
            node = node.setdefault(t, {})
        node[tokens[-1]] = value
    path.write_text(to_toml(raw), encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path) -> Path:
    return _write_scenario(tmp_path / "small.toml")


def _no_leftovers(parent: Path, name: str) -> None:
    """No hidden half-written sibling of ``parent / name`` (``.name.tmp-...``) is left behind."""
    stray = [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]
    assert not stray, f"half-written output left behind: {stray}"


def _bad_file(kind: str, tmp_path: Path) -> Path:
    """A scenario path that is damaged in the way ``kind`` names."""
    path = tmp_path / f"{kind}.toml"
    good = to_toml(BASES["baseline"])
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random_bytes":
        path.write_bytes(np.random.default_rng(7).bytes(4096))
    elif kind == "latin1":
        path.write_bytes(good.replace('name = "baseline"', 'name = "caf\xe9"').encode("latin-1", "replace"))
    elif kind == "utf16":
        path.write_bytes(good.encode("utf-16"))
    elif kind == "nul_byte":
        path.write_bytes(good.encode() + b"\x00\n")
    elif kind == "duplicate_key":
        path.write_text(good + "duration_s = 30\n", encoding="utf-8")
    elif kind == "models_is_a_list":
        raw = copy.deepcopy(BASES["baseline"])
        raw["models"] = [1, 2]
        path.write_text(to_toml(raw), encoding="utf-8")
    elif kind == "symlink_loop":
        path.symlink_to(path)
    else:  # pragma: no cover
        raise ValueError(kind)
    return path


BAD_FILES = ["missing", "directory", "empty", "random_bytes", "latin1", "utf16", "nul_byte", "duplicate_key",
             "models_is_a_list", "symlink_loop"]


SCENARIO_COMMANDS = {
    "validate": [],
    "run": ["--out", "{out}", "--no-registry", "--quiet"],
    "compare": ["--strategies", "ab", "--out", "{out}", "--no-registry"],
    "sweep": ["--seeds", "2", "--workers", "1", "--out", "{out}", "--no-registry", "--quiet"],
    "capacity": [],
}


@pytest.mark.parametrize("command", list(SCENARIO_COMMANDS))
@pytest.mark.parametrize("kind", BAD_FILES)
def test_damaged_scenario_file(command, kind, capsys, tmp_path):
    path = _bad_file(kind, tmp_path)
    out_dir = tmp_path / "out"
    argv = [command, str(path), *(a.format(out=out_dir) for a in SCENARIO_COMMANDS[command])]
    code, out, err = _cli(capsys, *argv, timeout_s=3.0)  # a refused file takes milliseconds
    _assert_clean_error(code, out, err, must=(str(path),), what=f"{command} {kind}")
    assert not out_dir.exists()
    _no_leftovers(tmp_path, "out")


def test_validate_reads_a_scenario_from_a_pipe(capsys, tmp_path):
    """A named pipe with a writer (as ``<(...)`` gives) is read like a file."""
    import threading

    pipe = tmp_path / "scenario.pipe"
    os.mkfifo(pipe)
    text = to_toml(BASES["baseline"]).encode()

    def write() -> None:
        with open(pipe, "wb") as fh:  # blocks until the CLI opens the pipe for reading
            fh.write(text)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    code, out, err = _cli(capsys, "validate", str(pipe), timeout_s=5.0)
    writer.join(timeout=5.0)
    assert code == 0, err
    assert out.strip() == f"{pipe}: ok"


def test_validate_a_device_that_never_ends(capsys):
    """``/dev/zero`` is endless: reading it to the end would fill memory."""
    code, out, err = _cli(capsys, "validate", "/dev/zero")
    _assert_clean_error(code, out, err, must=("/dev/zero",))


def test_validate_reports_every_file_and_fails_if_one_is_bad(capsys, tmp_path, small):
    bad = _bad_file("random_bytes", tmp_path)
    code, out, err = _cli(capsys, "validate", str(small), str(bad))
    _assert_clean_error(code, out, err, must=(str(bad),))
    assert out.strip() == f"{small}: ok"


@pytest.mark.parametrize(("setting", "names"), [
    ("traffic.rate_per_s", ("traffic.rate_per_s",)),
    ("=5", ("--set",)),
    ("traffic..rate_per_s=5", ("traffic..rate_per_s",)),
    ("faults[99].start_s=1", ("faults[99]",)),
    ("traffic.rate_per_s=nan", ("traffic.rate_per_s",)),
    ("traffic.rate_per_s=inf", ("traffic.rate_per_s",)),
    ("traffic.rate_per_s=true", ("traffic.rate_per_s",)),
    ("traffic.rate_per_s=\"20\"", ("traffic.rate_per_s",)),
    ("duration_s=1e308", ("duration_s",)),
    ("traffic=[1, 2]", ("traffic",)),
    ("models.legacy.latency.dist=bogus", ("models.legacy.latency.dist",)),
    ("nope.key=1", ("nope",)),
])
def test_run_with_a_hostile_set(setting, names, capsys, tmp_path, small):
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", str(small), "--set", setting, "--out", str(out_dir), "--no-registry",
                          "--quiet")
    _assert_clean_error(code, out, err, must=names, what=f"--set {setting}")
    assert not out_dir.exists()


@pytest.mark.parametrize("seed", ["-1", "abc", "1e3", "1.5", ""])
def test_run_with_a_bad_seed(seed, capsys, small):
    code, out, err = _cli(capsys, "run", str(small), "--seed", seed, "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=("--seed",))


class _SimulationSpy:
    """Counts calls of :func:`workbench.api.run` (the simulation) and passes them on."""

    def __init__(self, monkeypatch):
        import workbench.api

        self.calls = 0
        real = workbench.api.run

        def spy(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(workbench.api, "run", spy)


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create entries in (a kernel file system when running as root)."""
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").mkdir()
    except OSError:
        return ro
    (ro / "probe").rmdir()  # permission bits do not bind root: use a file system that refuses entries
    return Path("/sys")


def test_run_out_under_a_read_only_directory_is_refused_before_simulating(capsys, monkeypatch, tmp_path, small):
    spy = _SimulationSpy(monkeypatch)
    out_dir = _unwritable_dir(tmp_path) / "run-out"
    code, out, err = _cli(capsys, "run", str(small), "--out", str(out_dir), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(str(out_dir),))
    assert spy.calls == 0, "the simulation ran before the output directory was checked"
    assert not out_dir.exists()


def test_run_out_is_an_existing_file(capsys, monkeypatch, tmp_path, small):
    spy = _SimulationSpy(monkeypatch)
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    code, out, err = _cli(capsys, "run", str(small), "--out", str(target), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(str(target),))
    assert target.read_text() == "my notes\n"
    assert spy.calls == 0
    _no_leftovers(tmp_path, "notes.txt")


def test_run_out_below_a_file(capsys, tmp_path, small):
    parent = tmp_path / "notes.txt"
    parent.write_text("my notes\n")
    code, out, err = _cli(capsys, "run", str(small), "--out", str(parent / "run"), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(str(parent),))
    assert parent.read_text() == "my notes\n"


def _foreign_dir(tmp_path: Path) -> Path:
    foreign = tmp_path / "thesis"
    (foreign / "chapters").mkdir(parents=True)
    (foreign / "chapters" / "one.tex").write_text("\\chapter{One}\n")
    (foreign / "summary.json").write_text('{"mine": true}\n')
    return foreign


@pytest.mark.parametrize("command", ["run", "compare"])
def test_out_a_foreign_non_empty_directory_is_refused(command, capsys, monkeypatch, tmp_path):
    small = _write_scenario(tmp_path / "ab.toml", "ab_test")
    spy = _SimulationSpy(monkeypatch)
    foreign = _foreign_dir(tmp_path)
    before = _tree_digest(foreign)
    extra = ["--quiet"] if command == "run" else ["--strategies", "ab"]
    code, out, err = _cli(capsys, command, str(small), "--out", str(foreign), "--no-registry", *extra)
    _assert_clean_error(code, out, err, must=(str(foreign),), any_of=("--force",))
    assert _tree_digest(foreign) == before
    assert spy.calls == 0
    _no_leftovers(tmp_path, "thesis")


def test_run_out_a_symlink_to_a_foreign_directory_is_refused(capsys, tmp_path, small):
    foreign = _foreign_dir(tmp_path)
    before = _tree_digest(foreign)
    link = tmp_path / "link"
    link.symlink_to(foreign, target_is_directory=True)
    code, out, err = _cli(capsys, "run", str(small), "--out", str(link), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, any_of=(str(link), str(foreign)))
    assert _tree_digest(foreign) == before
    assert link.is_symlink()


def test_run_out_the_current_directory_is_refused(capsys, monkeypatch, tmp_path, small):
    """``--out .`` in a directory of other files (here: the scenario itself) replaces nothing."""
    monkeypatch.chdir(tmp_path)
    before = _tree_digest(tmp_path)
    code, out, err = _cli(capsys, "run", str(small), "--out", ".", "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, any_of=(str(tmp_path), str(tmp_path.resolve()), "--out ."))
    assert _tree_digest(tmp_path) == before


def test_run_out_a_foreign_directory_with_force_replaces_it(capsys, tmp_path, small):
    foreign = _foreign_dir(tmp_path)
    code, out, err = _cli(capsys, "run", str(small), "--out", str(foreign), "--force", "--no-registry", "--quiet")
    assert code == 0, err
    summary = _strict_json((foreign / "summary.json").read_text())
    assert summary["requests"] > 0


def test_run_out_twice_replaces_the_first_run_completely(capsys, tmp_path):
    """The second run leaves exactly the files a fresh run writes, none of the first's."""
    first = _write_scenario(tmp_path / "first.toml", "latency_spike_rollback")  # writes monitor tables too
    second = _write_scenario(tmp_path / "second.toml", "baseline")
    out_dir, fresh = tmp_path / "out", tmp_path / "fresh"
    assert _cli(capsys, "run", str(first), "--out", str(out_dir), "--no-registry", "--quiet")[0] == 0
    files_first = set(_tree_digest(out_dir))
    code, out, err = _cli(capsys, "run", str(second), "--out", str(out_dir), "--no-registry", "--quiet")
    assert code == 0, err
    assert _cli(capsys, "run", str(second), "--out", str(fresh), "--no-registry", "--quiet")[0] == 0
    assert files_first != set(_tree_digest(fresh)), "the two scenarios must write different file sets"
    assert set(_tree_digest(out_dir)) == set(_tree_digest(fresh))
    assert _strict_json((out_dir / "summary.json").read_text()) == _strict_json((fresh / "summary.json").read_text())
    _no_leftovers(tmp_path, "out")


def test_summary_is_strict_json_when_a_model_gets_no_traffic(capsys, tmp_path):
    """An A/B test sending nothing to the candidate: its percentiles are undefined (NaN), the files stay JSON."""
    path = _write_scenario(tmp_path / "idle.toml", "ab_test", strategy__candidate_fraction=0.0)
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", str(path), "--out", str(out_dir), "--no-registry", "--quiet")
    assert code == 0, err
    summary = _strict_json((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["models"]["candidate"]["requests"] == 0
    assert summary["models"]["candidate"]["latency_p95_ms"] is None
    _strict_json((out_dir / "scenario.json").read_text(encoding="utf-8"))
    for line in (out_dir / "log.jsonl").read_text(encoding="utf-8").splitlines():
        _strict_json(line)


def test_control_characters_in_a_scenario_name_are_not_printed_raw(capsys, tmp_path):
    """A name with a terminal escape sequence runs, and the escape never reaches the terminal."""
    path = _write_scenario(tmp_path / "ansi.toml", "baseline", name="evil\x1b[2J\x1b]0;owned\x07name")
    code, out, err = _cli(capsys, "run", str(path), "--no-registry", "--quiet")
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out + err


HOSTILE_TEXT = "evil\x1b[2J\x1b]0;owned\x07\u202ename"  # clears the screen, sets the title, flips the text


@pytest.mark.parametrize("command", ["validate", "run"])
def test_control_characters_in_an_unknown_key_are_escaped(command, capsys, tmp_path):
    path = tmp_path / "escape.toml"
    path.write_text(f"{json.dumps(HOSTILE_TEXT)} = 1\n" + to_toml(BASES["baseline"]), encoding="utf-8")
    argv = [command, str(path)] + (["--no-registry", "--quiet"] if command == "run" else [])
    code, out, err = _cli(capsys, *argv)
    _assert_clean_error(code, out, err, must=(str(path), "evil"))
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in out + err, f"{command}: raw {raw!r} printed: {err!r}"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_control_characters_in_a_file_name_are_escaped(command, capsys, tmp_path):
    """A missing file whose name holds a newline and an escape sequence: still one line, nothing raw."""
    path = tmp_path / f"two\nlines{HOSTILE_TEXT}.toml"
    argv = [command, str(path)] + (["--no-registry", "--quiet"] if command == "run" else [])
    code, out, err = _cli(capsys, *argv)
    assert len(_message_lines(err)) == 1, err
    _assert_clean_error(code, out, err, must=("lines",))
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in out + err, f"{command}: raw {raw!r} printed: {err!r}"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_control_characters_in_the_name_of_a_good_file_are_escaped(command, capsys, tmp_path):
    path = _write_scenario(tmp_path / f"two\nlines{HOSTILE_TEXT}.toml")
    out_dir = tmp_path / f"out\n{HOSTILE_TEXT}"
    argv = [command, str(path)] + (["--out", str(out_dir), "--no-registry", "--quiet"] if command == "run" else [])
    code, out, err = _cli(capsys, *argv)
    assert code == 0, err
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in out + err, f"{command}: raw {raw!r} printed: {out[-300:]!r}"
    if command == "validate":
        assert len(out.splitlines()) == 1, out


MANY_ERRORS = 5000
MANY_ERRORS_MAX_LINES = 25


@pytest.mark.parametrize("command", ["validate", "run"])
def test_thousands_of_errors_are_summarised(command, capsys, tmp_path):
    """A file with 5000 bad keys: the count and the first few, not 5000 lines."""
    path = tmp_path / "many.toml"
    features = "".join(f"f{i} = {{bogus{i} = 1}}\n" for i in range(MANY_ERRORS))
    path.write_text(to_toml(BASES["baseline"]) + "[traffic.features]\n" + features, encoding="utf-8")
    argv = [command, str(path)] + (["--no-registry", "--quiet"] if command == "run" else [])
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and "Traceback" not in err, err[-500:]
    assert str(MANY_ERRORS) in err, err[:500]
    lines = _message_lines(err)
    assert len(lines) <= MANY_ERRORS_MAX_LINES, f"{len(lines)} lines on stderr; first: {lines[:3]}"


# ---- run registry
def _registry(kind: str, tmp_path: Path) -> Path:
    """A registry path damaged in the way ``kind`` names."""
    path = tmp_path / f"registry-{kind}.sqlite"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(11).bytes(8192))
    elif kind == "directory":  # --registry DIR means DIR/registry.sqlite3: here that is a directory too
        (path / "registry.sqlite3").mkdir(parents=True)
    elif kind == "foreign_schema":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, colour TEXT)")
            conn.execute("INSERT INTO runs (colour) VALUES ('blue')")
            conn.commit()
    elif kind == "truncated":
        from workbench.registry import RunRegistry

        with RunRegistry(path) as reg:
            for i in range(40):
                reg.record_run("run", f"s{i}", "ab12", i, "0", {"x": "y" * 200}, None)
        for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            sidecar.unlink(missing_ok=True)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "below_a_file":
        (tmp_path / "notes.txt").write_text("my notes\n")
        path = tmp_path / "notes.txt" / "registry.sqlite3"
    elif kind == "device":
        path = Path("/dev/null")
    elif kind == "newer_schema":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA user_version = 999")
            conn.commit()
    else:  # pragma: no cover
        raise ValueError(kind)
    return path


REGISTRIES = ["random_bytes", "directory", "foreign_schema", "truncated", "newer_schema", "below_a_file", "device"]


@pytest.mark.parametrize("show", [False, True])
@pytest.mark.parametrize("kind", REGISTRIES)
def test_runs_with_a_damaged_registry(kind, show, capsys, tmp_path):
    path = _registry(kind, tmp_path)
    before = _tree_digest(path) if path.exists() else {}
    argv = ["runs", "show", "abc"] if show else ["runs"]
    code, out, err = _cli(capsys, *argv, "--registry", str(path))
    _assert_clean_error(code, out, err, must=(str(path),), what=f"runs, registry {kind}")
    assert (_tree_digest(path) if path.exists() else {}) == before, "a damaged or foreign registry was modified"


def test_runs_show_an_unknown_id(capsys, tmp_path):
    code, out, err = _cli(capsys, "runs", "show", "nonexistent", "--registry", str(tmp_path / "r.sqlite"))
    _assert_clean_error(code, out, err, must=("nonexistent",))


@pytest.mark.parametrize("run_id", ["%", "_", "*", "'", "' OR 1=1 --", "a%"])
def test_runs_show_takes_an_id_literally(run_id, capsys, tmp_path):
    """SQL wildcards and quotes in an id match nothing (the registry holds one run)."""
    from workbench.registry import RunRegistry

    path = tmp_path / "r.sqlite"
    with RunRegistry(path) as reg:
        reg.record_run("run", "s", "ab12", 0, "0", {}, None)
    code, out, err = _cli(capsys, "runs", "show", run_id, "--registry", str(path))
    _assert_clean_error(code, out, err, must=(run_id,))


@pytest.mark.parametrize("limit", ["99999999999999999999999", str(2**63)])
def test_runs_with_a_limit_beyond_sqlite_integers(limit, capsys, tmp_path):
    code, out, err = _cli(capsys, "runs", "--limit", limit, "--registry", str(tmp_path / "r.sqlite"))
    _assert_clean_error(code, out, err, must=("--limit",))


def test_runs_show_an_ambiguous_prefix_or_nothing(capsys, tmp_path):
    from workbench.registry import RunRegistry

    path = tmp_path / "r.sqlite"
    with RunRegistry(path) as reg:
        ids = [reg.record_run("run", f"s{i}", "ab12", i, "0", {}, None) for i in range(40)]
    firsts = [i[0] for i in ids]
    shared = max(set(firsts), key=firsts.count)
    assert firsts.count(shared) >= 2  # 40 ids over 16 hex digits
    code, out, err = _cli(capsys, "runs", "show", shared, "--registry", str(path))
    _assert_clean_error(code, out, err, must=(shared,), what=f"runs show {shared}")
    for argv in (["runs", "show", ""], ["runs", "show"], ["runs", "--limit", "0"]):
        code, out, err = _cli(capsys, *argv, "--registry", str(path))
        _assert_clean_error(code, out, err, what=" ".join(argv))


@pytest.mark.parametrize("kind", REGISTRIES)
def test_a_damaged_registry_does_not_stop_a_run(kind, capsys, tmp_path, small):
    path = _registry(kind, tmp_path)
    before = _tree_digest(path) if path.exists() else {}
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", str(small), "--out", str(out_dir), "--registry", str(path), "--quiet")
    assert "Traceback" not in out + err
    assert code == 0, err
    assert _strict_json((out_dir / "summary.json").read_text())["requests"] > 0
    assert "not recorded" in err, err
    assert (_tree_digest(path) if path.exists() else {}) == before, "a damaged or foreign registry was modified"


# ---- compare and capacity
@pytest.mark.parametrize(("strategies", "names"), [
    ("bogus", ("bogus",)),
    ("ab,bogus", ("bogus",)),
    (",,,", ("strategies",)),
    ("ab\x1b[2J", ("strategies",)),
])
def test_compare_with_bad_strategies(strategies, names, capsys, tmp_path):
    path = _write_scenario(tmp_path / "ab.toml", "ab_test")
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "compare", str(path), "--strategies", strategies, "--out", str(out_dir),
                          "--no-registry")
    _assert_clean_error(code, out, err, must=names)
    assert "\x1b" not in err
    assert not out_dir.exists()


def test_compare_with_a_strategy_listed_thousands_of_times(capsys, tmp_path):
    """``ab`` 3000 times: refused as a repeat, or compared once; never 3000 simulations."""
    path = _write_scenario(tmp_path / "ab.toml", "ab_test")
    code, out, err = _cli(capsys, "compare", str(path), "--strategies", ",".join(["ab"] * 3000), "--no-registry",
                          timeout_s=6.0)
    if code == 2:
        _assert_clean_error(code, out, err, must=("ab",))
        return
    assert code == 0, err
    rows = [ln for ln in out.splitlines() if ln.strip().startswith("ab ")]
    assert len(rows) == 1, f"{len(rows)} rows for one strategy"


def test_compare_out_an_existing_file(capsys, tmp_path):
    path = _write_scenario(tmp_path / "ab.toml", "ab_test")
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    code, out, err = _cli(capsys, "compare", str(path), "--strategies", "ab", "--out", str(target),
                          "--no-registry")
    _assert_clean_error(code, out, err, must=(str(target),))
    assert target.read_text() == "my notes\n"


@pytest.mark.parametrize("model", ["bogus", "", "legacy\x1b[2J"])
def test_capacity_with_an_unknown_model(model, capsys, tmp_path):
    path = _write_scenario(tmp_path / "auto.toml", "autoscaling_diurnal")
    code, out, err = _cli(capsys, "capacity", str(path), "--model", model)
    _assert_clean_error(code, out, err, must=("--model",))
    assert "\x1b" not in err


# ---- sweep
SWEEP_FAST = ("--seeds", "2", "--workers", "1", "--no-registry", "--quiet")


@pytest.mark.parametrize(("vary", "names"), [
    ("x", ("--vary",)),
    ("faults[0].error_rate=", ("faults[0].error_rate",)),
    ("faults[0].error_rate=,,", ("faults[0].error_rate",)),
    ("nope.key=1", ("nope",)),
    ("faults[7].error_rate=0.1", ("faults[7]",)),
    ("faults[0].error_rate=0.1,abc", ("faults[0].error_rate",)),
    ("faults[0].error_rate=nan", ("faults[0].error_rate",)),
    ("traffic.rate_per_s=1e308", ("traffic.rate_per_s",)),
    ("warmup_s=0,30", ("warmup_s",)),  # the second grid point is invalid (duration_s is 20)
])
def test_sweep_with_a_bad_vary(vary, names, capsys, tmp_path):
    path = _write_scenario(tmp_path / "burst.toml", "error_burst")
    out_dir = tmp_path / "sweep"
    code, out, err = _cli(capsys, "sweep", str(path), "--vary", vary, "--out", str(out_dir), *SWEEP_FAST)
    _assert_clean_error(code, out, err, must=names, what=f"--vary {vary}")
    assert not out_dir.exists()


def test_sweep_grid_point_invalid_only_in_combination(capsys, tmp_path):
    """duration_s=20 with warmup_s=30 is invalid though each value is valid alone: refused before any run."""
    path = _write_scenario(tmp_path / "burst.toml", "error_burst")
    out_dir = tmp_path / "sweep"
    code, out, err = _cli(capsys, "sweep", str(path), "--vary", "duration_s=20,40", "--vary", "warmup_s=0,30",
                          "--out", str(out_dir), *SWEEP_FAST)
    _assert_clean_error(code, out, err, must=("warmup_s",))
    assert not out_dir.exists()


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--seeds", "-3"], ["--seeds", "abc"], ["--workers", "0"]])
def test_sweep_with_bad_counts(argv, capsys, small):
    code, out, err = _cli(capsys, "sweep", str(small), *argv, "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(argv[0],))


def test_sweep_with_a_scheduler_of_another_scheme(capsys, tmp_path, small):
    out_dir = tmp_path / "sweep"
    code, out, err = _cli(capsys, "sweep", str(small), "--scheduler", "bogus://x", "--out", str(out_dir),
                          "--seeds", "2", "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=("scheduler", "bogus://x"))
    assert not out_dir.exists()


def test_sweep_with_an_unreachable_scheduler(tmp_path, small):
    """Nothing listens on port 1: a clear error, not a hang (connect timeout shortened for the test)."""
    out_dir = tmp_path / "sweep"
    code, out, err = _cli_subprocess(
        "sweep", str(small), "--scheduler", "tcp://127.0.0.1:1", "--out", str(out_dir), "--seeds", "2",
        "--no-registry", "--quiet", timeout_s=45, env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    _assert_clean_error(code, out, err, must=("tcp://127.0.0.1:1",))
    assert not out_dir.exists() or not any(out_dir.rglob("*.parquet"))


def test_sweep_with_ten_billion_seeds_is_refused_at_once(tmp_path, small):
    """``--seeds 10000000000`` would list ten billion tasks; refused before anything is allocated."""
    code, out, err = _cli_subprocess("sweep", str(small), "--seeds", "10000000000", "--no-registry", "--quiet",
                                     timeout_s=40)
    _assert_clean_error(code, out, err, must=("seeds",))


def test_run_out_a_sweep_directory_is_refused(capsys, tmp_path, small):
    """A sweep's results (hours of work) are not a run: ``run --out`` refuses to replace them."""
    sweep_dir = tmp_path / "sweep"
    code, out, err = _cli(capsys, "sweep", str(small), "--out", str(sweep_dir), *SWEEP_FAST)
    assert code == 0, err
    before = _tree_digest(sweep_dir)
    code, out, err = _cli(capsys, "run", str(small), "--out", str(sweep_dir), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(str(sweep_dir),))
    assert _tree_digest(sweep_dir) == before


@pytest.mark.parametrize("kind", ["foreign", "run"])
def test_sweep_out_a_directory_that_holds_no_sweep_is_refused(kind, capsys, tmp_path, small):
    if kind == "foreign":
        target = _foreign_dir(tmp_path)
    else:
        target = tmp_path / "run"
        assert _cli(capsys, "run", str(small), "--out", str(target), "--no-registry", "--quiet")[0] == 0
    before = _tree_digest(target)
    code, out, err = _cli(capsys, "sweep", str(small), "--out", str(target), *SWEEP_FAST)
    _assert_clean_error(code, out, err, any_of=(str(target), target.name))
    assert _tree_digest(target) == before


def test_sweep_grid_of_a_hundred_million_runs_is_refused_at_once(capsys, tmp_path, small):
    """1000 x 1000 grid points x 100 seeds: refused before any task is listed."""
    rates = ",".join(f"{10 + i / 100:g}" for i in range(1000))
    seeds = ",".join(str(i) for i in range(1000))
    code, out, err = _cli(capsys, "sweep", str(small), "--vary", f"traffic.rate_per_s={rates}",
                          "--vary", f"seed={seeds}", "--seeds", "100", "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, any_of=("runs", "grid", "seeds"))


def test_sweep_out_an_existing_file(capsys, tmp_path, small):
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    code, out, err = _cli(capsys, "sweep", str(small), "--out", str(target), *SWEEP_FAST)
    _assert_clean_error(code, out, err, must=(str(target),))
    assert target.read_text() == "my notes\n"


@pytest.mark.parametrize("manifest", ["random_bytes", "[]", '{"schema": 999}', "null", '"text"', ""])
def test_sweep_out_with_a_damaged_manifest(manifest, capsys, tmp_path, small):
    out_dir = tmp_path / "sweep"
    out_dir.mkdir()
    data = np.random.default_rng(3).bytes(512) if manifest == "random_bytes" else manifest.encode()
    (out_dir / "sweep.json").write_bytes(data)
    before = _tree_digest(out_dir)
    code, out, err = _cli(capsys, "sweep", str(small), "--out", str(out_dir), *SWEEP_FAST)
    _assert_clean_error(code, out, err, must=(str(out_dir),), what=f"sweep.json = {manifest}")
    assert _tree_digest(out_dir) == before, "the damaged sweep directory was modified"


# ---- logs
GOOD_LOG_LINES = 200


def _log_line(time_s: Any, i: int = 0) -> str:
    rec = {"time_s": time_s, "level": "INFO", "model": "legacy",
           "message": f"Served request req-{i} for user u-{i % 7} in 41.5 ms", "latency_ms": 41.5, "status": "ok"}
    return json.dumps(rec)


def _good_log_text() -> str:
    return "".join(_log_line(float(i), i) + "\n" for i in range(GOOD_LOG_LINES))


DAMAGED_LINES: dict[str, bytes] = {
    "non_utf8": b'{"time_s": 1.0, "level": "INFO", "message": "caf\xe9 \xff\xfe"}',
    "not_json": b"Served request 17 ### not json",
    "time_nan": _log_line(float("nan")).encode(),  # json.dumps writes NaN
    "time_text": _log_line("abc").encode(),
    "time_missing": json.dumps({"level": "INFO", "message": "no time"}).encode(),
    "json_array": b"[1, 2, 3]",
    "deeply_nested_json": b'{"time_s": 1.0, "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "time_1e300": _log_line(1e300).encode(),
    "time_negative_1e300": _log_line(-1e300).encode(),
}


@pytest.mark.parametrize("damage", [d for d in DAMAGED_LINES if "1e300" not in d])
def test_logs_with_only_a_damaged_line(damage, capsys, tmp_path):
    """A log holding nothing readable (or nothing sensible) is an error naming the file."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(DAMAGED_LINES[damage] + b"\n")
    code, out, err = _cli(capsys, "logs", str(path))
    _assert_clean_error(code, out, err, must=(str(path),), what=f"log of one {damage} line")


@pytest.mark.parametrize("damage", list(DAMAGED_LINES))
def test_logs_with_a_damaged_line_among_good_ones(damage, capsys, tmp_path):
    """A damaged line among good ones is skipped and counted (the analysis of the rest goes on).

    A time far outside the others cannot be binned into windows: the line is skipped, or
    the log refused with a one-line error.
    """
    path = tmp_path / "log.jsonl"
    good = _good_log_text().encode()
    half = good.index(b"\n", len(good) // 2) + 1
    path.write_bytes(good[:half] + DAMAGED_LINES[damage] + b"\n" + good[half:])
    code, out, err = _cli(capsys, "logs", str(path))
    assert "Traceback" not in out + err
    if damage.startswith(("time_1e300", "time_negative_1e300")) and code == 2:
        _assert_clean_error(code, out, err, must=(str(path),))
        return
    assert code == 0, f"{damage}: exit {code}: {err}"
    assert "skipped 1 malformed line" in err or "1 malformed" in out, (out[-500:], err)
    assert f"{GOOD_LOG_LINES} " in out or str(GOOD_LOG_LINES) in out, out[-500:]


@pytest.mark.parametrize(("argv", "names"), [
    (["--window-s", "0"], ("--window-s",)),
    (["--window-s", "-5"], ("--window-s",)),
    (["--window-s", "nan"], ("--window-s",)),
    (["--window-s", "inf"], ("--window-s",)),
    (["--window-s", "abc"], ("--window-s",)),
    (["--window-s", "1e-9"], ("--window-s",)),
    (["--window-s", "1e-300"], ("--window-s",)),
    (["--retention-s", "-1"], ("--retention-s",)),
    (["--retention-s", "nan"], ("--retention-s",)),
])
def test_logs_with_bad_windows(argv, names, capsys, tmp_path):
    """``--window-s 1e-9`` over a day of log would be 8.6e13 windows."""
    path = tmp_path / "log.jsonl"
    path.write_text(_good_log_text() + _log_line(86_400.0, 999) + "\n", encoding="utf-8")
    code, out, err = _cli(capsys, "logs", str(path), *argv)
    _assert_clean_error(code, out, err, must=names, what=" ".join(argv))


@pytest.mark.parametrize("kind", ["missing", "directory_without_log", "random_bytes", "empty", "link_to_dev_zero"])
def test_logs_with_a_damaged_path(kind, capsys, tmp_path):
    path = tmp_path / "log.jsonl"
    if kind == "directory_without_log":
        path = tmp_path / "run-dir"
        path.mkdir()
    elif kind == "random_bytes":
        path.write_bytes(np.random.default_rng(5).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "link_to_dev_zero":  # endless
        path.symlink_to("/dev/zero")
    code, out, err = _cli(capsys, "logs", str(path), timeout_s=3.0)
    if kind == "empty" and code == 0:  # an empty log is a log of nothing: no numbers made up
        assert "nan" not in out.lower(), out
        return
    _assert_clean_error(code, out, err, must=(str(tmp_path),), what=f"logs {kind}")


# --------------------------------------------------------------------------- part 3: endless runs
# (base scenario, overrides as dotted keys with "__", fields the error may name)
ENDLESS = {
    "huge_horizon_tiny_rate": ("baseline", {"duration_s": 1e12, "traffic__rate_per_s": 1e-6},
                               ("duration_s",)),
    "monitor_every_microsecond": ("latency_spike_rollback", {"duration_s": 1000.0, "monitoring__interval_s": 1e-6},
                                  ("monitoring.interval_s",)),
    "drift_check_every_microsecond": ("gradual_data_drift",
                                      {"duration_s": 1000.0, "monitoring__drift_interval_s": 1e-6},
                                      ("monitoring.drift_interval_s",)),
    "analysis_every_microsecond": ("progressive_good_candidate", {"duration_s": 1000.0, "strategy__interval_s": 1e-6},
                                   ("strategy.interval_s",)),
    "blue_green_analysis_every_microsecond": ("blue_green_switch",
                                              {"duration_s": 1000.0, "strategy__interval_s": 1e-6},
                                              ("strategy.interval_s",)),
    "autoscaler_sync_every_microsecond": ("autoscaling_diurnal", {"duration_s": 1000.0}, ("sync_period_s",)),
    "fleet_sample_every_microsecond": ("baseline", {"duration_s": 1000.0, "resources__sample_interval_s": 1e-6},
                                       ("resources.sample_interval_s",)),
    "bursts_every_microsecond": ("baseline", {"duration_s": 1000.0, "traffic__pattern": "bursty",
                                              "traffic__burst_mean_s": 1e-6, "traffic__calm_mean_s": 1e-6},
                                 ("traffic.burst_mean_s", "traffic.calm_mean_s")),
    "catalogue_of_a_billion_items": ("interleaving_recommenders", {"strategy__n_items": 1_000_000_000},
                                     ("strategy.n_items",)),
    "holdout_of_a_billion_rows": ("validation_gate", {"validation__holdout_n": 1_000_000_000},
                                  ("validation.holdout_n",)),
    "ten_million_users_interleaved": ("interleaving_recommenders", {"traffic__users": 10_000_000},
                                      ("traffic.users",)),
}


def _endless_file(tmp_path: Path, case: str) -> tuple[Path, tuple[str, ...]]:
    base, overrides, names = ENDLESS[case]
    raw = copy.deepcopy(BASES[base])
    for dotted, value in overrides.items():
        tokens = dotted.split("__")
        node = raw
        for t in tokens[:-1]:
            node = node.setdefault(t, {})
        node[tokens[-1]] = value
    if case == "autoscaler_sync_every_microsecond":
        raw["models"]["legacy"]["autoscaling"]["sync_period_s"] = 1e-6
    path = tmp_path / f"{case}.toml"
    path.write_text(to_toml(raw), encoding="utf-8")
    return path, names


@pytest.mark.parametrize("case", list(ENDLESS))
def test_endless_scenarios_are_refused_at_validation(case, capsys, tmp_path):
    path, names = _endless_file(tmp_path, case)
    code, out, err = _cli(capsys, "validate", str(path))
    _assert_clean_error(code, out, err, must=(str(path),), any_of=names, what=f"validate {case}")
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", str(path), "--out", str(out_dir), "--no-registry", "--quiet")
    _assert_clean_error(code, out, err, must=(str(path),), any_of=names, what=f"run {case}")
    assert not out_dir.exists()


def test_a_file_of_a_million_features_is_refused_quickly(capsys, tmp_path):
    """Over a million features (a file over 10 MB): refused by its size, before parsing."""
    raw = copy.deepcopy(BASES["baseline"])
    text = to_toml(raw) + "[traffic.features]\n" + "".join(f"f{i:07d} = {{}}\n" for i in range(1_000_000))
    path = tmp_path / "features.toml"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 10 * 2**20
    code, out, err = _cli(capsys, "validate", str(path), timeout_s=5.0)
    _assert_clean_error(code, out, err, must=(str(path),))


def _set_path(raw: dict, dotted: str, value: Any) -> None:
    """Set ``a.b[0].c`` in ``raw``, creating tables on the way."""
    tokens: list[Any] = []
    for part in dotted.split("."):
        name, _, index = part.partition("[")
        tokens.append(name)
        if index:
            tokens.append(int(index.rstrip("]")))
    node: Any = raw
    for t in tokens[:-1]:
        node = node.setdefault(t, {}) if isinstance(t, str) else node[t]
    node[tokens[-1]] = value


DEFAULT_FEATURES = {"x1": {"dist": "normal", "mean": 0.0, "sd": 1.0}, "x2": {"dist": "normal", "mean": 0.0, "sd": 1.0},
                    "x3": {"dist": "uniform", "low": 0.0, "high": 1.0}}
# (base scenario, {dotted path: value}): finite numbers far outside any sensible range
ABSURD = {
    "latency_p99_1e308_ms": ("baseline", {"models.legacy.latency.p99_ms": 1e308}),
    "latency_of_the_smallest_float": ("baseline", {"models.legacy.latency.median_ms": 5e-324,
                                                   "models.legacy.latency.p99_ms": 1e-323}),
    "timeout_of_the_smallest_float": ("baseline", {"models.legacy.timeout_ms": 5e-324}),
    "target_weight_1e308": ("baseline", {"target.weights.x1": 1e308}),
    "label_noise_1e308": ("baseline", {"target.noise_sd": 1e308}),
    "feature_sd_1e308_with_drift_monitor": ("gradual_data_drift", {
        "traffic.features": {**DEFAULT_FEATURES, "x1": {"dist": "normal", "mean": 0.0, "sd": 1e308}}}),
    "drift_shift_1e308": ("gradual_data_drift", {"faults[0].shift": 1e308}),
    "error_scale_of_the_smallest_float": ("baseline", {"business.error_scale": 5e-324}),
    "a_billion_replicas": ("baseline", {"models.legacy.replicas": 1_000_000_000}),
    "autoscaler_up_to_a_billion_replicas": ("autoscaling_diurnal",
                                            {"models.legacy.autoscaling.max_replicas": 1_000_000_000}),
    "queue_limit_1e18": ("baseline", {"models.legacy.queue_limit": 10**18}),
    "drift_reference_of_1e12_rows": ("gradual_data_drift", {"monitoring.drift_reference_n": 10**12,
                                                            "monitoring.drift_window_n": 10**12}),
    "ten_million_users": ("baseline", {"traffic.users": 10_000_000}),
    "label_delay_1e308_s": ("baseline", {"traffic.label_delay_s": 1e308}),
}


@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_finite_values_run_cleanly_or_are_refused(case, capsys, tmp_path):
    """A finite but absurd number either runs to strict-JSON outputs, or is refused naming its field."""
    base, overrides = ABSURD[case]
    raw = copy.deepcopy(BASES[base])
    for dotted, value in overrides.items():
        _set_path(raw, dotted, value)
    path = tmp_path / f"{case}.toml"
    path.write_text(to_toml(raw), encoding="utf-8")
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", str(path), "--out", str(out_dir), "--no-registry", "--quiet")
    if code == 2:
        fields = tuple(d.split("[")[0].split(".")[-1] for d in overrides)
        _assert_clean_error(code, out, err, must=(str(path),), any_of=fields, what=case)
        assert not out_dir.exists()
        return
    assert "Traceback" not in out + err
    assert code == 0, f"{case}: exit {code}: {err[-800:]}"
    for name in ("summary.json", "scenario.json"):
        _strict_json((out_dir / name).read_text(encoding="utf-8"))
    for line in (out_dir / "log.jsonl").read_text(encoding="utf-8").splitlines():
        _strict_json(line)
