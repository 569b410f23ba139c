"""Experiment tracking with the real libraries: the tiny model trains a few steps through the worker's command
line with report_to every installed tracker, and each tracker's own reader gets back metrics.jsonl's numbers,
the config as parameters and the run id and dataset version as tags; a tracker that is not installed is named
with its package and nothing launches; a trackio server that is down leaves training and TensorBoard going.

Run: .venv/bin/pytest tests/jobs/test_tracking.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.data.samples import sample_path
from core.jobs import rundir
from core.paths import REPO_ROOT
from core.train import tracking
from tests.unit.test_recipe import cfg_for as recipe_cfg

INSTALLED = [name for name in tracking.TRACKERS if tracking.missing_package(name) is None]


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("tracking")
    rows = sample_path("demo").read_text().splitlines()
    (root / "train.jsonl").write_text("\n".join(rows[:8]) + "\n")
    (root / "val.jsonl").write_text("\n".join(rows[100:104]) + "\n")
    return {"model": str(tiny_model_dir), "train": str(root / "train.jsonl"), "val": str(root / "val.jsonl")}


def cfg_for(files, **overrides):
    # The recipe tests' 2 optimizer steps per epoch; 3 steps cross an evaluation.
    return recipe_cfg(files, **{"max_steps": 3, "eval_strategy": "steps", "eval_steps": 2, **overrides})


def train(run: Path, cfg, title: str = "tracked run") -> subprocess.CompletedProcess:
    run.mkdir(parents=True)
    (run / rundir.SPEC).write_text(yaml.safe_dump({"title": title, "config": cfg.to_dict()}))
    return subprocess.run(
        [sys.executable, "-m", "core.train", "--config", str(run / rundir.SPEC)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(row["step"], row[key]) for row in rows if row.get(key) is not None]


def read_back(code: str, env: dict | None = None) -> dict:
    """A tracker's reader in its own process: trackio and MLflow read their folder from the environment."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def tensorboard_records(folder: Path, keys: list[str]) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {k: [(e.step, e.value) for e in acc.Scalars(k)] for k in keys if k in acc.Tags()["scalars"]}
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    texts = {
        tag.split("/")[1]: acc.Tensors(tag)[0].tensor_proto.string_val[0].decode()
        for tag in acc.Tags()["tensors"]
        if tag.startswith("tags/")
    }
    return {"scalars": scalars, "params": hparams, "tags": texts}


TRACKIO_READER = """
import json
from trackio.sqlite_storage import SQLiteStorage
logs = SQLiteStorage.get_logs({project!r}, {name!r})
print(json.dumps({{"logs": logs, "config": SQLiteStorage.get_run_config({project!r}, {name!r})}}))
"""

MLFLOW_READER = """
import json
from mlflow import MlflowClient
client = MlflowClient({uri!r})
run = client.search_runs([client.get_experiment_by_name({project!r}).experiment_id])[0]
metrics = {{k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)] for k in run.data.metrics}}
out = dict(metrics=metrics, params=run.data.params, tags=run.data.tags, name=run.info.run_name, status=run.info.status)
print(json.dumps(out))
"""


def test_every_installed_tracker_gets_the_metrics_the_config_and_the_tags(files, tmp_path):
    assert {"tensorboard", "trackio"} <= set(INSTALLED)  # requirements.txt pins both; MLflow is optional
    run = tmp_path / "runs" / "train-tracked"
    cfg = cfg_for(files, report_to=INSTALLED)
    done = train(run, cfg)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "warning: tracking" not in done.stdout
    rows = rundir.read_metrics(run)
    keys = sorted({k for row in rows for k, v in row.items() if v is not None and k != "step"})
    assert {"loss", "eval_loss", "lr"} <= set(keys)
    folder = run / rundir.TRACKING
    flat = tracking.params(cfg.to_dict())

    tb = tensorboard_records(folder, keys)
    for key in keys:
        assert tb["scalars"][key] == [(s, pytest.approx(v, rel=1e-6)) for s, v in series(rows, key)], key
    assert tb["params"]["learning_rate"] == pytest.approx(cfg.learning_rate)
    assert tb["params"]["target_modules"] == ",".join(cfg.target_modules)
    assert tb["tags"] == {
        "run_name": "tracked run",
        "run_id": "train-tracked",
        "dataset_version": "",
        "train_file": files["train"],
    }

    trackio = read_back(
        TRACKIO_READER.format(project=tracking.PROJECT, name="tracked run"),
        {"TRACKIO_DIR": str(folder / tracking.TRACKIO_DIR)},
    )
    for key in keys:
        logged = [(log["step"], log[key]) for log in trackio["logs"] if key in log]
        assert logged == [(s, pytest.approx(v)) for s, v in series(rows, key)], key
    assert {k: trackio["config"][k] for k in flat} == flat
    assert trackio["config"]["tag.run_id"] == "train-tracked"

    if "mlflow" in INSTALLED:  # not in requirements.txt (README, Experiment tracking); checked where it is
        mlflow = read_back(
            MLFLOW_READER.format(uri=(folder / tracking.MLFLOW_DIR).absolute().as_uri(), project=tracking.PROJECT),
            {"MLFLOW_ALLOW_FILE_STORE": "true"},
        )
        for key in keys:
            got = sorted(mlflow["metrics"][key], key=lambda m: m[0])
            assert got == [[s, pytest.approx(v)] for s, v in series(rows, key)], key
        assert mlflow["params"] == {k: str(v) for k, v in flat.items()}
        assert mlflow["tags"]["run_id"] == "train-tracked" and mlflow["name"] == "tracked run"
        assert mlflow["status"] == "FINISHED"


BLOCKED = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # this Python cannot import it: as if it were not installed
from core import jobs
from core.train import config, launch
cfg = config.from_yaml(open(sys.argv[2]).read())
try:
    launch.start(cfg)
    refused = ""
except ValueError as exc:
    refused = str(exc)
from core.train.__main__ import main
code = main(["--config", sys.argv[2]])
print(json.dumps({"problems": launch.problems(cfg), "refused": refused, "code": code, "runs": len(jobs.list_runs())}))
"""


def test_a_tracker_that_is_not_installed_is_named_with_its_package_and_nothing_launches(files, tmp_path):
    spec = tmp_path / "cfg.yaml"
    spec.write_text(yaml.safe_dump(cfg_for(files, report_to=["tensorboard", "trackio"]).to_dict()))
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, "tensorboard,trackio", str(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FT_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    needs = [
        "report_to 'tensorboard' needs the tensorboard package, which is not installed: pip install tensorboard",
        "report_to 'trackio' needs the trackio package, which is not installed: pip install trackio",
    ]
    assert [p for p in out["problems"] if "report_to" in p] == needs
    assert all(n in out["refused"] for n in needs)
    assert out["code"] == 78 and "pip install tensorboard" in done.stderr + done.stdout
    assert out["runs"] == 0  # launch made no run folder


def test_a_trackio_server_that_is_down_leaves_training_and_the_other_trackers_going(files, tmp_path):
    run = tmp_path / "runs" / "train-down"
    # Nothing listens on port 9 (discard) here: every send fails; trackio keeps them and warns once.
    uri = "http://127.0.0.1:9/?write_token=t"
    done = train(run, cfg_for(files, report_to=["trackio", "tensorboard"], tracking_uri=uri, max_steps=2))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "could not be sent to the remote server" in done.stderr
    rows = rundir.read_metrics(run)
    assert [r["step"] for r in rows if r.get("loss") is not None] == [1, 2]
    assert (run / rundir.FINAL).is_dir()
    tb = tensorboard_records(run / rundir.TRACKING, ["loss"])
    assert tb["scalars"]["loss"] == [(s, pytest.approx(v, rel=1e-6)) for s, v in series(rows, "loss")]


def test_settings_problems_name_the_parameter():
    assert tracking.config_problems("tensorboard", "") == [
        "report_to must be a list of trackers (tensorboard, mlflow, trackio), not 'tensorboard'"
    ]
    assert tracking.config_problems(["wandb"], "") == [
        "report_to 'wandb' is not a tracker this workbench knows; choose from tensorboard, mlflow, trackio"
    ]
    assert "trackio needs a server URL" in tracking.config_problems(["trackio"], "localhost:7860")[0]
    assert "TensorBoard writes its files" in tracking.config_problems(["tensorboard"], "http://x:5000")[0]
