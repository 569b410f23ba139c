"""The training worker's command line: what a run's supervisor (or a person) starts.

    python -m core.train --config RUN_DIR/spec.yaml      (or any YAML holding a TrainConfig)
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m core.train --config ...
    python -m core.train preflight --config SPEC.yaml [--json] [--mfu 0.35] [--formula]   (the Train page's pre-flight)
    python -m core.train probe --config SPEC.yaml [--steps 3]   (this device's speed, cached for the pre-flight)
    python -m core.train machines --config SPEC.yaml --num-machines N --main-ip IP [--port P] [--launch] [--json]

The run folder is FT_RUN_DIR when set, else the YAML's folder. A configuration that cannot run
exits 78 and unusable data exits 65, each with a one-line reason and no traceback, so the
supervisor can name the failure. Test: `.venv/bin/pytest tests/unit/test_recipe.py -q`.
Test: `pytest tests/unit/test_recipe.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from core.cli import Command, dispatch
from core.cli import fail as _fail  # the one `kind: message` line every entry point prints
from core.jobs import rundir
from core.jobs.supervisor import EXIT_BAD_CONFIG, EXIT_BAD_DATA
from core.train import launch
from core.train.config import from_yaml


def _config(path: Path):
    """(config, None), or (None, exit code) after the one-line reason it cannot run."""
    try:
        cfg = from_yaml(path.read_text())
    except (
        OSError,
        ValueError,
        TypeError,
        yaml.YAMLError,
    ) as exc:  # unreadable file, bad YAML, unknown settings
        return None, _fail(EXIT_BAD_CONFIG, "bad config", f"{path}: {exc}")
    found = launch.problems(cfg, machine=False)  # the launch-time list, less the machine check
    if found:
        return None, _fail(EXIT_BAD_CONFIG, "bad config", "; ".join(found))
    return cfg, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a TrainConfig YAML or a run's spec.yaml")
    args = parser.parse_args(argv)
    path = Path(args.config)
    cfg, code = _config(path)
    if cfg is None:
        return code
    run_dir = Path(os.environ.get("FT_RUN_DIR") or path.resolve().parent)

    # Imported only now: torch and transformers take seconds, and a bad config should not wait for them.
    from core.train.recipe import ConfigError, train
    from core.train.tokenize import TrainDataError

    try:
        summary = train(cfg, run_dir)
    except ConfigError as exc:
        return _fail(EXIT_BAD_CONFIG, "bad config", str(exc))
    except TrainDataError as exc:
        return _fail(EXIT_BAD_DATA, "bad data", str(exc))
    state = "stopped on request" if summary["stopped_by_user"] else "done"
    if os.environ.get("RANK", "0") == "0":  # once, not once per rank
        print(
            f"{state}: step {summary['final_step']}, best validation loss {summary['best_eval_loss']}",
            flush=True,
        )
    return 0


def _preflight_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="a TrainConfig YAML or a run's spec.yaml")
    p.add_argument("--mfu", type=float, default=None, help="utilisation for a time from FLOPs (default 0.35)")
    p.add_argument("--formula", action="store_true", help="activations from the formula, as the page shows at once")
    p.add_argument("--json", action="store_true")


def preflight_main(args: argparse.Namespace) -> int:
    """The Train page's pre-flight for a config on this machine: memory by term, time and its source, fit."""
    from core.train import preflight

    cfg, code = _config(Path(args.config))
    if cfg is None:
        return code
    train = launch.train_examples(cfg)
    if not train:
        return _fail(EXIT_BAD_DATA, "bad data", f"no train examples could be read for {args.config}")
    found = preflight.for_config(cfg, train, args.mfu, measure=not args.formula)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for key, value in found.items():
            print(f"{key:<20}{value}")
    return 0


def _probe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="a TrainConfig YAML or a run's spec.yaml")
    p.add_argument("--steps", type=int, default=3, help="timed optimizer steps, after one warm-up step")


def probe_main(args: argparse.Namespace) -> int:
    cfg, code = _config(Path(args.config))
    if cfg is None:
        return code
    from core.train import calibrate
    from core.train.recipe import ConfigError
    from core.train.tokenize import TrainDataError

    try:
        return calibrate.probe_main(args)
    except ConfigError as exc:
        return _fail(EXIT_BAD_CONFIG, "bad config", str(exc))
    except TrainDataError as exc:
        return _fail(EXIT_BAD_DATA, "bad data", str(exc))


def _machines_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="a TrainConfig YAML with a profile, or a run's spec.yaml")
    p.add_argument("--num-machines", type=int, required=True, help="machines in the run, this one included")
    p.add_argument("--main-ip", required=True, help="the main machine's address, as the others reach it")
    p.add_argument("--port", type=int, default=29500, help="a free port on the main machine (default 29500)")
    p.add_argument("--per-machine", type=int, default=None, help="ranks per machine (default: its GPUs, else 1)")
    p.add_argument("--launch", action="store_true", help="start machine 0's share here as a run the app follows")
    p.add_argument("--json", action="store_true")


def machines_main(args: argparse.Namespace) -> int:
    """The exact command each of N machines runs; with --launch, machine 0's share starts here as a run."""
    from core.train import machines

    cfg, code = _config(Path(args.config))
    if cfg is None:
        return code
    spread = machines.Machines(args.num_machines, args.main_ip, args.port, args.per_machine)
    try:
        run_id = launch.start(cfg, machines=spread) if args.launch else None
        run_dir = str(rundir.run_dir(run_id)) if run_id else machines.MAIN_FOLDER
        rows = machines.plan(cfg, spread, run_dir)
        text = machines.as_text(cfg, spread, run_dir)
    except ValueError as exc:
        return _fail(EXIT_BAD_CONFIG, "bad config", str(exc))
    if args.json:
        shown = [{k: v for k, v in row.items() if k != "argv"} for row in rows]
        print(json.dumps({"run_id": run_id, "machines": shown}, indent=2))
    else:
        print(text + (f"\n\nmachine 0 started as run {run_id}" if run_id else ""))
    return 0


# `python -m core train run|export|preflight|probe|machines ...`: this worker, the export of a finished run, the
# estimate, the commands of a run on several machines.
COMMANDS = {
    "run": Command("train as a TrainConfig YAML (a run's spec.yaml) says: --config FILE", target=main),
    "export": Command("merge or copy a finished run's model, then check it stops", target="core.train.export:main"),
    "preflight": Command(
        "the pre-flight the Train page shows (memory by term, time, fit): --config FILE [--json]",
        run=preflight_main,
        arguments=_preflight_arguments,
    ),
    "probe": Command(
        "time a few training steps at a config's shapes; the pre-flight uses the result",
        run=probe_main,
        arguments=_probe_arguments,
    ),
    "machines": Command(
        "the exact command each of N machines runs: --config FILE --num-machines N --main-ip IP [--port P] [--launch]",
        run=machines_main,
        arguments=_machines_arguments,
    ),
}


if __name__ == "__main__":
    if sys.argv[1:2] and sys.argv[1] in ("preflight", "probe", "machines"):  # the worker itself takes no command name
        sys.exit(dispatch("python -m core.train", __doc__, COMMANDS))
    sys.exit(main())
