"""The Evaluate page's "Answers as training data": save a candidate's answers to every prompt as a new dataset.

A candidate (any of the page's: a hosted fine-tune, a larger local model, a run) answers every example of the
chosen version in a resumable generate job (core.eval.distill); the panel shows its progress live, a failed job's
reason with "Resume" (only the missing prompts are asked), the answers that failed or came back empty by line,
then Save (without them) or Retry (only them). Each `ft:` candidate is shown with its base model's retirement
(core.retirements, whose table is edited here) and the flow: save its answers, train an open model on them
(the Train page opens on the new version), compare them blind (the Arena). Widget keys start with "eval_distill_".
Test: `.venv/bin/pytest tests/app/test_eval_distill.py -q`.
"""

from __future__ import annotations

import datetime

import pandas as pd
import streamlit as st

from core import jobs, retirements
from core.data import versions
from core.data.versions import Version
from core.eval import distill, pool
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jobs import rundir
from ui import ARENA_PAGE, TRAIN_PAGE
from ui.eval import REFRESH_S
from ui.untrusted import inline, long_text

SAVED, ERROR = "eval_distill_saved", "eval_distill_error"


def _hosted(slots: dict[str, Candidate]) -> list[Candidate]:
    return [c for c in slots.values() if c.kind == "openai" and c.model.startswith("ft:")]


def _retirement_editor() -> None:
    base = "eval_distill_retirements_base"
    if base not in st.session_state:  # edits apply to this snapshot, so a deleted row stays deleted
        st.session_state[base] = retirements.table()
    edited = st.data_editor(
        pd.DataFrame(st.session_state[base], columns=list(retirements.FIELDS)),
        key="eval_distill_retirements",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
    )
    rows = edited.to_dict("records")
    cleaned, problems = retirements.clean(rows)
    if problems:
        st.warning("Edits not saved: " + "; ".join(problems))
    elif cleaned != retirements.table():
        retirements.save(cleaned)
    mine = " Your edits are saved in this workspace." if retirements.overrides() else ""
    st.caption(f"Dates as shown by each row's source, on the date it was checked.{mine}")
    if st.button("Reset to the shipped dates", key="eval_distill_retirements_reset"):
        retirements.reset()
        st.session_state.pop(base, None)
        st.rerun()


def retirement_notice(slots: dict[str, Candidate]) -> None:
    """Each fine-tuned hosted candidate's base-model retirement and days left, with the three steps."""
    hosted, today = _hosted(slots), datetime.date.today()
    if hosted:
        ends = retirements.lookup(retirements.FINE_TUNING, today)
        lines = [f"- **{inline(c.label)}**: {inline(retirements.lookup(c.model, today)['words'])}" for c in hosted]
        st.warning(
            "\n".join(lines) + f"\n\nOpenAI creates no new fine-tuning jobs from {ends['retires']}. To keep what a "
            "fine-tune learned: **1.** save its answers below, **2.** train an open model on them (Train page), "
            "**3.** compare the two blind (Arena).",
            icon=":material/event_busy:",
        )
    with st.expander("Retirement dates of hosted base models (editable)"):
        _retirement_editor()


def _steps(saved: Version, source: Version, label: str) -> None:
    st.success(f"Saved {inline(saved.label)}: {inline(saved.note)}.", icon=":material/check_circle:")
    c = st.columns(3)
    c[0].markdown(f"**1.** :green[:material/check: answers saved] as {inline(saved.label)}")
    query = {"dataset": str(saved.dataset_id), "version": str(saved.id)}
    c[1].page_link(
        TRAIN_PAGE, label="**2.** Train an open model on them", icon=":material/model_training:", query_params=query
    )
    arena = {"dataset": str(source.dataset_id), "version": str(source.id)}
    c[2].page_link(ARENA_PAGE, label="**3.** Compare them blind", icon=":material/groups:", query_params=arena)
    c[2].caption(
        f"When the run has finished, generate its answers on the test split above, then start a "
        f"session with {inline(label)} and the run."
    )


def _save(cand: Candidate, version: Version, params: GenParams) -> None:
    name = (st.session_state.get("eval_distill_name") or "").strip() or distill.default_name(cand, version)
    try:
        saved, _ = distill.save(cand, version, params, name)
    except ValueError as e:
        st.session_state[ERROR] = f"Not saved: {e}"
        return
    st.session_state[SAVED] = {"id": saved.id, "label": cand.label, "of": [cand.key, version.id]}
    st.session_state.pop("eval_distill_name", None)


def _start(action, cand: Candidate, version: Version, params: GenParams) -> None:
    try:
        action(cand, version, params)
    except (ValueError, OSError) as e:
        st.session_state[ERROR] = f"Could not start: {e}"


def _ready(s: distill.State, cand: Candidate, version: Version, params: GenParams) -> None:
    ok = len(s.rows) - len(s.failed)
    st.markdown(f":green[:material/check_circle: answered] {ok} of {len(s.rows)} prompts")
    if s.failed:
        st.warning(f"{len(s.failed)} answer(s) failed or came back empty; saving leaves them out, or retry them:")
        st.dataframe(pd.DataFrame(s.failed), hide_index=True)
    st.session_state.setdefault("eval_distill_name", distill.default_name(cand, version))
    st.text_input("New dataset's name", key="eval_distill_name")
    c = st.columns(2)
    label = f"Save {ok} examples as a dataset" + (f" (without the {len(s.failed)} failed)" if s.failed else "")
    c[0].button(
        label,
        key="eval_distill_save",
        type="primary",
        icon=":material/save:",
        disabled=not ok,
        on_click=_save,
        args=(cand, version, params),
    )
    if s.failed:
        c[1].button(
            f"Retry the {len(s.failed)} failed",
            key="eval_distill_retry",
            icon=":material/replay:",
            on_click=_start,
            args=(distill.retry_failed, cand, version, params),
        )


def _not_done(s: distill.State, cand: Candidate, version: Version, params: GenParams) -> None:
    if problem := pool.problem(cand):
        st.markdown(f":orange[:material/block: cannot generate]: {problem}")
        return
    run = s.run
    if run is not None and run.state in ("failed", "lost", "stopped"):
        st.markdown(f":red[:material/error: {run.state}]" + (f" ({run.failure})" if run.failure else ""))
        long_text((run.message or "").split("\n\n")[0], "the job ended without a message", draw=st.caption)
        if tail := rundir.log_tail(rundir.run_dir(run.id), 20):
            with st.expander("Log tail"):
                st.code(tail, language="text")
    if s.received:
        label = f"Resume: ask the {s.total - s.received} missing ({s.received} answers kept)"
    else:
        label = f"Generate answers to all {s.total} prompts"
    st.button(
        label,
        key="eval_distill_generate",
        icon=":material/play_arrow:",
        on_click=_start,
        args=(distill.launch, cand, version, params),
    )


def panel(cand: Candidate, version: Version, params: GenParams, was_running: bool) -> None:
    s = distill.state(cand, version, params)
    running = s.rows is None and s.run is not None and s.run.active
    if was_running and not running:
        st.rerun()  # the job ended: redraw once, without the timer
    saved = st.session_state.get(SAVED) or {}
    if saved.get("of") == [cand.key, version.id]:  # drawn in the fragment: Save reruns only the fragment
        _steps(versions.get(saved["id"]), version, saved["label"])
    if s.rows is not None:
        _ready(s, cand, version, params)
    elif running:
        p = s.run.progress or {}
        done, total = p.get("done") or 0, p.get("total") or s.total
        st.progress(min(1.0, done / total) if total else 0.0, text=p.get("message") or "starting")
        st.button(
            "Stop",
            key="eval_distill_stop",
            on_click=jobs.stop,
            args=(s.run.id,),
            help="Stops after the current batch; the answers so far are kept for the next try.",
        )
    else:
        _not_done(s, cand, version, params)
    if error := st.session_state.pop(ERROR, None):
        long_text(error, draw=st.error)


def render(slots: dict[str, Candidate], version: Version, params: GenParams) -> None:
    st.subheader("Answers as training data")
    st.caption(
        f"Save a candidate's answers to all {version.n_examples} prompts of {inline(version.label)} (every split, "
        "not only the test split) as a new chat dataset: each prompt keeps its system and user turns, the "
        "candidate's answer becomes the assistant turn, and the split is kept. Distil a larger model into a small "
        "one, or keep what a hosted fine-tune learned before its base model retires. Uses the generation settings "
        "above."
    )
    retirement_notice(slots)
    slot = st.selectbox(
        "Candidate whose answers to save",
        list(slots),
        format_func=lambda s: slots[s].label,
        key="eval_distill_candidate",
    )
    cand = slots[slot]
    s = distill.state(cand, version, params)
    running = s.rows is None and s.run is not None and s.run.active
    st.fragment(run_every=REFRESH_S if running else None)(panel)(cand, version, params, running)
