"""Benchmark accelerate's engines on this machine: two processes against one, on the tiny model.

Run: `.venv/bin/python bench/engines.py [--steps 12]`.
In the same session, with the same seed, data order and global batch (8 examples a step): (1) the baseline,
`python -m core.train` as one process (4 micro-batches of 2 accumulated); (2) the multi_gpu profile (DDP) as
two CPU ranks joined by gloo through `accelerate launch` (2 micro-batches each); (3) the fsdp profile, which
launch refuses on a CPU (its reason is printed). Each prints training tokens/s (the recipe's own meter: tokens
over training-step seconds, start-up left out), the final training loss and the wall time of the process;
then the ratios to the baseline. Test: `pytest tests/jobs/test_engines.py`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.samples import sample_path  # noqa: E402
from core.jobs import rundir  # noqa: E402
from core.paths import REPO_ROOT  # noqa: E402
from core.train import launch  # noqa: E402
from core.train.config import preset, to_yaml  # noqa: E402


def run(cfg, folder: Path) -> dict:
    """Train in `folder` with the argv the app would start; tokens/s, final loss, wall seconds."""
    folder.mkdir(parents=True)
    (folder / rundir.SPEC).write_text(to_yaml(cfg))
    env = dict(os.environ, FT_RUN_DIR=str(folder))
    t0 = time.perf_counter()
    done = subprocess.run(launch.command(cfg, folder), cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{cfg.accelerate_profile or 'one process'} failed:\n{done.stderr[-3000:]}")
    summary = rundir.read_json(folder / rundir.SUMMARY)
    losses = [r["loss"] for r in rundir.read_metrics(folder) if r["loss"] is not None]
    return {"tokens_per_s": summary["tokens_per_s"], "final_loss": losses[-1], "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    from tests.tiny import tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["FT_HOME"] = str(root / "ft_home")
        rows = sample_path("demo").read_text().splitlines()
        (root / "train.jsonl").write_text("\n".join(rows[:64]) + "\n")
        base = preset(
            "lora",
            model=str(tiny_model(root)),
            train_file=str(root / "train.jsonl"),
            per_device_train_batch_size=2,
            gradient_accumulation_steps=4,
            max_steps=args.steps,
            warmup_steps=0,
            learning_rate=2e-3,
            lora_dropout=0.0,
            sample_generations=0,
            bf16=False,
        )
        one = run(base, root / "one")
        ddp = run(replace(base, accelerate_profile="multi_gpu", gradient_accumulation_steps=2), root / "ddp")
        for name, r in (("one process", one), ("multi_gpu (DDP), 2 CPU ranks", ddp)):
            speed, loss = f"{r['tokens_per_s']:>9.1f} tokens/s", f"final loss {r['final_loss']:.6f}"
            print(f"{name:<30} {speed}  {loss}  {r['wall_s']:.1f} s")
        print(f"{'fsdp, 2 CPU ranks':<30} refused: {'; '.join(launch.profile_problems('fsdp'))}")
        print(f"ratio_ddp_tokens_per_s={ddp['tokens_per_s'] / one['tokens_per_s']:.2f}")
        print(f"final_loss_difference={abs(ddp['final_loss'] - one['final_loss']):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
