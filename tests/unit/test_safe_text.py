"""core.safe_text on the markdown parser the app ships with (markdown-it, CommonMark + GFM tables).

The browser tier (tests/e2e/test_untrusted_text.py) checks the same strings in Streamlit's own renderer.
Test: `pytest tests/unit/test_safe_text.py`.
"""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from core import safe_text

md = MarkdownIt("commonmark").enable("table")
md.validateLink = lambda url: True  # see every link a renderer could make, javascript: included
LEAK = "http://127.0.0.1:9/leak.png"
PHISH = "http://127.0.0.1:9/phish"
HOSTILE = [
    f"![]({LEAK})",
    f"![x][r]\n\n[r]: {LEAK}",
    f"[re-enter your admin token]({PHISH})",
    f"[token][p]\n\n[p]: {PHISH}",
    f"[p]\n\n[p]: <{PHISH}>",
    f'[a]({PHISH} "title")',
    "<javascript:alert(1)>",
    "<file:///etc/passwd>",
    f"> quoted ![]({LEAK})",
    f"- item [link]({PHISH})\n- ![i]({LEAK})",
    f"| a | b |\n|---|---|\n| ![]({LEAK}) | [x]({PHISH}) |",
    f"`code` ![]({LEAK}) `more`",
    f"![x][multi\nline]\n\n[multi\nline]: {LEAK}",
    f"![x][a\\]b]\n\n[a\\]b]: {LEAK}",
    f"> ![x][q]\n>\n> - [q]: {LEAK}",
    f"- ![x][n]\n\n    [n]: {LEAK}",
    f"![x][^1]\n\n[^1]: {LEAK}",
]


def links_and_images(markdown: str) -> list[tuple[str, str, str]]:
    """(kind, target, visible text) of every link and image the parser makes of `markdown`."""
    found = []
    for block in md.parse(markdown):
        children = block.children or []
        for i, tok in enumerate(children):
            if tok.type == "image":
                found.append(("image", tok.attrs.get("src", ""), tok.content))
            elif tok.type == "link_open":
                text = "".join(t.content for t in children[i + 1 :] if t.type == "text")
                found.append(("link", tok.attrs.get("href", ""), text))
    return found


@pytest.mark.parametrize("text", HOSTILE)
def test_the_parser_finds_something_to_neutralise(text):
    assert links_and_images(text), "the hostile sample should make a link or an image unescaped"


@pytest.mark.parametrize("text", HOSTILE)
def test_block_leaves_no_image_and_no_link_that_hides_its_target(text):
    for kind, target, visible in links_and_images(safe_text.block(text)):
        assert kind == "link" and target.startswith(("http://", "https://")) and visible == target, text


@pytest.mark.parametrize("text", HOSTILE)
def test_block_shows_every_character_that_was_typed(text):
    assert safe_text.block(text).replace(safe_text.JOINER, "") == text


def test_block_keeps_lists_emphasis_and_code_blocks():
    text = "Steps:\n\n1. **install** it\n2. run `make`\n\n```python\nx = a[0](1)\n```\n"
    html = md.render(safe_text.block(text))
    assert "<ol>" in html and "<strong>install</strong>" in html and "<code>make</code>" in html
    assert '<code class="language-python">' in html
    assert "x = a[0]" in html and "(1)" in html  # the joiner sits between them, invisible


def test_block_leaves_code_that_indexes_alone():
    text = "```python\nfor k in d[key]:\n    a[0]: int = 1\n```"
    assert safe_text.block(text) == text


def test_block_keeps_a_visible_http_autolink():
    assert links_and_images(safe_text.block(f"<{PHISH}>")) == [("link", PHISH, PHISH)]


@pytest.mark.parametrize(
    "name",
    [
        f"![]({LEAK})",
        f"[re-enter your admin token]({PHISH})",
        "**bold** _it_ `code` ~~gone~~",
        ":red[coloured] $x^2$ <b>html</b>",
        "# heading",
        "1. listed",
        "> quoted",
        "a\\b\\*",
        "- dashed",
        "+ plus",
        "2) second",
        "Run 20250101-000000-ab12: lora (base)",
    ],
)
def test_inline_shows_the_name_as_typed(name):
    html = md.renderInline(safe_text.inline(name))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<em>" not in html
    assert md.render(safe_text.inline(name)).startswith("<p>")  # no heading, list or quote either
    plain = html.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert plain.replace(safe_text.JOINER, "") == name


def test_inline_leaves_plain_names_alone():
    assert safe_text.inline("Run 20250101-000000-ab12: lora (base)") == "Run 20250101-000000-ab12: lora (base)"


def test_inline_breaks_what_gfm_links_on_its_own():
    # Streamlit's renderer (remark-gfm) links these in text where escapes are already read: a joiner breaks them.
    shown = safe_text.inline("http://evil/x HTTPS://e www.evil.com ann@evil.com")
    assert "http://" not in shown.lower() and "www." not in shown and "@e" not in shown
    assert shown.replace(safe_text.JOINER, "") == "http://evil/x HTTPS://e www.evil.com ann@evil.com"


@pytest.mark.parametrize("text", ["ftjob-abc", "a`b", "``x``", f"`![]({LEAK})` [x]({PHISH})", "`"])
def test_code_is_one_literal_code_span(text):
    html = md.renderInline(safe_text.code(text))
    assert html.startswith("<code>") and html.endswith("</code>") and html.count("<code>") == 1
    assert html[6:-7].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&") == text


def test_inline_makes_one_line_of_visible_characters():
    assert safe_text.inline("Ann\n\n# Admin\u202e\x00 ") == "Ann \\# Admin"


@pytest.mark.parametrize(
    "piece", ["  - indented item", " leading and trailing ", "a  run   of spaces", "<|im_end|>", f"[x]({PHISH})"]
)
def test_spaced_shows_every_space_and_character_and_makes_nothing(piece):
    html = md.renderInline(safe_text.spaced(piece))
    assert "<a " not in html and "<img" not in html and "<li>" not in md.render(safe_text.spaced(piece))
    plain = html.replace("&lt;", "<").replace("&gt;", ">").replace(safe_text.JOINER, "")
    assert plain.replace(safe_text.NBSP, " ") == piece
