"""The data quality checklist: each check fires on a planted problem and stays quiet otherwise.

Run: `.venv/bin/pytest tests/unit/test_quality.py -q`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import quality as q

SYSTEM = "You are a concise technical writer."
PARAGRAPH = "Docker volumes keep data outside the container. They survive container removal."
BULLETS = "- Volumes keep data outside the container.\n- They survive container removal."


def conv(question: str, answer: str, system: str | None = SYSTEM) -> dict:
    msgs = [{"role": "system", "content": system}] if system is not None else []
    return {"messages": msgs + [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def rows_of(result: q.CheckResult, kind: str) -> list[int]:
    return sorted(f.row for f in result.flags if f.kind == kind)


def blobs(sizes: list[int], seed: int = 0, dim: int = 32) -> np.ndarray:
    """Well-separated clusters of unit vectors: random centres, small noise (cosine ~0.98 within)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    x = np.concatenate([c + 0.15 * rng.normal(size=(n, dim)) for c, n in zip(centres, sizes, strict=True)])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ---------- consistency ----------


@pytest.mark.parametrize(
    "text, expected",
    [
        (PARAGRAPH, "paragraphs"),
        (BULLETS, "bullets"),
        ("1. Build the image.\n2. Run it.", "numbered"),
        ("Run this:\n```bash\ndocker ps\n```", "code"),
        ('{"name": "web", "port": 80}', "json"),
        ("| flag | meaning |\n|---|---|\n| -d | detached |", "table"),
        ("   ", "empty"),
    ],
)
def test_answer_format(text, expected):
    assert q.answer_format(text) == expected


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("Explain Docker volumes.", "explain"),
        ("Please, could you describe a rebase?", "explain"),
        ("What is a Pod?", "what"),
        ("How do I undo a commit?", "how"),
        ("Is UDP reliable?", "yes/no"),
        ("Write a Dockerfile for Flask.", "write"),
        ("Bananas", "other"),
    ],
)
def test_task_type(prompt, expected):
    assert q.task_type(prompt) == expected


def test_mixed_format_flags_the_odd_answer_within_a_task_type():
    data = [conv(f"What is thing {i}?", PARAGRAPH) for i in range(4)] + [conv("What is thing 4?", BULLETS)]
    # "List" prompts answered in bullets are their own task type and stay consistent.
    data += [conv(f"List the parts of thing {i}.", BULLETS) for i in range(3)]
    result = q.check_consistency(data)
    assert result.data["task_types"] == {"what": 5, "list": 3}
    assert rows_of(result, "mixed_format") == [4]
    assert result.verdict == q.WARN  # 1 of 8 rows off-format: under the 20% fail line
    assert "Pick one format per task type" in result.message


def test_consistent_formats_pass():
    data = [conv(f"What is thing {i}?", PARAGRAPH) for i in range(5)]
    result = q.check_consistency(data, ["what"] * 5)
    assert result.verdict == q.OK and result.flags == []


def test_boilerplate_openers_are_flagged_and_counted():
    answers = ["Here is the answer: " + PARAGRAPH, "Sure! " + PARAGRAPH, "Sure! " + PARAGRAPH]
    answers += ["Surely volumes help. " + PARAGRAPH, "Certainly the cache helps. " + PARAGRAPH, PARAGRAPH]
    data = [conv(f"What is thing {i}?", a) for i, a in enumerate(answers)]
    result = q.check_consistency(data, ["what"] * len(data))
    assert rows_of(result, "boilerplate") == [0, 1, 2]
    assert result.data["openers"] == {"here is the answer:": 1, "sure!": 2}
    assert result.verdict == q.WARN


def test_missing_system_prompt_fails_and_names_the_rows():
    data = [conv("What is a Pod?", PARAGRAPH), conv("What is a Pod?", PARAGRAPH, system=None)]
    result = q.check_consistency(data, ["what", "what"])
    assert rows_of(result, "system_prompt_missing") == [1]
    assert result.verdict == q.FAIL
    assert "Always include the system message" in result.message


def test_a_second_system_prompt_warns():
    data = [conv("What is a Pod?", PARAGRAPH)] * 3 + [conv("What is a Pod?", PARAGRAPH, "Be helpful.")]
    result = q.check_consistency(data, ["what"] * 4)
    assert rows_of(result, "system_prompt_varies") == [3]
    assert result.verdict == q.WARN


def test_no_system_prompt_anywhere_is_consistent():
    data = [conv("What is a Pod?", PARAGRAPH, system=None)] * 3
    assert q.check_consistency(data, ["what"] * 3).verdict == q.OK


# ---------- completeness ----------


@pytest.mark.parametrize(
    "answer",
    [
        "TODO: write this.",
        "For example, [insert example here].",
        "Lorem ipsum dolor sit amet.",
        "The limit is TBD.",
    ],
)
def test_placeholders_fail(answer):
    result = q.check_completeness([conv("What is a Pod?", answer), conv("What is a Pod?", PARAGRAPH)])
    assert rows_of(result, "placeholder") == [0]
    assert result.verdict == q.FAIL


def test_words_that_only_look_like_placeholders_pass():
    result = q.check_completeness([conv("How do I build a todo app?", "Start with a todo list model. Add views.")])
    assert result.flags == [] and result.verdict == q.OK


@pytest.mark.parametrize(
    "answer",
    [
        "Volumes keep data outside the container and",
        "Run it like this:\n```bash\ndocker run nginx",
        "Use a volume (for example mydata.",
        "Volumes keep data, which means that...",
    ],
)
def test_truncated_answers_warn(answer):
    result = q.check_completeness([conv("What is a volume?", answer)])
    assert rows_of(result, "truncated") == [0]
    assert result.verdict == q.WARN


@pytest.mark.parametrize("answer", [PARAGRAPH, BULLETS.replace(".", ""), "Run:\n```bash\ndocker ps\n```"])
def test_complete_answers_are_not_truncated(answer):
    assert q.truncation(answer) is None


def test_partial_answers_warn():
    long_question = "My database container loses its data every time I recreate it with compose; how do I keep it?"
    data = [
        conv("What is a volume?", "Volumes store data. I'll continue with the rest in my next message."),
        conv(long_question, "Use a volume."),  # 3 words < 0.2 x 18 words
        conv("What is a volume?", PARAGRAPH),
    ]
    assert rows_of(q.check_completeness(data), "partial") == [0, 1]


# ---------- diversity ----------


@pytest.mark.parametrize("sizes, verdict", [([180, 10, 10], q.FAIL), ([120, 40, 40], q.WARN), ([68, 66, 66], q.OK)])
def test_dominance_verdict_on_separated_blobs(sizes, verdict):
    # Shares of the largest blob: 90% (> 80% fail), 60% (> 50% warn), 34% (ok).
    vectors = blobs(sizes)
    data = [conv(f"Question {i}?", PARAGRAPH) for i in range(len(vectors))]
    result = q.check_diversity(data, vectors)
    assert result.verdict == verdict
    assert result.data["largest_share"] == pytest.approx(sizes[0] / sum(sizes))
    assert [c["size"] for c in result.data["clusters"]] == sizes
    expected_rows = list(range(sizes[0])) if verdict != q.OK else []
    assert rows_of(result, "dominant_topic") == expected_rows


def test_clusters_beyond_the_linkage_sample_are_assigned_by_centroid():
    sizes = [720, 90, 90]  # 900 rows: 600 go through linkage, 300 are assigned
    labels = q.topic_clusters(blobs(sizes, seed=1), threshold=0.3)
    assert labels[:720].tolist() == [0] * 720
    assert set(labels[720:810]) != set(labels[810:]) and len(set(labels[720:])) == 2


def test_word_fallback_finds_a_dominant_topic_and_labels_it():
    subjects = "pods nodes services ingress secrets configmaps volumes probes quotas namespaces".split()
    subjects += "deployments daemonsets jobs cronjobs replicas taints tolerations affinity operators".split()
    crowd = [conv(f"How do Kubernetes {s} work?", PARAGRAPH) for s in subjects]  # 19 rows sharing a word
    others = "git rebase|sql joins|python generators|tcp handshakes|utf8 encoding|http caching|yaml anchors"
    data = crowd + [conv(f"Explain {t}.", PARAGRAPH) for t in others.split("|")]
    result = q.check_diversity(data)
    assert result.data["method"] == "words"
    assert result.verdict == q.WARN  # 19 of 26 = 73%: above 50%, not above 80%
    assert rows_of(result, "dominant_topic") == list(range(19))
    assert result.data["clusters"][0]["label"].startswith("kubernetes")


def test_diversity_needs_enough_rows_and_matching_vectors():
    data = [conv("What is a Pod?", PARAGRAPH)] * 5
    assert q.check_diversity(data).verdict == q.OK
    with pytest.raises(ValueError, match="3 vectors for 5 examples"):
        q.check_diversity(data, blobs([3]))


# ---------- length ----------


def test_mixing_short_and_very_long_answers_fails():
    short, long = " ".join(["word"] * 50) + ".", " ".join(["word"] * 2000) + "."
    data = [conv(f"What is {i}?", short) for i in range(20)] + [conv(f"What is {i}?", long) for i in range(3)]
    result = q.check_length(data, ["what"] * 23)
    # 23 sorted lengths: p5 = 50; p95 sits at index 20.9, between two 2000s -> 2000; 2000/50 = 40.
    assert result.verdict == q.FAIL
    assert result.data["p5"] == 50 and result.data["p95"] == 2000
    assert result.flags[0].kind == "length_mix" and "2000-word" in result.message
    assert sum(b["count"] for b in result.data["histogram"]) == 23


def test_length_outlier_is_flagged_by_row():
    lengths = [40, 45, 50, 55, 60, 42, 48, 52, 58, 44, 300]
    data = [conv(f"What is {i}?", " ".join(["word"] * n)) for i, n in enumerate(lengths)]
    result = q.check_length(data, ["what"] * len(data))
    assert rows_of(result, "length_outlier") == [10]
    assert result.verdict == q.WARN


def test_even_lengths_pass_and_tokens_are_counted():
    data = [conv("What is it?", "Hello world.")] * 12
    result = q.check_length(data, ["what"] * 12)
    assert result.verdict == q.OK and result.flags == []
    assert result.data["rows"][0] == {
        "row": 0,
        "words": 2,
        "tokens": 3,
        "task_type": "what",
    }  # Hello| world|.


# ---------- count and the whole report ----------


@pytest.mark.parametrize("n, verdict", [(5, q.FAIL), (30, q.WARN), (60, q.OK)])
def test_count(n, verdict):
    result = q.check_count([conv("What is a Pod?", PARAGRAPH)] * n)
    assert result.verdict == verdict
    if verdict != q.OK:
        assert "fewer than 50 examples rarely produces meaningful improvement" in result.message


def test_run_checks_reports_every_check_and_the_worst_verdict():
    words = "docker git python sql http linux pytest kubernetes tls dns json yaml csv redis kafka nginx bash"
    words += " terraform ansible grpc graphql oauth jwt cors utf8 regex mutex semaphore cache webhook"
    data = [conv(f"What is {w}?", PARAGRAPH) for w in words.split()]  # 30 distinct topics
    report = q.run_checks(data)
    assert [c.name for c in report.checks] == ["consistency", "completeness", "diversity", "length", "count"]
    assert report.verdict == q.WARN  # only the count check (30 < 50) complains
    assert json.loads(json.dumps(report.as_dict()))["n"] == 30


def test_malformed_examples_do_not_crash_the_checks():
    data = [{"messages": "oops"}, {"prompt": "x"}, "text", {"messages": [{"role": "user", "content": None}]}]
    report = q.run_checks(data + [conv("What is a Pod?", PARAGRAPH)] * 20)
    assert report.n == 24


# ---------- tool calling and content parts (OpenAI's current chat format) ----------


def tool_conv(i: int, topic: str) -> dict:
    """OpenAI's tool-calling shape: parts for the system and user turns, a call turn, its result, the answer."""
    from tests.shapes import OPENAI_TOOL_CALLING

    ex = json.loads(json.dumps(OPENAI_TOOL_CALLING))
    ex["messages"][0]["content"] = [{"type": "text", "text": f"What is the {topic} {i:03d}?"}]
    ex["messages"][1]["content"] = "Let me look that up"  # text that leads into the call: not an answer
    system = [{"type": "text", "text": SYSTEM}] if i % 2 else SYSTEM  # the same prompt, as parts or a string
    ex["messages"].insert(0, {"role": "system", "content": system})
    return ex


def test_tool_calling_and_content_parts_are_read_by_their_text():
    topics = ["weather forecast", "stock price", "flight status", "exchange rate", "train delay"]
    data = [tool_conv(i, topics[i % 5]) for i in range(40)]
    report = q.run_checks(data)
    consistency = report.check("consistency")
    assert consistency.verdict == q.OK and consistency.data["system_prompts"] == {SYSTEM: 40}
    assert consistency.data["task_types"] == {"what": 40}  # read from the user turn's text part
    assert not report.rows("truncated") and not report.rows("partial")  # "Let me look that up" answers nothing
    clusters = report.check("diversity").data["clusters"]
    assert clusters[0]["label"] != "(no common words)" and clusters[0]["share"] == 8 / 40
    assert report.check("length").data["median"] == 10  # the final answer's words, not the call's lead-in
