"""What a run leaves behind: sample answers, summary, final model, checkpoints, config, command, export.

Export runs as its own job, started by core.train.export.launch, since it loads the model with
torch; its result (the folder, and whether the export chats through its template and stops at the
end token) is read back from the job's result.json; ui/runs/gguf.py draws the GGUF export's part.
Test: `pytest tests/app/test_runs_page.py`.
"""

from __future__ import annotations

import shlex

import pandas as pd
import streamlit as st
import yaml

from core import jobs, paths
from core.jobs import rundir
from core.train import export, launch, summary
from ui.runs import gguf
from ui.untrusted import long_text


def samples_tab(folder) -> None:
    found = summary.read_samples(folder)
    if not found:
        st.caption("Sample answers to validation prompts appear here when training ends.")
        return
    for i, s in enumerate(found, 1):
        prompt = s.get("prompt") or []
        asked = next((m.get("content", "") for m in reversed(prompt) if m.get("role") == "user"), "")
        with st.container(border=True):
            st.markdown(f"**Prompt {i}**")
            st.text(asked)
            c = st.columns(2)
            c[0].markdown("**Reference**")
            c[0].text(s.get("reference", ""))
            c[1].markdown("**Generated**")
            c[1].text(s.get("generated", ""))
            if not s.get("stopped_at_eos", True):
                c[1].caption(":orange[Did not stop at the end token.]")


def _summary_metrics(info: dict) -> None:
    c = st.columns(4)
    total, trainable = info.get("total_params") or 0, info.get("trainable_params") or 0
    share = f" ({100 * trainable / total:.2f}%)" if total else ""
    c[0].metric("Trainable parameters", f"{trainable:,}{share}")
    c[1].metric(
        "Train examples",
        f"{info.get('train_examples', 0):,}",
        help=f"{info.get('truncated_examples', 0)} truncated at max_length",
    )
    c[2].metric("Epochs done", f"{info.get('epochs_done') or 0:.2f}", help=f"final step {info.get('final_step')}")
    best = info.get("best_eval_loss")
    c[3].metric(
        "Best validation loss",
        f"{best:.4f}" if summary.finite(best) else "-",
        help=f"step {info.get('best_step')}, epoch {info.get('best_epoch')}",
    )
    why = (
        "stopped by you"
        if info.get("stopped_by_user")
        else "stopped early: validation loss stopped improving"
        if info.get("stopped_early")
        else ""
    )
    if why:
        st.caption(f"The run {why}.")


def checkpoint_rows(run_id: str, best_step) -> list[dict]:
    return [
        {
            "checkpoint": p.name,
            "step": launch.checkpoint_step(p),
            "best": launch.checkpoint_step(p) == best_step,
            "MB": summary.folder_mb(p),
            "path": str(p),
        }
        for p in launch.checkpoints(run_id)
    ]


def artifacts_tab(run_id: str, folder) -> None:
    info = summary.read_summary(folder)
    if info:
        _summary_metrics(info)
        with st.expander(rundir.SUMMARY):
            st.json(info)
    final = folder / rundir.FINAL
    files = summary.folder_files(final)
    st.markdown(f"**Final model** `{final}`" if files else "**Final model**: not written yet.")
    if files:
        st.dataframe(pd.DataFrame(files), hide_index=True)
    found = checkpoint_rows(run_id, info.get("best_step"))
    st.markdown("**Checkpoints** (resumable: weights or adapter, optimizer, scheduler, RNG)")
    if found:
        st.dataframe(pd.DataFrame(found), hide_index=True)
    else:
        st.caption("None yet: one is written at each save point and on Stop.")


def config_tab(folder) -> None:
    spec = rundir.read_spec(folder)
    st.markdown(f"**Command** (run from `{paths.REPO_ROOT}`; the same file runs it again):")
    st.code(shlex.join(str(a) for a in spec.get("argv", [])), language="bash")
    st.markdown("**Config** (`spec.yaml`, key `config`)")
    st.code(yaml.safe_dump(spec.get("config") or {}, sort_keys=False), language="yaml")


def _start_export(run_id: str, merge: bool) -> None:
    try:
        export.launch(run_id, merge)
    except export.ExportError as e:
        st.session_state["runs_export_error"] = str(e)


def _export_job(job: jobs.RunStatus) -> None:
    result = export.result(job.id)
    kind = "merged into the base" if job.meta.get("merge") else "as trained"
    kind = f"GGUF {job.meta['gguf'].upper()}" if job.meta.get("gguf") else kind
    if job.meta.get("gguf") and (job.active or (result and not result.get("error"))):
        gguf.result(job, result or {})
        return
    if job.active:
        st.info(f"Exporting ({kind})... {job.state}")
        return
    if result is None or result.get("error"):
        long_text(f"Export ({kind}) {job.state}: {(result or {}).get('error') or job.message}", draw=st.error)
        st.code(rundir.log_tail(rundir.run_dir(job.id), 15), language="text")
        return
    ok = result.get("stopped_at_eos") and result.get("has_chat_template")
    (st.success if ok else st.warning)(
        f"Exported ({kind}) to `{result['folder']}`. "
        f"Chat template: {'yes' if result.get('has_chat_template') else 'no'}; "
        f"stops at the end token {result.get('eos_token')!r}: {'yes' if result.get('stopped_at_eos') else 'no'}."
    )
    st.text(f"Answer to the check prompt: {result.get('generated', '')}")


def export_jobs(run_id: str, was_active: bool) -> None:
    found = jobs.list_runs(export.KIND, parent=run_id)
    if was_active and not any(j.active for j in found):
        st.rerun()  # the export ended: redraw the page once, without the refresh timer
    for job in found[:3]:
        _export_job(job)


def export_tab(run: jobs.RunStatus, folder) -> None:
    final = folder / rundir.FINAL
    if run.active or not final.is_dir():
        st.caption("Export is available once the run has a final model (when it finishes or is stopped).")
        return
    adapter = export.is_adapter(final)
    c = st.columns(3)
    if adapter:
        c[0].button(
            "Merge LoRA into the base",
            key="runs_export_merge",
            on_click=_start_export,
            args=(run.id, True),
            help="One standalone model (safetensors) with the tokenizer and chat template.",
        )
        c[1].button(
            "Adapter only",
            key="runs_export_adapter",
            on_click=_start_export,
            args=(run.id, False),
            help="The small adapter, loadable with PeftModel.from_pretrained on the base.",
        )
    else:
        c[0].button("Export the model", key="runs_export_full", on_click=_start_export, args=(run.id, False))
    gguf.controls(run.id)
    if error := st.session_state.pop("runs_export_error", None):
        st.error(f"Could not start the export: {error}")
    active = bool(jobs.list_runs(export.KIND, parent=run.id, active=True, limit=1))
    st.fragment(run_every=2 if active else None)(export_jobs)(run.id, active)


def render(run: jobs.RunStatus) -> None:
    folder = rundir.run_dir(run.id)
    tabs = st.tabs(["Samples", "Artifacts", "Config & command", "Export"])
    with tabs[0]:
        samples_tab(folder)
    with tabs[1]:
        artifacts_tab(run.id, folder)
    with tabs[2]:
        config_tab(folder)
    with tabs[3]:
        export_tab(run, folder)
