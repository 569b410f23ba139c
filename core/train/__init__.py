"""Local fine-tuning: full, LoRA and QLoRA as jobs. `python -m core.train --config RUN_DIR/spec.yaml`.

Test: `pytest tests/unit/test_recipe.py`.
"""
