"""The Train page's inputs: dataset version (ui.pickers), model, method with the guide's preset, every field.

Each TrainConfig field is one widget keyed `train_<field>`, with the field's help text as its
tooltip; the common ones are in view and the rest sit in an "Advanced" expander. Changing the
method loads that method's preset from core.train.config. `collect()` turns the widgets into a
TrainConfig. Test: `pytest tests/app/test_train_page.py`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import streamlit as st

from core import estimate, models, templates
from core.config import help_of
from core.data import samples, split, versions
from core.jsonl import read_records
from core.train import config, launch
from core.train.config import METHODS, PROFILES, TrainConfig
from ui import pickers
from ui.train import dpo, machines, tracking

KEY = "train_"
FIELDS = {f.name: f for f in fields(TrainConfig)}
HELP = help_of(TrainConfig)
OWN_PICKER = ("model", "method", "dataset_version", "accelerate_profile")  # drawn by the pickers below
COMMON = (
    "num_train_epochs",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
)
ADAPTER = ("lora_r", "lora_alpha", "lora_dropout", "target_modules")
OPTIONAL_TEXT = ("train_file", "validation_file", "resume_from")
ADVANCED = {  # the expander's sections; a field in none of them lands in "Other"
    "Schedule": ("max_steps", "warmup_steps", "lr_scheduler_type", "weight_decay", "max_grad_norm", "seed"),
    "Loss and memory": ("assistant_only_loss", "chat_template", "gradient_checkpointing", "bf16"),
    "Evaluation, early stopping, saving": (
        "eval_strategy",
        "eval_steps",
        "early_stopping_patience",
        "early_stopping_threshold",
        "logging_steps",
        "save_strategy",
        "save_steps",
        "load_best_model_at_end",
        "sample_generations",
    ),
    "QLoRA (bitsandbytes)": (
        "load_in_4bit",
        "bnb_4bit_quant_type",
        "bnb_4bit_compute_dtype",
        "bnb_4bit_use_double_quant",
    ),
    "Files instead of a dataset version; resume": OPTIONAL_TEXT,
}
CHOICES = {
    "lr_scheduler_type": ("linear", "cosine", "constant"),
    "eval_strategy": ("epoch", "steps"),
    "save_strategy": ("epoch", "steps"),
    "bnb_4bit_quant_type": ("nf4", "fp4"),
    "bnb_4bit_compute_dtype": ("bfloat16", "float16", "float32"),
    "chat_template": templates.CHOICES,
}
FLOAT_FORMAT = {  # (printf format, step) so a learning rate reads 2.0e-04, not 0.00
    "learning_rate": ("%.1e", 1e-5),
    "num_train_epochs": ("%.1f", 0.5),
    "early_stopping_threshold": ("%.4f", 0.001),
    "max_grad_norm": ("%.2f", 0.1),
}
METHOD_LABELS = {"full": "Full fine-tuning", "lora": "LoRA", "qlora": "QLoRA (4-bit NF4)"}
OTHER_MODEL = "Another model: a hub id or a local folder"
DEFAULTS = TrainConfig().to_dict()  # the type of each field's value picks its widget
PRESET_KEYS = sorted({k for p in config.GUIDE_PRESETS.values() for k in p} - {"method"})


def key(name: str) -> str:
    return KEY + name


def _seed(method: str, names, force: bool = False) -> None:
    """Put the method's preset into the widgets' state (only where empty unless forced)."""
    base = config.preset(method)
    for name in names:
        if force or key(name) not in st.session_state:
            value = getattr(base, name)
            st.session_state[key(name)] = "" if value is None and name in OPTIONAL_TEXT else value


def _apply_preset() -> None:
    # A new method brings its own learning rate, warm-up, weight decay and 4-bit setting.
    _seed(st.session_state[key("method")], PRESET_KEYS, force=True)


def use_tool_template() -> None:
    # The launch panel's offer when the model's own template drops the data's tool calls.
    st.session_state[key("chat_template")] = templates.TOOLS


def _reset_all() -> None:
    _seed(st.session_state[key("method")], [n for n in FIELDS if n not in OWN_PICKER], force=True)


def field_widget(name: str, where=st) -> None:
    k = key(name)
    label, tip, default = name, HELP[name], DEFAULTS[name]
    if name in CHOICES:
        where.selectbox(label, CHOICES[name], key=k, help=tip)
    elif isinstance(default, bool):
        where.checkbox(label, key=k, help=tip)
    elif isinstance(default, int):
        where.number_input(label, step=1, key=k, help=tip)
    elif isinstance(default, float):
        fmt, step = FLOAT_FORMAT.get(name, ("%.3f", 0.01))
        where.number_input(label, step=step, format=fmt, key=k, help=tip)
    elif isinstance(default, list):
        known = sorted({*estimate.ATTENTION_MODULES, *estimate.MLP_MODULES, *st.session_state[k]})
        where.multiselect(label, known, key=k, help=tip, accept_new_options=True)
    else:
        where.text_input(label, key=k, help=tip)


def _grid(names, columns: int | list[int] = 4) -> None:
    cols = st.columns(columns)
    for i, name in enumerate(names):
        field_widget(name, cols[i % len(cols)])


def pick_method() -> str:
    if key("method") not in st.session_state:
        st.session_state[key("method")] = "lora"
    method = st.radio(
        "Weights",
        METHODS,
        key=key("method"),
        horizontal=True,
        on_change=_apply_preset,
        format_func=METHOD_LABELS.get,
        help=HELP["method"],
    )
    _seed(method, [n for n in FIELDS if n not in OWN_PICKER])
    return method


def hyperparameters(method: str) -> None:
    """Common fields in view, the rest in an expander; the preset fills both."""
    _grid(COMMON, len(COMMON))
    dpo.render(HELP)
    if method != "full":
        _grid(ADAPTER, [1, 1, 1, 2])  # room for the module names
    placed = {*OWN_PICKER, *COMMON, *ADAPTER, *tracking.FIELDS, *dpo.FIELDS}
    placed |= {n for names in ADVANCED.values() for n in names}
    sections = {**ADVANCED, "Other": tuple(n for n in FIELDS if n not in placed)}
    with st.expander("Advanced: schedule, evaluation, early stopping, saving, QLoRA, files"):
        for title, names in sections.items():
            if names:
                st.markdown(f"**{title}**")
                _grid(names)
        tracking.settings(key)  # report_to, tracking_uri, run_name, and where the files go
        st.button("Reset every field to the guide's preset", key=key("reset"), on_click=_reset_all)


def pick_model() -> str:
    entries = {e.id: e for e in models.known_models()}
    choice = st.selectbox(
        "Model",
        [*entries, OTHER_MODEL],
        key=key("model_choice"),
        help=HELP["model"],
        format_func=lambda m: Path(m).name if m in entries else m,
    )
    if choice in entries:
        st.caption(entries[choice].note)
        return choice
    typed = st.text_input(
        "Hub id or local folder",
        key=key("model_path"),
        placeholder="HuggingFaceTB/SmolLM2-360M-Instruct or /path/to/model",
    )
    typed = typed.strip()
    if typed.count("/") == 1 and not Path(typed).is_dir() and models.hub_snapshot(typed) is None:
        st.caption(
            "Not on this machine: the worker downloads it from the Hugging Face hub when it starts "
            "(network needed); token counts below are approximate until then."
        )
    return typed


def profile_label(profile: str | None) -> str:
    if profile is None:
        return "none: one process"
    why = launch.profile_problems(profile)
    return f"{profile} (refused: {why[0]})" if why else profile


def pick_profile() -> str | None:
    profile = st.selectbox(
        "accelerate_profile",
        [None, *PROFILES],
        key=key("accelerate_profile"),
        format_func=profile_label,
        help=HELP["accelerate_profile"],
    )
    machines.render(profile)  # several machines: each one's command
    return profile


def collect(method: str, model: str, version_id: int | None, profile: str | None) -> TrainConfig:
    """The widgets' values as a TrainConfig (fields not on screen keep the preset's value)."""
    base, values = config.preset(method), {}
    for name in FIELDS:
        if name in OWN_PICKER:
            continue
        value = st.session_state.get(key(name), getattr(base, name))
        values[name] = (str(value or "").strip() or None) if name in OPTIONAL_TEXT else value
    return TrainConfig(**values, method=method, model=model, dataset_version=version_id, accelerate_profile=profile)


# ---- the dataset version ------------------------------------------------------------------------


def add_demo() -> None:
    """The shipped demo sample as a dataset with a seeded 80/10/10 split, chosen at once."""
    existing = next((d for d in versions.datasets() if d.name == "demo"), None)
    if existing is None:
        rows = [obj for _, obj in read_records(samples.sample_path("demo"))]
        base = versions.create("demo", rows, note="demo sample", source="data/samples/demo.jsonl")
    else:
        base = existing.latest
    rows = versions.examples(base)
    saved = versions.save(base, rows, "split 80/10/10 for training", split.split(rows))
    # Chosen at once: the picker reads the URL before this session's last choice.
    st.query_params["dataset"], st.query_params["version"] = str(saved.dataset_id), str(saved.id)


def pick_version() -> versions.Version | None:
    """A dataset version with a split (ui.pickers), or None after explaining how to make one."""
    kind = "preference" if dpo.pick_objective() == "dpo" else "chat"  # DPO trains on preference pairs
    version = pickers.pick_version(KEY.rstrip("_"), need="split", kind=kind)
    if version is None:
        st.button("Or start with the demo dataset (200 examples, split 80/10/10)", key=key("demo"), on_click=add_demo)
        return None
    if not version.splits.get("validation"):
        st.warning(
            "This version has no validation examples: no validation loss, so no early stopping and no "
            "best checkpoint. Make a split with a validation share on the Data page."
        )
    return version
