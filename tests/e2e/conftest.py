"""Browser tier: a real `streamlit run` on a free loopback port, driven by Debian's chromium.

Never `playwright install`: Playwright drives /usr/bin/chromium (the Makefile installs it).

One workspace for the whole session (`e2e_home`, served by the session's `server`): starting a server
per test would cost seconds each. So a test sees whatever the tests before it left (datasets, runs,
cached answers, prices), in an order pytest does not promise. A test on the shared server makes what
it needs under its own name and finds it by that name or id (as "the newest" only right after making
it itself, never as "the only" one), and counts only what it made (before and after, not totals).
A test that needs an empty or a prepared workspace starts its own server on its own folder, as
test_arena_browser.py and test_deep_link.py do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(home: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, FT_HOME=str(home), PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    log = open(home / f"streamlit-{port}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {(home / f'streamlit-{port}.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy in 60 s")


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e_home")
    return home


@pytest.fixture(scope="session")
def server(e2e_home):
    port = free_port()
    proc = start_streamlit(e2e_home, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(autouse=True)
def ft_home(e2e_home, monkeypatch):
    # Tests and the session's server read and write the same workspace (see the module docstring).
    monkeypatch.setenv("FT_HOME", str(e2e_home))
    return e2e_home


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is missing: `make test` installs it"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def wait_idle(pg, timeout: float = 30_000) -> None:
    """Wait until the Streamlit script has finished its run."""
    pg.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    pg.wait_for_timeout(200)
    pg.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def open_page(pg, base: str, path: str = "") -> None:
    pg.goto(f"{base}/{path}")
    wait_idle(pg)


def assert_no_exception(pg) -> None:
    errors = pg.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
