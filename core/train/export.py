"""Export a finished run's model, and check that the export chats and stops where it should.

A run's final/ folder holds a PEFT adapter (lora, qlora) or a whole model (full), with the
tokenizer. `export(run_dir, merge=True)` folds the adapter into its base (loaded unquantized,
never in 4-bit) and saves safetensors; `merge=False` copies the adapter alone, loadable with
`PeftModel.from_pretrained`. Either way the tokenizer, its chat template, and a generation config
whose end token matches the tokenizer's go with it, so the model stops at the end of its turn.
`check_export(folder)` loads the export back, answers a prompt through the chat template and
reports whether generation stopped at the end token.
`export_gguf(run_dir, qtype)` merges, converts to GGUF (core.train.gguf), writes the Ollama Modelfile
and checks parity (core.train.parity) into RUN_DIR/export/gguf-<qtype>/. Every export gets a model
card (core.train.card).
`launch(run_id, merge, gguf=None)` runs the CLI as an "export" job (as core.train.launch.start does
training); the job writes result.json in its own run folder (the export folder and the check, or the
error), which `result(export_id)` reads for the Runs page, and its progress.

CLI:  python -m core.train.export RUN_DIR [--merge] [--out DIR] [--result FILE]   (exit 1 when the check fails)
      python -m core.train.export RUN_DIR --gguf q8_0|f16 [--out DIR] [--json]     (exit 1 when parity fails)
Test: .venv/bin/pytest tests/unit/test_export.py -q
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from core import jobs, models, tempfiles
from core.cli import fail
from core.jobs import rundir
from core.train import card

KIND = "export"

ADAPTER_CONFIG = "adapter_config.json"
CHECK_PROMPT = "Say hello in one short sentence."


class ExportError(Exception):
    """A run that cannot be exported, in words a user can act on."""


# ---- what is in the run ---------------------------------------------------------------------


def _final(run_dir: Path) -> Path:
    final = run_dir / rundir.FINAL
    if not final.is_dir() or not any(final.iterdir()):
        raise ExportError(f"{run_dir} has no {rundir.FINAL}/ model yet: the run has not finished or saved")
    return final


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def base_model_of(adapter_dir: Path, run_dir: Path | None = None) -> str | Path:
    """The adapter's base: the run's configured model when known, else what PEFT recorded."""
    if run_dir is not None:
        spec = rundir.read_spec(run_dir) if (run_dir / rundir.SPEC).is_file() else None
        summary = rundir.read_json(run_dir / rundir.SUMMARY) or {}
        started_from = ((spec or {}).get("config") or {}).get("init_from_run")
        if started_from:  # a run on top of another run adapts that run's model
            return start_folder(started_from, make=False)
        model = ((spec or {}).get("config") or {}).get("model") or summary.get("model")
        if model:
            return models.resolve(model)
    recorded = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not recorded:
        raise ExportError(f"{adapter_dir / ADAPTER_CONFIG} does not say which base model it adapts")
    return recorded


def start_folder(run_id: str, make: bool = True) -> Path:
    """The model a new run starts from when it builds on run `run_id`: its full model (final/), or its adapter
    merged into its base, made once into the run's export/merged/ (make=False: only say where, or why not)."""
    run_dir = rundir.run_dir(run_id)
    if not (run_dir / rundir.SPEC).is_file():
        raise ExportError(f"no run {run_id}")
    state = jobs.status(run_id).state
    if state not in ("succeeded", "stopped"):
        raise ExportError(f"run {run_id} is {state}; start from a finished run")
    final = _final(run_dir)
    if not is_adapter(final):
        return final
    merged = _default_out(run_dir, "merged")
    if make and not (merged / rundir.EXPORT_INFO).is_file():
        export(run_dir, merge=True)
    return merged


def _method(run_dir: Path, final: Path) -> str:
    summary = rundir.read_json(run_dir / rundir.SUMMARY) or {}
    return summary.get("method") or ("lora" if is_adapter(final) else "full")


# ---- writing -----------------------------------------------------------------------------------


def _fix_generation(model, tok) -> None:
    """Make generation stop at the tokenizer's end token (a mismatch here never stops)."""
    eos = tok.eos_token_id
    gen = model.generation_config
    have = [
        i for i in (gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]) if i is not None
    ]
    if eos is not None and eos not in have:
        gen.eos_token_id = [eos, *have] if have else eos
    if gen.pad_token_id is None:
        gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos


def _merged_into(out: Path, run_dir: Path, final: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = base_model_of(final, run_dir)
    # QLoRA trained on a 4-bit base; merging into 4-bit weights would round the update away, so
    # the base is loaded in its stored precision (bf16 or fp32) with no quantization.
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")
    merged = PeftModel.from_pretrained(base, final).merge_and_unload()
    tok = AutoTokenizer.from_pretrained(final if _has_tokenizer(final) else base_path)
    _fix_generation(merged, tok)
    merged.save_pretrained(out)  # safetensors
    tok.save_pretrained(out)


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()


def _adapter_into(out: Path, run_dir: Path, final: Path) -> None:
    from transformers import AutoTokenizer

    shutil.copytree(final, out, dirs_exist_ok=True)
    base = base_model_of(final, run_dir)
    # Point the adapter at a base that loads here (the embedded id becomes its prepared folder).
    adapter_config = json.loads((out / ADAPTER_CONFIG).read_text())
    adapter_config["base_model_name_or_path"] = str(base)
    (out / ADAPTER_CONFIG).write_text(json.dumps(adapter_config, indent=2) + "\n")
    if not _has_tokenizer(final):  # an adapter alone cannot chat; ship the base's tokenizer with it
        AutoTokenizer.from_pretrained(base).save_pretrained(out)


def _full_into(out: Path, final: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(final, dtype="auto")
    tok = AutoTokenizer.from_pretrained(final)
    _fix_generation(model, tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _default_out(run_dir: Path, kind: str) -> Path:
    return run_dir / rundir.EXPORT / kind


def export(run_dir: str | Path, merge: bool, out_dir: str | Path | None = None) -> Path:
    """Write the run's model to out_dir (default RUN_DIR/export/<merged|adapter|model>)."""
    run_dir = Path(run_dir)
    final = _final(run_dir)
    adapter = is_adapter(final)
    kind = ("merged" if merge else "adapter") if adapter else "model"
    out = Path(out_dir) if out_dir else _default_out(run_dir, kind)
    tmp = tempfiles.temp_path(out)
    tmp.mkdir(parents=True)
    try:
        if not adapter:
            _full_into(tmp, final)
        elif merge:
            _merged_into(tmp, run_dir, final)
        else:
            _adapter_into(tmp, run_dir, final)
        info = {"run": run_dir.name, "method": _method(run_dir, final), "kind": kind}
        (tmp / rundir.EXPORT_INFO).write_text(json.dumps(info, indent=1) + "\n")
        card.write(tmp, run_dir, kind)
        shutil.rmtree(out, ignore_errors=True)  # a new export replaces the last one
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _max_length(run_dir: Path, hf_dir: Path) -> int:
    """The context length the run trained at (its max_length), else the model's own."""
    config = (rundir.read_spec(run_dir) or {}).get("config") or {} if (run_dir / rundir.SPEC).is_file() else {}
    if config.get("max_length"):
        return int(config["max_length"])
    return int(json.loads((hf_dir / "config.json").read_text()).get("max_position_embeddings") or 2048)


def export_gguf(run_dir: str | Path, qtype: str, out_dir: str | Path | None = None, progress=None) -> dict[str, Any]:
    """Merge, convert to GGUF, write the Modelfile, the card and parity.json; returns the CLI's --json."""
    from transformers import AutoTokenizer

    from core.train import gguf, parity

    run_dir = Path(run_dir)
    say = progress or (lambda done, total, message: print(message, flush=True))
    if qtype not in gguf.QTYPES:
        raise ExportError(f"--gguf must be one of {', '.join(gguf.QTYPES)}, not {qtype!r}")
    say(0, 100, "merging the run's model")
    merged = export(run_dir, merge=True)
    out = Path(out_dir) if out_dir else _default_out(run_dir, f"gguf-{qtype}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / gguf.file_name(qtype)
    try:
        gguf.write(merged, path, qtype, lambda i, n: say(10 + 40 * i // n, 100, f"writing tensor {i}/{n}"))
    except gguf.GGUFError as exc:
        raise ExportError(str(exc)) from exc
    tok = AutoTokenizer.from_pretrained(merged)
    eos = json.loads((merged / "generation_config.json").read_text()).get("eos_token_id")
    text = gguf.modelfile(tok, path.name, _max_length(run_dir, merged), eos)
    (out / rundir.MODELFILE).write_text(text)
    info = {"run": run_dir.name, "method": _method(run_dir, _final(run_dir)), "kind": f"gguf-{qtype}"}
    (out / rundir.EXPORT_INFO).write_text(json.dumps(info, indent=1) + "\n")
    card_path = card.write(out, run_dir, f"GGUF {qtype.upper()}", gguf_file=path.name)
    from core.train import summary

    conversations = parity.prompts_of(summary.read_samples(run_dir))
    steps = iter(range(55, 100, 10))
    report = parity.check(merged, path, qtype, conversations, say=lambda m: say(next(steps, 95), 100, m))
    rundir.write_json(out / rundir.PARITY, report)
    say(100, 100, "done")
    name = run_dir.name.lower().replace("_", "-")
    return {
        "gguf": str(path),
        "merged": str(merged),
        "modelfile": str(out / rundir.MODELFILE),
        "card": str(card_path),
        "parity_report": str(out / rundir.PARITY),
        "ollama_create": gguf.ollama_command(name, out / rundir.MODELFILE),
        "parity": report,
    }


def parity_of(folder: str | Path) -> dict[str, Any] | None:
    """A GGUF export folder's parity report, as the export job wrote it; None before."""
    return rundir.read_json(Path(folder) / rundir.PARITY)


# ---- checking --------------------------------------------------------------------------------------


def load_export(folder: str | Path):
    """(model, tokenizer) from a merged/full export or an adapter export (base + adapter)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    if not is_adapter(folder):
        return AutoModelForCausalLM.from_pretrained(folder, dtype="auto").eval(), tok
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(base_model_of(folder), dtype="auto")
    return PeftModel.from_pretrained(base, folder).eval(), tok


def load_run(run_dir: str | Path):
    """(model, tokenizer) of a finished run's final/: its adapter on its base, or its whole model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = Path(run_dir)
    final = _final(run_dir)
    if not is_adapter(final):
        model, tok = (
            AutoModelForCausalLM.from_pretrained(final, dtype="auto"),
            AutoTokenizer.from_pretrained(final),
        )
    else:
        from peft import PeftModel

        base_path = base_model_of(final, run_dir)
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")  # never 4-bit: exact answers
        model = PeftModel.from_pretrained(base, final)
        tok = AutoTokenizer.from_pretrained(final if _has_tokenizer(final) else base_path)
    _fix_generation(model, tok)
    return model.eval(), tok


def check_export(folder: str | Path, prompt: str = CHECK_PROMPT, max_new_tokens: int = 48) -> dict[str, Any]:
    """Load the export, answer `prompt` greedily through its chat template, report the stop."""
    from core import generation

    model, tok = load_export(folder)
    eos_id = tok.eos_token_id
    result = {
        "has_chat_template": bool(tok.chat_template),
        "eos_token": tok.eos_token,
        "eos_in_generation_config": eos_id in models.stop_ids(model),
        "generated": "",
        "new_tokens": 0,
        "max_new_tokens": max_new_tokens,
        "stopped_at_eos": False,
    }
    if not tok.chat_template:
        return result
    # Its own dtype, on a GPU when there is one: a 7B export answers in seconds there, minutes on a CPU.
    model = generation.place(model, keep_dtype=True)
    answer = generation.reply(model, tok, [{"role": "user", "content": prompt}], max_new_tokens)
    result.update(
        generated=answer.text,
        new_tokens=answer.new_tokens,
        stopped_at_eos=bool(answer.ids) and answer.ids[-1] == eos_id,
    )
    return result


# ---- as a job --------------------------------------------------------------------------------------


def command(run_id: str, merge: bool, gguf: str | None = None) -> list[str]:
    """The export job's argv; "{run_dir}" is the export job's own folder (core.jobs fills it in)."""
    argv = [sys.executable, "-m", "core.train.export", str(rundir.run_dir(run_id)), "--result"]
    argv += [f"{{run_dir}}/{rundir.RESULT}"]
    return argv + (["--gguf", gguf] if gguf else ["--merge"] if merge else [])


def launch(run_id: str, merge: bool, gguf: str | None = None) -> str:
    """Start exporting a finished run; returns the export job's id. ExportError when it has no model."""
    _final(rundir.run_dir(run_id))
    title = f"export {f'GGUF {gguf.upper()}' if gguf else 'merged' if merge else 'adapter/model'} · {run_id}"
    meta = {"run": run_id, "merge": merge or bool(gguf)} | ({"gguf": gguf} if gguf else {})
    # HF_TOKEN: merging loads the base model by its hub id
    return jobs.launch(KIND, command(run_id, merge, gguf), title, meta=meta, parent=run_id, secrets=jobs.HUB_SECRETS)


def result(export_id: str) -> dict[str, Any] | None:
    """What the export job wrote: {ok, folder, and the check's fields} or {ok: False, error}; None before."""
    return rundir.read_json(rundir.run_dir(export_id) / rundir.RESULT)


# ---- command line -------------------------------------------------------------------------------


def _run_folder(arg: str) -> Path:
    """A run folder, or the folder of a run id."""
    if Path(arg).is_dir():
        return Path(arg)
    if "/" not in arg and not arg.startswith(".") and rundir.run_dir(arg).is_dir():
        return rundir.run_dir(arg)
    raise ExportError(f"no run folder or run id {arg!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train.export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run folder (or a run id)")
    parser.add_argument("--merge", action="store_true", help="fold a LoRA adapter into its base model")
    parser.add_argument("--out", default=None, help="where to write (default RUN_DIR/export/<kind>)")
    parser.add_argument("--result", default=None, help="also write the outcome to this JSON file (the job's)")
    parser.add_argument("--gguf", choices=("f16", "q8_0"), default=None, help="merge and export as GGUF, with parity")
    parser.add_argument("--json", action="store_true", help="print the GGUF export's paths and parity as JSON")
    args = parser.parse_args(argv)
    if args.gguf:
        return _main_gguf(args)
    try:
        out = export(_run_folder(args.run_dir), merge=args.merge, out_dir=args.out)
    except (ExportError, ValueError, OSError) as exc:
        _write_result(args.result, {"ok": False, "error": str(exc)})
        return fail(2, "error", str(exc))
    check = check_export(out)
    print(f"exported to {out}\n{json.dumps(check, indent=1)}", flush=True)
    ok = check["stopped_at_eos"] and check["has_chat_template"]
    _write_result(args.result, {"ok": ok, "folder": str(out), **check})
    verdict = (
        f"stopped at {check['eos_token']} after {check['new_tokens']} tokens"
        if ok
        else (f"did not stop at {check['eos_token']} within {check['max_new_tokens']} tokens")
    )
    print(f"check: {verdict}", file=sys.stderr)
    return 0 if ok else 1


def _main_gguf(args) -> int:
    job = Path(args.result).parent if args.result else None

    def progress(done: int, total: int, message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        if job:
            rundir.report_progress(job, done, total, message)

    try:
        out = export_gguf(_run_folder(args.run_dir), args.gguf, args.out, progress)
    except (ExportError, ValueError, OSError) as exc:
        _write_result(args.result, {"ok": False, "error": str(exc)})
        return fail(2, "error", str(exc))
    passed = out["parity"]["passed"]
    _write_result(args.result, {"ok": passed, "folder": str(Path(out["gguf"]).parent), **out})
    if args.json:
        print(json.dumps(out, indent=1), flush=True)
    else:
        print(f"exported to {out['gguf']}\n{out['ollama_create']}", flush=True)
    failed = [name for name, ok in out["parity"]["checks"].items() if not ok]
    print(f"parity: {'passed' if passed else 'FAILED: ' + ', '.join(failed)}", file=sys.stderr)
    return 0 if passed else 1


def _write_result(path: str | None, data: dict[str, Any]) -> None:
    if path:
        rundir.write_json(Path(path), data)


if __name__ == "__main__":
    sys.exit(main())
