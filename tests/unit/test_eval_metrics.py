"""core.eval.metrics: ROUGE-L against the guide's evaluate_model, Unicode scoring, formats, compare.

Run: `pytest tests/unit/test_eval_metrics.py`.
"""

import json
import math
import random

import pytest
from rouge_score import rouge_scorer

from core.data import samples
from core.eval import metrics
from core.jsonl import JsonlError

# --- The guide's evaluate_model ("Quantitative Evaluation"), copied as printed, as the reference ---
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def evaluate_model(model_fn, test_file):
    results = []
    with open(test_file) as f:
        for line in f:
            data = json.loads(line)
            messages = data["messages"]
            # Input is everything except last assistant message
            prompt = messages[:-1]
            expected = messages[-1]["content"]
            # Generate
            actual = model_fn(prompt)
            # Score
            score = scorer.score(expected, actual)
            results.append(score["rougeL"].fmeasure)
    return sum(results) / len(results)


# (question, reference answer, the fixed prediction a fake model gives for that question)
GUIDE_CASES = [
    ("q1", "the cat sat on the mat", "the cat lay on the rug"),
    ("q2", "The dogs were running quickly.", "the dog runs quickly"),
    ("q3", "Restart the service, then check the logs.", "Check the logs first; restart if needed."),
    ("q4", "Use a cache keyed on the lockfile hash.", "Unrelated words entirely."),
    ("q5", "Identical answer here.", "Identical answer here."),
]


def chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def test_rouge_l_equals_the_guides_evaluate_model(tmp_path):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text("".join(json.dumps(chat(q, ref)) + "\n" for q, ref, _ in GUIDE_CASES))
    fixed = {q: pred for q, _, pred in GUIDE_CASES}

    guide_mean = evaluate_model(lambda prompt: fixed[prompt[-1]["content"]], test_file)

    references = metrics.last_assistant_texts(test_file)
    predictions = [pred for _, _, pred in GUIDE_CASES]
    ours = metrics.rouge_l(references, predictions)
    assert ours == [scorer.score(r, p)["rougeL"].fmeasure for r, p in zip(references, predictions, strict=True)]
    assert sum(ours) / len(ours) == guide_mean
    assert metrics.evaluate(references, predictions).summary["rouge_l"] == guide_mean


def test_hand_computed_rouge_l():
    # the cat sat on the mat / the cat lay on the rug: 6 tokens each (none over 3 letters, so no
    # stemming), LCS "the cat on the" = 4, P = R = 4/6, F = 2/3.
    # The dogs were running quickly / the dog runs quickly: stems [the dog were run quickli] (5)
    # and [the dog run quickli] (4), LCS 4, P = 1, R = 4/5, F = 2*1*0.8/1.8 = 8/9.
    scores = metrics.rouge_l(
        ["the cat sat on the mat", "The dogs were running quickly", "something", ""],
        ["the cat lay on the rug", "the dog runs quickly", "", ""],
    )
    assert scores[:2] == pytest.approx([2 / 3, 8 / 9])
    assert scores[2:] == [0.0, 0.0]  # an empty side has no tokens: rouge_score scores 0


def _varied_pairs() -> list[tuple[str, str]]:
    """Demo answers paired with their neighbours, shuffled inflected word salad, and edge cases."""
    answers = metrics.last_assistant_texts(samples.sample_path("demo"))
    pairs = list(zip(answers, answers[1:] + answers[:1], strict=True))
    pairs += [(a, a.upper()) for a in answers[:20]]
    rng = random.Random(7)
    vocab = "run running runs ran runner connect connected connection generously happily studies".split()
    vocab += "studying the a an of to 2024 v1.2 e-mail CAN'T it's data-driven caching cached".split()
    for _ in range(100):
        pairs.append(tuple(" ".join(rng.choices(vocab, k=rng.randint(0, 40))) for _ in range(2)))
    pairs += [("", ""), ("", "x"), ("x", ""), ("!!!", "?"), ("Hello\tworld\n", "hello, WORLD")]
    return pairs


def test_cached_stems_give_the_plain_scorers_scores():
    pairs = _varied_pairs()
    assert len(pairs) >= 300
    refs, preds = [r for r, _ in pairs], [p for _, p in pairs]
    plain = [scorer.score(r, p)["rougeL"].fmeasure for r, p in pairs]
    hits = metrics._stem.cache_info().hits
    assert metrics.rouge_l(refs, preds) == plain
    assert metrics._stem.cache_info().hits > hits  # recurring words reused their stems


def test_unicode_tokenizer_equals_the_default_on_ascii_text():
    pairs = [(r, p) for r, p in _varied_pairs() if r.isascii() and p.isascii()]
    refs, preds = [r for r, _ in pairs], [p for _, p in pairs]
    assert metrics.rouge_l(refs, preds, unicode=True) == metrics.rouge_l(refs, preds)


@pytest.mark.parametrize("text", ["我喜欢猫", "Кошка спит на диване", "مرحبا بالعالم", "नमस्ते दुनिया"])
def test_non_latin_text_scores_zero_by_default_and_one_with_unicode(text):
    assert metrics.rouge_l([text], [text]) == [0.0]
    assert metrics.rouge_l([text], [text], unicode=True) == [1.0]


def test_unicode_partial_overlap_by_hand():
    # 我喜欢猫 / 我喜欢狗: one token per character, LCS 我喜欢 = 3 of 4 each side: P = R = F = 3/4.
    # я люблю чёрный чай / я люблю чай: 4 and 3 words, LCS 3: P = 1, R = 3/4, F = 1.5/1.75 = 6/7.
    scores = metrics.rouge_l(["我喜欢猫", "я люблю чёрный чай"], ["我喜欢狗", "я люблю чай"], unicode=True)
    assert scores == pytest.approx([3 / 4, 6 / 7])


def test_unicode_tokens():
    tokenize = metrics.UnicodeTokenizer().tokenize
    assert tokenize("我爱Python编程") == ["我", "爱", "python", "编", "程"]
    assert tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs stay inside words
    assert tokenize("Running dogs, книги") == ["run", "dog", "книги"]  # Porter on Latin words only
    assert tokenize("Cafe\u0301 crème") == ["café", "crème"]  # decomposed accents are composed first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', "json"),
        ("  [1, 2]\n", "json"),
        ('```json\n{"a": [1, 2]}\n```', "json"),
        ("```python\nprint(1)\n```", "code"),
        ("Run this:\n```\nx = 1\n```\nDone.", "code"),
        ("```json\n{broken\n```", "code"),
        ("- a\n- b\n- c", "bullets"),
        ("Steps:\n* a\n* b", "bullets"),
        ("•a\n•b", "bullets"),
        ("1. a\n2. b\n3) c", "numbered"),
        ("1. first\n  - detail\n  - detail\n2. second", "numbered"),
        ("| a | b |\n|---|:---:|\n| 1 | 2 |", "table"),
        ("a | b\n--- | ---\n1 | 2", "table"),
        ("Plain text.\n\nSecond paragraph.", "paragraphs"),
        ("Intro\n- only item\nOutro\nMore", "paragraphs"),
        ("1.5 litres of water.", "paragraphs"),
        ("42", "paragraphs"),
        ('"just a string"', "paragraphs"),
        ("{not json", "paragraphs"),
        ("---\n**bold** text", "paragraphs"),
        ("", "empty"),
        (" \n\t", "empty"),
    ],
)
def test_detect_format(text, expected):
    assert metrics.detect_format(text) == expected


def test_format_match_and_json_valid():
    ref = '{"name": "Ada", "age": 36}'
    assert metrics.json_valid(ref, '```json\n{"name": "Ada"}\n```') is True
    assert metrics.json_valid(ref, "{'name': 'Ada'}") is False  # Python dict, not JSON
    assert metrics.json_valid(ref, "") is False
    assert metrics.json_valid("Plain answer.", '{"a": 1}') is None
    assert metrics.format_match("- a\n- b", "* x\n* y") is True
    assert metrics.format_match("- a\n- b", "1. x\n2. y") is False
    assert metrics.format_match("", "") is True


def test_exact_match():
    assert metrics.exact_match("Hello  world\n", " Hello\tworld")
    assert not metrics.exact_match("hello world", "Hello world")
    assert metrics.exact_match("", "   ")
    assert not metrics.exact_match("a", "")


def test_length_ratio():
    assert metrics.length_ratio("a b c d", "a b") == 0.5
    assert metrics.length_ratio("a b", "a  b\nc") == 1.5
    assert metrics.length_ratio("a b", "") == 0.0
    assert metrics.length_ratio("", "") == 1.0
    assert metrics.length_ratio(" ", "x") == math.inf


def test_evaluate_rows_and_summary():
    refs = ['{"ok": true}', "the cat sat on the mat", "", "- a\n- b"]
    preds = ['{"ok": true}', "the cat lay on the rug", "extra words", "not json"]
    report = metrics.evaluate(refs, preds)
    assert [r["index"] for r in report.rows] == [0, 1, 2, 3]
    # json tokens [ok true] identical -> 1; the cat pair 2/3 (above); empty reference 0; "- a - b"
    # vs "not json": no common token -> 0.
    assert [r["rouge_l"] for r in report.rows] == pytest.approx([1.0, 2 / 3, 0.0, 0.0])
    assert [r["exact"] for r in report.rows] == [True, False, False, False]
    # words: 2/2, 6/6, empty reference -> inf, "- a - b" is 4 whitespace words vs 2 -> 0.5
    assert [r["length_ratio"] for r in report.rows] == [1.0, 1.0, math.inf, 0.5]
    assert [r["pred_format"] for r in report.rows] == ["json", "paragraphs", "paragraphs", "paragraphs"]
    assert [r["json_valid"] for r in report.rows] == [True, None, None, None]
    s = report.summary
    assert s["n"] == 4 and s["json_references"] == 1
    assert s["rouge_l"] == pytest.approx((1 + 2 / 3) / 4)
    assert s["exact"] == 0.25
    assert s["length_ratio"] == pytest.approx(2.5 / 3)  # the empty reference's inf is left out
    assert [r["ref_format"] for r in report.rows] == ["json", "paragraphs", "empty", "bullets"]
    assert s["format_match"] == 0.5  # json=json and paragraphs=paragraphs match; empty and bullets do not
    assert s["json_valid"] == 1.0


def test_evaluate_empty_and_mismatched():
    assert metrics.evaluate([], []).summary == {
        "n": 0,
        "rouge_l": None,
        "exact": None,
        "length_ratio": None,
        "format_match": None,
        "json_valid": None,
        "json_references": 0,
    }
    with pytest.raises(ValueError, match=r"references has 3 items but predictions has 2"):
        metrics.evaluate(["a", "b", "c"], ["a", "b"])


def test_compare_and_tally():
    outcomes = metrics.compare([0.5, 0.2, 0.3, 1.0], [0.4, 0.3, 0.3 + 1e-12, 0.0])
    assert outcomes == ["a", "b", "tie", "a"]
    assert metrics.tally(outcomes) == {"wins": 2, "losses": 1, "ties": 1}
    assert metrics.compare([], []) == []
    with pytest.raises(ValueError, match="scores_a has 1 items but scores_b has 0"):
        metrics.compare([0.1], [])


def test_last_assistant_texts(tmp_path):
    f = tmp_path / "chats.jsonl"
    lines = [
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "first"},
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "second"},
            ]
        },
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "part"}, {"type": "text", "text": "s"}],
                }
            ]
        },
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert metrics.last_assistant_texts(f) == ["second", "parts", ""]

    f.write_text(json.dumps(lines[0]) + "\n\n" + json.dumps({"messages": [{"role": "user", "content": "q"}]}))
    with pytest.raises(JsonlError) as err:
        metrics.last_assistant_texts(f)
    assert err.value.line == 3 and "no assistant message" in err.value.reason

    f.write_text('["not", "a chat"]\n')
    with pytest.raises(JsonlError, match='"messages" list') as err:
        metrics.last_assistant_texts(f)
    assert err.value.line == 1
