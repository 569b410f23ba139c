"""DPO as a loss of the one training loop: preference pairs to tensors, the reference pass, the loss, the rewards.

A pair (OpenAI's DPO record: input.messages, preferred_output, non_preferred_output) becomes two examples,
prompt + chosen and prompt + rejected, rendered with the run's chat template (core.train.tokenize) and
labelled on the answer's tokens only. A prompt longer than max_prompt_length keeps its end (where the
answer starts); a sequence longer than max_length loses the end of its answer; both are counted.
Chosen and rejected go through the model in one forward pass (one batch: the chosen rows, then the
rejected rows), and a sequence's log-probability is the sum over its answer tokens.

The reference is the model before its first update: LoRA/QLoRA with the adapter disabled (peft's
`disable_adapter()`), a full model as loaded. Its log-probabilities are computed once, before training, for
every train and validation pair (TRL's precompute_ref_log_probs), and kept in the run folder
(rundir.REFERENCE) so a resume reuses them: no second copy of the weights is ever in memory, and no step
pays for a reference forward.
Losses (TRL's): sigmoid, -log sigmoid(beta * delta), and ipo, (delta_avg - 1/(2 beta))^2 on per-token
averages, where delta is the chosen log-ratio minus the rejected log-ratio against the reference.
Rewards: beta * (log pi - log pi_ref) of each side; accuracy: the chosen reward above the rejected one.
Test: `.venv/bin/pytest tests/unit/test_dpo.py tests/jobs/test_dpo_run.py -q` (slow: tests/slow/test_dpo_learns.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from core import templates
from core.data import preference
from core.jobs import rundir
from core.train import tokenize
from core.train.tokenize import IGNORE, Example, TrainDataError

# The metrics rows' DPO keys (TRL's rewards/... with the workbench's snake_case), train then validation.
REWARD_KEYS = ("rewards_chosen", "rewards_rejected", "rewards_margins", "rewards_accuracies")
EVAL_REWARD_KEYS = tuple(f"eval_{k}" for k in REWARD_KEYS)
METRIC_KEYS = REWARD_KEYS + EVAL_REWARD_KEYS


# ---- pairs to tensors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    chosen: Example  # prompt + chosen answer, labels on the answer only
    rejected: Example

    @property
    def length(self) -> int:
        return max(self.chosen.length, self.rejected.length)


@dataclass
class Pairs:
    pairs: list[Pair] = field(default_factory=list)
    prompts_truncated: int = 0  # prompts longer than max_prompt_length, cut at their start
    truncated: int = 0  # sequences longer than max_length, cut at the end of their answer
    dropped: int = 0  # pairs left with no answer token on a side

    @property
    def tokens(self) -> int:
        return sum(len(p.chosen.input_ids) + len(p.rejected.input_ids) for p in self.pairs)

    @property
    def examples(self) -> list[Pair]:  # the loop's and the summary's name for what it trains on
        return self.pairs


def answer_example(tok, messages: list[dict], tools: list[dict] | None) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) of a conversation whose last message is the answer; only that turn is learned."""
    text, spans = tokenize.assistant_spans(tok, messages, tools)
    if not spans:
        raise TrainDataError("the answer is not an assistant message the chat template renders")
    start, end = spans[-1]
    enc = tok(text[:end], add_special_tokens=False, return_offsets_mapping=True)
    prompt = [t for t, (s, _e) in zip(enc["input_ids"], enc["offset_mapping"], strict=True) if s < start]
    return prompt, list(enc["input_ids"][len(prompt) :])


def _side(prompt: list[int], answer: list[int], max_prompt: int, max_length: int) -> tuple[Example, bool, bool]:
    """One side as an Example: (example, prompt cut, answer cut)."""
    prompt_cut = len(prompt) > max_prompt
    prompt = prompt[-max_prompt:] if prompt_cut else prompt
    answer_cut = len(prompt) + len(answer) > max_length
    answer = answer[: max_length - len(prompt)]
    return Example(prompt + answer, [IGNORE] * len(prompt) + answer), prompt_cut, answer_cut


def tokenize_pairs(tok, records: list, max_prompt_length: int, max_length: int, name: str = "pair") -> Pairs:
    """Every pair as two labelled examples; truncations and pairs left with nothing to compare are counted."""
    out = Pairs()
    for i, record in enumerate(records):
        where = f"{name} {i + 1}"
        if not preference.is_pair(record):
            raise TrainDataError(
                f"{where}: not a preference pair; give input.messages, preferred_output and non_preferred_output"
            )
        sides, cut_prompt, cut_answer = [], False, False
        for side in preference.SIDES:
            example = preference.as_chat(record, side)
            try:
                prompt, answer = answer_example(tok, example["messages"], templates.tools_of(example))
            except TrainDataError as exc:
                raise TrainDataError(f"{where} ({preference.SIDES[side]}): {exc}") from None
            ex, p_cut, a_cut = _side(prompt, answer, max_prompt_length, max_length)
            sides.append(ex)
            cut_prompt, cut_answer = cut_prompt or p_cut, cut_answer or a_cut
        out.prompts_truncated += cut_prompt
        out.truncated += cut_answer
        if min(s.n_targets for s in sides) == 0:
            out.dropped += 1
            continue
        out.pairs.append(Pair(*sides))
    return out


def collate(pairs: list[Pair], pad_id: int) -> dict:
    """One batch for the one forward pass: the chosen sequences, then the rejected ones."""
    return tokenize.collate([p.chosen for p in pairs] + [p.rejected for p in pairs], pad_id)


# ---- log-probabilities and the loss --------------------------------------------------------------------


def sequence_logps(model, head, batch: dict, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-probability of each row's answer tokens, the number of those tokens) for a collated batch."""
    from core.train.recipe import target_logits  # the recipe's head-on-targets forward; one home for it

    logits, keep = target_logits(model, head, batch, bf16)
    token_logps = -F.cross_entropy(logits, batch["targets"][keep], reduction="none")
    rows = keep.nonzero()[:, 0]
    n = batch["targets"].shape[0]
    logps = torch.zeros(n, device=logits.device, dtype=token_logps.dtype).index_add(0, rows, token_logps)
    counts = torch.zeros(n, device=logits.device).index_add(0, rows, torch.ones_like(token_logps))
    return logps, counts


def dpo_loss(policy: torch.Tensor, reference: torch.Tensor, counts: torch.Tensor, beta: float, loss_type: str):
    """(per-pair loss, chosen rewards, rejected rewards) from [chosen..., rejected...] log-probs of one batch."""
    ratios = policy - reference
    chosen, rejected = ratios.chunk(2)
    if loss_type == "ipo":  # per-token averages, as TRL (and the IPO authors) do
        n_chosen, n_rejected = counts.clamp(min=1).chunk(2)
        losses = (chosen / n_chosen - rejected / n_rejected - 1 / (2 * beta)) ** 2
    else:
        losses = -F.logsigmoid(beta * (chosen - rejected))
    return losses, beta * chosen.detach(), beta * rejected.detach()


def reward_row(chosen: torch.Tensor, rejected: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """The metrics row's reward columns: means over the pairs given."""
    if not len(chosen):
        return {}
    values = (chosen.mean(), rejected.mean(), (chosen - rejected).mean(), (chosen > rejected).float().mean())
    return {prefix + k: round(float(v), 6) for k, v in zip(REWARD_KEYS, values, strict=True)}


# ---- the reference ---------------------------------------------------------------------------------------


def reference_context(model):
    """The model as the reference: its adapter disabled (LoRA/QLoRA), or as it is (a full model before training)."""
    import contextlib

    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def _batches(pairs: list[Pair], batch_size: int) -> list[list[int]]:
    return tokenize.length_grouped_batches([p.length for p in pairs], batch_size, 0)


def pair_logps(model, head, pairs: list[Pair], batch_size: int, pad_id: int, bf16: bool, on_batch=None):
    """(log-probs [2, n]: chosen row, rejected row; answer tokens [2, n]) of every pair, without gradients."""
    logps, counts = torch.zeros(2, len(pairs)), torch.zeros(2, len(pairs))
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for done, b in enumerate(_batches(pairs, batch_size), 1):
            batch = {k: v.to(device) for k, v in collate([pairs[i] for i in b], pad_id).items()}
            lp, n = sequence_logps(model, head, batch, bf16)
            logps[:, b], counts[:, b] = lp.float().cpu().view(2, -1), n.float().cpu().view(2, -1)
            if on_batch:
                on_batch(done)
    model.train(was_training)
    return logps, counts


def reference_logps(model, head, sets: dict[str, Pairs], batch_size: int, pad_id: int, bf16: bool, on_batch=None):
    """{split: [2, n] reference log-probs} for each set of pairs, from the model as the reference."""
    with reference_context(model):
        return {
            name: pair_logps(model, head, s.pairs, batch_size, pad_id, bf16, on_batch)[0] for name, s in sets.items()
        }


def save_reference(run_dir: Path, logps: dict[str, torch.Tensor]) -> None:
    rundir.write_json(run_dir / rundir.REFERENCE, {k: v.tolist() for k, v in logps.items()})


def load_reference(run_dir: Path, sizes: dict[str, int]) -> dict[str, torch.Tensor] | None:
    """The reference log-probs a run saved, when they are for pairs of these sizes; None otherwise."""
    try:
        saved = json.loads((Path(run_dir) / rundir.REFERENCE).read_text())
    except (OSError, ValueError):
        return None
    found = {k: torch.tensor(v) for k, v in saved.items() if k in sizes}
    ok = set(found) == set(sizes) and all(found[k].shape == (2, n) for k, n in sizes.items())
    return found if ok else None


# ---- preference accuracy: validation and evaluation ----------------------------------------------------


def preference_scores(policy: torch.Tensor, reference: torch.Tensor, counts, beta: float, loss_type: str) -> dict:
    """Mean DPO loss, rewards, margin and preference accuracy of pairs from their [2, n] log-probs."""
    flat = lambda t: t.reshape(-1)  # noqa: E731 - [chosen..., rejected...], as one batch has them
    losses, chosen, rejected = dpo_loss(flat(policy), flat(reference), flat(counts), beta, loss_type)
    return {"loss": float(losses.mean()), **reward_row(chosen, rejected)}


def preference_accuracy(model, tok, records: list[dict], beta: float = 0.1, **kw) -> dict:
    """Does the model's implicit reward, beta * (log pi - log pi_ref), rank each chosen answer above the rejected
    one? The reference is the same model with its adapter disabled. Returns the mean loss, rewards and
    `rewards_accuracies` (the fraction ranked right) over the pairs, with `pairs` and `dropped` counted."""
    pairs = tokenize_pairs(tok, records, kw.get("max_prompt_length", 512), kw.get("max_length", 1024))
    head, batch, pad = model.get_output_embeddings(), kw.get("batch_size", 4), tok.pad_token_id or tok.eos_token_id
    policy, counts = pair_logps(model, head, pairs.pairs, batch, pad, kw.get("bf16", False))
    with reference_context(model):
        reference, _ = pair_logps(model, head, pairs.pairs, batch, pad, kw.get("bf16", False))
    scores = preference_scores(policy, reference, counts, beta, kw.get("loss_type", "sigmoid")) if pairs.pairs else {}
    return {**scores, "pairs": len(pairs.pairs), "dropped": pairs.dropped}
