"""Model version registry and run registry (SQLite)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from workbench.registry import (
    Database,
    ModelRegistry,
    RegistryError,
    RunRegistry,
    compute_version_id,
    default_registry_path,
    fingerprint_artefact,
)
from workbench.registry.db import APPLICATION_ID, ENV_VAR, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reg(tmp_path):
    with ModelRegistry(tmp_path / "reg.sqlite3") as r:
        yield r


# -- ids ------------------------------------------------------------------------------


def test_ids_are_content_addressed_and_registration_idempotent(reg):
    a = reg.register("ranker", {"depth": 6, "lr": 0.1}, metrics={"auc": 0.7})
    assert a == compute_version_id("ranker", {"lr": 0.1, "depth": 6})
    assert reg.register("ranker", {"lr": 0.1, "depth": 6}) == a  # key order irrelevant
    assert len(reg.versions()) == 1
    # metrics are not content: they merge in on a repeat registration
    reg.register("ranker", {"depth": 6, "lr": 0.1}, metrics={"latency_ms": 12.0})
    assert reg.get(a).metrics == {"auc": 0.7, "latency_ms": 12.0}
    # name, parameters, artefact and parent all change the id
    assert reg.register("ranker2", {"depth": 6, "lr": 0.1}) != a
    assert reg.register("ranker", {"depth": 6, "lr": 0.10001}) != a
    assert reg.register("ranker", {"depth": 6, "lr": 0.1}, artefact=b"w1") != a
    assert reg.register("ranker", {"depth": 6, "lr": 0.1}, parent=a) != a
    # numpy values encode as their Python equivalents
    assert compute_version_id("m", {"x": np.float64(0.5), "v": np.arange(2)}) == compute_version_id(
        "m", {"x": 0.5, "v": [0, 1]}
    )


def test_same_content_gets_same_id_in_two_processes(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from workbench.registry import ModelRegistry
        reg = ModelRegistry(sys.argv[1])
        root = reg.register("ranker", {"depth": 6, "features": ["a", "b"], "lr": 0.05},
                            artefact_fingerprint="sha256:abc")
        child = reg.register("ranker", {"depth": 8}, parent=root)
        print(root, child)
        """
    )
    procs = [  # run concurrently, with different str hashing per process
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / f"db{i}.sqlite3")],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        )
        for i, hashseed in enumerate(("1", "2"))
    ]
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    root = compute_version_id(
        "ranker", {"lr": 0.05, "features": ["a", "b"], "depth": 6}, "sha256:abc"
    )
    assert outs[0][0] == root


def test_bad_content_is_rejected(reg):
    with pytest.raises(ValueError, match="parameters.lr"):
        reg.register("m", {"lr": float("nan")})
    with pytest.raises(ValueError, match="keys must be strings"):
        reg.register("m", {1: "a"})
    with pytest.raises(ValueError, match="parameters.fn"):
        reg.register("m", {"fn": print})
    with pytest.raises(ValueError, match="name"):
        reg.register("", {})
    with pytest.raises(ValueError, match="version_id: unknown"):
        reg.register("m", {}, parent="0" * 64)
    with pytest.raises(ValueError, match="artefact"):
        reg.register("m", {}, artefact="model.pkl")  # str is ambiguous


def test_artefact_fingerprints(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"weights")
    assert fingerprint_artefact(f) == fingerprint_artefact(b"weights")
    d = tmp_path / "bundle"
    d.mkdir()
    (d / "a.txt").write_text("1")
    first = fingerprint_artefact(d)
    (d / "a.txt").write_text("2")
    assert fingerprint_artefact(d) != first
    with pytest.raises(ValueError, match="no such file"):
        fingerprint_artefact(tmp_path / "missing")


# -- lineage ----------------------------------------------------------------------------------


def test_lineage_on_branched_history_with_several_roots(reg):
    r1 = reg.register("ranker", {"v": 1})
    a = reg.register("ranker", {"v": 2}, parent=r1)
    b1 = reg.register("ranker", {"v": "3b"}, parent=a)  # branch 1
    c1 = reg.register("ranker", {"v": "3c"}, parent=a)  # branch 2
    c2 = reg.register("ranker", {"v": "4c"}, parent=c1)
    r2 = reg.register("ranker", {"v": "fresh"})  # a second root
    d = reg.register("ranker", {"v": "fresh-2"}, parent=r2)
    assert reg.lineage(b1) == [r1, a, b1]
    assert reg.lineage(c2) == [r1, a, c1, c2]
    assert reg.lineage(d) == [r2, d]
    assert reg.lineage(r1) == [r1]
    assert reg.children(a) == [b1, c1]
    assert reg.lineage(c2[:10]) == reg.lineage(c2)  # unique prefix accepted
    g = reg.graph()
    assert isinstance(g, nx.DiGraph) and g.number_of_nodes() == 7
    assert set(g.edges) == {(r1, a), (a, b1), (a, c1), (c1, c2), (r2, d)}
    assert sorted(len(c) for c in nx.weakly_connected_components(g)) == [2, 5]
    # a shortest path from an arbitrary first node is no lineage: r1 and d share no path
    with pytest.raises(nx.NetworkXNoPath):
        nx.shortest_path(g, r1, d)


def test_prefix_resolution(reg):
    v = reg.register("m", {"x": 1})
    assert reg.resolve(v[:6]) == v and reg.resolve(v.upper()) == v
    with pytest.raises(ValueError, match="unknown"):
        reg.resolve(v[:5])  # too short to be a prefix
    assert v in reg and "nope" not in reg


# -- stages, promote, rollback ------------------------------------------------------


def test_promote_and_rollback_move_the_pointer_and_keep_history(reg):
    v1 = reg.register("ranker", {"v": 1})
    v2 = reg.register("ranker", {"v": 2}, parent=v1)
    v3 = reg.register("ranker", {"v": 3}, parent=v2)
    assert reg.production("ranker") is None
    reg.promote(v2, "staging")
    assert reg.get(v2).stage == "staging"
    reg.promote(v1, "production")
    reg.promote(v2, "production")
    reg.promote(v3, "production")
    reg.promote(v3, "production")  # no-op
    assert reg.production("ranker") == v3
    assert [reg.get(x).stage for x in (v1, v2, v3)] == ["archived", "archived", "production"]
    assert reg.rollback("ranker") == v2
    assert reg.production("ranker") == v2
    assert [reg.get(x).stage for x in (v2, v3)] == ["production", "archived"]
    assert reg.rollback("ranker") == v1
    with pytest.raises(ValueError, match="no earlier production version"):
        reg.rollback("ranker")
    with pytest.raises(ValueError, match="no production version"):
        reg.rollback("other-model")
    h = reg.history("ranker")
    assert h["action"].tolist() == [
        "stage",
        "promote",
        "promote",
        "promote",
        "rollback",
        "rollback",
    ]
    assert h["version_id"].tolist() == [v2, v1, v2, v3, v2, v1]
    assert h["previous_production"].tolist()[1:] == [None, v1, v2, v3, v2]
    assert h["seq"].is_monotonic_increasing


def test_rollback_is_a_stack_across_repromotions(reg):
    v1, v2 = (reg.register("m", {"v": i}) for i in (1, 2))
    reg.promote(v1, "production")
    reg.promote(v2, "production")
    reg.promote(v1, "production")  # stack v1, v2, v1
    assert reg.rollback("m") == v2
    assert reg.rollback("m") == v1
    with pytest.raises(ValueError):
        reg.rollback("m")


def test_stage_rules(reg):
    v1, v2 = (reg.register("m", {"v": i}) for i in (1, 2))
    reg.promote(v1, "production")
    with pytest.raises(ValueError, match="production version"):
        reg.promote(v1, "archived")
    with pytest.raises(ValueError, match="stage"):
        reg.promote(v2, "canary")
    reg.promote(v2, "archived")
    assert reg.get(v2).stage == "archived"
    assert reg.production("m") == v1


def test_failed_transaction_leaves_nothing(reg, monkeypatch):
    v1, v2 = (reg.register("m", {"v": i}) for i in (1, 2))
    reg.promote(v1, "production")
    before = (reg.versions().to_dict("list"), reg.history().to_dict("list"))
    real = reg.db.transaction

    class Boom(Exception):
        pass

    from contextlib import contextmanager

    @contextmanager
    def failing():
        with real() as conn:

            class Proxy:
                calls = 0

                def execute(self, *a):
                    Proxy.calls += 1
                    if Proxy.calls == 5:  # after two of the promote's three writes
                        raise Boom
                    return conn.execute(*a)

            yield Proxy()

    monkeypatch.setattr(reg.db, "transaction", failing)
    with pytest.raises(Boom):
        reg.promote(v2, "production")
    monkeypatch.undo()
    assert (reg.versions().to_dict("list"), reg.history().to_dict("list")) == before
    assert reg.production("m") == v1


# -- runs -------------------------------------------------------------------------------------


def test_run_registry_records_lists_and_gets(tmp_path):
    db = Database(tmp_path / "shared.sqlite3")
    runs, models = RunRegistry(db), ModelRegistry(db)  # one connection, one file
    ids = [
        runs.record_run("run", "canary", "h1", 7, "0.1.0", {"p95_latency_ms": 120.0}, tmp_path),
        runs.record_run("compare", "canary", "h1", 7, "0.1.0", {"n": np.int64(3)}, None),
        runs.record_run("sweep", "ab", "h2", [1, 2, 3], "0.1.0", {"p": float("nan")}, "out"),
    ]
    models.register("m", {})
    assert len(set(ids)) == 3 and len(runs) == 3
    df = runs.list_runs()
    assert df["run_id"].tolist() == ids[::-1]  # newest first
    assert df["seed"].tolist() == [[1, 2, 3], 7, 7]
    assert runs.list_runs(limit=1)["run_id"].tolist() == [ids[2]]
    assert runs.list_runs(kind="run")["output_dir"].tolist() == [str(tmp_path)]
    assert runs.list_runs(scenario_name="canary", expand_kpis=True)["kpi.n"].tolist()[0] == 3
    rec = runs.get_run(ids[2][:6])
    assert rec.kpis == {"p": None} and rec.seed == [1, 2, 3] and rec.scenario_hash == "h2"
    with pytest.raises(ValueError, match="unknown run"):
        runs.get_run("zzzz")
    with pytest.raises(ValueError, match="kind"):
        runs.record_run("", "s", "h", 1, "0.1.0", {}, None)
    with pytest.raises(ValueError, match="seed"):
        runs.record_run("run", "s", "h", 1.5, "0.1.0", {}, None)
    db.close()
    # persisted: a new process-level open sees everything
    with RunRegistry(tmp_path / "shared.sqlite3") as again:
        assert len(again) == 3
        assert again.get_run(ids[0]).kpis == {"p95_latency_ms": 120.0}


def test_huge_seeds_round_trip(tmp_path):
    seed = 2**100 + 7  # SeedSequence entropy can exceed SQLite's 64-bit integers
    with RunRegistry(tmp_path / "r.sqlite3") as runs:
        rid = runs.record_run("run", "s", "h", seed, "0.1.0", {}, None)
        assert runs.get_run(rid).seed == seed


# -- location and durability -----------------------------------------------------------------


def test_default_path_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.sqlite3"))
    assert default_registry_path() == tmp_path / "env.sqlite3"
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # a directory: file inside it
    assert default_registry_path() == tmp_path / "registry.sqlite3"
    explicit = tmp_path / "sub" / "explicit.sqlite3"
    with ModelRegistry(explicit) as r:  # explicit path wins, parents created
        assert Path(r.path) == explicit and explicit.exists()
    monkeypatch.delenv(ENV_VAR)
    import platformdirs

    assert default_registry_path() == Path(platformdirs.user_data_dir("rollout-workbench")) / (
        "registry.sqlite3"
    )
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # not installed
    assert (
        default_registry_path() == Path.home() / ".local/share/rollout-workbench/registry.sqlite3"
    )


def test_wal_mode_and_schema_version(tmp_path):
    with Database(tmp_path / "x.sqlite3") as db:
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
        assert db.query("PRAGMA foreign_keys")[0][0] == 1
        assert db.integrity_check() == "ok"
    con = sqlite3.connect(tmp_path / "x.sqlite3")
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(ValueError, match="newer"):
        Database(tmp_path / "x.sqlite3")


_WRITER = textwrap.dedent(
    """
    import sys, hashlib, json
    from workbench.registry import Database, ModelRegistry, RunRegistry
    db = Database(sys.argv[1])
    runs, models = RunRegistry(db), ModelRegistry(db)
    prev = None
    i = 0
    while True:
        values = list(range(i, i + 200))
        kpis = {"i": i, "values": values,
                "checksum": hashlib.sha256(json.dumps(values).encode()).hexdigest()}
        runs.record_run("run", "kill-test", "h", i, "0.1.0", kpis, f"out/{i}")
        prev = models.register("m", {"i": i}, metrics={"i": i}, parent=prev)
        models.promote(prev, "production")
        if i % 7 == 6:
            models.rollback("m")
        if i == 20:
            print("ready", flush=True)
        i += 1
    """
)


def test_database_consistent_after_sigkill_mid_write(tmp_path):
    path = tmp_path / "kill.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # keep writing for a while, then kill without warning
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert Path(str(path) + "-wal").exists()  # died with an open WAL

    with Database(path) as db:
        assert db.integrity_check() == "ok"
        assert db.query("PRAGMA foreign_key_check") == []
        runs = RunRegistry(db).list_runs(limit=None)
        assert len(runs) > 20
        # every run row is complete: all fields there, KPIs parse and match their checksum
        for rec in runs.itertuples():
            k = rec.kpis
            assert rec.seed == k["i"] and rec.output_dir == f"out/{k['i']}"
            assert k["values"] == list(range(k["i"], k["i"] + 200))
            import hashlib

            assert k["checksum"] == hashlib.sha256(json.dumps(k["values"]).encode()).hexdigest()
        assert sorted(runs["seed"]) == list(range(len(runs)))  # no gaps: each insert atomic
        # multi-statement promote/rollback transactions are all-or-nothing
        models = ModelRegistry(db)
        versions = models.versions("m")
        in_prod = versions[versions["stage"] == "production"]["version_id"].tolist()
        assert in_prod == [models.production("m")]
        stack = []
        for action, vid in models.history("m")[["action", "version_id"]].itertuples(index=False):
            if action == "promote":
                stack.append(vid)
            else:
                stack.pop()
                assert stack[-1] == vid
        assert stack[-1] == models.production("m")
        # and the file is still writable
        RunRegistry(db).record_run("run", "after", "h", 0, "0.1.0", {}, None)


# -- damaged and foreign database files ----------------------------------------------
def _good_registry(path: Path, n: int = 200) -> bytes:
    with RunRegistry(path) as runs:
        for i in range(n):
            runs.record_run("run", "s" * 40, "h", i, "0.1.0", {"values": list(range(40))}, None)
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    con.close()
    return path.read_bytes()


def _damaged(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.sqlite3"
    if kind == "random":
        path.write_bytes(np.random.default_rng(5).bytes(8192))
    elif kind == "truncated":
        data = _good_registry(tmp_path / "good.sqlite3")
        path.write_bytes(data[: len(data) // 2])
    elif kind == "other_program":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO photos (name) VALUES ('beach.jpg')")
        con.commit()
        con.close()
    elif kind == "same_table_name":  # a "runs" table of someone else's design
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, colour TEXT)")
        con.commit()
        con.close()
    elif kind == "other_application_id":
        con = sqlite3.connect(path)
        con.execute("PRAGMA application_id = 1095980093")  # any id that is not ours
        con.execute("CREATE TABLE runs (x)")
        con.commit()
        con.close()
    elif kind == "future_schema":
        _good_registry(path, n=3)
        con = sqlite3.connect(path)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        con.close()
    return path


DAMAGE = {
    "random": "not an SQLite database",
    "truncated": "damaged registry database",
    "other_program": "another program (tables: photos)",
    "other_application_id": "another program (application_id",
    "same_table_name": "another program (table runs has other columns)",
    "future_schema": f"schema {SCHEMA_VERSION + 1} is newer than this package's {SCHEMA_VERSION}",
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_or_foreign_database_is_refused_and_left_untouched(tmp_path, kind):
    path = _damaged(tmp_path, kind)
    before = path.read_bytes()
    with pytest.raises(RegistryError) as info:
        with RunRegistry(path) as runs:  # the truncated file may open; reading it fails
            runs.list_runs(limit=None)
            runs.record_run("run", "x", "h", 1, "0.1.0", {}, None)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and DAMAGE[kind] in message and "\n" not in message
    assert path.read_bytes() == before  # never "repaired", upgraded or clobbered
    assert not Path(f"{path}-wal").exists()


def test_registry_path_that_is_a_directory(tmp_path):
    (tmp_path / "d" / "registry.sqlite3").mkdir(parents=True)
    with pytest.raises(RegistryError, match="not a regular file"):
        RunRegistry(tmp_path / "d")
    with RunRegistry(tmp_path) as runs:  # a directory holds registry.sqlite3
        assert runs.path == tmp_path / "registry.sqlite3" and len(runs) == 0


def test_files_are_marked_and_older_unmarked_registries_still_open(tmp_path):
    path = tmp_path / "r.sqlite3"
    with RunRegistry(path) as runs:
        runs.record_run("run", "x", "h", 1, "0.1.0", {}, None)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    con.execute("PRAGMA application_id = 0")  # as written before files were marked
    con.close()
    with RunRegistry(path) as runs:
        assert len(runs) == 1
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    con.close()


def test_damaged_kpis_row_names_the_run(tmp_path):
    path = tmp_path / "r.sqlite3"
    with RunRegistry(path) as runs:
        rid = runs.record_run("run", "x", "h", 1, "0.1.0", {"a": 1}, None)
        with runs.db.transaction() as conn:
            conn.execute("UPDATE runs SET kpis = '{\"a\": ' WHERE run_id = ?", (rid,))
        with pytest.raises(RegistryError, match=f"run '{rid}' has a damaged"):
            runs.get_run(rid)


def test_kpis_are_stored_as_strict_json(tmp_path):
    with RunRegistry(tmp_path / "r.sqlite3") as runs:
        rid = runs.record_run("run", "x", "h", 1, "0.1.0",
                              {"p": float("nan"), "q": [np.inf, -np.inf], "r": np.float64(2.5)}, None)
        text = runs.db.query("SELECT kpis FROM runs WHERE run_id = ?", (rid,))[0][0]
    parsed = json.loads(text, parse_constant=lambda tok: (_ for _ in ()).throw(ValueError(tok)))
    assert parsed == {"p": None, "q": [None, None], "r": 2.5}
