"""`python -m core <area> <command>` as real subprocesses: routing, help, unknown names, the error line.

Each routed command must give what its module entry point gives (same stdout, stderr and exit
code), since run folders and scripts keep calling the modules.
Run: `.venv/bin/pytest tests/unit/test_cli.py -q`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import cli
from core.__main__ import AREAS
from core.data import samples

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, module: str = "core") -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", module, *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def same(routed: subprocess.CompletedProcess, direct: subprocess.CompletedProcess) -> None:
    assert (routed.returncode, routed.stdout, routed.stderr) == (direct.returncode, direct.stdout, direct.stderr)


def chat_line(user: str, assistant: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})


def test_every_area_routes_to_its_module_entry_point(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(chat_line("q", "a") + "\n" + json.dumps({"messages": [{"role": "bot", "content": "a"}]}) + "\n")
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    refs.write_text(chat_line("q", "the cat sat") + "\n")
    preds.write_text(chat_line("q", "the cat sat down") + "\n")
    votes = tmp_path / "votes.csv"
    votes.write_text("model_a,model_b,winner\na,b,model_a\nb,a,model_b\na,b,tie\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("model: ./no/such/model\nmethod: lora\ntrain_file: t.jsonl\n")
    cases = [
        (["data", "validate", str(data), "--json"], "core.data", ["validate", str(data), "--json"], 1),
        (["costs", "openai", str(data), "--json"], "core.costs", ["openai", str(data), "--json"], 0),
        (["train", "run", "--config", str(spec)], "core.train", ["--config", str(spec)], 78),
        (["train", "export", str(tmp_path / "none")], "core.train.export", [str(tmp_path / "none")], 2),
        (
            ["eval", "rouge", str(refs), str(preds), "--json"],
            "core.eval",
            ["rouge", str(refs), str(preds), "--json"],
            0,
        ),
        (["eval", "generate"], "core.eval.generate", [], 2),
        (
            ["arena", "ratings", str(votes), "--rounds", "5", "--json"],
            "core.arena",
            ["ratings", str(votes), "--rounds", "5", "--json"],
            0,
        ),
        (["models", "list"], "core.models", ["list"], 0),
    ]
    for routed, module, direct, code in cases:
        got = run(*routed)
        assert got.returncode == code, (routed, got.stderr)
        same(got, run(*direct, module=module))


def test_help_lists_every_area_then_every_command_with_one_line_each():
    top = run("--help")
    assert top.returncode == 0 and top.stderr == ""
    for name, area in AREAS.items():
        assert f"  {name}" in top.stdout and area.help in top.stdout
    for name, area in AREAS.items():
        if isinstance(area, cli.Command):  # one command only: its own parser's help
            continue
        listed = run(name, "--help")
        assert listed.returncode == 0, listed.stderr
        rows = listed.stdout.split("commands:\n", 1)[1].strip().splitlines()
        assert [row.split()[0] for row in rows] == list(area.table())
        assert all(command.help in listed.stdout for command in area.table().values())


def test_a_command_with_its_own_parser_shows_its_arguments():
    out = run("data", "validate", "--help")
    assert out.returncode == 0 and "usage: python -m core data validate" in out.stdout and "--model" in out.stdout
    served = run("server", "--help")
    assert served.returncode == 0 and "--port" in served.stdout


@pytest.mark.parametrize(
    ("args", "prog", "name"),
    [(["nope"], "python -m core", "area 'nope'"), (["data", "nope"], "python -m core data", "command 'nope'")],
)
def test_an_unknown_area_or_command_is_one_line_and_exit_2(args, prog, name):
    out = run(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith(f"usage: {prog} has no {name}; choose from ")


def test_no_area_lists_them_on_stderr_with_exit_2():
    out = run()
    assert out.returncode == 2 and out.stdout == "" and "areas:" in out.stderr


def test_unusable_input_is_one_error_line_and_exit_2(tmp_path):
    missing = str(tmp_path / "missing.jsonl")
    for args in (["data", "validate", missing], ["eval", "rouge", missing, missing], ["arena", "ratings", missing]):
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "missing.jsonl" in out.stderr and "Traceback" not in out.stderr


def test_fail_prints_kind_and_message_and_returns_the_code(capsys):
    assert cli.fail(78, "bad config", "lora_r must be at least 1") == 78
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "bad config: lora_r must be at least 1\n")


def test_the_module_entry_points_list_their_own_commands():
    out = run("--help", module="core.data")
    assert out.returncode == 0 and "usage: python -m core.data <command>" in out.stdout and "dedup" in out.stdout
    assert run(module="core.eval").returncode == 2


def test_sample_data_validates_through_the_one_command_line():
    out = run("data", "validate", str(samples.sample_path("demo")), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["examples"] == 200
