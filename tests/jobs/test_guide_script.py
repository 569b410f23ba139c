"""The guide's "Fine-Tuning with the OpenAI API" script runs unchanged against `python -m core.server`.

The script is the guide's Steps 1-3 as written (its comments restored as comments), plus the
polling loop the guide implies and a print of the reply, run as a real subprocess whose
environment differs only in OPENAI_BASE_URL and OPENAI_API_KEY. The server is a real
`python -m core.server` subprocess on the tiny random Llama (FT_API_BASE_MODEL), in this test's
FT_HOME. About 30 s on 2 cores.
Run: .venv/bin/pytest tests/jobs/test_guide_script.py -q
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from core.data.samples import sample_path
from tests import api_server
from tests.tiny import tiny_model

KEY = "sk-guide-test-key"

# The guide's code, Steps 1-3, with its data file names; only the polling loop and the last
# print are added (marked), since the guide's "Once succeeded" implies the wait.
GUIDE_SCRIPT = """\
from openai import OpenAI
client = OpenAI()
# Upload training file
training_file = client.files.create(
    file=open("training_data.jsonl", "rb"),
    purpose="fine-tune"
)
# Optionally upload validation file
validation_file = client.files.create(
    file=open("validation_data.jsonl", "rb"),
    purpose="fine-tune"
)
job = client.fine_tuning.jobs.create(
    training_file=training_file.id,
    validation_file=validation_file.id,
    model="gpt-4o-mini-2024-07-18",
    hyperparameters={
        "n_epochs": 3,  # 2-4 is typical; more risks overfitting
        "batch_size": "auto",
        "learning_rate_multiplier": "auto"
    },
    suffix="my-custom-model"  # appears in model name
)
print(f"Job ID: {job.id}")
# Check status
status = client.fine_tuning.jobs.retrieve(job.id)
print(status.status)  # 'validating_files', 'running', 'succeeded', 'failed'
# (added) wait until the job is final, as "Once succeeded" implies
import time
while status.status not in ("succeeded", "failed", "cancelled"):
    time.sleep(1)
    status = client.fine_tuning.jobs.retrieve(job.id)
print(status.status)
# List events
events = client.fine_tuning.jobs.list_events(job.id, limit=10)
for event in events.data:
    print(f"{event.created_at}: {event.message}")
# Once succeeded, use your model
response = client.chat.completions.create(
    model=status.fine_tuned_model,  # e.g., "ft:gpt-4o-mini:my-org:my-custom-model:abc123"
    messages=[{"role": "user", "content": "Your prompt here"}]
)
# (added) show the reply
print(f"Reply ({response.choices[0].finish_reason}): {response.choices[0].message.content!r}")
"""


@pytest.fixture
def server(tmp_path, ft_home):
    proc, url = api_server.start(ft_home, tiny_model(tmp_path), KEY, tmp_path / "server.log")
    yield url
    api_server.stop(proc)


def test_the_guides_script_trains_and_chats_through_the_local_server(server, tmp_path):
    rows = sample_path("demo").read_text().splitlines()
    (tmp_path / "training_data.jsonl").write_text("\n".join(rows[:10]) + "\n")
    (tmp_path / "validation_data.jsonl").write_text("\n".join(rows[100:103]) + "\n")
    script = tmp_path / "guide.py"
    script.write_text(GUIDE_SCRIPT)
    env = dict(os.environ, OPENAI_BASE_URL=server, OPENAI_API_KEY=KEY)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    job_id = re.search(r"^Job ID: (ftjob-[0-9a-f]{24})$", out, re.M).group(1)
    assert "\nsucceeded\n" in out
    # 10 examples, batch "auto" = 1, 3 epochs: 30 steps; the newest 10 events end the listing.
    assert re.search(r"^\d+: Step 30/30: training loss=\d+\.\d+, validation loss=\d+\.\d+$", out, re.M)
    assert re.search(r"^\d+: Fine-tuning job successfully completed$", out, re.M)
    model = f"ft:gpt-4o-mini-2024-07-18:local:my-custom-model:{job_id[6:14]}"
    assert f"New fine-tuned model created: {model}" in out
    assert re.search(r"^Reply \((stop|length)\): '.*'$", out, re.M)
