"""Behaviour lock: every shipped scenario, seeds 1 and 2, gives recorded results.

Each run is reduced to SHA-256 digests (20 hex digits) of its request table, its
events, its summary and its other tables. The digests in
``tests/data/behaviour_fingerprints.json`` were recorded from the engine as it is;
a refactor must leave them unchanged. When a change alters behaviour on purpose,
regenerate them with ``python tests/test_behaviour.py --record`` in a commit whose
message says which behaviour changed and why.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
SEEDS = (1, 2)
RECORD = Path(__file__).with_name("data") / "behaviour_fingerprints.json"


def _frame_digest(frame: pd.DataFrame) -> str:
    """Digest of a frame's column names and values (numbers as int64/float64 bytes,
    categoricals as codes and categories, anything else as its text)."""
    h = hashlib.sha256()
    for col in frame.columns:
        s = frame[col]
        h.update(str(col).encode())
        if isinstance(s.dtype, pd.CategoricalDtype):
            h.update(s.cat.codes.to_numpy().astype(np.int64).tobytes())
            h.update("|".join(map(str, s.cat.categories)).encode())
        elif s.dtype.kind in "biuf":
            a = s.to_numpy()
            h.update(a.astype(np.int64 if a.dtype.kind in "biu" else np.float64).tobytes())
        else:
            h.update("\x1f".join(map(str, s.tolist())).encode())
    return h.hexdigest()[:20]


def _summary_dict(result) -> dict:
    summary = result.summary
    return summary.to_dict() if hasattr(summary, "to_dict") else summary


def fingerprint(result) -> dict[str, str]:
    """Digests of the request table, events, summary and every other table of a run."""
    from workbench.outputs import dumps_strict

    out = {
        "requests": _frame_digest(result.requests),
        "events": _frame_digest(result.events),
        "incidents": _frame_digest(result.incidents),
        "shadow": _frame_digest(result.shadow),
        "summary": hashlib.sha256(dumps_strict(_summary_dict(result), sort_keys=True).encode()).hexdigest()[:20],
    }
    for name in sorted(result.tables):
        out[f"table:{name}"] = _frame_digest(result.tables[name])
    return out


def _run(path: Path, seed: int) -> dict[str, str]:
    import workbench

    return fingerprint(workbench.run(path, seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_matches_its_recorded_fingerprint(path, seed):
    recorded = json.loads(RECORD.read_text())
    key = f"{path.stem}@{seed}"
    assert key in recorded, f"no recorded fingerprint for {key}: run this file with --record"
    assert _run(path, seed) == recorded[key]


def test_every_recorded_fingerprint_has_a_shipped_scenario():
    recorded = json.loads(RECORD.read_text())
    assert set(recorded) == {f"{p.stem}@{s}" for p in SCENARIOS for s in SEEDS}


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    digests = {f"{p.stem}@{s}": _run(p, s) for p in SCENARIOS for s in SEEDS}
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(digests)} fingerprints in {RECORD}")
