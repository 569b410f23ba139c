"""The rater's view of a blind session: join by a name (a taken one is refused), then one anonymous
pair at a time, the vote, the reveal, the next pair, and a thank-you at the end. A rater comes back
through their own link (`?s=<token>&r=<key>`), shown once they join; never by typing the name again.

Blindness: nothing drawn before a vote names a candidate: widget keys are constant, the URL holds
only the session token and the rater's own key, and labels come back only from sessions.vote().
The vote is cast on the ticket that was drawn (kept in session_state while drawing), so a late or
doubled click can only repeat that vote, which core ignores, never land on the next pair.
Test: `pytest tests/app/test_rate_page.py tests/e2e/test_arena_browser.py`.
"""

from __future__ import annotations

import time

import streamlit as st

from core.arena import links, sessions
from ui.arena.manage import app_base
from ui.untrusted import inline, long_text

# (choice, button label, keyboard shortcut); 1-4 sit under the left hand, S skips.
BUTTONS = (
    ("left", "A is better", "1"),
    ("right", "B is better", "2"),
    ("tie", "Tie", "3"),
    ("both_bad", "Both are bad", "4"),
    ("skip", "Skip", "S"),
)
SAID = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both are bad"}
TICKET, SHOWN, REVEAL, ERROR = "rate_ticket", "rate_shown_at", "rate_reveal", "rate_error"
JOINED = "rate_joined"  # the key of the rater who just joined in this tab: their link is shown up front


def session_from_url() -> sessions.Session | None:
    """The session behind ?s=, or None after saying what is wrong."""
    token = st.query_params.get("s", "")
    session = sessions.by_token(token) if token else None
    if session is None:
        st.error(
            "This rating link does not match any session. Check that the whole link was copied, "
            "or ask the person who sent it for a new one."
        )
    return session


def current_rater(session: sessions.Session) -> sessions.Rater | None:
    """The rater behind ?r= when it belongs to this session (a refresh resumes where they were)."""
    key = st.query_params.get("r")
    if not key:
        return None
    rater = sessions.rater_by_key(key)
    if rater is None or rater.session_id != session.id:
        del st.query_params["r"]
        st.warning(
            "This link's rater part is not recognised here. Check that the whole link was copied, "
            "or enter a new name to start."
        )
        return None
    return rater


def join_form(session: sessions.Session) -> None:
    st.subheader(inline(session.name))
    if session.closed:
        st.info("This session is closed and no longer takes votes. Thank you for your interest.")
        return
    if session.instructions:
        long_text(session.instructions)
    st.caption(
        f"You will compare up to {session.per_rater} pairs of answers. The models stay anonymous "
        "until you vote. Once you start, you get your own link: it brings you back to where you stopped."
    )
    st.text_input("Your name", key="rate_name", max_chars=80)
    st.button("Start", key="rate_start", type="primary", on_click=_join, args=(session.token,))
    if ERROR in st.session_state:
        long_text(st.session_state.pop(ERROR), draw=st.error)


def _join(token: str) -> None:
    """Start's callback: the rater's key goes into the URL, so a refresh resumes where they were."""
    try:
        rater = sessions.join(token, st.session_state.get("rate_name", ""))
    except ValueError as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.query_params["r"] = st.session_state[JOINED] = rater.rater_key


def own_link(session: sessions.Session, rater: sessions.Rater) -> None:
    """The rater's own link: up front until their first vote, then folded away (typing the name again is refused)."""
    link = links.rater_link(app_base(), session.token, rater.rater_key)
    why = "it is the only way back to your pairs; whoever opens it rates as you, so keep it to yourself."
    if st.session_state.get(JOINED) == rater.rater_key:
        st.info(f"Bookmark this link to come back: {why}")
        st.code(link, language=None)
        return
    with st.expander("Your own link"):
        st.caption(f"Bookmark it to come back: {why}")
        st.code(link, language=None)


def _vote(rater_key: str, choice: str) -> None:
    """Button callback: the vote goes on the ticket drawn with the buttons, never a newer one."""
    st.session_state.pop(JOINED, None)  # voting means the link was seen; it stays under "Your own link"
    shown = st.session_state.get(SHOWN)
    ms = int((time.time() - shown) * 1000) if shown else None
    try:
        reveal = sessions.vote(rater_key, st.session_state.get(TICKET, ""), choice, ms)
    except ValueError as exc:
        st.session_state[ERROR] = str(exc)
        return
    if reveal.choice == "skip":  # nothing to reveal: a skip shows no names
        st.toast("Skipped.")
        return
    st.session_state[REVEAL] = (rater_key, reveal)  # tied to the rater: another link in this tab starts clean


def _prompt(messages: list[dict]) -> None:
    for m in messages:
        role, content = str(m.get("role", "user")), str(m.get("content") or "")
        if role == "system":
            long_text(content, draw=st.caption, before="System instructions: ")
        else:
            with st.chat_message("user" if role == "user" else "assistant"):
                long_text(content)


def _answers(a: sessions.Assignment) -> None:
    for column, side, text in zip(st.columns(2), ("A", "B"), (a.left_text, a.right_text), strict=True):
        with column.container(border=True):
            st.markdown(f"#### {side}")
            long_text(text, empty="*(empty answer)*")


def _buttons(rater_key: str) -> None:
    for column, (choice, label, key) in zip(st.columns(len(BUTTONS)), BUTTONS, strict=True):
        column.button(
            label,
            key=f"rate_{choice}",
            on_click=_vote,
            args=(rater_key, choice),
            shortcut=key,
            help=f"Keyboard: {key}",
            width="stretch",
            type="primary" if choice != "skip" else "secondary",
        )


def _show_reveal(reveal: sessions.Reveal) -> None:
    st.success(f"A was **{inline(reveal.left_label)}**, B was **{inline(reveal.right_label)}**.")
    said = SAID.get(reveal.choice, reveal.choice)
    winner = f": {inline(reveal.winner_label)}" if reveal.winner_label else ""
    again = " (this pair already had your vote; it was kept)" if reveal.duplicate else ""
    st.markdown(f"You said {said}{winner}{again}.")
    st.button("Next pair", key="rate_next", type="primary", shortcut="N", help="Keyboard: N", on_click=_next)


def _next() -> None:
    st.session_state.pop(REVEAL, None)


def vote_view(session: sessions.Session, rater: sessions.Rater) -> None:
    """The current pair, or the reveal of the last vote, or the thank-you."""
    st.caption(f"{inline(session.name)} · rating as {inline(rater.name)}")
    own_link(session, rater)
    if ERROR in st.session_state:
        long_text(st.session_state.pop(ERROR), draw=st.error)
    owner, reveal = st.session_state.get(REVEAL, (None, None))
    if owner == rater.rater_key:
        _show_reveal(reveal)
        return
    if session.closed:
        st.info("This session is closed and no longer takes votes. Thank you for rating.")
        return
    a = sessions.next_assignment(rater.rater_key)
    if a is None:
        done, _ = sessions.progress(rater.rater_key)
        st.success(f"All done, thank you {inline(rater.name)}! You went through {done} pairs.")
        return
    st.session_state[TICKET], st.session_state[SHOWN] = a.ticket, time.time()
    st.progress(a.done / a.total, text=f"Pair {a.done + 1} of {a.total}")
    with st.expander("Instructions"):
        long_text(session.instructions, empty="Pick the better answer.")
    _prompt(a.prompt)
    _answers(a)
    _buttons(rater.rater_key)
