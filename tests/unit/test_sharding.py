"""Sharding in the memory estimate and the pre-flight: FSDP and ZeRO-3 divide weights, gradients and optimizer
states by the world size, ZeRO-2 gradients and optimizer states, DDP nothing; a run too big for one GPU is told
which profile makes it fit. Run: `.venv/bin/pytest tests/unit/test_sharding.py -q`.
"""

from __future__ import annotations

import pytest

from core import estimate, prices
from core.train import preflight
from core.train.config import preset
from core.train.device import Device

A = estimate.Assumptions()
SPLIT = {
    "fsdp": {"weights", "gradients", "optimizer"},
    "deepspeed_zero3": {"weights", "gradients", "optimizer"},
    "deepspeed_zero2": {"gradients", "optimizer"},
    "multi_gpu": set(),
}
TRAIN = [{"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]}] * 64


def full_13b() -> dict:
    return estimate.memory_gb(estimate.shape_by_hand(13e9), "full", 512, 4, A)


def test_one_rank_is_the_unsharded_estimate():
    mem = full_13b()
    for profile in SPLIT:
        assert estimate.per_rank(mem, profile, 1, A) == pytest.approx(mem)


@pytest.mark.parametrize("profile", list(SPLIT))
def test_each_profile_divides_its_own_terms_by_the_world_size(profile):
    mem, world = full_13b(), 4
    rank = estimate.per_rank(mem, profile, world, A)
    for term in ("weights", "gradients", "optimizer", "activations", "logits"):
        expected = mem[term] / world if term in SPLIT[profile] else mem[term]
        assert rank[term] == pytest.approx(expected), term
    assert rank["total"] == pytest.approx(sum(rank[t] for t in estimate.TERMS))
    assert (rank["total"] < mem["total"]) == bool(SPLIT[profile])


def test_the_fewest_ranks_that_fit():
    mem = full_13b()
    assert estimate.ranks_to_fit(mem, "multi_gpu", 80, A) == 0  # DDP holds everything on every GPU
    three = estimate.ranks_to_fit(mem, "fsdp", 80, A)
    assert (
        estimate.per_rank(mem, "fsdp", three, A)["total"] <= 80 < estimate.per_rank(mem, "fsdp", three - 1, A)["total"]
    )
    assert estimate.ranks_to_fit(mem, "deepspeed_zero2", 80, A) not in range(1, three + 1)  # whole weights on each


def pf(profile, gpus):
    device = Device("gpu", "NVIDIA H100 80GB HBM3", 80.0, gpus)
    rows = prices.table("gpu")
    return preflight.compute(preset("full", model="acme/Llama-13B", accelerate_profile=profile), TRAIN, device, rows)


def test_the_preflight_says_which_profile_makes_it_fit():
    alone = pf(None, 4)
    assert alone.verdict == "too big" and alone.verdict_message.endswith("fits with fsdp on 3 GPUs")
    ddp = pf("multi_gpu", 4)
    assert ddp.verdict == "too big" and "per GPU on 4 GPUs (multi_gpu)" in ddp.verdict_message
    sharded = pf("fsdp", 4)
    assert sharded.verdict == "fits" and "per GPU on 4 GPUs (fsdp)" in sharded.verdict_message
    assert sharded.plan.memory["full"]["weights"] == pytest.approx(alone.plan.memory["full"]["weights"] / 4)
    assert "Divided over 4 ranks (fsdp)" in sharded.plan.notes["full"]["weights"]
    short = pf(None, 2)
    assert "it needs 3 GPUs with fsdp, and this machine has 2" in short.verdict_message


def test_cpu_ranks_each_hold_a_copy_in_the_same_ram():
    cpu = Device("cpu", "this machine's CPU", 24.0, 1, 20.0)
    rows = prices.table("gpu")
    one = preflight.compute(preset("lora", model="acme/Llama-1B"), TRAIN, cpu, rows)
    two = preflight.compute(preset("lora", model="acme/Llama-1B", accelerate_profile="multi_gpu"), TRAIN, cpu, rows)
    assert (one.world, two.world) == (1, 2) and "for 2 processes" in two.verdict_message
    assert two.total_steps <= one.total_steps  # two ranks share each epoch
