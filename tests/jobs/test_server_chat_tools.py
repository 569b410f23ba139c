"""Tools in the local API's chat completions, through the real `openai` client against a real uvicorn server:
a request with tools and tool turns is rendered with the model's template's `tools` argument; a template that
cannot show them, and a tool_choice a local model cannot honour, are refused in OpenAI's shape naming the
parameter; a model that answers with the template's call block gets OpenAI tool_calls, streamed and not.
The models: the tiny model under the workbench's tool template (core/templates/tools_chatml.jinja: ChatML with
the Hermes/Qwen2.5 tool convention), and a copy of it taught (here, in seconds) to answer one weather question
with a call.

Test: .venv/bin/pytest tests/jobs/test_server_chat_tools.py -q
"""

from __future__ import annotations

import json
import shutil

import openai
import pytest
from openai import OpenAI

from core import generation, models, templates
from core.server import chat
from core.server.app import create_app
from tests import api_server
from tests.shapes import OPENAI_TOOL_CALLING, WEATHER_TOOL

KEY = "sk-local-test-key"
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
PARIS = {"location": "Paris, France", "format": "celsius"}
CALL = f'<tool_call>\n{{"name": "get_current_weather", "arguments": {json.dumps(PARIS)}}}\n</tool_call>'
ASKED = OPENAI_TOOL_CALLING["messages"][:3]  # the question, the call, its result: the model answers next


def _with_template(source, dest):
    shutil.copytree(source, dest)
    (dest / "chat_template.jinja").write_text(templates.tools_template())
    config = json.loads((dest / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (dest / "tokenizer_config.json").write_text(json.dumps(config))
    return dest


@pytest.fixture(scope="module")
def tool_model(tiny_model_dir, tmp_path_factory):
    """The tiny model whose chat template takes tools."""
    return _with_template(tiny_model_dir, tmp_path_factory.mktemp("tools") / "model")


@pytest.fixture(scope="module")
def caller_model(tool_model, tmp_path_factory):
    """The tool model trained on one example until its greedy answer to QUESTION (with WEATHER_TOOL) is CALL."""
    import torch

    model, tok = models.load_model(tool_model, dtype=torch.float32).train(), models.load_tokenizer(tool_model)
    prompt = generation.encode(tok, QUESTION, [WEATHER_TOOL])  # the server's own render
    target = tok(CALL + tok.eos_token, add_special_tokens=False)["input_ids"]
    ids, want = torch.tensor([prompt + target]), torch.tensor(target)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small: more threads only wait on each other (about 100 steps here)
    try:
        for _ in range(400):
            # Logits of the answer's positions only: the 49k-word head over the prompt would be most of the work.
            logits = model(input_ids=ids, logits_to_keep=len(target) + 1).logits[0, :-1]
            if logits.argmax(-1).tolist() == target:  # greedy decoding says CALL, then stops
                break
            torch.nn.functional.cross_entropy(logits, want).backward()
            optimizer.step()
            optimizer.zero_grad()
        else:
            raise AssertionError("the tiny model did not learn the call in 400 steps")
    finally:
        torch.set_num_threads(threads)
    dest = tmp_path_factory.mktemp("caller") / "model"
    model.save_pretrained(dest)
    tok.save_pretrained(dest)  # the tool template goes with it
    return dest


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    """The real openai client against a real server whose base is the tiny model (SmolLM2's template: no tools)."""
    with api_server.serving(create_app(KEY, base_model=str(tiny_model_dir))) as url:
        yield OpenAI(base_url=url, api_key=KEY, max_retries=0)


def refused(client, **request) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**{"max_tokens": 3, **request})
    assert caught.value.body["type"] == "invalid_request_error"
    return caught.value.body


def test_a_request_with_tools_is_rendered_with_them_and_answered(client, tool_model):
    reply = client.chat.completions.create(
        model=str(tool_model), messages=QUESTION, tools=[WEATHER_TOOL], max_tokens=3
    )
    assert reply.choices[0].finish_reason in ("stop", "length")  # the random model calls nothing

    req = chat.parse_request({"model": "m", "messages": QUESTION, "tools": [WEATHER_TOOL]})
    prompt = generation.prompt_text(models.load_tokenizer(tool_model), req.messages, req.tools)
    assert (
        prompt.startswith("<|im_start|>system\n") and "<tools>\n" + json.dumps(WEATHER_TOOL) + "\n</tools>" in prompt
    )
    assert prompt.endswith("What is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n")


def test_assistant_tool_calls_and_tool_results_are_rendered_as_the_template_writes_them(client, tool_model):
    reply = client.chat.completions.create(model=str(tool_model), messages=ASKED, tools=[WEATHER_TOOL], max_tokens=3)
    assert reply.choices[0].message.role == "assistant"

    req = chat.parse_request({"model": "m", "messages": ASKED, "tools": [WEATHER_TOOL]})
    prompt = generation.prompt_text(models.load_tokenizer(tool_model), req.messages, req.tools)
    call = '{"name": "get_current_weather", "arguments": {"location": "San Francisco, USA", "format": "celsius"}}'
    assert f"<|im_start|>assistant\n<tool_call>\n{call}\n</tool_call><|im_end|>\n" in prompt
    assert '<|im_start|>user\n<tool_response>\n{"temperature": 18, "sky": "fog"}\n</tool_response>' in prompt


def test_a_template_that_cannot_show_tools_is_refused_naming_what_it_drops(client):
    error = refused(client, model="gpt-4o-mini", messages=QUESTION, tools=[WEATHER_TOOL])
    assert error["param"] == "tools" and "get_current_weather" in error["message"]
    assert "chat template" in error["message"] and "takes tools" in error["message"]

    error = refused(client, model="gpt-4o-mini", messages=ASKED)  # a history of calls, no tools offered
    assert error["param"] == "messages" and "the call to 'get_current_weather' in message 2" in error["message"]


@pytest.mark.parametrize(
    ("request_", "param", "words"),
    [
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool_choice", "'auto' or 'none'"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}}, "tool_choice", ""),
        ({"tool_choice": "auto"}, "tool_choice", "only allowed when 'tools' are specified"),
        (
            {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
            "tools[0].function.name",
            "^[a-zA-Z0-9_-]",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
            "",
        ),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type", "function"),
        ({"functions": [WEATHER_TOOL["function"]]}, "functions", "tools"),
    ],
)
def test_tool_parameters_a_local_model_cannot_honour_are_refused_naming_them(
    client, tool_model, request_, param, words
):
    error = refused(client, model=str(tool_model), messages=QUESTION, **request_)
    assert error["param"] == param and words in error["message"]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([*QUESTION, {"role": "tool", "tool_call_id": "call_x", "content": "18"}], "messages[1].tool_call_id"),
        (
            [
                *ASKED[:1],
                {
                    **ASKED[1],
                    "tool_calls": [{**ASKED[1]["tool_calls"][0], "function": {"name": "f", "arguments": "{"}}],
                },
            ],
            "messages[1].tool_calls[0].function.arguments",
        ),
    ],
)
def test_tool_turns_that_do_not_fit_together_are_refused_naming_the_message(client, tool_model, messages, param):
    assert refused(client, model=str(tool_model), messages=messages, tools=[WEATHER_TOOL])["param"] == param


def test_a_model_that_answers_with_a_call_block_gets_openai_tool_calls(client, caller_model):
    reply = client.chat.completions.create(model=str(caller_model), messages=QUESTION, tools=[WEATHER_TOOL])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == PARIS

    stream = client.chat.completions.create(
        model=str(caller_model), messages=QUESTION, tools=[WEATHER_TOOL], stream=True
    )
    deltas, finish, text = [], None, ""
    for chunk in stream:
        for c in chunk.choices:
            deltas += c.delta.tool_calls or []
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls" and text == ""
    assert [(d.index, d.type, d.function.name) for d in deltas] == [(0, "function", "get_current_weather")]
    assert deltas[0].id.startswith("call_") and json.loads(deltas[0].function.arguments)["location"] == "Paris, France"

    # tool_choice "none": no tools offered, so no call is read out of the answer.
    reply = client.chat.completions.create(
        model=str(caller_model), messages=QUESTION, tools=[WEATHER_TOOL], tool_choice="none", max_tokens=8
    )
    assert reply.choices[0].message.tool_calls is None and reply.choices[0].finish_reason != "tool_calls"
