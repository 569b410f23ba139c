"""Cost and memory estimators: the epochs rule, token accounting, billed tokens, memory terms, the CLI.

Run: `.venv/bin/pytest tests/unit/test_costs.py -q`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from core import costs, estimate, tokens
from core.estimate import GIB, Assumptions, Shape
from core.jsonl import JsonlError

ROOT = Path(__file__).resolve().parents[2]

RECORDS = [
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Capital of France?", "name": "ana"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def hand_count(messages: list[dict]) -> int:
    # Cookbook framing: 3 per message, +1 for a name, +3 for the reply primer; the rest is text.
    enc = tokens.encoding("o200k_base")
    total = 3
    for m in messages:
        total += 3 + sum(tokens.count_text(v, enc) for v in m.values())
        total += 1 if "name" in m else 0
    return total


def run_cli(*args: str, module: str = "core.costs") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, 25),  # 3 < 100 -> min(25, 100 // 1 = 100) = 25
        (10, 10),  # 30 < 100 -> min(25, 100 // 10) = 10
        (33, 3),  # 99 < 100 -> min(25, 100 // 33 = 3) = 3
        (34, 3),  # 102 >= 100 -> the default 3
        (8333, 3),  # 24,999 <= 25,000 -> 3
        (8334, 2),  # 25,002 > 25,000 -> max(1, 25,000 // 8334 = 2)
        (10_000, 2),  # 30,000 > 25,000 -> max(1, 2)
        (30_000, 1),  # 25,000 // 30,000 = 0 -> max(1, 0) = 1
    ],
)
def test_default_epochs_rule(n, expected):
    assert costs.default_epochs(n) == expected


def test_default_epochs_rejects_no_examples():
    with pytest.raises(ValueError):
        costs.default_epochs(0)


def test_count_file_matches_hand_accounting(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    counts = costs.count_file(path)
    assert counts == [hand_count(r["messages"]) for r in RECORDS]
    # The framing alone for the second record: 3 + 3 + 3 = 9, plus its four short strings.
    assert counts[1] > 9


def test_billed_tokens_caps_each_example_at_the_limit():
    # 2 epochs x (10 + 50 + min(100, 200)) = 2 x 160 = 320
    assert costs.billed_tokens([10, 50, 200], 2, 100) == 320


def test_openai_costs_dollars_from_a_custom_row(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    counts = [hand_count(r["messages"]) for r in RECORDS]
    limit = counts[0] - 1  # the first example is cut by one token
    row = {"model": "gpt-4o-mini-test", "training": 2.0, "example_token_limit": limit}
    est = costs.openai_costs(path, None, [row])
    # 2 examples -> 2 x 3 = 6 < 100 -> min(25, 50) = 25 epochs
    billed = 25 * (limit + counts[1])
    assert (est.examples, est.epochs, est.tokens) == (2, 25, sum(counts))
    r = est.rows[0]
    assert (r["billed_tokens"], r["over_limit"]) == (billed, 1)
    assert r["training_usd"] == pytest.approx(billed * 2.0 / 1e6)
    assert costs.openai_costs(path, 4, [row]).rows[0]["billed_tokens"] == 4 * (limit + counts[1])


def test_uploaded_bytes_count_like_the_file(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    assert costs.count_source(path.read_bytes()) == costs.count_file(path)


@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        (['{"messages": [{"role": "user", "content": "hi"}]}', "{not json"], 2, "invalid JSON"),
        (['{"messages": [{"role": "user", "content": "hi"}]}', '{"prompt": "x"}'], 2, "keys found: prompt"),
        (['{"messages": []}'], 1, "non-empty list"),
        (['{"messages": ["hello"]}'], 1, "message 1"),
        (["[1, 2]"], 1, "JSON object"),
    ],
)
def test_bad_records_name_their_line(tmp_path, lines, line, words):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(JsonlError) as err:
        costs.count_file(path)
    assert err.value.line == line
    assert words in str(err.value)


# A made-up shape small enough to count by hand: hidden 8, 2 layers, MLP 16, 2 query heads of
# size 4, 1 key/value head (GQA), vocabulary 10, tied embeddings.
TINY = Shape("tiny", hidden=8, layers=2, intermediate=16, heads=2, kv_heads=1, vocab=10, tied=True)
# embeddings 10 x 8 = 80; per layer q 8x8 = 64, k 8x4 = 32, v 32, o 64 (192), gated MLP 3 x 8 x 16 = 384,
# two norms 16 -> 592; 2 layers 1184; final norm 8 -> 80 + 1184 + 8 = 1272.
TINY_PARAMS = 1272
# r = 2 on q/k/v/o: q 2 x (8 + 8) = 32, k 2 x (8 + 4) = 24, v 24, o 32 -> 112 per layer, 224 in all.
TINY_ADAPTERS = 224


def test_tiny_shape_counts_by_hand():
    assert estimate.count_params(TINY) == TINY_PARAMS
    assert estimate.adapter_params(TINY, Assumptions(lora_r=2)) == TINY_ADAPTERS


def test_lora_memory_terms_by_hand():
    a = Assumptions(lora_r=2, overhead_gb=0.0, fragmentation=0.5)
    terms = estimate.memory_bytes(TINY, "lora", seq=3, batch=2, a=a)
    # 6 tokens. weights 1272 x 2; adapters and their grads 224 x 4; AdamW 224 x 8; autocast's bf16 copies of
    # the fp32 adapters 224 x 2; activations (the formula) 6 x 8 x 2 layers x 34; logits 6 x 10 x 12;
    # overhead half of the sum.
    expected = {
        "weights": 2544,
        "quant_constants": 0,
        "adapters": 896,
        "gradients": 896,
        "optimizer": 1792,
        "autocast_copies": 448,
        "activations": 3264,
        "logits": 720,
    }
    expected["overhead"] = 0.5 * sum(expected.values())  # 0.5 x 10560 = 5280
    assert terms == pytest.approx(expected)
    assert estimate.memory_gb(TINY, "lora", 3, 2, a)["total"] == pytest.approx(15840 / GIB)


def test_full_qlora_and_checkpointing_terms_by_hand():
    a = Assumptions(lora_r=2, full_weight_bytes=4.0, gradient_checkpointing=True, optim="adamw_8bit")
    full = estimate.memory_bytes(TINY, "full", seq=3, batch=2, a=a)
    # fp32: weights and grads 1272 x 4 = 5088; 8-bit Adam 1272 x 2 = 2544;
    # checkpointing keeps 2 bytes per layer input plus one layer at 34: 6 x 8 x (2 x 2 + 34) = 1824.
    assert (full["weights"], full["gradients"], full["optimizer"]) == (5088, 5088, 2544)
    assert full["activations"] == 1824
    qlora = estimate.memory_bytes(TINY, "qlora", seq=3, batch=2, a=a)
    # the 1152 weights of the blocks' linears are NF4 at 0.5 bytes; the other 120 (embeddings, norms) are cast
    # to fp32; constants: one 8-bit absmax per 64 weights, one fp32 per 256 of those: 1152 x (1/64 + 4/16384).
    assert qlora["weights"] == pytest.approx(1152 * 0.5 + 120 * 4)
    assert qlora["quant_constants"] == pytest.approx(18 + 0.28125)
    assert qlora["optimizer"] == TINY_ADAPTERS * 2


def test_flops_per_token_by_hand():
    a = Assumptions(lora_r=2)
    assert estimate.flops_per_token(TINY, "full", a) == 6 * 1272
    assert estimate.flops_per_token(TINY, "lora", a) == 4 * 1272 + 6 * 224
    ckpt = Assumptions(lora_r=2, gradient_checkpointing=True)
    assert estimate.flops_per_token(TINY, "full", ckpt) == 8 * 1272  # one more forward: +2N


def test_gqa_preset_adapters_and_params_by_hand():
    mistral = estimate.PRESETS["Mistral-7B"]
    # r 16, per layer: q 16 x (4096 + 4096) = 131,072; k and v 16 x (4096 + 8 x 128) = 81,920 each;
    # o 131,072 -> 425,984; x 32 layers = 13,631,488 (the guide's "trainable params: 13M").
    assert estimate.adapter_params(mistral, Assumptions()) == 13_631_488
    smol = estimate.PRESETS["SmolLM2-135M"]
    # 49,152 x 576 tied embeddings = 28,311,552; per layer 4 attention (576x576 q/o, 576x192 k/v)
    # = 884,736, MLP 3 x 576 x 1536 = 2,654,208, norms 1,152 -> 3,540,096 x 30 = 106,202,880; + 576.
    assert smol.total_params == 28_311_552 + 106_202_880 + 576


def test_gpus_needed_and_dollars_by_hand():
    a = Assumptions(overhead_gb=0.0, fragmentation=0.0, mfu=0.5, startup_minutes=0.0)
    mem = {"weights": 100.0, "adapters": 0.0, "gradients": 0.0, "optimizer": 0.0, "activations": 10.0}
    mem.update(quant_constants=0.0, autocast_copies=0.0)
    mem.update(logits=0.0, overhead=0.0, total=110.0)
    # 100 GB of states shard; each GPU keeps 10 GB of activations: ceil(100 / (80 - 10)) = 2.
    assert estimate.gpus_needed(mem, 80.0, a) == 2
    assert estimate.gpus_needed(mem, 8.0, a) == 0  # activations alone exceed 8 GB
    gpu = {"gpu": "X", "memory_gb": 80, "bf16_tflops": 100, "usd_per_hour": 3.6}
    row = estimate.per_gpu(mem, 1e9, 1e6, [gpu], a)[0]
    # 1e6 tokens x 1e9 FLOPs = 1e15 on 2 x 100e12 x 0.5 = 1e14 FLOP/s -> 10 s; 2 GPUs x $3.6/h x 10 s = $0.02
    assert row["compute_hours"] == pytest.approx(10 / 3600)
    assert row["usd"] == pytest.approx(0.02)


def test_shape_by_hand_borrows_the_nearest_preset():
    s = estimate.shape_by_hand(7e9)
    assert (s.assumed_from, s.total_params, s.hidden, s.layers) == ("Mistral-7B", 7_000_000_000, 4096, 32)
    s = estimate.shape_by_hand(estimate.parse_count("135M"), hidden=512, layers=10)
    assert (s.assumed_from, s.hidden, s.layers, s.total_params) == ("SmolLM2-135M", 512, 10, 135_000_000)
    with pytest.raises(ValueError, match="7e9"):
        estimate.parse_count("seven")


def test_config_json_gives_the_preset_shape():
    cfg = {
        "model_type": "mistral",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32768,
        "tie_word_embeddings": False,
    }
    assert estimate.shape_from_config(cfg).total_params == estimate.PRESETS["Mistral-7B"].total_params
    with pytest.raises(ValueError, match="num_hidden_layers"):
        estimate.shape_from_config({k: v for k, v in cfg.items() if k != "num_hidden_layers"})
    with pytest.raises(ValueError, match="not valid JSON"):
        estimate.shape_from_json_text("{oops", "config.json")


def test_clean_price_rows_reports_bad_cells_and_fills_provenance():
    rows = [
        {"gpu": "A", "memory_gb": 24, "usd_per_hour": 1.0, "bf16_tflops": 100},
        {"gpu": "B", "memory_gb": float("nan"), "usd_per_hour": 1.0, "bf16_tflops": 100},
        {"gpu": None, "memory_gb": None, "usd_per_hour": None, "bf16_tflops": None},  # an empty added row
    ]
    cleaned, problems = costs.clean_price_rows("gpu", rows)
    assert problems == ["row 2 (B): memory_gb must be a number >= 0, got nan"]
    assert [r["gpu"] for r in cleaned] == ["A", "B"]
    assert cleaned[0]["source"] == "added in this workspace" and cleaned[0]["as_of"]


def test_guide_comparison_openai_row_and_full_needs_two_gpus():
    rows = {r["method"]: r for r in costs.guide_comparison()}
    # 500 examples x 167 tokens x 3 epochs = 250,500 tokens x $3 / 1M = $0.7515
    assert rows["OpenAI API (GPT-4o-mini)"]["estimate_cost"] == "$0.75"
    # fp32 weights, grads and AdamW states alone are 16 bytes x 7.25B = 108 GB: more than one 80 GB GPU.
    full = rows["Full fine-tuning (7B)"]
    assert not full["estimate_basis"].startswith("1 x")
    assert len(costs.guide_notes()) >= 5


def test_cli_openai_json(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    out = run_cli("openai", str(path), "--model", "gpt-4o-mini", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    total = sum(hand_count(r["messages"]) for r in RECORDS)
    # 2 examples -> 25 epochs; gpt-4o-mini trains at $3.00 per 1M tokens.
    assert (got["examples"], got["tokens"], got["epochs"], got["billed_tokens"]) == (2, total, 25, 25 * total)
    assert got["training_usd"] == pytest.approx(25 * total * 3.0 / 1e6)


def test_cli_memory_from_a_parameter_count():
    out = run_cli("memory", "--params", "7e9", "--method", "lora", "--seq", "512", "--batch", "4", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["assumed_shape_from"] == "Mistral-7B"
    assert got["terms_gb"]["weights"] == pytest.approx(7e9 * 2 / GIB, abs=1e-3)  # bf16 frozen weights
    assert got["total_gb"] == pytest.approx(sum(got["terms_gb"].values()), abs=1e-3)
    assert math.isclose(got["trainable_params"], 13_631_488)


def test_cli_memory_preset_and_readable_table():
    out = run_cli("memory", "--model", "SmolLM2-135M", "--method", "full", "--seq", "256", "--batch", "1")
    assert out.returncode == 0, out.stderr
    assert "total" in out.stdout and "134,515,008" in out.stdout


def test_cli_bad_jsonl_exits_2_naming_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": \n', encoding="utf-8")
    out = run_cli("openai", str(path), "--json")
    assert out.returncode == 2
    assert "line 2" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_cli_memory_lives_in_core_estimate_and_core_costs_routes_to_it():
    args = ("memory", "--model", "SmolLM2-135M", "--method", "qlora", "--tokens", "250000", "--json")
    here, there = run_cli(*args, module="core.estimate"), run_cli(*args)
    assert here.returncode == there.returncode == 0, here.stderr + there.stderr
    assert json.loads(here.stdout) == json.loads(there.stdout)
    assert json.loads(here.stdout)["per_gpu"] and json.loads(here.stdout)["method"] == "qlora"
    bad = run_cli("memory", "--model", "nope-9B", module="core.estimate")
    assert bad.returncode == 2 and "unknown model preset" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_unknown_preset_exits_2():
    out = run_cli("memory", "--model", "nope-9B", "--method", "lora")
    assert out.returncode == 2 and "unknown model preset" in out.stderr and "Traceback" not in out.stderr
