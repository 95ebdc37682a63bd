"""``workbench run`` on every shipped scenario states the outcome its description promises.

One test per scenario: the command's printed output (not the API) must carry the
punchline, and the numbers in it are checked against the run it wrote (``--out``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.result import RunResult

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (REPO / "scenarios").glob("*.toml"))


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1).replace(",", ""))


def _fault_row(text: str, fault: str, model: str) -> list[str]:
    """The row of ``model`` in the before -> during table printed under ``fault`` (e.g. ``error_burst #0``)."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(fault))
    row = next(line for line in lines[start + 2:start + 8] if line.split()[0] == model)
    return row.split()  # model, requests, a -> b, p99 a -> b, MAE a -> b


def _arrow(cells: list[str], k: int) -> tuple[float, float]:
    """The k-th ``before -> during`` pair of a fault-table row (0: non-ok %, 1: p99 ms, 2: MAE)."""
    before, during = cells[2 + 3 * k], cells[4 + 3 * k]
    return float(before), float(during)


def ab_test(out: str, r: RunResult) -> None:
    v = r.summary.ab_verdict
    assert "primary: conversions per user" in out and "CUPED (pre-period 3600 s)" in out
    assert f"verdict: {v.decision}" in out and "guardrails (Holm)" in out
    assert re.search(r"sample ratio \(users, by the arm of their first request.*\): \[\d+, \d+\] vs \[0.5, 0.5\]",
                     out.replace("\n    ", " "))
    assert not r.summary.srm.mismatch


def abn_three_models(out: str, r: RunResult) -> None:
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["flaky"], ["faster"])}
    assert rows["flaky"][-1] == "worse" and rows["faster"][-1] == "better"
    assert "vs [0.5, 0.25, 0.25]" in out.replace("\n    ", " ") and not r.summary.srm.mismatch


def autoscaling_diurnal(out: str, r: RunResult) -> None:
    ups = _number(r"autoscaling legacy: \d+ scale events \((\d+) up", out)
    downs = _number(r"up, (\d+) down\)", out)
    assert ups > 0 and downs > 0 and ups + downs == (r.events["kind"] == "scale").sum()
    assert r.summary.models["legacy"].latency_p95_ms <= 250  # within the SLO


def bandit_better_candidate(out: str, r: RunResult) -> None:
    assert "regret:" in out and "bandit share and cumulative regret over time:" in out
    lines = out.splitlines()
    start = lines.index("bandit share and cumulative regret over time:")
    rows = [line.split() for line in lines[start + 2:start + 8]]
    legacy = [float(row[2].rstrip("%")) for row in rows]
    candidate = [float(row[3].rstrip("%")) for row in rows]
    assert all(c > 50 for c in candidate) and all(s >= 9.0 for s in legacy)  # at least ~10% stays on legacy
    assert float(rows[-1][-1].replace(",", "")) == pytest.approx(r.summary.strategy.get("regret"), abs=0.05)


def baseline(out: str, r: RunResult) -> None:
    row = next(line.split() for line in out.splitlines() if line.startswith("legacy"))
    util = r.summary.models["legacy"].utilisation
    assert util == pytest.approx(0.67, abs=0.03) and f"{util:.2f}" in row  # 60/s x 44.7 ms / 4 replicas
    assert "overload" not in out and "outcome: single still running" in out


def blue_green_switch(out: str, r: RunResult) -> None:
    assert "traffic switched from legacy (blue) to candidate (green)" in out
    t = _number(r"outcome: rolled back at (\d+) s", out)
    assert 600 < t < 780  # after the fault at minute 10
    assert re.search(r"latency_p99_ms [\d.]+ > 300 \([\d,]+ requests in \d+-\d+ s\)", out)
    p99 = _arrow(_fault_row(out, "latency_spike #0", "candidate"), 1)
    assert p99[1] > 2 * p99[0]


def canary_latency_spike(out: str, r: RunResult) -> None:
    assert "canary weight 5% -> 10%" in out and "canary weight 10% -> 25%" in out
    assert "rolled back" not in out and "users hurt by the candidate over the whole run" in out
    cand = _arrow(_fault_row(out, "latency_spike #0", "candidate"), 1)
    legacy = _arrow(_fault_row(out, "latency_spike #0", "legacy"), 1)
    assert cand[1] > 2 * cand[0] and legacy[1] < 1.2 * legacy[0]  # only the cohort is hurt


def capacity_crunch(out: str, r: RunResult) -> None:
    assert "overload: legacy's replicas were all busy" in out.replace("\n    ", " ")
    assert r.summary.models["legacy"].mean_queue_ms > 10


def concept_drift(out: str, r: RunResult) -> None:
    cells = _fault_row(out, "concept_drift #0", "legacy")
    mae, non_ok = _arrow(cells, 2), _arrow(cells, 0)
    assert mae[1] > 2 * mae[0] and abs(non_ok[1] - non_ok[0]) < 0.1  # worse predictions, healthy serving


def data_drift(out: str, r: RunResult) -> None:
    before = _number(r"feature x2 mean (-?[\d.]+) ->", out)
    during = _number(r"feature x2 mean -?[\d.]+ -> (-?[\d.]+)", out)
    sd_before = _number(r"sd ([\d.]+) ->", out)
    sd_during = _number(r"sd [\d.]+ -> ([\d.]+)", out)
    assert abs(before) < 0.1 and 1.0 < during < 1.6  # +1.5 sd once the 5-minute ramp is done
    assert sd_during / sd_before == pytest.approx(1.5, abs=0.1)


def error_burst(out: str, r: RunResult) -> None:
    cand = _arrow(_fault_row(out, "error_burst #0", "candidate"), 0)
    legacy = _arrow(_fault_row(out, "error_burst #0", "legacy"), 0)
    assert 12 < cand[1] < 18 and cand[0] < 1 and legacy[1] < 1  # 15% of the candidate's calls; legacy untouched


def feature_store_outage(out: str, r: RunResult) -> None:
    for model in ("legacy", "candidate"):
        assert _arrow(_fault_row(out, "outage #0", model), 0)[1] == pytest.approx(100.0)
        assert _arrow(_fault_row(out, "outage #1", model), 0)[1] == pytest.approx(30.0, abs=3.0)
    assert "dependency_recovered" in out


def gradual_data_drift(out: str, r: RunResult) -> None:
    assert "feature drift over time" in out and "monitor alerts: drift" in out
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("feature drift over time"))
    header = lines[start + 1].split()
    stop = lines.index("", start)
    rows = [line.split() for line in lines[start + 2:stop]]
    flagged = {f for row in rows for f, cell in zip(header[1:], row[1:], strict=True) if cell.endswith("*")}
    assert flagged == {"x2"}
    first = min(float(row[0]) for row in rows if row[header.index("x2")].endswith("*"))
    assert 600 < first < 1200  # part-way up the ramp (600-1200 s)


def interleaving_recommenders(out: str, r: RunResult) -> None:
    d = r.summary.strategy.details
    assert d["delta_ab"] < 0 and f"Delta_AB = {d['delta_ab']:+.4f}" in out
    assert "verdict: candidate ranks better (sign test over users" in out
    assert "trust the test over users" in out


def latency_spike(out: str, r: RunResult) -> None:
    timeouts = _number(r"([\d,]+) of its requests timed out", out.replace("\n    ", " "))
    assert timeouts > 0 and "overload: legacy's replicas were all busy" in out.replace("\n    ", " ")
    p99 = _arrow(_fault_row(out, "latency_spike #0", "legacy"), 1)
    assert p99[1] > 5 * p99[0]


def latency_spike_rollback(out: str, r: RunResult) -> None:
    t = _number(r"outcome: rolled back at (\d+) s", out)
    assert 600 < t <= 660  # two 10-s evaluations after the 60-s window fills with slow requests
    assert "latency_p95_ms" in out and "health breach 2/2" in out and "adwin" in out
    assert "users hurt before the rollback" in out


def progressive_bad_candidate(out: str, r: RunResult) -> None:
    text = out.replace("\n    ", " ")
    assert "outcome: rolled back at 540 s" in text and "2 failed analyses > failure_limit 1" in text
    harm = r.summary.harm
    assert f"users hurt before the rollback at 540 s: {harm.bad_users:,} of the {harm.users:,} users" in text
    assert re.search(r"gate_failed .*error_rate [\d.]+ > 0.02 \([\d,]+ requests in 300-\d+ s\)", out)


def progressive_good_candidate(out: str, r: RunResult) -> None:
    assert "outcome: promoted to 100% at 900 s" in out and "rolled back" not in out


def shadow_candidate_crashes(out: str, r: RunResult) -> None:
    rate = _number(r"candidate non-ok rate ([\d.]+)%", out)
    assert rate == pytest.approx(50, abs=3) and "users got legacy's answers" in out.replace("\n    ", " ")
    assert r.summary.models["candidate"].requests == 0


def silent_concept_drift(out: str, r: RunResult) -> None:
    assert "rolled back" not in out and "legacy degraded too" in out
    assert re.search(r"monitor alerts: performance \d+ \(first: legacy at \d+ s, candidate at \d+ s\)", out)
    for model in ("legacy", "candidate"):
        mae = _arrow(_fault_row(out, "concept_drift #0", model), 2)
        assert mae[1] > 2 * mae[0]


def validation_gate(out: str, r: RunResult) -> None:
    assert "outcome: blocked before any traffic by pre-deployment validation" in out
    assert _number(r"mae \(mae ([\d.]+) > 0.3\)", out) > 0.3
    assert r.summary.models["candidate"].requests == 0


CHECKS: dict[str, Callable[[str, RunResult], None]] = {name: globals()[name] for name in SCENARIOS}


def test_every_shipped_scenario_has_a_story_check():
    assert set(CHECKS) == set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_run_states_what_the_description_promises(name, capsys, tmp_path):
    code = main(["run", str(REPO / "scenarios" / f"{name}.toml"), "--no-registry", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("outcome: "))
    end = next((k for k, line in enumerate(lines) if line in ("events:", "") and k > start), len(lines))
    assert max(len(line) for line in lines[:end]) <= 120  # the tables and the story fit a terminal
    CHECKS[name](out, RunResult.from_dir(tmp_path / "run"))
