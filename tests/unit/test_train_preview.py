"""The Train page's rendered training example (core.train.preview): which example, its learned tokens, and
whether every assistant turn learns its end-of-turn token. SmolLM2's real tokenizer (the tiny model's folder),
through transformers as the worker loads it and through the light tokenizer the page uses.

Run: .venv/bin/pytest tests/unit/test_train_preview.py -q
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from core import models, templates, tokens
from core.train import preview
from tests.shapes import OPENAI_TOOL_CALLING

CHAT = {
    "messages": [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris is the capital of France."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome is the capital of Italy."},
    ]
}
ONE_TURN = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
# A template that forgets the end-of-turn token after assistant turns, the bug the check is for.
NO_STOP_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if m['role'] != 'assistant' %}<|im_end|>{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def folder(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def no_stop_folder(folder, tmp_path_factory):
    """The tiny model's tokenizer files with the forgetful template beside them."""
    dest = tmp_path_factory.mktemp("no-stop") / "model"
    dest.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).exists():
            shutil.copy(folder / name, dest / name)
    (dest / "chat_template.jinja").write_text(NO_STOP_TEMPLATE)
    return dest


def learned_text(p: preview.Preview) -> list[str]:
    return [text for text, learned in p.segments if learned]


def test_the_example_shown_is_one_with_tool_calls_else_the_first_with_the_most_assistant_turns():
    assert preview.pick([ONE_TURN, CHAT, CHAT]) == 1
    assert preview.pick([ONE_TURN, CHAT, OPENAI_TOOL_CALLING, ONE_TURN]) == 2
    assert preview.pick([ONE_TURN]) == 0
    assert preview.pick([]) is None


def test_learned_tokens_are_the_assistant_turns_with_their_end_of_turn_token(folder):
    tok = models.load_tokenizer(folder)  # as the worker loads it
    p = preview.build(tok, CHAT, assistant_only=True)
    assert p.problem is None
    assert "".join(t for t, _ in p.segments) == tok.apply_chat_template(CHAT["messages"], tokenize=False)
    assert learned_text(p) == ["Paris is the capital of France.<|im_end|>", "Rome is the capital of Italy.<|im_end|>"]
    assert (p.eos, p.turns, p.unstopped) == ("<|im_end|>", 2, [])
    ok, message = p.end_of_turn()
    assert ok and "every assistant turn (2) ends with a learned <|im_end|>" in message.lower()


def test_a_template_that_drops_the_end_of_turn_token_is_named_with_the_turns_it_misses(no_stop_folder):
    p = preview.build(models.load_tokenizer(no_stop_folder), CHAT, assistant_only=True)
    assert learned_text(p) == ["Paris is the capital of France.", "Rome is the capital of Italy."]
    assert p.unstopped == [3, 5]  # message numbers, as the Data page counts them
    ok, message = p.end_of_turn()
    assert not ok
    assert "messages 3, 5" in message and "<|im_end|>" in message and "the model will not learn to stop" in message


def test_a_turn_of_weight_0_is_shown_plain_and_not_checked(folder):
    tok = models.load_tokenizer(folder)
    example = {"messages": [dict(m) for m in CHAT["messages"]]}
    example["messages"][2]["weight"] = 0
    p = preview.build(tok, example, assistant_only=True)
    assert learned_text(p) == ["Rome is the capital of Italy.<|im_end|>"]
    assert (p.turns, p.unstopped) == (1, [])


def test_every_token_is_learned_without_assistant_only_loss(folder):
    p = preview.build(models.load_tokenizer(folder), CHAT, assistant_only=False)
    assert [learned for _, learned in p.segments] == [True]
    assert p.learned == p.tokens and p.end_of_turn()[0]


def test_the_light_tokenizer_gives_the_page_the_same_preview_as_transformers_gives_the_worker(folder, no_stop_folder):
    for f in (folder, no_stop_folder):
        heavy = preview.build(models.load_tokenizer(f), CHAT, assistant_only=True)
        light = preview.build(tokens.ChatTokenizer(f), CHAT, assistant_only=True)
        assert light == heavy


def test_an_example_the_template_cannot_render_is_a_problem_naming_it_not_an_exception(folder):
    bad = {"messages": [*CHAT["messages"][1:4], {"role": "assistant", "content": 5}]}
    p = preview.of_split([ONE_TURN, bad], tokens.ChatTokenizer(folder), assistant_only=True)
    assert p.index == 1 and p.segments == []
    assert p.problem.startswith("train example 2") and "message 4" in p.problem


def test_the_preview_module_and_the_light_tokenizer_load_neither_torch_nor_transformers(folder):
    code = (
        "import sys\nfrom core import tokens\nfrom core.train import preview\n"
        f"preview.of_split([{CHAT!r}], tokens.ChatTokenizer({str(folder)!r}), True)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_tool_calling_example_shows_its_learned_call_under_the_tool_template(folder):
    heavy = models.load_tokenizer(folder)
    templates.apply(heavy, templates.TOOLS)
    p = preview.build(heavy, OPENAI_TOOL_CALLING, assistant_only=True)
    call = '{"name": "get_current_weather", "arguments": {"location": "San Francisco, USA", "format": "celsius"}}'
    assert learned_text(p) == [
        f"<tool_call>\n{call}\n</tool_call><|im_end|>",
        "It is 18 degrees Celsius and foggy in San Francisco.<|im_end|>",
    ]
    assert p.end_of_turn()[0] and p.unstopped == []
    assert "get_current_weather" in "".join(t for t, learned in p.segments if not learned)  # the tools, not learned
    light = tokens.ChatTokenizer(folder, templates.chosen(templates.TOOLS, None))
    assert preview.build(light, OPENAI_TOOL_CALLING, assistant_only=True) == p

    # SmolLM2's own template has no place for the call: the preview says so, as the worker would refuse it.
    own = preview.of_split([OPENAI_TOOL_CALLING], tokens.ChatTokenizer(folder), assistant_only=True)
    assert (
        own.problem.startswith("train example 1")
        and "drops the definition of the tool 'get_current_weather'" in own.problem
    )
    assert "TrainDataError" not in own.problem and 'chat_template: "tools"' in own.problem
