"""The Evaluate page's dataset version picker: only versions with a held-out test split qualify.

The chosen version id sits in the URL (`?version=<id>`), so a refreshed page shows the same
version and finds its running jobs again. Test: `pytest tests/app/test_evaluate_page.py`.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core.data import versions
from core.eval import SPLIT
from ui import DATA_PAGE

DATASET, VERSION = "eval_dataset", "eval_version"


def with_test(dataset_id: int) -> dict[int, versions.Version]:
    """The dataset's versions that have test examples, newest first."""
    return {v.id: v for v in versions.history(dataset_id) if v.splits and v.splits.get(SPLIT)}


def version_label(v: versions.Version) -> str:
    n = {s: len(v.splits.get(s, [])) for s in versions.SPLITS}
    return f"v{v.number}: {n['test']} test / {n['train']} train / {n['validation']} validation · {v.note}"


def _none_yet(name: str | None, dataset_id: int | None) -> None:
    where = f"**{name}** has no version with a test split yet" if name else "No dataset yet"
    st.info(
        f"{where}. Evaluation scores each model's answers on held-out test examples it never trained "
        "on (the guide suggests 10-20% of the data). On the Data page, open **Split & export**, make a "
        "split with a test share and save it as a version, then come back here."
    )
    params = {"dataset": str(dataset_id)} if dataset_id else None
    st.page_link(DATA_PAGE, label="Open the Data page", icon=":material/dataset:", query_params=params)


def _from_url(known: dict) -> int | None:
    """The dataset of the version named in the URL, if it is one of ours."""
    try:
        wanted = versions.get(int(st.query_params.get("version", "")))
    except (KeyError, ValueError):
        return None
    return wanted.dataset_id if wanted.dataset_id in known else None


def _default_dataset(known: dict) -> int:
    ready = [i for i in known if with_test(i)]
    return _from_url(known) or (ready or list(known))[-1]  # the newest dataset that can be evaluated


def _on_dataset() -> None:
    st.session_state.pop(VERSION, None)
    st.query_params.pop("version", None)


def pick_version() -> versions.Version | None:
    """A dataset version with a test split, or None after saying how to make one."""
    known = {d.id: d for d in versions.datasets()}
    if not known:
        _none_yet(None, None)
        return None
    if st.session_state.get(DATASET) not in known:
        st.session_state[DATASET] = _default_dataset(known)
    c = st.columns([1, 2])
    dataset_id = c[0].selectbox(
        "Dataset", list(known), key=DATASET, format_func=lambda i: known[i].name, on_change=_on_dataset
    )
    ready = with_test(dataset_id)
    if not ready:
        _none_yet(known[dataset_id].name, dataset_id)
        return None
    if st.session_state.get(VERSION) not in ready:
        from_url = st.query_params.get("version", "")
        st.session_state[VERSION] = (
            int(from_url) if from_url.isdigit() and int(from_url) in ready else next(iter(ready))
        )
    version = ready[c[1].selectbox("Version", list(ready), key=VERSION, format_func=lambda i: version_label(ready[i]))]
    st.query_params["version"] = str(version.id)
    return version
