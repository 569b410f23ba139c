"""Shared fixtures: every test gets its own workspace (FT_HOME) so none touches a real one."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "jobs", "app", "e2e", "slow")


def pytest_collection_modifyitems(config, items):
    # The folder decides the tier, so a test can never sit outside one.
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests")
        tier = rel.parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def ft_home(tmp_path, monkeypatch):
    home = tmp_path / "ft_home"
    monkeypatch.setenv("FT_HOME", str(home))
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The 3.2M-parameter random model with the real SmolLM2 tokenizer, built once per test run.

    Tests read it (load, train from it, generate with it) and never write into it.
    """
    from tests.tiny import tiny_model

    root = tmp_path_factory.mktemp("tiny-model")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        return tiny_model(root)
