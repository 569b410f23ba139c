"""The model card (README.md) written into every export folder: merged, adapter, model and GGUF exports.

What trained it (base model, method, hyperparameters, dataset version and its sha256), how training
went (summary.json and the metrics' last losses), how it scored (the Evaluate page's stored scores
for this run, core.eval.scores) and how raters ranked it (arena leaderboards with their intervals,
core.arena.results), read back as those modules report them; then how to load the export.
Test: .venv/bin/pytest tests/unit/test_gguf.py -q
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import models
from core.jobs import rundir
from core.train import summary

HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "load_in_4bit",
    "seed",
)


def _config(run_dir: Path) -> dict[str, Any]:
    spec = rundir.read_spec(run_dir) if (run_dir / rundir.SPEC).is_file() else {}
    return (spec or {}).get("config") or {}


def _dataset(config: dict) -> str:
    from core.data import versions

    vid = config.get("dataset_version")
    if vid is None:
        return f"files: {config.get('train_file') or '-'}"
    try:
        v = versions.get(int(vid))
    except (LookupError, ValueError, TypeError, OSError):
        return f"version {vid} (no longer in this workspace's index)"
    return f"{summary.dataset_label(vid)}, sha256 `{v.sha256}`"


def _training(run_dir: Path) -> list[str]:
    info = summary.read_summary(run_dir)
    rows = rundir.read_metrics(run_dir)
    lines = [
        f"- steps: {info.get('final_step', '-')}, epochs: {info.get('epochs_done', '-')}, "
        f"train examples: {info.get('train_examples', '-')}",
        f"- last training loss: {summary.latest(rows, 'loss')}; "
        f"last validation loss: {summary.latest(rows, 'eval_loss')}",
        f"- best validation loss: {info.get('best_eval_loss', '-')} at step {info.get('best_step', '-')}",
    ]
    return lines


def _scores(run_id: str, config: dict) -> tuple[list[str], set[str]]:
    """The Evaluate page's stored scores of this run's candidates, and their keys (for the arena)."""
    from core.data import versions
    from core.eval import scores

    try:
        scored = scores.score_all(versions.get(int(config["dataset_version"])))
    except (KeyError, LookupError, ValueError, TypeError, OSError):
        return [], set()
    mine = [s for s in scored if s.candidate.run_id == run_id]
    lines = [
        f"- {s.name}: ROUGE-L {s.summary.get('rouge_l')}, exact {s.summary.get('exact')} ({scores.settings(s.params)})"
        for s in mine
    ]
    return lines, {s.candidate.key for s in mine}


def _arena(keys: set[str]) -> list[str]:
    from core.arena import results, sessions

    lines = []
    for session in sessions.list_sessions():
        labels = {e.label for e in session.candidates if e.key in keys}
        if not labels or not session.n_votes:
            continue
        for row in results.compute(session).leaderboard:
            if row["model"] in labels:
                lines.append(
                    f"- {session.name}: rating {row['rating']:.0f} "
                    f"(95% interval {row['ci_low']:.0f} to {row['ci_high']:.0f}), {row['votes']} votes"
                )
    return lines


def _loading(kind: str, folder: Path, base: Any, gguf_file: str | None) -> str:
    if kind == "adapter":
        return (
            "```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            f"base = AutoModelForCausalLM.from_pretrained({str(base)!r})\n"
            f"model = PeftModel.from_pretrained(base, {str(folder)!r})\n"
            f"tok = AutoTokenizer.from_pretrained({str(folder)!r})\n```\n"
        )
    if gguf_file:
        return (
            f"transformers (dequantizes):\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            f"model = AutoModelForCausalLM.from_pretrained({str(folder)!r}, gguf_file={gguf_file!r})\n"
            f"tok = AutoTokenizer.from_pretrained({str(folder)!r}, gguf_file={gguf_file!r})\n```\n"
            f"llama.cpp:\n```bash\nllama-cli -m {folder / gguf_file} -cnv\n```\n"
            f"llama-cpp-python:\n```python\nfrom llama_cpp import Llama\n"
            f"llm = Llama(model_path={str(folder / gguf_file)!r})\n"
            'llm.create_chat_completion(messages=[{"role": "user", "content": "Hello"}])\n```\n'
            f"Ollama:\n```bash\ncd {folder} && ollama create my-model -f Modelfile && ollama run my-model\n```\n"
        )
    return (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"model = AutoModelForCausalLM.from_pretrained({str(folder)!r})\n"
        f"tok = AutoTokenizer.from_pretrained({str(folder)!r})\n```\n"
        "PEFT: this folder is a whole model (the adapter is merged in); load it with transformers as above.\n"
        "llama.cpp and Ollama: export it as GGUF "
        f"(`python -m core.train.export {folder.parent.parent} --gguf q8_0`).\n"
    )


def write(folder: Path, run_dir: Path, kind: str, gguf_file: str | None = None) -> Path:
    """Write folder/README.md for the export of run_dir; returns its path."""
    config = _config(run_dir)
    base = models.resolve(config["model"]) if config.get("model") else "-"
    score_lines, keys = _scores(run_dir.name, config)
    arena_lines = _arena(keys) if keys else []
    hyper = [f"- {k}: {config[k]}" for k in HYPERPARAMETERS if k in config]
    text = "\n".join(
        [
            f"# {run_dir.name} ({kind} export)",
            "",
            f"- base model: {config.get('model', '-')}",
            f"- method: {config.get('method') or summary.read_summary(run_dir).get('method', '-')}",
            f"- dataset: {_dataset(config)}",
            "",
            "## Hyperparameters",
            *(hyper or ["- not recorded"]),
            "",
            "## Training",
            *_training(run_dir),
            "",
            "## Evaluation",
            *(score_lines or ["- no evaluation scores recorded for this run"]),
            "",
            "## Arena rating",
            *(arena_lines or ["- no arena votes for this run"]),
            "",
            "## Loading",
            _loading(kind, folder, base, gguf_file),
        ]
    )
    path = folder / rundir.CARD
    path.write_text(text)
    return path
