"""The rater's page through the real router (app.py with ?s=<token>): join, vote, reveal, next, resume.

Sessions are made with core.arena.sessions directly; each candidate's answers start with a word
that names no candidate, so the test can tell which side is which without the page's help.
Run: `.venv/bin/pytest tests/app/test_rate_page.py -q`.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.arena import sessions

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [
    {"key": "cand_base_7f3", "label": "Base SmolLM2"},
    {"key": "cand_tuned_9c1", "label": "Tuned LoRA"},
]
WORD = {"cand_base_7f3": "alpha", "cand_tuned_9c1": "bravo"}
SECRETS = [x for c in CANDIDATES for x in (c["key"], c["label"])]


def make_session(n: int = 3, **kw) -> sessions.Session:
    items = [
        {
            "prompt": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"question {i}"},
            ],
            "reference": f"reference {i}",
            "answers": {key: f"{word} answer {i}" for key, word in WORD.items()},
        }
        for i in range(n)
    ]
    kw = {"prompts_per_rater": n, "overlap": 1, "instructions": "Pick the clearer answer.", **kw}
    return sessions.create("pilot", CANDIDATES, items, **kw)


def rate_page(token: str, rater_key: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["s"] = token
    if rater_key:
        at.query_params["r"] = rater_key
    return at.run()


def everything(at: AppTest) -> str:
    """Every drawn element's protobuf: texts, labels, help, widget ids and keys."""
    out, todo = [], [at._tree]
    while todo:
        node = todo.pop()
        if hasattr(node, "proto") and node.proto is not None:
            out.append(str(node.proto))
        todo.extend(getattr(node, "children", {}).values())
    return "\n".join(out)


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def join(at: AppTest, name: str) -> AppTest:
    at.text_input(key="rate_name").set_value(name)
    return at.button(key="rate_start").click().run()


def test_an_unknown_token_says_so_without_a_traceback():
    at = rate_page("not-a-session")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Blind comparison"]
    assert "does not match any session" in texts(at, "error")
    assert not at.text_input and not at.button


def test_the_rater_page_is_alone_without_navigation():
    at = rate_page(make_session().token)
    assert not at.exception, at.exception
    # The router registered only the rater page (at / and /rate, hidden), so there is nowhere else to go.
    assert {Path(p["script_path"]).name for p in at._registered_pages.values()} == {"rate.py"}
    assert not at.sidebar.children
    assert "pilot" in texts(at, "subheader") and "Pick the clearer answer." in texts(at, "markdown")


def test_join_vote_reveal_next_and_resume():
    session = make_session()
    at = join(rate_page(session.token), "Ann")
    assert not at.exception, at.exception
    rater_key = at.query_params["r"]
    assert sessions.rater_by_key(rater_key).name == "Ann"
    page = everything(at)
    assert "question" in page and "alpha answer" in page and "bravo answer" in page
    assert "rate_left" in page and "Be brief." in page  # the walk sees widget ids and every message
    assert not any(secret in page for secret in SECRETS)  # blind before the vote
    assert not any(secret in str(at.query_params) for secret in SECRETS)
    assert at.get("progress")[0].proto.text == "Pair 1 of 3"
    left_word = at.markdown[[m.value for m in at.markdown].index("#### A") + 1].value.split()[0]
    left_label = next(c["label"] for c in CANDIDATES if WORD[c["key"]] == left_word)

    at.button(key="rate_left").click().run()
    assert not at.exception, at.exception
    assert f"was **{left_label}**" in texts(at, "success").split(",")[0]  # "A was <left label>, ..."
    assert f"You said A is better: {left_label}." in texts(at, "markdown")
    [row] = sessions.vote_rows(session.id)
    assert (row["rater"], row["choice"], row["model_a"]) == ("Ann", "left", left_label)

    at.button(key="rate_next").click().run()
    assert at.get("progress")[0].proto.text == "Pair 2 of 3"
    at.button(key="rate_skip").click().run()  # a skip moves straight on, no reveal
    assert at.get("progress")[0].proto.text == "Pair 3 of 3"

    fresh = rate_page(session.token, rater_key)  # a refresh: the URL alone resumes
    assert not fresh.exception, fresh.exception
    assert fresh.get("progress")[0].proto.text == "Pair 3 of 3" and not fresh.text_input
    fresh.button(key="rate_tie").click().run()
    fresh.button(key="rate_next").click().run()
    assert "All done, thank you Ann! You went through 3 pairs." in texts(fresh, "success")
    assert [r["choice"] for r in sessions.vote_rows(session.id)] == ["left", "tie"]


def test_a_late_second_click_can_only_repeat_the_vote_it_was_made_on():
    session = make_session()
    at = join(rate_page(session.token), "Bob")
    rater_key = at.query_params["r"]
    first = sessions.next_assignment(rater_key).ticket
    assert at.session_state["rate_ticket"] == first  # what the vote buttons' callback sends
    at.button(key="rate_left").click().run()
    assert at.session_state["rate_ticket"] == first  # the reveal does not move it on
    again = sessions.vote(rater_key, first, "right")  # a doubled click's callback, arriving late
    assert again.duplicate and again.choice == "left"
    at.button(key="rate_next").click().run()
    assert at.session_state["rate_ticket"] == sessions.next_assignment(rater_key).ticket != first
    assert [r["choice"] for r in sessions.vote_rows(session.id)] == ["left"]


def test_a_closed_session_and_an_empty_name_are_explained():
    session = make_session()
    at = join(rate_page(session.token), "   ")
    assert "enter your name" in texts(at, "error") and "r" not in at.query_params
    sessions.close(session.id)
    at = rate_page(session.token)
    assert "closed" in texts(at, "info") and not at.text_input


def test_a_taken_name_is_refused_and_only_the_raters_own_link_resumes():
    session = make_session()
    ann = join(rate_page(session.token), "Ann")
    ann_key = ann.query_params["r"]
    # Right after joining, the rater is shown their own link to bookmark: it holds their key.
    assert "bookmark this link to come back" in texts(ann, "info").lower()
    assert any(f"/rate?s={session.token}&r={ann_key}" in c.value for c in ann.code)
    ann.button(key="rate_left").click().run()
    ann.button(key="rate_next").click().run()

    other = join(rate_page(session.token), "ann")  # someone else with the rater link types her name
    assert not other.exception, other.exception
    assert "r" not in other.query_params
    assert "the name 'ann' is taken in this session; if it is you, open your own link" in texts(other, "error")
    page = everything(other)
    assert ann_key not in page and "alpha answer" not in page and "bravo answer" not in page
    assert "rate_left" not in page and not other.get("progress")
    assert [r["rater"] for r in sessions.vote_rows(session.id)] == ["Ann"]

    back = rate_page(session.token, ann_key)  # her own link resumes where she stopped
    assert not back.exception, back.exception
    assert back.get("progress")[0].proto.text == "Pair 2 of 3" and not back.text_input
    assert [e.label for e in back.expander] == ["Your own link", "Instructions"]  # still at hand, folded away
    assert any(c.value.endswith(f"/rate?s={session.token}&r={ann_key}") for c in back.code)
