"""The Arena page's "Make preference data" and its items download, under AppTest with real SQLite.

The session is the Arena page test's: two raters, four items, votes known by hand (PLAN): the run wins
items 2 and 3 twice, the base item 4 twice, and item 5 has a tie and one vote for the run, so 8 votes give
1 tie and 7 A/B votes in 4 groups -> 4 pairs. The page's downloads, fed to the CLI, give the same pairs as the
session route and as the version the page made.
Run: `.venv/bin/pytest tests/app/test_arena_prefs.py -q`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

from streamlit.testing.v1 import AppTest

from core.arena import build, sessions
from core.data import versions
from tests.app import harness
from tests.app.test_arena_page import ANSWERS, BASE, PLAN, RUN, cached_version, vote_as

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = "8 votes: 1 tie, 0 both bad; 7 A/B votes in 4 groups -> 4 pairs, 0 split"
# The router keeps the media file manager, which lives only while a script runs, to read downloads back.
ROUTER = f"""
import streamlit as st
from streamlit import runtime
st.session_state["test_media"] = runtime.get_instance().media_file_mgr
P = {str(ROOT / "pages")!r} + "/"
st.navigation([st.Page(P + n + ".py", url_path=n, default=n == "arena") for n in {harness.WORKFLOW!r}]).run()
"""


def session_with(plan: dict) -> sessions.Session:
    version = cached_version()
    draft = build.Draft(
        "pilot", version, tuple(build.available(version)), prompts_per_rater=4, overlap=4, instructions=""
    )
    session = build.create(draft)
    for name, choices in plan.items():
        vote_as(sessions.join(session.token, name).rater_key, choices)
    return session


def open_arena(session_id: int) -> AppTest:
    at = AppTest.from_string(ROUTER, default_timeout=60)
    at.query_params["session"] = str(session_id)
    return at.run()


def downloaded(at: AppTest, key: str) -> bytes:
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    media = at.session_state["test_media"]
    url = media.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id else button.proto.url
    return media.read_file(url.rsplit("/", 1)[-1]).content


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.arena", *args], cwd=ROOT, capture_output=True, text=True)


def made_datasets() -> list[versions.Dataset]:
    return [d for d in versions.datasets() if d.latest.kind == "preference"]


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_make_preference_data_shows_the_counts_then_makes_a_version_that_opens_on_the_data_page():
    session = session_with(PLAN)
    at = open_arena(session.id)
    assert not at.exception, at.exception
    assert SENTENCE in markdown(at) and made_datasets() == []
    assert at.text_input(key=f"arena_prefs_name_{session.id}").value == "pilot preferences"
    at.button(key="arena_prefs_make").click().run()
    assert not at.exception, at.exception
    [dataset] = made_datasets()
    made = dataset.latest
    assert (made.dataset, made.kind, made.n_examples) == ("pilot preferences", "preference", 4)
    assert made.splits["train"] and made.splits["validation"] and SENTENCE in made.note
    chosen = {
        p["input"]["messages"][-1]["content"]: p["preferred_output"][0]["content"] for p in versions.examples(made)
    }
    assert chosen == {f"question {i}": ANSWERS[BASE if i == 4 else RUN] for i in (2, 3, 4, 5)}
    assert f"Made {made.label}: 4 preference pairs" in [s.value for s in at.success][-1]
    [link] = [x for x in at.get("page_link") if x.proto.label.startswith("Open pilot preferences")]
    assert link.proto.page == "data" and parse_qs(link.proto.query_string) == {"dataset": [str(made.dataset_id)]}
    data = harness.start("data", {"dataset": str(made.dataset_id)})
    assert not data.exception, data.exception
    assert data.selectbox(key="data_dataset").value == made.dataset_id
    assert "pilot preferences (v1, 4 preference pairs)" in data.selectbox(key="data_dataset").options


def test_the_downloads_fed_to_the_cli_give_the_pairs_of_the_session(tmp_path):
    session = session_with(PLAN)
    at = open_arena(session.id)
    assert [d.proto.label for d in at.get("download_button")] == ["Votes CSV", "Items JSONL", "Results CSV"]
    (tmp_path / "votes.csv").write_bytes(downloaded(at, "arena_votes_csv"))
    (tmp_path / "items.jsonl").write_bytes(downloaded(at, "arena_items_jsonl"))
    first = json.loads((tmp_path / "items.jsonl").read_text().splitlines()[0])
    assert first == {
        "item": 0,
        "messages": [{"role": "user", "content": "question 2"}],
        "answers": {c.label: ANSWERS[BASE if c.label == BASE.label else RUN] for c in session.candidates},
    }
    files = cli("preferences", "--votes", str(tmp_path / "votes.csv"), "--items", str(tmp_path / "items.jsonl"),
                "--out", str(tmp_path / "from_files.jsonl"), "--json")  # fmt: skip
    assert files.returncode == 0, files.stderr
    stored = cli("preferences", str(session.id), "--out", str(tmp_path / "from_session.jsonl"), "--json")
    assert stored.returncode == 0, stored.stderr
    counts = json.loads(files.stdout)
    assert {k: counts[k] for k in ("votes", "pairs", "ties", "both_bad", "split")} == {
        "votes": 8, "pairs": 4, "ties": 1, "both_bad": 0, "split": 0}  # fmt: skip
    assert (tmp_path / "from_files.jsonl").read_bytes() == (tmp_path / "from_session.jsonl").read_bytes()
    at.button(key="arena_prefs_make").click().run()
    pairs = [json.loads(x) for x in (tmp_path / "from_files.jsonl").read_text().splitlines()]
    assert pairs == versions.examples(made_datasets()[0].latest)


def test_a_session_without_usable_votes_says_so_and_offers_no_action():
    ties = {name: dict.fromkeys(PLAN["ann"], "tie") for name in PLAN}
    at = open_arena(session_with(ties).id)
    assert not at.exception, at.exception
    assert "8 votes: 8 ties, 0 both bad; 0 A/B votes in 0 groups -> 0 pairs, 0 split" in markdown(at)
    assert any("No preference data from these votes: no usable votes" in w.value for w in at.warning)
    assert "arena_prefs_make" not in [b.key for b in at.button]
    assert made_datasets() == []
