"""The Train page's pre-flight panel: tokens, steps, memory by term against the device, time, dollars,
and one training example rendered with its learned tokens highlighted and the end-of-turn check.

The numbers come from core.train.preflight and the example from core.train.preview; this module caches
the slow parts (token counts, the device probe, the rendered example) and draws them.
Test: `pytest tests/app/test_train_page.py`.
"""

from __future__ import annotations

import dataclasses

import altair as alt
import pandas as pd
import streamlit as st

from core import estimate, jobs, models, prices, templates
from core.config import help_of
from core.data import versions
from core.jobs import queue
from core.money import duration
from core.train import calibrate, device, preflight, preview
from core.train.config import TrainConfig
from ui import untrusted
from ui.costs import charts

MFU_KEY = "train_preflight_mfu"  # the utilisation a time from FLOPs assumes, editable under the numbers
VERDICT_ALERT = {"fits": st.success, "tight": st.warning, "too big": st.error, "unknown": st.info}


@st.cache_data(ttl=60, show_spinner=False)
def _device(gpu_rows: list[dict]) -> device.Device:
    return device.detect(gpu_rows)


@st.cache_data(max_entries=32, show_spinner="Counting tokens...")
def _token_counts(
    version_id: int, model: str, folder_stamp: float, chat_template: str, objective: str = "sft"
) -> preflight.TokenStats:
    # folder_stamp (the tokenizer's mtime) makes a re-prepared model count again
    train = preflight.sequences(versions.split_examples(versions.get(version_id))["train"], objective)
    template = templates.chosen(chat_template, None)  # None: the model's own
    return preflight.count_tokens(train, models.local_folder(model), 0, template)


@st.cache_data(max_entries=32, show_spinner="Rendering a training example...")
def _preview(
    version_id: int, model: str, folder_stamp: float, assistant_only: bool, chat_template: str, objective: str = "sft"
) -> preview.Preview | None:
    folder = models.local_folder(model)
    if folder is None:
        return None
    train = preflight.sequences(versions.split_examples(versions.get(version_id))["train"], objective)
    return preview.of_folder(train, folder, assistant_only, templates.chosen(chat_template, None))


def _stamp(model: str) -> float:
    folder = models.local_folder(model)
    tok = folder / "tokenizer.json" if folder else None
    return tok.stat().st_mtime if tok and tok.exists() else 0.0


def compute(cfg: TrainConfig, version: versions.Version) -> preflight.Preflight:
    gpu_rows = prices.table("gpu")
    stats = _token_counts(version.id, cfg.model, _stamp(cfg.model), cfg.chat_template, cfg.objective)
    train = versions.split_examples(version)["train"]
    counted = dataclasses.replace(stats, max_length=cfg.max_length)
    mfu = st.session_state.get(MFU_KEY)
    return preflight.compute(cfg, train, _device(gpu_rows), gpu_rows, count=lambda *_: counted, mfu=mfu)


def token_chart(stats: preflight.TokenStats) -> alt.Chart:
    """Tokens per example, with the max_length cut marked: what lies right of it is truncated."""
    df = pd.DataFrame({"tokens": stats.counts})
    bars = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("tokens:Q", bin=alt.Bin(maxbins=40), title="tokens per example"),
            y=alt.Y("count():Q", title="examples"),
        )
    )
    cut = alt.Chart(pd.DataFrame({"tokens": [stats.max_length]})).mark_rule(color="red", strokeDash=[4, 4])
    return (bars + cut.encode(x="tokens:Q")).properties(height=220)


def _metrics(pf: preflight.Preflight) -> None:
    t = pf.tokens
    c = st.columns(6)
    c[0].metric("Train examples", f"{len(t.counts):,}")
    c[1].metric("Tokens per epoch", f"{t.kept:,}", help=f"Counted with {t.counter}; truncated at max_length.")
    c[2].metric(
        "Truncated examples", t.truncated, help=f"Longer than max_length={t.max_length}; longest: {t.longest}."
    )
    c[3].metric(
        "Optimizer steps", f"{pf.total_steps:,}", help=f"{pf.steps_per_epoch} per epoch on {pf.world} process(es)."
    )
    total = pf.total_gb
    c[4].metric("Memory estimate", f"{total:.1f} GB" if total is not None else "unknown", help=pf.shape_note)
    c[5].metric("Time on this device", duration(pf.device_seconds) or "unknown", help=pf.time_source)
    st.caption(
        f"Tokens: {t.counter}. Shape: {pf.shape_note}. Device: {pf.device.label}. Time: {pf.time_source or 'unknown'}."
    )


def _cloud(pf: preflight.Preflight) -> None:
    cloud = pd.DataFrame(pf.plan.gpus)
    cloud["compute_minutes"] = cloud.pop("compute_hours") * 60
    st.dataframe(
        cloud[["gpu", "gpus_needed", "compute_minutes", "usd"]],
        hide_index=True,
        column_config={
            "gpus_needed": st.column_config.NumberColumn("GPUs needed (0: does not fit)"),
            "compute_minutes": st.column_config.NumberColumn("compute (min)", format="%.2f"),
            "usd": st.column_config.NumberColumn("$ with startup", format="$%.2f"),
        },
    )
    mfu = pf.assumptions.mfu if pf.assumptions else estimate.Assumptions().mfu
    st.caption(
        "The same run on cloud GPUs, from the GPU price table (edit it on the Costs page): "
        f"{pf.train_tokens:,.0f} training tokens, all epochs; {preflight.flops_source(mfu)} below."
    )


def _assumptions(pf: preflight.Preflight) -> None:
    """What the memory and time rest on, next to them; the utilisation is editable."""
    a = pf.assumptions or estimate.Assumptions()
    mem, notes = pf.plan.memory[pf.method], pf.plan.notes.get(pf.method, {})
    terms = [{"term": t, "GB": round(mem[t], 3), "assumes": notes.get(t, "")} for t in estimate.TERMS if t in mem]
    st.dataframe(pd.DataFrame(terms), hide_index=True)
    st.number_input(
        "Utilisation for a time from FLOPs (cloud GPUs; this device until it is calibrated)",
        min_value=0.01,
        max_value=1.0,
        value=float(a.mfu),
        step=0.05,
        key=MFU_KEY,
        help=help_of(estimate.Assumptions)["mfu"],
    )
    with st.expander("Every assumption behind the memory and time"):
        st.dataframe(pd.DataFrame(estimate.help_rows(a)), hide_index=True)


def render(pf: preflight.Preflight) -> None:
    st.subheader("Pre-flight")
    _metrics(pf)
    VERDICT_ALERT[pf.verdict](f"Memory: {pf.verdict}. {pf.verdict_message}")
    if after := queue.starts_after():
        st.info(f"The device is busy: a run launched now starts after {untrusted.inline(after)} (see the Runs page).")
    if pf.tokens.truncated:
        st.warning(
            f"{pf.tokens.truncated} of {len(pf.tokens.counts)} training examples are longer than "
            f"max_length={pf.tokens.max_length} tokens and will be cut (longest: {pf.tokens.longest}). "
            "Raise max_length or shorten them."
        )
    left, right = st.columns(2)
    left.altair_chart(token_chart(pf.tokens), width="stretch")
    if pf.plan is None:
        return
    where = pf.device.name if pf.device.kind == "gpu" else "this machine's RAM"
    device_line = [{"gpu": where, "memory_gb": pf.device.memory_gb}]
    right.altair_chart(charts.memory_chart(pf.plan.memory, device_line).properties(height=220), width="stretch")
    _assumptions(pf)
    _cloud(pf)


LEARNED = ":green-background[:green[{}]]"  # Streamlit's markdown colour directives: the learned tokens
MOST_CHARS = 20_000  # an example longer than this is cut in the drawing (the check still covers all of it)


def example_markdown(segments: list[tuple[str, bool]]) -> str:
    """The rendered example as literal markdown, learned runs highlighted, every line break and space kept."""
    lines, shown = [[]], 0
    for text, learned in segments:
        for k, piece in enumerate(text[: max(0, MOST_CHARS - shown)].split("\n")):
            if k:
                lines.append([])
            if piece:
                lines[-1].append(LEARNED.format(untrusted.spaced(piece)) if learned else untrusted.spaced(piece))
        shown += len(text)
    while len(lines) > 1 and not lines[-1]:  # the render's last newline: a break there would show a backslash
        lines.pop()
    body = "\\\n".join("".join(line) for line in lines)  # a backslash before the newline: a hard line break
    return body + (f"\n\n*({shown - MOST_CHARS:,} more characters not drawn)*" if shown > MOST_CHARS else "")


def example(cfg: TrainConfig, version: versions.Version) -> None:
    """One training example as the run sees it, and whether every assistant turn learns to stop."""
    st.subheader("A training example, as the model sees it")
    found = _preview(
        version.id, cfg.model, _stamp(cfg.model), cfg.assistant_only_loss, cfg.chat_template, cfg.objective
    )
    if found is None:
        st.info("The rendered example needs the model's tokenizer.json and chat template on this machine.")
        return
    if found.problem:
        st.warning(untrusted.inline(found.problem))
        return
    ok, message = found.end_of_turn()
    (st.success if ok else st.warning)(untrusted.inline(message))
    cut = (
        f"; max_length={cfg.max_length} cuts it, so what lies past that is not learned"
        if found.tokens > cfg.max_length
        else ""
    )
    st.caption(
        f"Train example {found.index + 1}: {found.tokens:,} tokens, {found.learned:,} of them learned "
        f"(highlighted: labels that are not ignored){cut}. Chosen as the first with the most assistant turns, "
        "among those with tool calls when the split has any."
    )
    with st.container(border=True):
        st.markdown(example_markdown(found.segments))


def _probes(cfg: TrainConfig) -> list[jobs.RunStatus]:
    """This model and method's speed probes, newest first."""
    found = jobs.list_runs(kind="probe", limit=20)
    return [r for r in found if r.meta.get("model") == cfg.model and r.meta.get("method") == cfg.method]


def calibration(cfg: TrainConfig, pf: preflight.Preflight) -> None:
    """While the time is only a FLOPs estimate: offer a probe job, say when one runs or why the last one failed."""
    probes = _probes(cfg)
    if probes and probes[0].active:
        st.info(f"Timing a few real training steps here (probe {probes[0].id}); rerun the page once it finishes.")
        return
    if not pf.time_source.startswith("estimate from FLOPs"):
        return
    if probes and probes[0].state in ("failed", "lost"):
        st.warning(f"The last speed probe ({probes[0].id}) {probes[0].state}: {probes[0].message[:300]}")
    st.button(
        f"Time {calibrate.PROBE_STEPS} real training steps on this device",
        key="train_probe",
        on_click=calibrate.start_probe,
        args=(cfg,),
        help="A short job (model load, one warm-up and a few optimizer steps at this run's shapes); its "
        "tokens/s then gives the time above, cached for this device, model and method.",
    )
