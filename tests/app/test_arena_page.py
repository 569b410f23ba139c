"""The Arena owner page under AppTest: create a session from cached outputs, read the verdict.

Two candidates' answers are written straight into core.eval.generate's cache: the base model
answers every test prompt with the reference itself, the "run" with its first two words, so
ROUGE-L is known by hand. Votes are cast with core.arena.sessions, choosing by answer text, so
every outcome is known too. Run: `.venv/bin/pytest tests/app/test_arena_page.py -q`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.arena import build, links, sessions
from core.data import versions
from core.eval import candidates, generate
from core.eval.candidates import Candidate
from core.eval.generate import GenParams

ROOT = Path(__file__).resolve().parents[2]
BASE = candidates.base()
RUN = Candidate("run", "smollm2-135m-instruct", "Run 20250101-000000-ab12: lora", run_id="20250101-000000-ab12")
REFERENCE = "red fox ran far"
# Words of three letters or fewer are not stemmed, so ROUGE-L is plain LCS arithmetic.
ANSWERS = {BASE: REFERENCE, RUN: "red fox"}
# Each rater's choice per test prompt, the same items for both (overlap = every item).
PLAN = {
    "ann": {"question 2": "run", "question 3": "run", "question 4": "base", "question 5": "tie"},
    "bob": {"question 2": "run", "question 3": "run", "question 4": "base", "question 5": "run"},
}


def cached_version(n_test: int = 4, name: str = "arena-demo", answers=ANSWERS) -> versions.Version:
    """A version whose test split is `question 2`.. with both candidates' answers in the cache."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": REFERENCE},
            ]
        }
        for i in range(n_test + 2)
    ]
    first = versions.create(name, rows)
    splits = {"train": [0, 1], "validation": [], "test": list(range(2, n_test + 2))}
    version = versions.save(first, rows, "split", splits)
    for cand, answer in answers.items():
        out = [{"index": i, "prediction": answer, "n_tokens": 2} for i in range(n_test)]
        generate.save_outputs(cand, version, "test", GenParams(), out, {"seconds": 1.0, "finished_at": time.time()})
    return version


def vote_as(rater_key: str, plan: dict[str, str]) -> None:
    """Every assignment of the rater, voted by the plan for its prompt (run/base/tie)."""
    while (a := sessions.next_assignment(rater_key)) is not None:
        run_side, base_side = ("left", "right") if a.left_text == ANSWERS[RUN] else ("right", "left")
        pick = plan[a.prompt[-1]["content"]]
        sessions.vote(rater_key, a.ticket, {"run": run_side, "base": base_side, "tie": "tie"}[pick])


def open_arena(session_id: int | None = None, admin: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/arena.py")
    if session_id is not None:
        at.query_params["session"] = str(session_id)
    if admin is not None:
        at.query_params["admin"] = admin
    return at.run()


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def test_no_data_and_one_candidate_are_explained():
    at = open_arena()
    assert not at.exception, at.exception
    assert "no version has one yet" in texts(at, "info")
    cached_version(answers={BASE: REFERENCE})
    at = open_arena()
    assert not at.exception, at.exception
    assert f"only {BASE.label!r} has them" in texts(at, "info")
    assert "arena_create" not in [b.key for b in at.button]


def test_create_a_session_through_the_form_and_read_its_link():
    version = cached_version()
    at = open_arena()
    assert not at.exception, at.exception
    assert at.multiselect(key="arena_candidates").value == [o.key for o in build.available(version)]
    at.text_input(key="arena_name").set_value("pilot")
    at.number_input(key="arena_per_rater").set_value(3)
    at.number_input(key="arena_overlap").set_value(2)
    at.button(key="arena_create").click().run()
    assert not at.exception, at.exception
    [session] = sessions.list_sessions()
    assert (session.name, session.per_rater, session.overlap, session.n_items) == ("pilot", 3, 2, 4)
    assert {c.label for c in session.candidates} == {BASE.label, RUN.label}
    assert at.query_params["session"] == str(session.id)
    assert at.code[0].value.endswith(f"/rate?s={session.token}")
    assert "No votes yet" in texts(at, "info")


def test_bad_sizes_are_refused_in_words():
    cached_version()
    at = open_arena()
    at.number_input(key="arena_per_rater").set_value(2)
    at.number_input(key="arena_overlap").set_value(3)
    at.button(key="arena_create").click().run()
    assert "overlap (3) cannot exceed the prompts per rater (2)" in texts(at, "error")
    assert sessions.list_sessions() == []


def test_a_name_that_gives_a_candidate_away_is_refused():
    cached_version()
    at = open_arena()
    at.text_input(key="arena_name").set_value(f"Is {BASE.label.lower()} worse?")
    at.button(key="arena_create").click().run()
    assert f"mention {BASE.label!r}" in texts(at, "error")
    assert sessions.list_sessions() == []


@pytest.fixture
def voted() -> sessions.Session:
    version = cached_version()
    found = build.available(version)
    draft = build.Draft("pilot", version, tuple(found), prompts_per_rater=4, overlap=4, instructions="")
    session = build.create(draft)
    for name, plan in PLAN.items():
        vote_as(sessions.join(session.token, name).rater_key, plan)
    return session


def test_results_show_the_leaderboard_win_rate_agreement_and_rouge(voted):
    at = open_arena(voted.id)
    assert not at.exception, at.exception
    board, rouge = at.table[0].value, at.table[1].value
    # The run won 5 of 8 votes, the base 2, one tie: the run leads, each row has an interval.
    assert board["Candidate"].tolist() == [RUN.label, BASE.label]
    assert board["Votes"].tolist() == [8, 8] and board["Wins"].tolist() == [5, 2]
    assert all(" to " in x for x in board["95% interval"])
    # ROUGE-L: the base repeats the reference (1.0); "red fox" against "red fox ran far" has
    # LCS 2, precision 2/2, recall 2/4, so F = 2 * 1 * 0.5 / 1.5 = 0.667.
    assert rouge.to_dict("list") == {
        "Candidate": [BASE.label, RUN.label],
        "ROUGE-L": ["1.000", "0.667"],
        "Human rank": [2, 1],
    }
    assert "disagree on the best candidate" in texts(at, "warning")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Head-to-head win rate"] == "69%"  # (5 wins + 1 tie / 2) / 8 votes = 0.6875
    assert f"{RUN.label} over {BASE.label}: 95% interval" in texts(at, "caption")
    assert "on 8 votes: 5 wins, 2 losses, 1 ties" in texts(at, "caption")
    # Outcomes per item: {run, run}, {run, run}, {base, base}, {tie, run}. Fleiss: P-bar = 3/4;
    # shares run 5/8, base 2/8, tie 1/8 give P_e = 30/64; kappa = (0.75 - 0.46875) / 0.53125 = 0.53.
    assert metrics["Fleiss' kappa"] == "0.53" and metrics["Percent agreement"] == "75%"
    assert "moderate" in texts(at, "caption")
    assert (metrics["Raters"], metrics["Votes"]) == ("2", "8")
    assert len(at.get("vega_lite_chart")) == 3  # ratings, win matrix, raters
    assert [d.proto.label for d in at.get("download_button")] == ["Votes CSV", "Items JSONL", "Results CSV"]


def test_close_and_reopen(voted):
    at = open_arena(voted.id)
    at.button(key="arena_close").click().run()
    assert sessions.get(voted.id).closed
    assert "This session is closed" in texts(at, "warning")
    at.button(key="arena_reopen").click().run()
    assert not sessions.get(voted.id).closed


def test_with_an_admin_token_nothing_shows_until_it_is_given(voted, monkeypatch):
    monkeypatch.setenv("FT_ADMIN_TOKEN", "s3cret")
    at = open_arena(voted.id)
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Fine-Tuning Workbench"]  # the gate, not the page
    assert not at.code and not at.table and not at.expander and not at.selectbox
    at.text_input(key="admin_token").set_value("wrong").run()
    assert "not the admin token" in texts(at, "error") and not at.code
    at.text_input(key="admin_token").set_value("s3cret").run()
    assert voted.token in at.code[0].value


def test_the_admin_token_in_the_url_opens_the_page(voted, monkeypatch):
    monkeypatch.setenv("FT_ADMIN_TOKEN", "s3cret")
    assert not open_arena(voted.id, admin="nope").code
    assert voted.token in open_arena(voted.id, admin="s3cret").code[0].value


def test_one_candidate_cached_with_two_settings_is_offered_twice_by_its_settings():
    version = cached_version()
    out = [{"index": i, "prediction": "red", "n_tokens": 1} for i in range(4)]
    generate.save_outputs(BASE, version, "test", GenParams(max_new_tokens=32), out, {"finished_at": time.time()})
    labels = sorted(o.label for o in build.available(version))
    assert labels == [
        RUN.label,
        f"{BASE.label} (256 tokens, temperature 0)",  # GenParams' defaults
        f"{BASE.label} (32 tokens, temperature 0)",
    ]


def test_the_link_base_follows_the_browser_url_or_the_proxy_headers():
    assert links.base_url("http://127.0.0.1:8501/arena") == "http://127.0.0.1:8501"
    assert links.base_url("https://team-wb.hf.space/sub/arena") == "https://team-wb.hf.space/sub"
    forwarded = {
        "Host": "10.0.0.2:8501",
        "X-Forwarded-Host": "team-wb.hf.space",
        "X-Forwarded-Proto": "https",
    }
    assert links.base_url(None, forwarded) == "https://team-wb.hf.space"
    assert links.base_url(None, {}) == links.FALLBACK
    assert links.share_link("https://team-wb.hf.space/", "a-b_c") == "https://team-wb.hf.space/rate?s=a-b_c"
