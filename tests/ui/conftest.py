"""A throwaway JupyterLab server for browser tests.

The server runs on 127.0.0.1 with a random token and port, from the repository root,
with its configuration, runtime files, settings and workspaces in a temporary
directory: no news feed, no update check, no extension manager lookups (no network),
and autosave off so a test never writes outputs into a stored notebook. It is always
stopped (terminate, then kill) when the tests that use it are done.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 60.0

# JupyterLab user settings for the test session (JSON per plugin)
_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL and token."""

    url: str
    token: str
    root: Path

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory) -> LabServer:
    pytest.importorskip("jupyterlab", reason="jupyterlab is needed for the browser test")
    home = tmp_path_factory.mktemp("jupyter")
    config_dir, runtime_dir, settings_dir, workspaces_dir = (home / n for n in
                                                             ("config", "runtime", "settings", "workspaces"))
    for d in (config_dir, runtime_dir, settings_dir, workspaces_dir):
        d.mkdir()
    for rel, value in _SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    # traits that need None (not expressible on the command line)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(runtime_dir),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
        "--IdentityProvider.token", token, "--ServerApp.root_dir", str(REPO_ROOT), "--allow-root",
        "--ServerApp.port_retries=0", "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={workspaces_dir}",
        "--ServerApp.open_browser=False", "--MappingKernelManager.cull_idle_timeout=0",
    ]
    log_path = home / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in the finalizer below
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S:.0f} s:\n"
                                   f"{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield LabServer(url=url, token=token, root=REPO_ROOT)
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("Chromium not found at /usr/bin/chromium: apt-get install chromium to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is needed for the browser test: "
                        "pip install playwright (no browser download needed)")
    return path
