"""The Arena page's "Make preference data": the chosen sessions' human votes as a preference dataset version.

The counts with the rules come first (core.arena.preferences), then the action; the new version opens on the
Data page, where it is edited like any other.
Test: `pytest tests/app/test_arena_prefs.py`.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from core.arena import preferences, sessions
from core.data import preference, versions
from ui import DATA_PAGE
from ui.untrusted import inline, long_text

MADE = "arena_prefs_made"  # the version made last, to link to after the rerun
RULES = (
    "Only people's verdicts count: each **A better** / **B better** vote on an item and a pair of candidates (either "
    "side) joins that item's group, the side with more votes becomes the chosen answer, a group with as many votes "
    "each way is *split* and gives no pair; ties and both-bad votes give none. The pairs get their own "
    "train/validation split, by prompt."
)


def _label(s: sessions.Session) -> str:
    # Options are plain text, as the session picker's.
    return f"{s.name} (#{s.id}, {preference.plural(s.n_votes, 'vote', 'votes')})"


def _made_link() -> None:
    try:
        made = versions.get(st.session_state[MADE])
    except KeyError:  # nothing made yet in this browser session, or the version was deleted since
        return
    st.success(f"Made {inline(made.label)}: {preference.counted(made.n_examples)}, split by prompt.")
    params = {"dataset": str(made.dataset_id)}
    label = f"Open {inline(made.label)} on the Data page"  # a link's label is markdown, the name typed
    st.page_link(DATA_PAGE, label=label, icon=":material/dataset:", query_params=params)


def _origin(found: list[sessions.Session]) -> None:
    labels = []
    for s in found:
        with contextlib.suppress(KeyError):
            labels.append(versions.get(s.version_id).label if s.version_id else "")
    if any(labels):
        shown = ", ".join(inline(x) for x in dict.fromkeys(labels) if x)
        st.caption(
            f"The prompts come from the {found[0].split} split of {shown}: compare a model trained on these pairs "
            "on other prompts."
        )


def render(session: sessions.Session) -> None:
    """The action for `session`, which other sessions may join."""
    st.markdown("**Make preference data** (pairs of a chosen and a rejected answer, for DPO)")
    by_id = {s.id: s for s in sessions.list_sessions()}
    chosen = st.multiselect(
        "Sessions",
        list(by_id),
        default=[session.id],
        key=f"arena_prefs_sessions_{session.id}",
        format_func=lambda i: _label(by_id[i]),
    )
    if not chosen:
        st.info("Choose one or more sessions whose votes make the pairs.")
        return
    prefs = preferences.from_sessions(chosen)
    st.markdown(prefs.sentence)
    st.caption(RULES)
    if prefs.problem:
        st.warning(f"No preference data from these votes: {prefs.problem}")
        return
    picked = [by_id[i] for i in chosen]
    _origin(picked)
    name = st.text_input(
        "Dataset name", value=preferences.default_name(picked), key=f"arena_prefs_name_{'-'.join(map(str, chosen))}"
    )
    if st.button("Make preference data", type="primary", key="arena_prefs_make"):
        try:
            made, _ = preferences.make_version(chosen, name)
        except ValueError as e:
            long_text(e, draw=st.error)
        else:
            st.session_state[MADE] = made.id
    _made_link()
