"""Import boundaries: pages stay light, core stays free of Streamlit (checked on the AST)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_pages_and_app_never_import_heavy_libraries():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").rglob("*.py"))]
    assert len(files) > 1
    bad = {f.name: imported_roots(f) & HEAVY for f in files if imported_roots(f) & HEAVY}
    assert not bad, f"heavy imports in the app process: {bad}"


def test_core_never_imports_streamlit():
    bad = [str(f.relative_to(ROOT)) for f in ROOT.glob("core/**/*.py") if "streamlit" in imported_roots(f)]
    assert not bad, f"core imports streamlit: {bad}"


def test_the_checker_sees_nested_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def g():\n    import torch.nn\n    from peft import LoraConfig\n")
    assert imported_roots(f) >= {"torch", "peft"}


def _is_module(package: str, name: str) -> bool:
    return (ROOT / package / f"{name}.py").exists() or (ROOT / package / name / "__init__.py").exists()


def test_every_ui_module_draws():
    # ui/ means "imports Streamlit": a module that draws nothing is engine code and belongs in core/.
    files = [f for f in sorted((ROOT / "ui").rglob("*.py")) if f.name != "__init__.py"]
    assert len(files) > 10
    drawless = [str(f.relative_to(ROOT)) for f in files if not imported_roots(f) & {"streamlit", "altair"}]
    assert not drawless, f"ui modules without Streamlit (move them to core/): {drawless}"


def test_what_pages_import_stays_light_transitively():
    # A page importing a core module that imports torch at module level would pull torch in too.
    mods = set()
    for f in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("core", "ui"):
                mods.add(node.module)  # `from ui import DATA_PAGE` names a constant, not a module
                mods |= {f"{node.module}.{a.name}" for a in node.names if _is_module(node.module, a.name)}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("core.", "ui.")):
                mods.add(node.module)
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in sorted(mods))
    code += f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))"
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"page imports pull in: {out.stdout}"
