"""The training configuration: one dataclass in the engines' own vocabulary, with help text.

Field names follow transformers/TRL/PEFT (`learning_rate`, `num_train_epochs`, `lora_r`, ...), so
the YAML in a run folder reads like the libraries' docs. `preset(method)` gives the guide's
settings; `problems(cfg)` lists what is wrong in plain words (the page shows them before Launch,
and the worker checks again). Test: `pytest tests/unit/test_train_config.py`.
Test: `pytest tests/unit/test_train_config.py`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

from core import templates
from core.config import option, strict_from_dict
from core.estimate import METHODS  # one list of methods: the estimate sizes each, the recipe trains each
from core.models import DEFAULT_MODEL_ID
from core.train import tracking

OBJECTIVES = ("sft", "dpo")
LOSS_TYPES = ("sigmoid", "ipo")
PROFILES = ("single_gpu", "multi_gpu", "fsdp", "deepspeed_zero2", "deepspeed_zero3")


@dataclass
class TrainConfig:
    # what to train, on what
    model: str = option(
        DEFAULT_MODEL_ID, "Base model: the embedded SmolLM2-135M-Instruct, a hub id, or a local folder."
    )
    method: str = option("lora", "full: every weight; lora: small adapters; qlora: adapters on a 4-bit base.")
    objective: str = option(
        "sft", "What is learned: sft (supervised, chat examples) or dpo (preference pairs: chosen over rejected)."
    )
    init_from_run: str | None = option(
        None, "Start from a finished run's model (its LoRA adapter merged into its base, or its full model)."
    )
    dataset_version: int | None = option(None, "Dataset version id (with a train/validation split) to train on.")
    train_file: str | None = option(None, "Or a chat JSONL file to train on (instead of a dataset version).")
    validation_file: str | None = option(None, "Chat JSONL for validation loss (with train_file).")
    # optimisation
    num_train_epochs: float = option(
        3.0, "Passes over the training split. The guide: 2-4 is typical; more risks overfitting."
    )
    max_steps: int = option(-1, "Stop after this many optimizer steps (-1: run all epochs).")
    learning_rate: float = option(
        2e-4, "Peak learning rate. The guide: LoRA 1e-4 to 5e-4; full fine-tuning 1e-5 to 5e-5."
    )
    per_device_train_batch_size: int = option(4, "Examples per forward pass on each device.")
    gradient_accumulation_steps: int = option(
        4, "Forward passes per optimizer step (effective batch = batch x this x GPUs)."
    )
    weight_decay: float = option(0.0, "AdamW weight decay (the guide uses 0.01 for full fine-tuning).")
    warmup_steps: int = option(50, "Steps of linear learning-rate warm-up (capped at a tenth of the run).")
    lr_scheduler_type: str = option("linear", "Learning-rate schedule after warm-up: linear or cosine or constant.")
    max_grad_norm: float = option(1.0, "Clip gradients to this norm (0: no clipping).")
    max_length: int = option(1024, "Longest example in tokens; longer ones are truncated (counted and reported).")
    assistant_only_loss: bool = option(
        True, "Learn only the assistant's tokens (off: learn every token, prompt included)."
    )
    chat_template: str = option(
        "model",
        'How examples are rendered: "model" (the model\'s own chat template) or "tools" (the workbench\'s '
        "ChatML template with tools, tool calls and tool results in the Hermes/Qwen2.5 form; choose it for "
        "tool-calling data when the model's own template drops them, as SmolLM2's does).",
    )
    gradient_checkpointing: bool = option(
        False, "Recompute activations in the backward pass: much less memory, ~30% slower."
    )
    bf16: bool = option(True, "Compute in bfloat16 where the hardware supports it (CPU and recent GPUs).")
    seed: int = option(42, "Random seed for initialisation, shuffling and dropout.")
    # LoRA / QLoRA (PEFT names)
    lora_r: int = option(16, "LoRA rank: 8-64; higher means more capacity and memory.")
    lora_alpha: int = option(32, "LoRA scaling factor, typically 2x the rank.")
    lora_dropout: float = option(0.05, "Dropout on the LoRA path (0.05-0.1 fights overfitting).")
    target_modules: list[str] = option(
        ["q_proj", "k_proj", "v_proj", "o_proj"],
        "Modules that get adapters (the guide: attention projections).",
    )
    # QLoRA (bitsandbytes names)
    load_in_4bit: bool = option(False, "Load the base model in 4-bit (QLoRA).")
    bnb_4bit_quant_type: str = option("nf4", "4-bit data type: nf4 (the guide) or fp4.")
    bnb_4bit_compute_dtype: str = option("bfloat16", "Dtype for 4-bit matmuls.")
    bnb_4bit_use_double_quant: bool = option(
        True, "Quantize the quantization constants too (saves ~0.4 bits per weight)."
    )
    # DPO (TRL's names)
    beta: float = option(0.1, "DPO: how far the model may move from the reference (higher: closer to it).")
    loss_type: str = option("sigmoid", "DPO loss: sigmoid (the DPO paper) or ipo (bounded margins, less overfitting).")
    max_prompt_length: int = option(512, "DPO: longest prompt in tokens; longer prompts lose their start (counted).")
    # evaluation, early stopping, saving
    eval_strategy: str = option("epoch", "When to compute validation loss: epoch or steps.")
    eval_steps: int = option(50, "With eval_strategy=steps: every this many optimizer steps.")
    early_stopping_patience: int = option(2, "Stop after this many evaluations without improvement (0: never).")
    early_stopping_threshold: float = option(0.0, "Smallest drop in validation loss that counts as improvement.")
    logging_steps: int = option(1, "Write a metrics row every this many optimizer steps.")
    save_strategy: str = option("epoch", "When to save a resumable checkpoint: epoch or steps.")
    save_steps: int = option(100, "With save_strategy=steps: every this many optimizer steps.")
    load_best_model_at_end: bool = option(True, "Keep the weights of the evaluation with the lowest validation loss.")
    sample_generations: int = option(3, "After training, generate answers to this many validation prompts.")
    accelerate_profile: str | None = option(None, "Multi-GPU: a profile of configs/accelerate (none: one process).")
    resume_from: str | None = option(None, "A checkpoint folder to continue from (set by Resume).")
    # experiment tracking (transformers' TrainingArguments names; core/train/tracking.py)
    report_to: list[str] = option(
        [], "Also log metrics, config and tags to: tensorboard, mlflow, trackio (local files in the run folder)."
    )
    tracking_uri: str = option("", "An MLflow or trackio server URL to log to instead of local files (empty: local).")
    run_name: str = option("", "The run's name in the trackers (empty: the run's title).")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


GUIDE_PRESETS: dict[str, dict[str, Any]] = {
    # The guide's full fine-tuning script: lr 2e-5, weight decay 0.01, warm-up 100, batch 4 x 4.
    "full": {"method": "full", "learning_rate": 2e-5, "weight_decay": 0.01, "warmup_steps": 100},
    # The guide's LoRA/QLoRA settings: lr 2e-4, r 16, alpha 32, dropout 0.05, q/k/v/o, warm-up 50.
    "lora": {"method": "lora", "learning_rate": 2e-4, "warmup_steps": 50},
    "qlora": {"method": "qlora", "learning_rate": 2e-4, "warmup_steps": 50, "load_in_4bit": True},
}


def preset(method: str, **overrides: Any) -> TrainConfig:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return TrainConfig(**{**GUIDE_PRESETS[method], **overrides})


def from_dict(data: dict[str, Any]) -> TrainConfig:
    return strict_from_dict(TrainConfig, data, "setting(s)")


def to_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def from_yaml(text: str) -> TrainConfig:
    """A config YAML, or a run's spec.yaml (whose `config` key holds it)."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError("the YAML must be a mapping of setting: value")
    return from_dict(data.get("config", data))


def problems(cfg: TrainConfig) -> list[str]:
    """Everything that would stop this run, in plain words; empty when it can launch."""
    out = []
    if cfg.method not in METHODS:
        out.append(f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
    if cfg.dataset_version is None and not cfg.train_file:
        out.append("choose a dataset version (or a train_file)")
    checks = [
        (cfg.learning_rate > 0, "learning_rate must be above 0"),
        (
            cfg.learning_rate < 1e-2,
            "learning_rate of 1e-2 or more will diverge; the guide's ranges are 1e-5 to 5e-4",
        ),
        (cfg.num_train_epochs > 0 or cfg.max_steps > 0, "num_train_epochs must be above 0"),
        (cfg.per_device_train_batch_size >= 1, "per_device_train_batch_size must be at least 1"),
        (cfg.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be at least 1"),
        (cfg.max_length >= 16, "max_length must be at least 16 tokens"),
        (cfg.chat_template in templates.CHOICES, f"chat_template must be one of {', '.join(templates.CHOICES)}"),
        (0 <= cfg.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
        (cfg.eval_strategy in ("epoch", "steps"), "eval_strategy must be epoch or steps"),
        (cfg.save_strategy in ("epoch", "steps"), "save_strategy must be epoch or steps"),
        (
            cfg.lr_scheduler_type in ("linear", "cosine", "constant"),
            "lr_scheduler_type must be linear, cosine or constant",
        ),
        (
            cfg.accelerate_profile in (None, *PROFILES),
            f"accelerate_profile must be one of {', '.join(PROFILES)}",
        ),
    ]
    out += [msg for ok, msg in checks if not ok]
    out += tracking.config_problems(cfg.report_to, cfg.tracking_uri)
    if cfg.method in ("lora", "qlora"):
        if cfg.lora_r < 1:
            out.append("lora_r must be at least 1")
        if not cfg.target_modules:
            out.append("target_modules must name at least one module")
    out += dpo_problems(cfg)
    if cfg.method == "qlora" and not cfg.load_in_4bit:
        out.append("qlora needs load_in_4bit: true")
    if cfg.method != "qlora" and cfg.load_in_4bit:
        out.append("load_in_4bit is for qlora; choose method qlora or turn it off")
    return out


def dpo_problems(cfg: TrainConfig) -> list[str]:
    """The objective and DPO's own settings, in plain words."""
    if cfg.objective not in OBJECTIVES:
        return [f"objective must be one of {', '.join(OBJECTIVES)}, not {cfg.objective!r}"]
    if cfg.objective != "dpo":
        return []
    checks = [
        (cfg.beta > 0, "beta must be above 0 (TRL's default is 0.1)"),
        (cfg.loss_type in LOSS_TYPES, f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {cfg.loss_type!r}"),
        (cfg.max_prompt_length >= 8, "max_prompt_length must be at least 8 tokens"),
        (
            cfg.max_prompt_length < cfg.max_length,
            f"max_prompt_length ({cfg.max_prompt_length}) must be below max_length ({cfg.max_length}): "
            "the answers need room",
        ),
    ]
    return [msg for ok, msg in checks if not ok]
