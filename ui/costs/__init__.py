"""Pieces of the Costs page (and the Train page's pre-flight, which draws the same memory chart).

Every module here draws; the numbers come from core.costs and core.estimate.
Test: `pytest tests/app/test_costs_page.py tests/app/test_train_page.py`.
"""
