"""The workbench engine: importable and testable without Streamlit.

Run the tests with `make test`; each module's docstring names its own command.
Test: `pytest tests/unit/test_boundaries.py`.
"""
