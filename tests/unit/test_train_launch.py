"""Launching training runs: the worker argv, accelerate profiles, GPU counting, start and resume.

Run: `.venv/bin/pytest tests/unit/test_train_launch.py -q`.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest
import yaml

from core import jobs, models, paths, prices
from core.data import versions
from core.jobs import procs, rundir
from core.train import device, launch, preflight
from core.train.config import PROFILES, preset

FAKE = str(Path(__file__).resolve().parents[1] / "jobs" / "fake_worker.py")


H100 = "NVIDIA H100 80GB HBM3, 81559"


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """A fake `nvidia-smi` first on PATH answering the query with n GPUs of one model."""

    def install(n: int, row: str = H100) -> None:
        fake = tmp_path / "bin" / "nvidia-smi"
        fake.parent.mkdir(exist_ok=True)
        fake.write_text("#!/bin/sh\n" + "".join(f"echo '{row}'\n" for _ in range(n)))
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        device._nvidia_smi.cache_clear()

    yield install
    device._nvidia_smi.cache_clear()


@pytest.fixture
def gpus(fake_smi, monkeypatch):
    """Give the machine n GPUs (a fake nvidia-smi) and say whether deepspeed is installed."""

    def set_gpus(n: int, deepspeed: bool = False):
        fake_smi(n)
        real = launch.importlib.util.find_spec
        fake = lambda name: (object() if deepspeed else None) if name == "deepspeed" else real(name)  # noqa: E731
        monkeypatch.setattr(launch.importlib.util, "find_spec", fake)

    return set_gpus


def wait_final(run_id: str, timeout: float = 30) -> jobs.RunStatus:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = jobs.status(run_id)
        if st.state in jobs.FINAL:
            return st
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} stayed {jobs.status(run_id).state}")


# ---- the command -------------------------------------------------------------------------------


def test_plain_command_runs_the_recipe_module_on_the_spec():
    argv = launch.command(preset("lora"), "/runs/abc")
    assert argv == [sys.executable, "-m", "core.train", "--config", "/runs/abc/spec.yaml"]


def test_accelerate_command_names_the_profile_and_one_process_per_gpu(gpus):
    gpus(4)
    argv = launch.command(preset("lora", accelerate_profile="multi_gpu"), "/runs/abc")
    assert argv == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        "configs/accelerate/multi_gpu.yaml",
        "--num_processes",
        "4",
        "-m",
        "core.train",
        "--config",
        "/runs/abc/spec.yaml",
    ]
    single = launch.command(preset("lora", accelerate_profile="single_gpu"), "/runs/abc")
    assert "--num_processes" not in single  # one process; the file says so


def test_preview_reads_as_typed_and_quotes_paths(gpus):
    gpus(2)
    assert launch.command_preview(preset("full")) == "python -m core.train --config RUN_DIR/spec.yaml"
    fsdp = launch.command_preview(preset("lora", accelerate_profile="fsdp"))
    assert fsdp == (
        "accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 2 "
        "-m core.train --config RUN_DIR/spec.yaml"
    )
    spaced = launch.command_preview(preset("lora"), "/tmp/my runs/x")
    assert shlex.split(spaced)[-1] == "/tmp/my runs/x/spec.yaml"


@pytest.mark.parametrize("profile", PROFILES)
def test_accelerate_parses_and_validates_the_argv_we_build(profile, gpus, monkeypatch):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    monkeypatch.chdir(paths.REPO_ROOT)  # the supervisor runs workers from the repo root
    gpus(2, deepspeed=True)
    loaded = load_config_from_file(str(launch.profile_file(profile)))
    assert loaded.compute_environment.value == "LOCAL_MACHINE" and loaded.mixed_precision == "bf16"
    argv = launch.command(preset("lora", accelerate_profile=profile), "/runs/abc")
    args = launch_command_parser().parse_args(argv[3:])  # what `accelerate launch` receives
    args, _, _ = _validate_launch_command(args)
    mode = {"multi_gpu": args.multi_gpu, "fsdp": args.use_fsdp, "deepspeed": args.use_deepspeed}
    expected = {"single_gpu": None, "multi_gpu": "multi_gpu", "fsdp": "fsdp"}.get(profile, "deepspeed")
    assert [k for k, on in mode.items() if on] == ([expected] if expected else [])
    assert args.module and args.training_script == "core.train"
    assert args.training_script_args == ["--config", "/runs/abc/spec.yaml"]
    assert args.num_processes == (1 if profile == "single_gpu" else 2)
    if profile.startswith("deepspeed"):
        assert args.zero_stage == int(profile[-1])


def test_fsdp_profile_becomes_fsdp2_environment(gpus, monkeypatch):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    monkeypatch.chdir(paths.REPO_ROOT)
    gpus(2)
    argv = launch.command(preset("lora", accelerate_profile="fsdp"), "/runs/abc")
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv[3:]))
    env = prepare_multi_gpu_env(args)
    assert env["FSDP_VERSION"] == "2" and env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


# ---- what the machine can run ----------------------------------------------------------------------


def test_without_gpus_multi_gpu_runs_cpu_ranks_and_the_rest_are_refused_with_the_reason(gpus):
    gpus(0)
    assert launch.profile_problems(None) == [] and launch.profile_problems("") == []
    assert launch.profile_problems("multi_gpu") == []  # CPU processes joined by gloo
    argv = launch.command(preset("lora", accelerate_profile="multi_gpu"), "/runs/abc")
    assert argv[argv.index("--num_processes") + 1] == str(launch.CPU_PROCESSES)
    assert argv[argv.index("--mixed_precision") + 1] == "no"  # the recipe autocasts itself where the CPU has bf16
    for profile in ("single_gpu", "fsdp", "deepspeed_zero2", "deepspeed_zero3"):
        found = launch.profile_problems(profile)
        assert any("this machine has none" in p and "cannot run on CPU" in p for p in found), (profile, found)
    assert "would train as plain DDP" in launch.profile_problems("fsdp")[0]
    assert "world of one" in launch.profile_problems("deepspeed_zero2")[-1]
    assert any("deepspeed package" in p for p in launch.profile_problems("deepspeed_zero3"))


def test_profiles_with_one_and_two_gpus(gpus):
    gpus(1, deepspeed=True)
    assert launch.profile_problems("single_gpu") == []
    assert launch.profile_problems("deepspeed_zero2") == []
    assert launch.profile_problems("multi_gpu") == [
        "multi_gpu needs at least 2 CUDA GPUs; this machine has 1 (counted with nvidia-smi)"
    ]
    gpus(2, deepspeed=False)
    assert launch.profile_problems("fsdp") == [] and launch.profile_problems("multi_gpu") == []
    assert launch.profile_problems("deepspeed_zero2") == [
        "deepspeed_zero2 needs the deepspeed package (pip install deepspeed), which is not installed"
    ]
    assert "unknown accelerate profile 'tpu'" in launch.profile_problems("tpu")[0]


def test_gpus_are_counted_from_nvidia_smi(fake_smi):
    fake_smi(2)
    assert device.gpu_count() == 2
    fake_smi(0)
    assert device.gpu_count() == 0 and device.detect([]).kind == "cpu"


@pytest.mark.parametrize(
    "visible, expected", [(None, 4), ("0", 1), ("0,2", 2), ("", 0), ("-1", 0), ("1,-1,2", 1), ("0,1,2,3,4,5", 4)]
)
def test_cuda_visible_devices_narrows_the_count(visible, expected, fake_smi, monkeypatch):
    fake_smi(4)
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert device.gpu_count() == expected


@pytest.mark.parametrize("visible, seen", [("0", 1), ("0,2", 2), ("", 0)])
def test_preflight_and_launch_see_the_same_gpus(visible, seen, fake_smi, monkeypatch):
    fake_smi(4)  # 4 H100s on the machine, `seen` of them visible to CUDA
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    rows = prices.table("gpu")
    found = device.detect(rows)
    train = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 8
    pf = preflight.compute(preset("lora", accelerate_profile="multi_gpu"), train, found, rows)
    if seen:
        assert (found.kind, found.count, pf.world) == ("gpu", seen, seen)
        assert found.label.startswith(f"{seen} x NVIDIA H100" if seen > 1 else "NVIDIA H100")
    else:
        assert (found.kind, pf.world) == ("cpu", launch.CPU_PROCESSES)  # multi_gpu as CPU ranks
    problems = launch.profile_problems("multi_gpu")
    if seen >= 2 or seen == 0:  # no GPU: CPU ranks
        assert problems == []
    else:
        assert problems == [
            f"multi_gpu needs at least 2 CUDA GPUs; this machine has {seen or 'none'} (counted with nvidia-smi)"
        ]


def test_a_gpu_uuid_counts_as_one_visible_gpu():
    four = [("H100", 80.0)] * 3 + [("A100", 40.0)]
    assert device.visible(four, "GPU-8a1b,GPU-77c2") == four[:2]
    assert device.visible(four, "3,GPU-8a1b") == [four[3], four[0]]


# ---- start ---------------------------------------------------------------------------------------


def test_start_launches_a_job_whose_spec_holds_the_config_and_meta(monkeypatch):
    seen = {}

    def fake_command(cfg, run_dir):
        seen["run_dir"] = str(run_dir)
        return [sys.executable, FAKE, "--steps", "2", "--message", f"{run_dir}/spec.yaml"]

    monkeypatch.setattr(launch, "command", fake_command)
    cfg = preset("lora", dataset_version=3, num_train_epochs=2.0)
    run_id = launch.start(cfg, title="demo lora")
    spec = rundir.read_spec(rundir.run_dir(run_id))
    assert spec["kind"] == "train" and spec["title"] == "demo lora"
    assert spec["config"] == cfg.to_dict() and launch.run_config(run_id) == cfg
    meta = spec["meta"]
    assert (meta["method"], meta["model"], meta["dataset_version"], meta["parent_run"]) == (
        "lora",
        cfg.model,
        3,
        None,
    )
    assert seen["run_dir"] == "{run_dir}"  # the placeholder core.jobs fills in
    assert spec["argv"][-1] == f"{rundir.run_dir(run_id)}/spec.yaml"
    assert wait_final(run_id).state == "succeeded"


def test_start_refuses_with_every_problem_and_launches_nothing(gpus):
    gpus(0)
    cfg = preset("lora", dataset_version=None, learning_rate=0.0, accelerate_profile="fsdp")
    with pytest.raises(ValueError) as err:
        launch.start(cfg)
    message = str(err.value)
    for part in ("choose a dataset version", "learning_rate must be above 0", "fsdp needs at least 2"):
        assert part in message
    assert jobs.list_runs() == []


def test_the_model_path_rule(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert models.model_problem(models.DEFAULT_MODEL_ID) is None
    assert models.model_problem("HuggingFaceTB/SmolLM2-360M-Instruct") is None  # a hub id: loading judges it
    assert models.model_problem(str(tmp_path / "model")) is None
    assert models.model_problem(str(tmp_path / "nowhere")) == f"model folder not found: {tmp_path / 'nowhere'}"
    assert models.model_problem("runs/x/final") == "model folder not found: runs/x/final"  # two '/': a path
    assert "has no config.json" in models.model_problem(str(tmp_path / "weights"))
    assert "type a hub id" in models.model_problem(" ")


def test_start_refuses_what_the_page_refuses(tmp_path):
    (tmp_path / "weights").mkdir()  # a folder, but not a transformers model (no config.json)
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 3
    first = versions.create("no-train", rows)
    empty = versions.save(first, rows, "validation only", {"train": [], "validation": [0, 1, 2], "test": []})
    cfg = preset("lora", model=str(tmp_path / "weights"), dataset_version=empty.id)
    assert launch.problems(cfg) == [
        f"model: {tmp_path / 'weights'} has no config.json (not a transformers model folder)",
        launch.EMPTY_TRAIN,
    ]
    with pytest.raises(ValueError) as err:
        launch.start(cfg)
    assert "has no config.json" in str(err.value) and "train split of this version is empty" in str(err.value)
    assert jobs.list_runs() == []


def test_a_preference_version_is_refused_before_launch_naming_the_way_to_chat_data():
    from tests.shapes import dpo_pair

    pairs = [dpo_pair(f"question {i}?", f"good {i}", f"bad {i}") for i in range(3)]
    first = versions.create("prefs", pairs, kind="preference")
    split = versions.save(first, pairs, "split", {"train": [0, 1], "validation": [2], "test": []})
    cfg = preset("lora", dataset_version=split.id)
    assert launch.PREFERENCE_DATA in launch.problems(cfg)
    with pytest.raises(ValueError, match="chosen answers"):
        launch.start(cfg)
    assert jobs.list_runs() == []
    chat_rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 3
    chat = versions.save(versions.create("chat", chat_rows), chat_rows, "s", {"train": [0, 1], "validation": [2]})
    assert launch.PREFERENCE_DATA not in launch.problems(preset("lora", dataset_version=chat.id))


# ---- resume ----------------------------------------------------------------------------------------


def fake_run(run_id: str, state: str = "stopped", steps: tuple = (3, 7), **config) -> Path:
    """A run folder as a finished training run leaves it: spec, status, checkpoints."""
    folder = rundir.run_dir(run_id)
    folder.mkdir(parents=True)
    cfg = preset("lora", dataset_version=5, **config)
    spec = {
        "id": run_id,
        "kind": "train",
        "title": "lora · tiny · v5",
        "argv": ["x"],
        "meta": {},
        "created_at": time.time(),
        "config": cfg.to_dict(),
    }
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    status = {"state": state, "created_at": spec["created_at"]}
    if state == "running":  # alive: this very process plays the supervisor
        pid, start = procs.self_identity()
        status.update(supervisor_pid=pid, supervisor_start=start)
    rundir.write_json(folder / rundir.STATUS, status)
    for step in steps:
        (folder / "checkpoints" / f"step-{step}").mkdir(parents=True)
        (folder / "checkpoints" / f"step-{step}" / "trainer_state.json").write_text("{}")
    return folder


def test_checkpoints_sort_by_step_number_and_skip_partial_folders():
    folder = fake_run("20260101-000000-train-aaaa", steps=(3, 10, 7))
    (folder / "checkpoints" / "step-12").mkdir()  # empty: a save that never wrote anything
    (folder / "checkpoints" / ".step-13.tmp").mkdir()
    (folder / "checkpoints" / ".step-13.tmp" / "x").write_text("partial")
    found = launch.checkpoints("20260101-000000-train-aaaa")
    assert [p.name for p in found] == ["step-3", "step-7", "step-10"]  # 10 after 7, not after 1


def test_resume_continues_from_the_newest_checkpoint_with_more_epochs(monkeypatch):
    old = "20260101-000000-train-bbbb"
    folder = fake_run(old, state="stopped", steps=(3, 7))
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, FAKE, "--steps", "1"])
    new = launch.resume(old, extra_epochs=1.5)
    assert new != old
    cfg = launch.run_config(new)
    assert cfg.resume_from == str((folder / "checkpoints" / "step-7").resolve())
    assert cfg.num_train_epochs == 4.5  # the preset's 3 epochs + 1.5
    assert cfg.dataset_version == 5 and cfg.learning_rate == launch.run_config(old).learning_rate
    st = jobs.status(new)
    assert st.meta["parent_run"] == old and st.meta["resumed_from_step"] == 7
    assert st.title == "lora · tiny · v5 · resumed at step 7"
    assert wait_final(new).state == "succeeded"


def test_resume_refuses_an_active_run_or_one_without_checkpoints():
    fake_run("20260101-000000-train-cccc", state="running")
    with pytest.raises(ValueError, match="is still running; stop it"):
        launch.resume("20260101-000000-train-cccc")
    fake_run("20260101-000000-train-dddd", state="failed", steps=())
    with pytest.raises(ValueError, match="has no checkpoint to resume from"):
        launch.resume("20260101-000000-train-dddd")
    fake_run("20260101-000000-train-eeee", state="succeeded")
    with pytest.raises(ValueError, match="finished its 3 epochs; add epochs"):
        launch.resume("20260101-000000-train-eeee")
    fake_run("20260101-000000-train-ffff", state="stopped", max_steps=40)
    with pytest.raises(ValueError, match="limited by max_steps=40"):
        launch.resume("20260101-000000-train-ffff", extra_epochs=1)
    with pytest.raises(ValueError, match="extra_epochs must be 0 or more"):
        launch.resume("20260101-000000-train-ffff", extra_epochs=-1)
    with pytest.raises(ValueError, match="no run 20260101-000000-train-zzzz"):
        launch.resume("20260101-000000-train-zzzz")
    assert [r.id for r in jobs.list_runs()] == sorted(
        [f"20260101-000000-train-{x * 4}" for x in "cdef"], reverse=True
    )  # nothing new launched
