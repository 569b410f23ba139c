"""The one dataset and dataset-version picker, for the Data, Train, Evaluate and Arena pages.

`pick_dataset(key)` draws the dataset box (`<key>_dataset`); `pick_version(key, need=...)` draws it with a
version box (`<key>_version`) that offers only the versions a page can use, or says what is missing and
links to the page that makes it. The choice sits in the URL (`?dataset=`, `?version=`), so a refresh or a
shared link opens the same version: the URL wins over the browser session's last choice, and a change of
either box writes the URL first (as the Runs page's `?run=` does).
Test: `pytest tests/app/test_pickers.py tests/app/test_train_page.py tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import streamlit as st

from core.arena import build
from core.data import preference, versions
from ui import DATA_PAGE, EVALUATE_PAGE
from ui.untrusted import inline, long_text


@dataclass(frozen=True)
class Need:
    """What a page needs from a version, and what it says when a dataset (or the workspace) has none."""

    split: str | None  # a split that must have examples; None: any split at all
    named: str  # the dataset {name} has no such version
    nameless: str  # there is no dataset at all
    why: str  # what the page does with it and how to make one
    answers: bool = False  # also two candidates' cached answers on that split (the Arena)


NEEDS = {
    "split": Need(
        None,
        "**{name}** has no version with a train/validation split yet.",
        "No dataset yet.",
        "Training needs one: on the Data page, open **Split & export**, make the split and save it as a "
        "version, then come back here.",
    ),
    "test": Need(
        "test",
        "**{name}** has no version with a test split yet.",
        "No dataset yet.",
        "Evaluation scores each model's answers on held-out test examples it never trained on (the guide "
        "suggests 10-20% of the data). On the Data page, open **Split & export**, make a split with a test "
        "share and save it as a version, then come back here.",
    ),
    "answers": Need(
        "test",
        "A session compares answers on a dataset version's **test** split, and **{name}** has no version "
        "with one yet.",
        "A session compares answers on a dataset version's **test** split, and no version has one yet.",
        "Make a split on the Data page, then generate answers on the Evaluate page.",
        answers=True,
    ),
}


def dataset_label(d: versions.Dataset) -> str:
    return f"{d.name} (v{d.latest.number}, {preference.counted(d.latest.n_examples, d.latest.kind)})"


def version_label(v: versions.Version) -> str:
    n = {s: versions.split_size(v, s) for s in versions.SPLITS}
    return f"v{v.number}: {n['train']} train / {n['validation']} validation / {n['test']} test · {v.note}"


def _usable(dataset_id: int, need: Need) -> dict[int, versions.Version]:
    """The dataset's versions that meet the need, newest first."""
    found = versions.with_split(dataset_id, need.split) if need.split else versions.history(dataset_id)
    found = [v for v in found if v.splits]
    if need.answers:
        found = [v for v in found if len(build.available(v)) >= 2]
    return {v.id: v for v in found}


def _from_url(url: str, options) -> int | None:
    wanted = st.query_params.get(url, "")
    return int(wanted) if wanted.isdigit() and int(wanted) in options else None


def _dataset_changed(key: str, url: str | None) -> None:
    # The version chosen belongs to the old dataset: it leaves the URL and the session with it.
    st.query_params["dataset"] = str(st.session_state[f"{key}_dataset"])
    if url:
        st.query_params.pop(url, None)
        st.session_state.pop(f"{key}_version", None)


def _version_changed(key: str, url: str) -> None:
    st.query_params[url] = str(st.session_state[f"{key}_version"])


def _choose(label: str, key: str, url: str, options: dict, default, show, where, on_change, args) -> int:
    """A selectbox: the URL's choice, else this session's, else default(); the choice is written to the URL."""
    wanted = _from_url(url, options)
    if wanted is not None:
        st.session_state[key] = wanted
    elif st.session_state.get(key) not in options:
        st.session_state[key] = default()
    chosen = where.selectbox(
        label, list(options), key=key, format_func=lambda i: show(options[i]), on_change=on_change, args=args
    )
    st.query_params[url] = str(chosen)
    return chosen


def _datasets(kind: str | None) -> dict[int, versions.Dataset]:
    return {d.id: d for d in versions.datasets() if kind is None or d.latest.kind == kind}


def pick_dataset(
    key: str, default=None, where=st, version_url: str | None = None, kind: str | None = None
) -> versions.Dataset | None:
    """The dataset in `?dataset=`, else this session's, else default() (the newest); None when there is none.

    The box is keyed `<key>_dataset`; `version_url` names the version's URL parameter, cleared on a change;
    `kind` ("chat", "preference") offers only datasets of that kind (None: every dataset)."""
    known = _datasets(kind)
    if not known:
        return None
    newest = default or (lambda: next(reversed(known)))
    args = (key, version_url)
    chosen = _choose(
        "Dataset", f"{key}_dataset", "dataset", known, newest, dataset_label, where, _dataset_changed, args
    )
    return known[chosen]


def _not_ready(need: Need, dataset: versions.Dataset | None) -> None:
    """Why no version qualifies, with a link to the page that makes one."""
    with_test = versions.with_split(dataset.id, need.split) if dataset and need.answers else []
    if with_test:  # the split is there, the answers are not
        version = with_test[0]
        found = build.available(version)
        have = f"only {found[0].label!r} has" if found else "no candidate has"
        st.info(
            f"A session compares the cached answers of two or more candidates on the test split of "
            f"{inline(version.label)}, and {inline(have)} them yet. Generate them on the Evaluate page "
            "(the base model and a trained run, for instance), then come back here."
        )
        params = {"version": str(version.id)}
        st.page_link(EVALUATE_PAGE, label="Open the Evaluate page", icon=":material/fact_check:", query_params=params)
        return
    head = need.named.format(name=dataset.name) if dataset else need.nameless
    if dataset is None and _datasets("preference"):
        head += (
            " Preference datasets are not offered here yet; on the Data page, **Split & export** makes a chat "
            "dataset of a preference dataset's chosen answers."
        )
    long_text(f"{head} {need.why}", draw=st.info)
    params = {"dataset": str(dataset.id)} if dataset else None
    st.page_link(DATA_PAGE, label="Open the Data page", icon=":material/dataset:", query_params=params)


def pick_version(key: str, need: str = "split", url: str = "version", kind: str = "chat") -> versions.Version | None:
    """A version meeting `need` ("split", "test" or "answers"), or None after saying what is missing.

    The boxes are keyed `<key>_dataset` and `<key>_version`; the version's URL parameter is `url`.
    Only datasets of `kind` are offered: chat (training, evaluation and the Arena), or preference (DPO training)."""
    rule = NEEDS[need]
    known = _datasets(kind)
    if not known:
        _not_ready(rule, None)
        return None
    if "dataset" not in st.query_params and st.query_params.get(url, "").isdigit():
        with contextlib.suppress(KeyError):  # a link to a version opens its dataset
            st.query_params["dataset"] = str(versions.get(int(st.query_params[url])).dataset_id)

    def newest_usable() -> int:
        return ([i for i in known if _usable(i, rule)] or list(known))[-1]

    c = st.columns([1, 2])
    dataset = pick_dataset(key, newest_usable, c[0], url, kind=kind)
    usable = _usable(dataset.id, rule)
    if not usable:
        st.query_params.pop(url, None)
        _not_ready(rule, dataset)
        return None
    chosen = _choose(
        "Version",
        f"{key}_version",
        url,
        usable,
        lambda: next(iter(usable)),
        version_label,
        c[1],
        _version_changed,
        (key, url),
    )
    return usable[chosen]
