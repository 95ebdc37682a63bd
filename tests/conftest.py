"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    return SCENARIOS


@pytest.fixture(autouse=True)
def _registry_in_tmp(tmp_path, monkeypatch):
    """Never write the user's real run registry from tests."""
    monkeypatch.setenv("WORKBENCH_REGISTRY", str(tmp_path / "registry.sqlite"))
    os.environ.setdefault("MPLBACKEND", "Agg")
