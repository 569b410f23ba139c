"""The guide's data quality checklist as checks: consistency, completeness, diversity, length, count.

`run_checks(examples, vectors=None)` returns a QualityReport: per check a verdict (ok / warn /
fail), a sentence quoting the guide, per-row flags (Finding with `row`) and data for charts.
Diversity clusters the user turns by the vectors given (sentence embeddings); without them it
falls back to bag-of-words vectors, so the check runs before any embedding job. The bulk edits
that fix what these checks flag live in core.data.edits; deduplication in core.data.dedup.
Test: `.venv/bin/pytest tests/unit/test_quality.py -q`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from core import chat, tokens
from core.data import ERROR, WARNING, Finding

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}
_ERROR_KINDS = {"placeholder", "system_prompt_missing"}  # each one alone makes its check fail

GUIDE_CONSISTENCY = '"Pick one format per task type and stick to it."'
GUIDE_OPENERS = (
    '"Even small variations (e.g., "Here is the answer:" vs. jumping straight to the answer) cause inconsistency."'
)
GUIDE_SYSTEM = '"Always include the system message in every training example if you want the model to respect it."'
GUIDE_COMPLETE = (
    '"Every assistant response should be a complete, ideal answer. Do not include partial responses or placeholders."'
)
GUIDE_DIVERSITY = (
    '"If 90% of your training data is about topic A, the model will default to topic A even when asked about topic B."'
)
GUIDE_LENGTH = '"Mixing 50-word and 2000-word responses in the same dataset produces unpredictable length behavior."'
GUIDE_COUNT = (
    '"Fine-tuning with fewer than 50 examples rarely produces meaningful improvement. '
    'For complex tasks, you typically need 200-500+ examples."'
)

MIN_GROUP = 3  # a task type with fewer answers has no majority format to deviate from
FORMAT_FAIL_SHARE = 0.2  # above this share of off-format answers there is no single format to learn
# The guide's bad case is 90% on one topic: fail from 80% leaves room for clustering noise; warn
# once one topic outweighs all the others together.
DOMINANT_WARN, DOMINANT_FAIL = 0.5, 0.8
MIN_DIVERSITY_ROWS = 20
MAX_CLUSTERS_SHOWN = 15
# Topics by average linkage, not k-means: k-means with k = sqrt(n/2) = 8 split the messy sample's
# 72% Docker rows into pieces (largest 44%), and k = 2 put 75% of the diverse demo (MiniLM) in one cluster.
# The cut: a topic is a group whose members are on average at least this similar.
# Measured on 200 hand-written questions over 20 topics (all-MiniLM-L6-v2): same topic 0.26 mean
# (Docker 0.46), different topics 0.11. Binary bag-of-words: same topic 0.07-0.22, different 0.002.
TOPIC_SIM = {"embeddings": 0.30, "words": 0.10}
MAX_LINKAGE_ROWS = 600  # average linkage costs O(n^2) per merge; larger sets assign the rest by centroid
MAX_TERMS = 1000  # bag-of-words columns: 20k rows stay under 80 MB
MIX_WARN, MIX_FAIL = 10.0, 40.0  # p95/p5 answer-length ratio; the guide's example is 2000/50 = 40
OUTLIER_MIN_RATIO = 2.0  # an IQR outlier must also be twice (or half) its group's median length
MIN_LENGTH_GROUP = 8  # smaller task-type groups are pooled for the outlier rule
COUNT_WARN, COUNT_FAIL = 50, 10  # the guide's 50; OpenAI refuses fewer than 10 examples


@dataclass
class CheckResult:
    name: str
    verdict: str
    message: str
    flags: list[Finding] = field(default_factory=list)
    data: dict = field(default_factory=dict)


@dataclass
class QualityReport:
    n: int
    checks: list[CheckResult]

    @property
    def verdict(self) -> str:
        return _worst(c.verdict for c in self.checks)

    @property
    def flags(self) -> list[Finding]:
        return [f for c in self.checks for f in c.flags]

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def rows(self, kind: str) -> set[int]:
        return {f.row for f in self.flags if f.kind == kind and f.row is not None}

    def as_dict(self) -> dict:
        return asdict(self)


def _worst(verdicts) -> str:
    return max(verdicts, key=_RANK.__getitem__, default=OK)


def _flag(kind: str, row: int | None, message: str, hint: str = "", **extra) -> Finding:
    """A finding about one row (1-based in the message, 0-based in `row`), or the whole set."""
    where = f"row {row + 1}: " if row is not None else ""
    severity = ERROR if kind in _ERROR_KINDS else WARNING
    return Finding(kind, where + message, severity, row=row, hint=hint, extra=extra)


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Turns:
    """One example's plain-text turns, read once: every check looks at the same few of them."""

    users: list[str]
    answers: list[str]

    @property
    def first_user(self) -> str:
        return self.users[0] if self.users else ""

    @property
    def last_answer(self) -> str:
        return self.answers[-1] if self.answers else ""


def turns_of(examples) -> list[Turns]:
    return [Turns(chat.texts(ex, "user"), chat.texts(ex, "assistant", calls=False)) for ex in examples]


# ---------- consistency ----------

_NUMBERED = re.compile(r"^\d+[.)]\s")
_BULLET = re.compile(r"^[-*\u2022+]\s")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{3,}")
_POLITE = re.compile(r"^(please|kindly|hey|hi|can you|could you|would you|will you)\b[\s,]*", re.I)
_TASK_WORDS = {
    "explain": ("explain", "describe", "summarize", "summarise", "outline", "discuss"),
    "what": ("what", "which", "who", "whats", "what's"),
    "how": ("how",),
    "why": ("why",),
    "when": ("when", "where"),
    "write": ("write", "create", "generate", "draft", "compose", "implement", "build"),
    "list": ("list", "name", "give", "enumerate"),
    "compare": ("compare", "contrast"),
    "fix": ("fix", "debug", "correct", "refactor"),
    "transform": ("translate", "convert", "rewrite", "rephrase", "format"),
    "yes/no": ("is", "are", "can", "does", "do", "should", "will", "would", "could", "did", "has", "have"),
}
_TASK_OF = {word: task for task, words in _TASK_WORDS.items() for word in words}
_OPENER = re.compile(
    r"""^\s*(?:
      here(?:'s|\s+is)\s+(?:the|your|an?|my)\s+(?:answer|response|explanation|summary|overview)\b[^\n.:!]{0,40}[:.!]?
    | (?:sure|certainly|of\s+course|absolutely|definitely|okay|great\s+question|good\s+question)(?:\s*[!.,:])
    | as\s+an\s+ai(?:\s+language\s+model)?\b[^,.\n]{0,40}[,.]?
    | i(?:'d|\s+would)\s+be\s+(?:happy|glad|delighted)\s+to\s+(?:help|explain|assist)\b[^.!\n]{0,40}[.!]?
    )""",
    re.I | re.X,
)


def answer_format(text: str) -> str:
    """bullets, numbered, paragraphs, code, json, table (or empty) for one assistant answer."""
    s = text.strip()
    if not s:
        return "empty"
    if s[0] in "[{":
        try:
            json.loads(s)
            return "json"
        except ValueError:
            pass
    if "```" in s:
        return "code"
    lines = [line.strip() for line in s.splitlines() if line.strip()]
    if sum(line.startswith("|") for line in lines) >= 2 and any(_TABLE_SEP.match(line) for line in lines):
        return "table"
    numbered = sum(bool(_NUMBERED.match(line)) for line in lines)
    bullets = sum(bool(_BULLET.match(line)) for line in lines)
    if numbered >= 2 and numbered >= bullets:
        return "numbered"
    return "bullets" if bullets >= 2 else "paragraphs"


def task_type(prompt: str) -> str:
    """The kind of request, by its leading verb or question word ("explain", "how", ...)."""
    text = prompt.strip()
    for _ in range(3):  # "Please, could you explain ..." peels twice
        text = _POLITE.sub("", text, count=1)
    first = re.match(r"[A-Za-z']+", text)
    return _TASK_OF.get(first.group(0).lower(), "other") if first else "other"


def opener(text: str) -> str | None:
    """The boilerplate opener an answer starts with ("Here is the answer:", "Sure!"), if any."""
    m = _OPENER.match(text)
    return m.group(0).strip() if m else None


def _format_flags(turns: list[Turns], types) -> tuple[list[Finding], dict]:
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row, t in enumerate(turns):
        fmt = answer_format(t.last_answer)
        if fmt != "empty":
            groups[types[row]].append((row, fmt))
    flags, table = [], []
    for task, items in groups.items():
        counts = Counter(fmt for _, fmt in items)
        main, main_n = counts.most_common(1)[0]
        table += [{"task_type": task, "format": f, "count": c} for f, c in counts.items()]
        if len(items) < MIN_GROUP:
            continue
        for row, fmt in items:
            if fmt != main:
                msg = f"answered as {fmt}; {main_n} of {len(items)} '{task}' prompts get {main}"
                flags.append(_flag("mixed_format", row, msg, f"Rewrite it as {main}.", format=fmt, expected=main))
    return flags, {"formats": table}


def _opener_flags(turns: list[Turns]) -> tuple[list[Finding], dict]:
    flags, counts = [], Counter()
    for row, t in enumerate(turns):
        found = next((o for o in map(opener, t.answers) if o), None)
        if found:
            counts[found.lower()] += 1
            hint = f'Strip "{found}" from every answer (bulk edit).'
            flags.append(_flag("boilerplate", row, f'answer opens with "{found}"', hint, opener=found))
    return flags, {"openers": dict(counts.most_common())}


def _system_prompt(example) -> str | None:
    msgs = chat.messages(example)
    content = msgs[0].get("content") if msgs and msgs[0].get("role") == "system" else None
    text = None if content is None else chat.content_text(content, "\n")  # a string, or its text parts
    return None if text is None else text.strip()


def _system_flags(examples) -> tuple[list[Finding], dict, str]:
    prompts = [_system_prompt(ex) for ex in examples]
    counts = Counter(p for p in prompts if p is not None)
    data = {"system_prompts": dict(counts.most_common()), "without_system": prompts.count(None)}
    if not counts:
        return [], data, OK
    flags, main = [], counts.most_common(1)[0][0]
    for row, p in enumerate(prompts):
        if p is None:
            flags.append(_flag("system_prompt_missing", row, "no system message", "Set it (bulk edit)."))
        elif p != main:
            flags.append(_flag("system_prompt_varies", row, "a different system prompt", system=p, usual=main))
    verdict = FAIL if data["without_system"] else (WARN if len(counts) > 1 else OK)
    return flags, data, verdict


def task_types(examples, turns: list[Turns] | None = None) -> list[str]:
    return [task_type(t.first_user) for t in turns or turns_of(examples)]


def check_consistency(examples, types: list[str] | None = None, turns: list[Turns] | None = None) -> CheckResult:
    turns = turns or turns_of(examples)
    types = task_types(examples, turns) if types is None else types
    fmt_flags, fmt_data = _format_flags(turns, types)
    open_flags, open_data = _opener_flags(turns)
    sys_flags, sys_data, sys_verdict = _system_flags(examples)
    parts, verdicts = [], [sys_verdict]
    if fmt_flags:
        share = len(fmt_flags) / max(1, len(examples))
        verdicts.append(FAIL if share > FORMAT_FAIL_SHARE else WARN)
        parts.append(f"{len(fmt_flags)} answers break their task type's format. The guide: {GUIDE_CONSISTENCY}")
    if open_flags:
        verdicts.append(WARN)
        parts.append(f"{len(open_flags)} answers start with boilerplate openers. The guide: {GUIDE_OPENERS}")
    if sys_verdict != OK:
        missing, distinct = sys_data["without_system"], len(sys_data["system_prompts"])
        parts.append(f"{missing} examples lack a system message; {distinct} system prompts in use.")
        parts.append(f"The guide: {GUIDE_SYSTEM}")
    message = " ".join(parts) or "One format per task type, no boilerplate openers, one system prompt."
    flags, data = fmt_flags + open_flags + sys_flags, {**fmt_data, **open_data, **sys_data}
    data["task_types"] = dict(Counter(types))
    return CheckResult("consistency", _worst(verdicts), message, flags, data)


# ---------- completeness ----------

_PLACEHOLDER = re.compile(
    r"\b(?:TODO|TBD|FIXME|XXX)\b"
    r"|(?i:\[(?:insert|add|your|placeholder)[^\]]*\]|lorem ipsum|<(?:placeholder|insert)[^>]*>|\[\.\.\.\])"
    r"|^\s*(?:\.\.\.|\u2026)\s*$",
    re.M,
)
_PARTIAL = re.compile(
    r"(?i)\b(?:i'll continue|i will continue|to be continued|continued in (?:the |my )?next|"
    r"rest of (?:the|this|my) answer|i(?:'ll| will) finish|more on this later)\b|\(continued\)"
)
_TERMINAL = ".!?)]}\"'`*\u201d\u2019\u00bb"
PARTIAL_RATIO = 0.2  # an answer under a fifth of its question's length answers only part of it


# Literal markers without which the patterns cannot match: most answers contain none, and the
# full patterns are slow. One search for any of them costs less than a test per marker.
_PLACEHOLDER_HINT = re.compile("TODO|TBD|FIXME|XXX|\\[|<|\\.\\.\\.|\u2026|(?i:lorem)")
_PARTIAL_HINT = re.compile("continue|rest of|finish|later")  # searched in the lowercased answer


def placeholder(text: str) -> str | None:
    if not _PLACEHOLDER_HINT.search(text):
        return None
    m = _PLACEHOLDER.search(text)
    return m.group(0).strip() if m else None


def truncation(text: str) -> str | None:
    """Why an answer looks cut off, or None: open code fence, open bracket, trailing off."""
    s = text.rstrip()
    if not s:
        return None
    if s.count("```") % 2:
        return "a code block is never closed"
    for a, b in ("()", "[]", "{}"):
        if s.count(a) > s.count(b):
            return f"an opening '{a}' is never closed"
    if s.endswith(("...", "\u2026")):
        return "it trails off with an ellipsis"
    if s[-1] not in _TERMINAL and answer_format(s) == "paragraphs":  # the cheap test first
        return "it ends mid-sentence, without final punctuation"
    return None


def partial(answer: str, question: str) -> str | None:
    m = _PARTIAL.search(answer) if _PARTIAL_HINT.search(answer.lower()) else None
    if m:
        return f'it promises more ("{m.group(0)}")'
    if not answer.strip():
        return None
    words, asked = _words(answer), _words(question)
    return f"{words} words for a {asked}-word question" if words < max(3, PARTIAL_RATIO * asked) else None


def check_completeness(examples, turns: list[Turns] | None = None) -> CheckResult:
    flags = []
    for row, t in enumerate(turns or turns_of(examples)):
        for text in t.answers:
            found = placeholder(text)
            if found:
                hint = "Write the real answer or delete the row."
                flags.append(_flag("placeholder", row, f'placeholder "{found}" in an answer', hint))
                break
        answer = t.last_answer
        if cut := truncation(answer):
            flags.append(_flag("truncated", row, f"answer looks cut off: {cut}"))
        if part := partial(answer, t.first_user):
            flags.append(_flag("partial", row, f"answer looks partial: {part}"))
    kinds = Counter(f.kind for f in flags)
    # Placeholders are unambiguous; truncation and partial answers are heuristics, so they warn.
    verdict = FAIL if kinds["placeholder"] else (WARN if flags else OK)
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
    message = f"Found {summary}. The guide: {GUIDE_COMPLETE}" if flags else "No placeholders or cut-off answers."
    return CheckResult("completeness", verdict, message, flags, {"counts": dict(kinds)})


# ---------- diversity ----------

_STOP = set(
    "a an and are as at be between by can could do does did for from how i if in into is it its me my of on or "
    "should so than that the their them then there these this to use used using vs versus what when where which "
    "who why will with would you your we our explain describe difference mean means work works make good best "
    "way get instead rather like about after before keep need want one more most other some any all also just "
    "not please".split()
)


def _terms(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in _STOP}


def word_vectors(texts: list[str], docs: list[set[str]] | None = None) -> np.ndarray:
    """Binary bag-of-words rows, unit length: a cheap stand-in for sentence embeddings.

    Only words shared by two or more texts get a column (at most MAX_TERMS): a word in one text
    adds nothing to any dot product, and its weight still counts in that row's length.
    docs: each text's `_terms`, when the caller already has them.
    """
    docs = [_terms(t) for t in texts] if docs is None else docs
    shared = [w for w, c in Counter(w for d in docs for w in d).most_common(MAX_TERMS) if c > 1]
    vocab = {w: i for i, w in enumerate(shared)}
    out = np.zeros((len(texts), max(1, len(vocab))), np.float32)
    rows, cols, values = [], [], []  # one scatter into the matrix instead of one per row
    for r, doc in enumerate(docs):
        found = [vocab[w] for w in doc if w in vocab]
        rows += [r] * len(found)
        cols += found
        values += [1 / math.sqrt(max(1, len(doc)))] * len(found)
    out[rows, cols] = values
    return out


def _average_linkage(x: np.ndarray, threshold: float) -> np.ndarray:
    """Merge the two most similar groups (mean pairwise cosine) until none reaches threshold."""
    n = len(x)
    sim = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(sim, -np.inf)
    size, labels = np.ones(n), np.arange(n)
    while n > 1:
        i, j = divmod(int(sim.argmax()), n)
        if sim[i, j] < threshold:
            break
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        sim[i], sim[:, i] = merged, merged
        sim[i, i] = sim[j] = sim[:, j] = -np.inf
        size[i] += size[j]
        labels[labels == j] = i
    return labels


def topic_clusters(vectors: np.ndarray, threshold: float, seed: int = 0) -> np.ndarray:
    """A topic id per row, 0 for the largest topic; average linkage on at most 600 rows."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    picked = np.sort(np.random.default_rng(seed).choice(n, min(n, MAX_LINKAGE_ROWS), replace=False))
    labels = np.full(n, -1)
    labels[picked] = _average_linkage(vectors[picked], threshold)
    rest = np.setdiff1d(np.arange(n), picked)
    if len(rest):
        ids = np.unique(labels[picked])
        means = np.stack([vectors[picked][labels[picked] == c].mean(0) for c in ids])
        scores = vectors[rest] @ means.T  # mean cosine to each topic's members
        best = scores.argmax(1)
        fresh = labels.max() + 1 + np.arange(len(rest))  # too far from every topic: a topic of its own
        labels[rest] = np.where(scores[np.arange(len(rest)), best] >= threshold, ids[best], fresh)
    rank = {c: i for i, (c, _) in enumerate(Counter(labels.tolist()).most_common())}
    return np.array([rank[c] for c in labels.tolist()], dtype=int)


def _topic_label(docs: list[set[str]], members: list[int], df_all: Counter, n: int) -> str:
    df = Counter(w for r in members for w in docs[r])
    lift = {w: c / len(members) - df_all[w] / n for w, c in df.items() if c >= min(2, len(members))}
    top = sorted(lift, key=lambda w: (-lift[w], w))[:3]
    return " \u00b7 ".join(top) or "(no common words)"


def check_diversity(
    examples, vectors=None, threshold: float | None = None, turns: list[Turns] | None = None
) -> CheckResult:
    n, texts = len(examples), [" ".join(t.users) for t in turns or turns_of(examples)]
    method = "embeddings" if vectors is not None else "words"
    if vectors is not None and len(vectors) != n:
        raise ValueError(f"diversity: got {len(vectors)} vectors for {n} examples")
    if n < MIN_DIVERSITY_ROWS:
        return CheckResult("diversity", OK, f"Only {n} examples: too few to judge topic spread.")
    threshold = TOPIC_SIM[method] if threshold is None else threshold
    docs = [_terms(t) for t in texts]  # each text's words once: the vectors, the counts and the labels share them
    labels = topic_clusters(word_vectors(texts, docs) if vectors is None else vectors, threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for row, c in enumerate(labels.tolist()):
        members[c].append(row)
    df_all = Counter(w for d in docs for w in d)
    clusters = []
    for c in range(min(len(members), MAX_CLUSTERS_SHOWN)):  # ids run from 0, the largest
        rows, label = members[c], _topic_label(docs, members[c], df_all, n)
        clusters.append({"cluster": c, "label": label, "size": len(rows), "share": len(rows) / n, "rows": rows[:3]})
    top = clusters[0]
    verdict = FAIL if top["share"] > DOMINANT_FAIL else WARN if top["share"] > DOMINANT_WARN else OK
    flags = []
    if verdict != OK:
        msg = f"in the dominant topic '{top['label']}' ({top['share']:.0%} of examples)"
        flags = [_flag("dominant_topic", r, msg) for r in members[0]]
    singles = sum(len(rows) == 1 for rows in members.values())
    message = f"Largest topic '{top['label']}' holds {top['share']:.0%} of {n} examples "
    message += f"({len(members) - singles} topics, {singles} one-off questions)."
    if verdict != OK:
        message += f" The guide: {GUIDE_DIVERSITY}"
    data = {"method": method, "threshold": threshold, "labels": labels.tolist(), "clusters": clusters}
    return CheckResult("diversity", verdict, message, flags, {**data, "largest_share": top["share"]})


# ---------- length calibration ----------


def _length_outliers(words: dict[int, int], types: list[str]) -> list[Finding]:
    groups: dict[str, list[int]] = defaultdict(list)
    for row in words:
        groups[types[row]].append(row)
    pooled = [r for g in groups.values() if len(g) < MIN_LENGTH_GROUP for r in g]
    sets = [(t, g) for t, g in groups.items() if len(g) >= MIN_LENGTH_GROUP] + [("all", pooled)]
    flags = []
    for task, rows in sets:
        if len(rows) < MIN_LENGTH_GROUP:
            continue
        logs = np.log([words[r] + 1 for r in rows])
        q1, med, q3 = np.percentile(logs, [25, 50, 75])
        lo, hi, limit = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1), math.log(OUTLIER_MIN_RATIO)
        for r, v in zip(rows, logs, strict=True):
            if (v < lo or v > hi) and abs(v - med) >= limit:
                median = round(math.exp(med) - 1)
                msg = f"{words[r]} words where '{task}' answers have a median of {median}"
                flags.append(_flag("length_outlier", r, msg, words=words[r], median=median))
    return flags


def check_length(examples, types: list[str] | None = None, turns: list[Turns] | None = None) -> CheckResult:
    turns = turns or turns_of(examples)
    types = task_types(examples, turns) if types is None else types
    enc = tokens.encoding()
    rows, words, counted = [], {}, {}
    for row, t in enumerate(turns):
        text = "\n".join(t.answers)
        if text.strip():
            words[row] = _words(text)
            if text not in counted:  # each distinct answer is encoded once, as the validator does
                counted[text] = tokens.count_text(text, enc)
            rows.append({"row": row, "words": words[row], "tokens": counted[text], "task_type": types[row]})
    if not rows:
        return CheckResult("length", OK, "No assistant answers to measure.", [], {"rows": [], "histogram": []})
    counts = np.array(list(words.values()))
    p5, p50, p95 = np.percentile(counts, [5, 50, 95])
    spread = p95 / max(p5, 1)
    hist = [{"start": float(a), "end": float(b), "count": int(c)} for a, b, c in _bins(counts)]
    flags = _length_outliers(words, types)
    verdict = FAIL if spread >= MIX_FAIL else WARN if spread >= MIX_WARN or flags else OK
    message = f"Answers run {p5:.0f}-{p95:.0f} words (5th-95th percentile, median {p50:.0f})"
    if spread >= MIX_WARN:
        message += f": the long ones are {spread:.0f}x the short ones. The guide: {GUIDE_LENGTH}"
        mix = f"answers mix ~{p5:.0f}-word and ~{p95:.0f}-word lengths"
        flags.insert(0, _flag("length_mix", None, mix, ratio=float(spread)))
    elif flags:
        message += f"; {len(flags)} answers are far from their task type's usual length."
    else:
        message += "; lengths are consistent."
    data = {"rows": rows, "histogram": hist, "p5": float(p5), "median": float(p50), "p95": float(p95)}
    return CheckResult("length", verdict, message, flags, data)


def _bins(counts: np.ndarray):
    edges = np.histogram_bin_edges(counts, bins=int(min(20, max(5, math.sqrt(len(counts))))))
    return zip(edges, edges[1:], np.histogram(counts, edges)[0], strict=False)


# ---------- count ----------


def check_count(examples) -> CheckResult:
    n = len(examples)
    if n < COUNT_WARN:
        verdict, floor = (FAIL, f" OpenAI requires at least {COUNT_FAIL}.") if n < COUNT_FAIL else (WARN, "")
        return CheckResult(
            "count",
            verdict,
            f"{n} examples.{floor} The guide: {GUIDE_COUNT}",
            [_flag("too_few", None, f"only {n} examples")],
            {"n": n},
        )
    note = " For complex tasks the guide suggests 200-500+." if n < 200 else ""
    return CheckResult("count", OK, f"{n} examples.{note}", [], {"n": n})


def run_checks(examples: list[dict], vectors=None, topic_threshold: float | None = None) -> QualityReport:
    """All five checks. vectors: one normalized embedding per example's user turns, or None."""
    turns = turns_of(examples)  # each example's turns read once, for all five checks
    types = task_types(examples, turns)
    checks = [
        check_consistency(examples, types, turns),
        check_completeness(examples, turns),
        check_diversity(examples, vectors, topic_threshold, turns),
        check_length(examples, types, turns),
        check_count(examples),
    ]
    return QualityReport(len(examples), checks)
