"""The Train page's form for a hosted provider that has no form of its own: one field per job setting.

Every field of the provider's job dataclass but dataset_version is a text box keyed
`train_<provider>_<field>` with the field's help text, read as YAML ("3" is 3, "auto" stays text,
empty is the default). Then the provider's own problems and estimate, and Launch through its
launch(); the key is typed for this browser session and reaches the run through its environment.
A new provider module (core.providers) gets this form with no change here. OpenAI has its own
form (ui.train.openai_form). Test: `pytest tests/app/test_train_openai.py -k throwaway`.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import streamlit as st
import yaml

from core.config import help_of
from core.data import versions
from core.providers import RemoteProvider
from ui import RUNS_PAGE
from ui.untrusted import long_text


def _value(text: str, default):
    text = (text or "").strip()
    if not text:
        return default
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # the provider's problems() names it


def collect(provider: RemoteProvider, version_id: int):
    key, tips = f"train_{provider.name}_", help_of(provider.job_cls)
    values = {}
    for f in fields(provider.job_cls):
        if f.name == "dataset_version":
            continue
        default = None if f.default is MISSING else f.default
        shown = "" if default is None else str(default)
        typed = st.text_input(f.name, value=shown, key=key + f.name, help=tips[f.name])
        values[f.name] = _value(typed, default)
    return provider.job_cls(dataset_version=version_id, **values)


def render(provider: RemoteProvider, version: versions.Version) -> None:
    key = f"train_{provider.name}_"
    secret = st.text_input(f"{provider.service} API key", type="password", key=key + "api_key").strip()
    job = collect(provider, version.id)
    found = ([] if secret else [f"no API key: type one for {provider.service} above"]) + provider.problems(job)
    if found:
        st.error("Fix before launching:\n" + "\n".join(f"- {p}" for p in found))
    else:
        with st.expander("Estimate"):
            st.json(provider.estimate(job))
    if st.button(f"Launch on {provider.service}", type="primary", key=key + "launch", disabled=bool(found)):
        try:
            run_id = provider.launch(job, secret)
        except (ValueError, OSError) as e:
            long_text(f"Not launched: {e}", draw=st.error)
            return
        st.switch_page(RUNS_PAGE, query_params={"run": run_id})
