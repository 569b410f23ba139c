"""The Arena page's session list and the chosen session's panel: share link, counts, close/reopen,
downloads. The chosen session's id lives in `?session=<id>`, so a refresh keeps it.

Test: `pytest tests/app/test_arena_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.arena import links, sessions
from ui.untrusted import inline


def when(stamp: str) -> str:
    """ "2026-11-28 16:33:39.417" -> "2026-11-28 16:33" (UTC, as SQLite stores it)."""
    return f"{str(stamp)[:16]} UTC" if stamp else "-"


def app_base() -> str:
    """The app's root URL as the owner's browser sees it, for links raters can open."""
    return links.base_url(st.context.url, dict(st.context.headers))


def table(found: list[sessions.Session], base: str) -> None:
    rows = [
        {
            "Session": s.name,
            "Created": when(s.created_at),
            "Candidates": len(s.candidates),
            "Raters": s.n_raters,
            "Votes": s.n_votes,
            "State": "closed" if s.closed else "open",
            "Link": links.share_link(base, s.token),
        }
        for s in found
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"Link": st.column_config.LinkColumn("Rater link", display_text="open")},
    )


def _remember() -> None:
    st.query_params["session"] = str(st.session_state["arena_session"])


def pick(found: list[sessions.Session]) -> sessions.Session:
    by_id = {s.id: s for s in found}
    wanted = st.query_params.get("session", "")
    if wanted.isdigit() and int(wanted) in by_id:
        st.session_state["arena_session"] = int(wanted)
    elif st.session_state.get("arena_session") not in by_id:
        st.session_state["arena_session"] = found[0].id  # the newest
    chosen = st.selectbox(
        "Session",
        list(by_id),
        key="arena_session",
        on_change=_remember,
        format_func=lambda i: (
            f"{by_id[i].name} · {when(by_id[i].created_at)}" + (" · closed" if by_id[i].closed else "")
        ),
    )
    return by_id[chosen]


def _open_close(session: sessions.Session) -> None:
    # Callbacks, not `if st.button`: the change is stored before the page redraws, whatever reruns it.
    if session.closed:
        st.warning("This session is closed: raters see a closed notice and no votes are recorded.")
        st.button("Reopen the session", key="arena_reopen", on_click=sessions.reopen, args=(session.id,))
    else:
        st.button(
            "Close the session",
            key="arena_close",
            on_click=sessions.close,
            args=(session.id,),
            help="Stop taking votes and new raters; everything stored stays.",
        )


def panel(session: sessions.Session, base: str) -> None:
    """Share link, who has rated so far, and the owner's actions."""
    st.subheader(inline(session.name))
    labels = ", ".join(inline(c.label) for c in session.candidates)
    st.caption(
        f"{len(session.candidates)} candidates: {labels} · {session.n_items} items · "
        f"{session.per_rater} per rater, {session.overlap} shared · created {when(session.created_at)}"
    )
    st.markdown("**Rater link**: send it to each rater; they enter a name and vote, nothing else to install.")
    st.code(links.share_link(base, session.token), language=None)
    n = sessions.counts(session.id)
    cols = st.columns(4)
    cols[0].metric("Raters", n["raters"])
    cols[1].metric("Votes", n["votes"])
    cols[2].metric("Skipped", n["skips"])
    cols[3].metric("Pairs assigned", n["assignments"])
    _open_close(session)
