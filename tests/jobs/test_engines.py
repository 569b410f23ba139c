"""accelerate's engines for real on this CPU machine: the multi_gpu profile as two CPU ranks (gloo), launched as
the app launches them (a supervisor running `accelerate launch`), on the tiny model.

The loss curve of two ranks matches one process with the same global batch (LoRA on one machine, full
fine-tuning on two); STOP stops both ranks; one run on two "machines" (two launches on 127.0.0.1, ranks 0
and 1) trains into the main machine's run folder. fsdp and deepspeed cannot run on CPU (README, Several
GPUs): the launch refuses them with the reason (tests/unit/test_train_launch.py).
Run: `.venv/bin/pytest tests/jobs/test_engines.py -q`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import replace

import pytest

from core import jobs
from core.data.samples import sample_path
from core.jobs import procs, rundir
from core.paths import REPO_ROOT
from core.train import device, launch, recipe
from core.train.config import preset, to_yaml
from core.train.machines import Machines, plan
from tests.waiting import wait_for

RUN_S = 240  # two ranks start two torch processes each; generous on two busy cores


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    if device.gpu_count():
        pytest.fail("this file checks the CPU ranks; on a GPU machine run the GPU check (README, Several GPUs)")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two ranks on two cores: one thread each, none spinning


@pytest.fixture
def cfg(tmp_path, tiny_model_dir):
    rows = sample_path("demo").read_text().splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(rows[:16]) + "\n")
    (tmp_path / "val.jsonl").write_text("\n".join(rows[100:104]) + "\n")
    # 16 examples, 2 a micro-batch: 8 micro-batches an epoch. Two ranks x 2 accumulated = one process x 4.
    return preset(
        "lora",
        model=str(tiny_model_dir),
        train_file=str(tmp_path / "train.jsonl"),
        validation_file=str(tmp_path / "val.jsonl"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        accelerate_profile="multi_gpu",
        max_steps=4,
        logging_steps=1,
        warmup_steps=0,
        learning_rate=2e-3,  # large enough that the curve moves in four steps
        lora_dropout=0.0,  # dropout masks come from each process's own generator, so no two runs would agree
        sample_generations=0,
        bf16=False,
    )


def losses(run_dir) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in rundir.read_metrics(run_dir) if r["loss"] is not None]


def eval_losses(run_dir) -> list[tuple[int, float]]:
    return [(r["step"], r["eval_loss"]) for r in rundir.read_metrics(run_dir) if r["eval_loss"] is not None]


def baseline(cfg, tmp_path):
    """One process here with the same 8 examples a step (one group of 4), while the ranks run; its folder."""
    recipe.train(replace(cfg, accelerate_profile=None, gradient_accumulation_steps=4), tmp_path / "one")
    return tmp_path / "one"


def same_curve(two_ranks, one) -> None:
    """The two-rank run's training and validation losses against the one process's."""
    ddp, single = losses(two_ranks), losses(one)
    assert [s for s, _ in ddp] == [s for s, _ in single] == [1, 2, 3, 4]
    # Measured here: the two curves differ by at most 2e-6 (fp32 rounding of the split sums and of gloo's
    # gradient average); the loss moves about 1e-2 a step, so 1e-4 tells a wrong batch or weighting apart.
    for (_, a), (_, b) in zip(ddp, single, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
    assert single[-1][1] < single[0][1]  # it learned, so matching curves say something
    evals = eval_losses(two_ranks), eval_losses(one)
    assert evals[0] and [s for s, _ in evals[0]] == [s for s, _ in evals[1]]
    for (_, a), (_, b) in zip(*evals, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_two_cpu_ranks_follow_one_process_with_the_same_global_batch(cfg, tmp_path):
    run_id = launch.start(cfg, title="ddp lora")
    argv = rundir.read_spec(rundir.run_dir(run_id))["argv"]
    assert argv[2] == "accelerate.commands.launch" and argv[argv.index("--num_processes") + 1] == "2"
    one = baseline(cfg, tmp_path)
    run = wait_for(run_id, jobs.FINAL, RUN_S)
    assert run.state == "succeeded", run.message
    same_curve(rundir.run_dir(run_id), one)
    summary = rundir.read_json(rundir.run_dir(run_id) / rundir.SUMMARY)
    assert summary["final_step"] == 4 and (rundir.run_dir(run_id) / rundir.FINAL / "adapter_config.json").is_file()


def test_stop_stops_both_ranks_and_the_run_ends_stopped(cfg):
    run_id = launch.start(replace(cfg, max_steps=400, save_strategy="steps", save_steps=1000), title="ddp stop")
    folder = rundir.run_dir(run_id)
    wait_for(run_id, ("running",), RUN_S)
    pgid = rundir.read_json(folder / rundir.STATUS)["supervisor_pid"]
    deadline = time.time() + RUN_S
    while not losses(folder) and time.time() < deadline:  # the first logged step: both ranks are in the loop
        time.sleep(0.1)
    # torch's elastic agent starts each rank in a session of its own: find them as the launcher's children.
    below = _descendants(procs.group_members(pgid))
    ranks = [pid for pid in below if "-m core.train" in _cmdline(pid) and "accelerate" not in _cmdline(pid)]
    assert len(ranks) == 2, [_cmdline(p) for p in ranks]
    jobs.stop(run_id)
    run = wait_for(run_id, jobs.FINAL, RUN_S)
    assert run.state == "stopped", run.message
    left = lambda: procs.group_members(pgid) + [pid for pid in ranks if procs.start_time(pid)]  # noqa: E731
    deadline = time.time() + 30  # the supervisor exits just after it writes the final status
    while left() and time.time() < deadline:
        time.sleep(0.1)
    assert left() == []  # no rank left alive, nor the launcher or the supervisor
    summary = rundir.read_json(folder / rundir.SUMMARY)
    assert summary["stopped_by_user"] and summary["final_step"] < 400
    assert launch.checkpoints(run_id)  # it saved where it stopped, so Resume can continue


def _descendants(roots: list[int]) -> list[int]:
    """Every live process below `roots` (from /proc's parent pids), the roots left out."""
    parent = {}
    for name in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{name}/stat").read() if name.isdigit() else ""
        except OSError:
            continue
        if stat:
            parent[int(name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], list(roots)
    while frontier:
        kids = [pid for pid, ppid in parent.items() if ppid in frontier]
        found, frontier = found + kids, [pid for pid in kids if pid not in found]
    return sorted(set(found) - set(roots))


def _cmdline(pid: int) -> str:
    try:
        return (open(f"/proc/{pid}/cmdline", "rb").read()).replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_machines_on_this_host_train_into_the_main_run_folder(cfg, tmp_path):
    spread = Machines(2, "127.0.0.1", _free_port(), per_machine=1)  # two CPU processes in all
    full = replace(cfg, method="full")
    rows = plan(full, spread)
    assert [r["rank"] for r in rows] == [0, 1] and rows[1]["config"] == "machine-1/spec.yaml"
    for row in rows:
        assert (
            f"--machine_rank {row['rank']} --main_process_ip 127.0.0.1 --main_process_port {spread.port}"
            in (row["command"])
        )
    run_id = launch.start(full, title="two machines", machines=spread)  # machine 0, as the Train page starts it
    other = tmp_path / "machine-1"
    other.mkdir()
    (other / "spec.yaml").write_text(to_yaml(full))
    argv = rows[1]["argv"][:-1] + [str(other / "spec.yaml")]  # machine 1's command, its folder under tmp_path
    rank1 = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    one = baseline(full, tmp_path)
    _, err = rank1.communicate(timeout=RUN_S)
    assert rank1.returncode == 0, err[-2000:]
    run = wait_for(run_id, jobs.FINAL, RUN_S)
    assert run.state == "succeeded", run.message
    main = rundir.run_dir(run_id)
    same_curve(main, one)  # full fine-tuning, one rank on each "machine"
    assert (main / rundir.FINAL / "model.safetensors").is_file()
    assert rundir.read_spec(main)["meta"]["machines"]["count"] == 2
    assert sorted(p.name for p in other.iterdir()) == ["spec.yaml"]  # machine 1 wrote nothing of the run


def test_fsdp_started_by_hand_on_cpu_stops_with_the_reason(cfg, tmp_path):
    # launch refuses fsdp here; a person typing the command gets the reason, not DDP under fsdp's name.
    fsdp = replace(cfg, accelerate_profile="fsdp")
    (tmp_path / "spec.yaml").write_text(to_yaml(fsdp))
    argv = launch.command(replace(fsdp, accelerate_profile="multi_gpu"), tmp_path)
    argv[argv.index("--config_file") + 1] = "configs/accelerate/fsdp.yaml"
    argv[argv.index("--num_processes") + 1] = "1"  # one rank is enough to meet the refusal
    done = subprocess.run(argv, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=RUN_S)
    assert done.returncode != 0 and "the fsdp profile needs CUDA GPUs" in done.stdout + done.stderr
    assert not (tmp_path / rundir.METRICS).exists()
