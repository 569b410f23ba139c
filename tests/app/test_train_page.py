"""The Train page under AppTest: dataset versions, presets, the pre-flight, problems, Launch.

A tiny model folder with a word-level tokenizer and a plain chat template makes token counts
countable by hand. Launch runs the fake worker (core.train.launch.command patched).
Run: `.venv/bin/pytest tests/app/test_train_page.py -q`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import jobs, models, templates
from core.data import versions
from core.jobs import rundir
from core.train import calibrate, config, device, launch, preflight
from tests.app import harness
from tests.app.harness import FAKE
from tests.shapes import OPENAI_TOOL_CALLING
from tests.waiting import wait_for
from ui.train import dpo, form, preflight_view


def chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


# Template below: "<s> ROLE CONTENT </s> " per message, split on spaces: 3 tokens + the words.
TRAIN = [
    chat("one two three", "four five"),  # (3 + 3) + (3 + 2) = 11 tokens
    chat("hello", "hi"),  # (3 + 1) + (3 + 1) = 8
    chat(" ".join(["w"] * 20), " ".join(["x"] * 10)),  # (3 + 20) + (3 + 10) = 36
]
VALIDATION = [chat("valid", "ation")]


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()  # the device probe and token counts are cached per process


@pytest.fixture
def model_dir(tmp_path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path / "toy-model"
    folder.mkdir()
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
    )
    shape = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 100,
        "tie_word_embeddings": True,
        "model_type": "llama",
    }
    (folder / "config.json").write_text(json.dumps(shape))
    return folder


def split_version(name: str = "toy") -> versions.Version:
    rows = TRAIN + VALIDATION
    first = versions.create(name, rows)
    return versions.save(first, rows, "split", {"train": [0, 1, 2], "validation": [3], "test": []})


def app() -> AppTest:
    return harness.start("train")


def use_model(at: AppTest, folder: Path) -> AppTest:
    at.selectbox(key="train_model_choice").set_value(form.OTHER_MODEL).run()
    return at.text_input(key="train_model_path").input(str(folder)).run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_without_a_split_the_page_explains_and_links_to_the_data_page():
    versions.create("unsplit", TRAIN)
    at = app()
    assert not at.exception
    assert "unsplit" in at.info[0].value and "Split & export" in at.info[0].value
    assert not [b for b in at.button if b.key == "train_launch"]


def test_a_split_without_validation_examples_is_offered_with_a_warning():
    first = versions.create("no-validation", TRAIN)
    version = versions.save(first, TRAIN, "split", {"train": [0, 1, 2], "validation": [], "test": []})
    at = app()
    assert at.selectbox(key="train_version").value == version.id
    assert "no validation examples" in " ".join(w.value for w in at.warning)


def test_the_demo_button_makes_a_split_version_and_shows_the_preflight():
    at = app()
    at.button(key="train_demo").click().run()
    assert not at.exception
    demo = next(d for d in versions.datasets() if d.name == "demo")
    n = {k: len(v) for k, v in demo.latest.splits.items()}
    assert n == {"train": 160, "validation": 20, "test": 20}  # 200 examples split 80/10/10
    assert metrics(at)["Train examples"] == "160"


def test_preflight_counts_tokens_with_the_models_tokenizer(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    assert not at.exception, at.exception
    m = metrics(at)
    assert m["Train examples"] == "3"
    assert m["Tokens per epoch"] == "55"  # 11 + 8 + 36, none over max_length 1024
    assert m["Truncated examples"] == "0"
    # 3 examples, batch 4 x accumulation 4 -> 1 step per epoch; the preset's 3 epochs -> 3 steps
    assert m["Optimizer steps"] == "3"
    assert m["Memory estimate"].endswith("GB")
    assert any("Memory: fits" in s.value for s in at.success)
    assert len(at.get("vega_lite_chart")) == 2  # tokens per example, memory by term

    at.number_input(key="train_max_length").set_value(16).run()
    m = metrics(at)
    assert m["Tokens per epoch"] == "35"  # 11 + 8 + min(36, 16)
    assert m["Truncated examples"] == "1"
    assert any("1 of 3 training examples are longer than max_length=16" in w.value for w in at.warning)


def test_changing_the_method_loads_the_guides_preset(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    assert at.number_input(key="train_learning_rate").value == 2e-4
    at.radio(key="train_method").set_value("full").run()
    assert at.number_input(key="train_learning_rate").value == 2e-5
    assert at.number_input(key="train_warmup_steps").value == 100
    assert at.number_input(key="train_weight_decay").value == 0.01
    assert not [w for w in at.number_input if w.key == "train_lora_r"]  # no adapters in full fine-tuning
    at.radio(key="train_method").set_value("qlora").run()
    assert at.checkbox(key="train_load_in_4bit").value is True
    assert at.number_input(key="train_learning_rate").value == 2e-4


def test_every_field_has_a_widget_with_its_help(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    widgets = {
        w.key: w
        for kind in ("number_input", "checkbox", "selectbox", "multiselect", "text_input")
        for w in getattr(at, kind)
    }
    for f in form.FIELDS.values():
        if f.name in ("model", "method", "dataset_version", *dpo.FIELDS):
            continue  # drawn by the model, method and version pickers; DPO's with Preference (DPO), below
        w = widgets[form.key(f.name)]
        assert w.help == f.metadata["help"], f.name


def test_problems_block_launch(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    assert not at.error and at.button(key="train_launch").disabled is False
    at.number_input(key="train_learning_rate").set_value(0.0).run()
    assert "learning_rate must be above 0" in errors(at)
    assert at.button(key="train_launch").disabled is True
    at.number_input(key="train_learning_rate").set_value(2e-4)
    at.text_input(key="train_model_path").input(str(model_dir / "missing")).run()
    assert "model folder not found" in errors(at)


def test_a_model_too_big_for_the_device_is_refused_unless_forced(model_dir, monkeypatch):
    split_version()
    tiny = device.Device("cpu", "a very small machine", memory_gb=0.001, available_gb=0.001, flops=1e9)
    monkeypatch.setattr(device, "detect", lambda gpu_rows: tiny)
    at = use_model(app(), model_dir)
    assert "Memory: too big" in errors(at)
    assert at.button(key="train_launch").disabled is True
    at.checkbox(key="train_force").check().run()
    assert at.button(key="train_launch").disabled is False


def test_the_command_and_config_are_shown(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    code = " ".join(c.value for c in at.code)
    assert "-m core.train --config RUN_DIR/spec.yaml" in code
    assert f"model: {model_dir}" in code  # the YAML of the config


def test_launch_starts_a_run_and_opens_it_on_the_runs_page(model_dir, monkeypatch):
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, FAKE, "--steps", "3"])
    version = split_version()
    at = use_model(app(), model_dir)
    at.text_input(key="train_title").input("toy run").run()
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    runs = jobs.list_runs("train")
    assert len(runs) == 1 and runs[0].title == "toy run"
    assert at.query_params["run"] == runs[0].id
    assert at.title[0].value == "Runs"
    spec = rundir.read_spec(rundir.run_dir(runs[0].id))
    cfg = config.from_dict(spec["config"])
    assert (cfg.model, cfg.dataset_version, cfg.method) == (str(model_dir), version.id, "lora")
    deadline = time.time() + 30
    while jobs.status(runs[0].id).active and time.time() < deadline:
        time.sleep(0.05)
    assert jobs.status(runs[0].id).state == "succeeded"


def test_device_and_preflight_helpers():
    smi = "NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n"
    assert device.parse_nvidia_smi(smi) == [("NVIDIA H100 80GB HBM3", 81559 / 1024)] * 2
    rows = [{"gpu": "A100 80 GB", "bf16_tflops": 312.0}, {"gpu": "H100 80 GB", "bf16_tflops": 989.0}]
    gpu = device.detect(rows, smi_text=smi)
    assert (gpu.kind, gpu.count, gpu.flops) == ("gpu", 2, 989e12)
    mem = device.parse_meminfo("MemTotal:       2097152 kB\nMemFree: 1 kB\nMemAvailable:   1048576 kB\n")
    assert mem == {"MemTotal": 2.0, "MemAvailable": 1.0}  # kB -> GB of 2**30 bytes
    cfg = config.preset("lora", per_device_train_batch_size=2, gradient_accumulation_steps=3, num_train_epochs=2.5)
    assert preflight.schedule(13, cfg, world=1) == (3, 8)  # ceil(13 / 6) = 3 per epoch; ceil(2.5 x 3) = 8
    assert preflight.schedule(13, cfg, world=2) == (2, 5)  # ceil(13 / 12) = 2; ceil(2.5 x 2) = 5
    assert preflight.model_shape("mistralai/Mistral-7B-Instruct-v0.3", None)[0].total_params == 7e9


def test_an_empty_train_split_is_refused():
    rows = TRAIN + VALIDATION
    first = versions.create("no-train", rows)
    versions.save(first, rows, "validation only", {"train": [], "validation": [3], "test": []})
    at = app()
    assert "train split of this version is empty" in errors(at)
    assert at.button(key="train_launch").disabled is True


def test_a_hub_id_not_on_this_machine_is_estimated_from_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing downloaded
    split_version()
    at = use_model(app(), "someorg/Some-Model-7B-Instruct")
    notes = " ".join(c.value for c in at.caption)
    assert "Not on this machine" in notes
    assert "approximate: o200k_base" in notes  # no tokenizer.json to count with
    assert "7B parameters read from the name" in notes
    assert float(metrics(at)["Memory estimate"].split()[0]) > 10  # 7e9 LoRA weights in bf16 alone are 13 GB


def test_tool_calls_on_a_template_that_drops_them_are_refused_with_the_tool_template_offered(tiny_model_dir):
    rows = [OPENAI_TOOL_CALLING, chat("hello", "hi"), OPENAI_TOOL_CALLING, chat("valid", "ation")]
    first = versions.create("tools", rows)
    versions.save(first, rows, "split", {"train": [0, 1, 2], "validation": [3], "test": []})
    at = use_model(app(), tiny_model_dir)  # SmolLM2's own template: no place for tools
    assert "train example 1: the model's chat template drops" in errors(at)
    assert at.button(key="train_launch").disabled is True
    at.button(key="train_use_tools").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_chat_template").value == "tools"
    assert "chat template" not in errors(at) and at.button(key="train_launch").disabled is False
    assert "chat_template: tools" in " ".join(c.value for c in at.code)  # the run's YAML
    # The pre-flight counts tokens as the run renders them: the tool template, tools and calls included.
    tok = models.load_tokenizer(tiny_model_dir)
    templates.apply(tok, "tools")
    exact = sum(
        len(
            tok.apply_chat_template(*templates.template_inputs(r["messages"], templates.tools_of(r)), tokenize=True)[
                "input_ids"
            ]
        )
        for r in rows[:3]
    )
    assert metrics(at)["Tokens per epoch"] == f"{exact:,}"


def example_markdown(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "im" in m.value and "background[" in m.value)


def test_the_rendered_example_shows_its_learned_tokens_and_that_every_turn_learns_to_stop(tiny_model_dir):
    split_version()
    at = use_model(app(), tiny_model_dir)
    assert not at.exception, at.exception
    shown = example_markdown(at)
    # SmolLM2's template: the answer and its <|im_end|> are learned, drawn literally (special tokens escaped).
    assert preflight_view.LEARNED.format("four five\\<\\|im\\_end\\|\\>") in shown
    assert "\\<\\|im\\_start\\|\\>user\\\n" in shown and "green-background[one" not in shown
    assert any("ends with a learned" in s.value and "learns to stop" in s.value for s in at.success)

    at.checkbox(key="train_assistant_only_loss").uncheck().run()  # every token learned, the prompt too
    assert example_markdown(at).startswith(preflight_view.LEARNED.format("\\<\\|im\\_start\\|\\>system") + "\\\n")


def test_a_template_that_does_not_end_assistant_turns_with_the_eos_token_is_warned_before_launch(
    tiny_model_dir, tmp_path
):
    folder = tmp_path / "no-stop"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    (folder / "chat_template.jinja").write_text(  # ends every turn with a newline, none with <|im_end|>
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}"
    )
    split_version()
    at = use_model(app(), folder)
    warned = " ".join(w.value for w in at.warning)
    assert "message 2 does not learn the end" in warned and "the model will not learn to stop" in warned
    assert "im\\_end" in warned  # the token named, escaped for markdown


def test_the_rendered_example_is_the_tool_calling_one_and_follows_the_chosen_template(tiny_model_dir):
    rows = [chat("hello", "hi"), OPENAI_TOOL_CALLING, chat("valid", "ation")]
    first = versions.create("tools", rows)
    versions.save(first, rows, "split", {"train": [0, 1], "validation": [2], "test": []})
    at = use_model(app(), tiny_model_dir)  # SmolLM2's own template drops the tools: the example says so too
    assert any("train example 2: the chat template drops" in w.value for w in at.warning)
    at.button(key="train_use_tools").click().run()
    shown = example_markdown(at)
    assert preflight_view.LEARNED.format("\\<tool\\_call\\>") in shown and "get\\_current\\_weather" in shown
    assert any("Every assistant turn (2) ends with a learned" in s.value for s in at.success)


def test_preflight_says_where_the_time_comes_from_and_the_utilisation_is_editable(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    captions = " ".join(c.value for c in at.caption)
    assert "Time: estimate from FLOPs at 35% utilisation, editable." in captions
    at.number_input(key="train_preflight_mfu").set_value(0.7).run()
    assert not at.exception, at.exception
    assert "Time: estimate from FLOPs at 70% utilisation, editable." in " ".join(c.value for c in at.caption)
    shown = next(d.value for d in at.dataframe if "assumption" in d.value.columns).set_index("assumption")
    assert shown.loc["mfu", "value"] == "0.7" and shown.loc["lora_r", "value"] == "16"
    # Next to the memory: each term with what it assumes, as the recipe runs this config on this CPU.
    terms = next(d.value for d in at.dataframe if "assumes" in d.value.columns).set_index("term")
    native = calibrate.cpu_has_bf16()  # without it the recipe trains in fp32, no autocast
    weights = "frozen base at 2 bytes per weight, bf16 autocast" if native else "frozen base at 4 bytes per weight"
    assert terms.loc["weights", "assumes"] == weights
    assert (
        "formula" in terms.loc["activations", "assumes"] and "lora_dropout 0.05" in terms.loc["activations", "assumes"]
    )
    assert "attention math" in terms.loc["activations", "assumes"]  # short batches on a CPU: the recipe's kernel


def test_the_probe_button_starts_a_speed_probe_job_for_this_model_and_method(model_dir):
    split_version()
    at = use_model(app(), model_dir)
    at.button(key="train_probe").click().run()
    assert not at.exception, at.exception
    (probe,) = jobs.list_runs(kind="probe")
    assert (probe.meta["model"], probe.meta["method"]) == (str(model_dir), "lora")
    assert launch.run_config(probe.id).model == str(model_dir)
    ended = wait_for(probe.id, timeout=120)
    assert ended.state == "failed"  # the toy model has a tokenizer and a config but no weights
    at.run()
    assert f"The last speed probe ({probe.id}) failed" in " ".join(w.value for w in at.warning)


def test_the_preflight_says_after_which_run_a_launch_would_start_when_the_device_is_busy(monkeypatch):
    monkeypatch.setenv("FT_SLOTS", "1")
    busy = jobs.launch("train", [sys.executable, FAKE, "--steps", "3000", "--sleep", "0.05"], "the busy run")
    wait_for(busy, ("running",))
    at = app()
    at.button(key="train_demo").click().run()
    assert not at.exception
    assert any("starts after the busy run" in i.value for i in at.info)
    jobs.stop(busy)
    assert wait_for(busy).state == "stopped"
    at.run()
    assert not any("starts after" in i.value for i in at.info)


# ---- Preference (DPO) ---------------------------------------------------------------------------------------


def preference_version() -> versions.Version:
    from tests.shapes import dpo_pair

    pairs = [dpo_pair("one two", "three", "four five six"), dpo_pair("hello", "hi", "go away now")] * 2
    first = versions.create("prefs", pairs, kind="preference")
    return versions.save(first, pairs, "split", {"train": [0, 1, 2], "validation": [3], "test": []})


def test_dpo_offers_preference_versions_counts_both_answers_and_launches_a_dpo_run(model_dir, monkeypatch):
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, FAKE, "--steps", "1"])
    split_version()  # a chat version: what Supervised (SFT) offers
    prefs = preference_version()
    at = use_model(app(), model_dir)
    assert at.radio(key="train_objective").value == "sft" and not [n for n in at.number_input if n.key == "train_beta"]
    at.radio(key="train_objective").set_value("dpo").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_version").value == prefs.id  # only preference datasets are offered
    for name in dpo.FIELDS[1:]:  # every DPO field has its widget, with the field's help
        found = [w for kind in ("number_input", "selectbox") for w in getattr(at, kind) if w.key == form.key(name)]
        assert found and found[0].help.startswith(form.HELP[name]), name
    at.number_input(key="train_beta").set_value(0.25).run()
    at.selectbox(key="train_loss_type").set_value("ipo").run()
    assert at.selectbox(key="train_init_from_run").options == ["the base model"]  # no finished SFT run yet
    # Both answers of the 3 train pairs go through the model: 6 sequences, (9 + 11) + (8 + 10) + (9 + 11) tokens
    # under the toy template; the steps count pairs (3 per epoch in one step of 16, 3 epochs).
    m = metrics(at)
    assert (m["Train examples"], m["Tokens per epoch"], m["Optimizer steps"]) == ("6", "58", "3")
    assert "chat examples" not in errors(at) and at.button(key="train_launch").disabled is False
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    (run,) = jobs.list_runs("train")
    cfg = launch.run_config(run.id)
    assert (cfg.objective, cfg.beta, cfg.loss_type, cfg.dataset_version) == ("dpo", 0.25, "ipo", prefs.id)
