"""The embedding analysis as a real job: near-duplicates found, vectors cached across runs."""

from core.data import analyze, versions
from tests.shapes import dpo_pair
from tests.waiting import wait_for


def conv(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


EXAMPLES = [
    conv("How do I list running Docker containers?", "Run docker ps; add -a to include stopped ones."),
    conv("How do I undo the last git commit but keep my changes?", "Use git reset --soft HEAD~1."),
    conv("How can I list the running Docker containers?", "Run docker ps; add -a to include stopped ones."),
    conv("What does SQL's GROUP BY do?", "It groups rows that share values so aggregates apply per group."),
]


def test_analysis_job_finds_the_planted_pair_and_reuses_vectors():
    version = versions.create("tiny", EXAMPLES)
    assert analyze.result_for(version.sha256) is None
    run = wait_for(analyze.launch_for(version.sha256, len(EXAMPLES), "tiny", 0.9), timeout=240)
    assert run.state == "succeeded", run.message
    assert run.progress["done"] == run.progress["total"] > 0
    found = analyze.result_for(version.sha256)
    assert [c["rows"] for c in found["near"]] == [[0, 2]]
    assert found["vectors"].shape == (4, 384) and found["embedded"] == 8
    # An edit changes one example: the next analysis embeds only its two texts.
    edited = [*EXAMPLES[:3], conv("What does SQL's HAVING do?", "It filters groups after aggregation.")]
    v2 = versions.save(version, edited, "edit one")
    assert wait_for(analyze.launch_for(v2.sha256, 4, "tiny", 0.9), timeout=240).state == "succeeded"
    assert analyze.result_for(v2.sha256)["embedded"] == 2


def test_the_analysis_of_preference_pairs_finds_near_duplicates_by_prompt():
    pairs = [
        dpo_pair("How do I list running Docker containers?", "Run docker ps.", "Reboot."),
        dpo_pair("What does SQL's GROUP BY do?", "It groups rows for aggregates.", "It sorts."),
        dpo_pair("How can I list the running Docker containers?", "docker ps -a lists all of them.", "Ask IT."),
    ]
    found, _, users = analyze.run(pairs, 0.9, lambda *_: None)
    assert [c["rows"] for c in found["near"]] == [[0, 2]] and found["exact"] == []
    assert users.shape == (3, 384) and float(users[0] @ users[2]) > float(users[0] @ users[1])  # topics: prompts
