"""The Train page's DPO inputs: the method (Supervised (SFT) or Preference (DPO)), DPO's own fields, and the run to
start from.

`pick_objective()` draws the choice before the dataset picker (DPO trains on preference versions, SFT on chat
ones); `render()` draws beta, loss_type, max_prompt_length and init_from_run (a finished SFT run, whose model
the DPO run trains on top of). Widgets are keyed `train_<field>` like every field, so ui.train.form's
`collect()` reads them. Test: `pytest tests/app/test_train_page.py -k dpo`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.config import help_of
from core.eval import candidates
from core.train import launch
from core.train.config import TrainConfig

KEY = "train_"
OBJECTIVES = {"sft": "Supervised (SFT)", "dpo": "Preference (DPO)"}
FIELDS = ("objective", "beta", "loss_type", "max_prompt_length", "init_from_run")  # drawn here, not by the form
LOSS_TYPES = {"sigmoid": "sigmoid (the DPO paper)", "ipo": "ipo (bounded margins)"}


def pick_objective() -> str:
    """The method as the page names it; hosted backends train supervised here."""
    if st.session_state.get("train_backend", "local") != "local":
        return "sft"
    return st.radio(
        "Method",
        list(OBJECTIVES),
        key=KEY + "objective",
        horizontal=True,
        format_func=OBJECTIVES.get,
        help=help_of(TrainConfig)["objective"] + " Each offers datasets of its kind.",
    )


def sft_runs() -> dict[str, str]:
    """Finished local SFT runs a DPO run can start from: run id -> label, newest first."""
    found = {}
    for run in jobs.list_runs("train"):
        if run.state not in candidates.USABLE_STATES:
            continue
        try:
            cand, cfg = candidates.from_run(run.id), launch.run_config(run.id)
        except ValueError:
            continue
        if cand.kind == "run" and cfg.objective == "sft":
            found[run.id] = cand.label
    return found


def render(helps: dict[str, str]) -> None:
    """DPO's fields, under the common ones, when the method is Preference (DPO)."""
    if st.session_state.get(KEY + "objective", "sft") != "dpo":
        return
    st.markdown("**Preference (DPO)**")
    left, middle, right, start = st.columns([1, 1, 1, 2])
    left.number_input("beta", min_value=0.0, step=0.05, format="%.2f", key=KEY + "beta", help=helps["beta"])
    middle.selectbox(
        "loss_type", list(LOSS_TYPES), format_func=LOSS_TYPES.get, key=KEY + "loss_type", help=helps["loss_type"]
    )
    right.number_input(
        "max_prompt_length", min_value=8, step=64, key=KEY + "max_prompt_length", help=helps["max_prompt_length"]
    )
    runs = sft_runs()
    if st.session_state.get(KEY + "init_from_run") not in (None, *runs):
        st.session_state[KEY + "init_from_run"] = None  # a run deleted since it was chosen
    start.selectbox(
        "Start from",
        [None, *runs],
        key=KEY + "init_from_run",
        format_func=lambda r: "the base model" if r is None else runs[r],
        help=helps["init_from_run"] + " Its LoRA adapter is merged into its base once (kept in its export/merged/).",
    )
