"""The Arena page's "New session" form: a version with a test split and two or more candidates' cached
answers on it (ui.pickers), the candidates, prompts per rater, overlap, instructions; Create stores it.

Widgets are keyed `arena_*`. Test: `pytest tests/app/test_arena_page.py tests/app/test_pickers.py`.
"""

from __future__ import annotations

import streamlit as st

from core.arena import build
from core.data import versions
from ui import pickers
from ui.untrusted import inline, long_text

PER_RATER, OVERLAP = 20, 5  # defaults: a pilot a rater finishes in ten minutes, a few shared items
ERROR, CREATED = "arena_create_error", "arena_created"


def pick_candidates(found: list[build.Option]) -> None:
    by_key = {o.key: o for o in found}
    kept = [k for k in st.session_state.get("arena_candidates", []) if k in by_key]
    st.session_state["arena_candidates"] = kept or list(by_key)  # all of them until the owner chooses
    st.multiselect(
        "Candidates",
        list(by_key),
        key="arena_candidates",
        format_func=lambda k: f"{by_key[k].label} · {by_key[k].n} answers",
        help="Whose answers the raters compare, two at a time. Labels stay hidden until each vote.",
    )


def _defaults(version: versions.Version) -> None:
    """Starting values, set once per browser session (the widgets then keep what the owner typed)."""
    n = build.n_test(version)
    st.session_state.setdefault("arena_name", f"{version.label}: blind comparison")
    st.session_state.setdefault("arena_per_rater", min(PER_RATER, n))
    st.session_state.setdefault("arena_overlap", min(OVERLAP, st.session_state["arena_per_rater"]))
    st.session_state.setdefault("arena_instructions", build.DEFAULT_INSTRUCTIONS)


def _fields(n_items: int) -> None:
    st.text_input("Session name", key="arena_name")
    left, right = st.columns(2)
    left.number_input(
        "Prompts per rater",
        min_value=1,
        step=1,
        key="arena_per_rater",
        help=f"Pairs each rater is given (at most the {n_items} test examples).",
    )
    right.number_input(
        "Overlap",
        min_value=0,
        step=1,
        key="arena_overlap",
        help="Items every rater sees, with the same pair of candidates: inter-rater agreement "
        "is measured on them. At most the prompts per rater.",
    )
    st.text_area("Instructions for raters", key="arena_instructions")


def draft_from_state() -> build.Draft:
    """The form as the owner left it; read in the callback, so a value typed just before the click counts."""
    state = st.session_state
    try:
        version = versions.get(int(state["arena_version"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError("choose a dataset version with a test split") from None
    by_key = {o.key: o for o in build.available(version)}
    chosen = tuple(by_key[k] for k in state.get("arena_candidates", []) if k in by_key)
    sizes = int(state.get("arena_per_rater") or 0), int(state.get("arena_overlap") or 0)
    return build.Draft(state.get("arena_name", ""), version, chosen, *sizes, state.get("arena_instructions", ""))


def _create() -> None:
    """Create's callback: it runs before the page redraws, so the new session can be chosen below."""
    try:
        session = build.create(draft_from_state())
    except ValueError as exc:
        st.session_state[ERROR] = f"Cannot create the session: {exc}"
        return
    st.session_state["arena_session"] = session.id
    st.query_params["session"] = str(session.id)
    st.session_state[CREATED] = (
        f"Session {inline(repr(session.name))} created: send its rater link (below) to each rater."
    )


def render(expanded: bool) -> None:
    """The form in an expander, with what the last Create did."""
    with st.expander("New session", expanded=expanded, icon=":material/add:"):
        version = pickers.pick_version("arena", need="answers")
        if version is None:
            return
        pick_candidates(build.available(version))
        _defaults(version)
        _fields(build.n_test(version))
        st.button("Create session", key="arena_create", type="primary", on_click=_create)
        if ERROR in st.session_state:
            long_text(st.session_state.pop(ERROR), draw=st.error)
    if CREATED in st.session_state:
        st.success(st.session_state.pop(CREATED))
