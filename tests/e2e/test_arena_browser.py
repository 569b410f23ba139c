"""The blind arena in a real browser: the owner makes a session, two raters vote blind, the owner reads it.

A fresh workspace is prepared before its own `streamlit run` starts: a dataset version with a test
split, and two candidates' answers written straight into core.eval.generate's cache (the base
model and a trained run; no model runs). The owner creates the session on the Arena page and
copies the rater link; two raters in separate browser contexts open it, give names and vote. Before
every vote the whole DOM and the URL are searched for any candidate label or key.
Run: `.venv/bin/pytest tests/e2e/test_arena_browser.py -q`.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from core.arena import sessions
from core.data import versions
from core.eval import candidates, generate
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from tests.e2e.conftest import assert_no_exception, free_port, open_page, start_streamlit, wait_idle

BASE = candidates.base()
RUN_ID = "20250101-000000-e2e1"
RUN = Candidate("run", "smollm2-135m-instruct", f"Run {RUN_ID}: lora", run_id=RUN_ID)
REFERENCE = "red fox ran far"
ANSWERS = {BASE: REFERENCE, RUN: "red fox"}
N_TEST = 6


def prepare() -> list[str]:
    """The version and both caches; returns every string that would give a candidate away."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": REFERENCE},
            ]
        }
        for i in range(N_TEST + 2)
    ]
    first = versions.create("arena-e2e", rows)
    splits = {"train": [0, 1], "validation": [], "test": list(range(2, N_TEST + 2))}
    version = versions.save(first, rows, "split", splits)
    secrets = [RUN_ID]
    for cand, answer in ANSWERS.items():
        out = [{"index": i, "prediction": answer, "n_tokens": 2} for i in range(N_TEST)]
        generate.save_outputs(cand, version, "test", GenParams(), out, {"finished_at": time.time()})
        secrets += [cand.label, cand.key, generate.cache_key(cand, version, "test", GenParams())]
    return secrets


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    """(base URL, workspace, secrets) of a server started on an already prepared workspace."""
    home = tmp_path_factory.mktemp("arena_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(home))
        secrets = prepare()
    port = free_port()
    proc = start_streamlit(home, port)
    yield f"http://127.0.0.1:{port}", home, secrets
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def fill(page, key: str, value) -> None:
    box = page.locator(f".st-key-{key} input, .st-key-{key} textarea").first
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def button(page, key: str):
    # A button whose label may be cut short is drawn twice (one copy only measures): take the visible one.
    return page.locator(f".st-key-{key} button:visible").first


def click(page, key: str) -> None:
    button(page, key).click()
    wait_idle(page)


def create_session(page, base: str) -> str:
    """The owner's part: fill in the form, Create, and read the rater link it shows."""
    open_page(page, base, "arena")
    assert_no_exception(page)
    fill(page, "arena_name", "pilot")
    fill(page, "arena_per_rater", 5)
    fill(page, "arena_overlap", 2)
    click(page, "arena_create")
    assert_no_exception(page)
    code = page.locator('[data-testid="stCode"]', has_text="/rate?s=").first
    code.wait_for()
    link = code.inner_text().strip()
    assert re.fullmatch(re.escape(base) + r"/rate\?s=[\w-]+", link), link
    return link


def assert_blind(page, secrets: list[str]) -> None:
    seen = (page.content() + "\n" + page.url).lower()
    leaked = [s for s in secrets if s.lower() in seen]
    assert not leaked, f"the rater page shows {leaked} before the vote"


def join(context, link: str, name: str, secrets: list[str]):
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(link)
    wait_idle(page)
    page.wait_for_timeout(500)  # a "Page not found" dialog opens just after the first run
    dialogs = page.locator('[role="dialog"]')
    assert dialogs.count() == 0, f"the rater link opens a dialog: {dialogs.first.inner_text()!r}"
    assert_no_exception(page)
    # The rater sees the vote and nothing else: no sidebar, no page list.
    assert page.locator('[data-testid="stSidebar"], [data-testid="stSidebarNav"]').count() == 0
    assert_blind(page, secrets)
    fill(page, "rate_name", name)
    click(page, "rate_start")
    page.wait_for_url(re.compile(r".*[?&]r=[\w-]+"))
    # The rater's own link, to bookmark: the share link with their key, on the host the browser used.
    key = re.search(r"[?&]r=([\w-]+)", page.url).group(1)
    own = page.locator('[data-testid="stCode"]', has_text="&r=").first.inner_text().strip()
    assert own == f"{link}&r={key}", own
    return page


def vote(page, choice: str, secrets: list[str], labels: list[str], shortcut: str | None = None) -> None:
    """One blind vote: the DOM holds no secret before it, the reveal names both candidates after."""
    button(page, "rate_left").wait_for()
    assert_blind(page, secrets)
    if shortcut:
        page.keyboard.press(shortcut)
        wait_idle(page)
    else:
        click(page, f"rate_{choice}")
    reveal = page.get_by_text(re.compile(r"^A was .+, B was .+\.$")).first
    reveal.wait_for()
    assert sorted(labels) == sorted(re.findall("|".join(map(re.escape, labels)), reveal.inner_text()))
    click(page, "rate_next")
    assert_no_exception(page)


def test_two_raters_vote_blind_and_the_owner_reads_the_verdict(arena, browser, page, monkeypatch):
    base, home, secrets = arena
    monkeypatch.setenv("FT_HOME", str(home))
    labels = [BASE.label, RUN.label]
    link = create_session(page, base)
    [session] = sessions.list_sessions()
    assert session.token in link and session.per_rater == 5

    contexts = [browser.new_context(viewport={"width": 1300, "height": 1000}) for _ in range(2)]
    try:
        ann = join(contexts[0], link, "Ann", secrets)
        for choice in ("left", "right", "tie", "both_bad", "left"):
            vote(ann, choice, secrets, labels)
        ann.get_by_text("All done, thank you Ann! You went through 5 pairs.").wait_for()
        bob = join(contexts[1], link, "Bob", secrets)
        vote(bob, "right", secrets, labels)
        vote(bob, "left", secrets, labels, shortcut="1")  # the keyboard works as the button does
    finally:
        for context in contexts:
            context.close()
    assert sessions.counts(session.id)["votes"] == 7
    assert [r["choice"] for r in sessions.vote_rows(session.id) if r["rater"] == "Bob"] == ["right", "left"]

    open_page(page, base, f"arena?session={session.id}")
    assert_no_exception(page)
    board = page.locator('[data-testid="stTable"]', has_text="95% interval").first
    rouge = page.locator('[data-testid="stTable"]', has_text="ROUGE-L").first
    board_text = board.inner_text()
    assert all(label in board_text for label in labels)
    assert len(re.findall(r"\d+ to \d+", board_text)) == 2  # an interval per candidate
    assert "1.000" in rouge.inner_text() and "0.667" in rouge.inner_text()
    left, right = board.bounding_box(), rouge.bounding_box()
    assert left["x"] + left["width"] <= right["x"] and right["y"] < left["y"] + left["height"]  # side by side
