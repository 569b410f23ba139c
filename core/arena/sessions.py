"""Blind ranking sessions in the store: sessions, raters, assignments and votes.

An owner creates a session (candidates with their answers already generated); raters join by
the session's share token and a name that is theirs alone in the session, and vote on anonymous
pairs; they come back through their own key (rater_by_key), never by typing the name again. The
assignment is the unit of work and the idempotency key: one vote per assignment, however often it is sent.
Test: `pytest tests/unit/test_arena_sessions.py tests/jobs/test_arena_concurrency.py`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import secrets
import sqlite3
from collections import Counter
from dataclasses import dataclass

from core import store
from core.data import writers

CHOICES = ("left", "right", "tie", "both_bad", "skip")
CSV_COLUMNS = ("model_a", "model_b", "winner", "rater", "item", "overlap", "choice", "created_at")
_WINNER = {"left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "both_bad"}
_NAME_MAX = 80
# Sides must not be guessable from a seed the owner chose, so they come from the OS.
_sides = random.SystemRandom()


@dataclass(frozen=True)
class Entrant:
    """A candidate as a session stores it (not core.eval.candidates.Candidate): its key and its label."""

    key: str
    label: str


@dataclass(frozen=True)
class Session:
    id: int
    token: str
    name: str
    candidates: tuple[Entrant, ...]
    n_items: int
    prompts_per_rater: int
    overlap: int
    instructions: str
    created_at: str
    version_id: int | None = None
    split: str = "test"
    closed: bool = False
    n_votes: int = 0
    n_raters: int = 0

    @property
    def per_rater(self) -> int:
        """Assignments each rater gets (a session smaller than prompts_per_rater gives all)."""
        return min(self.prompts_per_rater, self.n_items)


@dataclass(frozen=True)
class Rater:
    id: int
    session_id: int
    name: str
    rater_key: str
    created_at: str


@dataclass(frozen=True)
class Assignment:
    """What the rater's page shows before a vote: nothing here names a candidate."""

    ticket: str
    prompt: list[dict]
    left_text: str
    right_text: str
    number: int
    total: int
    done: int


@dataclass(frozen=True)
class Reveal:
    choice: str
    left_label: str
    right_label: str
    winner_label: str | None
    duplicate: bool


# --- creating a session -------------------------------------------------------------------


def _check_candidates(candidates: list[dict]) -> list[Entrant]:
    if len(candidates) < 2:
        raise ValueError(f"a session needs at least two candidates to compare; got {len(candidates)}")
    out = [Entrant(str(c.get("key", "")).strip(), str(c.get("label", "")).strip()) for c in candidates]
    for i, c in enumerate(out):
        if not c.key or not c.label:
            raise ValueError(f"candidate {i + 1} needs both a key and a label")
    for field in ("key", "label"):
        twice = [v for v, n in Counter(getattr(c, field) for c in out).items() if n > 1]
        if twice:
            raise ValueError(f"candidate {field}s must differ: {twice[0]!r} appears more than once")
    return out


def _check_items(items: list[dict], candidates: list[Entrant]) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"item {i} must be a dict with prompt, reference and answers")
        prompt = item.get("prompt")
        if not prompt or not isinstance(prompt, list) or not all(isinstance(m, dict) for m in prompt):
            raise ValueError(f"item {i}: the prompt must be a list of messages (role, content)")
        answers = item.get("answers") or {}
        for c in candidates:
            if not isinstance(answers.get(c.key), str):
                raise ValueError(f"item {i} has no answer from candidate {c.label!r} (key {c.key!r})")


def _check_sizes(name: str, n_items: int, prompts_per_rater: int, overlap: int) -> None:
    if not name:
        raise ValueError("give the session a name")
    if n_items == 0:
        raise ValueError("a session needs at least one item (a prompt with an answer from each candidate)")
    if prompts_per_rater < 1:
        raise ValueError(f"prompts per rater must be at least 1; got {prompts_per_rater}")
    if overlap < 0:
        raise ValueError(f"the overlap cannot be negative; got {overlap}")
    if overlap > prompts_per_rater:
        raise ValueError(f"the overlap ({overlap}) cannot exceed the prompts per rater ({prompts_per_rater})")
    if overlap > n_items:
        raise ValueError(f"the overlap ({overlap}) cannot exceed the number of items ({n_items})")


def _overlap_pairs(candidates: list[Entrant], overlap: int, rng: random.Random) -> list[tuple[str, str]]:
    # Fixed per overlap item, so raters' verdicts on it compare like with like; cycled for balance.
    pairs = list(itertools.combinations([c.key for c in candidates], 2))
    rng.shuffle(pairs)
    return [pairs[i % len(pairs)] for i in range(overlap)]


def _draws(n: int, rng: random.Random) -> list[int]:
    """Each item's rank in a seeded shuffle: ranks below `overlap` are the items every rater sees."""
    order = list(range(n))
    rng.shuffle(order)
    draws = [0] * n
    for rank, idx in enumerate(order):
        draws[idx] = rank
    return draws


def _check_version(db, version_id: int | None) -> None:
    if (
        version_id is not None
        and not db.execute("SELECT 1 FROM dataset_versions WHERE id=?", (version_id,)).fetchone()
    ):
        raise ValueError(f"dataset version {version_id} does not exist")


def _insert_items(db, session_id: int, items: list[dict], draws: list[int], pairs) -> None:
    for idx, item in enumerate(items):
        pair = pairs[draws[idx]] if draws[idx] < len(pairs) else (None, None)
        prompt, reference = json.dumps(item["prompt"]), str(item.get("reference") or "")
        item_id = db.execute(
            "INSERT INTO arena_items (session_id, idx, prompt, reference, draw, pair_a, pair_b)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, idx, prompt, reference, draws[idx], *pair),
        ).lastrowid
        db.executemany(
            "INSERT INTO arena_answers (item_id, candidate_key, text) VALUES (?, ?, ?)",
            [(item_id, key, text) for key, text in item["answers"].items()],
        )


def create(
    name: str,
    candidates: list[dict],
    items: list[dict],
    prompts_per_rater: int = 20,
    overlap: int = 5,
    instructions: str = "",
    version_id: int | None = None,
    split: str = "test",
    seed: int | None = None,
) -> Session:
    """A new session with its candidates and items; raises ValueError naming what is wrong."""
    name = (name or "").strip()
    cands = _check_candidates(candidates)
    _check_sizes(name, len(items), prompts_per_rater, overlap)
    _check_items(items, cands)
    keys = {c.key for c in cands}
    items = [{**it, "answers": {k: v for k, v in it["answers"].items() if k in keys}} for it in items]
    rng = random.Random(seed if seed is not None else _sides.getrandbits(64))
    draws = _draws(len(items), rng)
    with store.connect() as db, store.transaction(db):
        _check_version(db, version_id)
        session_id = db.execute(
            "INSERT INTO arena_sessions (token, name, version_id, split, prompts_per_rater, overlap,"
            " instructions) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (secrets.token_urlsafe(16), name, version_id, split, prompts_per_rater, overlap, instructions),
        ).lastrowid
        db.executemany(
            "INSERT INTO arena_candidates (session_id, key, label, position) VALUES (?, ?, ?, ?)",
            [(session_id, c.key, c.label, i) for i, c in enumerate(cands)],
        )
        _insert_items(db, session_id, items, draws, _overlap_pairs(cands, overlap, rng))
    return get(session_id)


# --- reading sessions ---------------------------------------------------------------------

_SESSION = (
    "SELECT s.*, (SELECT COUNT(*) FROM arena_items i WHERE i.session_id=s.id) AS n_items,"
    " (SELECT COUNT(*) FROM arena_raters r WHERE r.session_id=s.id) AS n_raters,"
    " (SELECT COUNT(*) FROM arena_votes v JOIN arena_assignments a ON a.id=v.assignment_id"
    "  WHERE a.session_id=s.id AND v.choice != 'skip') AS n_votes FROM arena_sessions s"
)


def _session(db, row) -> Session:
    cands = db.execute(
        "SELECT key, label FROM arena_candidates WHERE session_id=? ORDER BY position", (row["id"],)
    ).fetchall()
    fields = {k: row[k] for k in row.keys() if k in Session.__dataclass_fields__}
    return Session(**{**fields, "closed": bool(row["closed"])}, candidates=tuple(Entrant(*c) for c in cands))


def _one(where: str, value) -> Session | None:
    with store.connect() as db:
        row = db.execute(f"{_SESSION} WHERE {where}", (value,)).fetchone()
        return _session(db, row) if row else None


def by_token(token: str) -> Session | None:
    return _one("s.token=?", str(token or ""))


def get(session_id: int) -> Session:
    session = _one("s.id=?", session_id)
    if session is None:
        raise KeyError(f"no arena session {session_id}")
    return session


def list_sessions() -> list[Session]:
    """Every session, newest first, with its vote and rater counts."""
    with store.connect() as db:
        return [_session(db, r) for r in db.execute(f"{_SESSION} ORDER BY s.id DESC").fetchall()]


# --- raters and their assignments ---------------------------------------------------------


def _rater(row) -> Rater:
    return Rater(row["id"], row["session_id"], row["name"], row["rater_key"], row["created_at"])


def _pick_items(db, session: Session) -> list[tuple]:
    """Overlap items, then the least-assigned others (ties in the session's seeded draw order)."""
    rows = db.execute(
        "SELECT i.id, i.draw, i.pair_a, i.pair_b, (SELECT COUNT(*) FROM arena_assignments a"
        " WHERE a.session_id=i.session_id AND a.item_id=i.id) AS n FROM arena_items i"
        " WHERE i.session_id=? ORDER BY i.draw",
        (session.id,),
    ).fetchall()
    shared = rows[: session.overlap]
    others = sorted(rows[session.overlap :], key=lambda r: (r["n"], r["draw"]))
    return shared + others[: session.per_rater - len(shared)]


def _pair_counts(db, session: Session) -> Counter:
    keys = [c.key for c in session.candidates]
    counts = Counter({pair: 0 for pair in itertools.combinations(keys, 2)})
    for row in db.execute(
        "SELECT left_key, right_key, COUNT(*) AS n FROM arena_assignments WHERE session_id=?"
        " GROUP BY left_key, right_key",
        (session.id,),
    ):
        pair = tuple(sorted((row["left_key"], row["right_key"]), key=keys.index))
        counts[pair] += row["n"]
    return counts


def _assign(db, session: Session, rater_id: int) -> None:
    counts = _pair_counts(db, session)
    rows = []
    for item in _pick_items(db, session):
        if item["pair_a"] is not None:
            pair = (item["pair_a"], item["pair_b"])
        else:
            fewest = min(counts.values())
            pair = _sides.choice([p for p, n in counts.items() if n == fewest])
        counts[pair] += 1
        left, right = pair if _sides.random() < 0.5 else pair[::-1]
        rows.append((item["id"], left, right, int(item["pair_a"] is not None)))
    _sides.shuffle(rows)
    db.executemany(
        "INSERT INTO arena_assignments (ticket, session_id, rater_id, item_id, position, left_key,"
        " right_key, overlap) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(secrets.token_hex(12), session.id, rater_id, item, pos, *rest) for pos, (item, *rest) in enumerate(rows)],
    )


def _name_taken(name: str) -> ValueError:
    return ValueError(
        f"the name {name!r} is taken in this session; if it is you, open your own link (the one shown when you"
        " joined); otherwise choose another name"
    )


def join(token: str, name: str) -> Rater:
    """A new rater called `name` in the session behind `token`, with their assignments.

    A name already in the session (names compare without case) is refused: typing a name must never
    hand out that rater's key. A rater comes back through their own link (rater_by_key).
    """
    name = " ".join((name or "").split())
    if not name:
        raise ValueError("enter your name to start rating")
    if len(name) > _NAME_MAX:
        raise ValueError(f"a rater name can have at most {_NAME_MAX} characters; this one has {len(name)}")
    session = by_token(token)
    if session is None:
        raise ValueError("this rating link does not match any session; ask the owner for a new link")
    with store.connect() as db, store.transaction(db):
        if db.execute("SELECT closed FROM arena_sessions WHERE id=?", (session.id,)).fetchone()[0]:
            raise ValueError(f"the session {session.name!r} is closed to new raters")
        try:  # UNIQUE (session_id, name) decides between racing joins; BEGIN IMMEDIATE already queues them
            rater_id = db.execute(
                "INSERT INTO arena_raters (session_id, name, rater_key) VALUES (?, ?, ?)",
                (session.id, name, secrets.token_urlsafe(16)),
            ).lastrowid
        except sqlite3.IntegrityError as exc:
            if "arena_raters.name" not in str(exc):
                raise
            raise _name_taken(name) from None
        _assign(db, session, rater_id)
        return _rater(db.execute("SELECT * FROM arena_raters WHERE id=?", (rater_id,)).fetchone())


def rater_by_key(rater_key: str) -> Rater | None:
    with store.connect() as db:
        row = db.execute("SELECT * FROM arena_raters WHERE rater_key=?", (str(rater_key or ""),)).fetchone()
    return _rater(row) if row else None


def _progress(db, rater_key: str) -> tuple[int, int]:
    row = db.execute(
        "SELECT COUNT(a.id) AS total, COUNT(v.assignment_id) AS done FROM arena_raters r"
        " JOIN arena_assignments a ON a.rater_id=r.id LEFT JOIN arena_votes v ON v.assignment_id=a.id"
        " WHERE r.rater_key=?",
        (str(rater_key or ""),),
    ).fetchone()
    return row["done"], row["total"]


def progress(rater_key: str) -> tuple[int, int]:
    """(votes cast, assignments) for the rater; skips count as done."""
    with store.connect() as db:
        return _progress(db, rater_key)


def next_assignment(rater_key: str) -> Assignment | None:
    """The rater's first assignment without a vote, or None when every one has a vote."""
    with store.connect() as db:
        row = db.execute(
            "SELECT a.ticket, a.position, i.prompt, l.text AS left_text, r.text AS right_text"
            " FROM arena_assignments a JOIN arena_raters rt ON rt.id=a.rater_id"
            " JOIN arena_items i ON i.id=a.item_id"
            " JOIN arena_answers l ON l.item_id=a.item_id AND l.candidate_key=a.left_key"
            " JOIN arena_answers r ON r.item_id=a.item_id AND r.candidate_key=a.right_key"
            " WHERE rt.rater_key=? AND NOT EXISTS (SELECT 1 FROM arena_votes v WHERE v.assignment_id=a.id)"
            " ORDER BY a.position LIMIT 1",
            (str(rater_key or ""),),
        ).fetchone()
        if row is None:
            return None
        done, total = _progress(db, rater_key)
    prompt, number = json.loads(row["prompt"]), row["position"] + 1
    return Assignment(row["ticket"], prompt, row["left_text"], row["right_text"], number, total, done)


# --- votes ----------------------------------------------------------------------------------


def _reveal(row, choice: str, duplicate: bool) -> Reveal:
    if choice == "skip":  # a free reveal would let a rater learn the authors, rejoin, and vote knowing
        return Reveal(choice, "", "", None, duplicate)
    winner = {"left": row["left_label"], "right": row["right_label"]}.get(choice)
    return Reveal(choice, row["left_label"], row["right_label"], winner, duplicate)


def vote(rater_key: str, ticket: str, choice: str, ms_to_vote: int | None = None) -> Reveal:
    """Record the rater's choice on one assignment; a repeat returns the first vote, marked duplicate."""
    if choice not in CHOICES:
        raise ValueError(f"unknown choice {choice!r}; expected one of {', '.join(CHOICES)}")
    ms = int(ms_to_vote) if ms_to_vote is not None and ms_to_vote >= 0 else None
    with store.connect() as db, store.transaction(db):
        row = db.execute(
            "SELECT a.id, s.closed, cl.label AS left_label, cr.label AS right_label, v.choice AS voted"
            " FROM arena_assignments a JOIN arena_raters r ON r.id=a.rater_id"
            " JOIN arena_sessions s ON s.id=a.session_id"
            " JOIN arena_candidates cl ON cl.session_id=a.session_id AND cl.key=a.left_key"
            " JOIN arena_candidates cr ON cr.session_id=a.session_id AND cr.key=a.right_key"
            " LEFT JOIN arena_votes v ON v.assignment_id=a.id WHERE a.ticket=? AND r.rater_key=?",
            (str(ticket or ""), str(rater_key or "")),
        ).fetchone()
        if row is None:
            raise ValueError("this pair is not one of your assignments; reload the page for your next pair")
        if row["voted"] is not None:
            return _reveal(row, row["voted"], duplicate=True)
        if row["closed"]:
            raise ValueError("this session is closed; votes are no longer recorded")
        inserted = db.execute(
            "INSERT OR IGNORE INTO arena_votes (assignment_id, choice, ms_to_vote) VALUES (?, ?, ?)",
            (row["id"], choice, ms),
        ).rowcount
        if not inserted:  # the primary key, not the read above, is what guarantees one vote
            stored = db.execute("SELECT choice FROM arena_votes WHERE assignment_id=?", (row["id"],))
            return _reveal(row, stored.fetchone()[0], duplicate=True)
    return _reveal(row, choice, duplicate=False)


def vote_rows(session_id: int) -> list[dict]:
    """One row per vote that is not a skip, in the order cast; model_a is the left answer."""
    with store.connect() as db:
        rows = db.execute(
            "SELECT r.name AS rater, i.idx AS item, a.overlap, v.choice, cl.label AS model_a,"
            " cr.label AS model_b, v.created_at, v.ms_to_vote FROM arena_votes v"
            " JOIN arena_assignments a ON a.id=v.assignment_id JOIN arena_raters r ON r.id=a.rater_id"
            " JOIN arena_items i ON i.id=a.item_id"
            " JOIN arena_candidates cl ON cl.session_id=a.session_id AND cl.key=a.left_key"
            " JOIN arena_candidates cr ON cr.session_id=a.session_id AND cr.key=a.right_key"
            " WHERE a.session_id=? AND v.choice != 'skip' ORDER BY v.created_at, a.id",
            (session_id,),
        ).fetchall()
    return [_vote_row(r) for r in rows]


def _vote_row(r) -> dict:
    row = dict(r)
    winner = _WINNER[row["choice"]]
    # outcome names the winning candidate, so agreement compares raters who saw opposite sides
    outcome = {"model_a": row["model_a"], "model_b": row["model_b"]}.get(winner, winner)
    return {**row, "overlap": bool(row["overlap"]), "winner": winner, "outcome": outcome}


def counts(session_id: int) -> dict[str, int]:
    """Votes (not skips), skips, raters and assignments of a session."""
    with store.connect() as db:
        row = db.execute(
            "SELECT (SELECT COUNT(*) FROM arena_assignments WHERE session_id=:s) AS assignments,"
            " (SELECT COUNT(*) FROM arena_raters WHERE session_id=:s) AS raters,"
            " COALESCE(SUM(v.choice != 'skip'), 0) AS votes, COALESCE(SUM(v.choice = 'skip'), 0) AS skips"
            " FROM arena_votes v JOIN arena_assignments a ON a.id=v.assignment_id WHERE a.session_id=:s",
            {"s": session_id},
        ).fetchone()
    return {k: row[k] for k in ("votes", "skips", "raters", "assignments")}


def item_texts(session_id: int) -> tuple[list[str], dict[str, list[str]]]:
    """The references and each candidate's answers (by key), in item order: what raters were shown."""
    with store.connect() as db:
        refs = [
            r[0]
            for r in db.execute("SELECT reference FROM arena_items WHERE session_id=? ORDER BY idx", (session_id,))
        ]
        rows = db.execute(
            "SELECT n.candidate_key, n.text FROM arena_answers n JOIN arena_items i ON i.id=n.item_id"
            " WHERE i.session_id=? ORDER BY i.idx",
            (session_id,),
        ).fetchall()
    answers: dict[str, list[str]] = {}
    for key, text in rows:
        answers.setdefault(key, []).append(text)
    return refs, answers


def items(session_id: int) -> list[dict]:
    """Each item as raters saw it, in item order: its id (the votes' `item`), prompt, answers by candidate label."""
    with store.connect() as db:
        rows = db.execute(
            "SELECT i.idx, i.prompt, c.label, n.text FROM arena_items i JOIN arena_answers n ON n.item_id=i.id"
            " JOIN arena_candidates c ON c.session_id=i.session_id AND c.key=n.candidate_key"
            " WHERE i.session_id=? ORDER BY i.idx, c.position",
            (session_id,),
        ).fetchall()
    out: dict[int, dict] = {}
    for idx, prompt, label, text in rows:
        out.setdefault(idx, {"item": idx, "messages": json.loads(prompt), "answers": {}})["answers"][label] = text
    return list(out.values())


def items_jsonl(session_id: int) -> bytes:
    """The items as JSON Lines, the votes CSV's companion for `python -m core.arena preferences --items`."""
    return writers.to_jsonl_bytes(items(session_id))


def votes_csv(session_id: int) -> str:
    """The votes as CSV; its first three columns are what `python -m core.arena ratings` reads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in vote_rows(session_id):
        writer.writerow([int(row[c]) if c == "overlap" else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


# --- owner actions ----------------------------------------------------------------------------


def _set_closed(session_id: int, closed: bool) -> None:
    with store.connect() as db, store.transaction(db):
        cur = db.execute("UPDATE arena_sessions SET closed=? WHERE id=?", (int(closed), session_id))
        if cur.rowcount == 0:
            raise KeyError(f"no arena session {session_id}")


def close(session_id: int) -> None:
    """Stop taking votes and new raters; everything stored stays."""
    _set_closed(session_id, True)


def reopen(session_id: int) -> None:
    _set_closed(session_id, False)


def delete(session_id: int) -> None:
    """Remove the session with its items, raters, assignments and votes."""
    with store.connect() as db, store.transaction(db):
        db.execute("DELETE FROM arena_sessions WHERE id=?", (session_id,))
