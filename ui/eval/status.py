"""Generation status per chosen candidate: ready, generating (live), failed (with the log), or a button.

A candidate's answers are cached by (candidate, version, split, settings); a running job is found
again by that cache key, so the progress bar survives a browser refresh or a restarted server.
Jobs for this version that no chosen row covers (other settings, another tab) are listed too.
The panel is a fragment that rereads the run folders every REFRESH_S seconds while a job is
active and reruns the page once when one ends, so the scores below pick up the new answers.
Test: `pytest tests/app/test_evaluate_page.py tests/e2e/test_evaluate_browser.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import jobs
from core.data.versions import Version
from core.eval import SPLIT, generate, pool
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jobs import rundir
from ui.eval import REFRESH_S
from ui.untrusted import inline, long_text

FAILED = ("failed", "lost")


@dataclass
class Row:
    slot: str
    label: str
    state: str  # ready, running, failed, blocked (cannot run from here), missing
    candidate: Candidate | None = None
    run: jobs.RunStatus | None = None
    meta: dict | None = None
    problem: str | None = None


def _newest_job(key: str) -> jobs.RunStatus | None:
    """The newest generate job for a cache key (found through the run index)."""
    return next(iter(jobs.list_runs(generate.KIND, key=key, limit=1)), None)


def _row(slot: str, cand: Candidate, version: Version, params: GenParams) -> Row:
    info = generate.meta(cand, version, SPLIT, params)  # written last, so present means complete
    run = _newest_job(generate.cache_key(cand, version, SPLIT, params))
    if info is not None:
        return Row(slot, cand.label, "ready", cand, meta=info)
    if run is not None and run.active:
        return Row(slot, cand.label, "running", cand, run=run)
    if problem := pool.problem(cand):
        return Row(slot, cand.label, "blocked", cand, problem=problem)
    return Row(slot, cand.label, "failed" if run and run.state in FAILED else "missing", cand, run=run)


def rows(chosen: dict[str, Candidate], version: Version, params: GenParams) -> list[Row]:
    found = [_row(slot, cand, version, params) for slot, cand in chosen.items()]
    shown = {r.run.meta.get("cache_key") for r in found if r.run is not None}
    for run in jobs.list_runs(generate.KIND, active=True):  # other jobs at work on this version: keep them in view
        key = run.meta.get("cache_key")
        if key and key not in shown and run.meta.get("version_id") == version.id:
            if run.meta.get("split", SPLIT) == SPLIT:
                shown.add(key)
                found.append(Row(run.id, run.meta.get("candidate_label") or run.title, "running", run=run))
    return found


def _launch(cands: list[Candidate], version: Version, params: GenParams) -> None:
    try:
        for cand in cands:
            generate.launch(cand, version, SPLIT, params)
    except (ValueError, OSError) as e:
        st.session_state["eval_gen_error"] = f"Could not start generation: {e}"
    st.rerun()  # the whole page, so the panel starts refreshing itself


def _ready(row: Row, where) -> None:
    m = row.meta or {}
    speed = f" · {m['tokens_per_s']:,.1f} tokens/s" if m.get("tokens_per_s") is not None else ""
    took = f" · {m['seconds']:,.0f} s" if m.get("seconds") is not None else ""
    where.markdown(f":green[:material/check_circle: ready] · {m.get('n', '?')} answers{speed}{took}")


def _running(row: Row, where, action) -> None:
    p = row.run.progress or {}
    done, total = p.get("done") or 0, p.get("total") or 0
    text = p.get("message") or ("starting: loading the model" if not done else f"{done}/{total}")
    if row.run.position:  # waiting in the job queue for a slot
        text = f"queued: position {row.run.position} · {row.run.message.split(': ', 1)[-1]}"
    where.progress(min(1.0, done / total) if total else 0.0, text=text)
    action.button(
        "Cancel" if row.run.position else "Stop",
        key=f"eval_stop_{row.slot}",
        on_click=jobs.stop,
        args=(row.run.id,),
        disabled=row.run.state == "stopping",
        help="Stops after the current batch; the answers so far are kept, and the next try asks only the rest.",
    )


def _failed(row: Row, where) -> None:
    run = row.run
    where.markdown(f":red[:material/error: {run.state}]" + (f" ({run.failure})" if run.failure else ""))
    long_text((run.message or "").split("\n\n")[0], "the job ended without a message", draw=where.caption)
    tail = rundir.log_tail(rundir.run_dir(run.id), 20)
    if tail:
        with where.expander("Log tail"):
            st.code(tail, language="text")


def _draw(row: Row, version: Version, params: GenParams) -> None:
    c = st.columns([3, 5, 1.2], vertical_alignment="center")
    c[0].markdown(f"**{inline(row.label)}**")
    if row.state == "ready":
        _ready(row, c[1])
    elif row.state == "running":
        _running(row, c[1], c[2])
    elif row.state == "blocked":
        c[1].markdown(f":orange[:material/block: cannot generate]: {row.problem}")
    else:
        if row.state == "failed":
            _failed(row, c[1])
        else:
            c[1].caption("not generated yet with these settings")
        label = "Try again" if row.state == "failed" else "Generate"
        if c[2].button(label, key=f"eval_gen_{row.slot}", icon=":material/play_arrow:"):
            _launch([row.candidate], version, params)


def panel(chosen: dict[str, Candidate], version: Version, params: GenParams, was_active: tuple[str, ...]) -> None:
    found = rows(chosen, version, params)
    if set(was_active) - {r.run.id for r in found if r.state == "running"}:
        st.rerun()  # a job just ended: redraw the page once, with its scores and without the timer
    for row in found:
        _draw(row, version, params)
    todo = [r.candidate for r in found if r.state in ("missing", "failed")]
    if len(todo) > 1:
        if st.button(f"Generate all missing ({len(todo)})", key="eval_generate_all", icon=":material/playlist_play:"):
            _launch(todo, version, params)
    if error := st.session_state.pop("eval_gen_error", None):
        long_text(error, draw=st.error)


def render(chosen: dict[str, Candidate], version: Version, params: GenParams) -> None:
    st.caption(
        f"Answers to the {len(version.splits.get(SPLIT, []))} test examples of {inline(version.label)}, "
        "generated once per candidate and settings, then cached."
    )
    active = tuple(r.run.id for r in rows(chosen, version, params) if r.state == "running")
    if not chosen and not active:
        st.info("Choose at least one candidate above to generate its answers.")
        return
    live = st.fragment(run_every=REFRESH_S if active else None)(panel)
    live(chosen, version, params, active)
