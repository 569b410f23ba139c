"""The training recipe: full fine-tuning, LoRA and QLoRA in one loop, top to bottom; SFT or DPO as its loss.

Read it in order: load the data and the model, build the optimizer, then the loop (accumulate,
clip, step, log, evaluate, save, stop), then the artifacts (final/, summary.json, samples.json).
It writes the run-dir contract the app reads (metrics.jsonl, progress.json, checkpoints/, STOP).
Multi-GPU goes through accelerate (`accelerate launch --config_file configs/accelerate/<p>.yaml
-m core.train --config ...`); without it this is a plain single process. DPO (objective "dpo") is the same
loop with core.train.dpo's pairs, reference log-probs (computed once, before the first step) and loss.

Run:  python -m core.train --config RUN_DIR/spec.yaml
Test: .venv/bin/pytest tests/unit/test_recipe.py -q   (slow tier: tests/slow/test_train_smollm2.py)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core import chat, generation, models, tempfiles, templates
from core.data import preference
from core.jobs import rundir
from core.train import calibrate, dpo, tokenize, tracking
from core.train.config import TrainConfig, problems
from core.train.preflight import SHORT_ON_CPU  # the estimate assumes the same attention kernel
from core.train.tokenize import TrainDataError

METRIC_KEYS = ("step", "epoch", "loss", "eval_loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s")


class ConfigError(Exception):
    """A configuration that cannot run (the worker exits 78)."""


# ---- data ---------------------------------------------------------------------------------------


def _read_jsonl(path: str, what: str) -> list[dict]:
    from core.jsonl import JsonlError, read_records

    if not Path(path).is_file():
        raise TrainDataError(f"{what} file not found: {path}")
    try:
        return [obj for _, obj in read_records(path)]
    except JsonlError as exc:
        raise TrainDataError(f"{what} file {path}: {exc}") from exc


def load_examples(cfg: TrainConfig) -> tuple[list[dict], list[dict]]:
    """(train, validation) chat examples from the dataset version or the JSONL files."""
    if cfg.dataset_version is not None:
        from core.data import versions

        try:
            version = versions.get(cfg.dataset_version)
            splits = versions.split_examples(version)
        except (KeyError, ValueError) as exc:
            raise TrainDataError(str(exc).strip("'\"")) from exc
        train, validation, where = splits["train"], splits["validation"], version.label
    else:
        train = _read_jsonl(cfg.train_file, "train")
        validation = _read_jsonl(cfg.validation_file, "validation") if cfg.validation_file else []
        where = cfg.train_file
    if not train:
        raise TrainDataError(f"the train split of {where} is empty: nothing to train on")
    return train, validation


# ---- device, model, optimizer ---------------------------------------------------------------------


def bf16_supported(device: torch.device) -> bool:
    """bf16 only where the hardware computes it natively; emulated bf16 is slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        native = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in native)
    return False


def _others_running(looks: int = 5) -> int:
    """Tasks running right now besides this one (Linux /proc/loadavg), the median of a few looks.

    The instantaneous count, not the load average: that one still remembers the last minute.
    """
    seen = []
    for _ in range(looks):
        try:
            seen.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return 0
        time.sleep(0.02)
    return max(0, sorted(seen)[len(seen) // 2])


def set_threads(local_processes: int) -> int:
    """Every core this process may use, shared between local ranks, minus cores others keep busy.

    Measured on 2 shared cores: with another process busy, 2 spinning OpenMP threads made small
    ops 10-80x slower than 1 thread. OMP_NUM_THREADS, when set, wins.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, (cores - min(cores - 1, _others_running())) // local_processes)
    torch.set_num_threads(threads)
    return threads


def load_model(cfg: TrainConfig, device: torch.device, bf16: bool):
    """(model, tokenizer) for the method: full (fp32 master weights), LoRA or QLoRA (PEFT adapters)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    try:
        path = start_model(cfg) if cfg.init_from_run else models.resolve(cfg.model)
    except models.ModelError as exc:
        raise ConfigError(str(exc)) from exc
    if models.model_problem(str(path)):  # a folder path must exist; a hub id is judged by loading it
        raise ConfigError(models.model_problem(str(path)))
    try:
        tok = models.load_tokenizer(path)
    except (OSError, ValueError, models.ModelError) as exc:
        raise ConfigError(f"cannot load model {cfg.model!r}: {exc}") from exc
    templates.apply(tok, cfg.chat_template)  # before tokenizing; final/ saves it, so serving renders the same
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    kwargs: dict = {}
    if cfg.method == "full":
        # fp32 master weights + bf16 autocast: pure-bf16 AdamW rounds away updates at lr 2e-5.
        kwargs["dtype"] = torch.float32
    elif cfg.method == "lora":
        # The frozen base in bf16: half the memory and no per-step cast under autocast.
        kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float32
    else:  # qlora, exactly as the guide loads it
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=cfg.bnb_4bit_quant_type,
            bnb_4bit_compute_dtype=getattr(torch, cfg.bnb_4bit_compute_dtype),
            bnb_4bit_use_double_quant=cfg.bnb_4bit_use_double_quant,
        )
        if device.type == "cuda":
            kwargs["device_map"] = {"": device}  # bitsandbytes quantizes as weights reach the GPU
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.config.use_cache = False  # no KV cache while training
    gc_kwargs = {"use_reentrant": False}  # non-reentrant: frozen inputs still get gradients through
    if cfg.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, cfg.gradient_checkpointing, gradient_checkpointing_kwargs=gc_kwargs
        )
        # bitsandbytes 0.50 repacks a 4-bit weight for its CPU inference kernel on the first eval
        # forward, and that kernel passes no gradient back: after one validation, every adapter
        # below the last layer would stop learning. Keep the trainable layout.
        for module in model.modules():
            if hasattr(module, "support_avx512bf16_for_cpu"):
                module.support_avx512bf16_for_cpu = False
    elif cfg.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=gc_kwargs)  # transformers 5 name
    if cfg.method in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.target_modules),
            task_type="CAUSAL_LM",
        )
        try:
            model = get_peft_model(model, lora)
        except ValueError as exc:  # e.g. target_modules that the model does not have
            raise ConfigError(f"LoRA: {exc}") from exc
    return model, tok


def start_model(cfg: TrainConfig) -> Path:
    """The finished run's model this one starts from: its full model, or its adapter merged into its base (once)."""
    from core.train import export

    try:
        return export.start_folder(cfg.init_from_run)
    except export.ExportError as exc:
        raise ConfigError(f"init_from_run: {exc}") from exc


def count_params(model) -> tuple[int, int]:
    """(trainable, total); 4-bit weights count as the parameters they hold, not their packed bytes."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on norms and biases (1-D), as transformers' Trainer does.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """The learning rate for optimizer step `step` (0-based): warm-up, then linear/cosine/constant."""
    warmup = min(cfg.warmup_steps, total // 10)  # a long warm-up on a short run never reaches the peak
    if step < warmup:
        return cfg.learning_rate * (step + 1) / warmup
    if cfg.lr_scheduler_type == "constant":
        return cfg.learning_rate
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if cfg.lr_scheduler_type == "cosine":
        return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.learning_rate * (1 - progress)


# ---- loss ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _head_on(head, keep: torch.Tensor):
    """Feed the LM head only the positions that have a target: most of a 49k-way head's work is skipped."""
    handle = head.register_forward_pre_hook(lambda _m, args: (args[0][keep].unsqueeze(0),))
    try:
        yield
    finally:
        handle.remove()


def _attention_kernel(input_ids: torch.Tensor):
    """On CPU the math attention kernel beats flash on short batches and loses badly on long ones.

    Measured here, forward + backward of 4 x 9 heads: 7.6 vs 12.4 ms at 128 tokens, 121 vs 37 at 512.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if input_ids.device.type == "cpu" and input_ids.shape[1] <= SHORT_ON_CPU:
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


def target_logits(model, head, batch: dict, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(the head's logits at the positions that have a target [targets, vocab], the mask of those positions)."""
    keep = batch["targets"] != tokenize.IGNORE
    device_type = batch["input_ids"].device.type
    with (
        _head_on(head, keep),
        _attention_kernel(batch["input_ids"]),
        torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16),
    ):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    return out.logits[0].float(), keep


def batch_loss(model, head, batch: dict, bf16: bool) -> tuple[torch.Tensor, int]:
    """(sum of token cross-entropies, number of target tokens) for one micro-batch."""
    logits, keep = target_logits(model, head, batch, bf16)
    return F.cross_entropy(logits, batch["targets"][keep], reduction="sum"), int(keep.sum())


def objective_loss(model, head, batch: dict, cfg: TrainConfig, bf16: bool) -> tuple[torch.Tensor, tuple]:
    """(summed loss of the micro-batch, its DPO rewards (chosen, rejected) or ()): SFT's or DPO's."""
    if cfg.objective != "dpo":
        return batch_loss(model, head, batch, bf16)[0], ()
    policy, counts = dpo.sequence_logps(model, head, batch, bf16)
    losses, chosen, rejected = dpo.dpo_loss(policy, batch["ref_logps"], counts, cfg.beta, cfg.loss_type)
    return losses.sum(), (chosen, rejected)


def loss_units(batch: dict) -> int:
    """What a step's loss is averaged over: pairs for DPO, target tokens for SFT."""
    if "ref_logps" in batch:
        return len(batch["ref_logps"]) // 2
    return int((batch["targets"] != tokenize.IGNORE).sum())


def make_batch(examples: list, indices: list[int], pad_id: int, reference: torch.Tensor | None = None) -> dict:
    """A micro-batch of examples (SFT) or of pairs with their reference log-probs (DPO: chosen rows, then rejected)."""
    if reference is None:
        return tokenize.collate([examples[i] for i in indices], pad_id)
    return {**dpo.collate([examples[i] for i in indices], pad_id), "ref_logps": reference[:, indices].reshape(-1)}


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def evaluate_pairs(run: Run) -> dict:
    """DPO's validation: the mean DPO loss and the rewards of the held-out pairs against their reference."""
    cfg, batch = run.cfg, run.cfg.per_device_train_batch_size
    policy, counts = dpo.pair_logps(run.model, run.head, run.val_ex, batch, run.tok.pad_token_id, run.bf16)
    scores = dpo.preference_scores(policy, run.reference["validation"], counts, cfg.beta, cfg.loss_type)
    return {"eval_loss": scores.pop("loss"), **{f"eval_{k}": v for k, v in scores.items()}}


def evaluate(model, head, examples: list[tokenize.Example], batches, acc, pad_id: int, bf16: bool) -> float:
    """Mean validation loss per target token, summed over every rank's share."""
    share = batches[acc.process_index :: acc.num_processes]
    rounds = math.ceil(len(batches) / acc.num_processes)
    model.eval()
    total = torch.zeros(2, device=acc.device)
    with torch.no_grad():
        for r in range(rounds):
            # A rank short of batches still runs one (uncounted): FSDP's forward needs every rank.
            b = share[r] if r < len(share) else batches[0]
            loss, n = batch_loss(
                model, head, _to(tokenize.collate([examples[i] for i in b], pad_id), acc.device), bf16
            )
            if r < len(share):
                total += torch.stack([loss.detach(), torch.tensor(float(n), device=acc.device)])
    model.train()
    total = acc.reduce(total, reduction="sum") if acc.num_processes > 1 else total
    return (total[0] / total[1].clamp(min=1)).item()


# ---- checkpoints ----------------------------------------------------------------------------------


def _trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(folder: Path, acc, model, optimizer, state: dict) -> Path:
    """checkpoints/step-N/: trainable weights, optimizer, RNG and loop state; written aside, then renamed."""
    from safetensors.torch import save_file

    names = _trainable_names(acc.unwrap_model(model))
    weights = {k: v.detach().cpu().contiguous() for k, v in acc.get_state_dict(model).items() if k in names}
    if not acc.is_main_process:
        return folder
    tmp = tempfiles.temp_path(folder)
    tmp.mkdir(parents=True)
    save_file(weights, tmp / "trainable.safetensors")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def prune_checkpoints(root: Path, best_step: int | None, keep: int = 2) -> None:
    """Keep the newest `keep` checkpoints and the best one."""
    steps = sorted(int(p.name.split("-")[1]) for p in root.glob("step-*") if p.name.split("-")[1].isdigit())
    for step in steps[:-keep]:
        if step != best_step:
            shutil.rmtree(root / f"step-{step}", ignore_errors=True)


def load_weights(folder: Path, model) -> None:
    from safetensors.torch import load_file

    weights = load_file(Path(folder) / "trainable.safetensors")
    missing = _trainable_names(model) - set(weights)
    if missing:
        raise ConfigError(f"checkpoint {folder} does not match this model/method (missing {sorted(missing)[:3]})")
    model.load_state_dict(weights, strict=False)


def load_checkpoint(folder: Path, model, optimizer) -> dict:
    """Restore weights, optimizer and RNG from a checkpoint; returns its loop state."""
    folder = Path(folder)
    if not (folder / "state.json").is_file():
        raise ConfigError(f"resume_from is not a checkpoint folder: {folder}")
    load_weights(folder, model)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=False))
    rng = torch.load(folder / "rng.pt", weights_only=False)
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return json.loads((folder / "state.json").read_text())


# ---- one optimizer step, evaluation bookkeeping, stopping ----------------------------------------------


def group_targets(micro_batches: list[dict], acc) -> float:
    """Target tokens (DPO: pairs) in the step over every rank's group, divided by the world size.

    Ranks average their gradients, so dividing each rank's loss sum by this weighs every token of the
    global batch the same, as one process with the whole batch does (DDP, FSDP and ZeRO alike).
    """
    here = sum(loss_units(b) for b in micro_batches)  # DPO: pairs
    n = torch.tensor(float(here), device=acc.device)
    if acc.num_processes > 1:
        n = acc.reduce(n, reduction="sum") / acc.num_processes
    return max(float(n), 1e-9)


def train_step(model, head, micro_batches: list[dict], acc, optimizer, lr: float, cfg: TrainConfig, bf16: bool):
    """Forward and backward over one accumulation group, clip, step: (mean loss, grad norm, real tokens)."""
    n_targets = group_targets(micro_batches, acc)
    for group in optimizer.param_groups:
        group["lr"] = lr  # before the backward: DeepSpeed steps inside the group's last one
    loss_total, real_tokens, rewards = torch.zeros((), device=acc.device), 0, []
    for j, batch in enumerate(micro_batches):
        last = j == len(micro_batches) - 1
        acc.sync_gradients = last  # DeepSpeed steps on the boundary only; DDP reduces only then
        sync = contextlib.nullcontext() if last else acc.no_sync(model)
        # The backward too: gradient checkpointing recomputes attention there and must pick the same kernel.
        with sync, _attention_kernel(batch["input_ids"]):
            loss_sum, batch_rewards = objective_loss(model, head, _to(batch, acc.device), cfg, bf16)
            acc.backward(loss_sum / n_targets)
        loss_total += loss_sum.detach()
        rewards.append(batch_rewards)
        real_tokens += int(batch["attention_mask"].sum())  # tokens/s counts real tokens, not padding
    grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm or float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_total / n_targets, grad_norm, real_tokens, [r for r in rewards if r]


@dataclass
class LoopState:
    """Where the run is; saved in every checkpoint, so a resume continues exactly here."""

    step: int = 0  # optimizer steps done
    epoch: float = 0.0
    epoch_index: int = 0  # the epoch being run
    next_group: int = 0  # the next accumulation group in that epoch
    best_eval_loss: float | None = None
    best_step: int | None = None
    best_epoch: float | None = None
    bad_evals: int = 0  # evaluations in a row without an improvement above the threshold
    elapsed_s: float = 0.0  # training seconds over every session


def record_eval(state: LoopState, loss: float, cfg: TrainConfig) -> tuple[bool, bool]:
    """(is the new best, should training stop early), updating the state."""
    best = state.best_eval_loss
    state.bad_evals = 0 if best is None or loss < best - cfg.early_stopping_threshold else state.bad_evals + 1
    is_best = best is None or loss < best
    if is_best:
        state.best_eval_loss, state.best_step, state.best_epoch = loss, state.step, round(state.epoch, 4)
    return is_best, 0 < cfg.early_stopping_patience <= state.bad_evals


def stop_agreed(acc, run_dir: Path) -> bool:
    """The STOP file, agreed by every rank (one rank stopping alone would hang the others)."""
    flag = torch.tensor(float(acc.is_main_process and rundir.stop_requested(run_dir)), device=acc.device)
    if acc.num_processes > 1:
        flag = acc.reduce(flag, reduction="sum")
    return bool(flag > 0)


# ---- after training -----------------------------------------------------------------------------------


def write_samples(model, tok, validation: list[dict], n: int, bf16: bool) -> list[dict]:
    """Greedy replies to the first validation prompts, with their references."""
    samples = []
    for example in validation[:n]:
        messages = example["messages"]
        last = chat.last_assistant_at(messages)
        last = len(messages) if last is None else last
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            reply = generation.reply(model, tok, messages[:last], max_new_tokens=64, tools=templates.tools_of(example))
        reference = (messages[last].get("content") or "") if last < len(messages) else ""
        samples.append(
            {
                "prompt": messages[:last],
                "reference": reference,
                "generated": reply.text,
                "stopped_at_eos": reply.stopped_on_eos,
            }
        )
    return samples


class RankZero:
    """The console and the run folder as rank 0 writes them; on every other rank each call does nothing
    (nanochat's print0 and DummyWandb), so the loop needs no `is_main_process` guards."""

    def __init__(self, acc, run_dir: Path, cfg: TrainConfig | None = None) -> None:
        self.on, self.run_dir = acc.is_main_process, run_dir
        if self.on:
            run_dir.mkdir(parents=True, exist_ok=True)
        self.trackers = tracking.for_run(cfg, run_dir) if self.on and cfg else None  # report_to's trackers

    def say(self, message: str) -> None:
        if self.on:
            print(message, flush=True)

    def progress(self, done: int, total: int, message: str) -> None:
        if self.on:
            rundir.report_progress(self.run_dir, done, total, message)

    keys = METRIC_KEYS  # a DPO run's rows add dpo.METRIC_KEYS

    def metrics(self, **row) -> None:
        if self.on:
            rundir.append_metrics(self.run_dir, row := {k: row.get(k) for k in self.keys})
            if self.trackers:  # the same row, to TensorBoard, MLflow, trackio
                self.trackers.log(row)

    def prune(self, root: Path, best_step: int | None) -> None:
        if self.on:
            prune_checkpoints(root, best_step)


@dataclass
class Meter:
    """Training seconds, steps, tokens and summed loss over a stretch of steps."""

    seconds: float = 0.0
    steps: int = 0
    tokens: int = 0
    loss: float | torch.Tensor = 0.0
    rewards: list = field(default_factory=list)  # DPO: (chosen, rejected) reward tensors of each micro-batch

    def add(self, seconds: float, tokens: int, loss: float | torch.Tensor = 0.0, rewards: list = ()) -> None:
        self.seconds, self.steps, self.tokens = self.seconds + seconds, self.steps + 1, self.tokens + tokens
        self.loss = self.loss + loss
        self.rewards += rewards

    def reward_row(self) -> dict:
        if not self.rewards:
            return {}
        return dpo.reward_row(*(torch.cat(side) for side in zip(*self.rewards, strict=True)))

    @property
    def tokens_per_s(self) -> float:
        return round(self.tokens / max(self.seconds, 1e-9), 1)


@dataclass
class Run:
    """What the loop's helpers share: the prepared model and optimizer, validation, checkpoints, the marks."""

    cfg: TrainConfig
    acc: Any
    out: RankZero
    model: Any
    optimizer: Any
    head: Any
    tok: Any
    bf16: bool
    val_ex: list
    val_batches: list
    state: LoopState
    reference: dict | None = None  # DPO: the reference log-probs of the train and validation pairs
    reference_seconds: float = 0.0  # DPO: the time their one pass took (0 when a resume reused them)
    saved_at: int | None = None  # the step last checkpointed
    evaluated_at: int | None = None  # the step last evaluated

    @property
    def pad_bf16(self) -> tuple[int, bool]:
        return self.tok.pad_token_id, self.bf16

    @property
    def ckpt_root(self) -> Path:
        return self.out.run_dir / rundir.CHECKPOINTS


def epoch_groups(lengths: list[int], cfg: TrainConfig, acc, epoch_index: int) -> list[list[list[int]]]:
    """This rank's micro-batches of an epoch in accumulation groups; seeded by epoch, so a resume replays it."""
    plan = tokenize.length_grouped_batches(lengths, cfg.per_device_train_batch_size, cfg.seed + epoch_index)
    world = acc.num_processes
    plan = plan[: max(1, len(plan) // world) * world][acc.process_index :: world]  # every rank as many
    k = cfg.gradient_accumulation_steps
    return [plan[i : i + k] for i in range(0, len(plan), k)]


def save(run: Run) -> None:
    """Checkpoint this step once, keeping the newest two and the best."""
    if run.saved_at != run.state.step:
        folder = run.ckpt_root / f"step-{run.state.step}"
        save_checkpoint(folder, run.acc, run.model, run.optimizer, asdict(run.state))
        run.out.prune(run.ckpt_root, run.state.best_step)
        run.saved_at = run.state.step


def run_eval(run: Run) -> bool:
    """Validation loss, the best checkpoint, early stopping; True means stop now."""
    if not run.val_ex:
        return False
    state, run.evaluated_at = run.state, run.state.step
    if run.reference is not None:
        row = evaluate_pairs(run)
    else:
        row = {"eval_loss": evaluate(run.model, run.head, run.val_ex, run.val_batches, run.acc, *run.pad_bf16)}
    loss = row["eval_loss"]
    run.out.metrics(step=state.step, epoch=round(state.epoch, 4), elapsed_s=round(state.elapsed_s, 2), **row)
    is_best, stop = record_eval(state, loss, run.cfg)
    if is_best:
        save(run)  # the best is always on disk: load_best_model_at_end and a crash both find it
    return stop


def log_train(run: Run, window: Meter, session: Meter, total: int, lr: float, grad_norm) -> None:
    """The metrics row for the steps since the last one, with the loss averaged over every rank."""
    mean_loss = window.loss / window.steps
    if run.acc.num_processes > 1:  # every rank logs at the same steps, so all join the reduce
        mean_loss = run.acc.reduce(mean_loss, reduction="mean")
    state = run.state
    run.out.metrics(
        step=state.step,
        epoch=round(state.epoch, 4),
        lr=lr,
        loss=float(mean_loss),
        grad_norm=None if grad_norm is None else float(grad_norm),
        tokens_per_s=window.tokens_per_s,
        elapsed_s=round(state.elapsed_s, 2),
        eta_s=round((total - state.step) * session.seconds / session.steps, 1),
        **window.reward_row(),
    )


def summarize(cfg: TrainConfig, run: Run, sets: tuple, plan: list, session: Meter, stopped: tuple[bool, bool]) -> dict:
    """summary.json: the run-dir contract's keys, then the run view's and the benchmark's."""
    train_set, val_set = sets
    state, (stopped_early, stopped_by_user) = run.state, stopped
    trainable, total_params = count_params(run.acc.unwrap_model(run.model))
    lengths = [e.length for e in train_set.examples]
    return {
        "method": cfg.method,
        "model": cfg.model,
        "trainable_params": int(trainable),
        "total_params": int(total_params),
        "train_examples": len(train_set.examples),
        "validation_examples": len(val_set.examples),
        "truncated_examples": train_set.truncated,
        "train_tokens": train_set.tokens,
        "best_eval_loss": state.best_eval_loss,
        "best_step": state.best_step,
        "best_epoch": state.best_epoch,
        "stopped_early": stopped_early,
        "stopped_by_user": stopped_by_user,
        "final_step": state.step,
        "epochs_done": round(state.epoch, 4),
        # Beyond the contract, for the run view and the benchmark:
        "dropped_examples": train_set.dropped,
        "validation_truncated": val_set.truncated,
        "padding_efficiency": round(tokenize.padding_efficiency(lengths, plan), 4),
        "tokens_per_s": session.tokens_per_s,
        "train_seconds": round(session.seconds, 2),  # this process's training steps, what tokens_per_s divides by
        "device": calibrate.device_key(),  # earlier runs on the same device calibrate the pre-flight's time
        "bf16": run.bf16,
    }


# ---- DPO's pieces of the run -----------------------------------------------------------------------------


def tokenized(cfg: TrainConfig, tok, train_raw: list, val_raw: list):
    """(train, validation) as the objective trains on them: chat examples, or preference pairs."""
    if cfg.objective == "dpo":
        return (
            dpo.tokenize_pairs(tok, train_raw, cfg.max_prompt_length, cfg.max_length, "train pair"),
            dpo.tokenize_pairs(tok, val_raw, cfg.max_prompt_length, cfg.max_length, "validation pair"),
        )
    return (
        tokenize.tokenize(tok, train_raw, cfg.max_length, cfg.assistant_only_loss, "train example"),
        tokenize.tokenize(tok, val_raw, cfg.max_length, cfg.assistant_only_loss, "validation example"),
    )


def reference_for(run: Run, sets: dict) -> dict:
    """The reference log-probs of every pair: a resumed run's saved ones, else one no-grad pass now (saved)."""
    sizes = {name: len(s.pairs) for name, s in sets.items()}
    if run.cfg.resume_from:  # checkpoints/step-N/ lies in the run folder that saved them
        saved = dpo.load_reference(Path(run.cfg.resume_from).parents[1], sizes)
        if saved is not None:
            if run.out.on:  # kept here too: a resume of this run must find the same reference
                dpo.save_reference(run.out.run_dir, saved)
            return saved
    model, t0 = run.acc.unwrap_model(run.model), time.perf_counter()
    total = sum(math.ceil(n / run.cfg.per_device_train_batch_size) for n in sizes.values())
    done = [0]  # over both splits

    def tick(_batch: int) -> None:
        done[0] += 1
        run.out.progress(0, 0, f"reference log-probs: batch {done[0]} of {total}")

    ref = dpo.reference_logps(model, run.head, sets, run.cfg.per_device_train_batch_size, *run.pad_bf16, tick)
    if run.out.on:
        dpo.save_reference(run.out.run_dir, ref)
    run.reference_seconds = round(time.perf_counter() - t0, 2)
    return ref


def dpo_summary(cfg: TrainConfig, sets: tuple, rows: list[dict], summary: dict) -> dict:
    """summary.json's DPO keys: the objective, the prompts cut, and the validation rewards of the model saved."""
    train_set, val_set = sets
    evals = [r for r in rows if r.get("eval_rewards_accuracies") is not None]
    kept = summary["best_step"] if cfg.load_best_model_at_end else summary["final_step"]
    last = next((r for r in reversed(evals) if r.get("step") == kept), evals[-1] if evals else {})
    return {
        "objective": "dpo",
        "beta": cfg.beta,
        "loss_type": cfg.loss_type,
        "init_from_run": cfg.init_from_run,
        "prompts_truncated": train_set.prompts_truncated,
        "validation_prompts_truncated": val_set.prompts_truncated,
        **{k: last.get(k) for k in dpo.EVAL_REWARD_KEYS},
    }


# ---- the run ------------------------------------------------------------------------------------------


def accelerator(cfg: TrainConfig):
    """Accelerate's state for this process: one process, or one rank of `accelerate launch`."""
    from accelerate import Accelerator

    # accelerate 1.15 joins launched ranks without CUDA into one gloo group (MULTI_CPU) only when told cpu=True;
    # else every rank trains alone. DeepSpeed picks its own backend (and is refused on CPU at launch).
    ranks = int(os.environ.get("WORLD_SIZE", "1"))
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    acc = Accelerator(cpu=ranks > 1 and not deepspeed and not torch.cuda.is_available())
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and acc.distributed_type.value != "FSDP":
        raise ConfigError(f"the fsdp profile needs CUDA GPUs: on {acc.device.type} accelerate would run it as DDP")
    if acc.state.deepspeed_plugin is not None:  # no dataloader for accelerate to read the micro-batch size from
        acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.per_device_train_batch_size
    return acc


def train(cfg: TrainConfig, run_dir: str | Path) -> dict:
    """Train per `cfg`, writing metrics, checkpoints, final/, summary.json and samples.json into run_dir."""
    from accelerate.utils import set_seed

    if problems(cfg):
        raise ConfigError("; ".join(problems(cfg)))
    run_dir, acc = Path(run_dir), accelerator(cfg)
    memory = calibrate.PeakMemory(acc.device.type)  # from here: after start-up, before data and model
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", acc.num_processes))  # set by torchrun/accelerate
    threads = set_threads(local_ranks) if acc.device.type == "cpu" else None
    set_seed(cfg.seed)
    bf16 = cfg.bf16 and bf16_supported(acc.device)
    out = RankZero(acc, run_dir, cfg)
    out.progress(0, 0, "loading data and model")

    # Data: tokenized once with the run's chat template; truncations and drops are counted.
    train_raw, val_raw = load_examples(cfg)
    model, tok = load_model(cfg, acc.device, bf16)
    train_set, val_set = tokenized(cfg, tok, train_raw, val_raw)
    if not train_set.examples:
        raise TrainDataError(f"no train example has an assistant token within max_length={cfg.max_length}")
    train_ex, val_ex = train_set.examples, val_set.examples
    lengths = [e.length for e in train_ex]
    val_batches = tokenize.length_grouped_batches([e.length for e in val_ex], cfg.per_device_train_batch_size, 0)
    out.say(
        f"train {len(train_ex)} {'pairs' if cfg.objective == 'dpo' else 'examples'} ({train_set.tokens} tokens, "
        f"{train_set.truncated} truncated, {train_set.dropped} dropped); validation {len(val_ex)}; bf16 {bf16}; "
        f"CPU threads {threads}"
    )
    total = (
        cfg.max_steps
        if cfg.max_steps > 0
        else math.ceil(len(epoch_groups(lengths, cfg, acc, 0)) * cfg.num_train_epochs)
    )
    model, optimizer = acc.prepare(model, make_optimizer(model, cfg))
    model.train()
    head = acc.unwrap_model(model).get_output_embeddings()

    # Resume: weights, optimizer, RNG and the place in the epoch; the schedule follows the new total.
    state = LoopState()
    if cfg.resume_from:
        saved = load_checkpoint(Path(cfg.resume_from), acc.unwrap_model(model), optimizer)
        state = LoopState(**{f.name: saved[f.name] for f in fields(LoopState) if f.name in saved})
        out.say(f"resumed from {cfg.resume_from} at step {state.step}")
    run = Run(cfg, acc, out, model, optimizer, head, tok, bf16, val_ex, val_batches, state)
    if cfg.objective == "dpo":  # before any update: the model as it starts is the reference
        out.keys = METRIC_KEYS + dpo.METRIC_KEYS
        run.reference = reference_for(run, {"train": train_set, "validation": val_set})
    train_ref = run.reference["train"] if run.reference else None
    stopped_by_user, stopped_early = False, False
    session, window = Meter(), Meter()  # this process's training time (tokens/s, ETA); the steps since the last row

    # The loop: an optimizer step per accumulation group of length-grouped micro-batches.
    while state.step < total and not (stopped_by_user or stopped_early):
        groups = epoch_groups(lengths, cfg, acc, state.epoch_index)
        for g in range(state.next_group, len(groups)):
            t0 = time.perf_counter()
            batches = [make_batch(train_ex, b, tok.pad_token_id, train_ref) for b in groups[g]]
            lr = lr_at(state.step, total, cfg)
            loss, grad_norm, tokens, rewards = train_step(model, head, batches, acc, optimizer, lr, cfg, bf16)
            dt = time.perf_counter() - t0
            state.step, state.next_group = state.step + 1, g + 1
            state.epoch = state.epoch_index + (g + 1) / len(groups)
            state.elapsed_s += dt
            tokens *= acc.num_processes  # every rank ran its own share
            session.add(dt, tokens)
            window.add(dt, tokens, loss, rewards)
            if state.step % cfg.logging_steps == 0 or state.step == total:
                log_train(run, window, session, total, lr, grad_norm)
                window = Meter()
            out.progress(state.step, total, f"epoch {state.epoch:.2f}")
            stopped_by_user = stop_agreed(acc, run_dir)
            if stopped_by_user or state.step >= total:
                break
            if cfg.eval_strategy == "steps" and state.step % cfg.eval_steps == 0 and run_eval(run):
                stopped_early = True
                break
            if cfg.save_strategy == "steps" and state.step % cfg.save_steps == 0:
                save(run)
        if state.next_group >= len(groups):  # the epoch ran to its end
            state.epoch_index, state.next_group = state.epoch_index + 1, 0
            if stopped_by_user or stopped_early or state.step >= total:
                continue  # the end of the run below evaluates and saves
            stopped_early = cfg.eval_strategy == "epoch" and run_eval(run)
            if cfg.save_strategy == "epoch":
                save(run)

    # The end: evaluate the last step if nobody has, save it, restore the best, write the artifacts.
    if not stopped_by_user and run.evaluated_at != state.step:
        run_eval(run)
    save(run)
    unwrapped = acc.unwrap_model(model)
    best_dir = run.ckpt_root / f"step-{state.best_step}"
    if cfg.load_best_model_at_end and state.best_step not in (None, state.step) and best_dir.is_dir():
        acc.wait_for_everyone()
        load_weights(best_dir, unwrapped)
        out.say(f"restored the best checkpoint: step {state.best_step}, validation loss {state.best_eval_loss:.4f}")
    plan = [b for group in epoch_groups(lengths, cfg, acc, 0) for b in group]
    summary = summarize(cfg, run, (train_set, val_set), plan, session, (stopped_early, stopped_by_user))
    summary.update(memory.read())  # measured peak memory, beside the pre-flight's estimate on the Runs page
    if cfg.objective == "dpo":
        summary.update(dpo_summary(cfg, (train_set, val_set), rundir.read_metrics(run_dir), summary))
        summary["reference_seconds"] = run.reference_seconds
    weights = acc.get_state_dict(model)  # every rank: FSDP and ZeRO-3 gather the shards here
    if out.on:
        unwrapped.eval()
        unwrapped.config.use_cache = True  # the saved config is for inference, and generation wants its cache
        unwrapped.save_pretrained(run_dir / rundir.FINAL, state_dict=weights)  # PEFT keeps only the adapter
        tok.save_pretrained(run_dir / rundir.FINAL)
        rundir.write_json(run_dir / rundir.SUMMARY, summary)
        # Sharded models generate only with every rank taking part; samples are for one process or DDP.
        n = cfg.sample_generations if acc.distributed_type.value in ("NO", "MULTI_GPU", "MULTI_CPU") else 0
        shown = [preference.as_chat(r) for r in val_raw] if cfg.objective == "dpo" else val_raw  # reference: chosen
        samples = write_samples(unwrapped, tok, shown, n, bf16)
        (run_dir / rundir.SAMPLES).write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    if out.trackers:
        out.trackers.close()
    out.progress(state.step, total, "stopped" if stopped_by_user else "done")
    acc.wait_for_everyone()
    return summary
