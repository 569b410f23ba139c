"""Start `python -m core.server` as a real subprocess on a free port, for tests that speak HTTP to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def start(home: Path, base_model: Path, key: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    """(process, base URL ending in /v1) once the server answers; the log says why when it does not."""
    port = free_port()
    env = dict(os.environ, FT_HOME=str(home), FT_API_KEY=key, FT_API_BASE_MODEL=str(base_model))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    assert proc.poll() is None, log_path.read_text()
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(15)
