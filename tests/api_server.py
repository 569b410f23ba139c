"""Start the local API for tests that speak HTTP to it: `python -m core.server` as a real subprocess on a
free port, or an app from core.server.app.create_app under uvicorn in a thread of the test process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

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


@contextmanager
def serving(app) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port; yields the base URL ending in /v1."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the server takes this socket: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the API server did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
