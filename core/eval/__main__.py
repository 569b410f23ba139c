"""Command-line twin of the evaluation metrics.

python -m core.eval rouge REFS.jsonl PREDS.jsonl [--json] [--unicode]
    ROUGE-L F-measure (the guide's scorer) of each PREDS line's last assistant message against
    the same line of REFS. --json prints {"mean": m, "scores": [...]} and nothing else;
    --unicode keeps non-Latin scripts (see core.eval.metrics.NOTE). Exit 0 scored, 2 bad input.
python -m core.eval preference RUN_ID PAIRS.jsonl [--beta 0.1] [--json]
    Preference accuracy of a finished LoRA/QLoRA run on held-out pairs (OpenAI's DPO JSONL): how often its
    implicit reward, beta * (log pi - log pi_ref) with the adapter disabled as the reference, ranks the chosen
    answer above the rejected one; the rewards and margin with it (core.train.dpo, as the recipe's validation).
    Exit 0 scored, 2 bad input.
python -m core.eval generate RUN_DIR
    The Evaluate page's generation job for a run folder (the same as `python -m core.eval.generate`).
Also `python -m core eval ...`. Test: `pytest tests/unit/test_eval_cli.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from core.cli import Command, dispatch, fail
from core.eval import metrics
from core.jsonl import JsonlError, read_records


def _texts(path: str) -> list[str]:
    """Each line's last assistant message; ValueError names the file and, where known, the line."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return metrics.last_assistant_texts(path)
    except JsonlError as e:
        raise ValueError(f"{path}: {e}") from None


def _paired_texts(refs: str, preds: str) -> tuple[list[str], list[str]]:
    references, predictions = _texts(refs), _texts(preds)
    if len(references) != len(predictions):
        raise ValueError(
            f"{refs} has {len(references)} examples but {preds} has {len(predictions)}; "
            "they are paired line by line, so the counts must match"
        )
    return references, predictions


def _print_summary(scores: list[float], unicode: bool, texts: list[str]) -> None:
    tokenizer = "Unicode tokenizer" if unicode else "default tokenizer"
    print(f"ROUGE-L F-measure (Porter stemming, {tokenizer}) over {len(scores)} pairs")
    print(
        f"  mean {sum(scores) / len(scores):.4f}   min {min(scores):.4f}   "
        f"median {statistics.median(scores):.4f}   max {max(scores):.4f}"
    )
    print(f"  pairs scoring 0: {sum(s == 0 for s in scores)}")
    if not unicode and any(not t.isascii() for t in texts):
        print("  note: the texts contain non-ASCII letters, which the default tokenizer drops; try --unicode")


def _rouge(args) -> int:
    try:
        references, predictions = _paired_texts(args.refs, args.preds)
    except ValueError as e:
        return fail(2, "error", str(e))
    scores = metrics.rouge_l(references, predictions, unicode=args.unicode)
    if args.json:
        print(json.dumps({"mean": sum(scores) / len(scores), "scores": scores}))
    else:
        _print_summary(scores, args.unicode, references + predictions)
    return 0


def _rouge_arguments(r) -> None:
    r.add_argument("refs", help="chat JSONL; each line's last assistant message is the reference")
    r.add_argument("preds", help="chat JSONL; each line's last assistant message is the prediction")
    r.add_argument("--json", action="store_true", help='print {"mean": ..., "scores": [...]} only')
    r.add_argument("--unicode", action="store_true", help="keep non-Latin scripts when tokenizing")


def _preference(args) -> int:
    from core.jobs import rundir
    from core.train import dpo, export
    from core.train.tokenize import TrainDataError

    try:
        records = [obj for _, obj in read_records(args.pairs)]
        folder = rundir.run_dir(args.run)
        if not export.is_adapter(folder / rundir.FINAL):
            raise ValueError(
                f"run {args.run} has no adapter in final/: its reference (the adapter disabled) is unknown"
            )
        model, tok = export.load_run(folder)
        scores = dpo.preference_accuracy(model, tok, records, beta=args.beta)
    except (OSError, ValueError, JsonlError, TrainDataError, export.ExportError) as e:
        return fail(2, "error", str(e))
    if args.json:
        print(json.dumps(scores))
    else:
        print(
            f"preference accuracy {scores.get('rewards_accuracies', 0):.3f} over {scores['pairs']} pairs "
            f"(margin {scores.get('rewards_margins', 0):.3f}, beta {args.beta:g}; {scores['dropped']} dropped)"
        )
    return 0


def _preference_arguments(r) -> None:
    r.add_argument("run", help="a finished run id (its final/ adapter)")
    r.add_argument("pairs", help="held-out preference pairs, OpenAI's DPO JSONL")
    r.add_argument("--beta", type=float, default=0.1, help="the reward's scale (the run's beta)")
    r.add_argument("--json", action="store_true", help="print the scores as JSON only")


COMMANDS = {
    "rouge": Command("ROUGE-L of predictions against references (chat JSONL, line by line)", _rouge, _rouge_arguments),
    "preference": Command("preference accuracy of a run on held-out pairs", _preference, _preference_arguments),
    "generate": Command(
        "the generation job the Evaluate page launches, for a run folder", target=f"{__package__}.generate:main"
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m core.eval", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
