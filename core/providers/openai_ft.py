"""OpenAI (hosted) fine-tuning as a training backend: the job, its checks, its cost, its launch.

`OpenAIJob` is the request in OpenAI's vocabulary (model, suffix, seed and the three
hyperparameters, each "auto" or a number) on a dataset version's train/validation split;
`problems(job)` says what must change before it can run; `estimate(job)` counts billed tokens
and dollars with the dated price row (core.costs, core.prices); `launch(job, api_key)` starts a
"train" job whose worker (core.providers.openai_worker) uploads the split, creates the job on
OpenAI or any OpenAI-compatible service (base_url), and follows it into the run folder. The key
reaches the worker only through its environment, never a file. `explain(exc)` turns the client's
errors into plain words (a 403 names OpenAI's wind-down dates and the local ways to train),
`transient(exc)` says which ones the worker retries, `scrub(text)` hides a key.
A RemoteProvider (core.providers): `name`, `label`, `service`, `job_cls`, `worker`, `owns(meta)`.
Run: `python -m core.providers.openai_worker RUN_DIR` (what launch starts; needs OPENAI_API_KEY).
Test: `.venv/bin/pytest tests/jobs/test_openai_provider.py tests/app/test_train_openai.py -q`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

from core import costs, jobs, openai_spec, prices, tokens
from core.config import option, strict_from_dict
from core.data import io, preference, versions
from core.openai_spec import AUTO, HYPERPARAMETERS, MIN_EXAMPLES

DEFAULT_BASE_URL = "https://api.openai.com/v1"
AZURE_URL = "https://<resource>.openai.azure.com/openai/v1/"
RATE_LIMIT_BUDGET_S = 30 * 60  # rate limits in a row are retried this long before a run fails
KEY_SHAPE = re.compile(r"sk-[A-Za-z0-9_\-]{6,}")  # an OpenAI key, even one we were not given
# OpenAI's deprecation stages, from its notice of 2026-05-07 (https://platform.openai.com/docs/deprecations).
WIND_DOWN = (
    "OpenAI is winding down self-serve fine-tuning: organisations that had never fine-tuned lost job "
    "creation on 2026-05-07, those without fine-tuned-model inference in the prior 60 days on 2026-07-02, "
    "and everyone loses it from 2027-01-06 (models already tuned keep serving until their base model "
    "retires). To fine-tune here instead, use LoRA or QLoRA on the Train page (Local backend), or the "
    "local server (python -m core.server) for the same API."
)
# What core.providers.RemoteProvider asks of a provider module.
name = "openai"
label = "OpenAI (hosted)"
service = "OpenAI"
worker = "core.providers.openai_worker"  # run as `python -m` with the run folder
MESSAGE_KEYS = ("role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call")
EXAMPLE_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
PAIR_KEYS = ("input", "preferred_output", "non_preferred_output")
METHOD_TYPES = ("supervised", "dpo")


@dataclass
class OpenAIJob:
    model: str = option(
        "gpt-4o-mini-2024-07-18",
        "The OpenAI model to fine-tune (a dated snapshot from the price table). On Azure OpenAI, the "
        "model name the resource offers for fine-tuning.",
    )
    dataset_version: int | None = option(
        None,
        "Dataset version id with a train/validation split: train is uploaded as the training "
        "file, validation (if any) as the validation file.",
    )
    suffix: str | None = option(
        None,
        "Up to 64 letters, digits, '.', '_' or '-'; it becomes part of the fine-tuned model's "
        "name (ft:model:org:SUFFIX:id).",
    )
    seed: int | None = option(None, "Same seed and settings give (nearly) the same model; empty: OpenAI picks one.")
    n_epochs: int | str = option(
        AUTO,
        "Passes over the training file, 1 to 50, or auto (OpenAI picks by dataset size; the guide: "
        "2-4 is typical, more risks overfitting).",
    )
    batch_size: int | str = option(
        AUTO, "Examples per step, 1 to 256, or auto (OpenAI picks about 0.2% of the examples)."
    )
    learning_rate_multiplier: float | str = option(
        AUTO,
        "Scales OpenAI's base learning rate, or auto. Smaller values (0.5) help against overfitting; "
        "larger ones (2) help a model that learns too little.",
    )
    method_type: str = option(
        "supervised",
        "OpenAI's method.type: supervised (a chat version's examples) or dpo (a preference version's pairs).",
    )
    beta: float | str = option(AUTO, "DPO only: how far the model may move from the reference, or auto.")
    base_url: str | None = option(
        None,
        "Empty: api.openai.com. Any OpenAI-compatible service by its /v1 URL: Azure OpenAI as "
        f"{AZURE_URL} (its v1 API, with the resource's key), or the workbench's own local server as "
        "http://127.0.0.1:8000/v1 (python -m core.server).",
    )
    poll_interval_s: float = option(5.0, "Seconds between status checks while the job runs.")


job_cls = OpenAIJob


def owns(meta: dict[str, Any]) -> bool:
    """A run this provider launched: its meta names the provider."""
    return meta.get("provider") == name


def from_dict(data: dict[str, Any]) -> OpenAIJob:
    return strict_from_dict(OpenAIJob, data, "OpenAI job setting(s)")


def auto_or_number(text: Any) -> int | float | str:
    """A typed "auto", "3", "3.0" or "0.5" as "auto", 3, 3 or 0.5; anything else stays text for problems()."""
    value = str(text if text is not None else "").strip()
    if value.lower() in ("", AUTO):
        return AUTO
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number  # n_epochs and batch_size must be integers


def hyperparameters(job: OpenAIJob) -> dict[str, Any]:
    """The three hyperparameters as OpenAI types them: whole numbers as int, the multiplier as float."""
    out = {}
    for name, (whole, _low, _high) in HYPERPARAMETERS.items():
        value = getattr(job, name)
        value = AUTO if value is None else value  # left out of a YAML: OpenAI decides, as with "auto"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and whole and float(value).is_integer():
            value = int(value)
        elif number and not whole:
            value = float(value)
        out[name] = value
    return out


# ---- checks -------------------------------------------------------------------------------------


def _dataset_problems(version_id: Any) -> list[str]:
    if version_id is None:
        return ["dataset_version: pick a dataset version with a train/validation split"]
    try:  # the split's size is in the version's row: the examples are read once, by estimate
        version = versions.get(int(version_id))
        if not version.splits:
            versions.split_examples(version)  # raises, in the words the page shows
        n = len(version.splits.get("train", []))
    except (KeyError, ValueError, TypeError) as e:
        return [f"dataset_version: {e.args[0] if isinstance(e, KeyError) else e}"]
    if n < MIN_EXAMPLES:
        return [
            f"the train split has {n} example(s); OpenAI requires at least {MIN_EXAMPLES} (gains usually "
            "start at 50-100): make a larger split on the Data page"
        ]
    return []


def _request_problems(job: OpenAIJob) -> list[str]:
    found = [] if str(job.model or "").strip() else ["model: choose a model to fine-tune"]
    found += [p for p in (openai_spec.suffix_problem(job.suffix), openai_spec.seed_problem(job.seed)) if p]
    url = (job.base_url or "").strip()
    if url and (not url.startswith(("http://", "https://")) or " " in url):
        found.append(f"base_url must start with http:// or https:// (for example {AZURE_URL}), not {url!r}")
    poll = job.poll_interval_s
    if not (isinstance(poll, int | float) and not isinstance(poll, bool) and 0.05 <= poll <= 600):
        found.append(f"poll_interval_s must be from 0.05 to 600 seconds, not {poll!r}")
    return found


def _method_problems(job: OpenAIJob) -> list[str]:
    if job.method_type not in METHOD_TYPES:
        return [f"method_type must be one of {', '.join(METHOD_TYPES)}, not {job.method_type!r}"]
    beta = job.beta
    if job.method_type == "dpo" and not (beta == AUTO or (isinstance(beta, int | float) and beta > 0)):
        return [f"beta must be auto or a number above 0, not {beta!r}"]
    try:
        kind = versions.get(int(job.dataset_version)).kind
    except (KeyError, ValueError, TypeError):
        return []  # the dataset check names it
    if (kind == "preference") != (job.method_type == "dpo"):
        need = "a preference version" if job.method_type == "dpo" else "a chat version (or method_type dpo)"
        return [f"method_type {job.method_type} trains on {need}; this version holds {kind} examples"]
    return []


def problems(job: OpenAIJob) -> list[str]:
    """Everything that must change before the job can be sent (the page and the worker both check)."""
    hyper = openai_spec.hyperparameter_problems({name: getattr(job, name) for name in HYPERPARAMETERS})
    found = _request_problems(job) + [message for _, message in hyper] + _method_problems(job)
    return found + _dataset_problems(job.dataset_version)


def method(job: OpenAIJob) -> dict[str, Any]:
    """OpenAI's `method` for fine_tuning.jobs.create: its type and that type's hyperparameters."""
    hp = hyperparameters(job)  # integers where OpenAI specifies integers, even typed as 3.0
    if job.method_type == "dpo":
        hp["beta"] = job.beta if job.beta == AUTO else float(job.beta)
    return {"type": job.method_type, job.method_type: {"hyperparameters": hp}}


# ---- data and cost ------------------------------------------------------------------------------


def openai_records(examples: list[dict]) -> list[dict]:
    """Examples in OpenAI's chat format only: our own bookkeeping keys would fail its file checks."""
    out = []
    for ex in examples:
        record = {k: ex[k] for k in EXAMPLE_KEYS if k in ex}
        record["messages"] = [
            {k: m[k] for k in MESSAGE_KEYS if k in m} if isinstance(m, dict) else m for m in ex.get("messages") or []
        ]
        out.append(record)
    return out


def split_records(job: OpenAIJob) -> dict[str, list[dict]]:
    """The version's train and validation splits in OpenAI's chat or DPO format (the test split stays home)."""
    version = versions.get(int(job.dataset_version))
    split = versions.split_examples(version)
    if version.kind == "preference":  # the internal form is OpenAI's DPO record
        return {
            name: [{k: r[k] for k in PAIR_KEYS if k in r} for r in split[name]] for name in ("train", "validation")
        }
    return {name: openai_records(split[name]) for name in ("train", "validation")}


def split_files(job: OpenAIJob) -> dict[str, bytes]:
    """split_records as JSONL bytes (validation empty when the split has none)."""
    return {name: io.to_jsonl_bytes(rows) for name, rows in split_records(job).items()}


def price_row(model: str) -> dict[str, Any] | None:
    try:
        return prices.openai_row(model)
    except KeyError:
        return None


def estimate(job: OpenAIJob) -> dict[str, Any]:
    """Billed training tokens and dollars before launch (raises JsonlError on an unusable example).

    Tokens follow OpenAI's cookbook (o200k_base); "auto" epochs follow its default rule, which
    is what OpenAI applies to small datasets. Dollars use the dated price row of the model.
    """
    split = split_records(job)
    sent = preference.both_sides(split["train"]) if job.method_type == "dpo" else split["train"]  # both answers
    train, n_val = io.to_jsonl_bytes(sent), len(split["validation"])
    n_epochs = hyperparameters(job)["n_epochs"]  # 3.0 counts as 3 epochs, not "auto"
    epochs = n_epochs if isinstance(n_epochs, int) and not isinstance(n_epochs, bool) else None
    row = price_row(job.model)
    if row is None:  # no price row: count tokens, leave dollars unknown
        counts = costs.count_source(train, tokens.encoding_name_for(job.model))
        n_epochs = epochs or costs.default_epochs(len(counts))
        billed = n_epochs * sum(counts)
        return {
            "model": job.model,
            "examples": len(counts),
            "validation_examples": n_val,
            "tokens": sum(counts),
            "epochs": n_epochs,
            "epochs_rule": "set by you" if epochs else "OpenAI's default rule",
            "billed_tokens": billed,
            "over_limit": 0,
            "usd_per_1m": None,
            "training_usd": None,
            "price_as_of": None,
            "price_source": "no price row for this model (add one on the Costs page)",
        }
    est = costs.openai_costs(train, epochs, [row])
    r = est.rows[0]
    return {
        "model": job.model,
        "examples": est.examples,
        "validation_examples": n_val,
        "tokens": r["tokens"],
        "epochs": r["epochs"],
        "epochs_rule": est.epochs_rule,
        "billed_tokens": r["billed_tokens"],
        "over_limit": r["over_limit"],
        "usd_per_1m": r["usd_per_1m"],
        "training_usd": r["training_usd"],
        "price_as_of": row.get("as_of"),
        "price_source": row.get("source"),
        "encoding": r["encoding"],
    }


# ---- OpenAI's errors in plain words ----------------------------------------------------------


def scrub(text: str, secret: str = "") -> str:
    """The text with the key, and anything shaped like an OpenAI key, hidden."""
    if secret:
        text = text.replace(secret, "[API key hidden]")
    return KEY_SHAPE.sub("sk-[hidden]", text)


def their_words(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(getattr(exc, "message", "") or exc)


def explain(exc: BaseException, during: str = "") -> tuple[str, str]:
    """(failure kind, plain message) for an error of the OpenAI client."""
    import openai

    said, where = their_words(exc), f" while {during}" if during else ""
    if isinstance(exc, openai.PermissionDeniedError):
        what = "to create the job" if during in ("", "creating the job") else f"the request{where}"
        return "refused by OpenAI", f"OpenAI refused {what} (403: {said}). {WIND_DOWN}"
    if isinstance(exc, openai.AuthenticationError):
        return "invalid key", (
            f"OpenAI did not accept the API key{where} (401: {said}). Check OPENAI_API_KEY or the key typed on "
            "the Train page, and that it belongs to the organisation and project you meant; Azure OpenAI "
            f"needs the resource's key and the base URL {AZURE_URL}."
        )
    if isinstance(exc, openai.RateLimitError):
        if getattr(exc, "code", None) == "insufficient_quota":
            return (
                "no quota",
                f"OpenAI says the account has no quota left{where} ({said}). "
                "Add credit in the billing settings, then launch again.",
            )
        return (
            "rate limited",
            f"OpenAI kept answering 'rate limit reached'{where} for {RATE_LIMIT_BUDGET_S // 60} minutes ({said}). "
            "Wait, or ask for a higher limit, then launch again.",
        )
    if isinstance(exc, openai.BadRequestError):
        files = "file" in (exc.param or "") or "file" in during
        return ("bad data" if files else "bad request"), f"OpenAI refused the request{where}: {said}"
    if isinstance(exc, openai.NotFoundError):
        return (
            "not found",
            f"OpenAI found no such thing{where} (404: {said}). Check the model name, and that a base URL ends in /v1.",
        )
    if isinstance(exc, openai.APITimeoutError):
        return "network", f"No answer from OpenAI{where} in time ({said}); the run keeps retrying."
    if isinstance(exc, openai.APIConnectionError):
        return (
            "network",
            f"OpenAI could not be reached{where} ({said}): check the network or the base URL. The run keeps retrying.",
        )
    if isinstance(exc, openai.InternalServerError):
        return (
            "OpenAI server error",
            f"OpenAI had a server error{where} (HTTP {exc.status_code}: {said}); the run keeps retrying.",
        )
    if isinstance(exc, openai.APIStatusError):
        return "error", f"OpenAI answered HTTP {exc.status_code}{where}: {said}"
    return "error", f"{type(exc).__name__}{where}: {exc}"


def transient(exc: BaseException) -> str | None:
    """Words for an error worth retrying (network, 5xx, rate limit), None for one that is final."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return "network unreachable"
    if isinstance(exc, openai.InternalServerError):
        return f"OpenAI server error (HTTP {exc.status_code})"
    if isinstance(exc, openai.RateLimitError) and getattr(exc, "code", None) != "insufficient_quota":
        return "rate limited"
    return None


# ---- launch -------------------------------------------------------------------------------------


def launch(job: OpenAIJob, api_key: str, title: str = "") -> str:
    """Start the worker as a "train" job; returns the run id. ValueError listing every problem."""
    found = ([] if (api_key or "").strip() else ["no OpenAI API key"]) + problems(job)
    if found:
        raise ValueError("; ".join(found))
    job = replace(job, base_url=(job.base_url or "").strip() or None)
    version = versions.get(int(job.dataset_version))
    meta = {
        "method": "openai",
        "model": job.model,
        "dataset_version": job.dataset_version,
        "provider": name,
        "base_url": job.base_url,
    }
    argv = [sys.executable, "-m", worker, "{run_dir}"]
    return jobs.launch(
        "train",
        argv,
        title or f"openai · {job.model} · {version.label}",
        meta=meta,
        config=asdict(job),
        env={"OPENAI_API_KEY": api_key.strip()},
    )
