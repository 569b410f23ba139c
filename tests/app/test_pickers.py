"""The shared dataset-version picker (ui.pickers) on the Data, Train, Evaluate and Arena pages, under AppTest.

The URL keeps the choice (`?dataset=`, `?version=`) across reruns and refreshes on every page; each page's
"not ready" message names what is missing and links to the page that makes it.
Run: `.venv/bin/pytest tests/app/test_pickers.py -q`.
"""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from core.data import versions
from core.eval import candidates, generate
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from tests.app import harness

BASE = candidates.base()
OTHER = Candidate("run", "smollm2-135m-instruct", "Run 20250101-000000-ab12: lora", run_id="20250101-000000-ab12")
ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]} for i in range(6)]
SPLIT = {"train": [0, 1, 2], "validation": [3], "test": [4, 5]}


def split_versions(name: str, answers: tuple[Candidate, ...] = (BASE, OTHER)) -> list[versions.Version]:
    """A dataset with v1 unsplit, then v2 and v3 split (both with cached answers); returns [v1, v2, v3]."""
    v1 = versions.create(name, ROWS)
    v2 = versions.save(v1, ROWS, "first split", SPLIT)
    v3 = versions.save(v2, ROWS, "second split", SPLIT)
    for version in (v2, v3):
        for cand in answers:
            out = [{"index": i, "prediction": "a", "n_tokens": 1} for i in range(2)]
            generate.save_outputs(cand, version, "test", GenParams(), out, {"finished_at": time.time()})
    return [v1, v2, v3]


def arena(query: dict[str, str] | None = None) -> AppTest:
    return harness.start("arena", query)


PAGES = {"train": "train", "evaluate": "eval", "arena": "arena"}  # page -> its picker's key


@pytest.mark.parametrize("page", PAGES)
def test_the_version_in_the_url_survives_reruns(page):
    _, older, newer = split_versions("first")
    split_versions("second")  # the newest dataset: what the page opens on without a link
    at = harness.start(page, {"version": str(older.id)})
    key = PAGES[page]
    assert not at.exception, at.exception
    assert at.selectbox(key=f"{key}_dataset").value == older.dataset_id
    assert at.selectbox(key=f"{key}_version").value == older.id
    at.run()
    assert at.selectbox(key=f"{key}_version").value == older.id
    assert (at.query_params["dataset"], at.query_params["version"]) == (str(older.dataset_id), str(older.id))
    at.selectbox(key=f"{key}_version").set_value(newer.id).run()
    assert at.query_params["version"] == str(newer.id)  # a choice made in the box goes to the URL
    fresh = harness.start(page, {"dataset": at.query_params["dataset"], "version": str(newer.id)})
    assert fresh.selectbox(key=f"{key}_version").value == newer.id  # a refresh opens the same version


@pytest.mark.parametrize("page", PAGES)
def test_a_link_wins_over_the_sessions_last_choice_and_a_new_dataset_drops_the_version(page):
    first = split_versions("first")
    second = split_versions("second")
    key = PAGES[page]
    at = harness.start(page)
    assert at.selectbox(key=f"{key}_dataset").value == second[2].dataset_id  # the newest usable dataset
    at.query_params["version"] = str(first[1].id)
    at.query_params.pop("dataset")
    at.run()
    assert at.selectbox(key=f"{key}_version").value == first[1].id
    at.selectbox(key=f"{key}_dataset").set_value(second[2].dataset_id).run()
    assert at.query_params["dataset"] == str(second[2].dataset_id)
    assert at.selectbox(key=f"{key}_version").value == second[2].id  # the new dataset's newest, not v2's id


def test_the_data_page_keeps_its_dataset_in_the_url():
    first = versions.create("first", ROWS)
    versions.create("second", ROWS)
    at = harness.start("data", {"dataset": str(first.dataset_id)})
    assert not at.exception, at.exception
    assert at.selectbox(key="data_dataset").value == first.dataset_id
    at.run()
    assert at.selectbox(key="data_dataset").value == first.dataset_id
    assert at.query_params["dataset"] == str(first.dataset_id)


def link(at: AppTest) -> tuple[str, dict]:
    pl = at.get("page_link")[0].proto
    return pl.page, dict(p.split("=") for p in pl.query_string.split("&") if p)


def info(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


@pytest.mark.parametrize(
    ("page", "said"),
    [
        ("train", "Training needs one"),
        ("evaluate", "Evaluation scores each model's answers"),
        ("arena", "no version has one yet"),
    ],
)
def test_with_no_dataset_each_page_says_what_it_needs_and_links_to_the_data_page(page, said):
    at = harness.start(page)
    assert not at.exception, at.exception
    assert said in info(at)
    assert link(at)[0] == "data"  # the Data page's url_path


@pytest.mark.parametrize(
    ("page", "said"),
    [
        ("train", "**unsplit** has no version with a train/validation split yet"),
        ("evaluate", "**unsplit** has no version with a test split yet"),
        ("arena", "**unsplit** has no version with one yet"),
    ],
)
def test_a_dataset_without_the_split_is_named_with_a_link_to_it_on_the_data_page(page, said):
    v1 = versions.create("unsplit", ROWS)
    at = harness.start(page)
    assert said in info(at)
    assert link(at) == ("data", {"dataset": str(v1.dataset_id)})


def test_the_arena_without_two_candidates_answers_links_to_the_evaluate_page_on_that_version():
    newest = split_versions("one-candidate", answers=(BASE,))[2]
    at = arena()
    assert f"only {BASE.label!r} has them yet" in info(at)
    assert link(at) == ("evaluate", {"version": str(newest.id)})
    assert "arena_create" not in [b.key for b in at.button]


def test_the_arena_offers_only_versions_with_two_candidates_answers():
    v1 = versions.create("mixed", ROWS)
    with_answers = versions.save(v1, ROWS, "answered", SPLIT)
    versions.save(with_answers, ROWS, "not answered yet", {"train": [0, 1], "validation": [], "test": [2, 3]})
    for cand in (BASE, OTHER):
        out = [{"index": i, "prediction": "a", "n_tokens": 1} for i in range(2)]
        generate.save_outputs(cand, with_answers, "test", GenParams(), out, {"finished_at": time.time()})
    at = arena()
    assert at.selectbox(key="arena_version").options == [
        "v2: 3 train / 1 validation / 2 test · answered"  # one label format on every page
    ]
