"""The Evaluate page under AppTest: guidance, scores from cached answers, base versus tuned, real jobs.

Cached answers are written through core.eval.generate.save_outputs with predictions chosen so
every score is known by hand: candidate A answers each reference word for word, B answers "".
The version is 20 demo examples split 80/10/10 (2 test rows), one test row replaced by a
Chinese example, which the guide's scorer cannot see and the Unicode-aware one can.
Run: `.venv/bin/pytest tests/app/test_evaluate_page.py -q`.
"""

from __future__ import annotations

import sys

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from core import jobs, models, safe_text
from core.data import samples, split, versions
from core.eval import candidates, generate, pool
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jsonl import read_records
from tests.app import harness
from tests.app.harness import FAKE
from tests.waiting import wait_for

CHINESE = {"messages": [{"role": "user", "content": "用中文问好"}, {"role": "assistant", "content": "你好，世界"}]}
# A run id that has no folder: the run was deleted after its answers were cached.
GONE_RUN = Candidate("run", models.DEFAULT_MODEL_ID, "Run gone: lora", run_id="20990101-000000-train-dead")
JOB_TIMEOUT = 240  # a cold worker imports torch and transformers on a busy two-core machine


def demo_version(name: str = "eval-demo") -> versions.Version:
    """20 demo rows split 16/2/2; the first test row is the Chinese example."""
    rows = [obj for _, obj in read_records(samples.sample_path("demo"))][:20]
    splits = split.split(rows)  # indices depend on the row count only, so replacing a row keeps them
    rows[splits["test"][0]] = CHINESE
    return versions.save(versions.create(name, rows), rows, "split 80/10/10", splits)


def cache(cand: Candidate, version: versions.Version, predictions: list[str], finished_at: float) -> None:
    rows = [{"index": i, "prediction": p, "n_tokens": len(p.split())} for i, p in enumerate(predictions)]
    info = {"seconds": 2.0, "tokens_per_s": 12.5, "finished_at": finished_at}
    generate.save_outputs(cand, version, "test", GenParams(), rows, info)


def references(version: versions.Version) -> list[str]:
    return [e["messages"][-1]["content"] for e in versions.split_examples(version)["test"]]


def open_page(query: dict | None = None) -> AppTest:
    return harness.start("evaluate", query)


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def chart_rows(at: AppTest, index: int):
    proto = at.get("vega_lite_chart")[index].proto
    return convert_arrow_bytes_to_pandas_df(proto.datasets[0].data.data)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture
def scored_version():
    version = demo_version()
    refs = references(version)
    assert refs[0] == "你好，世界" and len(refs) == 2
    cache(candidates.base(), version, refs, finished_at=2.0)  # A: every reference, word for word
    cache(GONE_RUN, version, ["", ""], finished_at=1.0)  # B: nothing at all
    return version


def test_no_dataset_points_to_the_data_page():
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in texts(at, "info")
    assert at.get("page_link")[0].proto.label == "Open the Data page"


def test_a_dataset_without_a_test_split_is_named():
    rows = [obj for _, obj in read_records(samples.sample_path("demo"))][:10]
    versions.create("unsplit", rows)
    at = open_page()
    assert not at.exception
    assert "**unsplit** has no version with a test split yet" in texts(at, "info")


def test_the_scores_table_shows_each_candidates_means(scored_version):
    at = open_page()
    assert not at.exception, at.exception
    scores = at.dataframe[0].value.set_index("candidate")
    base, gone = "SmolLM2-135M (base)", "Run gone: lora"
    # A: the English row scores 1.0 and the Chinese row 0.0 (the guide's scorer keeps only a-z0-9,
    # so both texts are empty to it): mean 0.5. B's empty answers score 0.0 everywhere.
    assert scores.loc[base, "ROUGE-L"] == 0.5 and scores.loc[gone, "ROUGE-L"] == 0.0
    assert scores.loc[base, "exact match"] == 1.0 and scores.loc[gone, "exact match"] == 0.0
    assert scores.loc[base, "length ratio"] == 1.0 and scores.loc[gone, "length ratio"] == 0.0
    assert scores.loc[base, "n"] == 2 and scores.loc[base, "tokens/s"] == 12.5
    assert "was deleted" in scores.loc[gone, "note"] and scores.loc[base, "note"] == ""
    box = chart_rows(at, 0)  # one point per candidate and example
    assert len(box) == 4 and set(box["candidate"]) == {base, gone}


def test_base_versus_tuned_lists_the_worst_example_for_the_tuned_first(scored_version):
    at = open_page()
    frame = at.dataframe[1].value
    # B - A is -1.0 on the English row (test position 1) and 0.0 on the Chinese row (a tie: both 0.0).
    assert frame["example"].tolist() == [1, 0]
    assert frame["winner"].tolist() == ["A", "tie"]
    assert frame["answer B"].tolist() == ["", ""]
    m = {x.label: x.value for x in at.metric}
    assert (m["B wins"], m["A wins"], m["Ties"]) == ("0", "1", "1")
    assert m["Mean ROUGE-L gain (B - A)"] == "-0.500"  # (-1.0 + 0.0) / 2
    diff = chart_rows(at, 1)
    assert sorted(diff["B - A"].tolist()) == [-1.0, 0.0]
    csv = at.get("download_button")[0]
    assert csv.proto.label == "Download per-example CSV"


def test_the_unicode_toggle_scores_the_chinese_answer(scored_version):
    at = open_page()
    at.toggle(key="eval_unicode").set_value(True).run()
    assert not at.exception
    scores = at.dataframe[0].value.set_index("candidate")
    assert scores.loc["SmolLM2-135M (base)", "ROUGE-L"] == 1.0  # the Chinese row now counts: (1 + 1) / 2
    m = {x.label: x.value for x in at.metric}
    assert (m["A wins"], m["Ties"]) == ("2", "0")


def test_a_deleted_run_in_the_link_is_named_and_left_out(scored_version):
    at = open_page({"candidates": ["base", GONE_RUN.run_id]})
    assert not at.exception
    assert f"Run {GONE_RUN.run_id} is no longer available" in texts(at, "warning")
    assert at.multiselect(key="eval_candidates").value == ["base"]
    assert "ready" in texts(at, "markdown")  # base's answers are cached with the default settings


def test_an_api_candidate_without_its_key_says_so_and_never_shows_a_key(monkeypatch, scored_version):
    monkeypatch.setenv("WB_EVAL_SET_KEY", "sk-secret-value")
    at = open_page()
    at.text_input(key="eval_add_key_env").input("WB_EVAL_SET_KEY").run()
    assert "WB_EVAL_SET_KEY is set" in texts(at, "caption")
    at.text_input(key="eval_add_model").input("gpt-4o-mini").run()
    at.text_input(key="eval_add_key_env").input("WB_EVAL_NO_SUCH_KEY").run()
    assert "WB_EVAL_NO_SUCH_KEY is not set" in texts(at, "caption")
    at.button(key="eval_add").click().run()
    added = pool.custom()
    assert [c.label for c in added] == ["gpt-4o-mini (OpenAI)"]
    at.multiselect(key="eval_candidates").select(pool.CUSTOM_PREFIX + added[0].key).run()
    assert not at.exception
    assert "the API key is not set: start the app with WB_EVAL_NO_SUCH_KEY" in texts(at, "markdown")
    page_text = " ".join(texts(at, kind) for kind in ("markdown", "caption", "text_input"))
    assert "sk-secret-value" not in page_text


def test_a_bad_base_url_is_refused_with_its_reason(scored_version):
    at = open_page()
    at.text_input(key="eval_add_model").input("my-model").run()
    at.text_input(key="eval_add_base_url").input("localhost:8000").run()
    at.button(key="eval_add").click().run()
    assert "must start with http:// or https://" in texts(at, "error")
    assert pool.custom() == []


def test_generate_launches_a_real_job_and_its_answers_are_scored(tiny):
    version = demo_version("gen-demo")
    cand = candidates.base(str(tiny))
    pool.add_custom(cand)
    at = open_page({"candidates": ["base", pool.CUSTOM_PREFIX + cand.key]})
    at.number_input(key="eval_max_new_tokens").set_value(4).run()
    before = len(jobs.list_runs("generate"))
    at.button(key=f"eval_gen_custom-{cand.key}").click().run()
    assert not at.exception, at.exception
    runs = jobs.list_runs("generate")
    assert len(runs) == before + 1 and runs[0].meta["candidate_label"] == cand.label
    finished = wait_for(runs[0].id, timeout=JOB_TIMEOUT)
    assert finished.state == "succeeded", finished.message
    at.run()
    assert "ready" in texts(at, "markdown")
    scores = at.dataframe[0].value
    assert scores["candidate"].tolist() == [cand.label] and scores["n"].tolist() == [2]
    assert generate.load(cand, version, "test", GenParams(max_new_tokens=4)) is not None


def test_the_playground_asks_both_sides_and_keeps_each_conversation(tiny, scored_version):
    local = candidates.base(str(tiny))
    api = pool.api_candidate("gpt-4o-mini", "", "WB_EVAL_NO_SUCH_KEY")
    for cand in (local, api):
        pool.add_custom(cand)
    at = open_page()
    at.selectbox(key="eval_play_a").set_value(pool.CUSTOM_PREFIX + local.key).run()
    at.selectbox(key="eval_play_b").set_value(pool.CUSTOM_PREFIX + api.key).run()
    at.number_input(key="eval_max_new_tokens").set_value(4).run()
    at.text_area(key="eval_play_prompt").input("How do HTTP cookies work?").run()
    at.button(key="eval_play_ask").click().run()
    assert not at.exception, at.exception
    side_a, side_b = at.session_state["eval_play_chat_a"], at.session_state["eval_play_chat_b"]
    assert side_a["run"] and side_a["messages"][-1]["content"] == "How do HTTP cookies work?"
    assert side_b["run"] is None and "WB_EVAL_NO_SUCH_KEY" in side_b["error"]
    assert at.text_area(key="eval_play_prompt").value == ""  # ready for the next turn
    finished = wait_for(side_a["run"], timeout=JOB_TIMEOUT)
    assert finished.state == "succeeded", finished.message
    at.run()
    side_a = at.session_state["eval_play_chat_a"]
    assert [m["role"] for m in side_a["messages"]] == ["user", "assistant"] and side_a["run"] is None
    reply = generate.reply_result(finished.id)
    assert side_a["messages"][-1]["content"] == reply["text"]
    assert [c.name for c in at.chat_message] == ["user", "assistant"]  # side B asked nothing
    assert "Not answered: the API key is not set" in texts(at, "error")


def test_a_playground_answer_can_neither_load_an_image_nor_disguise_a_link(scored_version):
    hostile = "Sure: ![](http://127.0.0.1:9/leak.png) and [re-enter your admin token](http://127.0.0.1:9/phish)"
    at = open_page()
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": hostile}]}
    at.session_state["eval_play_chat_a"] = chat | {"notes": {}, "run": None, "error": None}
    at.run()
    assert not at.exception, at.exception
    drawn = [m.value for m in at.markdown if "leak.png" in m.value]
    assert drawn and all("](" not in m for m in drawn)  # a word joiner sits in each, so no link or image forms
    assert [m.replace(safe_text.JOINER, "") for m in drawn] == [hostile]


def fake_generate_job(version: versions.Version, *args: str) -> str:
    """A "generate" job run by the fake worker, filed under the base model's cache key (default settings)."""
    key = generate.cache_key(candidates.base(), version, "test", GenParams())
    meta = {"cache_key": key, "candidate_label": "fake", "version_id": version.id, "split": "test"}
    return jobs.launch("generate", [sys.executable, FAKE, *args], "fake", meta=meta, key=key)


def test_a_running_job_shows_live_progress_and_stops():
    version = demo_version("running")
    rid = fake_generate_job(version, "--steps", "2000", "--sleep", "0.05")
    wait_for(rid, ("running",))
    at = open_page({"version": str(version.id)})
    assert not at.exception, at.exception
    bars = at.get("progress")
    assert len(bars) == 1  # the base model's row finds its job by the cache key
    at.button(key="eval_stop_base").click().run()
    assert wait_for(rid).state in ("stopped", "succeeded")  # the fake worker exits 0 on STOP


def test_a_failed_job_shows_its_message_and_log():
    version = demo_version("failing")
    rid = fake_generate_job(version, "--steps", "3", "--fail-at", "2", "--message", "ran out of memory")
    assert wait_for(rid).state == "failed"
    at = open_page({"version": str(version.id)})
    assert not at.exception, at.exception
    assert "failed" in texts(at, "markdown")
    assert "ran out of memory" in texts(at, "code")  # the log tail
    assert at.button(key="eval_gen_base").label == "Try again"


def test_answers_cached_for_another_split_of_the_same_rows_are_not_scored(scored_version):
    rows = versions.examples(scored_version)
    other = versions.save(scored_version, rows, "another split", split.split(rows, seed=1))
    assert other.sha256 == scored_version.sha256 and other.splits["test"] != scored_version.splits["test"]
    at = open_page({"version": str(other.id)})
    assert not at.exception, at.exception
    assert "No answers yet for this version" in texts(at, "info")


def test_generate_all_missing_starts_one_job_per_missing_candidate(monkeypatch, tiny):
    monkeypatch.setenv("WB_EVAL_DUMMY_KEY", "not-a-real-key")
    demo_version("all-missing")
    local = candidates.base(str(tiny))
    api = pool.api_candidate("some-model", "http://127.0.0.1:9/v1", "WB_EVAL_DUMMY_KEY")  # nothing listens
    for cand in (local, api):
        pool.add_custom(cand)
    at = open_page({"candidates": [pool.CUSTOM_PREFIX + local.key, pool.CUSTOM_PREFIX + api.key]})
    at.button(key="eval_generate_all").click().run()
    assert not at.exception, at.exception
    runs = jobs.list_runs("generate")
    assert sorted(r.meta["candidate_label"] for r in runs) == sorted([local.label, api.label])
    for run in runs:  # neither answer matters here: end both jobs now
        wait_for(run.id, ("running", *jobs.FINAL))
        jobs.kill(run.id)
        assert wait_for(run.id).state in jobs.FINAL
