"""Preference pairs from the arena's human votes: each item's A/B verdict becomes (prompt, chosen, rejected).

The rules, shown with their counts ("412 votes: 61 ties, 28 both bad; 323 A/B votes in 310 groups -> 288 pairs,
22 split"): "tie" and "both_bad" votes make no pair. The A/B votes on one item and one pair of candidates, in
either side order, form a group; the side with more votes is chosen and the group gives one pair, and a group with
as many votes each way is split and gives none. An item is its prompt with the two answers shown, so the same
prompt and answers in several sessions are one group: one pair, never two that repeat or contradict each other.
A group whose two answers are the same text gives no pair either (it would teach nothing), and is counted.
Pairs are OpenAI DPO records (core.data.preference); each pair's provenance (source "arena": sessions, items,
raters, votes each way, the two candidates) is kept beside it, in the preference version's source.
These are human verdicts only: a ranking by a metric is not one, and never comes through here.
CLI: `python -m core.arena preferences`.
Test: `pytest tests/unit/test_arena_preferences.py tests/unit/test_arena_cli.py tests/app/test_arena_prefs.py`.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from core import jsonl
from core.arena import WINNERS, ratings, sessions
from core.data import preference, split, versions
from core.data.preference import plural

SOURCE = "arena"  # provenance of human verdicts; a metric's ranking would be another source
RATIOS = (0.9, 0.1, 0.0)  # train / validation, grouped by prompt; the prompts came from a test split already
AB = ("model_a", "model_b")


@dataclass(frozen=True)
class Preferences:
    """The pairs made from a set of votes (in the order their groups were first voted on), and the rules' counts."""

    pairs: list[dict]
    provenance: list[dict]  # one per pair, same order
    votes: int
    ties: int
    both_bad: int
    ab_votes: int
    groups: int
    split: int
    same_answers: int = 0
    sessions: tuple[int, ...] = ()

    def counts(self) -> dict:
        keys = ("votes", "ties", "both_bad", "ab_votes", "groups", "split", "same_answers")
        return {"pairs": len(self.pairs), **{k: getattr(self, k) for k in keys}}

    @property
    def sentence(self) -> str:
        """The counts with the rules, in one line."""
        made = [plural(len(self.pairs), "pair", "pairs"), f"{self.split:,} split"]
        if self.same_answers:
            made.append(f"{self.same_answers:,} with the same answer on both sides")
        return (
            f"{plural(self.votes, 'vote', 'votes')}: {plural(self.ties, 'tie', 'ties')}, {self.both_bad:,} both bad; "
            f"{plural(self.ab_votes, 'A/B vote', 'A/B votes')} in {plural(self.groups, 'group', 'groups')} -> "
            + ", ".join(made)
        )

    @property
    def problem(self) -> str | None:
        """Why no pair was made, in words; None when there are pairs."""
        if self.pairs:
            return None
        if not self.votes:
            return "no usable votes: there are no votes yet; share the rater link and come back when raters have voted"
        return (
            f"no usable votes ({self.sentence}): a pair needs an item where more raters chose one answer (A better "
            "or B better) than the other; ties and both-bad votes make none. Collect more votes and try again."
        )


def _vote_number(k: int, column: str) -> str:
    return f"vote {k + 1}, {column}"


def _item(vote: dict, items: Mapping, where: str) -> dict:
    found = items.get((vote.get("session"), str(vote.get("item", ""))))
    if found is None:
        raise ValueError(f"{where}: item {vote.get('item')!r} is not among the items; give the session's items file")
    return found


def _answer(item: dict, label: str, where: str) -> str:
    text = item["answers"].get(label)
    if not isinstance(text, str):
        raise ValueError(f"{where}: item {item['item']!r} has no answer from {label!r}")
    return text


def _group(groups: dict, vote: dict, item: dict, where: Callable[[str], str]) -> None:
    a, b = (_answer(item, vote[side], where(side)) for side in AB)
    key = (json.dumps(item["messages"], sort_keys=True), frozenset({(vote["model_a"], a), (vote["model_b"], b)}))
    g = groups.setdefault(
        key, {"messages": item["messages"], "texts": {}, "wins": Counter(), "raters": set(), "items": {}}
    )
    g["texts"].update({vote["model_a"]: a, vote["model_b"]: b})
    g["wins"][vote[vote["winner"]]] += 1
    g["raters"].update([str(vote["rater"])] if vote.get("rater") else [])
    g["items"][(vote.get("session"), item["item"])] = None


def _answer_message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _sides(g: dict) -> tuple[str, str]:
    """(chosen, rejected): the candidate with more votes first."""
    a, b = g["texts"]
    return (a, b) if g["wins"][a] > g["wins"][b] else (b, a)


def _pair(g: dict) -> tuple[dict, dict]:
    won, lost = _sides(g)
    record = {
        "input": {"messages": g["messages"]},
        "preferred_output": _answer_message(g["texts"][won]),
        "non_preferred_output": _answer_message(g["texts"][lost]),
    }
    where = [{"session": s, "item": i} for s, i in g["items"]]
    provenance = {
        "source": SOURCE,
        "sessions": sorted({s for s, _ in g["items"] if s is not None}),
        "items": where,
        "chosen": won,
        "rejected": lost,
        "votes": {"chosen": g["wins"][won], "rejected": g["wins"][lost]},
        "raters": sorted(g["raters"]),
    }
    return record, provenance


def from_votes(votes: list[dict], items: Mapping, where: Callable[[int, str], str] = _vote_number) -> Preferences:
    """Pairs from votes (model_a, model_b, winner, item, rater, and the session when there are several).

    items: {(session or None, item id as text): {"item", "messages", "answers": {candidate: answer}}}. A vote
    naming an unknown item or winner, or a candidate with no answer, raises ValueError at `where(k, column)`."""
    tally: Counter = Counter()
    groups: dict = {}
    for k, vote in enumerate(votes):
        if vote.get("winner") not in WINNERS:
            raise ValueError(f"{where(k, 'winner')}: {vote.get('winner')!r} is not one of {', '.join(WINNERS)}")
        tally[vote["winner"]] += 1
        if vote["winner"] in AB:
            item = _item(vote, items, where(k, "item"))
            _group(groups, vote, item, lambda column, k=k: where(k, column))
    pairs, provenance, split_, same = [], [], 0, 0
    for g in groups.values():
        if len(set(g["texts"].values())) < 2:
            same += 1
        elif len({g["wins"][label] for label in g["texts"]}) == 1:
            split_ += 1
        else:
            record, where_from = _pair(g)
            pairs.append(record)
            provenance.append(where_from)
    n_ab = tally["model_a"] + tally["model_b"]
    return Preferences(pairs, provenance, len(votes), tally["tie"], tally["both_bad"], n_ab, len(groups), split_, same)


# ---- from sessions in the store -------------------------------------------------------------------------------


def from_sessions(session_ids: list[int]) -> Preferences:
    """Pairs from the votes of one or several sessions (KeyError for a session that does not exist)."""
    ids = list(dict.fromkeys(int(i) for i in session_ids))
    votes, items = [], {}
    for sid in ids:
        sessions.get(sid)
        votes += [{**v, "session": sid} for v in sessions.vote_rows(sid)]
        items.update({(sid, str(it["item"])): it for it in sessions.items(sid)})
    return replace(from_votes(votes, items), sessions=tuple(ids))


def default_name(found: list[sessions.Session]) -> str:
    """A dataset name not taken yet: the session's name, or the sessions' ids, with "preferences"."""
    base = f"{found[0].name} preferences" if len(found) == 1 else f"arena preferences (sessions {_ids(found)})"
    return preference.free_name(base)


def _ids(found: list[sessions.Session]) -> str:
    return ", ".join(str(s.id) for s in found)


def make_version(session_ids: list[int], name: str = "") -> tuple[versions.Version, Preferences]:
    """A new preference dataset of the sessions' pairs with a train/validation split grouped by prompt.

    ValueError, and nothing made, when the votes give no pair or the name is taken."""
    prefs = from_sessions(session_ids)
    found = [sessions.get(i) for i in prefs.sessions]
    if prefs.problem:
        raise ValueError(f"{_where(found)}: {prefs.problem}")
    source = {
        "source": SOURCE,
        "sessions": [{"id": s.id, "name": s.name, "version_id": s.version_id, "split": s.split} for s in found],
        "rules": prefs.counts(),
        "pairs": prefs.provenance,
    }
    note = f"human votes of {_where(found)}: {prefs.sentence}"
    splits = split.split(prefs.pairs, RATIOS)
    made = versions.create(
        name.strip() or default_name(found), prefs.pairs, note, json.dumps(source), "preference", splits
    )
    return made, prefs


def _where(found: list[sessions.Session]) -> str:
    if len(found) == 1:
        return f"arena session {found[0].name!r} (#{found[0].id})"
    return f"arena sessions {', '.join(f'{s.name!r} (#{s.id})' for s in found)}"


# ---- from the Arena page's downloads ----------------------------------------------------------------------------


def _csv_lines(path: Path) -> list[int]:
    """The line each data row of a CSV ends on, as csv.DictReader counts them (blank rows skipped)."""
    reader = csv.reader(path.read_text(encoding="utf-8-sig").splitlines(keepends=True))
    next(reader, None)
    return [reader.line_num for row in reader if row]


def _item_row(path: Path, line: int, obj: object) -> dict:
    at = f"{path} line {line}"
    if not isinstance(obj, dict):
        raise ValueError(f"{at}: expected an object with item, messages and answers, not {type(obj).__name__}")
    item, messages, answers = obj.get("item"), obj.get("messages"), obj.get("answers")
    if isinstance(item, bool) or not isinstance(item, int | str) or str(item).strip() == "":
        raise ValueError(f"{at}, field item: give the item's id (the votes CSV's item column)")
    if (
        not messages
        or not isinstance(messages, list)
        or not all(isinstance(m, dict) and "role" in m for m in messages)
    ):
        raise ValueError(f"{at}, field messages: must be the prompt, a list of messages with role and content")
    if not isinstance(answers, dict) or len(answers) < 2 or not all(isinstance(t, str) for t in answers.values()):
        raise ValueError(f"{at}, field answers: must map each candidate's name to its answer text (two or more)")
    return {"item": item, "messages": messages, "answers": answers}


def read_items(path) -> dict:
    """An ITEMS.jsonl download as from_votes reads it; ValueError naming the file, line and field."""
    path, out, first = Path(path), {}, {}
    try:
        for line, obj in jsonl.read_records(path):
            row = _item_row(path, line, obj)
            key = (None, str(row["item"]))
            if key in out:
                raise ValueError(f"{path} line {line}, field item: item {row['item']!r} is also on line {first[key]}")
            out[key], first[key] = row, line
    except jsonl.JsonlError as e:
        raise ValueError(f"{path}: {e.reason}" if e.line is None else f"{path} {e}") from None
    return out


def from_files(votes_path, items_path) -> Preferences:
    """Pairs from the Arena page's votes CSV and ITEMS.jsonl; ValueError naming the file, line and column."""
    votes_path = Path(votes_path)
    votes = ratings.read_votes_csv(votes_path)
    if "item" not in votes[0]:
        raise ValueError(f"{votes_path} line 1: missing column item (the Arena page's votes CSV has it)")
    items = read_items(items_path)
    lines = _csv_lines(votes_path)
    return from_votes(votes, items, lambda k, column: f"{votes_path} line {lines[k]}, column {column}")
