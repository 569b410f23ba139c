"""The training worker's command line: what a run's supervisor (or a person) starts.

    python -m core.train --config RUN_DIR/spec.yaml      (or any YAML holding a TrainConfig)
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m core.train --config ...

The run folder is FT_RUN_DIR when set, else the YAML's folder. A configuration that cannot run
exits 78 and unusable data exits 65, each with a one-line reason and no traceback, so the
supervisor can name the failure. Test: `.venv/bin/pytest tests/unit/test_recipe.py -q`.
Test: `pytest tests/unit/test_recipe.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from core.cli import Command
from core.cli import fail as _fail  # the one `kind: message` line every entry point prints
from core.jobs.supervisor import EXIT_BAD_CONFIG, EXIT_BAD_DATA
from core.train import launch
from core.train.config import from_yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a TrainConfig YAML or a run's spec.yaml")
    args = parser.parse_args(argv)
    path = Path(args.config)
    try:
        cfg = from_yaml(path.read_text())
    except (
        OSError,
        ValueError,
        TypeError,
        yaml.YAMLError,
    ) as exc:  # unreadable file, bad YAML, unknown settings
        return _fail(EXIT_BAD_CONFIG, "bad config", f"{path}: {exc}")
    found = launch.problems(cfg, machine=False)  # the launch-time list, less the machine check
    if found:
        return _fail(EXIT_BAD_CONFIG, "bad config", "; ".join(found))
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


# `python -m core train run|export ...`: this worker, and the export of a finished run.
COMMANDS = {
    "run": Command("train as a TrainConfig YAML (a run's spec.yaml) says: --config FILE", target=main),
    "export": Command("merge or copy a finished run's model, then check it stops", target="core.train.export:main"),
}


if __name__ == "__main__":
    sys.exit(main())
