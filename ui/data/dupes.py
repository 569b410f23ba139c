"""The Data page's Duplicates view: exact and near-duplicate clusters side by side, keep one of each.

Exact groups come from core.data.dedup.find_exact on the working copy (fast, cached by content
hash); near-duplicate clusters come from the embedding analysis the Check view runs. The curator
picks a keep rule, overrides it cluster by cluster, and removes the other members in one step,
which writes a new draft (the saved versions keep every row).
Test: `.venv/bin/pytest tests/app/test_data_views.py -q`.
"""

from __future__ import annotations

import streamlit as st

from core import chat
from core.data import dedup, embed, preference
from ui.data import state

PAGE = 10  # clusters per page
SHOWN = 4  # members side by side; the rest are listed by row number
CLIP = 280
DONE = "data_dupes_done"
CHOICES = "data_dupes_choices"  # picks outlive their radio, which is gone once its page is left
RULE_LABELS = {
    "first": "the first one in the file",
    "longest": "the one with the longest answer",
    "shortest": "the one with the shortest answer",
}


@st.cache_data(max_entries=4, show_spinner=False)
def exact_groups(sha: str, _examples: list) -> list[list[int]]:
    """Exact groups of one content (the hash is the cache key; the list itself is not hashed)."""
    return dedup.find_exact(_examples)


def clip(text: str, limit: int = CLIP) -> str:
    """Text on one line, cut at a word boundary near `limit`, so a narrow column stays readable."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit * 0.6 else limit].rstrip() + " …"


def count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def row_label(row: int) -> str:
    return f"row {row + 1}"  # rows are shown 1-based, as a curator counts them


def keep_key(kind: str, sha: str, rule: str, rows: list[int]) -> str:
    """Widget key of a cluster's "Keep" radio; new content or a new rule starts from the rule again."""
    return f"data_dupes_{kind}_keep_{sha[:12]}_{rule}_{rows[0]}"


def near_clusters(work: state.Work, analysis: dict | None) -> list[dict] | None:
    """The analysis's near clusters when they describe this working copy (same row count)."""
    if analysis is None or analysis.get("n") != len(work.examples):
        return None
    n = len(work.examples)
    return [c for c in analysis.get("near", []) if c["rows"] and all(0 <= r < n for r in c["rows"])]


def chosen(kind: str, work: state.Work, rule: str, groups: list[list[int]]) -> list[int]:
    """The row to keep per cluster: the curator's pick where made (any page), else the rule's."""
    keep, picks = [], st.session_state.get(CHOICES, {})
    for rows in groups:
        picked = picks.get(keep_key(kind, work.sha, rule, rows))
        keep.append(picked if picked in rows else dedup.keep_by_rule(rows, work.examples, rule))
    return keep


def _remember(key: str) -> None:
    st.session_state.setdefault(CHOICES, {})[key] = st.session_state[key]


def without(examples: list[dict], drop: list[int]) -> list[dict]:
    gone = set(drop)
    return [e for i, e in enumerate(examples) if i not in gone]


def _remove(kind: str, work: state.Work, rule: str, groups: list[list[int]]) -> None:
    drop = dedup.drop_for_choice(groups, chosen(kind, work, rule, groups))
    state.update(work, without(work.examples, drop))
    st.session_state.pop(CHOICES, None)  # row numbers changed; old picks mean nothing now
    st.session_state[DONE] = (
        f"Removed {count(len(drop), 'row')} ({kind} duplicates), keeping one of each of "
        f"{count(len(groups), 'cluster')}. "
        "Saved versions keep every row; History shows the change and can discard the draft."
    )
    st.rerun()


def _member(example: dict, row: int) -> None:
    messages = example.get("messages") if isinstance(example, dict) else None
    if preference.is_pair(example):  # a pair shows its prompt and its chosen answer
        messages = preference.as_chat(example)["messages"]
    st.markdown(f"**{row_label(row).capitalize()}**")
    st.caption("User")
    st.text(clip(embed.user_text(messages)) or "(no user turn)")
    st.caption("Assistant")
    calls = [c.get("function") for m in chat.messages(messages) for c in chat.tool_calls(m)]
    called = "\n".join(f"calls {f.get('name')}({f.get('arguments')})" for f in calls if isinstance(f, dict))
    st.text(clip("\n".join(t for t in (embed.assistant_text(messages), called) if t)) or "(no answer)")


def _heading(number: int, rows: list[int], sims: tuple[float, float] | None) -> str:
    head = f"**Cluster {number}** · {count(len(rows), 'example')} · "
    if sims is None:
        return head + "identical apart from case and spacing"
    low, high = sims
    return head + (f"similarity {low:.3f}" if abs(high - low) < 5e-4 else f"similarity {low:.3f}–{high:.3f}")


def _cluster(kind: str, number: int, rows: list[int], sims, work: state.Work, rule: str) -> None:
    with st.container(border=True):
        st.markdown(_heading(number, rows, sims))
        for col, row in zip(st.columns(min(len(rows), SHOWN)), rows[:SHOWN], strict=False):
            with col:
                _member(work.examples[row], row)
        if len(rows) > SHOWN:
            st.caption(f"Also in this cluster: {', '.join(row_label(r) for r in rows[SHOWN:])}")
        key = keep_key(kind, work.sha, rule, rows)
        default = chosen(kind, work, rule, [rows])[0]
        st.radio(
            "Keep",
            rows,
            index=rows.index(default),
            format_func=row_label,
            horizontal=True,
            key=key,
            on_change=_remember,
            args=(key,),
        )


def _page(kind: str, total: int) -> range:
    pages = -(-total // PAGE)
    page = st.pagination(pages, key=f"data_dupes_{kind}_page") if pages > 1 else 1
    start = (page - 1) * PAGE
    return range(start, min(total, start + PAGE))


def _section(kind: str, groups: list[list[int]], sims: list | None, work: state.Work, rule: str) -> None:
    if not groups:
        st.success(f"No {kind} duplicates.")
        return
    extra = sum(len(g) - 1 for g in groups)
    st.write(f"{count(len(groups), 'cluster')}; keeping one of each removes {count(extra, 'row')}.")
    for i in _page(kind, len(groups)):
        _cluster(kind, i + 1, groups[i], sims[i] if sims else None, work, rule)
    if st.button("Remove duplicates (keep one per cluster)", key=f"data_dupes_{kind}_remove", type="primary"):
        _remove(kind, work, rule, groups)


def _near(work: state.Work, analysis: dict | None, rule: str) -> None:
    st.subheader("Near-duplicates")
    st.caption("Examples that say the same thing in different words (sentence-embedding similarity).")
    near = near_clusters(work, analysis)
    if analysis is None:
        st.info('Near-duplicates need the embedding analysis: run "Find near-duplicates and topics" in Check.')
    elif near is None:
        st.info(
            f"The last analysis saw {analysis.get('n')} examples and this data has {len(work.examples)}: "
            'run "Find near-duplicates and topics" in Check again.'
        )
    else:
        sims = [(c["min_sim"], c["max_sim"]) for c in near]
        _section("near", [list(c["rows"]) for c in near], sims, work, rule)


def render(work: state.Work, analysis: dict | None) -> None:
    """Exact then near-duplicate clusters of the working copy, with the keep choices and removal."""
    if done := st.session_state.pop(DONE, None):
        st.success(done)
    if len(work.examples) < 2:
        st.info("Duplicates need at least two examples.")
        return
    rule = st.selectbox(
        "In each cluster, keep",
        dedup.RULES,
        format_func=RULE_LABELS.get,
        key="data_dupes_rule",
        help="The default choice per cluster; change any cluster's choice below before removing.",
    )
    st.subheader("Exact duplicates")
    st.caption("The same conversation, ignoring upper/lower case and extra spaces.")
    _section("exact", exact_groups(work.sha, work.examples), None, work, rule)
    _near(work, analysis, rule)
