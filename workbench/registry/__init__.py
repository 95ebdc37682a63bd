"""Model version registry and run registry, persisted in one SQLite database.

``ModelRegistry(path)`` and ``RunRegistry(path)`` open the same file; pass a
shared :class:`Database` to use one connection for both. With no path, the file
is ``$WORKBENCH_REGISTRY`` or ``registry.sqlite3`` in the user data directory
(``platformdirs.user_data_dir("rollout-workbench")``).
"""

from .db import ENV_VAR, Database, RegistryError, default_registry_path, resolve_registry_path
from .runs import RunRecord, RunRegistry
from .versions import (
    STAGES,
    ModelRegistry,
    ModelVersion,
    canonical_json,
    capture_environment,
    compute_version_id,
    fingerprint_artefact,
)

__all__ = [
    "ENV_VAR",
    "STAGES",
    "Database",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "RunRecord",
    "RunRegistry",
    "canonical_json",
    "capture_environment",
    "compute_version_id",
    "default_registry_path",
    "fingerprint_artefact",
    "resolve_registry_path",
]
