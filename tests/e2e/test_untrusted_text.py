"""Untrusted text in a real browser: a session whose every string tries to load a URL or disguise a link.

A listener on a free loopback port stands in for an outside host. The session's name, instructions,
prompts, answers, candidate labels and raters' names carry a markdown image, a raw `<img>` and a
"re-enter your admin token" link, all pointing at the listener. The rater page (joined through its
form, one vote, the reveal) and the owner's Arena page must show that text as text: the listener sees
no request, no image points at it, and every link to it shows its own URL.
Run: `.venv/bin/pytest tests/e2e/test_untrusted_text.py -q`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import safe_text
from core.arena import sessions
from tests.e2e.conftest import assert_no_exception, open_page
from tests.e2e.test_arena_browser import click

PHISH_TEXT = "re-enter your admin token"


class Listener(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Listener.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):  # quiet: the test reads `seen`
        pass


@pytest.fixture
def listener():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    Listener.seen = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], Listener.seen
    httpd.shutdown()
    httpd.server_close()


def hostile(port: int, what: str) -> str:
    """Markdown and HTML that would fetch from, or link to, the listener; `what` names the request."""
    url = f"http://127.0.0.1:{port}"
    return (
        f"{what} ![]({url}/{what}-md.png) <img src='{url}/{what}-html.png'> "
        f"[{PHISH_TEXT}]({url}/{what}-phish) ![ref][{what}]\n\n[{what}]: {url}/{what}-ref.png"
    )


def rater_name(port: int) -> str:
    return f"![](http://127.0.0.1:{port}/r.png) [re-enter token](http://127.0.0.1:{port}/p)"  # within 80 characters


def make_session(port: int) -> sessions.Session:
    labels = [f"![](http://127.0.0.1:{port}/label-{side}.png) {side}" for side in ("a", "b")]
    items = [
        {
            "prompt": [
                {"role": "system", "content": hostile(port, "system")},
                {"role": "user", "content": hostile(port, "prompt")},
            ],
            "reference": "r",
            "answers": {"a": hostile(port, "answer"), "b": "plain answer\n\n- a list\n- `code`"},
        }
        for _ in range(12)
    ]
    session = sessions.create(
        hostile(port, "session").splitlines()[0],
        [{"key": "a", "label": labels[0]}, {"key": "b", "label": labels[1]}],
        items,
        prompts_per_rater=12,
        overlap=0,
        instructions=hostile(port, "instructions"),
    )
    biased = sessions.join(session.token, rater_name(port))
    while (a := sessions.next_assignment(biased.rater_key)) is not None:  # always left: the owner is warned
        sessions.vote(biased.rater_key, a.ticket, "left")
    return session


def shown(pg) -> str:
    """The page's text as a reader sees it (the word joiners core.safe_text adds are invisible)."""
    return pg.locator("body").inner_text().replace(safe_text.JOINER, "")


def assert_inert(pg, port: int, seen: list[str]) -> None:
    """Nothing loaded from the listener, no image points there, every link there shows its own URL."""
    pg.wait_for_function("Array.from(document.images).every(i => i.complete)")
    assert pg.locator(f'img[src*=":{port}"]').count() == 0
    for link in pg.locator(f'a[href*=":{port}"]').all():
        assert link.text_content().strip() == link.get_attribute("href"), "a link hides its target"
    assert seen == [], f"the browser fetched {seen}"
    assert_no_exception(pg)


def test_the_rater_and_the_owner_see_hostile_text_as_text(server, page, listener):
    port, seen = listener
    session = make_session(port)

    open_page(page, server, f"rate?s={session.token}")
    assert f"instructions ![](http://127.0.0.1:{port}/instructions-md.png)" in shown(page)
    assert_inert(page, port, seen)

    box = page.locator(".st-key-rate_name input")
    box.fill(f"![](http://127.0.0.1:{port}/me.png)")
    box.press("Enter")
    click(page, "rate_start")
    text = shown(page)
    assert f"rating as ![](http://127.0.0.1:{port}/me.png)" in text
    assert (
        f"answer ![](http://127.0.0.1:{port}/answer-md.png) <img src='http://127.0.0.1:{port}/answer-html.png'>"
        in text
    )
    assert f"[{PHISH_TEXT}](http://127.0.0.1:{port}/prompt-phish)" in text
    assert page.locator("li code", has_text="code").count() >= 1  # the other answer's markdown still reads
    assert_inert(page, port, seen)

    click(page, "rate_left")
    page.get_by_text("A was").wait_for()
    assert f"![](http://127.0.0.1:{port}/label-" in shown(page)
    assert_inert(page, port, seen)

    open_page(page, server, f"arena?session={session.id}")
    page.get_by_text("chose the left answer").wait_for()
    text = shown(page)
    assert f"{rater_name(port)} chose the left answer" in text
    assert f"![](http://127.0.0.1:{port}/label-a.png) a" in text  # the leaderboard's cell, as typed
    assert page.locator(f'a[href*=":{port}"]').count() == 0  # names and labels link nowhere, not even visibly
    assert_inert(page, port, seen)
