"""Arena votes as preference pairs: grouping, split groups, ties, both-bad, either side order, several sessions,
provenance, and the preference version made of them (real SQLite in the test's FT_HOME).

Run: `.venv/bin/pytest tests/unit/test_arena_preferences.py -q`.
"""

import json
import random
from collections import Counter, defaultdict

import pytest

from core.arena import preferences, sessions
from core.data import preference, versions

LABELS = ("Base", "Tuned", "Full")


def item(i: int, labels=LABELS) -> dict:
    return {
        "item": i,
        "messages": [{"role": "user", "content": f"question {i}"}],
        "answers": {label: f"{label.lower()} says {i}" for label in labels},
    }


def items_of(n: int, session=None) -> dict:
    return {(session, str(i)): item(i) for i in range(n)}


def vote(a: str, b: str, winner: str, it: int, rater: str = "ann", session=None) -> dict:
    return {"model_a": a, "model_b": b, "winner": winner, "item": it, "rater": rater, "session": session}


def test_the_side_with_more_votes_is_chosen_in_either_side_order():
    votes = [
        vote("Base", "Tuned", "model_b", 0, "ann"),  # Tuned better
        vote("Tuned", "Base", "model_a", 0, "bob"),  # Tuned better, sides swapped
        vote("Tuned", "Base", "model_b", 0, "cy"),  # Base better
    ]
    p = preferences.from_votes(votes, items_of(1))
    assert (p.votes, p.ab_votes, p.groups, len(p.pairs), p.split) == (3, 3, 1, 1, 0)
    [pair] = p.pairs
    assert pair == {
        "input": {"messages": [{"role": "user", "content": "question 0"}]},
        "preferred_output": [{"role": "assistant", "content": "tuned says 0"}],
        "non_preferred_output": [{"role": "assistant", "content": "base says 0"}],
    }
    [prov] = p.provenance
    assert prov["source"] == "arena" and (prov["chosen"], prov["rejected"]) == ("Tuned", "Base")
    assert prov["votes"] == {"chosen": 2, "rejected": 1} and prov["raters"] == ["ann", "bob", "cy"]
    assert prov["items"] == [{"session": None, "item": 0}]
    assert preference.validate(p.pairs, count_tokens=False).errors == []


def test_equal_votes_each_way_are_split_and_give_no_pair():
    votes = [vote("Base", "Tuned", "model_a", 0), vote("Tuned", "Base", "model_a", 0, "bob")]
    p = preferences.from_votes(votes, items_of(1))
    assert (p.groups, len(p.pairs), p.split) == (1, 0, 1)
    assert "1 group -> 0 pairs, 1 split" in p.sentence
    assert "no usable votes" in p.problem


def test_ties_and_both_bad_make_no_pair_and_are_counted():
    votes = [vote("Base", "Tuned", "tie", 0), vote("Base", "Tuned", "both_bad", 1), vote("Base", "Tuned", "tie", 1)]
    p = preferences.from_votes(votes, items_of(2))
    assert (p.votes, p.ties, p.both_bad, p.ab_votes, p.groups, p.pairs) == (3, 2, 1, 0, 0, [])
    assert p.sentence == "3 votes: 2 ties, 1 both bad; 0 A/B votes in 0 groups -> 0 pairs, 0 split"
    assert "ties and both-bad votes make none" in p.problem


def test_other_candidate_pairs_on_the_same_item_are_their_own_groups():
    votes = [
        vote("Base", "Tuned", "model_b", 0),
        vote("Full", "Tuned", "model_a", 0),
        vote("Base", "Full", "model_b", 0),
    ]
    p = preferences.from_votes(votes, items_of(1))
    assert (p.groups, len(p.pairs)) == (3, 3)
    assert [(x["chosen"], x["rejected"]) for x in p.provenance] == [
        ("Tuned", "Base"),
        ("Full", "Tuned"),
        ("Full", "Base"),
    ]


def test_the_same_answer_on_both_sides_gives_no_pair_and_says_so():
    items = items_of(1)
    items[(None, "0")]["answers"]["Tuned"] = items[(None, "0")]["answers"]["Base"]
    p = preferences.from_votes([vote("Base", "Tuned", "model_a", 0)], items)
    assert (p.groups, p.same_answers, p.pairs) == (1, 1, [])
    assert p.sentence.endswith("-> 0 pairs, 0 split, 1 with the same answer on both sides")


def test_counts_match_an_independent_tally_on_random_votes():
    rng = random.Random(5)
    winners = ["model_a"] * 5 + ["model_b"] * 5 + ["tie"] * 2 + ["both_bad"]
    votes = []
    for k in range(400):
        a, b = rng.sample(LABELS, 2)
        votes.append(vote(a, b, rng.choice(winners), rng.randrange(60), f"r{k % 7}"))
    # The tally by hand: per item and unordered candidate pair, wins of each candidate.
    wins = defaultdict(Counter)
    for v in votes:
        if v["winner"] in ("model_a", "model_b"):
            wins[(v["item"], frozenset((v["model_a"], v["model_b"])))][v[v["winner"]]] += 1
    split_groups = sum(1 for (_, pair), c in wins.items() if len({c[x] for x in pair}) == 1)
    p = preferences.from_votes(votes, items_of(60))
    winner_count = Counter(v["winner"] for v in votes)
    assert p.counts() == {
        "votes": 400,
        "ties": winner_count["tie"],
        "both_bad": winner_count["both_bad"],
        "ab_votes": winner_count["model_a"] + winner_count["model_b"],
        "groups": len(wins),
        "pairs": len(wins) - split_groups,
        "split": split_groups,
        "same_answers": 0,
    }
    for pair, prov in zip(p.pairs, p.provenance, strict=True):
        [where] = prov["items"]
        c = wins[(where["item"], frozenset((prov["chosen"], prov["rejected"])))]
        assert c[prov["chosen"]] > c[prov["rejected"]] == prov["votes"]["rejected"]
        assert pair["preferred_output"][0]["content"] == f"{prov['chosen'].lower()} says {where['item']}"
    assert p.sentence.startswith(f"400 votes: {winner_count['tie']} ties, {winner_count['both_bad']} both bad; ")


def test_a_vote_on_an_unknown_item_or_candidate_is_named():
    with pytest.raises(ValueError, match=r"vote 2, item: item 7 is not among the items"):
        preferences.from_votes([vote("Base", "Tuned", "tie", 7), vote("Base", "Tuned", "model_a", 7)], items_of(1))
    with pytest.raises(ValueError, match=r"vote 1, model_b: item 0 has no answer from 'Other'"):
        preferences.from_votes([vote("Base", "Other", "model_b", 0)], items_of(1))


# ---- sessions in the store -----------------------------------------------------------------------------------------

TWO = [{"key": "base_model", "label": "Base"}, {"key": "tuned_model", "label": "Tuned"}]


def session_items(n: int, prefix: str = "question") -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"{prefix} {i}"}],
            "answers": {"base_model": f"base says {i}", "tuned_model": f"tuned says {i}"},
        }
        for i in range(n)
    ]


def rate(session: sessions.Session, rater: str, pick) -> None:
    """Every assignment of a new rater, voted by pick(prompt text, left text) -> a choice."""
    key = sessions.join(session.token, rater).rater_key
    while (a := sessions.next_assignment(key)) is not None:
        sessions.vote(key, a.ticket, pick(a.prompt[-1]["content"], a.left_text))


def tuned(prompt: str, left: str) -> str:
    return "left" if left.startswith("tuned") else "right"


def base(prompt: str, left: str) -> str:
    return "right" if left.startswith("tuned") else "left"


def test_several_sessions_with_the_same_items_merge_into_one_group_each():
    one = sessions.create("first", TWO, session_items(3), prompts_per_rater=3, overlap=3, seed=1)
    two = sessions.create("second", TWO, session_items(3), prompts_per_rater=3, overlap=3, seed=2)
    rate(one, "ann", tuned)
    rate(two, "bob", tuned)
    rate(two, "cy", base)
    p = preferences.from_sessions([one.id, two.id])
    assert p.sessions == (one.id, two.id)
    assert (p.votes, p.groups, len(p.pairs), p.split) == (9, 3, 3, 0)
    for prov in p.provenance:
        assert prov["sessions"] == [one.id, two.id] and prov["raters"] == ["ann", "bob", "cy"]
        assert prov["votes"] == {"chosen": 2, "rejected": 1} and prov["chosen"] == "Tuned"
        assert {w["session"] for w in prov["items"]} == {one.id, two.id}
    # Each session alone: the second one's votes are one each way on every item.
    assert preferences.from_sessions([two.id]).split == 3
    with pytest.raises(KeyError, match="no arena session 99"):
        preferences.from_sessions([99])


def test_the_version_has_a_split_by_prompt_and_the_rules_in_its_source():
    rows = session_items(10) + session_items(10)  # every prompt twice, with the same answers
    rows = rows[:10] + [{**r, "answers": {k: v + " (again)" for k, v in r["answers"].items()}} for r in rows[10:]]
    s = sessions.create("pilot", TWO, rows, prompts_per_rater=20, overlap=20, seed=3)
    rate(s, "ann", tuned)
    made, p = preferences.make_version([s.id])
    assert made.kind == "preference" and made.n_examples == len(p.pairs) == 20
    assert made.dataset == "pilot preferences" and p.sentence in made.note
    groups = preference.prompt_groups(versions.examples(made))
    split_of = {i: name for name, members in made.splits.items() for i in members}
    by_prompt = defaultdict(set)
    for i, g in enumerate(groups):
        by_prompt[g].add(split_of[i])
    assert len(by_prompt) == 10 and all(len(names) == 1 for names in by_prompt.values())
    assert made.splits["validation"] and made.splits["train"] and not made.splits["test"]
    [dataset] = [d for d in versions.datasets() if d.id == made.dataset_id]
    source = json.loads(dataset.source)
    assert source["source"] == "arena" and source["sessions"][0]["name"] == "pilot"
    assert source["rules"] == p.counts() and source["pairs"] == p.provenance
    again, _ = preferences.make_version([s.id])
    assert again.dataset == "pilot preferences 2"


def test_a_session_without_usable_votes_makes_no_version():
    s = sessions.create("ties only", TWO, session_items(2), prompts_per_rater=2, overlap=2, seed=4)
    with pytest.raises(ValueError, match=r"'ties only' \(#\d+\): no usable votes: there are no votes yet"):
        preferences.make_version([s.id])
    rate(s, "ann", lambda prompt, left: "tie")
    with pytest.raises(ValueError, match=r"no usable votes \(2 votes: 2 ties, 0 both bad; 0 A/B votes"):
        preferences.make_version([s.id])
    assert versions.datasets() == []


def test_the_items_download_names_candidates_as_the_votes_csv_does():
    s = sessions.create("pilot", TWO, session_items(2), prompts_per_rater=2, overlap=2, seed=5)
    lines = [json.loads(x) for x in sessions.items_jsonl(s.id).decode().splitlines()]
    assert lines == [
        {
            "item": i,
            "messages": [{"role": "user", "content": f"question {i}"}],
            "answers": {"Base": f"base says {i}", "Tuned": f"tuned says {i}"},
        }
        for i in range(2)
    ]
