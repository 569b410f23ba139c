"""`python -m core.data validate` and `import` as a real subprocess: JSON shape, files written and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

from core.data import samples
from tests import shapes

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.data", *args], cwd=ROOT, capture_output=True, text=True)


def test_clean_file_exits_0_with_stats():
    out = run("validate", str(samples.sample_path("demo")), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["examples"] == 200 and report["errors"] == [] and report["warnings"] == []
    assert set(report["stats"]) >= {"examples", "avg_assistant_words"}


def test_errors_exit_1_with_file_lines(tmp_path):
    f = tmp_path / "d.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}
    f.write_text("\n".join(json.dumps(x) for x in (good, good, bad)) + "\n{broken\n")
    out = run("validate", str(f), "--json")
    assert out.returncode == 1
    errors = json.loads(out.stdout)["errors"]
    assert {(e["line"], e["kind"]) for e in errors} >= {(3, "unrecognized_role"), (4, "unreadable_line")}
    assert all(set(e) == {"line", "kind", "message"} for e in errors)


def test_unreadable_file_exits_2_without_a_traceback(tmp_path):
    f = tmp_path / "bin.jsonl"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    out = run("validate", str(f))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "bin.jsonl" in out.stderr


def test_messy_sample_text_report_names_lines():
    out = run("validate", str(samples.sample_path("messy")))
    assert out.returncode == 1
    assert "line 61:" in out.stdout


def test_import_converts_and_writes_openai_chat_jsonl(tmp_path):
    src = shapes.write_jsonl(tmp_path / "glaive.jsonl", [shapes.LLAMAFACTORY_SHAREGPT_TOOLS] * 2)
    out_file = tmp_path / "out" / "chat.jsonl"
    out = run("import", str(src), "--out", str(out_file), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) == {"kind", "format", "examples", "left_out", "notes"}
    assert (summary["kind"], summary["format"], summary["examples"]) == ("chat", "sharegpt", 2)
    assert summary["left_out"] == []
    assert any("tool call" in note for note in summary["notes"])
    written = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(written) == 2 and written[0]["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert written[0]["tools"][0]["type"] == "function"
    checked = run("validate", str(out_file), "--json")  # what import writes is OpenAI's format, tool calls and all
    assert checked.returncode == 0 and json.loads(checked.stdout)["errors"] == [], checked.stdout


def test_import_exits_1_naming_each_record_left_out(tmp_path):
    src = shapes.write_jsonl(tmp_path / "t.jsonl", [shapes.GUANACO_TEXT, shapes.PLAIN_TEXT, shapes.CHATML_TEXT])
    out = run("import", str(src), "--format", "text", "--json")
    assert out.returncode == 1, out.stderr
    summary = json.loads(out.stdout)
    assert summary["examples"] == 2 and [x["line"] for x in summary["left_out"]] == [2]
    assert "no conversation template" in summary["left_out"][0]["reason"]


def test_import_with_a_mapping_and_through_the_one_command_line(tmp_path):
    src = tmp_path / "sheet.csv"
    src.write_text("Notes;Frage;Antwort\nx;Wie?;So.\n")
    args = ("import", str(src), "--map", "user=Frage", "--map", "assistant=Antwort", "--json")
    out = subprocess.run([sys.executable, "-m", "core", "data", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["format"], summary["examples"]) == ("table", 1)
    assert any("'Frage' -> user" in note for note in summary["notes"])
    assert run("import", str(src), "--map", "user", "--json").returncode == 2


def test_import_exits_2_when_nothing_can_be_read(tmp_path):
    src = shapes.write_jsonl(tmp_path / "plain.jsonl", [shapes.PLAIN_TEXT])
    out = run("import", str(src), "--json")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "plain.jsonl" in out.stderr and "line 1" in out.stderr
    out = run("import", str(tmp_path / "missing.jsonl"))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_import_of_preference_data_counts_pairs_and_writes_openai_dpo(tmp_path):
    src = shapes.write_jsonl(tmp_path / "pairs.jsonl", [shapes.TRL_PREFERENCE_CONVERSATIONAL, shapes.OPENAI_DPO])
    out_file = tmp_path / "dpo.jsonl"
    out = run("import", str(src), "--out", str(out_file), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["kind"], summary["format"], summary["examples"]) == ("preference", "preference", 2)
    written = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [w["preferred_output"] for w in written] == [
        shapes.TRL_PREFERENCE_CONVERSATIONAL["chosen"],
        shapes.OPENAI_DPO["preferred_output"],
    ]
    assert written[0]["input"]["messages"] == shapes.TRL_PREFERENCE_CONVERSATIONAL["prompt"]
