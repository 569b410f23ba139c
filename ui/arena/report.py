"""The chosen session's results: leaderboard beside ROUGE-L, win rate, win matrix, raters, agreement,
the CSV and items downloads, and the preference data made of the votes (ui.arena.preferences). Numbers come
from core.arena.results; this module only draws them.

Test: `pytest tests/app/test_arena_page.py tests/app/test_arena_prefs.py tests/e2e/test_arena_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from core.arena import results, sessions
from ui import untrusted
from ui.arena import charts, preferences
from ui.untrusted import inline

FEW_VOTES = 30  # below this, say the intervals are wide rather than let a chart look conclusive


@st.cache_data(show_spinner="Scoring ROUGE-L of the cached answers…", max_entries=32)
def _rouge(session_id: int, token: str) -> dict[str, float]:
    # Keyed by the token too: ids restart in a fresh workspace, tokens never repeat.
    return results.rouge_by_label(sessions.get(session_id))


def _leaderboard(res: results.Results) -> None:
    st.markdown("**Leaderboard** (Bradley-Terry, 95% bootstrap interval)")
    st.table(untrusted.table(results.leaderboard_table(res), "Candidate"))
    height = charts.height_for(len(res.leaderboard))
    st.altair_chart(charts.rating_chart(res.leaderboard), width="stretch", height=height)
    st.caption(
        "Rank (UB): 1 + the candidates whose lower bound is above this one's upper bound; "
        "equal ranks are not yet told apart by the votes."
    )


def _rouge_side(res: results.Results) -> None:
    st.markdown("**ROUGE-L** (the same answers vs the test references)")
    if not res.rouge:
        st.info("No cached answers to score for these candidates (they were regenerated or removed).")
        return
    st.table(untrusted.table(results.rouge_table(res), "Candidate"))
    if res.order:
        tau = res.order["kendall_tau"]
        if res.order["same_order"]:
            st.success("ROUGE-L orders the candidates as the raters do.")
        elif res.order["same_winner"]:
            st.warning(f"Same winner, different order below it (Kendall tau {tau:.2f}).")
        else:
            st.warning(
                f"ROUGE-L and the raters disagree on the best candidate (Kendall tau {tau:.2f}): "
                "word overlap is not what people judged."
            )


def _win_rate(res: results.Results) -> None:
    w = res.win
    if not w or w["win_rate"] is None:
        return
    st.metric(
        "Head-to-head win rate",
        f"{w['win_rate']:.0%}",
        help="Wins plus half the ties and both-bad votes, over all their head-to-head votes.",
    )
    st.caption(
        f"{inline(w['a'])} over {inline(w['b'])}: 95% interval {w['ci_low']:.0%} to {w['ci_high']:.0%} (Wilson) on "
        f"{w['n']} votes: {w['wins']} wins, {w['losses']} losses, {w['ties']} ties or both bad."
    )


def _raters(res: results.Results) -> None:
    st.markdown("**Raters**: votes each, and how often each picked the left answer (position bias)")
    height = charts.height_for(len(res.raters), per_row=32)
    st.altair_chart(charts.raters_chart(res.raters), width="stretch", height=height)
    for r in res.raters:
        if r["biased"]:
            st.warning(
                f"{inline(r['rater'])} chose the left answer in {r['left_rate']:.0%} of decisive votes "
                f"({r['votes']} votes); an unbiased rater stays near 50%, since sides are random."
            )


def _agreement(res: results.Results) -> None:
    a = res.agreement
    st.markdown(f"**Agreement** on the shared items ({a['items']} items, {a['raters']} raters)")
    if a["percent_agreement"] is None:
        st.info(a.get("note", "Not enough overlap to measure agreement yet."))
        return
    cols = st.columns(3)
    kappa, alpha = a["fleiss_kappa"], a["krippendorff_alpha"]
    cols[0].metric("Fleiss' kappa", "n/a" if kappa is None else f"{kappa:.2f}", help=f"On {a['fleiss_items']} items.")
    cols[1].metric("Krippendorff's alpha", "n/a" if alpha is None else f"{alpha:.2f}")
    cols[2].metric("Percent agreement", f"{a['percent_agreement']:.0%}")
    if kappa is not None:
        st.caption(f"Kappa {kappa:.2f} reads as **{results.landis_koch(kappa)}** agreement (Landis & Koch).")
    if a.get("note"):
        st.caption(a["note"])


def _downloads(session: sessions.Session, res: results.Results) -> None:
    left, middle, right = st.columns(3)
    left.download_button(
        "Votes CSV", sessions.votes_csv(session.id), f"arena-{session.id}-votes.csv", "text/csv", key="arena_votes_csv"
    )
    # The votes' companion: with it, `python -m core.arena preferences --votes --items` makes the pairs elsewhere.
    items = sessions.items_jsonl(session.id)
    middle.download_button("Items JSONL", items, f"arena-{session.id}-items.jsonl", key="arena_items_jsonl")
    right.download_button(
        "Results CSV", results.results_csv(res), f"arena-{session.id}-results.csv", "text/csv", key="arena_results_csv"
    )


def render(session: sessions.Session) -> None:
    top = st.columns([4, 1])
    top[0].subheader("Results")
    top[1].button("Refresh", key="arena_refresh", icon=":material/refresh:")  # a rerun reads the votes again
    res = results.compute(session, _rouge(session.id, session.token))
    if not res.votes:
        st.info("No votes yet: send the rater link above. Results appear here with the first votes.")
        _downloads(session, res)
        return
    if len(res.votes) < FEW_VOTES:
        st.warning(
            f"Only {len(res.votes)} votes so far: the intervals are wide and ranks may still change "
            "(about ±94 rating points at 100 votes, ±39 at 1,000)."
        )
    left, right = st.columns([3, 2])
    with left:
        _leaderboard(res)
    with right:
        _rouge_side(res)
        _win_rate(res)
    if res.matrix is not None and len(res.matrix) > 1:
        st.markdown("**Win rate of each candidate (row) against each other (column)**")
        height = charts.height_for(len(res.matrix), per_row=50)
        st.altair_chart(charts.matrix_chart(res.matrix), width="stretch", height=height)
    _raters(res)
    _agreement(res)
    _downloads(session, res)
    preferences.render(session)
