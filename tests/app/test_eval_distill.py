"""The Evaluate page's "Answers as training data" under AppTest: a hosted fine-tune's retirement and the three
steps, failed answers listed by line, Save making a dataset, Retry and Generate starting real jobs, the editable
retirement table.

Run: `.venv/bin/pytest tests/app/test_eval_distill.py -q`.
"""

from __future__ import annotations

import datetime

from core import jobs, retirements
from core.data import versions
from core.eval import candidates, distill, generate, pool
from core.eval.generate import GenParams
from tests.app import harness
from tests.app.test_evaluate_page import demo_version, texts
from tests.waiting import wait_for

KEY_VAR = "WB_TEST_DISTILL_APP_KEY"
HOSTED = "ft:gpt-4o-mini-2024-07-18:acme:support:x1"
JOB_TIMEOUT = 240


def hosted_with_answers(version, monkeypatch):
    """A hosted fine-tune added on the page, with answers cached for every example; line 2's came back empty."""
    monkeypatch.setenv(KEY_VAR, "sk-test")
    cand = candidates.openai(HOSTED, base_url="http://127.0.0.1:9/v1", api_key_env=KEY_VAR)
    pool.add_custom(cand)
    rows = [{"index": i, "prediction": "" if i == 1 else f"answer {i}", "n_tokens": 2} for i in range(20)]
    generate.save_outputs(cand, version, distill.SPLIT, GenParams(), rows, {"run_id": "r0"})
    return cand


def open_on(cand) -> object:
    at = harness.start("evaluate")
    return at.selectbox(key="eval_distill_candidate").select(pool.CUSTOM_PREFIX + cand.key).run()


def test_a_hosted_fine_tune_shows_its_retirement_and_its_saved_answers_open_the_train_page(monkeypatch):
    version = demo_version("distill-src")
    cand = hosted_with_answers(version, monkeypatch)
    at = open_on(cand)
    assert not at.exception, at.exception
    warning = texts(at, "warning")
    expected = retirements.lookup(HOSTED, datetime.date.today())["words"]  # the days left, as of today
    assert expected.startswith("gpt-4o-mini-2024-07-18 retires on 2027-01-14 (") and expected.split(";")[0] in warning
    assert "third-party report" in warning  # the source, its link defused by the page
    assert "save its answers below" in warning and "compare the two blind" in warning
    assert "1 answer(s) failed or came back empty" in warning
    failed = at.dataframe[-1].value  # the failures, drawn after the retirement editor
    assert failed.to_dict("records") == [{"line": 2, "reason": "the answer came back empty"}]
    at.text_input(key="eval_distill_name").input("kept answers").run()
    at.button(key="eval_distill_save").click().run()
    assert not at.exception, at.exception
    saved = next(d.latest for d in versions.datasets() if d.name == "kept answers")
    assert saved.n_examples == 19 and saved.splits and sum(len(v) for v in saved.splits.values()) == 19
    assert distill.provenance(saved)["failed"] == [{"line": 2, "reason": "the answer came back empty"}]
    assert "Saved kept answers v1" in texts(at, "success")
    links = [e.proto for e in at.get("page_link")]
    train = next(link for link in links if "Train an open model" in link.label)
    assert (train.page, train.query_string) == ("train", f"dataset={saved.dataset_id}&version={saved.id}")
    arena = next(link for link in links if "Compare them blind" in link.label)
    assert (arena.page, arena.query_string) == ("arena", f"dataset={version.dataset_id}&version={version.id}")


def test_retry_asks_again_only_for_the_failed_answer(monkeypatch):
    version = demo_version("distill-retry")
    cand = hosted_with_answers(version, monkeypatch)
    at = open_on(cand)
    at.button(key="eval_distill_retry").click().run()
    assert not at.exception, at.exception
    key = distill.key(cand, version, GenParams())
    assert sorted(generate.received(key)) == [i for i in range(20) if i != 1]  # 19 kept, one to ask
    run = jobs.list_runs(generate.KIND, key=key, limit=1)[0]
    assert run.meta["split"] == distill.SPLIT
    wait_for(run.id, states=("running", *jobs.FINAL), timeout=JOB_TIMEOUT)
    jobs.kill(run.id)  # nothing listens at port 9, so it would only back off and retry: end it now
    wait_for(run.id, timeout=JOB_TIMEOUT)
    at.run()
    assert "Resume: ask the 1 missing (19 answers kept)" in [b.label for b in at.button]


def test_generate_runs_a_real_job_over_every_split(tiny_model_dir):
    demo_version("distill-gen")
    cand = candidates.base(str(tiny_model_dir))
    pool.add_custom(cand)
    at = harness.start("evaluate")
    at.number_input(key="eval_max_new_tokens").set_value(4).run()
    at.selectbox(key="eval_distill_candidate").select(pool.CUSTOM_PREFIX + cand.key).run()
    at.button(key="eval_distill_generate").click().run()
    assert not at.exception, at.exception
    (run,) = jobs.list_runs(generate.KIND, limit=1)
    assert wait_for(run.id, timeout=JOB_TIMEOUT).state == "succeeded"
    at.run()
    assert " of 20 prompts" in texts(at, "markdown")  # every split: 16 train, 2 validation, 2 test


def test_the_retirement_table_is_edited_on_the_page_and_a_bad_date_is_refused(monkeypatch):
    version = demo_version("distill-table")
    cand = hosted_with_answers(version, monkeypatch)
    row = [r["model"] for r in retirements.table()].index("gpt-4o-mini-2024-07-18")
    at = open_on(cand)
    at.session_state["eval_distill_retirements"] = {
        "edited_rows": {row: {"retires": "2027-06-30"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception, at.exception
    assert retirements.lookup(HOSTED, datetime.date(2027, 1, 1))["days_left"] == 180
    at.run()
    assert "retires on 2027-06-30" in texts(at, "warning")
    at.session_state["eval_distill_retirements"] = {
        "edited_rows": {row: {"retires": "soon"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert f"row {row + 1} (gpt-4o-mini-2024-07-18): retires must be a date" in texts(at, "warning")
    assert retirements.lookup(HOSTED, datetime.date(2027, 1, 1))["days_left"] == 180  # the bad edit not saved
