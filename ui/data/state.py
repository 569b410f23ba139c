"""The curator's working copy of a dataset: the latest version or the draft in progress.

Every change goes through `update()`, which writes the draft to the workspace at once, so a
refresh or a closed tab loses nothing; `save()` turns the draft into a new immutable version.
The page keeps the chosen dataset in the URL (`?dataset=ID`).
Test: `pytest tests/app/test_data_edit.py`.
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

    @property
    def dirty(self) -> bool:
        return self.draft_at is not None


def _fresh(dataset: versions.Dataset) -> Work:
    draft = versions.load_draft(dataset.id)
    if draft:
        return Work(dataset, versions.get(draft.base_version_id), draft.examples, draft.sha256, draft.updated_at)
    latest = versions.latest(dataset.id)
    return Work(dataset, latest, versions.examples(latest), latest.sha256, None)


def load(dataset: versions.Dataset) -> Work:
    """The working copy for a dataset, from this browser session or from the workspace."""
    work = st.session_state.get(KEY)
    if work is None or work.dataset.id != dataset.id or (not work.dirty and work.base.id != dataset.latest.id):
        work = _fresh(dataset)
        st.session_state[KEY] = work
    return work


def update(work: Work, examples: list[dict]) -> Work:
    """Replace the working examples; persisted as the dataset's draft immediately."""
    sha = versions.save_draft(work.base, examples)
    new = Work(work.dataset, work.base, examples, sha, "just now")
    st.session_state[KEY] = new
    return new


def save(work: Work, note: str, splits: dict | None = None) -> versions.Version:
    version = versions.save(versions.latest(work.dataset.id), work.examples, note, splits)
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
