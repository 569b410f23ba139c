"""The Train page's OpenAI (hosted) backend: key, base URL, model with its dated price, hyperparameters,
the pre-flight cost, the base model's retirement (core.retirements), Launch.

Widgets (keys `train_openai_<field>`) -> an OpenAIJob -> the provider's problems and estimate ->
Launch (its launch, a detached job) -> the Runs page on the new run. The provider is openai_ft,
handed over by the Train page from core.providers' registry; what only OpenAI has (the wind-down
notice, typed "auto", the default base URL) is read from openai_ft itself. The key
comes from OPENAI_API_KEY or st.secrets; otherwise it is typed, kept in this browser session only
(st.session_state), and reaches the run through its environment, never a file.
Test: `pytest tests/app/test_train_openai.py`.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict

import streamlit as st
import yaml

from core import paths, prices, retirements
from core.config import help_of
from core.data import versions
from core.jsonl import JsonlError
from core.money import usd
from core.openai_spec import HYPERPARAMETERS
from core.providers import RemoteProvider, openai_ft
from core.providers.openai_ft import OpenAIJob
from ui import EVALUATE_PAGE, RUNS_PAGE
from ui.untrusted import long_text

KEY = "train_openai_"
SESSION_KEY = "openai_api_key"  # the typed key, for this browser session only (survives page switches)
ENV = "OPENAI_API_KEY"
HYPER = tuple(HYPERPARAMETERS)
HELP = help_of(OpenAIJob)


def key(name: str) -> str:
    return KEY + name


def server_key() -> tuple[str, str] | None:
    """(key, where it came from) when the server has one: the environment, then st.secrets."""
    if os.environ.get(ENV, "").strip():
        return os.environ[ENV].strip(), f"the {ENV} environment variable"
    try:
        value = st.secrets.get(ENV)
    except FileNotFoundError:  # no secrets.toml (Streamlit's error is a FileNotFoundError)
        value = None
    return (str(value).strip(), "Streamlit secrets (secrets.toml)") if value else None


def _keep_key() -> None:
    st.session_state[SESSION_KEY] = (st.session_state.get(key("api_key")) or "").strip()


def api_key() -> str:
    found = server_key()
    if found:
        st.caption(f"API key: from {found[1]}.")
        return found[0]
    if key("api_key") not in st.session_state and st.session_state.get(SESSION_KEY):
        st.session_state[key("api_key")] = st.session_state[SESSION_KEY]  # back from another page
    typed = st.text_input(
        "OpenAI API key",
        type="password",
        key=key("api_key"),
        on_change=_keep_key,
        help="For this browser session only: kept in memory, never written to disk; the run "
        f"gets it through its environment. Or set {ENV}, or put it in .streamlit/secrets.toml.",
    )
    return (typed or "").strip()


def _seed(text: str) -> int | str | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text  # problems() names it


def collect(version_id: int) -> OpenAIJob:
    """The widgets as an OpenAIJob (the key is not part of it)."""
    rows = {r["model"]: r for r in prices.table("openai")}

    def price(m: str) -> str:
        return f"{m} · {usd(float(rows[m]['training']))} / 1M training tokens (as of {rows[m]['as_of']})"

    c = st.columns([3, 2])
    model = c[0].selectbox("Model", list(rows), key=key("model"), format_func=price, help=HELP["model"])
    base_url = c[1].text_input(
        "Base URL (optional)", key=key("base_url"), help=HELP["base_url"], placeholder=openai_ft.DEFAULT_BASE_URL
    )
    c = st.columns(5)
    hyper = {name: c[i].text_input(name, value="auto", key=key(name), help=HELP[name]) for i, name in enumerate(HYPER)}
    suffix = c[3].text_input("suffix", key=key("suffix"), help=HELP["suffix"], max_chars=64)
    seed = c[4].text_input("seed", key=key("seed"), help=HELP["seed"], placeholder="OpenAI picks")
    return OpenAIJob(
        model=model,
        dataset_version=version_id,
        suffix=suffix.strip() or None,
        seed=_seed(seed),
        base_url=base_url.strip() or None,
        **{n: openai_ft.auto_or_number(v) for n, v in hyper.items()},
    )


# Only these change the estimate (a version is immutable; ids are per workspace); the price row is in the key so
# an edit on the Costs page shows at once.
@st.cache_data(max_entries=32, show_spinner="Counting tokens...")
def _estimate(home: str, version_id, model: str, n_epochs, price: str, _job: OpenAIJob, _provider) -> dict:
    return _provider.estimate(_job)


def show_estimate(provider: RemoteProvider, job: OpenAIJob) -> dict | None:
    """Tokens, epochs and dollars before Launch, with the price's date and source."""
    try:
        price = json.dumps(openai_ft.price_row(job.model), sort_keys=True, default=str)
        est = _estimate(str(paths.home()), job.dataset_version, job.model, job.n_epochs, price, job, provider)
    except (JsonlError, ValueError, KeyError, TypeError) as e:
        long_text(f"No cost estimate: {e}", draw=st.error)
        return None
    c = st.columns(4)
    c[0].metric(
        "Training examples",
        f"{est['examples']:,}",
        help=f"plus {est['validation_examples']} validation examples",
    )
    c[1].metric("Epochs", est["epochs"], help=est["epochs_rule"])
    c[2].metric(
        "Billed tokens",
        f"{est['billed_tokens']:,}",
        help=f"{est['tokens']:,} tokens in the train split x {est['epochs']} epochs (OpenAI's counting)",
    )
    c[3].metric("Training cost", usd(est["training_usd"]), help="Billed tokens x the training price per token")
    if est["usd_per_1m"] is not None:
        st.caption(
            f"At {usd(est['usd_per_1m'])} per 1M training tokens for {job.model}, as of {est['price_as_of']} "
            f"({est['price_source']}); edit prices on the Costs page. The guide's older figure for "
            "gpt-4o-mini, $0.003 per 1K, is the same $3.00 per 1M."
        )
    else:
        st.caption(f"No dollars: {est['price_source']}.")
    if est["over_limit"]:
        st.warning(
            f"{est['over_limit']} example(s) exceed the model's per-example token limit; OpenAI truncates them."
        )
    return est


def show_retirement(model: str) -> None:
    """How long a model tuned from this base will answer, and the way to keep what it learned."""
    st.caption(
        f"A model tuned from it answers until its base model retires: "
        f"{retirements.lookup(model, datetime.date.today())['words']}. To keep what a fine-tune learned, save its "
        "answers as a dataset and train an open model on them:"
    )
    st.page_link(EVALUATE_PAGE, label="Evaluate: Answers as training data", icon=":material/save:")


def _launch(provider: RemoteProvider, job: OpenAIJob, secret: str, title: str) -> None:
    try:
        run_id = provider.launch(job, secret, title)
    except (ValueError, OSError) as e:
        long_text(f"Not launched: {e}", draw=st.error)
        return
    st.switch_page(RUNS_PAGE, query_params={"run": run_id})


def render(provider: RemoteProvider, version: versions.Version) -> None:
    """The whole OpenAI form under the dataset picker (provider: openai_ft, from the registry)."""
    st.warning(openai_ft.WIND_DOWN, icon=":material/schedule:")
    secret = api_key()
    job = collect(version.id)
    show_retirement(job.model)
    show_estimate(provider, job)
    found = ([] if secret else [f"no API key: type one above, or set {ENV}"]) + provider.problems(job)
    if found:
        st.error("Fix before launching:\n" + "\n".join(f"- {p}" for p in found))
    with st.expander("The job (YAML; the key is never part of it)"):
        st.code(yaml.safe_dump(asdict(job), sort_keys=False), language="yaml")
        st.caption(f"The worker runs as `python -m {provider.worker} RUN_DIR` with {ENV} set.")
    title = st.text_input("Run title (optional)", key=key("title"), placeholder="openai · model · version")
    if st.button(
        "Launch on OpenAI", type="primary", key=key("launch"), disabled=bool(found), icon=":material/rocket_launch:"
    ):
        _launch(provider, job, secret, title.strip())
