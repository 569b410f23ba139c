"""The Runs page's job queue: each waiting job's position and what it waits for, Cancel / Move to front / Delete,
and the slots setting (how many heavy jobs run at once).

The list refreshes itself every REFRESH_S seconds, so a job is seen moving up and starting.
Test: `pytest tests/app/test_runs_page.py tests/e2e/test_queue.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.jobs import queue, scheduler
from ui.untrusted import inline

REFRESH_S = 2
SLOTS = "queue_slots"


def _save_slots() -> None:
    queue.set_slots(int(st.session_state[SLOTS]))


def _slots() -> None:
    n, source = queue.slots()
    c = st.columns([1, 3], vertical_alignment="bottom")
    c[0].number_input("Slots", min_value=1, max_value=64, value=n, step=1, key=SLOTS, on_change=_save_slots,
                      help="How many heavy jobs (training, local generation, analysis, export) run at once. "
                           "GPU jobs also need a free GPU each.")  # fmt: skip
    default = queue.default_slots()
    note = f"Now {n}, from {source}; this machine's default is {default}."
    if source.startswith("the FT_SLOTS"):
        note += " FT_SLOTS overrides the setting while it is set."
    c[1].caption(note)


def _row(entry: queue.Entry, position: int) -> None:
    run = jobs.status(entry.run_id)
    c = st.columns([0.4, 5, 1, 1.3, 1], vertical_alignment="center")
    c[0].markdown(f"**{position}**")
    c[1].markdown(f"{inline(run.title)} · `{run.id}` · needs {entry.needs.label}")
    c[1].caption(queue.waits_for(entry.run_id))
    c[2].button("Cancel", key=f"queue_cancel_{run.id}", on_click=queue.cancel, args=(run.id,))
    c[3].button("Move to front", key=f"queue_front_{run.id}", on_click=queue.move_to_front, args=(run.id,),
                disabled=position == 1)  # fmt: skip
    c[4].button("Delete", key=f"queue_delete_{run.id}", on_click=jobs.delete, args=(run.id,))


@st.fragment(run_every=REFRESH_S)
def render() -> None:
    """The queue panel; it starts the scheduler when jobs wait and none is at work (one was killed, say)."""
    waiting = queue.waiting()
    running = [e for e in queue.started() if jobs.status(e.run_id).active]  # its end may not be seen yet
    if waiting:
        scheduler.ensure()
    title = f"Job queue: {len(waiting)} waiting, {len(running)} running"
    with st.expander(title, expanded=bool(waiting), icon=":material/queue:"):
        _slots()
        if not waiting:
            st.caption("Nothing waits: a job launched now starts at once when a slot is free.")
        for position, entry in enumerate(waiting, 1):
            _row(entry, position)
