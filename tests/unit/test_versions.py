"""Dataset versions: immutable, content-addressed, restorable; drafts survive; diffs are right."""

import pytest

from core.data import versions


def ex(q: str, a: str = "A.") -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_every_save_is_a_new_immutable_version():
    v1 = versions.create("demo", [ex("q1"), ex("q2")])
    v2 = versions.save(v1, [ex("q1")], "drop q2")
    assert (v1.number, v2.number, v2.parent_id) == (1, 2, v1.id)
    assert versions.examples(v1) == [ex("q1"), ex("q2")]  # the old version is untouched
    assert versions.examples(v2) == [ex("q1")]
    assert [v.number for v in versions.history(v1.dataset_id)] == [2, 1]
    assert versions.latest(v1.dataset_id).id == v2.id


def test_restore_makes_the_old_content_newest_and_keeps_history():
    v1 = versions.create("demo", [ex("q1"), ex("q2")])
    v2 = versions.save(v1, [], "oops, deleted everything")
    v3 = versions.restore(v1)
    assert v3.number == 3 and v3.parent_id == v2.id and "restored v1" in v3.note
    assert versions.examples(v3) == versions.examples(v1) and v3.sha256 == v1.sha256


def test_names_are_unique_and_required():
    versions.create("demo", [ex("q")])
    with pytest.raises(ValueError, match="already exists"):
        versions.create("demo", [ex("q")])
    with pytest.raises(ValueError, match="name"):
        versions.create("  ", [ex("q")])


def test_draft_survives_and_is_cleared_by_save():
    v1 = versions.create("demo", [ex("q1")])
    sha = versions.save_draft(v1, [ex("q1"), ex("new")])
    draft = versions.load_draft(v1.dataset_id)
    assert draft.base_version_id == v1.id and draft.examples[1] == ex("new") and draft.sha256 == sha
    assert versions.read_blob(sha) == draft.examples
    versions.save(v1, draft.examples, "added one")
    assert versions.load_draft(v1.dataset_id) is None


def test_a_draft_write_from_a_stale_copy_is_refused_and_saving_keeps_the_newer_draft():
    v1 = versions.create("demo", [ex("q1")])
    first = versions.save_draft(v1, [ex("tab 1")], seen=None)
    second = versions.save_draft(v1, [ex("tab 2")], seen=first)
    with pytest.raises(versions.DraftConflict) as refused:
        versions.save_draft(v1, [ex("tab 1 again")], seen=first)  # tab 1 still thinks the draft is its own
    assert refused.value.current == second and versions.read_blob(refused.value.mine) == [ex("tab 1 again")]
    with pytest.raises(versions.DraftConflict):
        versions.save_draft(v1, [ex("a new tab")], seen=None)
    assert versions.draft_head(v1.dataset_id)[0] == second
    versions.save(v1, [ex("tab 1 again")], "tab 1's copy", draft=first)
    assert versions.load_draft(v1.dataset_id).examples == [ex("tab 2")]  # another tab's draft is never dropped
    versions.save(versions.latest(v1.dataset_id), [ex("tab 2")], "tab 2's copy", draft=second)
    assert versions.draft_head(v1.dataset_id) is None


def test_splits_are_part_of_a_version():
    v1 = versions.create("demo", [ex(f"q{i}") for i in range(5)])
    with pytest.raises(ValueError, match="no train/validation/test split"):
        versions.split_examples(v1)
    v2 = versions.save(v1, versions.examples(v1), "split", {"train": [0, 1, 2], "validation": [3], "test": [4]})
    parts = versions.split_examples(versions.get(v2.id))
    assert [len(parts[s]) for s in versions.SPLITS] == [3, 1, 1]
    assert parts["test"] == [ex("q4")]


def test_with_split_lists_the_versions_whose_split_has_examples_newest_first():
    v1 = versions.create("demo", [ex(f"q{i}") for i in range(4)])
    rows = versions.examples(v1)
    v2 = versions.save(v1, rows, "test split", {"train": [0, 1], "validation": [], "test": [2, 3]})
    v3 = versions.save(v2, rows, "no test", {"train": [0, 1, 2], "validation": [3], "test": []})
    v4 = versions.save(v3, rows, "both", {"train": [0], "validation": [1], "test": [2, 3]})
    assert [v.id for v in versions.with_split(v1.dataset_id, "test")] == [v4.id, v2.id]
    assert [v.id for v in versions.with_split(v1.dataset_id, "validation")] == [v4.id, v3.id]
    assert (versions.split_size(v1, "test"), versions.split_size(v4, "test")) == (0, 2)


def test_diff_names_added_removed_changed():
    old = [ex("a"), ex("b"), ex("c")]
    new = [ex("a"), ex("B!"), ex("d"), ex("e")]
    # row 1 b -> B! and row 2 c -> d changed in place; e is new at index 3; nothing removed.
    assert versions.diff(old, new) == {"added": [3], "removed": [], "changed": [1, 2]}
    assert versions.diff(old, [ex("a"), ex("c")]) == {"added": [], "removed": [1], "changed": []}


def test_text_that_is_not_valid_unicode_is_kept():
    odd = ex("lone surrogate \ud800 here")
    v1 = versions.create("odd", [odd])
    assert versions.examples(v1) == [odd]


def _old_workspace(path) -> None:
    """A workspace index as the app wrote it before datasets had a kind: migrations 001-004, one dataset."""
    import sqlite3

    from core import store

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, migration in store.MIGRATIONS[:4]:
        migration(db)
        db.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
    db.execute("INSERT INTO datasets (name) VALUES ('old')")
    db.execute("INSERT INTO dataset_versions (dataset_id, number, sha256, n_examples) VALUES (1, 1, 'abc', 2)")
    db.close()


def test_an_old_workspace_is_migrated_and_its_datasets_are_chat():
    from core import paths, store

    paths.db_path().parent.mkdir(parents=True, exist_ok=True)
    _old_workspace(paths.db_path())
    with store.connect() as db:
        applied = [r["name"] for r in db.execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == [name for name, _ in store.MIGRATIONS] and "005_dataset_kind" in applied
    (old,) = versions.datasets()
    assert (old.name, old.latest.kind, old.latest.n_examples) == ("old", "chat", 2)


def test_a_preference_dataset_keeps_its_kind_on_every_version():
    pair = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    }
    v1 = versions.create("prefs", [pair], kind="preference")
    v2 = versions.save(v1, [pair, pair], "doubled")
    assert (v1.kind, v2.kind, versions.latest(v1.dataset_id).kind) == ("preference", "preference", "preference")
    assert versions.create("chats", [ex("q")]).kind == "chat"
    with pytest.raises(ValueError, match="kind"):
        versions.create("odd", [ex("q")], kind="ranking")
