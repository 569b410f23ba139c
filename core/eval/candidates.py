"""Candidates: what can answer an evaluation prompt (base model, few-shot, a trained run, an API).

A Candidate is plain data (no torch here; pages import it): the generation worker in
core.eval.generate turns it into a model. `.key` names the candidate by what makes its answers
(not by its label), so cached generations survive a relabel. `fewshot_messages` is the guide's
"try few-shot first": k worked examples from the train split ahead of the prompt.
Test: `.venv/bin/pytest tests/unit/test_candidates.py -q`.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core import jobs
from core.chat import prompt_and_reference
from core.config import strict_from_dict
from core.jobs import rundir
from core.models import DEFAULT_MODEL_ID

KINDS = ("base", "fewshot", "run", "openai")
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_LABEL = "SmolLM2-135M"  # the embedded model's short name in labels
# A stopped run that saved final/ is as usable as a finished one.
USABLE_STATES = ("succeeded", "stopped")


@dataclass(frozen=True)
class Candidate:
    kind: str
    model: str = ""
    label: str = ""
    run_id: str | None = None
    k: int = 0
    seed: int = 0
    base_url: str | None = None
    api_key_env: str = DEFAULT_KEY_ENV  # the variable's name only; the key itself is never stored

    @property
    def key(self) -> str:
        """A short id from the fields that decide the answers (label and key variable excluded)."""
        defining = [self.kind, self.model, self.run_id, self.k, self.seed, self.base_url]
        return hashlib.sha256(json.dumps(defining).encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Candidate:
        cand = strict_from_dict(cls, data, "candidate field(s)")
        if cand.kind not in KINDS:
            raise ValueError(f"candidate kind must be one of {', '.join(KINDS)}, not {cand.kind!r}")
        return cand


def _short_name(model: str) -> str:
    return DEFAULT_LABEL if model == DEFAULT_MODEL_ID else (Path(str(model)).name or str(model))


def base(model: str = DEFAULT_MODEL_ID) -> Candidate:
    return Candidate("base", str(model), f"{_short_name(str(model))} (base)")


def fewshot(model: str = DEFAULT_MODEL_ID, k: int = 3, seed: int = 0) -> Candidate:
    if k < 1:
        raise ValueError(f"few-shot needs at least one example (k >= 1), not k={k}")
    label = f"{_short_name(str(model))} few-shot (k={k})"
    return Candidate("fewshot", str(model), label, k=int(k), seed=int(seed))


def openai(model: str, base_url: str | None = None, api_key_env: str = DEFAULT_KEY_ENV) -> Candidate:
    if not model.strip():
        raise ValueError("an API candidate needs a model name, e.g. gpt-4o-mini")
    where = "OpenAI" if not base_url else base_url
    name = model.strip()
    key_env = api_key_env or DEFAULT_KEY_ENV
    return Candidate("openai", name, f"{name} ({where})", base_url=base_url or None, api_key_env=key_env)


def _run_label(run_id: str, method: str, title: str) -> str:
    # The default run title already starts with the method ("lora · model · v3"); do not repeat it.
    if not title or title == method:
        return f"Run {run_id}: {method}"
    return f"Run {run_id}: {title}" if title.startswith(method) else f"Run {run_id}: {method} · {title}"


def from_run(run_id: str) -> Candidate:
    """A finished (or stopped-and-saved) local training run; ValueError saying why not otherwise."""
    folder = rundir.run_dir(run_id)
    if not (folder / rundir.SPEC).is_file():
        raise ValueError(f"no run {run_id} (no {folder / rundir.SPEC})")
    spec = rundir.read_spec(folder) or {}
    if spec.get("kind") != "train":
        raise ValueError(f"run {run_id} is a {spec.get('kind')!r} job, not a training run")
    state = jobs.status(run_id).state
    final = folder / rundir.FINAL
    remote = (spec.get("meta") or {}).get("provider") == "openai"  # a hosted run leaves no final/ folder
    if state not in USABLE_STATES:
        raise ValueError(f"run {run_id} is {state}; only a finished run has a model to evaluate")
    if not remote and (not final.is_dir() or not any(final.iterdir())):
        raise ValueError(f"run {run_id} ended ({state}) without saving a model (no final/ folder)")
    config = spec.get("config") or {}
    summary = rundir.read_json(folder / rundir.SUMMARY) or {}
    if remote:
        return _remote_run(run_id, spec, summary, state)
    method = summary.get("method") or config.get("method") or "run"
    model = str(config.get("model") or summary.get("model") or "")
    return Candidate("run", model, _run_label(run_id, method, spec.get("title", "")), run_id=run_id)


def _remote_run(run_id: str, spec: dict, summary: dict, state: str) -> Candidate:
    """A hosted fine-tuning run: its fine-tuned model, asked through the same API it was trained on."""
    model = summary.get("fine_tuned_model")
    if state != "succeeded" or not model:
        raise ValueError(f"run {run_id} is {state} and has no fine-tuned model to evaluate")
    cand = openai(model, (spec.get("meta") or {}).get("base_url"))
    return replace(cand, label=f"Run {run_id}: {model}")


def available() -> list[Candidate]:
    """The embedded base model, its few-shot variant, and every usable run (local or hosted), newest first."""
    runs = []
    for run in jobs.list_runs("train"):  # list_runs is newest first: ids start with the time
        if run.state in USABLE_STATES:
            try:
                runs.append(from_run(run.id))
            except ValueError:
                continue  # stopped before it saved a model
    # Base versus tuned needs each local run's own base, not only the embedded model.
    bases = dict.fromkeys(c.model for c in runs if c.kind == "run" and c.model and c.model != DEFAULT_MODEL_ID)
    return [base(), fewshot(), *(base(m) for m in bases), *runs]


def _worked_example(example: dict) -> list[dict] | None:
    """An example's non-system turns ending in its answer; None if it does not end with one."""
    messages = example.get("messages") if isinstance(example, dict) else None
    if not messages or messages[-1].get("role") != "assistant":
        return None
    prompt, answer = prompt_and_reference(example)
    turns = [{"role": m["role"], "content": m.get("content") or ""} for m in prompt if m.get("role") != "system"]
    return [*turns, {"role": "assistant", "content": answer}]


def fewshot_messages(prompt_messages: list[dict], train_examples: list[dict], k: int, seed: int) -> list[dict]:
    """System message first (if any), k worked examples as user/assistant turns, then the prompt."""
    shots = [w for w in (_worked_example(e) for e in train_examples) if w]
    chosen = random.Random(seed).sample(shots, min(k, len(shots)))
    system = [m for m in prompt_messages[:1] if m.get("role") == "system"]
    rest = prompt_messages[len(system) :]
    return [*system, *(turn for shot in chosen for turn in shot), *rest]


def prompt_for(candidate: Candidate, messages: list[dict], train: list[dict]) -> list[dict]:
    """What the candidate is sent for a prompt: few-shot candidates get their worked examples first."""
    if candidate.kind != "fewshot":
        return messages
    return fewshot_messages(messages, train, candidate.k, candidate.seed)


def prompts_for(candidate: Candidate, examples: list[dict], train: list[dict]) -> list[list[dict]]:
    """The prompt of every example (its messages before the answer); ValueError naming a bad one."""
    out = []
    for i, example in enumerate(examples):
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"example {i} has no 'messages' list")
        out.append(prompt_for(candidate, prompt_and_reference(example)[0], train))
    return out
