"""The Evaluate page's candidate choice: few-shot settings, the add-a-candidate form, generation settings.

The choice and any changed setting are kept in the URL (`?candidates=base&candidates=<run id>
&max_new_tokens=64`), so a refreshed page finds the same cached answers and running jobs; a
candidate that no longer exists (a deleted run) is named in a warning and left out.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import math

import streamlit as st

from core.config import help_of
from core.eval import pool
from core.eval.candidates import DEFAULT_KEY_ENV, Candidate
from core.eval.generate import GenParams
from ui.untrusted import inline, long_text

CHOSEN, URL_KEY = "eval_candidates", "candidates"
API, LOCAL = "OpenAI or OpenAI-compatible API", "Another local model (hub id or folder)"
HELP = help_of(GenParams)
FEWSHOT_HELP = (
    "Worked examples from the train split placed before each prompt: the guide's 'try few-shot first' baseline."
)
SEED_HELP = "Which train examples are drawn; the same seed draws the same ones."
D = GenParams()
# widget key -> (URL name, label, lowest, highest, default, help)
NUMBERS = {
    "eval_fewshot_k": ("k", "Few-shot examples (k)", 1, 16, 3, FEWSHOT_HELP),
    "eval_fewshot_seed": ("seed", "Few-shot seed", 0, 10_000, 0, SEED_HELP),
    "eval_max_new_tokens": ("max_new_tokens", "Max new tokens", 1, 4096, D.max_new_tokens, HELP["max_new_tokens"]),
    "eval_temperature": ("temperature", "Temperature", 0.0, 2.0, D.temperature, HELP["temperature"]),
    "eval_batch_size": ("batch_size", "Batch size", 1, 256, D.batch_size, HELP["batch_size"]),
}


def _start_numbers() -> None:
    """Each setting from the URL on a fresh page (clamped to its range), else its default."""
    for key, (name, _, low, high, default, _) in NUMBERS.items():
        if key in st.session_state:
            continue
        try:
            value = type(default)(st.query_params.get(name, default))
        except ValueError:
            value = default
        st.session_state[key] = min(max(value, low), high) if math.isfinite(value) else default


def fewshot_settings() -> tuple[int, int]:
    """k and seed as the widgets drawn later hold them: the candidate list depends on them."""
    _start_numbers()
    return int(st.session_state["eval_fewshot_k"]), int(st.session_state["eval_fewshot_seed"])


def _add() -> None:
    s = st.session_state
    try:
        if s.get("eval_add_kind", API) == API:
            cand = pool.api_candidate(
                s.get("eval_add_model", ""), s.get("eval_add_base_url", ""), s.get("eval_add_key_env", DEFAULT_KEY_ENV)
            )
        else:
            cand = pool.local_candidate(s.get("eval_add_path", ""))
    except ValueError as e:
        s["eval_add_error"] = f"Not added: {e}."
        return
    pool.add_custom(cand)
    s["eval_add_done"] = cand.label


def _api_fields() -> None:
    st.text_input("Model name", key="eval_add_model", placeholder="gpt-4o-mini or ft:gpt-4o-mini:…")
    st.text_input(
        "Base URL (optional)",
        key="eval_add_base_url",
        placeholder="http://localhost:8000/v1",
        help="Empty for OpenAI itself; any OpenAI-compatible server's /v1 address otherwise.",
    )
    env = st.text_input(
        "Environment variable holding the API key",
        DEFAULT_KEY_ENV,
        key="eval_add_key_env",
        help="Only the variable's name is stored; the key is read when a job starts.",
    )
    name = env.strip() or DEFAULT_KEY_ENV
    set_ = pool.key_is_set(name)
    st.caption(f":{'green' if set_ else 'orange'}[{name} is {'set' if set_ else 'not set'}] in the app's environment.")


def _added_list(added: list[Candidate]) -> None:
    for cand in added:
        c = st.columns([5, 1], vertical_alignment="center")
        c[0].markdown(inline(cand.label))
        c[1].button("Remove", key=f"eval_remove_{cand.key}", on_click=pool.remove_custom, args=(cand.key,))


def add_form() -> None:
    """An expander to add an API model or another local model as a candidate (kept in the workspace)."""
    with st.expander("Add a candidate: an OpenAI model, an OpenAI-compatible server, or another local model"):
        kind = st.radio("Kind", (API, LOCAL), key="eval_add_kind", horizontal=True)
        if kind == API:
            _api_fields()
        else:
            st.text_input("Hub id or local folder", key="eval_add_path", placeholder="/models/my-model")
        st.button("Add candidate", key="eval_add", on_click=_add, icon=":material/add:")
        if error := st.session_state.pop("eval_add_error", None):
            long_text(error, draw=st.error)
        if done := st.session_state.pop("eval_add_done", None):
            st.success(f"Added {done}.")
        _added_list(pool.custom())


def _gone(slot: str) -> None:
    what = f"Run {slot}" if "-train-" in slot else "A candidate chosen earlier"
    st.warning(f"{what} is no longer available (deleted, or it never saved a model), so it was left out.")


def _initial(slots: dict[str, Candidate]) -> None:
    """The choice from the URL on a fresh page, else kept from the last run; unknown slots are named."""
    if CHOSEN in st.session_state:
        wanted = st.session_state[CHOSEN]
    elif URL_KEY in st.query_params:
        wanted = st.query_params.get_all(URL_KEY)
    else:
        wanted = [s for s in ("base", pool.newest_run(slots)) if s in slots]
    for slot in wanted:
        if slot not in slots:
            _gone(slot)
    st.session_state[CHOSEN] = [s for s in wanted if s in slots]


def choose(slots: dict[str, Candidate]) -> list[str]:
    """The chosen slot ids (by default the base model and the newest run), kept in the URL."""
    _initial(slots)
    chosen = st.multiselect(
        "Candidates",
        list(slots),
        format_func=lambda s: slots[s].label,
        key=CHOSEN,
        placeholder="Choose the models to evaluate",
        help="The base model, few-shot prompting of it, every finished training run, and any candidate added below.",
    )
    st.query_params[URL_KEY] = chosen
    return chosen


def settings() -> GenParams:
    """Few-shot k and seed, then the generation settings, in one row; each kept in the URL when changed."""
    _start_numbers()
    values = {}
    for col, (key, (name, label, low, high, default, help_)) in zip(st.columns(5), NUMBERS.items(), strict=True):
        step = 0.1 if isinstance(default, float) else 1
        values[name] = col.number_input(label, low, high, step=step, key=key, help=help_)
        if values[name] == default:
            st.query_params.pop(name, None)
        else:
            st.query_params[name] = str(values[name])
    return GenParams(
        max_new_tokens=int(values["max_new_tokens"]),
        temperature=float(values["temperature"]),
        batch_size=int(values["batch_size"]),
    )
