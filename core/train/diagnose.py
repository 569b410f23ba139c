"""The guide's "Common failures" as checks on a run's live metrics and sample generations.

`diagnose(rows, cfg, samples)` reads the metrics.jsonl rows (training rows carry `loss`,
evaluation rows `eval_loss`), the run's TrainConfig and, after training, samples.json, and
returns what looks wrong with the numbers behind it and the guide's advice. Pure Python, no
torch: the Runs page calls it on every refresh. Test: `.venv/bin/pytest tests/unit/test_diagnose.py -q`.
Test: `pytest tests/unit/test_diagnose.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median
from typing import Any

from core.models import EOS_TOKEN
from core.train.config import TrainConfig

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# The guide's learning-rate ranges ("Training loss plateaus immediately").
LR_RANGES = {"full": (1e-5, 5e-5), "lora": (1e-4, 5e-4), "qlora": (1e-4, 5e-4)}
FLAT_MIN_ROWS = 10  # training rows before judging a plateau
FLAT_MIN_AFTER_PEAK = 5  # ... of which this many after warm-up reached the peak learning rate
FLAT_MAX_DROP = 0.02  # a fall of less than 2% of the starting loss counts as flat
EXPLODE_FACTOR = 1.5  # recent loss this many times the starting loss: diverging
OVERFIT_RISE = 0.01  # validation loss 1% above its best counts as rising
COLLAPSE_LOSS = 0.05  # nats per token: memorised, not learned
REPEAT_MIN_NGRAMS = 6
REPEAT_MAX_DISTINCT = 0.5  # under half the n-grams distinct: a loop
GENERIC_MAX_WORDS = 2
# DPO's failures, on the reward columns of its rows (core.train.dpo)
DPO_MIN_ROWS = 10  # training rows before judging reward accuracy stuck
STUCK_ACCURACY = (0.4, 0.6)  # reward accuracy in this band after that: not telling chosen from rejected
MARGIN_EXPLODE = 10.0  # a mean reward margin above this (beta x log-ratio gap): the policy ran off
CHOSEN_FALL = 0.5  # chosen rewards this far below 0 while margins grow: both likelihoods falling
OVERFIT_ADVICE = (
    "The guide: reduce epochs (try 1-2 instead of 3), increase dataset diversity, or add a dropout of 0.05-0.1."
)


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # nonfinite, exploding, flat, overfitting, collapse, repetitive, generic, no_eos, dpo_*
    severity: str  # "info" | "warning" | "error"
    title: str
    detail: str
    advice: str


# ---- reading rows ---------------------------------------------------------------------------


def _num(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _series(rows: Iterable[dict], key: str) -> list[tuple[int, float | None, float]]:
    """(step, epoch, value) for rows that carry `key`, in step order."""
    out = [(int(_num(r, "step") or 0), _num(r, "epoch"), _num(r, key)) for r in rows if _num(r, key) is not None]
    return sorted(out, key=lambda t: t[0])


def _at(step: int, epoch: float | None) -> str:
    return f"step {step}" + (f" (epoch {epoch:.2f})" if epoch is not None else "")


def _lr(rate: float) -> str:
    """A learning rate as the guide writes it: 2e-4, 1.5e-5."""
    if rate <= 0 or not math.isfinite(rate):
        return f"{rate:g}"
    exp = math.floor(math.log10(rate))
    return f"{rate / 10**exp:.3g}e{exp}"


def _lr_range_text(method: str) -> str:
    low, high = LR_RANGES.get(method, LR_RANGES["lora"])
    name = "full fine-tuning" if method == "full" else "LoRA"
    return f"for {name}, try {_lr(low)} to {_lr(high)}"


# ---- training-curve checks --------------------------------------------------------------------


def _nonfinite(rows: list[dict], cfg: TrainConfig) -> list[Diagnosis]:
    for key in ("loss", "eval_loss", "grad_norm"):
        for step, epoch, value in _series(rows, key):
            if not math.isfinite(value):
                return [
                    Diagnosis(
                        "nonfinite",
                        "error",
                        "Loss is not a number",
                        f"{key} became {value} at {_at(step, epoch)}; nothing after it can be trusted.",
                        f"The learning rate ({_lr(cfg.learning_rate)}) is likely too high: the guide's ranges "
                        f"are {_lr_range_text(cfg.method)}. Keep gradient clipping on (max_grad_norm "
                        f"{cfg.max_grad_norm:g}) and resume from a checkpoint before {_at(step, epoch)}.",
                    )
                ]
    return []


def _exploding(train: list[tuple], cfg: TrainConfig) -> list[Diagnosis]:
    if len(train) < 6:
        return []
    start = median(v for _, _, v in train[:3])
    recent = median(v for _, _, v in train[-3:])
    if start <= 0 or recent < EXPLODE_FACTOR * start:
        return []
    step, epoch, _ = train[-1]
    return [
        Diagnosis(
            "exploding",
            "error",
            "Training loss is exploding",
            f"Training loss rose from {start:.3f} at the start to {recent:.3f} by {_at(step, epoch)} "
            f"({recent / start:.1f}x).",
            f"Lower the learning rate ({_lr(cfg.learning_rate)} now); the guide's ranges are "
            f"{_lr_range_text(cfg.method)}. Keep max_grad_norm at 1.0 and a warm-up.",
        )
    ]


def _after_peak_lr(rows: list[dict]) -> int:
    """Training rows logged once warm-up reached the peak learning rate (all of them without lr)."""
    lrs = [(int(_num(r, "step") or 0), _num(r, "lr")) for r in rows if _num(r, "loss") is not None]
    known = [(s, lr) for s, lr in lrs if lr is not None]
    if not known:
        return len(lrs)
    peak_step = max(known, key=lambda t: (t[1], -t[0]))[0]
    return sum(1 for s, _ in lrs if s >= peak_step)


def _flat(rows: list[dict], train: list[tuple], cfg: TrainConfig) -> list[Diagnosis]:
    if len(train) < FLAT_MIN_ROWS or _after_peak_lr(rows) < FLAT_MIN_AFTER_PEAK:
        return []
    start = median(v for _, _, v in train[:3])
    recent = median(v for _, _, v in train[-3:])
    if start <= 0 or abs(start - recent) / start >= FLAT_MAX_DROP:
        return []  # falling (learning) or rising (the exploding check's business)
    low, high = LR_RANGES.get(cfg.method, LR_RANGES["lora"])
    where = "below" if cfg.learning_rate < low else "inside"
    hint = (
        "raise it into that range"
        if where == "below"
        else f"try the top of the range ({_lr(high)}), and check that the data has assistant turns to learn"
    )
    step, epoch, _ = train[-1]
    return [
        Diagnosis(
            "flat",
            "warning",
            "Training loss is flat from the start",
            f"Training loss went from {start:.3f} to {recent:.3f} over {len(train)} logged steps, "
            f"by {_at(step, epoch)}: a fall of {100 * (start - recent) / start:.1f}%.",
            f"The guide: your learning rate is too low; {_lr_range_text(cfg.method)}. "
            f"It is {_lr(cfg.learning_rate)}, {where} that range: {hint}.",
        )
    ]


def _train_loss_before(train: list[tuple], step: int) -> float | None:
    """The training loss around an evaluation: the mean of the last 3 logged at or before it."""
    before = [v for s, _, v in train if s <= step][-3:]
    return sum(before) / len(before) if before else None


def _overfitting(train: list[tuple], evals: list[tuple], cfg: TrainConfig) -> list[Diagnosis]:
    if len(evals) < 2:
        return []
    best_step, best_epoch, best = min(evals, key=lambda t: (t[2], t[0]))
    last_step, last_epoch, last = evals[-1]
    if last_step == best_step or last <= best * (1 + OVERFIT_RISE):
        return []
    t_best, t_last = _train_loss_before(train, best_step), _train_loss_before(train, last_step)
    if t_best is None or t_last is None or t_last >= t_best:
        return []  # both rising is divergence, not overfitting
    best_at = f"epoch {best_epoch:g}" if best_epoch is not None else f"step {best_step}"
    dropout = f" lora_dropout is now {cfg.lora_dropout:g}." if cfg.method != "full" else ""
    return [
        Diagnosis(
            "overfitting",
            "warning",
            "Validation loss rising while training loss falls",
            f"Validation loss was lowest at {best:.3f} at {_at(best_step, best_epoch)} and is {last:.3f} at "
            f"{_at(last_step, last_epoch)}, while training loss fell from {t_best:.3f} to {t_last:.3f}.",
            f"Classic overfitting: stop at the epoch where validation loss was lowest ({best_at}; the run "
            f"keeps that checkpoint as the best). {OVERFIT_ADVICE}{dropout}",
        )
    ]


def _collapse(train: list[tuple], evals: list[tuple], cfg: TrainConfig) -> list[Diagnosis]:
    # "Early": within the first epoch, or the first half of the rows when epochs are not logged.
    early = [t for t in train if t[1] is not None and t[1] <= 1.0] or (
        train[: len(train) // 2] if all(t[1] is None for t in train) else []
    )
    for i in range(2, len(early)):
        window = [v for _, _, v in early[i - 2 : i + 1]]
        if median(window) < COLLAPSE_LOSS:
            step, epoch, value = early[i]
            zero = (
                " A loss of exactly 0 also happens when no token is learned (every label masked)."
                if value == 0
                else ""
            )
            val = f" Validation loss is {evals[-1][2]:.3f}." if evals else ""
            return [
                Diagnosis(
                    "collapse",
                    "warning",
                    "Training loss collapsed towards zero early",
                    f"Training loss fell from {train[0][2]:.3f} to {value:.4f} by {_at(step, epoch)}.{val}",
                    "The model is memorising rather than learning: look for duplicate or near-duplicate "
                    "examples (the data page's duplicate check), answers that copy the prompt, or the same "
                    f"examples in training and validation; with a small dataset use fewer epochs.{zero}",
                )
            ]
    return []


# ---- sample generations ------------------------------------------------------------------------


def _units(text: str) -> tuple[list[str], int]:
    """Words and 3-grams, or characters and 8-grams for text written without spaces."""
    words = text.split()
    if len(words) >= 4 or len(text) < 20:
        return words, 3
    return list(text.replace(" ", "")), 8


def is_repetitive(text: str) -> bool:
    units, n = _units(text)
    grams = [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]
    return len(grams) >= REPEAT_MIN_NGRAMS and len(set(grams)) / len(grams) < REPEAT_MAX_DISTINCT


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _most_shared_answer(samples: list[dict], texts: list[str]) -> int:
    """How many different prompts got the most common answer (the same prompt twice does not count)."""
    prompts: dict[str, set[str]] = {}
    for sample, text in zip(samples, texts, strict=True):
        prompts.setdefault(_norm(text), set()).add(json.dumps(sample.get("prompt"), sort_keys=True))
    return max(len(p) for p in prompts.values())


def _samples(samples: list[dict]) -> list[Diagnosis]:
    if not samples:
        return []
    out = []
    texts = [str(s.get("generated") or "") for s in samples]
    n = len(texts)
    loops = [i + 1 for i, t in enumerate(texts) if is_repetitive(t)]
    if loops:
        out.append(
            Diagnosis(
                "repetitive",
                "warning",
                "Sample answers repeat themselves",
                f"{len(loops)} of {n} sample answers (number {', '.join(map(str, loops))}) repeat the same phrases.",
                f"The guide: repetitive or generic output means you have overfit. {OVERFIT_ADVICE}",
            )
        )
    short = [i + 1 for i, t in enumerate(texts) if len(t.split()) <= GENERIC_MAX_WORDS]
    same = _most_shared_answer(samples, texts)
    if short or same >= 2:
        parts = [f"{len(short)} of {n} answers have {GENERIC_MAX_WORDS} words or fewer"] if short else []
        if same >= 2:
            parts.append(f"{same} of {n} different prompts got the same answer")
        out.append(
            Diagnosis(
                "generic",
                "warning",
                "Sample answers are generic",
                "; ".join(parts) + ".",
                f"The guide: repetitive or generic output means you have overfit. {OVERFIT_ADVICE}",
            )
        )
    open_ended = [i + 1 for i, s in enumerate(samples) if not s.get("stopped_at_eos", True)]
    if open_ended:
        most = len(open_ended) * 2 > n
        out.append(
            Diagnosis(
                "no_eos",
                "warning" if most else "info",
                "Answers do not stop at the end token",
                f"{len(open_ended)} of {n} sample answers ran to the token limit without {EOS_TOKEN}.",
                "A model that never ends its turn was trained or exported with a mismatched chat template: "
                f"the tokenizer's end token must be the template's end of turn ({EOS_TOKEN} for SmolLM2), "
                "and the loss must include it at the end of each assistant turn. One long answer hitting "
                "the limit is normal.",
            )
        )
    return out


# ---- all checks ----------------------------------------------------------------------------------


def _recent(series: list[tuple], n: int = 3) -> float:
    return median(v for _, _, v in series[-n:])


def _dpo_stuck(rows: list[dict], cfg: TrainConfig) -> list[Diagnosis]:
    accuracy = _series(rows, "rewards_accuracies")
    if len(accuracy) < DPO_MIN_ROWS or _after_peak_lr(rows) < FLAT_MIN_AFTER_PEAK:
        return []
    recent = _recent(accuracy, 5)
    if not STUCK_ACCURACY[0] <= recent <= STUCK_ACCURACY[1]:
        return []
    step, epoch, _ = accuracy[-1]
    return [
        Diagnosis(
            "dpo_stuck",
            "warning",
            "Reward accuracy is stuck near 0.5",
            f"The chosen answer out-scores the rejected one in {recent:.0%} of the pairs by {_at(step, epoch)}, "
            f"over {len(accuracy)} logged steps: the model does not tell them apart.",
            f"Raise the learning rate ({_lr(cfg.learning_rate)} now; {_lr_range_text(cfg.method)}), check that chosen "
            "and rejected answers really differ (not near-duplicates, not swapped), and add more pairs.",
        )
    ]


def _dpo_margins(rows: list[dict], cfg: TrainConfig) -> list[Diagnosis]:
    margins = _series(rows, "rewards_margins")
    if len(margins) < 3 or _recent(margins) <= MARGIN_EXPLODE:
        return []
    step, epoch, _ = margins[-1]
    return [
        Diagnosis(
            "dpo_margins",
            "warning",
            "Reward margins are exploding",
            f"The mean margin between chosen and rejected rewards is {_recent(margins):.1f} by {_at(step, epoch)} "
            f"(beta {cfg.beta:g}): the model is moving far from the reference to win the pairs.",
            f"Lower the learning rate ({_lr(cfg.learning_rate)} now) or raise beta (keeps the model closer to the "
            'reference); loss_type "ipo" bounds the margin it aims for.',
        )
    ]


def _dpo_chosen_falling(rows: list[dict], cfg: TrainConfig) -> list[Diagnosis]:
    chosen, margins = _series(rows, "rewards_chosen"), _series(rows, "rewards_margins")
    if len(chosen) < 6 or len(margins) < 6:
        return []
    now, before = _recent(chosen), median(v for _, _, v in chosen[:3])
    if now > -CHOSEN_FALL or now >= before or _recent(margins) <= median(v for _, _, v in margins[:3]):
        return []
    step, epoch, _ = chosen[-1]
    return [
        Diagnosis(
            "dpo_chosen_falling",
            "warning",
            "Chosen rewards are falling while margins grow",
            f"The chosen answers' reward fell from {before:.2f} to {now:.2f} by {_at(step, epoch)} while the margin "
            f"grew to {_recent(margins):.2f}: the likelihood of both answers is falling, the rejected one faster.",
            f"A known DPO failure: lower the learning rate ({_lr(cfg.learning_rate)} now), train fewer epochs, or add "
            "an SFT term: start from an SFT run on the chosen answers (init_from_run).",
        )
    ]


def diagnose(rows: list[dict], cfg: TrainConfig, samples: list[dict] | None = None) -> list[Diagnosis]:
    """Every check that fires, errors first; an empty list when nothing looks wrong."""
    found = _nonfinite(rows, cfg)
    train = [t for t in _series(rows, "loss") if math.isfinite(t[2])]
    evals = [t for t in _series(rows, "eval_loss") if math.isfinite(t[2])]
    dpo = cfg.objective == "dpo"  # a DPO loss falling to ~0 on easy pairs is no collapse; its own checks instead
    if not found:  # after a NaN the rest of the curve says nothing about the learning rate
        found += _exploding(train, cfg) or ([] if dpo else _flat(rows, train, cfg))
    if dpo:
        found += _dpo_stuck(rows, cfg) + _dpo_margins(rows, cfg) + _dpo_chosen_falling(rows, cfg)
    found += _overfitting(train, evals, cfg) + ([] if dpo else _collapse(train, evals, cfg)) + _samples(samples or [])
    return sorted(found, key=lambda d: SEVERITY_ORDER[d.severity])
