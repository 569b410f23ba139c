"""Experiment tracking: a run's metrics, config and tags also sent to TensorBoard, MLflow or trackio.

TrainConfig's `report_to` picks the trackers (transformers' TrainingArguments name). Each writes local
files under runs/<id>/tracking/ (rundir.TRACKING) unless `tracking_uri` names a server (MLflow, trackio).
They get the very rows metrics.jsonl gets (the recipe's RankZero hands them over, rank zero only), the
config as parameters, the run id and the dataset version as tags. A tracker that fails mid-run (a server
down) is dropped with one warning line in the log, and training goes on. No torch and no tracker is
imported until a run opens one, so the Train page can ask `problems()` and `where()` cheaply.

Test: .venv/bin/pytest tests/jobs/test_tracking.py -q
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shlex
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from core.jobs import rundir

# name -> (module imported, package to install); mlflow-skinny is MLflow's client without its server.
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "trackio": ("trackio", "trackio"),
}
TITLES = {"tensorboard": "TensorBoard", "mlflow": "MLflow", "trackio": "trackio"}
SERVERS = ("mlflow", "trackio")  # the trackers a tracking_uri can point elsewhere
PROJECT = "fine-tuning-workbench"  # MLflow's experiment and trackio's project, one for every run
MLFLOW_DIR, TRACKIO_DIR = "mlruns", "trackio"  # under runs/<id>/tracking/; TensorBoard writes its files at the top


def missing_package(name: str) -> str | None:
    """The pip package a chosen tracker needs and this Python lacks; None when it is installed."""
    module, package = TRACKERS[name]
    return package if importlib.util.find_spec(module) is None else None


def config_problems(report_to: Any, tracking_uri: str) -> list[str]:
    """What is wrong with the settings themselves (no look at the machine)."""
    if not isinstance(report_to, list | tuple):
        return [f"report_to must be a list of trackers ({', '.join(TRACKERS)}), not {report_to!r}"]
    out = [
        f"report_to {name!r} is not a tracker this workbench knows; choose from {', '.join(TRACKERS)}"
        for name in report_to
        if name not in TRACKERS
    ]
    uri = (tracking_uri or "").strip()
    if uri and not set(report_to) & set(SERVERS):
        out.append(f"tracking_uri is for {' or '.join(SERVERS)}; TensorBoard writes its files in the run folder")
    if uri and "trackio" in report_to and not uri.startswith(("http://", "https://")):
        out.append(f"tracking_uri {uri!r}: trackio needs a server URL starting with http:// or https://")
    return out


def install_problems(report_to: Any) -> list[str]:
    """One line per chosen tracker that is not installed, naming the package to install."""
    if not isinstance(report_to, list | tuple):
        return []
    return [
        f"report_to {name!r} needs the {pkg} package, which is not installed: pip install {pkg}"
        for name in report_to
        if name in TRACKERS and (pkg := missing_package(name))
    ]


def shown(uri: str) -> str:
    """A server URL to show and log: without its query, where trackio's write token travels."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) if parts.query else uri


def where(run_dir: str | Path, report_to: list[str], tracking_uri: str = "") -> list[tuple[str, str | None]]:
    """(where each tracker's records go, the command that opens them, or None for a server), one per tracker."""
    folder, uri, out = Path(run_dir) / rundir.TRACKING, (tracking_uri or "").strip(), []
    for name in report_to:
        if name == "tensorboard":
            out.append((f"TensorBoard: event files in {folder}", f"tensorboard --logdir {shlex.quote(str(folder))}"))
        elif name in SERVERS and uri:
            unit = "experiment" if name == "mlflow" else "project"
            out.append((f"{TITLES[name]}: the server {shown(uri)}, {unit} {PROJECT}", None))
        elif name == "mlflow":
            store = (folder / MLFLOW_DIR).absolute().as_uri()
            opener = f"MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {shlex.quote(store)}"
            out.append((f"MLflow: a file store in {folder / MLFLOW_DIR}", opener))
        elif name == "trackio":
            local = shlex.quote(str(folder / TRACKIO_DIR))
            out.append(
                (
                    f"trackio: a local store in {folder / TRACKIO_DIR}",
                    f"TRACKIO_DIR={local} trackio show --project {PROJECT}",
                )
            )
    return out


def params(config: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """The config as flat parameters every tracker accepts: lists joined, None as an empty string."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        flat[key] = "" if value is None else value
    return flat


# ---- the trackers: each opens, logs a metrics row, closes; the recipe sees only Trackers ------------------


class _TensorBoard:
    def __init__(self, folder: Path, name: str, config: dict, tags: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(log_dir=str(folder))
        # The hparams plugin's records in this run's own folder (add_hparams would make a sub-run).
        experiment, start, self.end = hparams(params(config), {})
        self.writer.file_writer.add_summary(experiment)
        self.writer.file_writer.add_summary(start)
        for key, value in {"run_name": name, **tags}.items():
            self.writer.add_text(f"tags/{key}", str(value))

    def log(self, row: dict, step: int) -> None:
        for key, value in row.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # the Runs page's reader and a crash both see every row

    def close(self, ok: bool) -> None:
        self.writer.file_writer.add_summary(self.end)
        self.writer.close()


class _MLflow:
    def __init__(self, folder: Path, name: str, config: dict, tags: dict, uri: str) -> None:
        if not uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this
            uri = (folder / MLFLOW_DIR).absolute().as_uri()
        else:  # a server down answers in seconds, not after MLflow's default two minutes of retries
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow import MlflowClient
        from mlflow.entities import Param

        self.client = MlflowClient(uri)
        experiment = self.client.get_experiment_by_name(PROJECT)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(PROJECT)
        run = self.client.create_run(experiment_id, run_name=name, tags={k: str(v) for k, v in tags.items()})
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params(config).items()])

    def log(self, row: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in row.items()])

    def close(self, ok: bool) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")


class _Trackio:
    def __init__(self, folder: Path, name: str, config: dict, tags: dict, uri: str) -> None:
        # trackio reads its folder when first imported: the worker imports it here, for this run only.
        os.environ.setdefault("TRACKIO_DIR", str(folder / TRACKIO_DIR))
        import trackio

        self.trackio = trackio
        self.run = trackio.init(
            project=PROJECT,
            name=name,
            config={**params(config), **{f"tag.{k}": str(v) for k, v in tags.items()}},
            server_url=uri or None,
            embed=False,
            auto_log_cpu=False,
            auto_log_gpu=False,
            capture_console=False,
        )

    def log(self, row: dict, step: int) -> None:
        self.run.log(row, step=step)

    def close(self, ok: bool) -> None:
        self.run.finish()


def _open(name: str, folder: Path, run_name: str, config: dict, tags: dict, uri: str):
    if name == "tensorboard":
        return _TensorBoard(folder, run_name, config, tags)
    return (_MLflow if name == "mlflow" else _Trackio)(folder, run_name, config, tags, uri)


class Trackers:
    """The chosen trackers of one run. Every call is safe: a tracker that raises is dropped with one line."""

    def __init__(self, report_to: list[str], run_dir: Path, config: dict, tags: dict, run_name: str, uri: str = ""):
        self.open: dict[str, Any] = {}
        self.finished = False
        folder = Path(run_dir) / rundir.TRACKING
        for name in report_to:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                self.open[name] = _open(name, folder, run_name, config, tags, (uri or "").strip())
            except Exception as exc:  # a tracker is never worth a run: any failure only drops it
                self._warn(name, "could not start", exc)
        if self.open:
            lines = [
                f"{place}; open with `{cmd}`" if cmd else place for place, cmd in where(run_dir, list(self.open), uri)
            ]
            print("tracking: " + "; ".join(lines), flush=True)
            atexit.register(self.close, False)  # a run that dies still ends its tracked runs, as failed

    @staticmethod
    def _warn(name: str, what: str, exc: BaseException) -> None:
        text = " ".join(str(exc).split())[:300]
        why = f"{type(exc).__name__}: {text}"
        print(f"warning: tracking: {name} {what} ({why}); training goes on without it", flush=True)

    def log(self, row: dict) -> None:
        """A metrics.jsonl row: its numbers at its step (None values and the step itself left out)."""
        values = {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, int | float)}
        for name, tracker in list(self.open.items()):
            try:
                tracker.log(values, int(row["step"]))
            except Exception as exc:
                self._warn(name, "failed", exc)
                del self.open[name]

    def close(self, ok: bool = True) -> None:
        if self.finished:
            return
        self.finished = True
        for name, tracker in self.open.items():
            try:
                tracker.close(ok)
            except Exception as exc:
                self._warn(name, "could not finish", exc)


def _spec(run_dir: Path) -> dict:
    """The run's spec.yaml (its title), or {} for a recipe run on a bare folder."""
    try:
        spec = rundir.read_spec(run_dir)
    except (OSError, yaml.YAMLError):
        return {}
    return spec if isinstance(spec, dict) else {}


def for_run(cfg, run_dir: Path) -> Trackers | None:
    """The trackers a training config asks for, tagged with the run id and the dataset version; None for none."""
    if not cfg.report_to:
        return None
    run_dir = Path(run_dir)
    spec = _spec(run_dir)
    tags = {"run_id": run_dir.name, "dataset_version": "" if cfg.dataset_version is None else cfg.dataset_version}
    if cfg.train_file:
        tags["train_file"] = cfg.train_file
    name = cfg.run_name or spec.get("title") or run_dir.name
    return Trackers(list(cfg.report_to), run_dir, cfg.to_dict(), tags, name, cfg.tracking_uri)
