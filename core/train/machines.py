"""One training run on several machines: accelerate's own flags, and the exact command each machine runs.

Machine 0 (the main one, where the app runs) trains in a run folder of the app, so the Runs page follows
it: the metrics, checkpoints and final/ are written there by global rank 0. Every other machine runs the
same worker with its `--machine_rank` and a config file of its own (`machine-<rank>/spec.yaml` under
its repo root), a folder nobody follows: its ranks write nothing there. Each machine needs this
repository, the model and the same training data (the same dataset version in its workspace, or the
same train_file path). The Train page (ui/train/machines.py) and `python -m core.train machines` print
the same text from `plan`. Test: `.venv/bin/pytest tests/unit/test_train_machines.py tests/jobs/test_engines.py`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass

MAIN_FOLDER = "RUN_DIR"  # the main machine's run folder, made by the app at launch


@dataclass(frozen=True)
class Machines:
    """How many machines, where the main one listens, and the ranks each starts (None: its GPUs, else 1)."""

    count: int
    main_ip: str
    port: int = 29500
    per_machine: int | None = None

    def problems(self) -> list[str]:
        found = []
        if self.count < 2:
            found.append(f"num_machines must be 2 or more, not {self.count} (one machine needs no flags)")
        try:
            ipaddress.ip_address(self.main_ip)
        except ValueError:
            if not self.main_ip or any(c.isspace() for c in self.main_ip):
                found.append(f"main_process_ip {self.main_ip!r} is not an address the other machines can reach")
        if not 1024 <= self.port <= 65535:
            found.append(f"main_process_port must be between 1024 and 65535, not {self.port}")
        if self.per_machine is not None and self.per_machine < 1:
            found.append(f"processes per machine must be 1 or more, not {self.per_machine}")
        return found

    def flags(self, rank: int) -> list[str]:
        """accelerate launch's flags for machine `rank` (0 is the main one)."""
        return [
            "--num_machines",
            str(self.count),
            "--machine_rank",
            str(rank),
            "--main_process_ip",
            self.main_ip,
            "--main_process_port",
            str(self.port),
        ]


def other_folder(rank: int) -> str:
    """Where machine `rank` (1 and up) keeps its config, relative to its repo root; nobody follows it."""
    return f"machine-{rank}"


def plan(cfg, machines: Machines, run_dir: str = MAIN_FOLDER) -> list[dict]:
    """For each machine: its rank, its folder, the config file it reads and the exact command it runs."""
    from core.train import launch

    if not cfg.accelerate_profile:
        raise ValueError("several machines need an accelerate profile (multi_gpu, fsdp, deepspeed_zero2/3)")
    found = machines.problems() + launch.profile_problems(cfg.accelerate_profile, machines)
    if found:
        raise ValueError("; ".join(found))
    rows = []
    for rank in range(machines.count):
        folder = run_dir if rank == 0 else other_folder(rank)
        spec = None if rank == 0 else f"{folder}/spec.yaml"
        argv = launch.command(cfg, run_dir, machines, rank, spec=spec)
        rows.append(
            {
                "rank": rank,
                "main": rank == 0,
                "folder": folder,
                "config": spec or f"{run_dir}/spec.yaml",
                "command": launch.as_typed(argv),
                "argv": argv,
            }
        )
    return rows


def as_text(cfg, machines: Machines, run_dir: str = MAIN_FOLDER) -> str:
    """The plan as a person reads it: what to put where, then each machine's command."""
    lines = [
        f"{machines.count} machines, main {machines.main_ip}:{machines.port}, profile {cfg.accelerate_profile}.",
        "Each machine needs this repository, the model and the same training data.",
    ]
    for row in plan(cfg, machines, run_dir):
        if row["main"]:
            lines += ["", f"# machine 0 (main: the app follows {row['folder']}); Launch on the Train page runs:"]
        else:
            lines += ["", f"# machine {row['rank']}: put the run's config (spec.yaml) in {row['folder']}/, then:"]
        lines.append(row["command"])
    return "\n".join(lines)


def to_meta(machines: Machines) -> dict:
    return asdict(machines)
