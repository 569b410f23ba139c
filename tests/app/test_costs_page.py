"""The Costs page under AppTest: upload, bad file, model and method changes, persisted price edits.

Run: `.venv/bin/pytest tests/app/test_costs_page.py -q`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import estimate, jobs, prices, tokens
from core.estimate import Assumptions
from core.jobs import rundir
from tests.app.harness import FAKE
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
GOOD = [
    {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
]


def jsonl(records: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def hand_tokens() -> int:
    # Cookbook framing: 3 per message + 3 for the reply primer, plus the text of each value.
    enc = tokens.encoding("o200k_base")
    return sum(3 + sum(3 + sum(tokens.count_text(v, enc) for v in m.values()) for m in r["messages"]) for r in GOOD)


def costs_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.switch_page("pages/costs.py")
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key="costs_openai_file").set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def openai_table(at: AppTest):
    return next(d.value for d in at.dataframe if "billed_tokens" in d.value.columns)


def test_upload_shows_billed_tokens_and_dollars():
    at = costs_page()
    assert at.title[0].value == "Costs: dollars, memory and time before you launch"
    upload(at, "train.jsonl", jsonl(GOOD))
    m = metrics(at)
    # 2 examples -> 2 x 3 = 6 < 100 -> min(25, 100 // 2) = 25 epochs
    assert (m["Examples"], m["Epochs"], m["Tokens per epoch"]) == ("2", "25", f"{hand_tokens():,}")
    row = openai_table(at).set_index("model").loc["gpt-4o-mini-2024-07-18"]
    assert row["billed_tokens"] == 25 * hand_tokens()
    assert row["training_usd"] == pytest.approx(25 * hand_tokens() * 3.00 / 1e6)  # $3.00 per 1M
    assert at.get("vega_lite_chart"), "the dollars chart is missing"


def test_bad_file_shows_the_line():
    at = costs_page()
    upload(at, "bad.jsonl", jsonl(GOOD[:1]) + b'{"prompt": "no messages"}\n')
    assert not at.exception
    assert any("line 2" in e.value and "messages" in e.value for e in at.error), [e.value for e in at.error]


def test_preset_and_method_change_the_total():
    at = costs_page()
    at.selectbox(key="costs_preset").set_value("SmolLM2-135M")
    at.radio(key="costs_method").set_value("full")
    at.run()
    assert not at.exception
    smol = estimate.PRESETS["SmolLM2-135M"]
    expected = estimate.memory_gb(smol, "full", 512, 4, Assumptions())["total"]
    assert metrics(at)["Total GPU memory, full"] == f"{expected:.1f} GB"
    assert metrics(at)["Parameters"] == "135M"
    at.checkbox(key="costs_checkpointing").check()
    at.run()
    lower = estimate.memory_gb(smol, "full", 512, 4, Assumptions(gradient_checkpointing=True))["total"]
    assert lower < expected and metrics(at)["Total GPU memory, full"] == f"{lower:.1f} GB"


def test_by_hand_and_config_sources():
    at = costs_page()
    at.radio(key="costs_model_source").set_value("By hand")
    at.run()
    at.text_input(key="costs_params").set_value("7B")
    at.run()
    assert any("Mistral-7B" in c.value for c in at.caption)
    at.text_input(key="costs_params").set_value("lots")
    at.run()
    assert not at.exception and any("not a parameter count" in e.value for e in at.error)
    at.radio(key="costs_model_source").set_value("config.json")
    at.run()
    at.text_input(key="costs_config_path").set_value("/no/such/config.json")
    at.run()
    assert not at.exception and any("/no/such/config.json" in e.value for e in at.error)


def test_price_edit_persists_and_resets():
    at = costs_page()
    at.session_state["costs_openai_prices"] = {
        "edited_rows": {0: {"training": 4.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert prices.table("openai")[0]["training"] == 4.0 and prices.is_customised("openai")
    fresh = costs_page()  # a new session reads the saved table
    upload(fresh, "train.jsonl", jsonl(GOOD))
    row = openai_table(fresh).set_index("model").loc["gpt-4o-mini-2024-07-18"]
    assert row["training_usd"] == pytest.approx(25 * hand_tokens() * 4.0 / 1e6)
    fresh.button(key="costs_openai_reset").click()
    fresh.run()
    assert not prices.is_customised("openai") and prices.table("openai")[0]["training"] == 3.00


def test_gpu_price_edit_persists_and_bad_cell_is_not_saved():
    at = costs_page()
    at.session_state["costs_gpu_prices"] = {
        "edited_rows": {0: {"usd_per_hour": 0.25}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert prices.table("gpu")[0]["usd_per_hour"] == 0.25
    at.session_state["costs_gpu_prices"] = {
        "edited_rows": {0: {"usd_per_hour": -1.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert any("usd_per_hour" in w.value for w in at.warning)
    assert prices.table("gpu")[0]["usd_per_hour"] == 0.25


def measured_run(method: str, estimate: dict, summary: dict) -> str:
    """A finished training job (the fake worker) whose launch kept `estimate` and whose summary measured."""
    meta = {"method": method, "model": "smollm2-135m-instruct", "estimate": estimate}
    run_id = jobs.launch("train", [sys.executable, FAKE, "--steps", "0"], "measured", meta=meta)
    wait_for(run_id)
    rundir.write_json(rundir.run_dir(run_id) / rundir.SUMMARY, summary)
    return run_id


def test_the_estimators_error_on_past_runs_is_charted():
    lora = measured_run("lora", {"memory_gb": 2.0, "time_s": 60.0}, {"peak_memory_gb": 1.0, "train_seconds": 30.0})
    full = measured_run("full", {"memory_gb": 1.0, "time_s": 10.0}, {"peak_memory_gb": 4.0, "train_seconds": 40.0})
    measured_run("lora", {"error": "no estimate: no model"}, {"peak_memory_gb": 1.0})  # nothing to compare
    at = costs_page()
    table = next(d.value for d in at.dataframe if "memory_ratio" in d.value.columns).set_index("run")
    assert sorted(table.index) == sorted([full, lora])  # the run without an estimate left out (same second: any order)
    assert table.loc[lora, ["memory_ratio", "time_ratio"]].tolist() == [2.0, 2.0]
    assert table.loc[full, ["memory_ratio", "time_ratio"]].tolist() == [0.25, 0.25]
    chart = next(c for c in at.get("vega_lite_chart") if "estimate / measured" in c.proto.spec)
    points = [d for d in json.loads(chart.proto.spec)["layer"][0]["data"]["values"]]
    assert sorted((p["method"], p["measure"], p["ratio"]) for p in points) == [
        ("full", "peak memory", 0.25),
        ("full", "training time", 0.25),
        ("lora", "peak memory", 2.0),
        ("lora", "training time", 2.0),
    ]
