"""Records shaped like the public datasets and tool exports teams bring, for tests of every tier.

Each constant names the dataset or tool whose shape it copies (the content is written here). A test
writes them to a file with `write_jsonl(path, records)` and reads them back the way a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

# OpenAI's function-calling fine-tuning format: top-level tools, an assistant turn of tool_calls
# with null content, the tool's result answering the call by id, then the answer.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, eg. San Francisco, USA"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "format"],
        },
    },
}
OPENAI_TOOL_CALLING = {
    "messages": [
        {"role": "user", "content": "What is the weather in San Francisco?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_id",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_id", "content": '{"temperature": 18, "sky": "fog"}'},
        {"role": "assistant", "content": "It is 18 degrees Celsius and foggy in San Francisco."},
    ],
    "tools": [WEATHER_TOOL],
    "parallel_tool_calls": False,
}

# OpenAI's preference (DPO) fine-tuning format.
OPENAI_DPO = {
    "input": {
        "messages": [{"role": "user", "content": "Hello, can you tell me how cold San Francisco is today?"}],
        "tools": [],
        "parallel_tool_calls": True,
    },
    "preferred_output": [
        {"role": "assistant", "content": "Today in San Francisco, it is not quite cold as expected. Morning clouds."}
    ],
    "non_preferred_output": [{"role": "assistant", "content": "It is not particularly cold in San Francisco today."}],
}

# TRL's preference formats: explicit prompt as strings, and conversational (message lists).
TRL_PREFERENCE_STANDARD = {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
TRL_PREFERENCE_CONVERSATIONAL = {
    "prompt": [{"role": "user", "content": "What color is the sky?"}],
    "chosen": [{"role": "assistant", "content": "It is blue."}],
    "rejected": [{"role": "assistant", "content": "It is green."}],
}


def write_jsonl(path: Path, records: list) -> Path:
    """The records as JSON Lines, one per line, UTF-8."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# OpenAI's vision fine-tuning format: a user turn of content parts, text and an image by URL.
OPENAI_VISION = {
    "messages": [
        {"role": "system", "content": "You are an assistant that identifies uncommon cheeses."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this cheese?"},
                {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/cheese.jpg"}},
            ],
        },
        {"role": "assistant", "content": "Danbo"},
    ]
}

# OpenAI's multi-turn example with `weight`: the first answer is shown to the model but not learned.
OPENAI_WEIGHTED = {
    "messages": [
        {"role": "system", "content": "Marv is a factual chatbot that is also sarcastic."},
        {"role": "user", "content": "What's the capital of France?"},
        {"role": "assistant", "content": "Paris", "weight": 0},
        {"role": "user", "content": "Can you be more sarcastic?"},
        {"role": "assistant", "content": "Paris, as if everyone doesn't know that already.", "weight": 1},
    ]
}

# OpenAI's parallel function calling (parallel_tool_calls): two calls in one assistant turn, with text beside
# them, each answered by its own tool message, under a system prompt.
OPENAI_PARALLEL_TOOL_CALLS = {
    "messages": [
        {"role": "system", "content": "You help travellers."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "Paris, France", "format": "celsius"}',
                    },
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "Rome, Italy", "format": "celsius"}',
                    },
                },
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "21 C, sun"},
        {"role": "tool", "tool_call_id": "b", "content": "25 C, clouds"},
        {"role": "assistant", "content": "Paris: 21 C and sunny. Rome: 25 C and cloudy."},
    ],
    "tools": [WEATHER_TOOL],
}


# TRL's implicit-prompt preference formats (trl-internal-testing/zen, conversational_implicit_prompt_preference and
# standard_implicit_prompt_preference): no prompt column; what chosen and rejected share at the start is the prompt.
TRL_PREFERENCE_IMPLICIT = {
    "chosen": [
        {"role": "user", "content": "What color is the sky?"},
        {"role": "assistant", "content": "It is blue."},
    ],
    "rejected": [
        {"role": "user", "content": "What color is the sky?"},
        {"role": "assistant", "content": "It is green."},
    ],
}
TRL_PREFERENCE_IMPLICIT_STANDARD = {"chosen": "The sky is blue.", "rejected": "The sky is green."}
# trl-internal-testing/sentiment-trl-style: the prompt as a string, each answer the whole conversation again.
TRL_PREFERENCE_PROMPT_REPEATED = {
    "prompt": "Write a happy line about rain.",
    "chosen": [
        {"role": "user", "content": "Write a happy line about rain."},
        {"role": "assistant", "content": "Rain taps a cheerful rhythm on the roof."},
    ],
    "rejected": [
        {"role": "user", "content": "Write a happy line about rain."},
        {"role": "assistant", "content": "Rain again. Grey and cold."},
    ],
}
# OpenAI's DPO format with a tool in the input: the preferred answer calls it, the other guesses.
OPENAI_DPO_TOOLS = {
    "input": {
        "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}],
        "tools": [WEATHER_TOOL],
        "parallel_tool_calls": False,
    },
    "preferred_output": [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                    },
                }
            ],
        }
    ],
    "non_preferred_output": [{"role": "assistant", "content": "It is probably sunny."}],
}


def dpo_pair(prompt: str, chosen: str, rejected: str, system: str | None = None) -> dict:
    """One pair in OpenAI's DPO format (OPENAI_DPO's shape): a user prompt, optionally after a system prompt."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return {
        "input": {"messages": messages},
        "preferred_output": [{"role": "assistant", "content": chosen}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }


# LLaMA-Factory's ShareGPT tool-calling format (its glaive_toolcall demo files): function_call and
# observation turns whose values are JSON text, and the tools as one JSON string.
GLAIVE_TOOLS = [
    {
        "name": "convert_currency",
        "description": "Convert an amount from one currency to another",
        "parameters": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
            "required": ["amount", "from", "to"],
        },
    }
]
LLAMAFACTORY_SHAREGPT_TOOLS = {
    "conversations": [
        {"from": "human", "value": "How much is 100 USD in EUR?"},
        {
            "from": "function_call",
            "value": '{"name": "convert_currency", "arguments": {"amount": 100, "from": "USD", "to": "EUR"}}',
        },
        {"from": "observation", "value": '{"converted_amount": 92.5}'},
        {"from": "gpt", "value": "100 USD is about 92.50 EUR."},
    ],
    "system": "You can convert currencies.",
    "tools": json.dumps(GLAIVE_TOOLS),
}
# LLaMA-Factory's ShareGPT with tags (role_tag "role", content_tag "content"): the same turns under "messages".
LLAMAFACTORY_SHAREGPT_TAGS = {
    "messages": [
        {"role": {"human": "user", "gpt": "assistant"}.get(t["from"], t["from"]), "content": t["value"]}
        for t in LLAMAFACTORY_SHAREGPT_TOOLS["conversations"]
    ],
    "tools": json.dumps(GLAIVE_TOOLS),
}

# timdettmers/openassistant-guanaco: one `text` column of "### Human: ... ### Assistant: ..." turns.
GUANACO_TEXT = {
    "text": "### Human: What is a llama?### Assistant: A South American camelid."
    "### Human: Big?### Assistant: Up to 200 kg."
}
# A `text` column already rendered with ChatML (exports of SmolLM2/Qwen-style training sets).
CHATML_TEXT = {
    "text": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
    "<|im_start|>assistant\nTeal.<|im_end|>\n"
}
# mlabonne/guanaco-llama2-1k: Llama-2's [INST] template in a `text` column.
LLAMA2_TEXT = {
    "text": "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
    "<s>[INST] Bye [/INST] Take care. </s>"
}
# A pre-training corpus row (wikitext-style): text with no conversation template.
PLAIN_TEXT = {"text": "The llama is a domesticated South American camelid."}

# databricks/databricks-dolly-15k: instruction, context (often empty), response, category.
DOLLY = [
    {
        "instruction": "When was the tower finished?",
        "context": "The Eiffel Tower was completed in 1889 for the World's Fair.",
        "response": "In 1889.",
        "category": "closed_qa",
    },
    {"instruction": "Name a primary colour.", "context": "", "response": "Red.", "category": "open_qa"},
]
# CohereForAI/aya_dataset: inputs, targets and metadata columns.
AYA = {
    "inputs": "Quelle est la capitale de la France ?",
    "targets": "Paris.",
    "language": "French",
    "language_code": "fra",
    "annotation_type": "original-annotations",
    "user_id": "a1b2",
}

# A spreadsheet saved as CSV with a European locale (Excel): semicolons, and headers with spaces and case.
EXCEL_SEMICOLON_CSV = 'Question ;Model Answer;Notes\n"What is 2,5 + 1?";3,5;checked\nSay hi;Hi!;\n'
# Google Sheets' "Tab-separated values" download saved under a .csv name.
SHEETS_TAB_CSV = "prompt\tcompletion\nWhat is 1+1?\t2\nCapital of Peru?\tLima\n"
