"""The end of the Train page: what stops the run, the exact command, and Launch.

What stops the run is core.train.launch.problems, the same list start() raises and the worker
re-checks. Launch hands the config to core.train.launch.start (a detached job) and opens the Runs
page on the new run (?run=<id>). Test: `pytest tests/app/test_train_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core.train import config, launch
from core.train.config import TrainConfig
from core.train.preflight import Preflight
from ui import RUNS_PAGE
from ui.train import form, machines
from ui.untrusted import long_text


def render(cfg: TrainConfig, pf: Preflight) -> None:
    found = launch.problems(cfg, n_train=len(pf.tokens.counts))
    if found:
        st.error("Fix before launching:\n" + "\n".join(f"- {p}" for p in found))
    if any(launch.USE_TOOLS in p for p in found):
        st.button("Use the workbench's tool template", key="train_use_tools", on_click=form.use_tool_template)
    forced = True
    if pf.verdict == "too big":
        forced = st.checkbox("Launch anyway (the estimate may be pessimistic)", key="train_force")
    st.markdown("**Command** (the Runs page keeps it with the run; it runs the same from a shell):")
    st.code(launch.command_preview(cfg), language="bash")
    with st.expander("The run's config (YAML)"):
        st.code(config.to_yaml(cfg), language="yaml")
    title = st.text_input("Run title (optional)", key="train_title", placeholder="method · model · version")
    clicked = st.button(
        "Launch",
        type="primary",
        key="train_launch",
        disabled=bool(found) or not forced,
        icon=":material/rocket_launch:",
    )
    if not clicked:
        return
    try:
        run_id = launch.start(cfg, title.strip(), machines=machines.chosen(cfg.accelerate_profile))
    except (ValueError, OSError) as e:
        long_text(f"Not launched: {e}", draw=st.error)
        return
    st.switch_page(RUNS_PAGE, query_params={"run": run_id})
