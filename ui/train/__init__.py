"""Pieces of the Train page: the config form, the OpenAI form, the pre-flight view and the launch panel.

Every module here draws; the checks, estimates and launch live in core.train and core.providers.
Test: `pytest tests/app/test_train_page.py tests/app/test_train_openai.py`.
"""
