"""The Runs page under AppTest, over real jobs run by the fake worker (tests/jobs/fake_worker.py).

Metrics rows are written by hand into run folders that core.jobs.launch made, so the curves and
the diagnosis are known in advance. Run: `.venv/bin/pytest tests/app/test_runs_page.py -q`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from core import jobs
from core.jobs import queue, rundir
from core.train import config, export, launch
from tests.app import harness
from tests.app.harness import FAKE
from tests.waiting import wait_for
from ui.runs import charts

CFG = config.preset("lora", dataset_version=1)


def start(*args: str, title: str = "fake", meta: dict | None = None) -> str:
    meta = {"method": "lora", "model": "smollm2-135m-instruct", "dataset_version": 1, **(meta or {})}
    return jobs.launch("train", [sys.executable, FAKE, *args], title, meta=meta, config=CFG.to_dict())


def finished(rows: list[dict], meta: dict | None = None) -> str:
    """A run that ran no steps of its own, with metrics rows written by hand."""
    run_id = start("--steps", "0", meta=meta)
    wait_for(run_id)
    folder = rundir.run_dir(run_id)
    (folder / rundir.METRICS).unlink(missing_ok=True)
    for row in rows:
        rundir.append_metrics(folder, row)
    return run_id


def open_run(run_id: str | None = None) -> AppTest:
    return harness.start("runs", {"run": run_id} if run_id else None)


def chart_data(at: AppTest, index: int = 0):
    proto = at.get("vega_lite_chart")[index].proto
    return convert_arrow_bytes_to_pandas_df(proto.datasets[0].data.data)


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(e.value for e in getattr(at, kind))


# Training loss falls 2.0 -> 0.55 over 30 steps; validation is best at step 20 and rises after.
OVERFIT = [
    {"step": s, "epoch": s / 10, "loss": 2.0 - 0.05 * s, "lr": 2e-4, "grad_norm": 1.0, "tokens_per_s": 500.0}
    for s in range(1, 31)
] + [
    {"step": 10, "epoch": 1.0, "eval_loss": 1.5},
    {"step": 20, "epoch": 2.0, "eval_loss": 1.2},
    {"step": 30, "epoch": 3.0, "eval_loss": 1.6},
]


def test_no_runs_points_to_the_train_page():
    at = open_run()
    assert not at.exception
    assert "No training runs yet" in texts(at, "info")


def test_the_list_and_the_chart_show_a_runs_metrics():
    run_id = finished(OVERFIT)
    at = open_run(run_id)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["run"].tolist() == [run_id]
    assert table["state"].tolist() == ["succeeded"] and table["method"].tolist() == ["lora"]
    assert table["best validation loss"].tolist() == [1.2]  # the lowest of 1.5, 1.2, 1.6
    loss = chart_data(at, 0)
    assert (loss["series"] == "training loss").sum() == 30 and (loss["series"] == "validation loss").sum() == 3
    assert len(at.get("vega_lite_chart")) == 2  # losses; learning rate, gradient norm, tokens/s
    m = {x.label: x.value for x in at.metric}
    assert m["Best validation loss"] == "1.2000" and m["Training loss"] == "0.5000"  # 2.0 - 0.05 x 30


def test_overfitting_is_diagnosed_with_the_guides_advice():
    at = open_run(finished(OVERFIT))
    advice = texts(at, "warning")
    assert "Validation loss rising while training loss falls" in advice
    assert "stop at the epoch where validation loss was lowest" in advice


def test_a_nan_loss_is_left_out_of_the_chart_and_named():
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": float("nan")}, {"step": 3, "loss": 1.9}]
    at = open_run(finished(rows))
    assert chart_data(at)["step"].tolist() == [1, 3]
    assert "Loss is not a number" in texts(at, "error")


def test_stop_creates_the_stop_file_and_the_run_ends_stopped():
    run_id = start("--steps", "3000", "--sleep", "0.05")
    wait_for(run_id, ("running",))
    while not rundir.read_metrics(rundir.run_dir(run_id)):
        time.sleep(0.05)
    at = open_run(run_id)
    assert "Running." in texts(at, "info")
    at.button(key="runs_stop").click().run()
    assert rundir.stop_requested(rundir.run_dir(run_id))
    assert wait_for(run_id).state == "stopped"
    at.run()
    assert "Stopped on request" in texts(at, "info")
    assert [b for b in at.button if b.key == "runs_stop"] == []


def test_a_lost_run_shows_lost_and_the_log_tail():
    run_id = start("--steps", "3000", "--sleep", "0.05")
    wait_for(run_id, ("running",))
    while len(rundir.read_metrics(rundir.run_dir(run_id))) < 3:
        time.sleep(0.05)
    os.killpg(rundir.read_json(rundir.run_dir(run_id) / rundir.STATUS)["supervisor_pid"], signal.SIGKILL)
    wait_for(run_id, ("lost",))
    at = open_run(run_id)
    assert "Lost" in texts(at, "error")
    assert "step 2" in "\n".join(c.value for c in at.code)  # the worker's last lines


def test_the_chosen_run_stays_in_the_url():
    first, second = finished([{"step": 1, "loss": 1.0}]), finished([{"step": 1, "loss": 2.0}])
    at = open_run(first)
    assert at.selectbox(key="runs_pick").value == first
    at.selectbox(key="runs_pick").set_value(second).run()
    assert at.query_params["run"] == second
    at = open_run("no-such-run")
    assert "No training run 'no-such-run'" in texts(at, "warning")
    assert at.selectbox(key="runs_pick").value == jobs.list_runs("train")[0].id  # the newest


def test_a_resumed_run_draws_its_parents_curve_up_to_the_resume_step():
    parent = finished([{"step": s, "loss": 3.0 - 0.1 * s} for s in range(1, 11)])
    child = finished(
        [{"step": s, "loss": 2.5 - 0.1 * s} for s in range(6, 9)], meta={"parent_run": parent, "resumed_from_step": 5}
    )
    data = chart_data(open_run(child))
    assert data[data["part"] == "before resume"]["step"].tolist() == [1, 2, 3, 4, 5]
    assert data[data["part"] == "this run"]["step"].tolist() == [6, 7, 8]


def test_samples_summary_and_checkpoints_are_shown():
    run_id = finished(OVERFIT)
    folder = rundir.run_dir(run_id)
    prompt = [{"role": "user", "content": "What is a mutex?"}]
    sample = {
        "prompt": prompt,
        "reference": "A lock.",
        "generated": "A lock for threads.",
        "stopped_at_eos": True,
    }
    (folder / rundir.SAMPLES).write_text(json.dumps([sample]))
    rundir.write_json(
        folder / rundir.SUMMARY,
        {
            "method": "lora",
            "trainable_params": 500,
            "total_params": 100_000,
            "train_examples": 160,
            "truncated_examples": 2,
            "best_eval_loss": 1.2,
            "best_step": 20,
            "best_epoch": 2.0,
            "final_step": 30,
            "epochs_done": 3.0,
            "stopped_early": False,
            "stopped_by_user": False,
        },
    )
    for step in (20, 30):
        (folder / "checkpoints" / f"step-{step}").mkdir(parents=True)
        (folder / "checkpoints" / f"step-{step}" / "state.pt").write_bytes(b"x" * 10)
    at = open_run(run_id)
    shown = "\n".join(t.value for t in at.text)
    assert "What is a mutex?" in shown and "A lock for threads." in shown
    m = {x.label: x.value for x in at.metric}
    assert m["Trainable parameters"] == "500 (0.50%)"  # 500 / 100,000
    marks = at.dataframe[-1].value
    assert marks[["step", "best"]].values.tolist() == [[20, True], [30, False]]


def test_resume_starts_a_child_run_and_selects_it(monkeypatch):
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, FAKE, "--steps", "2"])
    run_id = start("--steps", "3000", "--sleep", "0.05")
    wait_for(run_id, ("running",))
    jobs.stop(run_id)
    wait_for(run_id)
    ckpt = rundir.run_dir(run_id) / "checkpoints" / "step-4"
    ckpt.mkdir(parents=True)
    (ckpt / "state.pt").write_bytes(b"x")
    at = open_run(run_id)
    at.number_input(key="runs_add_epochs").set_value(1.0)
    at.button(key="runs_resume").click().run()
    assert not at.exception, at.exception
    child = next(r for r in jobs.list_runs("train") if r.id != run_id)
    assert child.meta["parent_run"] == run_id and child.meta["resumed_from_step"] == 4
    assert at.selectbox(key="runs_pick").value == child.id
    assert config.from_dict(rundir.read_spec(rundir.run_dir(child.id))["config"]).num_train_epochs == 4.0  # 3 + 1
    wait_for(child.id)


def test_resume_without_a_checkpoint_says_so():
    at = open_run(finished([{"step": 1, "loss": 1.0}]))
    assert [b for b in at.button if b.key == "runs_resume"] == []
    assert "cannot be resumed" in texts(at, "caption")


def exported(run_id: str, result: dict) -> str:
    """An export job of run_id whose worker writes this result.json (as the real export CLI does)."""
    code = (
        "import os, sys; from pathlib import Path; from core.jobs import rundir; "
        f"rundir.write_json(Path(os.environ['FT_RUN_DIR']) / rundir.RESULT, {result!r}); "
        f"sys.exit({0 if result.get('ok') else 1})"
    )
    export_id = jobs.launch(export.KIND, [sys.executable, "-c", code], meta={"run": run_id}, parent=run_id)
    wait_for(export_id)
    return export_id


def model_run() -> str:
    run_id = finished([{"step": 1, "loss": 1.0}])
    (rundir.run_dir(run_id) / rundir.FINAL).mkdir()
    (rundir.run_dir(run_id) / rundir.FINAL / "adapter_config.json").write_text("{}")
    return run_id


@pytest.mark.parametrize("ok", [True, False])
def test_the_export_panel_reads_the_export_jobs_result_json(ok):
    run_id = model_run()
    check = {"ok": ok, "folder": "/x/merged", "stopped_at_eos": ok, "generated": "Hello!"}
    exported(run_id, {**check, "has_chat_template": True, "eos_token": "<e>"})
    at = open_run(run_id)
    assert not at.exception, at.exception
    [shown] = [e.value for e in (at.success if ok else at.warning) if e.value.startswith("Exported")]
    assert shown.startswith("Exported (as trained) to `/x/merged`.")
    assert f"stops at the end token '<e>': {'yes' if ok else 'no'}" in shown
    assert "Answer to the check prompt: Hello!" in texts(at, "text")


def test_an_export_that_failed_shows_the_error_it_wrote():
    run_id = model_run()
    exported(run_id, {"ok": False, "error": "the base model is gone"})
    at = open_run(run_id)
    assert "Export (as trained) failed: the base model is gone" in texts(at, "error")


def test_the_export_button_starts_the_real_export_job_and_its_error_reaches_the_page():
    run_id = finished([{"step": 1, "loss": 1.0}])
    (rundir.run_dir(run_id) / rundir.FINAL).mkdir()
    (rundir.run_dir(run_id) / rundir.FINAL / "notes.txt").write_text("not a model")
    at = open_run(run_id)
    at.button(key="runs_export_full").click().run()
    [job] = jobs.list_runs(export.KIND, parent=run_id)
    assert rundir.read_spec(rundir.run_dir(job.id))["argv"][:4] == [
        sys.executable,
        "-m",
        "core.train.export",
        str(rundir.run_dir(run_id)),
    ]
    assert wait_for(job.id, timeout=120).state == "failed"
    result = export.result(job.id)
    assert result["ok"] is False and "config.json" in result["error"]
    at = open_run(run_id)
    assert f"Export (as trained) failed: {result['error']}" in texts(at, "error")


def test_chart_rows_skip_non_finite_values():
    rows = [
        {"step": 1, "loss": 1.0, "lr": 1e-4},
        {"step": 2, "eval_loss": float("inf")},
        {"step": 3, "loss": None},
    ]
    assert charts.loss_long(rows) == [{"step": 1, "loss": 1.0, "series": "training loss", "part": "this run"}]
    assert charts.scalars_long(rows) == [{"step": 1, "value": 1e-4, "metric": "learning rate"}]


def test_a_finished_run_shows_its_estimate_against_what_it_measured():
    estimate = {"memory_gb": 3.0, "time_s": 90.0, "time_source": "measured on 2 earlier runs"}
    run_id = finished(OVERFIT, meta={"estimate": estimate})
    measured = {"peak_memory_gb": 1.5, "peak_memory_measure": "CPU: VmHWM less start-up", "train_seconds": 120.0}
    rundir.write_json(rundir.run_dir(run_id) / rundir.SUMMARY, measured)
    at = open_run(run_id)
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "estimate / measured" in d.value.columns)
    rows = table.set_index("what")
    assert rows.loc["peak memory (GB)", "estimate / measured"] == 2.0
    assert rows.loc["training time (s)", "estimate / measured"] == 0.75
    assert rows.loc["training time (s)", "how"] == "measured on 2 earlier runs"
    assert rows.loc["peak memory (GB)", "how"] == "CPU: VmHWM less start-up"


def test_the_queue_panel_shows_a_waiting_job_and_cancels_it(monkeypatch):
    monkeypatch.setenv("FT_SLOTS", "1")
    busy = start("--steps", "3000", "--sleep", "0.05", title="busy")
    waiting = start("--steps", "1", title="second")
    at = open_run(waiting)
    assert not at.exception
    assert "Job queue: 1 waiting, 1 running" in [e.label for e in at.expander]
    captions = texts(at, "caption")
    assert f"waits for a CPU slot: {busy} is running" in captions and "from the FT_SLOTS" in captions
    assert "Position 1 in the queue" in texts(at, "info")
    at.button(key=f"queue_cancel_{waiting}").click().run()
    assert jobs.status(waiting).state == "cancelled"
    assert "Job queue: 0 waiting, 1 running" in [e.label for e in at.expander]
    jobs.stop(busy)
    assert wait_for(busy).state == "stopped"


def test_the_slots_setting_is_saved_in_the_workspace(monkeypatch):
    monkeypatch.delenv("FT_SLOTS", raising=False)
    finished([{"step": 1, "loss": 1.0}])
    at = open_run()
    at.number_input(key="queue_slots").set_value(3).run()
    assert not at.exception
    assert queue.slots() == (3, "the workspace setting")
    assert "Now 3, from the workspace setting" in texts(at, "caption")


def test_a_dpo_run_charts_its_rewards_and_accuracy_and_names_stuck_accuracy():
    dpo_cfg = config.preset("lora", dataset_version=1, objective="dpo")
    run_id = jobs.launch(
        "train",
        [sys.executable, FAKE, "--steps", "0"],
        "dpo",
        meta={"method": "lora", "objective": "dpo"},
        config=dpo_cfg.to_dict(),
    )
    wait_for(run_id)
    folder = rundir.run_dir(run_id)
    (folder / rundir.METRICS).unlink(missing_ok=True)
    for s in range(1, 13):  # accuracy stays at a half: the model does not tell chosen from rejected
        rewards = {"rewards_chosen": 0.01, "rewards_rejected": 0.0, "rewards_margins": 0.01, "rewards_accuracies": 0.5}
        rundir.append_metrics(folder, {"step": s, "epoch": s / 12, "loss": 0.693, "lr": 2e-4, **rewards})
    rundir.append_metrics(
        folder,
        {
            "step": 12,
            "epoch": 1.0,
            "eval_loss": 0.69,
            "eval_rewards_chosen": 0.0,
            "eval_rewards_rejected": 0.0,
            "eval_rewards_margins": 0.0,
            "eval_rewards_accuracies": 0.5,
        },
    )
    at = open_run(run_id)
    assert not at.exception, at.exception
    assert at.dataframe[0].value["method"].tolist() == ["lora dpo"]
    assert len(at.get("vega_lite_chart")) == 4  # losses; rewards; reward accuracy; lr, grad norm, tokens/s
    rewards, accuracy = chart_data(at, 1), chart_data(at, 2)
    assert set(rewards["series"]) == {"chosen", "rejected", "margin"}
    assert (rewards["split"] == "validation").sum() == 3 and (rewards["split"] == "training").sum() == 36
    assert accuracy["value"].tolist() == [0.5] * 13
    advice = texts(at, "warning")
    assert "Reward accuracy is stuck near 0.5" in advice and "Training loss is flat" not in advice


def test_a_gguf_export_shows_its_parity_report_downloads_and_ollama_command(tmp_path):
    run_id = model_run()
    gguf_file, modelfile, card = tmp_path / "model-q8_0.gguf", tmp_path / "Modelfile", tmp_path / "README.md"
    for path in (gguf_file, modelfile, card):
        path.write_text("x")
    checks = {"tokenizer": True, "logits": False, "greedy": True}
    report = {"passed": False, "checks": checks, "thresholds": {"nmse": 0.02}, "nmse": 0.5, "top10_agreement": 0.4}
    result = {"ok": False, "gguf": str(gguf_file), "modelfile": str(modelfile), "card": str(card), "parity": report}
    result["ollama_create"] = f"ollama create run -f {modelfile}"
    code = (
        "import os; from pathlib import Path; from core.jobs import rundir; "
        f"rundir.write_json(Path(os.environ['FT_RUN_DIR']) / rundir.RESULT, {result!r})"
    )
    meta = {"run": run_id, "merge": True, "gguf": "q8_0"}
    wait_for(jobs.launch(export.KIND, [sys.executable, "-c", code], meta=meta, parent=run_id))
    at = open_run(run_id)
    assert not at.exception, at.exception
    assert f"GGUF Q8_0 written to `{gguf_file}`. Parity FAILED." in texts(at, "error")
    [table] = [d.value for d in at.dataframe if "check" in d.value.columns]
    assert table["passed"].tolist() == [True, False, True] and "nmse 5.00e-01" in table["measured"][1]
    assert f"ollama create run -f {modelfile}" in [c.value for c in at.code]
    assert at.radio(key="runs_gguf_type").value.startswith("Q8_0")
