"""Arena votes under real concurrency: twenty rater processes double-clicking, a killed voter, and joins
racing for one name.

Each process opens its own connections to the same FT_HOME database, as Streamlit sessions in
separate server processes would. Run: `pytest tests/jobs/test_arena_concurrency.py -s` (prints
the wall time of the twenty-process run).
"""

import json
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

from core import store
from core.arena import sessions

RATERS = 20
PER_RATER = 8
CHOICES = ("left", "right", "tie", "both_bad", "skip")
CANDIDATES = [{"key": "base_model", "label": "Base"}, {"key": "tuned_model", "label": "Tuned"}]


def _items(n: int) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"q{i}"}],
            "reference": "",
            "answers": {"base_model": f"b{i}", "tuned_model": f"t{i}"},
        }
        for i in range(n)
    ]


def _double_click(rater_key: str, ticket: str, choice: str) -> list[sessions.Reveal]:
    # Two threads released together send the same vote, as a double click on two requests would.
    gate = threading.Barrier(2)
    out: list = [None, None]

    def send(slot: int) -> None:
        gate.wait()
        out[slot] = sessions.vote(rater_key, ticket, choice)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _rater(token: str, name: str, start, report: str) -> None:
    start.wait()  # every process is up and imported; they join and vote together from here
    rater = sessions.join(token, name)
    log = []
    n = 0
    while (shown := sessions.next_assignment(rater.rater_key)) is not None:
        choice = CHOICES[n % len(CHOICES)]
        first, second = _double_click(rater.rater_key, shown.ticket, choice)
        log.append({"ticket": shown.ticket, "choice": choice, "dup": [first.duplicate, second.duplicate]})
        log[-1]["stored"] = [first.choice, second.choice]
        n += 1
    Path(report).write_text(json.dumps({"rater_key": rater.rater_key, "votes": log}))


def test_twenty_raters_double_clicking_at_once_store_each_vote_exactly_once(tmp_path):
    s = sessions.create("load", CANDIDATES, _items(60), prompts_per_rater=PER_RATER, overlap=3)
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(RATERS + 1)
    reports = [tmp_path / f"r{i}.json" for i in range(RATERS)]
    procs = [ctx.Process(target=_rater, args=(s.token, f"rater {i}", start, str(reports[i]))) for i in range(RATERS)]
    for p in procs:
        p.start()
    start.wait(120)
    t0 = time.perf_counter()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    wall = time.perf_counter() - t0
    print(f"\n{RATERS} raters x {PER_RATER} votes, each sent twice: {wall:.2f} s")

    logs = [json.loads(r.read_text()) for r in reports]
    cast = [v for log in logs for v in log["votes"]]
    assert len(cast) == RATERS * PER_RATER and len({v["ticket"] for v in cast}) == len(cast)
    # Exactly one of the two sends was recorded; both saw the same stored choice.
    assert all(sorted(v["dup"]) == [False, True] and v["stored"] == [v["choice"]] * 2 for v in cast)
    with store.connect() as db:
        stored = dict(
            db.execute(
                "SELECT a.ticket, v.choice FROM arena_votes v JOIN arena_assignments a ON a.id=v.assignment_id"
            ).fetchall()
        )
    assert stored == {v["ticket"]: v["choice"] for v in cast}
    with store.connect() as db:
        spread = [
            r[0]
            for r in db.execute(
                "SELECT COUNT(a.id) FROM arena_items i LEFT JOIN arena_assignments a ON a.item_id=i.id"
                " WHERE i.draw >= 3 GROUP BY i.id"
            )
        ]
    # Joins that raced each other still spread: 20 x 5 others over 57 items is 1 or 2 each.
    assert sum(spread) == 100 and set(spread) == {1, 2}
    # 8 votes per rater cycling through 5 choices: skips at vote 5 only, so 20 skips and 140 votes.
    assert sessions.counts(s.id) == {"votes": 140, "skips": 20, "raters": RATERS, "assignments": 160}
    assert all(sessions.progress(log["rater_key"]) == (PER_RATER, PER_RATER) for log in logs)


def _steady_voter(rater_key: str, acks: str) -> None:
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    while (shown := sessions.next_assignment(rater_key)) is not None:
        sessions.vote(rater_key, shown.ticket, "left")
        # Written only after vote() returned: a line here is an acknowledged vote.
        os.write(fd, f"{shown.ticket}\n".encode())


def _acked(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return [line for line in text.split("\n")[:-1] if line]  # a torn last line is not an ack


def test_a_voter_killed_mid_session_loses_no_acknowledged_vote(tmp_path):
    s = sessions.create("kill", CANDIDATES, _items(400), prompts_per_rater=400, overlap=0)
    rater = sessions.join(s.token, "victim")
    acks = tmp_path / "acks.txt"
    proc = mp.get_context("spawn").Process(target=_steady_voter, args=(rater.rater_key, str(acks)))
    proc.start()
    deadline = time.time() + 60
    while len(_acked(acks)) < 25 and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.join(10)
    assert proc.exitcode == -9

    acked = _acked(acks)
    with store.connect() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        voted = {
            r[0]
            for r in db.execute("SELECT a.ticket FROM arena_votes v JOIN arena_assignments a ON a.id=v.assignment_id")
        }
    assert 25 <= len(acked) < 400, "the kill must land in the middle of the session"
    assert set(acked) <= voted
    # At most the one vote committed between its return and its ack line can be unacknowledged.
    assert len(voted) - len(acked) <= 1
    # The dead writer left no lock behind: the next vote goes through.
    shown = sessions.next_assignment(rater.rater_key)
    assert sessions.vote(rater.rater_key, shown.ticket, "tie").duplicate is False


def _join_as(token: str, name: str, start, report: str) -> None:
    start.wait()  # every process joins with the same new name at once
    try:
        out = {"key": sessions.join(token, name).rater_key}
    except ValueError as exc:
        out = {"refused": str(exc)}
    Path(report).write_text(json.dumps(out))


def test_joins_racing_for_one_new_name_make_one_rater_and_refuse_the_rest(tmp_path):
    s = sessions.create("race", CANDIDATES, _items(10), prompts_per_rater=4, overlap=1)
    ctx = mp.get_context("spawn")
    n = 6
    start = ctx.Barrier(n)
    reports = [tmp_path / f"j{i}.json" for i in range(n)]
    procs = [ctx.Process(target=_join_as, args=(s.token, "Dana", start, str(r))) for r in reports]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    outs = [json.loads(r.read_text()) for r in reports]
    winners = [o["key"] for o in outs if "key" in o]
    assert len(winners) == 1, outs
    assert [o["refused"] for o in outs if "refused" in o] == [
        "the name 'Dana' is taken in this session; if it is you, open your own link (the one shown when you"
        " joined); otherwise choose another name"
    ] * (n - 1)
    assert sessions.rater_by_key(winners[0]).name == "Dana"
    assert sessions.counts(s.id) == {"votes": 0, "skips": 0, "raters": 1, "assignments": 4}
