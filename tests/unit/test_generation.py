"""core.generation on the tiny model: the token budget, the end token, and one greedy answer for every path.

Evaluate's batches, a run's samples and the CLI (`reply`), the export check and the API's stream all
go through core.generation; the same prompt must get the same greedy answer from each of them.
Run: `.venv/bin/pytest tests/unit/test_generation.py -q`.
"""

from __future__ import annotations

import threading

import pytest

from core import generation, models
from core.eval import local
from core.eval.params import GenParams
from core.server import chat, chat_tools
from core.train import export

HELLO = [{"role": "user", "content": "Hello, who are you?"}]
LONGER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers in Europe."}]
MAX_NEW = 12


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return generation.load(tiny_model_dir)


@pytest.fixture(scope="module")
def talker(tiny_model_dir, tmp_path_factory):
    """The tiny model with seeded noise on its weights, saved: the random one only repeats "\\n",
    which strips to "" on every path alike; this one says a different word at every step."""
    import torch

    model, tok = generation.load(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for weight in model.parameters():
            weight.add_(torch.randn_like(weight) * 0.5)
    folder = tmp_path_factory.mktemp("talker")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_reply_respects_the_token_budget(loaded):
    model, tok = loaded
    reply = generation.reply(model, tok, [{"role": "user", "content": "Hello"}], max_new_tokens=5)
    assert 1 <= reply.new_tokens <= 5
    # Either it hit the budget or it stopped on <|im_end|>, never anything else.
    assert reply.stopped_on_eos or reply.new_tokens == 5
    assert isinstance(reply.text, str)


def test_chat_takes_a_plain_string(tiny_model_dir):
    assert isinstance(generation.chat(tiny_model_dir, "Hello", max_new_tokens=3).text, str)


def test_every_path_gives_the_same_greedy_answer(talker):
    model, tok = generation.load(talker)
    one = generation.reply(model, tok, HELLO, MAX_NEW)
    assert len(set(one.ids)) > 3 and one.new_tokens == MAX_NEW  # a real answer to compare, up to the budget

    # Evaluate: a left-padded batch with a longer prompt beside it, then one at a time.
    batched = local.generate_batch(model, tok, [LONGER, HELLO], GenParams(max_new_tokens=MAX_NEW, batch_size=2))
    alone = local.generate_batch(model, tok, [HELLO], GenParams(max_new_tokens=MAX_NEW, batch_size=1))
    assert batched[1] == alone[0] == (one.text, one.new_tokens)

    # The export check, on the model folder itself (a whole model, as a full run exports it).
    check = export.check_export(talker, prompt=HELLO[0]["content"], max_new_tokens=MAX_NEW)
    assert (check["generated"], check["new_tokens"]) == (one.text, one.new_tokens)

    # The API, streamed through core.generation.Stream.
    req = chat.ChatRequest(model="tiny", messages=HELLO, max_tokens=MAX_NEW)
    reply = chat.completion(chat.Generation(model, tok, req))
    assert reply["choices"][0]["message"]["content"].strip() == one.text
    assert reply["usage"]["completion_tokens"] == one.new_tokens

    # The command line's helper.
    assert generation.chat(talker, HELLO, MAX_NEW).text == one.text


def test_a_set_cancel_event_stops_a_batch_at_once(loaded):
    model, tok = loaded
    cancel = threading.Event()
    cancel.set()
    [reply] = generation.generate(model, tok, [HELLO], max_new_tokens=50, cancel=cancel)
    assert reply.new_tokens == 1  # the criterion is checked after each token


def test_a_template_that_cannot_format_the_messages_fails_before_any_thread(loaded):
    model, tok = loaded
    bare = tok.__class__.from_pretrained(tok.name_or_path)
    bare.chat_template = None
    with pytest.raises((ValueError, TypeError)):
        generation.Stream(model, bare, HELLO, 4)


def test_stop_ids_come_from_the_model_and_the_tokenizer(loaded):
    model, tok = loaded
    assert tok.eos_token_id in models.stop_ids(model, tok)


def test_the_context_is_the_smaller_known_limit_and_a_reply_past_it_never_starts(loaded):
    model, tok = loaded
    assert generation.context_length(model, tok) == models.CONTEXT_LENGTH
    unset = tok.__class__.from_pretrained(tok.name_or_path)
    unset.model_max_length = int(1e30)  # what transformers says when a tokenizer knows no limit
    assert generation.context_length(model, unset) == model.config.max_position_embeddings
    before = threading.active_count()
    with pytest.raises(generation.ContextExceeded) as caught:
        generation.Stream(model, tok, HELLO, models.CONTEXT_LENGTH)
    assert caught.value.limit == models.CONTEXT_LENGTH and caught.value.new_tokens == models.CONTEXT_LENGTH
    assert caught.value.prompt_tokens == len(generation.encode(tok, HELLO)) and threading.active_count() == before


# ---- tool calls in a reply (the Hermes/Qwen2.5 blocks the tool template writes) ---------------------

WEATHER_CALL = '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "Paris, France"}}\n</tool_call>'


def test_a_call_block_is_read_as_a_call_with_its_arguments_as_an_object():
    assert generation.tool_calls_in(WEATHER_CALL) == (
        "",
        [{"name": "get_current_weather", "arguments": {"location": "Paris, France"}}],
    )


def test_text_around_several_blocks_is_kept_and_an_unclosed_last_block_still_counts():
    text = "Let me check.\n" + WEATHER_CALL + '\n<tool_call>\n{"name": "get_time", "arguments": {}}'
    content, calls = generation.tool_calls_in(text)
    assert content == "Let me check."
    assert [c["name"] for c in calls] == ["get_current_weather", "get_time"] and calls[1]["arguments"] == {}


@pytest.mark.parametrize(
    "text",
    [
        "The weather is fine.",
        '<tool_call>\n{"name": "f", "arguments": {"a": 1}\n</tool_call>',  # one brace short
        '<tool_call>\n{"arguments": {}}\n</tool_call>',  # no name
        '<tool_call>\n{"name": "f", "arguments": "{}"}\n</tool_call>',  # arguments not an object
        WEATHER_CALL + '\n<tool_call>\n["f"]\n</tool_call>',  # one good block, one that is no call
    ],
)
def test_a_reply_without_a_well_formed_call_comes_back_whole_as_text(text):
    assert generation.tool_calls_in(text) == (text, [])


def test_a_stream_holds_back_what_may_open_a_call_block_and_keeps_the_block_for_the_end():
    rest: list[str] = []
    pieces = ["Let me ", "check <to", "ol_c", 'all>\n{"name"', ': "f"}', "\n</tool_call>"]
    assert list(chat_tools.before_calls(pieces, rest)) == ["Let me ", "check "]
    assert "".join(rest) == '<tool_call>\n{"name": "f"}\n</tool_call>'
    rest = []
    assert "".join(chat_tools.before_calls(["a <", "b> c", " <tool"], rest)) == "a <b> c <tool" and rest == []
