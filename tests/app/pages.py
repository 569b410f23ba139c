"""The page list as app.py declares it, read from its source so tests follow the router."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def app_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page" and node.args:
            found.append(node.args[0].value)
    return found
