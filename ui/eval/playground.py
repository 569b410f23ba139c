"""The playground: two candidates side by side, one prompt box, each side keeping its own conversation.

"Ask both" adds the prompt to both conversations and starts a reply job per side
(core.eval.generate.reply_job); a fragment polls every REFRESH_S seconds until both replies are
written, then reruns the page once. Conversations live in session_state, one per side, and
restart when that side's candidate changes. Test: `pytest tests/app/test_evaluate_page.py`.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.data import versions
from core.eval import generate, pool
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jobs import rundir
from ui.eval import REFRESH_S
from ui.untrusted import inline, long_text

SIDES = ("a", "b")
PROMPT, SYSTEM = "eval_play_prompt", "eval_play_system"


def _chat(side: str) -> dict:
    """One side's conversation: messages sent and received, notes per reply, the pending job, an error."""
    return st.session_state.setdefault(f"eval_play_chat_{side}", _fresh())


def _fresh() -> dict:
    return {"messages": [], "notes": {}, "run": None, "error": None}


def _reset(*sides: str) -> None:
    for side in sides:
        st.session_state[f"eval_play_chat_{side}"] = _fresh()


def _system(version: versions.Version) -> list[dict]:
    """The dataset's system message (from its first example that has one), as training saw it."""
    for example in versions.examples(version)[:50]:
        first = (example.get("messages") or [{}])[0]
        if first.get("role") == "system" and first.get("content"):
            return [{"role": "system", "content": first["content"]}]
    return []


def _ask(slots: dict[str, Candidate], version: versions.Version, params: GenParams) -> None:
    prompt = (st.session_state.get(PROMPT) or "").strip()
    if not prompt:
        st.session_state["eval_play_error"] = "Type a prompt first."
        return
    system = _system(version) if st.session_state.get(SYSTEM, True) else []
    for side in SIDES:
        chat, cand = _chat(side), slots.get(st.session_state.get(f"eval_play_{side}"))
        chat["error"] = pool.problem(cand) if cand else "choose a candidate for this side"
        if chat["error"] or chat["run"]:
            continue
        chat["messages"].append({"role": "user", "content": prompt})
        try:
            chat["run"] = generate.reply_job(cand, system + chat["messages"], params, version)
        except (ValueError, OSError) as e:
            chat["messages"].pop()
            chat["error"] = str(e)
    st.session_state[PROMPT] = ""


def _collect(side: str) -> None:
    """Move a finished reply into the conversation, or a failed job's message into the error."""
    chat = _chat(side)
    if not chat["run"]:
        return
    reply = generate.reply_result(chat["run"])
    if reply is not None:
        chat["notes"][len(chat["messages"])] = f"{reply.get('n_tokens', '?')} tokens in {reply.get('seconds', '?')} s"
        chat["messages"].append({"role": "assistant", "content": reply.get("text", "")})
        chat["run"] = None
        return
    try:
        run = jobs.status(chat["run"])
    except (OSError, KeyError, TypeError, ValueError):
        chat["error"], chat["run"] = f"the reply job {chat['run']} can no longer be read (deleted?)", None
        return
    if not run.active:
        first = run.message.splitlines()[0] if run.message else "no message"
        tail = rundir.log_tail(rundir.run_dir(run.id), 8)
        chat["error"] = f"the reply job {run.state}: {first}" + (f"\n\n```text\n{tail}\n```" if tail else "")
        chat["run"] = None


def _conversation(side: str, label: str, where) -> None:
    chat = _chat(side)
    with where.container(key=f"eval_play_log_{side}"):
        st.markdown(f"**{side.upper()}: {inline(label)}**")
        for i, message in enumerate(chat["messages"]):
            with st.chat_message(message["role"]):
                long_text(message["content"], empty="*(an empty answer)*")
                if i in chat["notes"]:
                    st.caption(chat["notes"][i])
        if chat["run"]:
            st.caption(":material/hourglass_top: Answering… (the first reply loads the model: a few seconds)")
        if chat["error"]:
            long_text(chat["error"], draw=st.error, before="Not answered: ")


def conversations(labels: dict[str, str], was_waiting: tuple[str, ...]) -> None:
    for side in SIDES:
        _collect(side)
    waiting = {side for side in SIDES if _chat(side)["run"]}
    if set(was_waiting) - waiting:
        st.rerun()  # a reply arrived: redraw once, without the timer
    cols = st.columns(2)
    for side, col in zip(SIDES, cols, strict=True):
        _conversation(side, labels[side], col)


def _pick(slots: dict[str, Candidate]) -> dict[str, str]:
    defaults = {"a": "base", "b": pool.newest_run(slots) or "fewshot"}
    c = st.columns(2)
    for side, col in zip(SIDES, c, strict=True):
        key = f"eval_play_{side}"
        if st.session_state.get(key) not in slots:
            st.session_state[key] = defaults[side] if defaults[side] in slots else next(iter(slots))
        col.selectbox(
            f"{side.upper()}",
            list(slots),
            key=key,
            format_func=lambda s: slots[s].label,
            on_change=_reset,
            args=(side,),
        )
    return {side: slots[st.session_state[f"eval_play_{side}"]].label for side in SIDES}


def render(slots: dict[str, Candidate], version: versions.Version, params: GenParams) -> None:
    labels = _pick(slots)
    st.text_area("Prompt", key=PROMPT, height=90, placeholder="Ask both candidates the same thing")
    c = st.columns([1, 1, 3], vertical_alignment="center")
    waiting = tuple(side for side in SIDES if _chat(side)["run"])
    c[0].button(
        "Ask both",
        key="eval_play_ask",
        type="primary",
        icon=":material/send:",
        on_click=_ask,
        args=(slots, version, params),
        disabled=bool(waiting),
    )
    c[1].button("Clear", key="eval_play_clear", on_click=_reset, args=SIDES, icon=":material/delete_sweep:")
    c[2].checkbox(
        "Start with the dataset's system message",
        True,
        key=SYSTEM,
        help="The models were trained with it; without it a tuned model may answer differently.",
    )
    if error := st.session_state.pop("eval_play_error", None):
        long_text(error, draw=st.warning)
    st.fragment(run_every=REFRESH_S if waiting else None)(conversations)(labels, waiting)
