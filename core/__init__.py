"""The workbench engine: importable and testable without Streamlit.

Run the tests with `make test`; `python -m core --help` lists every command (core/__main__.py).
Test: `pytest tests/unit/test_boundaries.py`.
"""
