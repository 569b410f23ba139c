"""Share links for arena sessions: `<app url>/rate?s=<token>`, from what the browser told Streamlit, and
each rater's own link, `<app url>/rate?s=<token>&r=<rater key>`, the only way back to their pairs.

Pure functions; the pages pass st.context.url and the request's headers.
Test: `pytest tests/app/test_arena_page.py tests/app/test_rate_page.py`.
"""

from __future__ import annotations

from urllib.parse import quote

ARENA_PATH = "arena"  # the owner page's url_path in app.py
RATE_PATH = "rate"  # the rater page's url_path in app.py

FALLBACK = "http://localhost:8501"  # what `make run` serves when nothing better is known


def base_url(url: str | None, headers: dict | None = None) -> str:
    """The app's root URL: the page URL minus its page path, else scheme://Host, else localhost."""
    if url:
        root = url.split("?")[0].split("#")[0].rstrip("/")
        for page in (ARENA_PATH, RATE_PATH):
            if root.endswith("/" + page):
                return root[: -len(page) - 1]
        return root
    headers = {str(k).lower(): v for k, v in (headers or {}).items()}
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return FALLBACK
    # Behind a proxy (a hosted Space), the browser's scheme is the forwarded one.
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}"


def share_link(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/{RATE_PATH}?s={quote(token, safe='')}"


def rater_link(base: str, token: str, rater_key: str) -> str:
    """A rater's own link: whoever opens it rates as that rater, so it is shown to them alone."""
    return f"{share_link(base, token)}&r={quote(rater_key, safe='')}"
