"""From a voted arena session to preference data in a real browser: the counts, Make preference data, and the new
version opened from the link on the Data page.

The session and its votes are written with core.arena.sessions into the workspace the session's server reads
(three items; two raters prefer the tuned answer on two of them, and split on the third).
Run: `.venv/bin/pytest tests/e2e/test_arena_prefs_browser.py -q`.
"""

from __future__ import annotations

from core.arena import sessions
from core.data import versions
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle

CANDIDATES = [{"key": "base_model", "label": "Base"}, {"key": "tuned_model", "label": "Tuned"}]
SENTENCE = "6 votes: 0 ties, 0 both bad; 6 A/B votes in 3 groups -> 2 pairs, 1 split"


def voted_session() -> sessions.Session:
    items = [
        {
            "prompt": [{"role": "user", "content": f"prefs question {i}"}],
            "answers": {"base_model": f"base answer {i}", "tuned_model": f"tuned answer {i}"},
        }
        for i in range(3)
    ]
    session = sessions.create("prefs-e2e", CANDIDATES, items, prompts_per_rater=3, overlap=3)
    for rater, likes_base in (("ann", set()), ("bob", {"prefs question 2"})):
        key = sessions.join(session.token, rater).rater_key
        while (a := sessions.next_assignment(key)) is not None:
            tuned_left = a.left_text.startswith("tuned")
            sessions.vote(key, a.ticket, "left" if tuned_left != (a.prompt[-1]["content"] in likes_base) else "right")
    return session


def test_make_preference_data_and_open_it_on_the_data_page(server, page):
    session = voted_session()
    open_page(page, server, f"arena?session={session.id}")
    assert_no_exception(page)
    page.get_by_text(SENTENCE.replace("->", "→")).wait_for()  # Streamlit's markdown draws the arrow
    page.locator(".st-key-arena_prefs_make button:visible").first.click()
    wait_idle(page)
    assert_no_exception(page)
    [made] = [d for d in versions.datasets() if d.name == "prefs-e2e preferences"]
    assert (made.latest.kind, made.latest.n_examples) == ("preference", 2)
    page.get_by_text(f"Made {made.latest.label}: 2 preference pairs").wait_for()
    page.get_by_role("link", name=f"Open {made.latest.label} on the Data page").click()
    page.wait_for_url(f"**/data?dataset={made.id}")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("A preference dataset: each example is a prompt").wait_for()
    assert "prefs-e2e preferences (v1, 2 preference pairs)" in page.locator(".st-key-data_dataset").inner_html()
