"""Training on tool calls: the shipped tool template, what survives a render, the loss masks, the launch
check, and a tiny-model run on a tool-calling file.

Run: .venv/bin/pytest tests/unit/test_train_tools.py -q
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import pytest

from core import models, templates
from core.jobs import rundir
from core.jobs.supervisor import EXIT_BAD_CONFIG
from core.paths import REPO_ROOT
from core.train import launch, recipe, tokenize
from core.train.config import preset, to_yaml
from tests.shapes import OPENAI_PARALLEL_TOOL_CALLS, OPENAI_TOOL_CALLING, WEATHER_TOOL, write_jsonl
from tests.unit.test_train_data import CHAT, labelled_runs

CALL = '{"name": "get_current_weather", "arguments": {"location": "San Francisco, USA", "format": "celsius"}}'
RESULT = '{"temperature": 18, "sky": "fog"}'
ANSWER = "It is 18 degrees Celsius and foggy in San Francisco."
SMOLLM_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def own(tiny_model_dir):
    """SmolLM2's tokenizer with its own chat template (the tiny model's), which has no place for tools."""
    return models.load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    """The same tokenizer given the shipped tool template, as the recipe gives it for chat_template "tools"."""
    loaded = models.load_tokenizer(tiny_model_dir)
    templates.apply(loaded, templates.TOOLS)
    return loaded


def render(tok, example: dict, generation_prompt: bool = False, upto: int | None = None) -> str:
    msgs, tools = templates.template_inputs(example["messages"][:upto], templates.tools_of(example))
    return tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=generation_prompt)


def test_the_tool_template_renders_tools_calls_and_results_in_the_hermes_form(tok):
    text = render(tok, OPENAI_TOOL_CALLING)
    system, conversation = text.split("<|im_end|>\n", 1)
    assert system.startswith(SMOLLM_SYSTEM + "\n\n# Tools\n")
    assert "<tools>\n" + json.dumps(WEATHER_TOOL, ensure_ascii=False) + "\n</tools>" in system
    assert conversation == (
        "<|im_start|>user\nWhat is the weather in San Francisco?<|im_end|>\n"
        f"<|im_start|>assistant\n<tool_call>\n{CALL}\n</tool_call><|im_end|>\n"
        f"<|im_start|>user\n<tool_response>\n{RESULT}\n</tool_response><|im_end|>\n"
        f"<|im_start|>assistant\n{ANSWER}<|im_end|>\n"
    )
    msgs, tools = templates.template_inputs(OPENAI_TOOL_CALLING["messages"], OPENAI_TOOL_CALLING["tools"])
    assert templates.lost(text, msgs, tools) is None
    assert render(tok, OPENAI_TOOL_CALLING, True, upto=1).endswith("<|im_start|>assistant\n")


def test_without_tools_it_renders_exactly_as_smollm2s_own_template(own, tok):
    no_system = CHAT[1:]
    for chat in (CHAT, no_system, no_system[:1]):
        for prompt in (False, True):
            kwargs = {"tokenize": False, "add_generation_prompt": prompt}
            assert tok.apply_chat_template(chat, **kwargs) == own.apply_chat_template(chat, **kwargs)


def test_the_tool_template_is_prefix_stable(tok):
    # The masks rely on it: each shorter conversation's render starts the longer one's.
    for example in (OPENAI_TOOL_CALLING, OPENAI_PARALLEL_TOOL_CALLS):
        n = len(example["messages"])
        for i in range(1, n):
            longer = render(tok, example, upto=i + 1)
            assert longer.startswith(render(tok, example, upto=i))
            if example["messages"][i]["role"] == "assistant":
                assert longer.startswith(render(tok, example, True, upto=i))


def test_masks_learn_the_call_and_the_answer_but_not_the_tool_result(tok):
    ex = tokenize.tokenize_one(tok, OPENAI_TOOL_CALLING["messages"], True, OPENAI_TOOL_CALLING["tools"])
    assert labelled_runs(tok, ex) == [f"<tool_call>\n{CALL}\n</tool_call><|im_end|>", f"{ANSWER}<|im_end|>"]
    assert ex.input_ids == tok(render(tok, OPENAI_TOOL_CALLING), add_special_tokens=False)["input_ids"]


def test_parallel_calls_with_content_are_learned_together_and_results_are_not(tok):
    ex = tokenize.tokenize_one(tok, OPENAI_PARALLEL_TOOL_CALLS["messages"], True, OPENAI_PARALLEL_TOOL_CALLS["tools"])
    first, second = (
        json.loads(c["function"]["arguments"]) for c in OPENAI_PARALLEL_TOOL_CALLS["messages"][2]["tool_calls"]
    )
    calls = "\n".join(
        f'<tool_call>\n{{"name": "get_current_weather", "arguments": {json.dumps(a)}}}\n</tool_call>'
        for a in (first, second)
    )
    assert labelled_runs(tok, ex) == [
        f"Checking both.\n{calls}<|im_end|>",
        "Paris: 21 C and sunny. Rome: 25 C and cloudy.<|im_end|>",
    ]


def test_a_call_with_weight_zero_is_shown_but_not_learned(tok):
    example = copy.deepcopy(OPENAI_TOOL_CALLING)
    example["messages"][1]["weight"] = 0
    ex = tokenize.tokenize_one(tok, example["messages"], True, example["tools"])
    assert labelled_runs(tok, ex) == [f"{ANSWER}<|im_end|>"]
    assert "<tool_call>" in tok.decode(ex.input_ids)


def test_the_legacy_functions_and_function_call_train_as_tool_calls(tok):
    legacy = {
        "functions": [WEATHER_TOOL["function"]],
        "messages": [
            {"role": "user", "content": "What is the weather in San Francisco?"},
            {
                "role": "assistant",
                "function_call": {
                    "name": "get_current_weather",
                    "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                },
            },
            {"role": "function", "name": "get_current_weather", "content": RESULT},
            {"role": "assistant", "content": ANSWER},
        ],
    }
    out = tokenize.tokenize(tok, [legacy], 512)
    assert labelled_runs(tok, out.examples[0]) == [
        f"<tool_call>\n{CALL}\n</tool_call><|im_end|>",
        f"{ANSWER}<|im_end|>",
    ]
    assert f"<tool_response>\n{RESULT}\n</tool_response>" in tok.decode(out.examples[0].input_ids)


def test_smollm2s_own_template_drops_the_call_and_the_error_offers_the_tool_template(own):
    with pytest.raises(tokenize.TrainDataError) as caught:
        tokenize.tokenize(own, [{"messages": CHAT}, OPENAI_TOOL_CALLING], 512, name="train example")
    said = str(caught.value)
    assert said.startswith("train example 2: ")
    assert "'get_current_weather'" in said and 'chat_template: "tools"' in said


def test_an_empty_assistant_turn_is_refused_not_learned_as_a_bare_end_token(tok):
    empty = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]
    with pytest.raises(tokenize.TrainDataError, match=r"example 1: message 2 \(assistant\) is empty"):
        tokenize.tokenize(tok, [{"messages": empty}], 128)
    none = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None}]
    with pytest.raises(tokenize.TrainDataError, match="is empty"):
        tokenize.tokenize_one(tok, none)
    # Not learned (weight 0), an empty turn is only context.
    shown = [*empty, {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Hello."}]
    shown[1] = {**shown[1], "weight": 0}
    assert labelled_runs(tok, tokenize.tokenize_one(tok, shown)) == ["Hello.<|im_end|>"]


def test_arguments_that_are_not_json_and_image_parts_name_the_message(tok):
    bad = copy.deepcopy(OPENAI_TOOL_CALLING)
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = '{"location": '
    with pytest.raises(tokenize.TrainDataError, match="example 1: message 2: the arguments .* not valid JSON"):
        tokenize.tokenize(tok, [bad], 512)
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}, CHAT[2]]
    with pytest.raises(tokenize.TrainDataError, match="message 1 \\(user\\) has a image_url part"):
        tokenize.tokenize(tok, [{"messages": parts}], 512)
    text_parts = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}, CHAT[2]]
    assert labelled_runs(tok, tokenize.tokenize_one(tok, text_parts)) == [f"{CHAT[2]['content']}<|im_end|>"]


# ---- before launch, and a run ---------------------------------------------------------------------


@pytest.fixture
def tool_file(tmp_path):
    plain = {"messages": CHAT}
    return write_jsonl(tmp_path / "tools.jsonl", [plain, OPENAI_TOOL_CALLING, OPENAI_PARALLEL_TOOL_CALLS, plain])


def test_launch_refuses_a_template_that_drops_tool_calls_and_offers_the_shipped_one(tiny_model_dir, tool_file):
    cfg = preset("lora", model=str(tiny_model_dir), train_file=str(tool_file))
    found = [p for p in launch.problems(cfg, machine=False) if "chat template" in p]
    assert len(found) == 1 and found[0].startswith("train example 2: the model's chat template drops the ")
    assert 'chat_template: "tools"' in found[0]
    with pytest.raises(ValueError, match="chat template drops"):
        launch.start(cfg)
    assert (
        launch.problems(
            preset("lora", model=str(tiny_model_dir), train_file=str(tool_file), chat_template="tools"), machine=False
        )
        == []
    )


def test_a_version_number_in_another_workspace_is_checked_afresh(tiny_model_dir, tmp_path, monkeypatch):
    from core.data import versions

    def split_version(rows):
        first = versions.create("data", rows)
        return versions.save(first, rows, "split", {"train": list(range(len(rows))), "validation": [], "test": []})

    tools = split_version([OPENAI_TOOL_CALLING, OPENAI_TOOL_CALLING])
    cfg = preset("lora", model=str(tiny_model_dir), dataset_version=tools.id)
    assert any("chat template drops" in p for p in launch.problems(cfg, machine=False))
    monkeypatch.setenv("FT_HOME", str(tmp_path / "another"))  # a new workspace: its versions count from 1 again
    plain = split_version([{"messages": CHAT}, {"messages": CHAT}])
    assert plain.id == tools.id
    assert not any("chat template drops" in p for p in launch.problems(cfg, machine=False))


def test_a_caller_with_no_one_to_ask_gets_the_tool_template_only_where_it_is_needed(
    tiny_model_dir, tool_file, tmp_path
):
    cfg = preset("lora", model=str(tiny_model_dir), train_file=str(tool_file))
    assert launch.fitting_template(cfg).chat_template == "tools"  # what the local API's jobs train with
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"messages": CHAT}])
    assert (
        launch.fitting_template(preset("lora", model=str(tiny_model_dir), train_file=str(plain))).chat_template
        == "model"
    )


def test_the_worker_refuses_it_too_before_loading_anything(tiny_model_dir, tool_file, tmp_path):
    spec = tmp_path / "run" / rundir.SPEC
    spec.parent.mkdir()
    spec.write_text(to_yaml(preset("lora", model=str(tiny_model_dir), train_file=str(tool_file))))
    done = subprocess.run(
        [sys.executable, "-m", "core.train", "--config", str(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_BAD_CONFIG
    assert "chat template drops" in done.stderr and 'chat_template: "tools"' in done.stderr


def test_the_tool_template_needs_chatml_tokens(tmp_path, tool_file):
    from tokenizers import Tokenizer
    from tokenizers import models as tok_models

    folder = tmp_path / "word-model"
    folder.mkdir()
    Tokenizer(tok_models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text("{}")
    found = launch.problems(preset("lora", model=str(folder), train_file=str(tool_file), chat_template="tools"))
    assert any("<|im_start|>, <|im_end|>" in p for p in found)


def test_a_tiny_run_on_tool_calls_with_the_tool_template_saves_it_with_the_tokenizer(
    tiny_model_dir, tool_file, tmp_path
):
    cfg = preset(
        "lora",
        model=str(tiny_model_dir),
        train_file=str(tool_file),
        validation_file=str(write_jsonl(tmp_path / "validation.jsonl", [OPENAI_TOOL_CALLING])),
        chat_template="tools",
        max_steps=2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        sample_generations=1,
        bf16=False,
    )
    summary = recipe.train(cfg, tmp_path)
    samples = json.loads((tmp_path / rundir.SAMPLES).read_text())
    assert len(samples) == 1 and samples[0]["prompt"][-1]["role"] == "tool"  # answered after a call and its result
    assert summary["final_step"] == 2 and summary["train_examples"] == 4 and summary["dropped_examples"] == 0
    losses = [r["loss"] for r in rundir.read_metrics(tmp_path) if r["loss"] is not None]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    saved = models.load_tokenizer(tmp_path / rundir.FINAL)
    assert saved.chat_template == templates.tools_template()
    assert "<tool_call>" in render(saved, OPENAI_TOOL_CALLING)


def test_chat_template_is_a_strict_choice_with_help():
    from core.config import help_of
    from core.train import config

    assert config.problems(preset("lora", train_file="x.jsonl", chat_template="chatml")) == [
        "chat_template must be one of model, tools"
    ]
    assert config.from_yaml("chat_template: tools\n").chat_template == "tools"
    with pytest.raises(ValueError, match="unknown setting"):
        config.from_dict({"chat_templat": "tools"})
    assert '"tools"' in help_of(config.TrainConfig)["chat_template"]
