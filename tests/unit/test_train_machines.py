"""The commands of one run on several machines: accelerate parses each machine's command into its own node
rank of the same rendezvous, and the command line prints the same text as the Train page.

Run: `.venv/bin/pytest tests/unit/test_train_machines.py -q`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core import paths
from core.train import machines
from core.train.config import preset, to_yaml
from core.train.machines import Machines
from tests.unit.test_train_launch import fake_smi, gpus  # noqa: F401  (fixtures)


def _accelerate_env(argv: list[str]) -> tuple:
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv[3:]))
    args.main_process_port = int(args.main_process_port)
    prepare_multi_gpu_env(args)
    return args


def test_each_machine_gets_its_rank_of_one_rendezvous(gpus, monkeypatch):  # noqa: F811
    monkeypatch.chdir(paths.REPO_ROOT)  # the profiles are read from the repo root, as the workers do
    gpus(4)
    cfg = preset("lora", accelerate_profile="fsdp")
    rows = machines.plan(cfg, Machines(3, "10.0.0.5", 29611))
    assert [r["folder"] for r in rows] == ["RUN_DIR", "machine-1", "machine-2"]
    for row in rows:
        args = _accelerate_env(row["argv"])
        assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("3", row["rank"], "4")  # 4 GPUs each
        assert (args.rdzv_backend, args.rdzv_endpoint) == ("static", "10.0.0.5:29611") and args.use_fsdp
        assert args.training_script_args == ["--config", row["config"]]
    assert rows[0]["command"].startswith("accelerate launch --config_file configs/accelerate/fsdp.yaml")
    assert "--num_processes 12 --num_machines 3 --machine_rank 2" in rows[2]["command"]


def test_cpu_machines_start_one_rank_each_without_mixed_precision(gpus):  # noqa: F811
    gpus(0)
    rows = machines.plan(preset("full", accelerate_profile="multi_gpu"), Machines(2, "127.0.0.1", 29612))
    assert all("--num_processes 2 " in r["command"] and "--mixed_precision no" in r["command"] for r in rows)
    with pytest.raises(ValueError, match="cannot run on CPU"):
        machines.plan(preset("full", accelerate_profile="fsdp"), Machines(2, "127.0.0.1", 29612))


@pytest.mark.parametrize(
    "spread, message",
    [
        (Machines(1, "10.0.0.5"), "num_machines must be 2 or more"),
        (Machines(2, "10.0.0.5", 80), "main_process_port must be between 1024 and 65535"),
        (Machines(2, "", 29500), "is not an address"),
        (Machines(2, "10.0.0.5", 29500, 0), "processes per machine must be 1 or more"),
    ],
)
def test_bad_machines_are_named(spread, message, gpus):  # noqa: F811
    gpus(2)
    with pytest.raises(ValueError, match=message):
        machines.plan(preset("lora", accelerate_profile="multi_gpu"), spread)
    with pytest.raises(ValueError, match="need an accelerate profile"):
        machines.plan(preset("lora"), Machines(2, "10.0.0.5"))


def test_the_command_line_prints_the_plan(tmp_path, ft_home):
    spec = tmp_path / "spec.yaml"
    spec.write_text(to_yaml(preset("lora", accelerate_profile="multi_gpu", train_file=str(tmp_path / "t.jsonl"))))
    (tmp_path / "t.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    cmd = [sys.executable, "-m", "core.train", "machines", "--config", str(spec), "--num-machines", "2"]
    cmd += ["--main-ip", "127.0.0.1", "--port", "29613"]
    env = {"FT_HOME": str(ft_home), "PATH": "/usr/bin:/bin"}  # no nvidia-smi: CPU ranks
    shown = subprocess.run([*cmd, "--json"], cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert found["run_id"] is None and [m["rank"] for m in found["machines"]] == [0, 1]
    assert found["machines"][1]["command"].endswith("-m core.train --config machine-1/spec.yaml")
    text = subprocess.run(cmd, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True).stdout
    assert all(m["command"] in text for m in found["machines"])  # the same commands, as the page shows them
    bad = subprocess.run(
        [*cmd[:-4], "--main-ip", "127.0.0.1", "--port", "7"],
        cwd=paths.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 78 and "main_process_port must be between" in bad.stderr + bad.stdout
