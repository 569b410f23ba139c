"""The Train page's "several machines" part, under the accelerate profile: how many machines, where the main
one listens, and the exact command each machine runs (core.train.machines.plan, the text the CLI prints).

Launch on this page starts machine 0's share as a run the Runs page follows (`chosen` hands the Launch panel
the machines); the other machines run their commands by hand. Test: `pytest tests/app/test_train_machines.py`.
"""

from __future__ import annotations

import streamlit as st

from core.train import machines
from core.train.config import TrainConfig

KEY = "train_machines_"


def _key(name: str) -> str:
    return KEY + name


def chosen(profile: str | None) -> machines.Machines | None:
    """The machines as set on the page; None for one machine (or no profile)."""
    if not profile or not st.session_state.get(_key("on")):
        return None
    count, ip = int(st.session_state.get(_key("count"), 2)), str(st.session_state.get(_key("ip"), "")).strip()
    per = int(st.session_state.get(_key("per_machine"), 0)) or None
    return machines.Machines(count, ip, int(st.session_state.get(_key("port"), 29500)), per)


def render(profile: str | None) -> None:
    """The toggle, the fields, and each machine's command (or why there is none yet)."""
    if not profile:
        return
    on = st.toggle("Several machines", key=_key("on"), help="One run over N machines through accelerate's launcher.")
    if not on:
        return
    left, mid, right, far = st.columns(4)
    left.number_input("Machines", min_value=2, max_value=64, value=2, key=_key("count"))
    mid.text_input("Main machine's IP", value="", key=_key("ip"), placeholder="10.0.0.5")
    right.number_input("Port", min_value=1024, max_value=65535, value=29500, key=_key("port"))
    far.number_input("Ranks per machine (0: its GPUs, else 1)", min_value=0, max_value=64, key=_key("per_machine"))
    spread = chosen(profile)
    if not spread.main_ip:
        st.info("Type the main machine's IP (as the other machines reach it) to see each machine's command.")
        return
    try:
        text = machines.as_text(TrainConfig(accelerate_profile=profile), spread)
    except ValueError as exc:
        st.error(f"No commands yet: {exc}")
        return
    st.caption(
        "Launch below starts machine 0 here (RUN_DIR becomes its run folder, the one the Runs page follows). "
        "Then, on each other machine, put the run's config YAML (below, or the run's spec.yaml) in its folder and "
        "run its command from the repository root."
    )
    st.code(text, language="bash")
