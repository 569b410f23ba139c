"""Launching training runs: the worker command, accelerate profiles, start and resume.

The app never trains in its own process: `start(cfg)` checks the config and the accelerate
profile against this machine, then hands an argv to `core.jobs.launch`, which runs
`python -m core.train --config RUN_DIR/spec.yaml` (or the same under `accelerate launch
--config_file configs/accelerate/<profile>.yaml`) in a detached supervisor. `resume(run_id)`
starts a new run from the newest checkpoint of an old one, optionally with more epochs.
No torch here: GPUs are counted by core.train.device (nvidia-smi and CUDA_VISIBLE_DEVICES, the
pre-flight's probe too), so the page stays light. Test: `.venv/bin/pytest tests/unit/test_train_launch.py -q`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shlex
import sys
from functools import lru_cache
from pathlib import Path

from core import chat, jobs, models, paths, templates, tokens
from core.data import versions
from core.jobs import rundir
from core.jsonl import JsonlError, read_records
from core.train import config, device, preflight, tracking
from core.train.config import PROFILES, TrainConfig
from core.train.machines import Machines

PROFILES_DIR = Path("configs") / "accelerate"  # relative to the repo root, the workers' cwd
PLACEHOLDER_RUN_DIR = "RUN_DIR"
_STEP_DIR = re.compile(r"step-(\d+)")
_RESUMED = re.compile(r" · resumed at step \d+$")
# Profiles that start one process per GPU; single_gpu runs one process on one GPU.
MULTI_PROCESS = ("multi_gpu", "fsdp", "deepspeed_zero2", "deepspeed_zero3")
MIN_GPUS = {"single_gpu": 1, "multi_gpu": 2, "fsdp": 2, "deepspeed_zero2": 1, "deepspeed_zero3": 1}
# Without a GPU, multi_gpu runs as CPU processes joined by gloo (DDP); the others cannot run on CPU, and why.
CPU_PROCESSES = 2
NOT_ON_CPU = {
    "single_gpu": "it is one process on one CUDA GPU; train without a profile to use the CPU",
    "fsdp": (
        "accelerate 1.15 turns FSDP on only for GPU (and other accelerator) ranks, so CPU ranks would train as "
        "plain DDP with nothing sharded; choose multi_gpu for several CPU processes"
    ),
    "deepspeed_zero2": (
        "through accelerate 1.15 each DeepSpeed rank on a CPU counts itself a world of one (measured here), so "
        "the ranks would not share the work; choose multi_gpu for several CPU processes"
    ),
}
NOT_ON_CPU["deepspeed_zero3"] = NOT_ON_CPU["deepspeed_zero2"]


# ---- the machine -------------------------------------------------------------------------------


def profile_file(profile: str) -> Path:
    return paths.REPO_ROOT / PROFILES_DIR / f"{profile}.yaml"


def profile_problems(profile: str | None, machines: Machines | None = None) -> list[str]:
    """Why this machine cannot run the profile; empty when it can (or with no profile).

    With several machines each one needs only a GPU of its own (or none, for multi_gpu on CPUs).
    """
    if not profile:
        return []
    if profile not in PROFILES:
        return [f"unknown accelerate profile {profile!r}; choose one of {', '.join(PROFILES)}"]
    out = []
    if not profile_file(profile).is_file():
        out.append(f"the profile file {PROFILES_DIR / (profile + '.yaml')} is missing")
    if profile.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        out.append(f"{profile} needs the deepspeed package (pip install deepspeed), which is not installed")
    have, need = device.gpu_count(), 1 if machines else MIN_GPUS[profile]
    if have == 0 and profile not in NOT_ON_CPU:
        return out  # CPU processes
    if have < need:
        gpus = "a CUDA GPU" if need == 1 else f"at least {need} CUDA GPUs"
        why = f"; it cannot run on CPU: {NOT_ON_CPU[profile]}" if have == 0 else ""
        out.append(f"{profile} needs {gpus}; this machine has {have or 'none'} (counted with nvidia-smi){why}")
    return out


def processes_per_machine(profile: str, machines: Machines | None = None) -> int | None:
    """The ranks one machine starts: one per visible GPU, else CPU processes; None: the profile file's count."""
    gpus = device.gpu_count()
    if machines and machines.per_machine:
        return machines.per_machine
    if profile in MULTI_PROCESS and gpus >= (1 if machines else MIN_GPUS[profile]):
        return gpus
    if gpus == 0 and profile not in NOT_ON_CPU:
        return 1 if machines else CPU_PROCESSES
    return None


# ---- what stops a run -------------------------------------------------------------------------

EMPTY_TRAIN = "the train split of this version is empty: make a new split on the Data page"
PREFERENCE_DATA = (
    "this version holds preference pairs, and supervised training (sft) learns from chat examples: choose "
    "Preference (DPO) to train on the pairs, or make a chat dataset of the chosen answers (Data page, Split & "
    "export) and train on it"
)
CHAT_DATA_FOR_DPO = (
    "DPO learns from preference pairs (prompt, chosen, rejected), and this version holds chat examples: choose a "
    "preference dataset version (Data page: import one, or make one from arena votes)"
)
NO_DPO_VALIDATION = (
    "DPO needs a validation split to measure reward accuracy on held-out pairs: make a split with a validation "
    "share on the Data page"
)


def _version(cfg: TrainConfig) -> versions.Version | None:
    """The run's dataset version; None when there is none to ask (the recipe says why)."""
    if cfg.dataset_version is None or cfg.train_file:
        return None
    try:
        return versions.get(int(cfg.dataset_version))
    except (KeyError, ValueError, TypeError):
        return None


def _train_size(cfg: TrainConfig) -> int | None:
    """Examples in the version's train split; None when there is no version to ask (the recipe says why)."""
    version = _version(cfg)
    return None if version is None else len((version.splits or {}).get("train") or [])


# ---- the chat template against the data ---------------------------------------------------------

CHECKED_AT_LAUNCH = 200  # tool-using train examples rendered before Launch; the worker renders every one
USE_TOOLS = (
    f'choose the workbench\'s tool template (chat_template: "{templates.TOOLS}"), which renders tools, '
    "tool calls and tool results in the Hermes/Qwen2.5 form (README, Train)"
)


def _train_source(cfg: TrainConfig) -> tuple | None:
    """What names the train examples for the cache: a version (immutable) in this workspace, or a file with its
    mtime and size. The workspace is part of it: version numbers repeat from one workspace to the next."""
    if cfg.dataset_version is not None and not cfg.train_file:
        return ("version", int(cfg.dataset_version), str(paths.home()))
    path = Path(cfg.train_file or "")
    if not cfg.train_file or not path.is_file():
        return None
    stat = path.stat()
    return ("file", str(path), stat.st_mtime_ns, stat.st_size)


def _train_examples(source: tuple) -> list:
    """The train examples as the recipe reads them; [] when they cannot be read (the recipe says why)."""
    try:
        if source[0] == "version":
            return versions.split_examples(versions.get(source[1]))["train"]
        return [obj for _, obj in read_records(source[1])]
    except (KeyError, ValueError, OSError, JsonlError):
        return []


def train_examples(cfg: TrainConfig) -> list:
    """The run's train examples as the recipe reads them; [] when they cannot be read."""
    source = _train_source(cfg)
    return _train_examples(source) if source else []


@lru_cache(maxsize=16)
def _render_problem(source: tuple, template: str, specials: tuple, whose: str) -> str | None:
    """The first tool-using train example whose render drops a call, a result or a definition; None if none."""
    render, checked = tokens.template_renderer(template, dict(specials)), 0
    for n, example in enumerate(_train_examples(source), 1):
        if not templates.uses_tools(example):
            continue
        try:
            rendered, tools = templates.template_inputs(chat.raw_messages(example), templates.tools_of(example))
        except templates.TemplateInputError:
            continue  # a malformed message: the validator and the worker name it
        try:
            missing = templates.lost(render(rendered, tools), rendered, tools)
        except Exception as exc:  # a template's raise_exception, or a key or filter it lacks
            missing = f"the conversation (it refuses it: {str(exc)[:120]})"
        if missing:
            return f"train example {n}: {whose} chat template drops {missing}, so the model would never learn it"
        checked += 1
        if checked >= CHECKED_AT_LAUNCH:
            break
    return None


@lru_cache(maxsize=8)
def _lacking(tokenizer_json: Path, _mtime: int) -> list[str]:
    """The ChatML tokens the shipped template writes that this tokenizer does not have as single tokens."""
    vocab = models.light_tokenizer(tokenizer_json.parent)
    return [t for t in templates.CHATML_TOKENS if vocab.token_to_id(t) is None]


def template_problems(cfg: TrainConfig) -> list[str]:
    """Why the chosen chat template cannot train on this data; empty when it can or cannot be told here.

    A model whose files are not on this machine is checked by the worker, which renders every example.
    """
    folder = models.local_folder(str(cfg.model))
    if cfg.chat_template == templates.TOOLS and folder and (folder / "tokenizer.json").is_file():
        lacking = _lacking(folder / "tokenizer.json", (folder / "tokenizer.json").stat().st_mtime_ns)
        if lacking:
            return [
                f"the tool template writes ChatML's {', '.join(lacking)}, which {cfg.model}'s tokenizer lacks; "
                'use chat_template "model" with a template of the model\'s own that carries tools'
            ]
    own = tokens.chat_template(folder) if folder else None
    if own is None and cfg.model == models.DEFAULT_MODEL_ID:
        own = templates.CHATML_TEMPLATE  # the embedded model's, before it is prepared
    template, source = templates.chosen(cfg.chat_template, own), _train_source(cfg)
    if template is None or source is None:
        return []
    specials = tuple(sorted(tokens.special_tokens(folder).items())) if folder else ()
    whose = "the workbench's tool" if cfg.chat_template == templates.TOOLS else "the model's"
    found = _render_problem(source, template, specials, whose)
    if found and cfg.chat_template == templates.MODEL:
        found += f"; {USE_TOOLS}"
    return [found] if found else []


def fitting_template(cfg: TrainConfig) -> TrainConfig:
    """cfg, or cfg with the tool template when the model's own drops the data's tool calls and that one keeps them.

    For callers with no one to ask (the local API: OpenAI trains on tool calls as they come).
    """
    if cfg.chat_template != templates.MODEL or not any(USE_TOOLS in p for p in template_problems(cfg)):
        return cfg
    tools = dataclasses.replace(cfg, chat_template=templates.TOOLS)
    return cfg if template_problems(tools) else tools


def problems(cfg: TrainConfig, n_train: int | None = None, machine: bool = True) -> list[str]:
    """Everything that must change before this run can launch: the Train page shows it, start() raises it.

    n_train: the train split's size when the caller has counted it (else read from the version).
    machine=False leaves out the accelerate profile against this machine: a worker rank re-checks
    the rest, and under a launcher it may see only its own GPU.
    """
    found = [p for p in [models.model_problem(cfg.model)] if p]
    size = _train_size(cfg) if n_train is None else n_train
    found += [EMPTY_TRAIN] if size == 0 else []
    version = _version(cfg)
    found += data_kind_problems(cfg, version)
    found += config.problems(cfg) + init_problems(cfg)
    if cfg.chat_template in templates.CHOICES:
        found += pair_template_problems(cfg) if cfg.objective == "dpo" else template_problems(cfg)
    found += tracking.install_problems(cfg.report_to)  # the worker checks again: nothing launches without them
    return found + (profile_problems(cfg.accelerate_profile) if machine else [])


def data_kind_problems(cfg: TrainConfig, version: versions.Version | None) -> list[str]:
    """The objective against the data: sft on chat examples, dpo on preference pairs with a validation split."""
    if cfg.objective != "dpo":
        return [PREFERENCE_DATA] if version is not None and version.kind == "preference" else []
    if version is not None and version.kind != "preference":
        return [CHAT_DATA_FOR_DPO]
    if version is not None and not (version.splits or {}).get("validation"):
        return [NO_DPO_VALIDATION]
    if cfg.train_file and not cfg.validation_file:
        return ["DPO needs a validation_file of preference pairs beside train_file, to measure reward accuracy"]
    return []


def init_problems(cfg: TrainConfig) -> list[str]:
    """Why the run named by init_from_run cannot be started from; empty when it can (or none is named)."""
    if not cfg.init_from_run:
        return []
    from core.train import export  # no torch at import time

    try:
        export.start_folder(cfg.init_from_run, make=False)
    except (ValueError, export.ExportError) as exc:
        return [f"init_from_run: {exc}"]
    return []


def template_folder(cfg: TrainConfig) -> Path | None:
    """Where the run's tokenizer and chat template are: the started-from run's final/, else the model's folder."""
    if cfg.init_from_run:
        final = rundir.run_dir(cfg.init_from_run) / rundir.FINAL
        return final if final.is_dir() else None
    return models.local_folder(str(cfg.model))


@lru_cache(maxsize=16)
def _pair_render_problem(source: tuple, template: str, specials: tuple, whose: str) -> str | None:
    """The first pair whose prompt and answers the template cannot render; None if every checked one renders."""
    from core.data import preference

    render = tokens.template_renderer(template, dict(specials))
    for n, pair in enumerate(_train_examples(source)[:CHECKED_AT_LAUNCH], 1):
        if not preference.is_pair(pair):
            return f"train pair {n} is not a preference pair (input.messages, preferred_output, non_preferred_output)"
        for side in preference.SIDES:
            example = preference.as_chat(pair, side)
            try:
                rendered, tools = templates.template_inputs(chat.raw_messages(example), templates.tools_of(example))
                render(rendered, tools)
            except templates.TemplateInputError as exc:
                return f"train pair {n} ({preference.SIDES[side]}): {exc}"
            except Exception as exc:  # a template's raise_exception, or a key or filter it lacks
                return (
                    f"train pair {n} ({preference.SIDES[side]}): {whose} chat template cannot render this "
                    f"conversation ({str(exc)[:160]}); choose a model whose template accepts these roles, or "
                    f'chat_template "{templates.TOOLS}"'
                )
    return None


def pair_template_problems(cfg: TrainConfig) -> list[str]:
    """DPO renders prompt + chosen and prompt + rejected with the run's chat template: both must render."""
    folder = template_folder(cfg)
    own = tokens.chat_template(folder) if folder else None
    if own is None and cfg.model == models.DEFAULT_MODEL_ID and not cfg.init_from_run:
        own = templates.CHATML_TEMPLATE  # the embedded model's, before it is prepared
    template, source = templates.chosen(cfg.chat_template, own), _train_source(cfg)
    if template is None:
        if folder is None:
            return []  # not on this machine: the worker renders every pair and names the first it cannot
        return [
            f"{cfg.model} has no chat template to render the pairs' prompts with: choose a chat model, or "
            f'chat_template "{templates.TOOLS}"'
        ]
    if source is None:
        return []
    specials = tuple(sorted(tokens.special_tokens(folder).items())) if folder else ()
    whose = "the workbench's tool" if cfg.chat_template == templates.TOOLS else "the model's"
    found = _pair_render_problem(source, template, specials, whose)
    return [found] if found else []


# ---- the command -------------------------------------------------------------------------------


def command(
    cfg: TrainConfig, run_dir: str | Path, machines: Machines | None = None, rank: int = 0, spec: str | None = None
) -> list[str]:
    """The worker's argv: plain Python, or accelerate with the profile (cwd: the repo root).

    machines/rank: this machine's share of a run on several machines; spec: the config file, else RUN_DIR's.
    """
    worker = ["-m", "core.train", "--config", spec or str(Path(run_dir) / rundir.SPEC)]
    profile = cfg.accelerate_profile
    if not profile:
        return [sys.executable, *worker]
    # `python -m accelerate.commands.launch` is `accelerate launch` without relying on the
    # script's hard-coded shebang, which breaks when the virtualenv is moved or copied.
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    argv = [*launcher, "--config_file", str(PROFILES_DIR / f"{profile}.yaml")]
    per_machine = processes_per_machine(profile, machines)
    if per_machine:  # one process per visible GPU (or CPU process), whatever the file says
        argv += ["--num_processes", str(per_machine * (machines.count if machines else 1))]
    if machines:
        argv += machines.flags(rank)
    if device.gpu_count() == 0:
        argv += ["--mixed_precision", "no"]  # the recipe autocasts to bf16 itself where this CPU computes it
    return [*argv, *worker]


def as_typed(argv: list[str]) -> str:
    """A worker's argv as a person types it from the repo root, with the virtualenv active."""
    if argv[1:3] == ["-m", "accelerate.commands.launch"]:
        argv = ["accelerate", "launch", *argv[3:]]
    else:
        argv = ["python", *argv[1:]]
    return shlex.join(argv)


def command_preview(cfg: TrainConfig, run_dir: str | Path = PLACEHOLDER_RUN_DIR) -> str:
    """The command as a person types it from the repo root, with the virtualenv active."""
    return as_typed(command(cfg, run_dir))


# ---- runs ---------------------------------------------------------------------------------------


def _default_title(cfg: TrainConfig) -> str:
    model = Path(str(cfg.model)).name or str(cfg.model)
    data = f"v{cfg.dataset_version}" if cfg.dataset_version is not None else Path(cfg.train_file or "").name
    if cfg.init_from_run:
        model = f"from run {cfg.init_from_run}"
    return f"{cfg.method}{' dpo' if cfg.objective == 'dpo' else ''} · {model} · {data}"


def _estimate(cfg: TrainConfig) -> dict:
    try:
        return preflight.for_config(cfg, train_examples(cfg))
    except Exception as exc:  # an estimate that cannot be made never stops a launch; it says why
        return {"error": f"no estimate: {exc}"}


def _launch(cfg: TrainConfig, title: str, meta: dict, key: str | None = None, machines: Machines | None = None) -> str:
    found = problems(cfg, machine=not machines)
    found += (machines.problems() + profile_problems(cfg.accelerate_profile, machines)) if machines else []
    if found:
        raise ValueError("; ".join(found))
    meta = {
        "method": cfg.method,
        "objective": cfg.objective,
        "init_from_run": cfg.init_from_run,
        "model": cfg.model,
        "dataset_version": cfg.dataset_version,
        "train_file": cfg.train_file,
        "accelerate_profile": cfg.accelerate_profile,
        "parent_run": None,
        "estimate": _estimate(cfg),  # the pre-flight as launched: the Runs page sets it beside the measured
        **({"machines": dataclasses.asdict(machines)} if machines else {}),
        **meta,
    }
    # core.jobs puts the run's folder in place of "{run_dir}"
    argv = command(cfg, "{run_dir}", machines) if machines else command(cfg, "{run_dir}")
    title = title or _default_title(cfg)
    secrets = jobs.HUB_SECRETS  # the base model may be a gated hub id, downloaded by the worker
    return jobs.launch(
        "train", argv, title, meta=meta, config=cfg.to_dict(), key=key, parent=meta["parent_run"], secrets=secrets,
        needs=_needs(cfg, meta["estimate"]),
    )  # fmt: skip


def _needs(cfg: TrainConfig, estimate: dict) -> jobs.Needs:
    """What the queue must find free: the GPUs the profile starts a process on, and the pre-flight's memory."""
    have, profile = device.gpu_count(), cfg.accelerate_profile
    gpus = have if profile in MULTI_PROCESS and have >= MIN_GPUS[profile] else 1
    return jobs.queue.heavy(gpus, estimate.get("memory_gb"))


def start(cfg: TrainConfig, title: str = "", key: str | None = None, machines: Machines | None = None) -> str:
    """Launch a training run; returns its id. Raises ValueError listing every problem.

    key: what the run is for (the API's job id), so `jobs.list_runs(key=...)` finds it.
    machines: this machine is the main one (rank 0) of several; the others run core.train.machines.plan's commands.
    """
    if machines and not cfg.accelerate_profile:
        raise ValueError("several machines need an accelerate profile (multi_gpu, fsdp, deepspeed_zero2/3)")
    if cfg.init_from_run and not init_problems(cfg):  # on top of a run: that run's base model names this one's
        cfg = dataclasses.replace(cfg, model=run_config(cfg.init_from_run).model)
    return _launch(cfg, title, {}, key, machines)


def run_config(run_id: str) -> TrainConfig:
    """The config a run was launched with (from its spec.yaml)."""
    spec_path = rundir.run_dir(run_id) / rundir.SPEC
    if not spec_path.is_file():
        raise ValueError(f"no run {run_id} (no {spec_path})")
    spec = rundir.read_spec(spec_path.parent)
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"run {run_id} has no training config in its spec.yaml")
    return config.from_dict(spec["config"])


def checkpoints(run_id: str) -> list[Path]:
    """The run's resumable checkpoints, oldest step first (empty or partial folders skipped)."""
    folder = rundir.run_dir(run_id) / rundir.CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for sub in folder.iterdir():
        match = _STEP_DIR.fullmatch(sub.name)
        if match and sub.is_dir() and any(sub.iterdir()):
            found.append((int(match.group(1)), sub))
    return [path for _, path in sorted(found)]


def checkpoint_step(path: Path) -> int:
    return int(_STEP_DIR.fullmatch(Path(path).name).group(1))


def _resumable(run_id: str, extra_epochs: float) -> tuple[TrainConfig, Path, str]:
    """(config, newest checkpoint, title) of a run that can resume; ValueError saying why not."""
    cfg = run_config(run_id)  # first: it names a missing run or one that is not a training run
    state = jobs.status(run_id)
    if state.active:
        raise ValueError(f"run {run_id} is still {state.state}; stop it, or let it finish, before resuming")
    if extra_epochs < 0:
        raise ValueError(f"extra_epochs must be 0 or more, not {extra_epochs}")
    if (rundir.read_spec(rundir.run_dir(run_id)).get("meta") or {}).get("machines"):
        raise ValueError(
            f"run {run_id} trained on several machines, whose checkpoint is on this one only: launch a new run "
            "from the Train page with resume_from set to its checkpoint folder, copied to every machine"
        )
    found = checkpoints(run_id)
    if not found:
        raise ValueError(f"run {run_id} has no checkpoint to resume from (no {rundir.CHECKPOINTS}/step-N/ folder)")
    if state.state == "succeeded" and extra_epochs == 0:
        done = f"{cfg.max_steps} steps" if cfg.max_steps > 0 else f"{cfg.num_train_epochs:g} epochs"
        raise ValueError(f"run {run_id} finished its {done}; add epochs to train on")
    if extra_epochs and cfg.max_steps > 0:
        raise ValueError(f"run {run_id} is limited by max_steps={cfg.max_steps}; more epochs would not run")
    return cfg, found[-1], state.title


def resume(run_id: str, extra_epochs: float = 0.0) -> str:
    """A new run that continues from the newest checkpoint of `run_id`, optionally for more epochs."""
    cfg, newest, title = _resumable(run_id, extra_epochs)
    cfg = dataclasses.replace(
        cfg, resume_from=str(newest.resolve()), num_train_epochs=cfg.num_train_epochs + extra_epochs
    )
    step = checkpoint_step(newest)
    title = f"{_RESUMED.sub('', title)} · resumed at step {step}"
    return _launch(cfg, title, {"parent_run": run_id, "resumed_from_step": step})
