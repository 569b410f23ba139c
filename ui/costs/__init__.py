"""Pieces of the Costs page: the editable price tables, the OpenAI tab, the local GPU tab, the guide's table.

Every module here draws; the dollars, memory and time come from core.costs, core.estimate and core.prices.
charts.py's memory chart is drawn in the Train page's pre-flight too. Every widget key starts with "costs_".
Test: `pytest tests/app/test_costs_page.py tests/app/test_train_page.py tests/e2e/test_costs_browser.py`.
"""
