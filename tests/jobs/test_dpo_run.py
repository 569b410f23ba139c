"""DPO runs as real jobs on the tiny model: through the local API with the `openai` client, and on top of an SFT run.

The API's fine_tuning.jobs.create(method={"type": "dpo", ...}) trains a local DPO run from OpenAI's preference
files; bad requests are 400s naming their parameter and launch nothing. A DPO run started from a finished
SFT LoRA run trains over the SFT adapter merged into its base (made once, under the SFT run's export/), so
its final/ is an ordinary adapter that the loaders, the candidates and preference accuracy take as it is.
Run: `.venv/bin/pytest tests/jobs/test_dpo_run.py -q`
"""

from __future__ import annotations

import json
import random

import openai
import pytest
from openai import OpenAI

from core import jobs
from core.data.samples import sample_path
from core.eval import __main__ as eval_cli
from core.eval import candidates
from core.jobs import rundir
from core.server.app import create_app
from core.train import export, launch
from core.train.config import preset
from tests import api_server
from tests.shapes import dpo_pair
from tests.waiting import wait_for

KEY = "sk-local-test-key"
WORDS = "apple river stone cloud music garden light ocean paper window".split()


def pairs(n: int, seed: int) -> list[dict]:
    """Pairs whose chosen answer is always the short one."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = rng.choice(WORDS)
        long = f"{w.capitalize()} is a thing people talk about at length, for many reasons, every day ({i})."
        out.append(dpo_pair(f"Tell me about {w} ({i}).", f"{w.capitalize()} is nice.", long))
    return out


def write(path, rows: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def client(tiny_model_dir):
    with api_server.serving(create_app(KEY, base_model=str(tiny_model_dir))) as url:
        yield OpenAI(base_url=url, api_key=KEY, max_retries=0)


def upload(client, path: str):
    with open(path, "rb") as f:
        return client.files.create(file=f, purpose="fine-tune")


def test_the_api_trains_a_dpo_job_and_refuses_bad_methods_naming_the_parameter(client, tmp_path):
    train = upload(client, write(tmp_path / "train.jsonl", pairs(12, 0)))
    val = upload(client, write(tmp_path / "val.jsonl", pairs(4, 1)))
    chat_rows = sample_path("demo").read_text().splitlines()[:12]
    (tmp_path / "chat.jsonl").write_text("\n".join(chat_rows) + "\n")
    chat = upload(client, str(tmp_path / "chat.jsonl"))
    create = client.fine_tuning.jobs.create
    refused = [
        (dict(training_file=train.id, validation_file=val.id, method={"type": "reinforcement"}), "method.type"),
        (dict(training_file=chat.id, validation_file=val.id, method={"type": "dpo"}), "training_file"),
        (dict(training_file=train.id, method={"type": "dpo"}), "validation_file"),
        (dict(training_file=train.id, validation_file=val.id), "training_file"),  # supervised on pairs
        (
            dict(
                training_file=train.id,
                validation_file=val.id,
                method={"type": "dpo", "dpo": {"hyperparameters": {"beta": -1}}},
            ),
            "method.dpo.hyperparameters.beta",
        ),
    ]
    for kwargs, param in refused:
        with pytest.raises(openai.BadRequestError) as bad:
            create(model="gpt-4o-mini-2024-07-18", **kwargs)
        assert bad.value.param == param, (kwargs, bad.value.body)
    assert jobs.list_runs() == []

    hp = {"beta": 0.2, "n_epochs": 1, "batch_size": 4}
    job = create(
        model="gpt-4o-mini-2024-07-18",
        training_file=train.id,
        validation_file=val.id,
        method={"type": "dpo", "dpo": {"hyperparameters": hp}},
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    (run,) = jobs.list_runs(key=job.id)
    assert wait_for(run.id, timeout=240).state == "succeeded", (rundir.run_dir(run.id) / rundir.LOG).read_text()[
        -2000:
    ]
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.method.type == "dpo"
    cfg = launch.run_config(run.id)
    assert (cfg.objective, cfg.beta, cfg.method) == ("dpo", 0.2, "lora")
    rows = rundir.read_metrics(rundir.run_dir(run.id))
    assert any(r.get("rewards_accuracies") is not None for r in rows)
    assert any(r.get("eval_rewards_accuracies") is not None for r in rows)
    summary = rundir.read_json(rundir.run_dir(run.id) / rundir.SUMMARY)
    assert summary["objective"] == "dpo" and summary["train_examples"] == 12


def test_a_dpo_run_on_top_of_an_sft_run_trains_over_its_merged_model(tiny_model_dir, tmp_path, capsys):
    rows = sample_path("demo").read_text().splitlines()
    (tmp_path / "sft.jsonl").write_text("\n".join(rows[:8]) + "\n")
    common = dict(model=str(tiny_model_dir), per_device_train_batch_size=4, gradient_accumulation_steps=1)
    sft = launch.start(
        preset("lora", train_file=str(tmp_path / "sft.jsonl"), max_steps=2, sample_generations=0, **common)
    )
    assert wait_for(sft, timeout=240).state == "succeeded"
    train, val = write(tmp_path / "p.jsonl", pairs(8, 2)), write(tmp_path / "v.jsonl", pairs(4, 3))
    cfg = preset(
        "lora",
        train_file=train,
        validation_file=val,
        objective="dpo",
        init_from_run=sft,
        max_steps=2,
        learning_rate=5e-3,
        **common,
    )
    first = launch.start(cfg)
    assert wait_for(first, timeout=240).state == "succeeded", (rundir.run_dir(first) / rundir.LOG).read_text()[-2000:]
    merged = rundir.run_dir(sft) / rundir.EXPORT / "merged"
    made = (merged / rundir.EXPORT_INFO).stat().st_mtime_ns
    assert export.start_folder(sft) == merged  # what the next run on top of it gets: the same folder, not remade
    assert (merged / rundir.EXPORT_INFO).stat().st_mtime_ns == made

    dpo_dir = rundir.run_dir(first)
    assert export.is_adapter(dpo_dir / rundir.FINAL)
    assert export.base_model_of(dpo_dir / rundir.FINAL, dpo_dir) == merged
    cand = candidates.from_run(first)
    assert cand.kind == "run" and "dpo" in cand.label
    # Evaluate's preference accuracy on the held-out pairs: the CLI loads the run as every loader does
    assert eval_cli.main(["preference", first, val, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["pairs"] == 4 and 0.0 <= scores["rewards_accuracies"] <= 1.0
