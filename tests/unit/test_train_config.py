"""core.train.config: the guide's presets, every problem named, the YAML round trip, help on every field.

Run: `.venv/bin/pytest tests/unit/test_train_config.py -q`.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from core.config import help_of
from core.train import config
from core.train.config import METHODS, PROFILES, TrainConfig

# The guide's scripts, read off its text: both use 3 epochs, batch 4, accumulation 4.
GUIDE_SHARED = {"num_train_epochs": 3, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4}
GUIDE = {
    # "Full Training Script": learning_rate=2e-5, weight_decay=0.01, warmup_steps=100
    "full": {"learning_rate": 2e-5, "weight_decay": 0.01, "warmup_steps": 100, "load_in_4bit": False},
    # LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, q/k/v/o) with learning_rate=2e-4, warmup_steps=50
    "lora": {
        "learning_rate": 2e-4,
        "warmup_steps": 50,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "load_in_4bit": False,
    },
    # BitsAndBytesConfig(load_in_4bit=True, nf4, bfloat16 compute, double quantisation) on top of LoRA
    "qlora": {
        "learning_rate": 2e-4,
        "warmup_steps": 50,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_use_double_quant": True,
    },
}


@pytest.mark.parametrize("method", METHODS)
def test_presets_are_the_guides_numbers(method):
    cfg = config.preset(method)
    assert cfg.method == method
    for name, value in {**GUIDE_SHARED, **GUIDE[method]}.items():
        assert getattr(cfg, name) == value, name


def test_a_preset_takes_overrides_and_refuses_an_unknown_method():
    assert config.preset("lora", lora_r=8).lora_r == 8
    with pytest.raises(ValueError, match="unknown method 'dora'"):
        config.preset("dora")


@pytest.mark.parametrize("method", METHODS)
def test_every_preset_with_a_dataset_can_launch(method):
    assert config.problems(config.preset(method, dataset_version=1)) == []


BAD = [
    ({"method": "dora"}, "method must be one of"),
    ({"dataset_version": None}, "choose a dataset version"),
    ({"learning_rate": 0.0}, "learning_rate must be above 0"),
    ({"learning_rate": 0.05}, "will diverge"),
    ({"num_train_epochs": 0.0}, "num_train_epochs must be above 0"),
    ({"per_device_train_batch_size": 0}, "per_device_train_batch_size must be at least 1"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps must be at least 1"),
    ({"max_length": 8}, "max_length must be at least 16"),
    ({"lora_dropout": 1.0}, "lora_dropout must be in [0, 1)"),
    ({"lora_dropout": -0.1}, "lora_dropout must be in [0, 1)"),
    ({"eval_strategy": "never"}, "eval_strategy must be epoch or steps"),
    ({"save_strategy": "always"}, "save_strategy must be epoch or steps"),
    ({"lr_scheduler_type": "cyclic"}, "lr_scheduler_type must be linear, cosine or constant"),
    ({"accelerate_profile": "tpu_pod"}, "accelerate_profile must be one of"),
    ({"lora_r": 0}, "lora_r must be at least 1"),
    ({"target_modules": []}, "target_modules must name at least one module"),
    ({"load_in_4bit": True}, "load_in_4bit is for qlora"),
]


@pytest.mark.parametrize(
    "change, message", BAD, ids=[next(iter(c)) + "=" + str(next(iter(c.values()))) for c, _ in BAD]
)
def test_problems_names_each_bad_value(change, message):
    cfg = dataclasses.replace(config.preset("lora", dataset_version=1), **change)
    found = config.problems(cfg)
    assert len(found) == 1 and message in found[0], found


def test_qlora_without_4bit_and_max_steps_instead_of_epochs():
    qlora = dataclasses.replace(config.preset("qlora", dataset_version=1), load_in_4bit=False)
    assert config.problems(qlora) == ["qlora needs load_in_4bit: true"]
    by_steps = config.preset("lora", dataset_version=1, num_train_epochs=0, max_steps=10)
    assert config.problems(by_steps) == []  # max_steps alone bounds the run
    full = config.preset("full", dataset_version=1, lora_r=0, target_modules=[])
    assert config.problems(full) == []  # adapter settings do not matter for full fine-tuning


def test_a_train_file_stands_in_for_a_dataset_version():
    assert config.problems(config.preset("lora", train_file="train.jsonl")) == []


def test_several_problems_are_all_listed():
    cfg = config.preset("lora", dataset_version=1, learning_rate=0.0, max_length=1, lora_r=0)
    assert len(config.problems(cfg)) == 3


@pytest.mark.parametrize("method", METHODS)
def test_yaml_round_trip(method):
    cfg = config.preset(
        method,
        dataset_version=7,
        model="/models/x",
        accelerate_profile=PROFILES[0],
        target_modules=["q_proj", "v_proj"],
        resume_from="/runs/a/checkpoints/step-3",
    )
    assert config.from_yaml(config.to_yaml(cfg)) == cfg


def test_a_runs_spec_yaml_reads_back_its_config():
    cfg = config.preset("qlora", dataset_version=2, num_train_epochs=1.5)
    spec = {"id": "r1", "kind": "train", "argv": ["python"], "config": cfg.to_dict()}
    assert config.from_yaml(yaml.safe_dump(spec)) == cfg


def test_bad_yaml_is_refused_in_words():
    with pytest.raises(ValueError, match="unknown setting"):
        config.from_yaml("learning_rate: 1e-4\nlearnig_rate: 2e-4\n")
    with pytest.raises(ValueError, match="mapping"):
        config.from_yaml("- just\n- a list\n")
    assert config.from_yaml("") == TrainConfig()  # an empty file is every default


def test_every_field_has_help_text():
    for f in dataclasses.fields(TrainConfig):
        assert len(f.metadata.get("help", "")) > 10, f.name
        assert help_of(TrainConfig)[f.name] == f.metadata["help"]
