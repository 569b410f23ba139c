"""Local candidates: a candidate's model loaded once, its prompts answered through core.generation.

core.generation runs the prompts shortest first in left-padded batches, each answer cut at its first
end token; here a candidate becomes a loaded model, and answers become (text, tokens) pairs like the
remote ones. The app imports core.eval.generate, which imports this module: no torch at import time.
Bench: `python bench/generate.py`.
Test: `.venv/bin/pytest tests/jobs/test_generate_job.py tests/slow/test_generate_smollm2.py -q`.
"""

from __future__ import annotations

from core import generation, models
from core.eval.candidates import Candidate
from core.eval.params import BadConfig, GenParams, OnBatch
from core.jobs import rundir


def load_local(candidate: Candidate):
    """(model, tokenizer) for a base, few-shot or run candidate; BadConfig when it cannot load."""
    from core.train import export

    try:
        if candidate.kind == "run":
            model, tok = export.load_run(rundir.run_dir(candidate.run_id or ""))
            model = generation.place(model)
        elif models.model_problem(candidate.model):
            raise BadConfig(models.model_problem(candidate.model))
        else:
            model, tok = generation.load(candidate.model)
    except (OSError, ValueError, models.ModelError, export.ExportError) as exc:
        raise BadConfig(f"cannot load {candidate.label or candidate.model}: {exc}") from exc
    if not tok.chat_template:
        raise BadConfig(f"{candidate.label or candidate.model} has no chat template to format prompts with")
    return model.eval(), tok


def generate_batch(model, tokenizer, prompts: list[list[dict]], params: GenParams, on_batch: OnBatch | None = None):
    """[(answer, new tokens)] in prompt order, as remote_answers gives them (core.generation does the work)."""
    replies = generation.generate(
        model,
        tokenizer,
        prompts,
        params.max_new_tokens,
        params.temperature,
        params.top_p,
        params.batch_size,
        on_batch=on_batch,
    )
    return [(r.text, r.new_tokens) for r in replies]
