"""The Costs page's local GPU tab: a model's shape, the assumptions, then memory, time and dollars per GPU.

Test: `pytest tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import costs, estimate
from core.config import help_of
from core.estimate import Assumptions, PlanRequest
from ui.costs import charts
from ui.costs.prices import price_editor

HELP = help_of(Assumptions)


def model_shape(source: str) -> estimate.Shape | None:
    """The shape from a preset, a config.json (upload or path) or numbers by hand; None after an error."""
    try:
        if source == "Preset":
            names = list(estimate.PRESETS)
            name = st.selectbox("Model", names, index=names.index("Mistral-7B"), key="costs_preset")
            return estimate.PRESETS[name]
        if source == "config.json":
            up = st.file_uploader("config.json", type=["json"], key="costs_config_file")
            path = st.text_input("...or a path to config.json", key="costs_config_path")
            if up is not None:
                return estimate.shape_from_json_text(up.getvalue().decode("utf-8", "replace"), up.name)
            if path.strip():
                with open(path.strip(), encoding="utf-8") as f:
                    return estimate.shape_from_json_text(f.read(), path.strip())
            st.info("Upload a config.json or give its path.")
            return None
        params = st.text_input("Parameters (7e9, 7B, 135M)", "7e9", key="costs_params")
        c = st.columns(2)
        hidden = c[0].number_input("Hidden size (0 = nearest preset's)", 0, 65536, 0, key="costs_hidden")
        layers = c[1].number_input("Layers (0 = nearest preset's)", 0, 1024, 0, key="costs_layers")
        shape = estimate.shape_by_hand(estimate.parse_count(params), int(hidden), int(layers))
        st.caption(f"Shape not given is assumed from the nearest preset: {shape.assumed_from}.")
        return shape
    except OSError as e:
        st.error(f"cannot read {e.filename or 'the file'}: {e.strerror or e}")
        return None
    except ValueError as e:
        st.error(str(e))
        return None


def assumptions() -> Assumptions:
    c = st.columns(4)
    a = Assumptions(
        lora_r=int(c[0].number_input("LoRA r", 1, 1024, 16, key="costs_lora_r", help=HELP["lora_r"])),
        gradient_checkpointing=c[1].checkbox(
            "Gradient checkpointing", key="costs_checkpointing", help=HELP["gradient_checkpointing"]
        ),
        optim=c[2].selectbox("Optimizer", list(estimate.OPTIMIZER_BYTES), key="costs_optim", help=HELP["optim"]),
        mfu=c[3].slider("Utilisation (MFU)", 0.05, 0.8, 0.35, 0.05, key="costs_mfu", help=HELP["mfu"]),
        target_modules=tuple(
            st.multiselect(
                "LoRA target modules",
                estimate.ATTENTION_MODULES + estimate.MLP_MODULES,
                default=list(estimate.ATTENTION_MODULES),
                key="costs_targets",
                help=HELP["target_modules"],
            )
        ),
    )
    with st.expander("More assumptions"):
        cols = st.columns(5)
        for i, name in enumerate(estimate.ADVANCED):
            value = cols[i % 5].number_input(
                name, 0.0, value=float(getattr(a, name)), key=f"costs_a_{name}", help=HELP[name]
            )
            setattr(a, name, float(value))
        st.dataframe(estimate.help_rows(a), hide_index=True)
    return a


def render() -> None:
    """The Local GPU tab: model, method, tokens and assumptions in; memory, fit and dollars per GPU out."""
    c = st.columns(4)
    source = c[0].radio("Model from", ["Preset", "config.json", "By hand"], key="costs_model_source")
    method = c[1].radio("Method", estimate.METHODS, index=2, key="costs_method")
    seq = c[2].number_input("Sequence length (padded)", 16, 262144, 512, key="costs_seq")
    batch = c[2].number_input("Batch size per GPU", 1, 1024, 4, key="costs_batch")
    tokens = c[3].number_input(
        "Training tokens, all epochs",
        1,
        value=costs.GUIDE_TOKENS,
        key="costs_tokens",
        help="Default: the guide's case (500 examples x 167 tokens x 3 epochs).",
    )
    if "costs_upload_tokens" in st.session_state:
        c[3].button(
            f"Use the upload's {st.session_state['costs_upload_tokens']:,} tokens",
            key="costs_use_upload",
            on_click=lambda: st.session_state.update(costs_tokens=st.session_state["costs_upload_tokens"]),
        )
    with c[0]:
        shape = model_shape(source)
    a = assumptions()
    results = st.container()
    with st.expander("GPU prices (USD per GPU-hour), editable"):
        gpus = price_editor("gpu")
    if shape is None:
        return
    p = estimate.plan(PlanRequest(shape, method, int(seq), int(batch), float(tokens), a), gpus)
    with results:
        m = st.columns(3)
        m[0].metric(f"Total GPU memory, {method}", f"{p.memory[method]['total']:.1f} GB")
        m[1].metric("Parameters", estimate.human_count(p.params))
        m[2].metric("Trainable", estimate.human_count(p.trainable[method]))
        terms = pd.DataFrame(p.memory).rename_axis("term").reset_index()
        st.dataframe(
            terms,
            hide_index=True,
            column_config={
                mth: st.column_config.NumberColumn(f"{mth} (GB)", format="%.2f") for mth in estimate.METHODS
            },
        )
        st.altair_chart(charts.memory_chart(p.memory, gpus), width="stretch")
        fit = pd.DataFrame(p.gpus)
        fit["compute_minutes"] = fit.pop("compute_hours") * 60
        st.dataframe(
            fit,
            hide_index=True,
            column_config={
                "usd": st.column_config.NumberColumn("$ (compute + startup)", format="$%.2f"),
                "compute_minutes": st.column_config.NumberColumn("compute (min)", format="%.1f"),
                "paid_hours": st.column_config.NumberColumn("paid hours", format="%.2f"),
                "gpus_needed": st.column_config.NumberColumn("GPUs needed (0 = does not fit)"),
            },
        )
        st.caption(
            "Several GPUs assume the weights, gradients and optimizer states shard evenly (FSDP / ZeRO-3);"
            f" activations do not. Tokens: {int(tokens):,}; FLOPs per token: {p.flops_per_token:.3g}."
        )
