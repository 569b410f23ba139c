"""The Train page's "several machines" part under AppTest: each machine's command as the CLI prints it, and
Launch starting machine 0's share as a run whose meta names the machines.

Run: `.venv/bin/pytest tests/app/test_train_machines.py -q`.
"""

from __future__ import annotations

import sys

from core import jobs
from core.jobs import rundir
from core.train import launch, machines
from core.train.config import TrainConfig
from tests.app.harness import FAKE
from tests.app.test_train_page import app, model_dir, split_version, use_model  # noqa: F401  (model_dir: fixture)
from tests.waiting import wait_for


def test_the_page_shows_each_machines_command_and_launches_machine_0(model_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi: multi_gpu runs CPU ranks here
    launch.device._nvidia_smi.cache_clear()
    seen, real = {}, launch.command

    def fake_command(cfg, run_dir, *more, **named):
        argv = real(cfg, run_dir, *more, **named)
        if run_dir != "{run_dir}":  # the page's commands: as they are
            return argv
        seen["argv"] = argv  # Launch's: recorded, and the fake worker runs instead of a rank waiting for machine 1
        return [sys.executable, FAKE, "--steps", "1"]

    split_version()
    at = use_model(app(), model_dir)
    at.selectbox(key="train_accelerate_profile").set_value("multi_gpu").run()
    at.toggle(key="train_machines_on").set_value(True).run()
    assert "Type the main machine's IP" in " ".join(i.value for i in at.info)
    at.text_input(key="train_machines_ip").input("10.0.0.5").run()
    at.number_input(key="train_machines_port").set_value(29601).run()
    assert not at.exception, at.exception
    expected = machines.as_text(TrainConfig(accelerate_profile="multi_gpu"), machines.Machines(2, "10.0.0.5", 29601))
    assert expected in [c.value for c in at.code]  # the text `python -m core.train machines` prints
    monkeypatch.setattr(launch, "command", fake_command)
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    run_id = jobs.list_runs("train")[0].id
    assert rundir.read_spec(rundir.run_dir(run_id))["meta"]["machines"] == {
        "count": 2,
        "main_ip": "10.0.0.5",
        "port": 29601,
        "per_machine": None,
    }
    assert "--machine_rank" in seen["argv"] and seen["argv"][seen["argv"].index("--machine_rank") + 1] == "0"
    assert wait_for(run_id, jobs.FINAL, 60).state == "succeeded"
