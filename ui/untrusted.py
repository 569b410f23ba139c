"""Drawing untrusted text: dataset content, model answers, instructions and names, through core.safe_text.

`inline(text)` is for interpolating a short string into any markdown Streamlit draws (alerts, captions,
headers, labels, table cells, radio options); `long_text(text)` draws an answer, a prompt or
instructions with their markdown kept but no image loaded and no link disguised; `table(frame, ...)`
escapes the named columns of a frame for st.table; `block(text)` is long text for a label or a composed message,
`code(text)` a short string as inline code, `spaced(text)` a piece of a line with its spaces kept.
Test: `pytest tests/unit/test_safe_text.py tests/e2e/test_untrusted_text.py`.
"""

from __future__ import annotations

import streamlit as st

from core import safe_text

inline, block, code, spaced = safe_text.inline, safe_text.block, safe_text.code, safe_text.spaced


def table(frame, *columns: str):
    """`frame` for st.table, which renders every cell as markdown: the named text columns escaped."""
    return frame.assign(**{c: frame[c].map(inline) for c in columns if c in frame})


def long_text(text: object, empty: str = "*(empty)*", draw=st.markdown, before: str = "") -> None:
    """`text` drawn by `draw` (st.markdown, st.caption, a column's markdown) after `before`, as markdown
    that loads nothing and links only to a visible http(s) URL; `empty` when it is blank."""
    body = str(text or "")
    draw(before + (safe_text.block(body) if body.strip() else empty))
