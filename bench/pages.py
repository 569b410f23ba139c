"""First render of each page, as the app process sees it: `python bench/pages.py [--repeat 3]`.

Each page is rendered by Streamlit's AppTest in a fresh interpreter that has already imported
streamlit (as a running server has), so the time includes the page's own imports and work.
The baseline is a page with only a title, rendered the same way in the same run.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
if sys.argv[2] != "-":
    at.switch_page(sys.argv[2])
t0 = time.perf_counter()
at.run()
dt = time.perf_counter() - t0
assert not at.exception, [e.value for e in at.exception]
print(dt)
"""


def app_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    return [
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "Page" and n.args
    ]


def first_render(script: Path, page: str, home: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(script), page],
        cwd=ROOT, capture_output=True, text=True, env={"FT_HOME": home, "PATH": "/usr/bin:/bin"},
    )
    if out.returncode:
        raise SystemExit(f"{page}: {out.stderr[-1500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        blank = Path(home) / "blank.py"
        blank.write_text("import streamlit as st\nst.title('Blank')\n")
        base = statistics.median(first_render(blank, "-", home) for _ in range(args.repeat))
        print(f"baseline (title only): {base:.3f} s")
        for page in app_pages():
            t = statistics.median(first_render(ROOT / "app.py", page, home) for _ in range(args.repeat))
            print(f"{page:28s} first render {t:.3f} s  ratio_vs_blank={t / base:.1f}")


if __name__ == "__main__":
    main()
