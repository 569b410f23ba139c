"""A stand-in worker that speaks the run-dir contract: progress, metrics, STOP, failures.

--child starts a sleeping child (its pid in child.pid), --deaf ignores SIGTERM and STOP, --env-names writes the
names in its environment to env.json: what tests/jobs/test_lifecycle.py needs of a worker.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from core.jobs import rundir  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--sleep", type=float, default=0.05)
parser.add_argument("--fail-at", type=int, default=-1)
parser.add_argument("--exit-code", type=int, default=1)
parser.add_argument("--message", default="boom")
parser.add_argument("--child", action="store_true")
parser.add_argument("--session-child", action="store_true", help="the child in a session of its own, as torch's ranks")
parser.add_argument("--deaf", action="store_true")
parser.add_argument("--env-names", action="store_true")
args = parser.parse_args()

folder = Path(os.environ["FT_RUN_DIR"])
if args.env_names:
    (folder / "env.json").write_text(json.dumps(sorted(os.environ)))
if args.deaf:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if args.child or args.session_child:
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    child = subprocess.Popen(sleeper, start_new_session=args.session_child)
    (folder / "child.pid").write_text(str(child.pid))
for step in range(1, args.steps + 1):
    if rundir.stop_requested(folder) and not args.deaf:
        print(f"stop requested at step {step}; saving", flush=True)
        sys.exit(0)
    if step == args.fail_at:
        print(args.message, flush=True)
        sys.exit(args.exit_code)
    rundir.append_metrics(folder, {"step": step, "loss": 1.0 / step})
    rundir.report_progress(folder, step, args.steps, f"step {step}")
    print(f"step {step}", flush=True)
    time.sleep(args.sleep)
print("done", flush=True)
