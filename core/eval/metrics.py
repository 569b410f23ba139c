"""Evaluation metrics: ROUGE-L (the guide's scorer), exact match, length ratio, output format.

ROUGE-L is rouge_score's `RougeScorer(["rougeL"], use_stemmer=True)` F-measure, exactly as the
guide's evaluate_model computes it, with the Porter stemmer's results cached (identical scores,
about twice as fast). `unicode=True` swaps in a tokenizer that keeps every script (see NOTE).
Everything else is plain Python; rouge_score (and nltk, ~2 s to import) loads on first scoring.
Test: `pytest tests/unit/test_eval_metrics.py`; CLI: `python -m core.eval rouge REFS PREDS --json`.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core import chat
from core.jsonl import JsonlError, read_records

FORMATS = ("empty", "json", "code", "bullets", "numbered", "table", "paragraphs")
TIE_EPSILON = 1e-9
STEM_CACHE_SIZE = 1 << 16  # distinct words; bounded so a long-lived app process cannot grow forever

NOTE = (
    "ROUGE-L compares words. The standard scorer (rouge_score, as in the guide) lowercases the "
    "text and keeps only the characters a-z and 0-9, so Chinese, Japanese, Korean, Russian, "
    "Arabic, Hindi or Greek text has no words left and scores 0.0 even against itself, and "
    'accented words are cut apart ("café" becomes "caf"). The Unicode option keeps the letters '
    "and digits of every script, scores Chinese, Japanese and Korean one character at a time "
    "(they do not separate words with spaces), and applies the same English Porter stemmer to "
    "Latin-script words only. On plain English (ASCII) text both options give identical scores; "
    "scores from different tokenizers are not comparable, so compare runs scored the same way."
)


# --- Tokenizers (rouge_score only needs an object with tokenize(text) -> list[str]) ---


@functools.cache
def _porter():
    from nltk.stem import porter  # imported on first use: nltk is slow to import

    return porter.PorterStemmer()


@functools.lru_cache(maxsize=STEM_CACHE_SIZE)
def _stem(word: str) -> str:
    # Stemming dominates tokenization and the same words recur across pairs; stems are pure.
    return _porter().stem(word)


class _CachedStemmer:
    """The Porter stemmer rouge_score builds for use_stemmer=True, with its results memoised."""

    def stem(self, word: str) -> str:
        return _stem(word)


class CachedDefaultTokenizer:
    """rouge_score's own tokenization ([a-z0-9] words, Porter stems over 3 letters), cached stems."""

    def __init__(self) -> None:
        from rouge_score import tokenize

        self._tokenize = tokenize.tokenize
        self._stemmer = _CachedStemmer()

    def tokenize(self, text: str) -> list[str]:
        return self._tokenize(text, self._stemmer)


# Han (with extensions and compatibility forms), kana, hangul: written without spaces between words.
_CJK_RE = re.compile(
    "[\u1100-\u11ff\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
# Latin script after lowercasing: ASCII letters and digits, Latin-1 letters, Latin Extended-A/B.
_LATIN_RE = re.compile("[a-z0-9\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f]+")


@functools.cache
def _word_re() -> re.Pattern:
    """Runs of letters and digits (`\\w` without `_`) plus combining marks.

    `\\w` alone excludes combining marks, which would cut Hindi, Thai or Arabic-with-vowels words
    apart at every vowel sign.
    """
    marks = [chr(c) for c in range(0x300, 0x20000) if unicodedata.category(chr(c)).startswith("M")]
    marks += [chr(c) for c in range(0xE0100, 0xE01F0)]  # variation selectors supplement
    return re.compile(r"(?:[^\W_]|[" + "".join(marks) + "])+")


class UnicodeTokenizer:
    """Words in any script, lowercased and NFC-normalised; CJK split into single characters;
    Porter stems (cached) on Latin words of more than 3 characters, as the default does."""

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFC", text.lower())
        text = _CJK_RE.sub(r" \g<0> ", text)
        words = _word_re().findall(text)
        return [_stem(w) if len(w) > 3 and _LATIN_RE.fullmatch(w) else w for w in words]


@functools.cache
def _scorer(unicode: bool):
    from rouge_score import rouge_scorer

    tokenizer = UnicodeTokenizer() if unicode else CachedDefaultTokenizer()
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True, tokenizer=tokenizer)


# --- Per-example metrics ---


def _check_lengths(a: Sequence, b: Sequence, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names[0]} has {len(a)} items but {names[1]} has {len(b)}; they must pair one to one")


def _text(value) -> str:
    return "" if value is None else str(value)


def rouge_l(references: Sequence[str], predictions: Sequence[str], unicode: bool = False) -> list[float]:
    """ROUGE-L F-measure per pair; two empty texts score 0.0, as rouge_score scores them."""
    _check_lengths(references, predictions, ("references", "predictions"))
    scorer = _scorer(unicode)
    return [
        float(scorer.score(_text(r), _text(p))["rougeL"].fmeasure)
        for r, p in zip(references, predictions, strict=True)
    ]


def exact_match(ref: str, pred: str) -> bool:
    """Equal after stripping and collapsing whitespace; case-sensitive."""
    return _text(ref).split() == _text(pred).split()


def length_ratio(ref: str, pred: str) -> float:
    """Whitespace words in the prediction / in the reference.

    An empty reference gives 1.0 when the prediction is empty too (same length) and inf when it
    is not (the summary's mean leaves those out).
    """
    ref_words, pred_words = len(_text(ref).split()), len(_text(pred).split())
    if ref_words == 0:
        return 1.0 if pred_words == 0 else math.inf
    return pred_words / ref_words


# --- Output format ---

_FENCED_RE = re.compile(r"```[\w+.-]*[ \t]*\n(.*?)\n?```", re.S)
_TABLE_RULE_RE = re.compile(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?")
_NUMBERED_RE = re.compile(r"\d{1,3}[.)](\s|$)")
_BULLET_RE = re.compile(r"[-*+]\s|•")


def _parse_json(text: str) -> tuple[bool, object]:
    """(parsed, value) of the stripped text, or of the inside of a single ``` fence around it."""
    s = _text(text).strip()
    fenced = _FENCED_RE.fullmatch(s)
    if fenced:
        s = fenced.group(1).strip()
    if not s:
        return False, None
    try:
        return True, json.loads(s)
    except (ValueError, RecursionError):
        return False, None


def _is_table(lines: list[str]) -> bool:
    """A markdown table: a line with pipes followed by a |---|---| rule."""
    return any(
        "|" in rule and "|" in header and _TABLE_RULE_RE.fullmatch(rule)
        for header, rule in zip(lines, lines[1:], strict=False)
    )


def _list_kind(lines: list[str]) -> str | None:
    """'numbered' or 'bullets' when more than half the lines are list items (the first item's kind)."""
    kinds = ["numbered" if _NUMBERED_RE.match(ln) else "bullets" if _BULLET_RE.match(ln) else None for ln in lines]
    items = [k for k in kinds if k]
    return items[0] if len(items) * 2 > len(lines) else None


def detect_format(text: str) -> str:
    """One of FORMATS; checked in that order, so a fenced JSON answer is "json", not "code"."""
    s = _text(text).strip()
    if not s:
        return "empty"  # an empty answer must not count as matching a prose reference
    parsed, value = _parse_json(s)
    if parsed and isinstance(value, dict | list):
        return "json"
    if "```" in s:
        return "code"
    lines = [ln.strip() for ln in s.splitlines() if ln.strip()]
    if _is_table(lines):
        return "table"
    return _list_kind(lines) or "paragraphs"


def format_match(ref: str, pred: str) -> bool:
    return detect_format(ref) == detect_format(pred)


def json_valid(ref: str, pred: str) -> bool | None:
    """None when the reference is not JSON; else whether the prediction parses as JSON."""
    if detect_format(ref) != "json":
        return None
    return _parse_json(pred)[0]


# --- A whole evaluation ---


@dataclass
class Report:
    rows: list[dict]  # one per pair: index (0-based), rouge_l, exact, length_ratio, formats, json_valid
    summary: dict  # n and the mean of each metric; None where nothing was measured


def _row(index: int, ref: str, pred: str, score: float) -> dict:
    return {
        "index": index,
        "rouge_l": score,
        "exact": exact_match(ref, pred),
        "length_ratio": length_ratio(ref, pred),
        "ref_format": detect_format(ref),
        "pred_format": detect_format(pred),
        "format_match": format_match(ref, pred),
        "json_valid": json_valid(ref, pred),
    }


def _mean(values: list[float]) -> float | None:
    # sum/len, as the guide's evaluate_model, so the means agree to the last bit
    return sum(values) / len(values) if values else None


def _summary(rows: list[dict]) -> dict:
    judged = [float(r["json_valid"]) for r in rows if r["json_valid"] is not None]
    return {
        "n": len(rows),
        "rouge_l": _mean([r["rouge_l"] for r in rows]),
        "exact": _mean([float(r["exact"]) for r in rows]),
        "length_ratio": _mean([r["length_ratio"] for r in rows if math.isfinite(r["length_ratio"])]),
        "format_match": _mean([float(r["format_match"]) for r in rows]),
        "json_valid": _mean(judged),
        "json_references": len(judged),
    }


def evaluate(references: Sequence[str], predictions: Sequence[str], unicode: bool = False) -> Report:
    """Every metric for each (reference, prediction) pair, and their means."""
    scores = rouge_l(references, predictions, unicode=unicode)
    rows = [
        _row(i, _text(r), _text(p), s) for i, (r, p, s) in enumerate(zip(references, predictions, scores, strict=True))
    ]
    return Report(rows=rows, summary=_summary(rows))


def compare(scores_a: Sequence[float], scores_b: Sequence[float]) -> list[str]:
    """Per example: "a" or "b" for the higher score, "tie" within TIE_EPSILON."""
    _check_lengths(scores_a, scores_b, ("scores_a", "scores_b"))
    return [
        "tie" if abs(a - b) <= TIE_EPSILON else "a" if a > b else "b" for a, b in zip(scores_a, scores_b, strict=True)
    ]


def tally(outcomes: Sequence[str]) -> dict[str, int]:
    """Wins, losses and ties of A in compare()'s outcomes."""
    return {"wins": outcomes.count("a"), "losses": outcomes.count("b"), "ties": outcomes.count("tie")}


# --- Reading chat files ---


def _last_assistant(line: int, record) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise JsonlError(line, 'expected a chat example: an object with a "messages" list')
    if (message := chat.last_assistant(record)) is None:
        raise JsonlError(line, "no assistant message, so nothing to score")
    content = message.get("content")
    if (text := chat.content_text(content)) is None:
        raise JsonlError(line, f"the assistant message's content is a {type(content).__name__}, not text")
    return text


def last_assistant_texts(path: str | Path) -> list[str]:
    """Each line's last assistant message; JsonlError names the first line that has none."""
    return [_last_assistant(line, record) for line, record in read_records(path)]
