"""First render of each page, as the app process sees it: `python bench/pages.py [--repeat 3]`.

Each page is rendered by Streamlit's AppTest in a fresh interpreter that has already imported
streamlit (as a running server has), so the time includes the page's own imports and work.
The baseline is a page with only a title, rendered the same way in the same run.
Test: `pytest tests/app/test_every_page.py`.
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
for view in sys.argv[3:]:  # then switch the Data page's view: the second render of the session
    at.session_state["data_view"] = view
    t1 = time.perf_counter()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    print(f"view {view}: {time.perf_counter() - t1:.3f}")
print(dt)
"""

MAKE_DATASET = """
import json, sys
from core.data import samples, versions
base = [json.loads(l) for l in open(samples.sample_path("demo"), encoding="utf-8")]
n = int(sys.argv[1])
rows = []
for i in range(n):
    ex = json.loads(json.dumps(base[i % len(base)]))
    ex["messages"][1]["content"] += f" (variant {i})"  # distinct rows, realistic lengths
    rows.append(ex)
versions.create(f"bench-{n}", rows)
"""


def app_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    return [
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "Page" and n.args
    ]


def first_render(script: Path, page: str, home: str, views: tuple[str, ...] = ()) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(script), page, *views],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"FT_HOME": home, "PATH": "/usr/bin:/bin"},
    )
    if out.returncode:
        raise SystemExit(f"{page}: {out.stderr[-1500:]}")
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(f"    {page} {line} s")
    return float(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-n", type=int, default=10_000, help="examples in the Data page's dataset")
    parser.add_argument("--data-only", action="store_true", help="only the baseline and the Data page's dataset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        blank = Path(home) / "blank.py"
        blank.write_text("import streamlit as st\nst.title('Blank')\n")
        base = statistics.median(first_render(blank, "-", home) for _ in range(args.repeat))
        print(f"baseline (title only): {base:.3f} s")
        for page in [] if args.data_only else app_pages():
            t = statistics.median(first_render(ROOT / "app.py", page, home) for _ in range(args.repeat))
            print(f"{page:28s} first render {t:.3f} s  ratio_vs_blank={t / base:.1f}")
        env = {"FT_HOME": home, "PATH": "/usr/bin:/bin"}
        subprocess.run([sys.executable, "-c", MAKE_DATASET, str(args.data_n)], cwd=ROOT, env=env, check=True)
        print(f"Data page with a {args.data_n}-example dataset (first render computes and caches the checks):")
        t = first_render(ROOT / "app.py", "pages/data.py", home, ("Edit", "Duplicates", "Check"))
        print(f"pages/data.py ({args.data_n} examples) first render {t:.3f} s  ratio_vs_blank={t / base:.1f}")


if __name__ == "__main__":
    main()
