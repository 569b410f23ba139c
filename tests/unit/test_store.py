"""The SQLite index: migrations, settings, and writers that do not lose each other's work."""

import multiprocessing as mp

from core import paths, store


def test_migrations_apply_once_and_are_recorded():
    with store.connect() as db:
        names = [r["name"] for r in db.execute("SELECT name FROM migrations ORDER BY name")]
        assert names == [name for name, _ in store.MIGRATIONS]
        assert store.migrate(db) == []  # second pass applies nothing
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_settings_round_trip_and_survive_reconnect():
    assert store.get_setting("x", "missing") == "missing"
    store.set_setting("x", {"a": [1, 2]})
    store.set_setting("x", {"a": [3]})
    assert store.get_setting("x") == {"a": [3]}
    store.delete_setting("x")
    assert store.get_setting("x") is None
    assert paths.db_path().exists()


def _increment(n: int) -> None:
    for _ in range(n):
        with store.connect() as db, store.transaction(db):
            row = db.execute("SELECT value FROM settings WHERE key='counter'").fetchone()
            value = int(row["value"]) + 1 if row else 1
            db.execute(
                "INSERT INTO settings (key, value) VALUES ('counter', ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(value),),
            )


def test_concurrent_read_then_write_loses_nothing():
    # Four processes each add 25: a deferred transaction would lose increments here.
    store.set_setting("counter", 0)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(25,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert store.get_setting("counter") == 100
