"""The Data page's Duplicates, Split & export and History views under AppTest.

Each test stores a tiny dataset in the test's FT_HOME, renders one view from a small script, drives
its widgets by key and checks what reached the workspace (the draft, the versions, the files).
Run: `.venv/bin/pytest tests/app/test_data_views.py -q`.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core.data import io as data_io
from core.data import split, validate, versions
from tests.app import harness
from tests.shapes import OPENAI_DPO, OPENAI_TOOL_CALLING
from ui.data import dupes, split_export

NAME = "faq"


def ex(user: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def distinct(n: int) -> list[dict]:
    return [ex(f"Question number {i}?", f"Answer number {i}.") for i in range(n)]


def dupes_script():
    import streamlit as st

    from core.data import versions
    from ui.data import dupes, state

    dataset = next(d for d in versions.datasets() if d.name == "faq")
    dupes.render(state.load(dataset), st.session_state.get("test_analysis"))


def split_script():
    import streamlit as st
    from streamlit import runtime

    from core.data import versions
    from ui.data import split_export, state

    st.session_state["test_media"] = runtime.get_instance().media_file_mgr  # to read the downloads back
    dataset = next(d for d in versions.datasets() if d.name == "faq")
    split_export.render(state.load(dataset), st.session_state.get("test_analysis"))


def history_script():
    from core.data import versions
    from ui.data import history, state

    dataset = next(d for d in versions.datasets() if d.name == "faq")
    history.render(state.load(dataset))


def start(script, examples: list[dict], analysis: dict | None = None) -> tuple[AppTest, versions.Version]:
    first = versions.create(NAME, examples)
    at = AppTest.from_function(script, default_timeout=30)
    if analysis is not None:
        at.session_state["test_analysis"] = analysis
    return run(at), first


def run(target) -> AppTest:
    """Run the app (or the app a changed widget belongs to); no run may raise."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def draft(version: versions.Version) -> list[dict]:
    return versions.load_draft(version.dataset_id).examples


# ---- duplicates ---------------------------------------------------------------------------------

# Rows 2 and 3 repeat rows 0 and 1 apart from case and spacing; row 3's answer is longer than
# row 1's ("Four  is   right." is 17 characters, "Four is right." 14), rows 0 and 2 tie ("Paris.").
EXACT = [
    ex("Capital of France?", "Paris."),
    ex("What is 2+2?", "Four is right."),
    ex("capital of  France?", "Paris."),
    ex("WHAT IS 2+2?", "Four  is   right."),
    ex("Name a colour.", "Blue."),
]


def test_exact_duplicates_removed_keeping_the_first():
    at, first = start(dupes_script, EXACT)
    assert len(at.radio) == 2 and any("removes 2 rows" in m.value for m in at.markdown)
    run(at.button(key="data_dupes_exact_remove").click())
    assert draft(first) == [EXACT[0], EXACT[1], EXACT[4]]
    assert "Removed 2 rows (exact duplicates)" in at.success[0].value
    assert versions.latest(first.dataset_id).n_examples == 5  # the saved version keeps every row


def test_exact_duplicates_removed_by_the_longest_rule():
    at, first = start(dupes_script, EXACT)
    run(at.selectbox(key="data_dupes_rule").set_value("longest"))
    run(at.button(key="data_dupes_exact_remove").click())
    assert draft(first) == [EXACT[0], EXACT[3], EXACT[4]]  # the tie keeps row 0, the longer answer row 3


def test_exact_duplicates_removed_keeping_the_curators_pick():
    at, first = start(dupes_script, EXACT)
    sha = first.sha256  # the working copy is the first version, unedited
    at.radio(key=dupes.keep_key("exact", sha, "first", [0, 2])).set_value(2)
    at.radio(key=dupes.keep_key("exact", sha, "first", [1, 3])).set_value(3)
    run(at.button(key="data_dupes_exact_remove").click())
    assert draft(first) == [EXACT[2], EXACT[3], EXACT[4]]


def test_a_pick_on_another_page_survives_paging():
    # 12 pairs (row i and row i+12 differ only in case): 10 clusters on page 1, 2 on page 2.
    rows = distinct(12) + [ex(f"QUESTION NUMBER {i}?", f"answer number {i}.") for i in range(12)]
    at, first = start(dupes_script, rows)
    assert len(at.radio) == 10
    run(at.get("pagination")[0].set_value(2))
    assert len(at.radio) == 2
    run(at.radio(key=dupes.keep_key("exact", first.sha256, "first", [11, 23])).set_value(23))
    run(at.get("pagination")[0].set_value(1))
    run(at.button(key="data_dupes_exact_remove").click())
    assert draft(first) == rows[:11] + [rows[23]]


def near_analysis(n: int) -> dict:
    # Hand-built: rows 0 and 4 alike, rows 1, 2 and 3 alike (the shapes analyze.result returns).
    near = [
        {"rows": [0, 4], "max_sim": 0.97, "min_sim": 0.97},
        {"rows": [1, 2, 3], "max_sim": 0.99, "min_sim": 0.96},
    ]
    return {"n": n, "threshold": 0.95, "exact": [], "near": near, "diversity": {}}


NEAR = [
    ex("How do I reset my password?", "Open Settings, then Security, then Reset."),
    ex("Where is my invoice?", "Invoices are under Billing."),
    ex("Where can I find my invoice?", "Under Billing, in Invoices, you will find every invoice."),
    ex("Where do invoices live?", "Billing."),
    ex("How can I reset my password?", "Settings > Security > Reset."),
    ex("What is the refund policy?", "Thirty days, no questions asked."),
]


def test_near_clusters_removed_keeping_the_shortest_answer():
    at, first = start(dupes_script, NEAR, near_analysis(len(NEAR)))
    assert "similarity 0.960–0.990" in " ".join(m.value for m in at.markdown)
    run(at.selectbox(key="data_dupes_rule").set_value("shortest"))
    run(at.button(key="data_dupes_near_remove").click())
    # Shortest answers by hand: row 4 (28 characters) beats row 0 (42); row 3 ("Billing.") wins.
    assert draft(first) == [NEAR[3], NEAR[4], NEAR[5]]


def test_near_clusters_from_other_content_are_not_used():
    at, _ = start(dupes_script, NEAR, near_analysis(len(NEAR) + 1))
    assert "data_dupes_near_remove" not in [b.key for b in at.button]
    assert any("again" in i.value for i in at.info)
    del at.session_state["test_analysis"]
    assert any("Check" in i.value for i in run(at).info)  # no analysis yet: says where to run it


# ---- split, leakage, save, export ---------------------------------------------------------------


def sizes(at: AppTest) -> dict[str, int]:
    table = at.table[0].value
    return dict(zip(table["split"], table["examples"], strict=True))


def test_split_80_10_10_on_100_examples():
    at, _ = start(split_script, distinct(100))
    run(at.button(key="data_split_make").click())
    assert sizes(at) == {"train": 80, "validation": 10, "test": 10}  # 80/10/10 of 100, exactly


def test_ratios_that_do_not_add_up_are_refused():
    at, _ = start(split_script, distinct(100))
    run(at.number_input(key="data_split_train").set_value(70))
    assert "add up to 90%" in at.error[0].value  # 70 + 10 + 10
    assert at.button(key="data_split_make").disabled


def straddling_seed(rows: list[dict], a: int, b: int) -> int:
    """A seed whose 80/10/10 split puts rows a and b in different splits."""
    for seed in range(100):
        parts = split.split(rows, (0.8, 0.1, 0.1), seed)
        where = {r: name for name, members in parts.items() for r in members}
        if where[a] != where[b]:
            return seed
    raise AssertionError("no seed separates the rows")


def make_split(at: AppTest, seed: int) -> AppTest:
    run(at.number_input(key="data_split_seed").set_value(seed))
    return run(at.button(key="data_split_make").click())


def test_planted_exact_duplicate_is_found_moved_and_saved():
    rows = distinct(100)
    rows[99] = ex("QUESTION   NUMBER 0?", "answer number 0.")  # row 0 again, case and spacing aside
    at, first = start(split_script, rows)
    make_split(at, straddling_seed(rows, 0, 99))
    leaks = at.dataframe[0].value
    assert len(leaks) == 1 and {leaks["row"][0], leaks["copy"][0]} == {"row 1", "row 100"}
    run(at.button(key="data_split_fix").click())
    assert "No example has a copy" in at.success[0].value
    pending = at.session_state[split_export.PENDING]["splits"]
    assert any({0, 99} <= set(members) for members in pending.values())
    run(at.text_input(key="data_split_note").input("split for training"))
    run(at.button(key="data_split_save").click())
    saved = versions.latest(first.dataset_id)
    assert saved.number == 2 and saved.note == "split for training"
    assert {k: saved.splits[k] for k in split.SPLITS} == pending
    assert saved.splits["seed"] == straddling_seed(rows, 0, 99) and saved.splits["ratios"] == [0.8, 0.1, 0.1]


def test_near_leak_found_from_vectors_and_dropped():
    rows = distinct(40)
    vectors = np.eye(40, dtype=np.float32)  # orthogonal: no pair is similar ...
    vectors[7] = vectors[3]  # ... except rows 3 and 7, whose texts differ
    analysis = {"n": 40, "threshold": 0.95, "near": [], "diversity": {}, "vectors": vectors}
    at, _ = start(split_script, rows, analysis)
    make_split(at, straddling_seed(rows, 3, 7))
    assert len(at.dataframe[0].value) == 1
    run(at.radio(key="data_split_fix_mode").set_value("drop"))
    run(at.button(key="data_split_fix").click())
    assert sizes(at)["in no split (left out for leakage)"] == 1


def test_saving_a_split_keeps_the_unsaved_edits():
    at, first = start(split_script, distinct(20))
    edited = distinct(19)
    versions.save_draft(first, edited)
    at.session_state["data_work"] = None  # the working copy is read again from the workspace
    run(at)
    run(at.button(key="data_split_make").click())
    run(at.button(key="data_split_save").click())
    saved = versions.latest(first.dataset_id)
    assert versions.examples(saved) == edited and sum(len(saved.splits[k]) for k in split.SPLITS) == 19
    assert versions.load_draft(first.dataset_id) is None


def downloaded(at: AppTest, key: str) -> bytes:
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    media = at.session_state["test_media"]
    url = media.execute_deferred(button.proto.deferred_file_id)
    return media.read_file(url.rsplit("/", 1)[-1]).content


def test_download_buttons_hand_over_loadable_files(tmp_path):
    rows = distinct(10)
    first = versions.create(NAME, rows)
    versions.save(first, rows, "split", {"train": list(range(8)), "validation": [8], "test": [9]})
    at = run(AppTest.from_function(split_script, default_timeout=30))
    got = json.loads("[" + ",".join(downloaded(at, "data_split_dl_train").decode().splitlines()) + "]")
    assert got == rows[:8]
    assert downloaded(at, "data_split_dl_test").decode().strip() == json.dumps(rows[9])
    run(at.selectbox(key="data_split_format").set_value("Parquet"))
    (tmp_path / "all.parquet").write_bytes(downloaded(at, "data_split_dl_all"))
    assert data_io.load(tmp_path / "all.parquet").examples == rows


def test_a_zipped_hf_dataset_folder_loads_back(tmp_path):
    rows = distinct(3)
    data = split_export.export_bytes(rows, "Hugging Face dataset folder (.zip)", "faq-v2-train")
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    assert data_io.load(Path(tmp_path) / "faq-v2-train").examples == rows


# ---- history ------------------------------------------------------------------------------------

A, B, B2, C, D, E, F = (ex(q, "ok") for q in ("a?", "b?", "b, reworded?", "c?", "d?", "e?", "f?"))


def two_versions() -> tuple[versions.Version, versions.Version]:
    first = versions.create(NAME, [A, B, C, F])
    return first, versions.save(first, [A, B2, F, D, E], "edited")


def test_history_lists_versions_and_diffs_latest_against_its_parent():
    first, _ = two_versions()
    at = run(AppTest.from_function(history_script, default_timeout=30))
    table = at.dataframe[0].value
    assert list(table["version"]) == ["v2", "v1"] and list(table["examples"]) == [5, 4]
    # By hand: B became B2 in place (row 2), C is gone, D and E are new; A and F stay.
    counts = {m.label: m.value for m in at.metric}
    assert counts == {"Added": "2", "Removed": "1", "Changed": "1"}
    assert any("b, reworded?" in t.value for t in at.text)


def test_restore_makes_a_new_version_with_the_old_content():
    first, _ = two_versions()
    at = run(AppTest.from_function(history_script, default_timeout=30))
    assert at.selectbox(key="data_hist_pick").value == first.id
    run(at.button(key="data_hist_restore").click())
    restored = versions.latest(first.dataset_id)
    assert restored.number == 3 and versions.examples(restored) == [A, B, C, F]
    assert [v.number for v in versions.history(first.dataset_id)] == [3, 2, 1]
    assert "Restored v1 as v3" in at.success[0].value


def test_a_draft_is_shown_guards_restore_and_can_be_discarded():
    first, second = two_versions()
    versions.save_draft(second, [A])
    at = run(AppTest.from_function(history_script, default_timeout=30))
    assert "Unsaved edits" in at.warning[0].value
    # The diff opens on the draft against v2: only A is left, so v2's other four rows are removed.
    assert {m.label: m.value for m in at.metric} == {"Added": "0", "Removed": "4", "Changed": "0"}
    assert at.button(key="data_hist_restore").disabled
    run(at.checkbox(key="data_hist_confirm").check())
    assert not at.button(key="data_hist_restore").disabled
    run(at.button(key="data_hist_discard").click())
    assert versions.load_draft(first.dataset_id) is None
    assert not at.warning and versions.latest(first.dataset_id).id == second.id


def test_the_data_page_draws_its_charts_without_importing_altair():
    # altair was a third of a second of the Data page's first render in a fresh interpreter (docs/BENCHMARKS.md).
    import subprocess
    import sys

    views = "ui.data.checks, ui.data.history, ui.data.importer, ui.data.edit, ui.data.dupes, ui.data.split_export"
    code = f"import sys, {views}"
    out = subprocess.run(
        [sys.executable, "-c", code + "; print('altair' in sys.modules)"], capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stderr


# ---- tool-calling data on every view ------------------------------------------------------------


def call_only(city: str) -> dict:
    """OpenAI's tool-calling shape cut after the call (a file that teaches when to call), the user turn as parts."""
    example = copy.deepcopy(OPENAI_TOOL_CALLING)
    example["messages"] = example["messages"][:2]
    example["messages"][0]["content"] = [{"type": "text", "text": "What is the weather?"}]
    example["messages"][1]["tool_calls"][0]["function"]["arguments"] = json.dumps({"location": city})
    return example


def tool_data() -> list[dict]:
    """Tool calls with null content, tool results, parts and weights: 12 full examples, then calls alone."""
    full = []
    for i in range(12):
        example = copy.deepcopy(OPENAI_TOOL_CALLING)
        example["messages"][0]["content"] = [{"type": "text", "text": f"Weather in city {i}?"}]
        example["messages"][-1]["weight"] = i % 2
        full.append(example)
    return [*full, call_only("Paris"), call_only("Oslo"), call_only("Oslo")]


def test_every_data_view_works_on_tool_calling_data():
    first = versions.create(NAME, tool_data())
    at = harness.start("data", {"dataset": str(first.dataset_id)})
    for view in ("Check", "Edit", "Duplicates", "Split & export", "History"):
        run(at.segmented_control(key="data_view").set_value(view))
        shown = " ".join(e.value for e in [*at.markdown, *at.caption, *at.text])
        if view == "Duplicates":  # the same question with different arguments is no duplicate
            assert "1 cluster; keeping one of each removes 1 row." in shown
            assert "get_current_weather" in shown and "Oslo" in shown and "(no answer)" not in shown
        if view == "Edit":
            assert at.text_input(key="data_edit_msg_fn_1_0").value == "get_current_weather"
    run(at.segmented_control(key="data_view").set_value("Duplicates"))
    run(at.button(key="data_dupes_exact_remove").click())
    assert draft(first) == tool_data()[:-1]  # Paris kept, one Oslo left


def test_every_data_view_works_on_preference_pairs():
    pairs = [copy.deepcopy(OPENAI_DPO) for _ in range(3)]
    for i, pair in enumerate(pairs):
        pair["input"]["messages"][0]["content"] += f" (asked {i + 1} times)"
    first = versions.create(NAME, pairs)
    at = harness.start("data", {"dataset": str(first.dataset_id)})
    for view in ("Check", "Edit", "Duplicates", "Split & export", "History"):
        run(at.segmented_control(key="data_view").set_value(view))
        if view == "Edit":
            rejected = pairs[0]["non_preferred_output"][0]["content"]
            assert at.text_area(key="data_edit_rejected_text_0").value == rejected


def test_the_check_view_says_what_tool_definitions_and_calls_cost():
    first = versions.create(NAME, tool_data())
    at = harness.start("data", {"dataset": str(first.dataset_id)})
    run(at.segmented_control(key="data_view").set_value("Check"))
    tool = validate.validate(tool_data()).stats["tool_tokens"]
    shown = " ".join(c.value for c in at.caption)
    assert f"Tool tokens: {tool['definitions']:,} in definitions, {tool['calls']:,} in calls." in shown
    assert tool["definitions"] > 0 and tool["calls"] > 0


def test_the_history_diff_shows_tool_calls_and_a_turn_not_learned():
    from tests.shapes import OPENAI_TOOL_CALLING
    from ui.data.history import conversation_text

    example = copy.deepcopy(OPENAI_TOOL_CALLING)
    example["messages"][3]["weight"] = 0
    text = conversation_text(example)
    assert "get_current_weather(" in text and "San Francisco, USA" in text  # not "assistant: null"
    assert "assistant (not learned): It is 18 degrees" in text
    assert "tool: " in text and "fog" in text
