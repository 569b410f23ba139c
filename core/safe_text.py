"""Untrusted text made safe to hand to Streamlit's markdown: nothing it draws can load a URL or hide a link.

Streamlit renders markdown in st.markdown, captions, alerts, headers, st.table cells, widget labels,
radio options and tooltips, and markdown images are fetched by the viewer's browser. Two shapes of
untrusted text (dataset prompts, model answers, instructions, names typed by raters or owners):

- `inline(text)`: a short string interpolated into markdown (a name, a title, a label), made one line
  that shows exactly as typed: the characters that open markdown (emphasis, code, links, images,
  HTML, tables, colour directives, LaTeX, and a heading or list marker in front) are
  backslash-escaped, and a word joiner breaks what GFM would turn into a link on its own
  (`http://`, `www.`, `a@b.c`): Streamlit finds those in the text after escapes are read.
  `code(text)` is the same string as an inline code span (an id, a model name), literal as code is.
- `block(text)`: long text (an answer, a prompt, instructions) keeps its markdown (lists, code
  blocks, emphasis read as the author meant) but can no longer make a link or an image: an
  invisible word joiner goes between `]` and `(` (inline links and images), before the `[` that
  opens a line's `[label]:` (a reference definition, so `[x][ref]` has nothing to point at; not
  between `]` and `:`, which code such as `if a[0]:` is full of), and after `<` of an autolink
  whose scheme is not http(s). The word joiner is invisible inside code blocks too, so no code-block
  detection is needed (and none can disagree with the renderer's). A bare http(s) URL may still
  become a link, with the URL itself as its visible text; raw HTML is never rendered because no
  caller passes unsafe_allow_html.

Test: `pytest tests/unit/test_safe_text.py tests/e2e/test_untrusted_text.py`.
"""

from __future__ import annotations

import re

JOINER = "\u2060"  # WORD JOINER: invisible, not whitespace to CommonMark, and no line-break opportunity
NBSP = "\u00a0"  # NO-BREAK SPACE: shows as a space; markdown neither collapses it nor reads it as an indent

_MARKUP = re.compile(r"([\\`*_~\[\]<>|$#])")
_LEADING = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")  # a list marker (or setext line) in front
_BARE_LINK = re.compile(r"(?i)(\b(?:https?|ftp|www)(?=://|\.)|@)")
# C0/C1 controls and the bidirectional embeddings, overrides and isolates that can make a name read backwards.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_KEPT_SPACES = re.compile(r"^ +| +$| {2,}")  # the spaces markdown would trim or collapse
_LINK_TAIL = re.compile(r"\](?=\()")
# A line that opens with `[label]:` after any quote, list-marker and indent prefix; a label holds no
# unescaped bracket, may span lines and has at most 999 characters (CommonMark).
_DEFINITION = re.compile(r"(?m)^((?:[ \t]*(?:>|[-*+]|\d{1,9}[.)]))*[ \t]*)(?=\[(?:\\.|[^\]\\]){0,999}\]:)")
# `<scheme:` opens an autolink; http(s) ones show their own URL, every other scheme is broken.
_AUTOLINK = re.compile(r"<(?!https?:)(?=[A-Za-z][A-Za-z0-9+.-]{1,31}:)", re.IGNORECASE)


def _literal(flat: str) -> str:
    flat = _MARKUP.sub(r"\\\1", flat)
    flat = _LEADING.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", flat)
    return _BARE_LINK.sub(r"\1" + JOINER, flat)


def inline(text: object) -> str:
    """`text` as one line of literal markdown: whitespace runs become one space, markup is escaped."""
    return _literal(" ".join(_INVISIBLE.sub(" ", str(text)).split()))


def spaced(text: object) -> str:
    """`inline` that keeps every space: those at either end and in runs become no-break spaces, which markdown
    neither trims, collapses nor reads as an indent (single ones inside stay, so lines still wrap at words). For
    text cut into pieces drawn side by side, such as a rendered example's learned and plain tokens."""
    flat = _KEPT_SPACES.sub(lambda m: NBSP * len(m[0]), _INVISIBLE.sub(" ", str(text)))
    return _literal(flat)


def code(text: object) -> str:
    """`text` as an inline code span, literal whatever it holds: the fence is longer than any backtick run in it."""
    flat = " ".join(_INVISIBLE.sub(" ", str(text)).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def block(text: object) -> str:
    """`text` as markdown that can neither link nor load anything except a visible http(s) URL."""
    safe = _LINK_TAIL.sub("]" + JOINER, str(text))
    safe = _DEFINITION.sub(r"\1" + JOINER, safe)
    return _AUTOLINK.sub("<" + JOINER, safe)
