"""AppTest drives every page the router lists: each renders a title and raises nothing."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.pages import ROOT, app_pages, page_title


def test_router_lists_pages_that_exist():
    pages = app_pages()
    assert "pages/home.py" in pages and len(pages) >= 3
    for p in pages:
        assert (ROOT / p).exists(), p


@pytest.mark.parametrize("page", app_pages())
def test_page_renders(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"
    assert at.title[0].value == page_title(page), f"{page} shows another page's title"


def test_home_shows_the_workflow_and_workspace(monkeypatch, ft_home):
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert at.title[0].value == "Fine-Tuning Workbench"
    assert [m.label for m in at.metric] == ["Datasets", "Models prepared", "Runs", "Index size"]
    assert str(ft_home) in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("page", app_pages())
def test_page_boots_before_drawing(page):
    # ui.shell.boot() must run before the first element, or a fresh server's deep link skips app.py.
    import ast

    tree = ast.parse((ROOT / page).read_text())
    calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    first = calls[0].value.func
    assert getattr(first, "id", getattr(first, "attr", None)) == "boot", f"{page} draws before boot()"


@pytest.mark.parametrize("page", [p for p in app_pages() if p != "pages/rate.py"])
def test_with_an_admin_token_every_page_but_the_raters_asks_for_it(page, monkeypatch):
    # A rater who deletes ?s= from the link must not reach answers by candidate (Evaluate, Arena).
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("FT_ADMIN_TOKEN", "s3cret")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Fine-Tuning Workbench"]
    assert [w.key for w in at.text_input] == ["admin_token"] and not at.selectbox and not at.tabs
    at.text_input(key="admin_token").set_value("s3cret").run()
    assert not at.exception and "admin_token" not in [w.key for w in at.text_input]


def test_the_rater_page_needs_no_admin_token(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("FT_ADMIN_TOKEN", "s3cret")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["s"] = "no-such-session"
    at.run()
    assert not at.exception and "admin_token" not in [w.key for w in at.text_input]
    assert [t.value for t in at.title] == ["Blind comparison"]


def test_the_apps_first_run_removes_temp_files_that_interrupted_writes_left(monkeypatch, ft_home):
    import os
    import time

    from core import paths, tempfiles, workspace

    monkeypatch.chdir(ROOT)
    blobs = paths.datasets_dir() / "blobs"
    blobs.mkdir(parents=True)
    left = blobs / ".0123.jsonl.tmp"  # a save killed half-way, under the name saves had before
    being_written = tempfiles.temp_path(blobs / "4567.jsonl")  # this process is writing it now
    for path in (left, being_written):
        path.write_text("x")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    workspace.start_up().join(60)  # the sweep the app's first run started, in the background
    assert not left.exists() and being_written.exists()
