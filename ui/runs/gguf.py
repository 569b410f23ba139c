"""The Export tab's GGUF part: the F16/Q8_0 choice, the export job's progress, its parity report, downloads.

The job (core.train.export --gguf) writes result.json with the GGUF paths and parity.json's report;
this module only reads them back.
Test: `pytest tests/app/test_runs_page.py tests/e2e/test_gguf_export.py`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import jobs
from core.train import export

CHOICES = {"Q8_0 (8-bit, about half the size)": "q8_0", "F16 (16-bit, closest to the merged model)": "f16"}
CHECK_WORDS = {
    "tokenizer": "Tokenizer read back from the GGUF encodes the same ids",
    "logits": "Logits of the GGUF model match the merged model",
    "greedy": "Greedy answers agree and stop at the end-of-turn token",
    "llama_cpp": "llama.cpp itself: same ids, same answers, stops",
}


def _start(run_id: str) -> None:
    qtype = CHOICES[st.session_state["runs_gguf_type"]]
    try:
        export.launch(run_id, merge=True, gguf=qtype)
    except export.ExportError as e:
        st.session_state["runs_export_error"] = str(e)


def controls(run_id: str) -> None:
    c = st.columns([2, 1])
    c[0].radio("GGUF for llama.cpp and Ollama", list(CHOICES), key="runs_gguf_type", horizontal=True)
    c[1].button(
        "Export GGUF",
        key="runs_export_gguf",
        on_click=_start,
        args=(run_id,),
        help="Merges the adapter, writes one .gguf file with the tokenizer and chat template, an Ollama "
        "Modelfile and a model card, then checks the file against the merged model (the parity report).",
    )


def _rows(report: dict) -> list[dict]:
    t = report.get("thresholds") or {}
    numbers = {
        "tokenizer": f"{report.get('tokenizer_agreement', 0):.0%} of {report.get('tokenizer_texts')} texts; "
        f"end token {report.get('gguf_eos_token')!r} (source {report.get('eos_token')!r})",
        "logits": f"nmse {report.get('nmse', 0):.2e} (at most {t.get('nmse')}); top-10 "
        f"{report.get('top10_agreement', 0):.1%} (at least {t.get('top10_agreement', 0):.0%})",
        "greedy": f"{report.get('greedy_measure')} {report.get('greedy_agreement', 0):.1%} (at least "
        f"{t.get('greedy_agreement', 0):.0%}); stopped {report.get('gguf_stopped')} "
        f"where the source stopped {report.get('source_stopped')}",
        "llama_cpp": f"ids {report.get('llama_cpp_tokenizer_agreement', 0):.0%}; answers "
        f"{report.get('llama_cpp_greedy_agreement', 0):.1%}; stopped {report.get('llama_cpp_stopped')}",
    }
    return [
        {"check": CHECK_WORDS[name], "passed": ok, "measured": numbers[name]}
        for name, ok in (report.get("checks") or {}).items()
    ]


def _download(label: str, path: Path, key: str, mime: str) -> None:
    if path.is_file():
        with open(path, "rb") as f:
            st.download_button(label, f, file_name=path.name, mime=mime, key=key)


def result(job: jobs.RunStatus, result: dict) -> None:
    """A GGUF export job: its progress while it runs, then the parity report and the files."""
    if job.active:
        p = job.progress or {}
        done, total = p.get("done") or 0, p.get("total") or 100
        st.progress(min(1.0, done / total) if total else 0.0, text=f"GGUF export: {p.get('message') or job.state}")
        return
    report = result.get("parity") or {}
    passed = report.get("passed")
    (st.success if passed else st.error)(
        f"GGUF {job.meta.get('gguf', '').upper()} written to `{result.get('gguf')}`. "
        f"Parity {'passed' if passed else 'FAILED'}."
    )
    st.dataframe(pd.DataFrame(_rows(report)), hide_index=True, key=f"runs_parity_{job.id}")
    if not report.get("llama_cpp"):
        st.caption("llama.cpp check not run: llama-cpp-python is not installed (README, Export).")
    st.markdown("**Ollama**")
    st.code(result.get("ollama_create", ""), language="bash")
    c = st.columns(3)
    with c[0]:
        _download("Download .gguf", Path(result["gguf"]), f"runs_dl_gguf_{job.id}", "application/octet-stream")
    with c[1]:
        _download("Download Modelfile", Path(result["modelfile"]), f"runs_dl_modelfile_{job.id}", "text/plain")
    with c[2]:
        _download("Download model card", Path(result["card"]), f"runs_dl_card_{job.id}", "text/markdown")
