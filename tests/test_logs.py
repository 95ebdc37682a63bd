"""Structured logs: writing, templates, volume, anomalies, retention, report."""

import json
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

from workbench.ops.logs import (
    MAX_WINDOWS,
    LogAnalyzer,
    LogReport,
    StructuredLogWriter,
    apply_retention,
    frame_to_markdown,
    mask_message,
    requests_to_log_records,
    template_id,
)


@pytest.mark.parametrize(
    "message, template",
    [
        ("Timeout after 2000 ms for request req-000123", "Timeout after <NUM> ms for request <ID>"),
        ("Timeout after 1500.5 ms for request abc9f2", "Timeout after <NUM> ms for request <ID>"),
        ("feature store 0x7ffe12 returned HTTP 503", "feature store <HEX> returned HTTP <NUM>"),
        ("user 550e8400-e29b-41d4-a716-446655440000 not found", "user <UUID> not found"),
        ("retry 3/5 took 250ms", "retry <NUM>/<NUM> took <NUM>ms"),
        ("cache miss for key=user_42 (shard 7)", "cache miss for key=<ID> (shard <NUM>)"),
        ("Model candidate failed", "Model candidate failed"),
        ("checksum deadbeef01 mismatch", "checksum <HEX> mismatch"),
    ],
)
def test_mask_message(message, template):
    assert mask_message(message) == template


def test_template_id_is_stable():
    assert template_id("a <NUM>") == template_id("a <NUM>")
    assert template_id("a <NUM>") != template_id("a <ID>")
    assert len(template_id("x")) == 12


def _synthetic_log(seed=11, minutes=60, burst_window=30, burst=40):
    """Poisson(2) errors per minute of three kinds, INFO traffic, and an error burst."""
    rng = np.random.default_rng(seed)
    rows = []
    kinds = [
        lambda: (
            f"Timeout after {int(rng.integers(1000, 3000))} ms for request req-{int(rng.integers(1e6)):06d}"
        ),
        lambda: (
            f"Feature store returned HTTP {int(rng.choice([500, 502, 503]))} for user {uuid.UUID(int=int(rng.integers(1 << 62)))}"
        ),
        lambda: (
            f"Prediction out of range: {rng.normal():.3f} for item item{int(rng.integers(1e4))}"
        ),
    ]
    for m in range(minutes):
        n_err = rng.poisson(2) + (burst if m == burst_window else 0)
        for _ in range(n_err):
            k = int(rng.integers(3)) if m != burst_window else 0
            rows.append(
                {
                    "time_s": 60.0 * m + float(rng.uniform(0, 60)),
                    "level": "ERROR",
                    "model": "candidate",
                    "message": kinds[k](),
                    "latency_ms": float(rng.uniform(10, 3000)),
                    "status": "error",
                }
            )
        for _ in range(rng.poisson(50)):
            rows.append(
                {
                    "time_s": 60.0 * m + float(rng.uniform(0, 60)),
                    "level": "INFO",
                    "model": "legacy",
                    "message": f"Served request req-{int(rng.integers(1e6))}",
                    "latency_ms": float(rng.uniform(10, 100)),
                    "status": "ok",
                }
            )
    return pd.DataFrame(rows)


def test_templates_group_messages_differing_only_in_ids_and_numbers():
    df = _synthetic_log()
    logs = LogAnalyzer(df)
    tpl = logs.templates()
    assert set(tpl["template"]) == {
        "Timeout after <NUM> ms for request <ID>",
        "Feature store returned HTTP <NUM> for user <UUID>",
        "Prediction out of range: <NUM> for item <ID>",
    }
    errors = df[df["level"] == "ERROR"]
    assert tpl["count"].sum() == len(errors)
    # counts match an independent grouping by message prefix
    expected_timeouts = errors["message"].str.startswith("Timeout after").sum()
    row = tpl.set_index("template").loc["Timeout after <NUM> ms for request <ID>"]
    assert row["count"] == expected_timeouts
    assert row["models"] == "candidate"
    assert tpl["count"].is_monotonic_decreasing
    assert set(tpl["template_id"]) == {template_id(t) for t in tpl["template"]}
    # with errors_only=False the INFO template appears too
    assert "Served request <ID>" in set(logs.templates(errors_only=False)["template"])


def test_error_burst_is_flagged_in_its_window_by_mad_and_ewma():
    logs = LogAnalyzer(_synthetic_log(burst_window=30), window_s=60.0)
    mad = logs.anomalies(method="mad")
    assert len(mad) == 60
    assert mad.loc[mad["anomaly"], "window_start_s"].tolist() == [1800.0]
    ewma = logs.anomalies(method="ewma")
    assert ewma.loc[ewma["anomaly"], "window_start_s"].tolist() == [1800.0]
    # the total volume of INFO traffic has no anomaly either way
    assert not logs.anomalies(metric="INFO", two_sided=True)["anomaly"].any()


def test_no_burst_no_anomaly_and_a_stray_error_is_not_a_burst():
    logs = LogAnalyzer(_synthetic_log(burst=0))
    assert not logs.anomalies()["anomaly"].any()
    quiet = LogAnalyzer(
        [{"time_s": float(t), "level": "INFO", "message": "ok"} for t in range(0, 3600, 10)]
        + [{"time_s": 1234.0, "level": "ERROR", "message": "boom"}]
    )
    a = quiet.anomalies(window_s=60)
    assert a["baseline"].eq(0).all() and a["scale"].eq(1).all()  # MAD = 0: Poisson floor
    assert not a["anomaly"].any()


def test_volume_counts_per_window_including_empty_windows():
    logs = LogAnalyzer(
        [
            {"time_s": 1.0, "level": "info", "message": "a"},
            {"time_s": 5.0, "level": "ERROR", "message": "b"},
            {"time_s": 25.0, "level": "warn", "message": "c", "status": "timeout"},
        ]
    )
    vol = logs.volume(window_s=10)
    assert vol["window_start_s"].tolist() == [0.0, 10.0, 20.0]
    assert vol["total"].tolist() == [2, 0, 1]
    assert vol["errors"].tolist() == [1, 0, 1]  # timeout status counts as an error
    assert vol["WARNING"].tolist() == [0, 0, 1]  # "warn" normalised
    assert logs.volume(10, start_s=0, end_s=40)["total"].tolist() == [2, 0, 1, 0]


def test_categories_by_level_and_status():
    df = _synthetic_log(burst=0)
    cat = LogAnalyzer(df).categories()
    assert cat["count"].sum() == len(df)
    assert cat["share"].sum() == pytest.approx(1.0)
    top = cat.iloc[0]
    assert (top["level"], top["status"]) == ("INFO", "ok")
    by_model = LogAnalyzer(df).categories(by=("model",))
    assert set(by_model["model"]) == {"legacy", "candidate"}
    with pytest.raises(ValueError, match="by"):
        LogAnalyzer(df).categories(by=("nope",))


def test_writer_roundtrip_and_truncated_last_line(tmp_path):
    path = tmp_path / "logs" / "run.jsonl"
    with StructuredLogWriter(path) as log:
        log.write(0.5, "info", "legacy", "Served request req-1", 12.5, "ok")
        log.write(1.0, "ERROR", "candidate", "boom", float("nan"), "error", request_id=np.int64(7))
        assert log.n_written == 2
    lines = path.read_text().splitlines()
    assert json.loads(lines[1]) == {
        "time_s": 1.0,
        "level": "ERROR",
        "model": "candidate",
        "message": "boom",
        "latency_ms": None,
        "status": "error",
        "request_id": 7,
    }
    with open(path, "a") as fh:
        fh.write('{"time_s": 2.0, "level": "ERR')  # writer killed mid-line
    logs = LogAnalyzer(path)
    assert len(logs.entries) == 2 and logs.n_malformed == 1
    assert np.isnan(logs.entries.loc[1, "latency_ms"])
    with pytest.raises(ValueError, match="time_s"):
        StructuredLogWriter(tmp_path / "x.jsonl").write(float("inf"), "INFO", None, "x")


def test_retention_by_simulated_time(tmp_path):
    path = tmp_path / "run.jsonl"
    with StructuredLogWriter(path) as log:
        log.write_records(
            [{"time_s": float(t), "level": "INFO", "message": f"tick {t}"} for t in range(100)]
        )
    logs = LogAnalyzer(path)
    kept = logs.retain(now_s=99.0, retention_s=30.0)
    assert kept.entries["time_s"].min() == 69.0 and len(kept.entries) == 31
    assert len(logs.entries) == 100  # pure: the original is untouched
    assert apply_retention(path, now_s=99.0, retention_s=30.0) == 69
    assert LogAnalyzer(path).entries["time_s"].tolist() == list(map(float, range(69, 100)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]  # no temp left
    with pytest.raises(ValueError, match="retention_s"):
        logs.retain(10.0, -1.0)


def test_report_markdown_without_tabulate(monkeypatch):
    monkeypatch.setitem(sys.modules, "tabulate", None)  # importing it would fail
    rep = LogAnalyzer(_synthetic_log(), window_s=60).report()
    assert isinstance(rep, LogReport)
    assert rep.anomalous_windows["window_start_s"].tolist() == [1800.0]
    md = rep.to_markdown()
    assert md.startswith("# Log report")
    assert "| template_id | template | count |" in md
    assert "Timeout after <NUM> ms for request <ID>" in md
    assert "| 1800 |" in md


def test_frame_to_markdown_truncates_and_escapes():
    df = pd.DataFrame({"x": range(5), "msg": ["a|b", "c", "d", "e", "f"]})
    md = frame_to_markdown(df, max_rows=2)
    assert "a\\|b" in md and "3 more rows not shown" in md


def test_requests_to_log_records():
    req = pd.DataFrame(
        {
            "request_id": [1, 2, 3, 4],
            "time_s": [0.1, 0.2, 0.3, 0.4],
            "model": ["legacy", "candidate", "candidate", "legacy"],
            "status": ["ok", "error", "timeout", "dropped"],
            "latency_ms": [40.2, 12.0, 2000.0, 0.0],
        }
    )
    rec = requests_to_log_records(req)
    assert rec["level"].tolist() == ["INFO", "ERROR", "WARNING", "WARNING"]
    assert rec.loc[1, "message"] == "Model candidate failed request req-2"
    assert len(requests_to_log_records(req, include_ok=False)) == 3
    tpl = LogAnalyzer(rec).templates()
    assert set(tpl["template"]) == {
        "Model candidate failed request <ID>",
        "Timeout after <NUM> ms for request <ID>",
        "Dropped request <ID>: queue full",
    }


def test_bad_arguments():
    with pytest.raises(ValueError, match="window_s"):
        LogAnalyzer([], window_s=0)
    logs = LogAnalyzer([{"time_s": 0.0, "level": "INFO", "message": "x"}])
    with pytest.raises(ValueError, match="method"):
        logs.anomalies(method="zscore")
    with pytest.raises(ValueError, match="metric"):
        logs.anomalies(metric="bytes")
    assert LogAnalyzer([]).report().n_entries == 0


# -- damaged files -------------------------------------------------------------------
_GOOD = '{"time_s": %s, "level": "ERROR", "model": "candidate", "message": "boom %d", "latency_ms": 5.0, "status": "error"}'


def _damaged_log(tmp_path):
    lines = [
        (_GOOD % ("1.0", 1)).encode(),
        b'{"time_s": 2.0, "level": "INFO", "message": "caf\xe9 latin-1"}',  # not UTF-8
        b"this is not json",
        (_GOOD % ("1e300", 2)).encode(),  # absurd time
        (_GOOD % ("NaN", 3)).encode(),  # non-finite (Python's json accepts the token)
        (_GOOD % ("-5", 4)).encode(),  # negative
        (_GOOD % ('"12"', 5)).encode(),  # time as a string
        b'{"level": "INFO", "message": "no time"}',  # missing time_s
        b'{"time_s": 3.0, "message": "no level"}',  # missing level
        b'{"time_s": 3.0, "level": "INFO", "message": ["not", "text"]}',  # wrong type
        b'{"time_s": true, "level": "INFO", "message": "bool time"}',
        b"[1, 2, 3]",
        b"",
        (_GOOD % ("2.5", 6)).encode(),
        b'{"time_s": 3.0, "level": "ERR',  # writer killed mid-line
    ]
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


def test_damaged_lines_are_skipped_counted_and_located(tmp_path):
    logs = LogAnalyzer(_damaged_log(tmp_path))
    assert logs.entries["message"].tolist() == ["boom 1", "boom 6"]
    assert logs.n_malformed == 12
    assert logs.malformed_lines == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]  # the first ten, 1-based
    rep = logs.report()
    assert rep.n_malformed == 12 and rep.end_s == 2.5
    assert "(12 malformed lines skipped)" in rep.to_markdown()


def test_dataframe_with_bad_times_is_rejected_naming_the_entry():
    with pytest.raises(ValueError, match="entry 1: time_s"):
        LogAnalyzer(pd.DataFrame({"time_s": [1.0, np.nan], "level": "INFO", "message": "x"}))
    with pytest.raises(ValueError, match="entry 0: time_s"):
        LogAnalyzer([{"time_s": -1.0, "level": "INFO", "message": "x"}])


def test_window_count_is_capped_before_allocating():
    logs = LogAnalyzer([{"time_s": 0.0, "level": "INFO", "message": "a"},
                        {"time_s": 1e12, "level": "INFO", "message": "b"}], window_s=1.0)
    # 1e12 s in 1 s windows: 1e12 + 1 windows against the cap of 1e6
    with pytest.raises(ValueError, match=r"1,000,000,000,001 windows, more than the cap of 1,000,000"):
        logs.report()
    assert MAX_WINDOWS == 1_000_000
    # floor(1e12 / 1000001) = 999999: windows 0 .. 999999, exactly the cap, are allowed
    assert len(logs.volume(window_s=1_000_001.0)) == 1_000_000
    with pytest.raises(ValueError, match="1,000,001 windows"):
        logs.volume(window_s=1e6)
    with pytest.raises(ValueError, match="too small"):
        logs.volume(window_s=1e-6)


def test_markdown_escapes_control_characters():
    logs = LogAnalyzer([{"time_s": 1.0, "level": "ERROR", "model": "m\x1b[31m",
                         "message": "bad \x1b[2J thing"}])
    md = logs.report().to_markdown()
    assert "\x1b" not in md and "bad \\x1b[<ID> thing" in md and "m\\x1b[31m" in md
