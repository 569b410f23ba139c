"""One training run, live: state, progress, loss curves, speed, heartbeat, diagnosis, Stop and Resume.

The live panel is a fragment that rereads the run folder every REFRESH_S seconds while the run is
active; when the run ends it reruns the whole page once, which then stops refreshing and shows
Resume and the artifacts. Everything shown is read from files, so a restarted server shows the
same run. A remote run (core.providers.provider_of its meta) has its own panel: the provider's status
and job id, events, the same loss chart, token accuracy, trained tokens, ETA, Cancel, and the
fine-tuned model with its actual cost; Resume and local diagnosis do not apply to it.
Test: `pytest tests/app/test_runs_page.py tests/app/test_train_openai.py tests/e2e/test_train_browser.py`.
"""

from __future__ import annotations

import time

import streamlit as st

from core import jobs, providers
from core.jobs import rundir
from core.money import duration, usd
from core.train import diagnose, launch, summary
from ui.runs import artifacts, charts, estimates
from ui.train import tracking
from ui.untrusted import code, inline, long_text

REFRESH_S = 2
STUCK_S = 180  # a heartbeat older than this while running deserves a word
STATE_ALERT = {
    "queued": (st.info, "Queued."),  # its message says where it stands in the job queue, or that it is starting
    "running": (st.info, "Running."),
    "stopping": (st.warning, "Stopping: the worker saves a checkpoint at its next step, then exits."),
    "succeeded": (st.success, "Succeeded."),
    "stopped": (st.info, "Stopped on request; the last state was saved."),
    "failed": (st.error, "Failed"),
    "lost": (st.error, "Lost"),
    "cancelled": (st.info, "Cancelled."),
}
SEVERITY = {
    "error": (st.error, ":material/error:"),
    "warning": (st.warning, ":material/warning:"),
    "info": (st.info, ":material/info:"),
}


def _num(x, fmt: str) -> str:
    return format(x, fmt) if summary.finite(x) else "-"


def state_banner(run: jobs.RunStatus) -> None:
    alert, text = STATE_ALERT.get(run.state, (st.info, run.state))
    if run.state in ("failed", "lost"):
        kind = f" ({run.failure})" if run.failure and run.failure != "lost" else ""
        long_text(run.message.split(chr(10) * 2)[0], "", draw=alert, before=f"{text}{kind}: ")  # the log tail follows
        tail = rundir.log_tail(rundir.run_dir(run.id), 30)
        if tail:
            st.code(tail, language="text")
        return
    long_text(run.message if run.state != "stopped" else "", "", draw=alert, before=f"{text} ")


def _eta(run: jobs.RunStatus, rows: list[dict]) -> float | None:
    """The worker's own ETA, else one from the progress rate so far."""
    if not run.active:
        return None
    eta = summary.latest(rows, "eta_s")
    if summary.finite(eta):
        return eta
    p = run.progress or {}
    done, total = p.get("done") or 0, p.get("total") or 0
    return (run.duration_s or 0) / done * (total - done) if done and total > done else None


def progress_bar(run: jobs.RunStatus) -> None:
    p = run.progress or {}
    done, total = p.get("done") or 0, p.get("total") or 0
    text = f"step {done} / {total}" + (f" · {p['message']}" if p.get("message") else "")
    st.progress(min(1.0, done / total) if total else 0.0, text=text)


def tiles(run: jobs.RunStatus, rows: list[dict], folder) -> None:
    best = summary.best_eval(rows, summary.read_summary(folder))
    p = run.progress or {}
    c = st.columns(5)
    c[0].metric("Step", f"{p.get('done', 0)} / {p.get('total', '?')}", help=f"{len(rows)} metric rows logged")
    c[1].metric("Epoch", _num(summary.latest(rows, "epoch"), ".2f"))
    c[2].metric("Training loss", _num(summary.latest(rows, "loss"), ".4f"))
    c[3].metric(
        "Best validation loss",
        _num(best[0], ".4f") if best else "-",
        help=f"at step {best[1]}" if best else "no evaluation yet",
    )
    c[4].metric("Learning rate", _num(summary.latest(rows, "lr"), ".2e"))
    c = st.columns(5)
    c[0].metric("Gradient norm", _num(summary.latest(rows, "grad_norm"), ".3f"))
    c[1].metric("Tokens/s", _num(summary.latest(rows, "tokens_per_s"), ",.0f"))
    c[2].metric("ETA", duration(_eta(run, rows)) or "-")
    c[3].metric("Elapsed", duration(run.duration_s) or "-")
    age = run.heartbeat_age_s
    c[4].metric(
        "Last heartbeat",
        f"{age:.0f} s ago" if age is not None else "-",
        help="When the worker last reported progress (progress.json).",
    )
    if run.state == "running" and age is not None and age > STUCK_S:
        st.warning(
            f"No heartbeat for {duration(age)}: the worker may be stuck. Loading a large model "
            "or a long evaluation can take this long; the log below says what it is doing."
        )


def diagnosis(run: jobs.RunStatus, rows: list[dict], folder) -> None:
    try:
        cfg = launch.run_config(run.id)
    except ValueError as e:
        st.caption(f"No diagnosis: {e}")
        return
    found = diagnose.diagnose(rows, cfg, summary.read_samples(folder))
    st.markdown("**Diagnosis**")
    if not found:
        st.caption("Nothing looks wrong in the curves so far." if rows else "Waiting for the first metrics.")
    for d in found:
        alert, icon = SEVERITY.get(d.severity, SEVERITY["info"])
        alert(f"**{d.title}.** {d.detail}\n\n{d.advice}", icon=icon)


def live(run_id: str, was_active: bool) -> None:
    run = jobs.status(run_id)
    if was_active and not run.active:
        st.rerun()  # the run just ended: redraw the page once, without the refresh timer
    folder = rundir.run_dir(run_id)
    rows = rundir.read_metrics(folder)
    state_banner(run)
    if run.active:
        progress_bar(run)
        st.button(
            "Stop",
            key="runs_stop",
            icon=":material/stop_circle:",
            on_click=jobs.stop,
            args=(run_id,),
            disabled=run.state == "stopping",
            help="The worker stops at its next step, saves a checkpoint and the model, and exits.",
        )
    tiles(run, rows, folder)
    parent = summary.parent_rows(run)
    st.altair_chart(charts.loss_chart(rows, parent), width="stretch")
    for dpo_chart in (charts.rewards_chart(rows), charts.reward_accuracy_chart(rows)):  # a DPO run's
        if dpo_chart is not None:
            st.altair_chart(dpo_chart, width="stretch")
    if charts.scalars_long(rows):
        st.altair_chart(charts.scalars_chart(rows))
    if not run.active:  # the run measures its peak memory and speed at its end
        estimates.render(run)
    diagnosis(run, rows, folder)


def _resume(run_id: str) -> None:
    try:
        new_id = launch.resume(run_id, float(st.session_state.get("runs_add_epochs") or 0.0))
    except (ValueError, OSError) as e:
        st.session_state["runs_resume_error"] = str(e)
        return
    st.query_params["run"] = new_id
    st.session_state["runs_pick"] = new_id


def resume_controls(run: jobs.RunStatus) -> None:
    if run.active:
        return
    found = launch.checkpoints(run.id)
    if not found:
        st.caption("No checkpoint was saved, so this run cannot be resumed.")
        return
    c = st.columns([1, 1, 3], vertical_alignment="bottom")
    c[0].number_input(
        "Add epochs",
        min_value=0.0,
        step=0.5,
        key="runs_add_epochs",
        help="0 continues the planned epochs; more trains further from the newest checkpoint.",
    )
    c[1].button("Resume", key="runs_resume", icon=":material/play_circle:", on_click=_resume, args=(run.id,))
    c[2].caption(f"Continues from {found[-1].name} as a new run; this one stays as it is.")
    error = st.session_state.pop("runs_resume_error", None)
    if error:
        st.error(f"Not resumed: {error}")


# ---- remote runs (a provider's worker follows a hosted job) -------------------------------------


def is_remote(run: jobs.RunStatus) -> bool:
    return providers.provider_of(run.meta) is not None


def service_of(run: jobs.RunStatus) -> str:
    """The hosted service's name for sentences ("OpenAI status"), from the run's provider."""
    return providers.provider_of(run.meta).service


def remote_tiles(run: jobs.RunStatus, rows: list[dict], remote: dict, info: dict) -> None:
    service = service_of(run)
    p, best = run.progress or {}, summary.best_eval(rows)
    trained = info.get("trained_tokens") or remote.get("trained_tokens")
    finish = remote.get("estimated_finish")
    eta = max(0.0, finish - time.time()) if run.active and summary.finite(finish) else None
    c = st.columns(5)
    job = f"job {remote.get('job_id') or '-'}"
    c[0].metric(f"{service} status", remote.get("status") or "not created yet", help=job)
    c[1].metric("Step", f"{p.get('done', 0)} / {p.get('total') or '?'}", help=f"{len(rows)} checkpoints logged")
    c[2].metric("Training loss", _num(summary.latest(rows, "loss"), ".4f"))
    c[3].metric(
        "Best validation loss",
        _num(best[0], ".4f") if best else "-",
        help=f"at step {best[1]}" if best else "no checkpoint with validation loss yet",
    )
    c[4].metric("Trained tokens", f"{trained:,}" if trained else "-", help=f"reported by {service} when the job ends")
    c = st.columns(5)
    c[0].metric("ETA", duration(eta) or "-", help=f"{service}'s estimated finish")
    c[1].metric("Elapsed", duration(run.duration_s) or "-")
    age = run.heartbeat_age_s
    c[2].metric(
        "Last check",
        f"{age:.0f} s ago" if age is not None else "-",
        help=f"When the worker last polled {service}.",
    )
    c[3].metric("Estimated cost", usd((remote.get("estimate") or {}).get("training_usd")), help="before launch")
    c[4].metric("Actual cost", usd(info.get("actual_usd")), help=_cost_help(info))


def _cost_help(info: dict) -> str:
    if not info:
        return "when the job succeeds"
    if info.get("actual_usd") is None and info.get("cost_note"):
        return info["cost_note"]  # a compatible service (the local API, say) that charges nothing here
    return (
        f"trained tokens x {usd(info.get('training_usd_per_1m'))} per 1M (price as of {info.get('price_as_of')}, "
        f"{info.get('price_source')})"
    )


def remote_result(run: jobs.RunStatus, info: dict) -> None:
    if run.state == "stopped":
        st.info(
            f"Cancelled on request: the job was cancelled on {service_of(run)}; billing covers the steps already run."
        )
    if not info.get("fine_tuned_model"):
        return
    st.success(
        f"Fine-tuned model: {code(info['fine_tuned_model'])} · {info.get('trained_tokens') or 0:,} tokens "
        f"trained · actual cost "
        f"{usd(info.get('actual_usd')) if info.get('actual_usd') is not None else info.get('cost_note') or '-'}"
    )
    st.caption(
        f"It is available as a candidate on the Evaluate and Arena pages: the {service_of(run)} model of this name"
        + (f", at {info['base_url']}" if info.get("base_url") else "")
        + "."
    )


def remote_live(run_id: str, was_active: bool) -> None:
    run = jobs.status(run_id)
    if was_active and not run.active:
        st.rerun()  # the job just ended: redraw once, without the refresh timer
    folder = rundir.run_dir(run_id)
    rows, info = rundir.read_metrics(folder), summary.read_summary(folder)
    remote = rundir.read_json(folder / rundir.REMOTE) or {}
    if run.state != "stopped":
        state_banner(run)
    remote_result(run, info)
    where = f" at {inline(remote['base_url'])}" if remote.get("base_url") else ""
    st.caption(f"{service_of(run)} job {code(remote.get('job_id') or 'not created yet')}{where}")
    if run.active:
        progress_bar(run)
        st.button(
            "Cancel",
            key="runs_stop",
            icon=":material/cancel:",
            on_click=jobs.stop,
            args=(run_id,),
            disabled=run.state == "stopping",
            help=f"Cancels the job on {service_of(run)}; the run ends as stopped.",
        )
    remote_tiles(run, rows, remote, info)
    st.altair_chart(charts.loss_chart(rows), width="stretch")
    accuracy = charts.accuracy_chart(rows)
    if accuracy is not None:
        st.altair_chart(accuracy, width="stretch")
    with st.expander("Events (train.log)", expanded=run.active):
        st.code(rundir.log_tail(folder, 60) or "No events yet.", language="text")


def remote_details(run: jobs.RunStatus) -> None:
    folder = rundir.run_dir(run.id)
    with st.expander("Config & command"):
        artifacts.config_tab(folder)
    info = summary.read_summary(folder)
    if info:
        with st.expander(rundir.SUMMARY):
            st.json(info)


def render(run_id: str) -> jobs.RunStatus | None:
    try:
        run = jobs.status(run_id)
    except (OSError, ValueError, KeyError, TypeError) as e:
        long_text(f"Run {run_id} cannot be read: {e}", draw=st.error)
        return None
    st.subheader(inline(run.title or run.id))
    st.caption(
        f"{run.id} · {inline(run.meta.get('method', ''))} · {inline(summary.model_label(run.meta.get('model')))} · "
        f"{inline(summary.dataset_label(run.meta.get('dataset_version')))}"
        + (
            f" · resumed from {run.meta['parent_run']} at step {run.meta.get('resumed_from_step')}"
            if run.meta.get("parent_run")
            else ""
        )
    )
    tracking.opened(run)  # where a tracked run's TensorBoard, MLflow or trackio records are
    panel = remote_live if is_remote(run) else live
    st.fragment(run_every=REFRESH_S if run.active else None)(panel)(run_id, run.active)
    if is_remote(run):
        remote_details(run)
    else:
        resume_controls(run)
    return run
