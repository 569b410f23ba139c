"""Blind ranking sessions: creation, assignments, anonymous pairs, votes, reveal and exports.

Run: `pytest tests/unit/test_arena_sessions.py`.
"""

import csv
import dataclasses
import io
import itertools
import json
from collections import Counter

import pytest

from core import store
from core.arena import sessions

# Keys use underscores and labels spaces, so neither can hide inside a hex ticket by chance.
TWO = [{"key": "base_model", "label": "Base SmolLM2"}, {"key": "tuned_model", "label": "Tuned LoRA"}]
THREE = [*TWO, {"key": "full_model", "label": "Full FT"}]
# Each candidate's answers start with a word that names no candidate, to tell sides apart.
WORD = {"base_model": "alpha", "tuned_model": "bravo", "full_model": "charlie", "other_model": "delta"}


def items(n: int, candidates=TWO) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "reference": f"reference {i}",
            "answers": {c["key"]: f"{WORD[c['key']]} reply {i}" for c in candidates},
        }
        for i in range(n)
    ]


def make(n_items=20, candidates=TWO, **kw) -> sessions.Session:
    kw.setdefault("prompts_per_rater", 5)
    kw.setdefault("overlap", 2)
    return sessions.create("pilot", candidates, items(n_items, candidates), seed=7, **kw)


def assignments(rater: sessions.Rater) -> list[dict]:
    with store.connect() as db:
        rows = db.execute("SELECT * FROM arena_assignments WHERE rater_id=? ORDER BY position", (rater.id,)).fetchall()
    return [dict(r) for r in rows]


def label_of(text: str, candidates=THREE) -> str:
    return next(c["label"] for c in candidates if text.startswith(WORD[c["key"]]))


def test_create_stores_the_session_with_a_share_token():
    s = make(instructions="Pick the more helpful answer.")
    assert (s.name, s.n_items, s.prompts_per_rater, s.overlap) == ("pilot", 20, 5, 2)
    assert [c.label for c in s.candidates] == ["Base SmolLM2", "Tuned LoRA"]
    assert len(s.token) >= 20 and sessions.by_token(s.token) == s
    assert sessions.by_token("nope") is None
    assert [x.id for x in sessions.list_sessions()] == [s.id]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"candidates": TWO[:1]}, "at least two candidates"),
        ({"items": []}, "at least one item"),
        ({"name": "  "}, "give the session a name"),
        ({"overlap": 6}, r"overlap \(6\) cannot exceed the prompts per rater \(5\)"),
        ({"overlap": 4, "items": items(3)}, r"overlap \(4\) cannot exceed the number of items \(3\)"),
        ({"candidates": [TWO[0], {**TWO[1], "label": "Base SmolLM2"}]}, "labels must differ"),
        ({"version_id": 99}, "dataset version 99 does not exist"),
    ],
)
def test_create_refuses_bad_input_in_words(change, message):
    args = {"name": "pilot", "candidates": TWO, "items": items(10), "prompts_per_rater": 5, "overlap": 2}
    with pytest.raises(ValueError, match=message):
        sessions.create(**{**args, **change})


def test_a_missing_answer_names_the_item_and_the_candidate():
    bad = items(5)
    del bad[3]["answers"]["tuned_model"]
    with pytest.raises(ValueError, match=r"item 3 has no answer from candidate 'Tuned LoRA'"):
        sessions.create("pilot", TWO, bad, prompts_per_rater=3, overlap=1)


def test_join_shares_only_the_overlap_items():
    s = make(n_items=20, prompts_per_rater=5, overlap=2)
    raters = [sessions.join(s.token, name) for name in ("ann", "bob", "cy")]
    per = {r.name: assignments(r) for r in raters}
    assert all(len(rows) == 5 for rows in per.values())
    shared = [{a["item_id"] for a in rows if a["overlap"]} for rows in per.values()]
    assert all(len(x) == 2 for x in shared) and shared[0] == shared[1] == shared[2]
    # 18 other items, 3 each: least-assigned first means no two raters share one of them.
    others = [{a["item_id"] for a in rows if not a["overlap"]} for rows in per.values()]
    assert len(set().union(*others)) == 9
    assert sessions.counts(s.id) == {"votes": 0, "skips": 0, "raters": 3, "assignments": 15}


@pytest.mark.parametrize("typed", ["ann", "  ANN ", "Ann"])
def test_a_taken_name_is_refused_and_hands_out_no_key(typed):
    # Typing someone's name must not make you them: their key, their next pair, their votes.
    s = make()
    ann = sessions.join(s.token, "Ann")
    with pytest.raises(ValueError) as refused:
        sessions.join(s.token, typed)
    message = str(refused.value)
    assert message == (
        f"the name {' '.join(typed.split())!r} is taken in this session; if it is you, open your own link "
        "(the one shown when you joined); otherwise choose another name"
    )
    assert ann.rater_key not in repr(refused.value.args)
    assert sessions.counts(s.id) == {"votes": 0, "skips": 0, "raters": 1, "assignments": 5}
    # The owner's report relies on one rater per name; the rater's own key still resumes.
    assert sessions.rater_by_key(ann.rater_key) == ann
    assert sessions.join(s.token, "Ann 2").name == "Ann 2"


def test_three_candidates_see_the_same_pair_on_an_overlap_item_and_pairs_stay_balanced():
    s = make(n_items=30, candidates=THREE, prompts_per_rater=6, overlap=3)
    raters = [sessions.join(s.token, f"r{i}") for i in range(6)]
    pair_on = {}
    shown = Counter()
    for r in raters:
        for a in assignments(r):
            pair = frozenset((a["left_key"], a["right_key"]))
            shown[pair] += 1
            if a["overlap"]:
                assert pair_on.setdefault(a["item_id"], pair) == pair
    assert len(pair_on) == 3
    # 36 assignments over 3 pairs; least-shown-first keeps every pair at 12 +- 1.
    assert len(shown) == 3 and max(shown.values()) - min(shown.values()) <= 1


def test_sides_are_roughly_balanced():
    s = make(n_items=40, prompts_per_rater=10, overlap=2)
    rows = [a for i in range(20) for a in assignments(sessions.join(s.token, f"r{i}"))]
    assert len(rows) == 200
    share = sum(a["left_key"] == "base_model" for a in rows) / len(rows)
    # A fair coin over 200 draws stays within 0.35-0.65 except about once in 30,000 runs.
    assert 0.35 <= share <= 0.65


def test_the_next_assignment_names_no_candidate():
    s = make(candidates=THREE)
    rater = sessions.join(s.token, "ann")
    shown = sessions.next_assignment(rater.rater_key)
    names = {f.name for f in dataclasses.fields(shown)}
    assert names == {"ticket", "prompt", "left_text", "right_text", "number", "total", "done"}
    blob = json.dumps(dataclasses.asdict(shown)).lower()
    for c in THREE:
        assert c["key"].lower() not in blob and c["label"].lower() not in blob
    assert (shown.number, shown.total, shown.done) == (1, 5, 0)
    assert shown.prompt[0]["role"] == "user"


def test_vote_reveals_the_labels_and_a_repeat_is_a_duplicate():
    s = make(candidates=THREE)
    rater = sessions.join(s.token, "ann")
    shown = sessions.next_assignment(rater.rater_key)
    first = sessions.vote(rater.rater_key, shown.ticket, "left", ms_to_vote=1500)
    assert first.left_label == label_of(shown.left_text)
    assert first.right_label == label_of(shown.right_text)
    assert (first.choice, first.winner_label, first.duplicate) == ("left", first.left_label, False)
    again = sessions.vote(rater.rater_key, shown.ticket, "right")
    assert (again.choice, again.winner_label, again.duplicate) == ("left", first.left_label, True)
    with store.connect() as db:
        assert tuple(db.execute("SELECT COUNT(*), MAX(ms_to_vote) FROM arena_votes").fetchone()) == (1, 1500)


def test_another_raters_ticket_an_unknown_choice_and_a_closed_session_are_refused():
    s = make()
    ann, bob = sessions.join(s.token, "ann"), sessions.join(s.token, "bob")
    ticket = sessions.next_assignment(ann.rater_key).ticket
    with pytest.raises(ValueError, match="not one of your assignments"):
        sessions.vote(bob.rater_key, ticket, "left")
    with pytest.raises(ValueError, match="unknown choice 'A'"):
        sessions.vote(ann.rater_key, ticket, "A")
    sessions.close(s.id)
    with pytest.raises(ValueError, match="closed"):
        sessions.vote(ann.rater_key, ticket, "left")
    with pytest.raises(ValueError, match="closed to new raters"):
        sessions.join(s.token, "cy")
    assert sessions.counts(s.id)["votes"] == 0
    sessions.reopen(s.id)
    assert sessions.vote(ann.rater_key, ticket, "tie").winner_label is None


def test_a_fresh_call_after_three_votes_resumes_at_the_fourth():
    s = make()
    rater = sessions.join(s.token, "ann")
    order = [a["ticket"] for a in assignments(rater)]
    for _ in range(3):
        sessions.vote(rater.rater_key, sessions.next_assignment(rater.rater_key).ticket, "tie")
    # What a page refresh does: find the rater by the key in the URL, then ask again.
    assert sessions.rater_by_key(rater.rater_key) == rater
    shown = sessions.next_assignment(rater.rater_key)
    assert (shown.ticket, shown.number, shown.done) == (order[3], 4, 3)
    assert sessions.progress(rater.rater_key) == (3, 5)


def test_vote_rows_map_choices_to_winners_and_skips_count_only_as_done():
    s = make()
    rater = sessions.join(s.token, "ann")
    reveals = [
        sessions.vote(rater.rater_key, sessions.next_assignment(rater.rater_key).ticket, c)
        for c in ("left", "right", "tie", "both_bad", "skip")
    ]
    rows = sessions.vote_rows(s.id)
    assert [r["choice"] for r in rows] == ["left", "right", "tie", "both_bad"]
    assert [r["winner"] for r in rows] == ["model_a", "model_b", "tie", "both_bad"]
    assert [r["model_a"] for r in rows] == [r.left_label for r in reveals[:4]]
    assert rows[0]["outcome"] == reveals[0].left_label and rows[1]["outcome"] == reveals[1].right_label
    assert [r["outcome"] for r in rows[2:]] == ["tie", "both_bad"]
    assert sessions.progress(rater.rater_key) == (5, 5) and sessions.next_assignment(rater.rater_key) is None
    assert sessions.counts(s.id) == {"votes": 4, "skips": 1, "raters": 1, "assignments": 5}
    # A skip reveals nobody: names learnt for free could be carried into a second identity's votes.
    assert (reveals[4].left_label, reveals[4].right_label, reveals[4].winner_label) == ("", "", None)
    assert all(r.left_label and r.right_label for r in reveals[:4])
    assert sessions.get(s.id).n_votes == 4


def test_votes_csv_round_trips_with_the_ratings_columns_first():
    s = make()
    keys = []
    for name, choice in (("ann", "left"), ("bob, jr", "right")):
        rater = sessions.join(s.token, name)
        keys.append(rater.rater_key)
        sessions.vote(rater.rater_key, sessions.next_assignment(rater.rater_key).ticket, choice)
    text = sessions.votes_csv(s.id)
    # What the owner downloads names raters; their keys (which resume them) never leave the rater's link.
    assert not any(k in text or k in json.dumps(sessions.vote_rows(s.id)) for k in keys)
    read = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "model_a,model_b,winner,rater,item,overlap,choice,created_at"
    expected = [
        {k: str(int(r[k]) if k == "overlap" else r[k]) for k in sessions.CSV_COLUMNS} for r in sessions.vote_rows(s.id)
    ]
    assert read == expected and {r["rater"] for r in read} == {"ann", "bob, jr"}


def test_delete_removes_everything_of_the_session():
    s, kept = make(), make()
    rater = sessions.join(s.token, "ann")
    sessions.vote(rater.rater_key, sessions.next_assignment(rater.rater_key).ticket, "left")
    sessions.join(kept.token, "ann")
    sessions.delete(s.id)
    with store.connect() as db:
        for table in ("arena_candidates", "arena_items", "arena_raters", "arena_assignments"):
            ids = {r[0] for r in db.execute(f"SELECT DISTINCT session_id FROM {table}")}
            assert ids == {kept.id}, table
        assert db.execute("SELECT COUNT(*) FROM arena_votes").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM arena_answers").fetchone()[0] == 20 * 2
    assert sessions.by_token(s.token) is None


def test_every_pair_of_candidates_is_offered():
    # With 4 candidates (6 pairs) and 12 non-overlap assignments, least-shown-first uses each pair twice.
    four = [*THREE, {"key": "other_model", "label": "Other"}]
    s = sessions.create("four", four, items(12, four), prompts_per_rater=12, overlap=0)
    rows = assignments(sessions.join(s.token, "ann"))
    shown = Counter(frozenset((a["left_key"], a["right_key"])) for a in rows)
    assert set(shown) == {frozenset(p) for p in itertools.combinations([c["key"] for c in four], 2)}
    assert set(shown.values()) == {2}


def test_item_texts_are_what_the_raters_were_shown():
    s = make()
    refs, answers = sessions.item_texts(s.id)
    assert len(refs) == s.n_items and set(answers) == {c.key for c in s.candidates}
    rater = sessions.join(s.token, "ann")
    shown = sessions.next_assignment(rater.rater_key)
    assert {shown.left_text, shown.right_text} <= {a for texts in answers.values() for a in texts}
