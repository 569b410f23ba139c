"""Candidates (keys, few-shot prompts, runs as candidates) and the generation cache, without a model.

Run: `.venv/bin/pytest tests/unit/test_candidates.py -q`.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import pytest
import yaml

from core import jobs
from core.data import versions
from core.eval import candidates, generate
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jobs import rundir

# ---- keys ------------------------------------------------------------------------------------------


def test_keys_are_distinct_per_defining_field():
    found = [
        candidates.base(),
        candidates.base("/models/other"),
        candidates.fewshot(k=3, seed=0),
        candidates.fewshot(k=4, seed=0),
        candidates.fewshot(k=3, seed=1),
        candidates.openai("gpt-4o-mini"),
        candidates.openai("gpt-4o-mini", base_url="http://localhost:8000/v1"),
        Candidate("run", "smollm2-135m-instruct", "r1", run_id="20261128-100000-train-aaaa"),
        Candidate("run", "smollm2-135m-instruct", "r2", run_id="20261128-110000-train-bbbb"),
    ]
    assert len({c.key for c in found}) == len(found)


def test_key_ignores_the_label_and_key_variable_and_is_stable_across_processes():
    cand = candidates.fewshot(k=2, seed=7)
    assert dataclasses.replace(cand, label="renamed").key == cand.key
    api = candidates.openai("gpt-4o-mini")
    assert candidates.openai("gpt-4o-mini", api_key_env="OTHER_KEY").key == api.key
    # A fresh interpreter (its own hash seed) must name the candidate the same way.
    code = "from core.eval import candidates; print(candidates.fewshot(k=2, seed=7).key)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == cand.key


def test_dict_round_trip_and_bad_dicts():
    cand = candidates.openai("gpt-4o-mini", base_url="http://h/v1", api_key_env="MY_KEY")
    assert Candidate.from_dict(json.loads(json.dumps(cand.to_dict()))) == cand
    assert "api_key" not in json.dumps(cand.to_dict()).replace("api_key_env", "")
    with pytest.raises(ValueError, match="unknown candidate field"):
        Candidate.from_dict({**cand.to_dict(), "api_key": "sk-x"})
    with pytest.raises(ValueError, match="kind must be one of"):
        Candidate.from_dict({"kind": "magic"})


def test_labels_name_the_model():
    assert candidates.base().label == "SmolLM2-135M (base)"
    assert candidates.fewshot(k=3).label == "SmolLM2-135M few-shot (k=3)"
    assert candidates.openai("gpt-4o-mini").label == "gpt-4o-mini (OpenAI)"
    with pytest.raises(ValueError, match="k >= 1"):
        candidates.fewshot(k=0)


# ---- few-shot prompts -----------------------------------------------------------------------------


def qa(n: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "train system"},
            {"role": "user", "content": f"q{n}"},
            {"role": "assistant", "content": f"a{n}"},
        ]
    }


TRAIN = [qa(n) for n in range(6)]
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "question?"}]


def test_fewshot_order_system_then_pairs_then_prompt():
    out = candidates.fewshot_messages(PROMPT, TRAIN, k=3, seed=0)
    assert len(out) == 1 + 2 * 3 + 1  # system, three (user, assistant) pairs, the question
    assert out[0] == PROMPT[0] and out[-1] == PROMPT[1]
    shots = out[1:-1]
    assert [m["role"] for m in shots] == ["user", "assistant"] * 3
    for user, answer in zip(shots[::2], shots[1::2], strict=True):
        assert answer["content"] == "a" + user["content"][1:]  # each answer follows its own question
    assert len({m["content"] for m in shots[::2]}) == 3  # three different examples
    assert all(m["content"] != "train system" for m in out)  # only the prompt's system message


def test_fewshot_is_deterministic_per_seed():
    first = candidates.fewshot_messages(PROMPT, TRAIN, k=2, seed=5)
    assert candidates.fewshot_messages(PROMPT, TRAIN, k=2, seed=5) == first
    # 15 possible pairs: ten seeds that all chose the same pair would mean the seed is ignored.
    picks = {json.dumps(candidates.fewshot_messages(PROMPT, TRAIN, k=2, seed=s)) for s in range(10)}
    assert len(picks) > 1


def test_fewshot_without_system_and_with_few_train_examples():
    prompt = [{"role": "user", "content": "question?"}]
    out = candidates.fewshot_messages(prompt, TRAIN[:2], k=5, seed=0)
    assert [m["role"] for m in out] == ["user", "assistant", "user", "assistant", "user"]
    assert sorted(m["content"] for m in out[:4:2]) == ["q0", "q1"]
    broken = [{"messages": [{"role": "user", "content": "no answer"}]}]
    assert candidates.fewshot_messages(prompt, broken, k=1, seed=0) == prompt


def test_prompts_for_cuts_the_answer_and_names_a_bad_example():
    assert candidates.prompts_for(candidates.base(), [qa(1)], []) == [qa(1)["messages"][:2]]
    shot = candidates.prompts_for(candidates.fewshot(k=1), [qa(1)], [qa(2)])[0]
    assert [m["content"] for m in shot] == ["train system", "q2", "a2", "q1"]
    with pytest.raises(ValueError, match="example 1 has no 'messages'"):
        candidates.prompts_for(candidates.base(), [qa(1), {"text": "x"}], [])


# ---- runs as candidates ---------------------------------------------------------------------------


def fake_run(run_id: str, state: str, final: bool = True, title: str = "lora · tiny · v1") -> str:
    folder = rundir.run_dir(run_id)
    folder.mkdir(parents=True)
    spec = {
        "id": run_id,
        "kind": "train",
        "title": title,
        "created_at": time.time(),
        "config": {"model": "/models/tiny", "method": "lora"},
    }
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    rundir.write_json(folder / rundir.STATUS, {"state": state, "created_at": spec["created_at"]})
    if final:
        (folder / "final").mkdir()
        (folder / "final" / "adapter_config.json").write_text("{}")
    return run_id


def test_from_run_on_a_finished_run():
    rid = fake_run("20261128-100000-train-aaaa", "succeeded")
    cand = candidates.from_run(rid)
    assert (cand.kind, cand.run_id, cand.model) == ("run", rid, "/models/tiny")
    assert cand.label == f"Run {rid}: lora · tiny · v1"
    assert candidates.from_run(fake_run("20261128-100001-train-bbbb", "succeeded", title="my run")).label == (
        "Run 20261128-100001-train-bbbb: lora · my run"
    )


def test_from_run_refuses_unfinished_unsaved_and_missing_runs():
    running = fake_run("20261128-100000-train-cccc", "running", final=False)
    with pytest.raises(ValueError, match="is running; only a finished run"):
        candidates.from_run(running)
    unsaved = fake_run("20261128-100001-train-dddd", "stopped", final=False)
    with pytest.raises(ValueError, match="without saving a model"):
        candidates.from_run(unsaved)
    with pytest.raises(ValueError, match="no run 20261128-000000-train-none"):
        candidates.from_run("20261128-000000-train-none")


def test_available_lists_base_fewshot_and_usable_runs_newest_first():
    old = fake_run("20261128-100000-train-aaaa", "succeeded")
    new = fake_run("20261128-120000-train-bbbb", "stopped")
    fake_run("20261128-130000-train-cccc", "failed")
    fake_run("20261128-140000-train-dddd", "stopped", final=False)
    found = candidates.available()
    # The runs trained /models/tiny, so its base is offered too (once), for base versus tuned.
    assert [c.kind for c in found] == ["base", "fewshot", "base", "run", "run"]
    assert found[2].model == "/models/tiny" and found[0].model == candidates.DEFAULT_MODEL_ID
    assert [c.run_id for c in found[3:]] == [new, old]


def test_a_succeeded_hosted_run_is_an_api_candidate_on_its_own_endpoint():
    rid = fake_run("20261128-150000-train-eeee", "succeeded", final=False)
    folder = rundir.run_dir(rid)
    spec = yaml.safe_load((folder / rundir.SPEC).read_text())
    spec["meta"] = {"provider": "openai", "base_url": "http://127.0.0.1:8000/v1"}
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match="no fine-tuned model"):
        candidates.from_run(rid)  # succeeded, but the summary is not written yet
    rundir.write_json(folder / "summary.json", {"fine_tuned_model": "ft:gpt-4o-mini:local:demo:abc123"})
    cand = candidates.from_run(rid)
    assert (cand.kind, cand.model, cand.base_url) == (
        "openai",
        "ft:gpt-4o-mini:local:demo:abc123",
        spec["meta"]["base_url"],
    )
    assert cand.api_key_env == "OPENAI_API_KEY" and rid in cand.label
    assert [c.key for c in candidates.available() if c.kind == "openai"] == [cand.key]


# ---- the cache -------------------------------------------------------------------------------------


@pytest.fixture
def version():
    rows = [qa(n) for n in range(5)]
    first = versions.create("cache-test", rows)
    return versions.save(first, rows, "split", splits={"train": [0, 1, 2], "validation": [], "test": [3, 4]})


def test_cache_round_trip_and_keys(version):
    cand, params = candidates.base("/models/tiny"), GenParams(max_new_tokens=16)
    assert generate.load(cand, version, "test", params) is None
    rows = [
        {"index": 1, "prediction": "second", "n_tokens": 2},
        {"index": 0, "prediction": "first", "n_tokens": 1},
    ]
    generate.save_outputs(cand, version, "test", params, rows, {"seconds": 1.0})
    assert generate.load(cand, version, "test", params) == ["first", "second"]  # in the split's order
    assert generate.meta(cand, version, "test", params)["n"] == 2
    assert generate.load(dataclasses.replace(cand, label="renamed"), version, "test", params) == [
        "first",
        "second",
    ]
    other_version = versions.save(version, [qa(9)] * 5, "other", splits=version.splits)
    key = generate.cache_key(cand, version, "test", params)
    assert generate.cache_key(cand, version, "test", GenParams(max_new_tokens=17)) != key
    assert generate.cache_key(cand, other_version, "test", params) != key
    assert generate.cache_key(cand, version, "validation", params) != key
    assert generate.load(cand, other_version, "test", params) is None


def test_rows_without_their_meta_are_not_a_cache(version):
    cand, params = candidates.base("/models/tiny"), GenParams()
    rows_path, _ = generate._cache_files(generate.cache_key(cand, version, "test", params))
    rows_path.write_text(json.dumps({"index": 0, "prediction": "half", "n_tokens": 1}) + "\n")
    assert generate.load(cand, version, "test", params) is None


def test_launch_of_a_cached_key_starts_nothing(version):
    cand, params = candidates.base("/models/tiny"), GenParams()
    rows = [{"index": i, "prediction": "x", "n_tokens": 1} for i in range(2)]
    generate.save_outputs(cand, version, "test", params, rows, {})
    assert generate.launch(cand, version, "test", params) is None
    assert jobs.list_runs() == []


def test_bad_params_are_refused_before_launch(version):
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1.*top_p must be above 0"):
        generate.launch(candidates.base(), version, "test", GenParams(max_new_tokens=0, top_p=0))
    assert jobs.list_runs() == []


def test_pages_can_import_candidates_and_generate_without_torch():
    code = "import sys, core.eval.generate, core.eval.candidates; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cached_for_lists_every_completed_output_of_a_version_split(version):
    rows = [{"index": 0, "prediction": "x", "n_tokens": 1}]
    first, second = candidates.base("/models/tiny"), candidates.fewshot("/models/tiny", k=2)
    generate.save_outputs(first, version, "test", GenParams(), rows, {"finished_at": 1.0})
    generate.save_outputs(second, version, "test", GenParams(max_new_tokens=9), rows, {"finished_at": 2.0})
    generate.save_outputs(first, version, "validation", GenParams(), rows, {"finished_at": 3.0})
    found = generate.cached_for(version, "test")
    assert [Candidate.from_dict(r["candidate"]).key for r in found] == [second.key, first.key]  # newest first
    assert found[1]["cache_key"] == generate.cache_key(first, version, "test", GenParams())
    other = versions.save(version, [qa(9)] * 5, "other", splits=version.splits)
    assert generate.cached_for(other, "test") == []


def test_a_version_that_splits_the_same_rows_differently_shares_no_answers(version):
    cand, params = candidates.base("/models/tiny"), GenParams()
    rows = [{"index": i, "prediction": f"answer {i}", "n_tokens": 1} for i in range(2)]
    generate.save_outputs(cand, version, "test", params, rows, {})
    resplit = versions.save(
        version, versions.examples(version), "resplit", splits={"train": [0, 3, 4], "validation": [], "test": [1, 2]}
    )
    assert resplit.sha256 == version.sha256  # the same examples...
    assert generate.load(cand, resplit, "test", params) is None  # ...but other test rows
    assert generate.cached_for(resplit, "test") == []
    same = versions.save(resplit, versions.examples(version), "back", splits=version.splits)
    assert generate.load(cand, same, "test", params) == ["answer 0", "answer 1"]  # same rows: reused


def test_scores_stored_with_a_cache_are_read_and_older_caches_are_scored_here(version):
    from core.eval import metrics, scores

    refs = scores.test_set(version)[1]
    rows = [{"index": i, "prediction": f"answer {i}", "n_tokens": 1} for i in range(2)]
    predictions = [r["prediction"] for r in rows]
    older, newer = candidates.base("/models/a"), candidates.base("/models/b")
    generate.save_outputs(older, version, "test", GenParams(), rows, {"finished_at": 1.0})
    # Scores a job stored against other references: score_all must show these, not score again.
    planted = generate.score(["answer 0", "nothing alike"], predictions)
    generate.save_outputs(newer, version, "test", GenParams(), rows, {"finished_at": 2.0}, planted)
    by_model = {s.candidate.model: s for s in scores.score_all(version)}
    assert by_model["/models/b"].rows == planted["plain"]["rows"]
    assert by_model["/models/b"].summary["rouge_l"] != metrics.evaluate(refs, predictions).summary["rouge_l"]
    assert by_model["/models/a"].summary == metrics.evaluate(refs, predictions).summary
    unicode = {s.candidate.model: s for s in scores.score_all(version, unicode=True)}
    assert unicode["/models/b"].summary == planted["unicode"]["summary"]
