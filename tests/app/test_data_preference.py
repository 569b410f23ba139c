"""A preference dataset on the real Data page: imported from a DPO file, validated as pairs, split by prompt,
exported in both formats, and turned into a chat dataset of its chosen answers; Train offers only chat datasets.

Run: `.venv/bin/pytest tests/app/test_data_preference.py -q`.
"""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from core.data import io as data_io
from core.data import versions
from tests.app import harness
from tests.shapes import OPENAI_DPO, TRL_PREFERENCE_CONVERSATIONAL, dpo_pair


def pair(i: int) -> dict:
    return dpo_pair(f"Q{i // 2}?", f"A careful answer {i}.", f"Whatever {i}.", system="Be kind.")


PAIRS = [pair(i) for i in range(20)]


def ran(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(x.value) for kind in ("success", "info", "caption", "markdown") for x in getattr(at, kind))


def test_a_dpo_file_imports_as_a_preference_dataset_that_validates():
    data = "".join(json.dumps(p) + "\n" for p in PAIRS).encode()
    at = harness.start("data")
    at.file_uploader(key="data_import_file").set_value(("prefs.jsonl", data, "application/octet-stream"))
    ran(at)
    assert "Read 20 preference pairs (preference layout from jsonl)." in [s.value for s in at.success]
    at.button(key="data_import_go").click()
    ran(at)
    (dataset,) = versions.datasets()
    assert (dataset.name, dataset.latest.kind, dataset.latest.n_examples) == ("prefs", "preference", 20)
    assert versions.examples(dataset.latest) == PAIRS
    assert "A preference dataset" in texts(at)
    assert at.selectbox(key="data_dataset").options == ["prefs (v1, 20 preference pairs)"]
    assert "every pair has a prompt and two different one-message assistant answers" in texts(at)
    assert [m.value for m in at.metric if m.label == "Pairs"] == ["20"]


def test_a_bad_pair_is_named_by_its_line_on_the_check_view():
    bad = {**OPENAI_DPO, "non_preferred_output": OPENAI_DPO["preferred_output"]}
    first = versions.create("prefs", [OPENAI_DPO, bad], kind="preference")
    at = harness.start("data", {"dataset": str(first.dataset_id)})
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "preference_same_answers" in set(d.value.get("kind", []))]
    same = table[table["kind"] == "preference_same_answers"]
    assert same["example"].tolist() == [2] and "non-preferred answer the worse one" in same["fix"].iloc[0]


def split_view(dataset_id: int) -> AppTest:
    at = AppTest.from_string(harness.router("data"), default_timeout=60)
    at.query_params["dataset"] = str(dataset_id)
    at.session_state["data_view"] = "Split & export"
    return ran(at)


def test_split_export_offers_both_pair_formats_and_derives_a_chat_dataset(tmp_path):
    first = versions.create("prefs", PAIRS, kind="preference")
    at = split_view(first.dataset_id)
    at.button(key="data_split_make").click()
    ran(at)
    at.button(key="data_split_save").click()
    ran(at)
    saved = versions.latest(first.dataset_id)
    prompts = {
        name: {PAIRS[r]["input"]["messages"][1]["content"] for r in saved.splits[name]}
        for name in ("train", "validation", "test")
    }
    assert not (prompts["train"] & prompts["test"]) and not (prompts["train"] & prompts["validation"])
    assert at.selectbox(key="data_split_format_pairs").options == [
        "OpenAI DPO JSONL",
        "TRL preference JSONL (prompt, chosen, rejected)",
    ]
    at.button(key="data_split_derive").click()
    ran(at)
    derived = versions.latest(int(at.query_params["dataset"]))
    assert derived.kind == "chat" and derived.dataset == "prefs (chosen answers)"
    assert derived.note == f"SFT on the chosen answers of prefs v{saved.number}" and derived.splits == saved.splits
    assert versions.examples(derived)[0]["messages"][-1] == PAIRS[0]["preferred_output"][0]
    assert "Made prefs (chosen answers) v1" in texts(at)


def test_the_trl_export_reads_back_as_the_same_pairs(tmp_path):
    from ui.data import split_export

    data = split_export.export_bytes(PAIRS[:3], "TRL preference JSONL (prompt, chosen, rejected)")
    assert set(json.loads(data.splitlines()[0])) == {"prompt", "chosen", "rejected"}
    (tmp_path / "trl.jsonl").write_bytes(data)
    assert data_io.load(tmp_path / "trl.jsonl").examples == PAIRS[:3]


def test_train_offers_chat_datasets_only():
    versions.create("prefs", [OPENAI_DPO], kind="preference", splits={"train": [0], "validation": [], "test": []})
    at = harness.start("train")
    assert not at.exception, at.exception
    assert "Preference datasets are not offered here yet" in " ".join(i.value for i in at.info)
    chat = {"messages": [*TRL_PREFERENCE_CONVERSATIONAL["prompt"], *TRL_PREFERENCE_CONVERSATIONAL["chosen"]]}
    chats = versions.create("chats", [chat], splits={"train": [0], "validation": [], "test": []})
    at = harness.start("train")
    assert at.selectbox(key="train_dataset").options == ["chats (v1, 1 example)"]
    assert at.selectbox(key="train_dataset").value == chats.dataset_id


def test_the_duplicates_view_groups_equal_pairs_and_shows_their_prompt():
    twin = json.loads(json.dumps(PAIRS[0]))
    twin["input"]["messages"][1]["content"] = "  q0? "  # the same prompt up to case and spacing
    first = versions.create("prefs", [PAIRS[0], PAIRS[1], twin], kind="preference")
    at = AppTest.from_string(harness.router("data"), default_timeout=60)
    at.query_params["dataset"] = str(first.dataset_id)
    at.session_state["data_view"] = "Duplicates"
    shown = [t.value for t in ran(at).text]
    assert shown.count("Q0?") == 1 and "q0?" in shown and shown.count("A careful answer 0.") == 2
