"""The OpenAI backend under AppTest: the Train page's form and cost, Launch, and an OpenAI run on the Runs page.

Token counts are OpenAI's cookbook accounting on o200k_base, counted by hand on one-token words.
Launch starts the real worker against a closed port (it waits for the network), so nothing leaves
the machine; the Runs page reads run folders written by hand.
Run: `.venv/bin/pytest tests/app/test_train_openai.py -q`.
"""

from __future__ import annotations

import socket
import sys

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from core import jobs, providers
from core.data import versions
from core.jobs import rundir
from tests.app import harness
from tests.app.harness import FAKE
from tests.waiting import wait_for

TYPED_KEY = "sk-typed-in-the-browser-0123456789"
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture(autouse=True)
def no_server_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def hello_version() -> versions.Version:
    # Each example: 3 + "user" (1) + "hello" (1), 3 + "assistant" (1) + "hi" (1), + 3 for the reply
    # primer = 13 tokens in o200k_base.
    rows = [chat("hello", "hi")] * 10 + [chat("bye", "ok")]
    first = versions.create("hello", rows)
    return versions.save(first, rows, "split", {"train": list(range(10)), "validation": [10], "test": []})


def openai_form() -> AppTest:
    at = harness.start("train")
    return at.radio(key="train_backend").set_value("openai").run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def everything_shown(at: AppTest) -> str:
    """Every element's proto and value, the whole tree."""
    out = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        try:
            out.append(repr(node.value))
        except Exception:  # noqa: BLE001 - blocks and some elements have no value
            pass
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


# ---- the Train page ---------------------------------------------------------------------------------


def test_the_local_form_stays_the_default():
    hello_version()
    at = harness.start("train")
    assert at.radio(key="train_backend").value == "local"
    assert [b for b in at.button if b.key == "train_launch"] and not [
        b for b in at.button if b.key == "train_openai_launch"
    ]


def test_the_form_shows_the_cost_before_launch():
    hello_version()
    at = openai_form()
    assert not at.exception, at.exception
    m = metrics(at)
    # 10 examples: the default rule gives 100 // 10 = 10 epochs (10 x 3 = 30 passes is under 100);
    # billed = 10 epochs x 10 examples x 13 tokens = 1,300; at $3.00 per 1M: $0.0039.
    assert (m["Training examples"], m["Epochs"], m["Billed tokens"], m["Training cost"]) == (
        "10",
        "10",
        "1,300",
        "$0.0039",
    )
    assert any("as of 2026-10" in c.value and "OpenAI pricing page" in c.value for c in at.caption)
    assert "2027-01-06" in at.warning[0].value
    at.text_input(key="train_openai_n_epochs").input("2").run()
    # 2 epochs x 130 tokens = 260 billed; 260 x $3.00 / 1M = $0.00078, shown to two significant digits.
    assert (metrics(at)["Billed tokens"], metrics(at)["Training cost"]) == ("260", "$0.00078")
    at.selectbox(key="train_openai_model").set_value("gpt-4.1-nano-2025-04-14").run()
    # the same 260 tokens at gpt-4.1-nano's $1.50 per 1M: $0.00039
    assert metrics(at)["Training cost"] == "$0.00039"


def test_the_form_says_when_the_chosen_base_model_retires():
    hello_version()
    at = openai_form()
    captions = " ".join(c.value for c in at.caption)
    assert f"{MODEL} retires on 2027-01-14" in captions and "checked 2026-12-08" in captions
    at.selectbox(key="train_openai_model").set_value("gpt-4.1-nano-2025-04-14").run()
    assert "gpt-4.1-nano-2025-04-14 retires on 2026-10-23 (retired;" in " ".join(c.value for c in at.caption)
    assert any(e.proto.label == "Evaluate: Answers as training data" for e in at.get("page_link"))


def test_the_estimate_reads_the_dataset_once_per_version_model_and_epochs():
    version = hello_version()
    at = openai_form()
    assert metrics(at)["Billed tokens"] == "1,300"
    blob = versions._blob_dir() / f"{version.sha256}.jsonl"
    kept = blob.read_bytes()
    blob.write_text("not json\n")  # from here on, any read of the examples fails
    at.text_input(key="train_openai_suffix").input("faq").run()
    at.text_input(key="train_openai_api_key").input(TYPED_KEY).run()
    assert metrics(at)["Billed tokens"] == "1,300"  # reruns: no read, so no problem
    assert not at.error and not at.exception
    at.text_input(key="train_openai_n_epochs").input("2").run()
    assert "No cost estimate" in errors(at)  # new epochs: read again (and the file is broken)
    blob.write_bytes(kept)
    at.text_input(key="train_openai_n_epochs").input("3").run()
    assert metrics(at)["Billed tokens"] == "390"
    at.text_input(key="train_openai_n_epochs").input("2").run()
    assert metrics(at)["Billed tokens"] == "260"


def test_without_a_key_or_with_bad_values_launch_is_blocked():
    hello_version()
    at = openai_form()
    assert "no API key" in errors(at) and at.button(key="train_openai_launch").disabled
    at.text_input(key="train_openai_api_key").input(TYPED_KEY).run()
    assert not at.error and not at.button(key="train_openai_launch").disabled
    at.text_input(key="train_openai_batch_size").input("lots").run()
    at.text_input(key="train_openai_base_url").input("my-resource.openai.azure.com").run()
    assert "batch_size must be 'auto' or a whole number" in errors(at)
    assert "base_url must start with http" in errors(at)
    assert at.button(key="train_openai_launch").disabled


def test_launch_starts_an_openai_run_and_the_typed_key_is_never_shown_or_written():
    version = hello_version()
    at = openai_form()
    at.text_input(key="train_openai_api_key").input(TYPED_KEY).run()
    url = closed_port_url()  # the worker keeps retrying there until stopped
    at.text_input(key="train_openai_base_url").input(url).run()
    at.text_input(key="train_openai_suffix").input("hello").run()
    assert TYPED_KEY in everything_shown(at)  # the walk sees widget values: the password field has it
    at.button(key="train_openai_launch").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Runs"
    runs = jobs.list_runs("train")
    assert len(runs) == 1 and at.query_params["run"] == runs[0].id
    meta = runs[0].meta
    assert (meta["provider"], meta["method"], meta["model"], meta["base_url"], meta["dataset_version"]) == (
        "openai",
        "openai",
        MODEL,
        url,
        version.id,
    )
    assert TYPED_KEY not in everything_shown(at)
    at.run()  # again, once the worker has written to its folder
    assert TYPED_KEY not in everything_shown(at)
    jobs.stop(runs[0].id)
    assert wait_for(runs[0].id).state == "stopped"
    folder = rundir.run_dir(runs[0].id)
    assert [p.name for p in folder.rglob("*") if p.is_file() and TYPED_KEY.encode() in p.read_bytes()] == []


# ---- the Runs page ----------------------------------------------------------------------------------

OPENAI_META = {"method": "openai", "model": MODEL, "provider": "openai", "base_url": None}


def fake_run(*args: str) -> str:
    """A run with an OpenAI run's meta, driven by the fake worker."""
    return jobs.launch(
        "train", [sys.executable, FAKE, *args], "openai · hand-written", meta=OPENAI_META, config={"model": MODEL}
    )


def open_run(run_id: str) -> AppTest:
    return harness.start("runs", {"run": run_id})


def test_a_finished_openai_run_shows_model_tokens_cost_and_curves():
    run_id = fake_run("--steps", "0")
    wait_for(run_id)
    folder = rundir.run_dir(run_id)
    for step, loss, val, acc in ((10, 1.5, 1.6, 0.61), (20, 1.1, 1.3, 0.70), (30, 0.9, 1.2, 0.74)):
        rundir.append_metrics(
            folder,
            {
                "step": step,
                "loss": loss,
                "eval_loss": val,
                "train_mean_token_accuracy": acc,
                "valid_mean_token_accuracy": acc - 0.05,
            },
        )
    rundir.write_json(
        folder / "remote.json",
        {
            "provider": "openai",
            "job_id": "ftjob-abc",
            "status": "succeeded",
            "trained_tokens": 12_345,
            "estimate": {"training_usd": 0.036},
        },
    )
    rundir.write_json(
        folder / "summary.json",
        {
            "provider": "openai",
            "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme:hello:abc123",
            "trained_tokens": 12_345,
            "training_usd_per_1m": 3.0,
            "actual_usd": 12_345 * 3.0 / 1e6,
            "price_as_of": "2026-10",
            "price_source": "OpenAI pricing page",
        },
    )
    at = open_run(run_id)
    assert not at.exception, at.exception
    m = metrics(at)
    # 12,345 tokens x $3.00 / 1M = $0.037035, shown to two significant digits
    assert (m["Trained tokens"], m["Actual cost"], m["OpenAI status"]) == ("12,345", "$0.037", "succeeded")
    assert m["Best validation loss"] == "1.2000" and m["Estimated cost"] == "$0.036"
    actual = next(x for x in at.metric if x.label == "Actual cost")
    assert actual.proto.help.startswith("trained tokens x $3.00 per 1M (price as of 2026-10")  # was "$3.0"
    shown = " ".join(s.value for s in at.success)
    assert "ft:gpt-4o-mini-2024-07-18:acme:hello:abc123" in shown
    assert any("Evaluate and Arena" in c.value for c in at.caption)
    loss = convert_arrow_bytes_to_pandas_df(at.get("vega_lite_chart")[0].proto.datasets[0].data.data)
    assert (loss["series"] == "training loss").sum() == 3 and (loss["series"] == "validation loss").sum() == 3
    accuracy = convert_arrow_bytes_to_pandas_df(at.get("vega_lite_chart")[1].proto.datasets[0].data.data)
    assert sorted(accuracy["series"].unique()) == ["training", "validation"] and len(accuracy) == 6
    keys = {b.key for b in at.button}
    assert "runs_resume" not in keys and "runs_export_merge" not in keys and not at.tabs  # local-only parts
    assert at.dataframe[0].value["method"].tolist() == ["openai"]


def test_an_active_openai_run_offers_cancel_which_stops_it():
    run_id = fake_run("--steps", "3000", "--sleep", "0.05")
    wait_for(run_id, ("running",))
    at = open_run(run_id)
    cancel = at.button(key="runs_stop")
    assert cancel.label == "Cancel" and not cancel.disabled
    assert metrics(at)["OpenAI status"] == "not created yet"
    cancel.click().run()
    assert rundir.stop_requested(rundir.run_dir(run_id))
    assert wait_for(run_id).state == "stopped"
    at.run()
    assert any("Cancelled on request" in i.value for i in at.info)
    assert [b for b in at.button if b.key == "runs_stop"] == []


# ---- a second hosted provider is one new module -----------------------------------------------------

THROWAWAY = f'''
"""A throwaway hosted provider for the test: Acme trains with the fake worker."""
import sys
from dataclasses import dataclass, field

from core import jobs, providers

name, label, service, worker = "acme", "Acme (hosted)", "Acme", "acme_worker"


@dataclass
class AcmeJob:
    model: str = field(default="acme-small", metadata={{"help": "Acme's model"}})
    dataset_version: int | None = None
    epochs: int = 2


job_cls = AcmeJob


def owns(meta):
    return meta.get("provider") == name


def problems(job):
    ok = isinstance(job.epochs, int) and job.epochs > 0
    return [] if ok else [f"epochs must be a whole number, not {{job.epochs!r}}"]


def estimate(job):
    return {{"epochs": job.epochs, "training_usd": 0.5 * job.epochs}}


def launch(job, api_key, title=""):
    meta = {{"method": "acme", "model": job.model, "dataset_version": job.dataset_version, "provider": name}}
    argv = [sys.executable, {FAKE!r}, "--steps", "0"]
    return jobs.launch("train", argv, title or "acme run", meta=meta, config={{"epochs": job.epochs}})
'''


@pytest.fixture
def acme(tmp_path, monkeypatch):
    (tmp_path / "acme_provider.py").write_text(THROWAWAY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(providers.PROVIDERS, "acme", "acme_provider")
    yield providers.get("acme")
    sys.modules.pop("acme_provider", None)


def test_a_throwaway_provider_module_is_a_backend_and_its_runs_carry_its_labels(acme):
    assert isinstance(acme, providers.RemoteProvider)
    hello_version()
    at = harness.start("train")
    backend = at.radio(key="train_backend")
    assert backend.options == ["Local (full / LoRA / QLoRA)", "OpenAI (hosted)", "Acme (hosted)"]
    at = backend.set_value("acme").run()
    assert not at.exception, at.exception
    at.text_input(key="train_acme_epochs").input("zero").run()
    assert "epochs must be a whole number, not 'zero'" in " ".join(e.value for e in at.error)
    assert at.button(key="train_acme_launch").disabled
    at.text_input(key="train_acme_epochs").input("3")
    at.text_input(key="train_acme_api_key").input("acme-key").run()
    at.button(key="train_acme_launch").click().run()
    assert not at.exception, at.exception
    run_id = at.query_params["run"]
    assert rundir.read_spec(rundir.run_dir(run_id))["config"] == {"epochs": 3}
    wait_for(run_id)
    at = open_run(run_id)
    assert not at.exception, at.exception
    assert metrics(at)["Acme status"] == "not created yet" and "OpenAI status" not in metrics(at)
    assert any(c.value.startswith("Acme job `not created yet`") for c in at.caption)
    assert "runs_resume" not in {b.key for b in at.button}  # remote: no local resume
