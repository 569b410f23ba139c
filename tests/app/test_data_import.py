"""The Data page's import form under AppTest: a Hugging Face folder fetched by a real job, a sample, the limit,
uploads of the real-world shapes (gzip, Dolly) with what was left out and changed, and an upload with no example.

Run: `.venv/bin/pytest tests/app/test_data_import.py -q`.
"""

from __future__ import annotations

import gzip
import json

import datasets
from streamlit.testing.v1 import AppTest

from core.data import PER_KIND, fetch, io, versions
from tests import shapes
from tests.waiting import wait_for

EXAMPLES = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
    {"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]},
]


def script():
    from ui.data import importer

    importer.render()
    importer.limit_setting()


def started() -> AppTest:
    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    return at


def test_a_hugging_face_folder_is_fetched_by_a_job_then_imported(tmp_path):
    folder = str(tmp_path / "faq")
    datasets.Dataset.from_list(EXAMPLES).save_to_disk(folder)
    at = started()
    at.radio(key="data_import_how").set_value("Hugging Face dataset").run()
    at.text_input(key="data_import_hf").set_value(folder).run()
    assert not at.success and fetch.latest(folder) is None  # nothing is read in the app process
    at.button(key="data_import_fetch").click().run()
    assert wait_for(fetch.latest(folder).id, timeout=60).state == "succeeded"
    at.run()
    assert [s.value for s in at.success] == ["Read 2 examples (chat layout from hf)."]
    at.button(key="data_import_go").click().run()
    (dataset,) = versions.datasets()
    assert (dataset.name, dataset.latest.note, dataset.latest.n_examples) == ("faq", "imported from faq", 2)
    assert json.loads(dataset.source)["file"] == "faq"


def test_a_failed_fetch_says_why_and_offers_the_button_again(tmp_path):
    missing = str(tmp_path / "nothing-here")
    at = started()
    at.radio(key="data_import_how").set_value("Hugging Face dataset").run()
    at.text_input(key="data_import_hf").set_value(missing).run()
    at.button(key="data_import_fetch").click().run()
    assert wait_for(fetch.latest(missing).id, timeout=60).state == "failed"
    at.run()
    assert any("no such file or folder" in e.value for e in at.error)
    assert at.button(key="data_import_fetch")


def test_a_sample_is_read_and_the_limit_is_saved_through_core():
    at = started()
    at.radio(key="data_import_how").set_value("Use a sample").run()
    assert [s.value for s in at.success] == ["Read 200 examples (chat layout from jsonl)."]
    at.number_input(key="data_import_limit").set_value(7).run()
    assert io.limit_mb() == 7


def uploaded(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="data_import_file").set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    return at


def test_an_upload_with_junk_lists_the_first_bad_lines_and_counts_the_rest():
    good = "".join(json.dumps(e) + "\n" for e in EXAMPLES)
    at = uploaded(started(), "late.jsonl", (good + "oops\n" * 5_000).encode())
    assert [s.value for s in at.success] == ["Read 2 examples (chat layout from jsonl)."]
    (table,) = [d.value for d in at.dataframe]
    assert len(table) == PER_KIND + 1 and list(table["line"][:3]) == [3, 4, 5]
    assert table["problem"].iloc[-1] == f"and {5_000 - PER_KIND:,} more lines like this"
    assert [w.value for w in at.warning] == ["5,000 record(s) cannot be imported and will be left out:"]


def test_an_upload_of_csv_text_under_a_jsonl_name_is_refused_saying_what_to_do():
    at = uploaded(started(), "people.jsonl", "".join(f"name{i},age,city\n" for i in range(1_000)).encode())
    (error,) = at.error
    assert error.value.startswith("Cannot import: people.jsonl: is not JSON Lines")
    assert "line 1:" in error.value and "import it on the Data page, which reads CSV" in error.value
    assert not at.success


def test_a_gzipped_dolly_upload_says_where_the_context_went_and_what_was_left_out():
    records = [*shapes.DOLLY, {"instruction": "No answer here."}]
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    at = uploaded(started(), "dolly.jsonl.gz", data)
    assert [s.value for s in at.success] == ["Read 2 examples (alpaca layout from jsonl)."]
    (table,) = [d.value for d in at.dataframe]
    assert list(table.columns) == ["record", "line", "problem"]
    assert (table["record"][0], table["line"][0]) == (3, 3) and "'instruction' and 'output'" in table["problem"][0]
    changed = " ".join(i.value for i in at.info)
    assert "'context' was added to the user turn" in changed and "'category' is not imported" in changed
    at.button(key="data_import_go").click().run()
    (dataset,) = versions.datasets()
    assert dataset.latest.n_examples == 2
    assert any("'context'" in note for note in json.loads(dataset.source)["notes"])  # kept with the dataset


def test_an_upload_with_no_example_is_an_error_naming_the_line_never_a_green_zero():
    data = "".join(json.dumps(r) + "\n" for r in [shapes.PLAIN_TEXT, shapes.PLAIN_TEXT]).encode()
    at = uploaded(started(), "corpus.jsonl", data)
    assert not at.success and not [b for b in at.button if b.key == "data_import_go"]
    (error,) = at.error
    assert error.value.startswith("Cannot import: corpus.jsonl: no record could be imported as a text example")
    assert "line 1:" in error.value and "user and assistant columns" in error.value


def test_a_table_whose_columns_are_not_recognised_defaults_to_two_different_columns():
    at = uploaded(started(), "sheet.csv", b"Frage,Antwort\nWie?,So.\n")
    at.selectbox(key="data_import_fmt").set_value("Table (choose columns)").run()
    assert (at.selectbox(key="data_import_col_user").value, at.selectbox(key="data_import_col_assistant").value) == (
        "Frage",
        "Antwort",
    )
    assert [s.value for s in at.success] == ["Read 1 example (table layout from csv)."]
    at.selectbox(key="data_import_col_user").set_value("Antwort").run()
    (error,) = at.error
    assert "column 'Antwort' is chosen for both the user and the assistant turn" in error.value
    assert not at.success


def test_a_text_column_of_another_name_is_chosen_in_the_form():
    rows = [{"id": 1, "body": shapes.CHATML_TEXT["text"]}]
    at = uploaded(started(), "rendered.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    at.selectbox(key="data_import_fmt").set_value("Text column (a rendered template)").run()
    at.selectbox(key="data_import_col_text").set_value("body").run()
    assert [s.value for s in at.success] == ["Read 1 example (text layout from jsonl)."]
