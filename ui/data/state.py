"""The curator's working copy of a dataset: the latest version or the draft in progress.

Every change goes through `update()`, which writes the draft to the workspace at once, so a
refresh or a closed tab loses nothing; `save()` turns the draft into a new immutable version.
The page keeps the chosen dataset in the URL (`?dataset=ID`).
Two tabs on one dataset: each copy remembers which draft it read (`seen`, the draft's content
hash). A write over a draft another tab changed is refused, and `load()` then tells this tab and
offers to load the newer draft or to keep this tab's copy as a new version; nothing is lost.
Test: `pytest tests/app/test_data_edit.py tests/app/test_data_views.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.data import versions

KEY = "data_work"


@dataclass
class Work:
    dataset: versions.Dataset
    base: versions.Version  # the version the edits started from
    examples: list[dict]
    sha: str  # content hash of `examples`, the cache key for checks
    draft_at: str | None  # when the draft was last written; None when there are no unsaved edits
    seen: str | None = None  # the draft's content hash when this copy last read or wrote it; None: no draft

    @property
    def dirty(self) -> bool:
        return self.draft_at is not None


def _fresh(dataset: versions.Dataset) -> Work:
    draft = versions.load_draft(dataset.id)
    if draft:
        base = versions.get(draft.base_version_id)
        return Work(dataset, base, draft.examples, draft.sha256, draft.updated_at, draft.sha256)
    latest = versions.latest(dataset.id)
    return Work(dataset, latest, versions.examples(latest), latest.sha256, None)


def load(dataset: versions.Dataset) -> Work:
    """The working copy for a dataset, from this browser session or from the workspace.

    A copy with no edits follows the workspace (a newer version, another tab's draft); a copy with
    edits whose draft another tab has changed since is kept, and the tab is asked what to do."""
    work = st.session_state.get(KEY)
    head = versions.draft_head(dataset.id)
    now = head[0] if head else None
    if work is not None and work.dataset.id == dataset.id and work.dirty and now != work.seen:
        _conflict(work, head)
        return work
    if (
        work is None
        or work.dataset.id != dataset.id
        or (not work.dirty and (work.base.id != dataset.latest.id or now is not None))
    ):
        work = _fresh(dataset)
        st.session_state[KEY] = work
    return work


def _conflict(work: Work, head: tuple[str, str] | None) -> None:
    what = f"changed it (last written {head[1]} UTC)" if head else "saved it as a version or discarded it"
    st.warning(
        "**This tab's copy is out of date.** Another tab or window edited this dataset's draft after this "
        f"tab read it, and {what}. This tab's edits were not written over it. Choose which to keep:",
        icon=":material/sync_problem:",
    )
    c = st.columns(2)
    c[0].button("Load the newer draft", key="data_conflict_load", on_click=forget, help="Drops this tab's edits.")
    c[1].button(
        "Keep this tab's copy as a new version",
        key="data_conflict_keep",
        type="primary",
        on_click=save,
        args=(work, "kept from a tab whose draft another tab changed"),
        help="Saves this tab's copy as the newest version; the other tab's draft stays as it is.",
    )


def update(work: Work, examples: list[dict]) -> Work:
    """Replace the working examples; persisted as the dataset's draft immediately.

    If another tab changed the draft since this copy read it, nothing is written over it: the copy
    is kept in this session and the next `load()` asks which to keep."""
    try:
        sha = versions.save_draft(work.base, examples, seen=work.seen if work.dirty else None)
    except versions.DraftConflict as e:
        new = Work(work.dataset, work.base, examples, e.mine, "not saved: another tab changed the draft", work.seen)
    else:
        new = Work(work.dataset, work.base, examples, sha, "just now", sha)
    st.session_state[KEY] = new
    return new


def save(work: Work, note: str, splits: dict | None = None) -> versions.Version:
    """A new version from this copy; only the draft this copy came from is cleared, never another tab's."""
    version = versions.save(
        versions.latest(work.dataset.id), work.examples, note, splits, draft=work.seen if work.dirty else None
    )
    forget()
    return version


def discard(work: Work) -> None:
    versions.discard_draft(work.dataset.id)
    forget()


def forget() -> None:
    st.session_state.pop(KEY, None)


@st.cache_resource(max_entries=8, show_spinner=False)
def examples_of(sha: str) -> list[dict]:
    """Examples by content hash (drafts and versions share the blob store); callers must not mutate."""
    return versions.read_blob(sha)
