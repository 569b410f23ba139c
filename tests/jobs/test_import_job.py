"""A Hugging Face dataset fetched by a real import job (core.data.fetch): records out, the size limit held.

Local sources only: a `save_to_disk` folder, and a folder of data files read by `datasets.load_dataset`, the path a
hub id takes.
Run: `.venv/bin/pytest tests/jobs/test_import_job.py -q`.
"""

from __future__ import annotations

import datasets

from core.data import fetch, io
from tests.waiting import wait_for

EXAMPLES = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello — «there»."}]},
    {"messages": [{"role": "user", "content": "東京?"}, {"role": "assistant", "content": "晴れ"}]},
]


def test_a_save_to_disk_folder_is_fetched_into_a_records_file(tmp_path):
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(EXAMPLES), "test": datasets.Dataset.from_list(EXAMPLES[:1])}
    ).save_to_disk(str(tmp_path / "faq"))
    run = wait_for(fetch.launch(str(tmp_path / "faq"), 10_000_000), timeout=60)
    assert run.state == "succeeded", run.message
    assert fetch.latest(str(tmp_path / "faq")).id == run.id
    got = fetch.result(run.id)
    assert (got.origin, got.source) == (str(tmp_path / "faq"), "hf")
    assert "train" in got.findings[0].message and "test" in got.findings[0].message  # which split it read
    assert io.load(got.path).examples == EXAMPLES
    assert run.progress["done"] == run.progress["total"] == 2


def test_a_load_dataset_source_over_the_limit_fails_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    (tmp_path / "repo").mkdir()
    io.to_jsonl(EXAMPLES, tmp_path / "repo" / "train.jsonl")
    run = wait_for(fetch.launch(str(tmp_path / "repo"), 10, fmt="hub"), timeout=60)
    assert (run.state, run.failure) == ("failed", "bad data")
    assert "over the 0.0 MB limit" in run.message
    ok = wait_for(fetch.launch(str(tmp_path / "repo"), 10_000_000, fmt="hub"), timeout=60)
    assert ok.state == "succeeded", ok.message
    assert io.load(fetch.result(ok.id).path).examples == EXAMPLES
