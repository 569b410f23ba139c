"""Batched generation for evaluation candidates, as a job, with every output cached once.

The app calls `launch(candidate, version, split, params)`: it returns None when the outputs are
cached already, the running job's id when one is making them, else a new "generate" job's id.
The worker (`python -m core.eval.generate RUN_DIR`, config in RUN_DIR/spec.yaml) answers each
example's prompt (every message before the last) with a local model (core.eval.local) or an
OpenAI-compatible API (core.eval.remote), reports progress per batch,
honours STOP, and writes predictions.jsonl in the run folder, then the cache under
FT_HOME/eval/generations/. Every answer is appended to `<key>.partial.jsonl` there and flushed as it
arrives, so a job that failed, was stopped or killed is resumed by the next one for the same key: it asks
only the prompts still missing (an API's answers are not paid for twice). Split "all" is every example of
the version (core.eval.distill saves a candidate's answers to it as a dataset); there a prompt the API
refuses becomes that example's error instead of failing the job. It also scores the predictions against
the references (core.eval.metrics, with both tokenizers) into scores.json beside them, so the Evaluate page
reads the numbers instead of computing ROUGE-L in the app process.
Mode "reply" answers one conversation for the playground (reply.json).
No torch at import time: pages import this module. Exit 65 = bad data, 78 = bad config.
Test: `.venv/bin/pytest tests/jobs/test_generate_job.py tests/jobs/test_distill_job.py tests/unit/test_candidates.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from core import chat, jobs, paths, tempfiles
from core.chat import prompt_and_reference
from core.cli import fail
from core.data import versions
from core.eval import candidates, local, metrics, remote
from core.eval.candidates import Candidate
from core.eval.params import BadConfig, BadData, GenParams, RemoteError, param_problems
from core.jobs import rundir
from core.jobs.supervisor import EXIT_BAD_CONFIG, EXIT_BAD_DATA

KIND = "generate"
ALL = "all"  # not a split: every example of the version, split or not
DEFAULT_PARAMS = GenParams()  # frozen: safe as a shared default


# ---- the cache -----------------------------------------------------------------------------------


def _split_rows(version, split: str) -> str:
    """Which rows each split holds: two versions with the same examples may split them differently
    (the asked split's rows are the prompts; the train split's are a few-shot candidate's examples)."""
    splits = version.splits or {}
    return hashlib.sha256(json.dumps([version.sha256, split, splits], sort_keys=True).encode()).hexdigest()[:20]


def cache_key(candidate: Candidate, version, split: str, params: GenParams) -> str:
    """Outputs are the same exactly when candidate, the split's rows and generation settings are."""
    defining = [candidate.key, _split_rows(version, split), asdict(params)]
    return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:20]


def _cache_files(key: str) -> tuple[Path, Path]:
    folder = paths.generations_dir()
    return folder / f"{key}.jsonl", folder / f"{key}.json"


def _partial_file(key: str) -> Path:
    return paths.generations_dir() / f"{key}.partial.jsonl"


def received(key: str) -> dict[int, dict]:
    """The answers a job for this key already got, by example index (a torn last line is asked again)."""
    found = {}
    try:
        lines = _partial_file(key).read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            row = json.loads(line)
            found[int(row["index"])] = row
        except (ValueError, KeyError, TypeError):
            continue
    return found


def cached_rows(key: str) -> list[dict] | None:
    """The complete cache's rows (index, prediction, n_tokens, maybe error) in order; None when not complete."""
    rows_path, meta_path = _cache_files(key)
    info = rundir.read_json(meta_path)
    try:
        rows = (
            [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines() if line] if info else []
        )
    except (OSError, ValueError):
        return None
    rows.sort(key=lambda r: r.get("index", 0))
    return rows if info and len(rows) == info.get("n") else None


def reopen(key: str, keep: Callable[[dict], bool]) -> int:
    """Turn a complete cache back into answers received, keeping the rows `keep` accepts; the next job asks the
    rest again. Returns how many rows are to be asked again."""
    rows = cached_rows(key) or []
    kept = [r for r in rows if keep(r)]
    _atomic_write(_partial_file(key), _jsonl(kept))
    _cache_files(key)[1].unlink(missing_ok=True)  # the meta marks a cache complete: without it, it is not
    return len(rows) - len(kept)


def _scores_file(key: str) -> Path:
    return paths.generations_dir() / f"{key}.{rundir.SCORES}"


def score(references: list[str], predictions: list[str]) -> dict:
    """metrics.evaluate with the guide's tokenizer ("plain") and the Unicode-aware one, as scores.json holds them."""
    reports = {
        "plain": metrics.evaluate(references, predictions),
        "unicode": metrics.evaluate(references, predictions, True),
    }
    return {name: {"rows": r.rows, "summary": r.summary} for name, r in reports.items()}


def load_scores(key: str, unicode: bool = False) -> metrics.Report | None:
    """The scores the generate job stored with this cache entry; None for a cache made before jobs scored."""
    stored = rundir.read_json(_scores_file(key)) or {}
    found = stored.get("unicode" if unicode else "plain")
    return metrics.Report(found["rows"], found["summary"]) if found else None


def meta(candidate: Candidate, version, split: str = "test", params: GenParams = DEFAULT_PARAMS) -> dict | None:
    """The cached run's record (candidate, version, params, n, seconds, tokens/s), or None."""
    return rundir.read_json(_cache_files(cache_key(candidate, version, split, params))[1])


def load(candidate: Candidate, version, split: str = "test", params: GenParams = DEFAULT_PARAMS) -> list[str] | None:
    """Cached predictions in the split's order, or None when they were never completed."""
    rows = cached_rows(cache_key(candidate, version, split, params))  # a damaged cache is generated again
    return [r.get("prediction", "") for r in rows] if rows is not None else None


def cached_for(version, split: str = "test") -> list[dict]:
    """Every completed cache record for this version's split (any candidate, any settings), newest first."""
    found = []
    for rows_path in paths.generations_dir().glob("*.jsonl"):
        meta_path = rows_path.with_suffix(".json")
        info = rundir.read_json(meta_path)
        if not info or info.get("split_rows") != _split_rows(version, split):
            continue
        found.append({**info, "cache_key": meta_path.stem})
    return sorted(found, key=lambda r: r.get("finished_at") or 0, reverse=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = tempfiles.temp_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def save_outputs(
    candidate: Candidate,
    version,
    split: str,
    params: GenParams,
    rows: list[dict],
    info: dict,
    scores: dict | None = None,
) -> None:
    """Cache complete outputs: the rows and scores first, then the meta that marks them complete (all atomic)."""
    key = cache_key(candidate, version, split, params)
    rows_path, meta_path = _cache_files(key)
    record = {
        "candidate": candidate.to_dict(),
        "version_id": version.id,
        "sha256": version.sha256,
        "split": split,
        "split_rows": _split_rows(version, split),
        "params": asdict(params),
        "n": len(rows),
        "finished_at": time.time(),
        **info,
    }
    _atomic_write(rows_path, _jsonl(rows))
    if scores is not None:
        _atomic_write(_scores_file(key), json.dumps(scores))
    _atomic_write(meta_path, json.dumps(record, indent=1))


# ---- launching (the app side) -----------------------------------------------------------------------


def active_for(key: str) -> jobs.RunStatus | None:
    """The queued or running job that is making the outputs for this cache key, if any."""
    return next(iter(jobs.list_runs(KIND, key=key, active=True, limit=1)), None)


def _key_env(candidate: Candidate) -> dict[str, str]:
    value = os.environ.get(candidate.api_key_env) if candidate.kind == "openai" else None
    return {candidate.api_key_env: value} if value else {}


def _start(candidate: Candidate, params: GenParams, title: str, meta_: dict, **config) -> str:
    config = {"candidate": candidate.to_dict(), "params": asdict(params), **config}
    argv = [sys.executable, "-m", "core.eval.generate", "{run_dir}"]
    key = meta_.get("cache_key")  # the run index finds a generate job by it
    # an OpenAI candidate's key by value; HF_TOKEN for a local candidate whose model is a gated hub id
    env = _key_env(candidate)
    # A remote candidate's answers and a playground reply never wait behind a training run.
    light = candidate.kind == "openai" or config.get("mode") == "reply"
    needs = jobs.queue.LIGHT if light else None
    return jobs.launch(
        KIND, argv, title, meta=meta_, config=config, env=env, key=key, secrets=jobs.HUB_SECRETS, needs=needs
    )


def launch(candidate: Candidate, version, split: str = "test", params: GenParams = DEFAULT_PARAMS) -> str | None:
    """None when cached; the active job's id when one is already at it; else a new job's id."""
    found = param_problems(params)
    if found:
        raise ValueError("; ".join(found))
    key = cache_key(candidate, version, split, params)
    if load(candidate, version, split, params) is not None:
        return None
    running = active_for(key)
    if running:
        return running.id
    meta_ = {"cache_key": key, "candidate_label": candidate.label, "version_id": version.id, "split": split}
    title = f"{candidate.label} on {version.label} ({split})"
    return _start(candidate, params, title, meta_, mode="generate", version_id=version.id, split=split, cache_key=key)


def reply_job(candidate: Candidate, messages: list[dict], params: GenParams = DEFAULT_PARAMS, version=None) -> str:
    """One answer to a conversation (the playground); few-shot candidates need `version` (its train split)."""
    version_id = version.id if version is not None else None
    meta_, title = {"candidate_label": candidate.label, "mode": "reply"}, f"Reply: {candidate.label}"
    return _start(candidate, params, title, meta_, mode="reply", messages=messages, version_id=version_id)


def reply_result(run_id: str) -> dict | None:
    """{"text", "n_tokens", "seconds"} once the reply job has written it, else None."""
    return rundir.read_json(rundir.run_dir(run_id) / rundir.REPLY)


# ---- the worker ----------------------------------------------------------------------------------


class _Progress:
    """Per batch: progress.json, a metrics row, and the STOP check."""

    def __init__(self, folder: Path, total: int, already: int = 0):
        self.folder, self.total, self.step, self.tokens, self.already = folder, total, 0, 0, already
        self.start = time.perf_counter()

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(time.perf_counter() - self.start, 1e-9)

    def __call__(self, done: int, tokens: int) -> None:
        self.step, self.tokens = self.step + 1, self.tokens + tokens
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - self.already - done) if done else None
        done += self.already  # answers kept from an earlier job count as done
        message = f"{done}/{self.total} examples · {self.tokens_per_s:.1f} tokens/s"
        rundir.report_progress(self.folder, done, self.total, message)
        row = {"step": self.step, "done": done, "tokens_per_s": round(self.tokens_per_s, 1)}
        rundir.append_metrics(self.folder, {**row, "elapsed_s": round(elapsed, 2), "eta_s": eta and round(eta, 1)})
        if rundir.stop_requested(self.folder):
            raise rundir.Stopped


def _version(version_id):
    try:
        return versions.get(int(version_id))
    except (KeyError, TypeError, ValueError):
        raise BadData(f"no dataset version {version_id!r}") from None


def _split(version, split: str) -> list[dict]:
    if split == ALL:
        rows = versions.examples(version)
        if not rows:
            raise BadData(f"{version.label} has no examples")
        return rows
    if split not in versions.SPLITS:
        raise BadConfig(f"split must be one of {', '.join(versions.SPLITS)}, not {split!r}")
    try:
        rows = versions.split_examples(version)[split]
    except ValueError as exc:
        raise BadData(str(exc)) from None
    if not rows:
        raise BadData(f"{version.label} has no examples in its {split} split")
    return rows


def _train_for(candidate: Candidate, version_id) -> list[dict]:
    if candidate.kind != "fewshot":
        return []
    if version_id is None:
        raise BadConfig("a few-shot candidate needs a dataset version for its examples")
    return _split(_version(version_id), "train")


def prompt_of(example: dict) -> list[dict]:
    """What a whole-version job asks: the messages before the final answer, or all of them when the example has
    no answer yet (prompts for a teacher model to answer)."""
    msgs = chat.messages(example)
    return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else msgs


def _prompts(candidate: Candidate, examples: list[dict], train: list[dict], split: str) -> list[list[dict]]:
    try:
        prompts = candidates.prompts_for(candidate, examples, train)
    except ValueError as exc:
        raise BadData(f"{split} split: {exc}") from None
    if split != ALL:
        return prompts
    if empty := [i + 1 for i, e in enumerate(examples) if not prompt_of(e)]:
        raise BadData(f"line(s) {', '.join(map(str, empty[:20]))}: only an answer, no prompt to ask; fix or drop them")
    return [candidates.prompt_for(candidate, prompt_of(e), train) for e in examples]


def _local_answers(model, tok, prompts, params: GenParams, on_batch, on_answer) -> list:
    """Batches of similar length, each answer handed on when its batch is done (so a resumed job skips it)."""
    order = sorted(range(len(prompts)), key=lambda i: len(json.dumps(prompts[i])))
    out: dict[int, tuple[str, int]] = {}
    for start in range(0, len(order), params.batch_size):
        chunk = order[start : start + params.batch_size]
        answers = local.generate_batch(model, tok, [prompts[i] for i in chunk], params)
        for i, (text, n) in zip(chunk, answers, strict=True):
            out[i] = (text, n)
            if on_answer:
                on_answer(i, text, n, error=None)
        if on_batch:
            on_batch(len(out), sum(n for _, n in answers))
    return [out[i] for i in range(len(prompts))]


def _answerer(candidate: Candidate, params: GenParams, keep_refused: bool = False) -> Callable[..., list]:
    """A function of (prompts, on_batch, on_answer), with the model loaded or the API key checked first."""
    if candidate.kind == "openai":
        remote.client(candidate)  # a missing key fails now, before any progress is shown
        return lambda prompts, on_batch, on_answer=None: remote.remote_answers(
            candidate, prompts, params, on_batch, on_answer, keep_refused
        )
    model, tok = local.load_local(candidate)
    if params.temperature > 0:
        import torch

        torch.manual_seed(0)  # sampled answers repeat for the same settings
    return lambda prompts, on_batch, on_answer=None: _local_answers(model, tok, prompts, params, on_batch, on_answer)


def _ask_missing(folder: Path, key: str, candidate: Candidate, params: GenParams, prompts, split: str):
    """Every prompt's row: those an earlier job received, then the missing ones, each appended as it arrives."""
    have = received(key)
    todo = [i for i in range(len(prompts)) if i not in have]
    word = f"resuming: {len(have)} answers kept, {len(todo)} to ask · " if have else ""
    rundir.report_progress(folder, len(have), len(prompts), f"{word}loading {candidate.label}")
    answer = _answerer(candidate, params, keep_refused=split == ALL)
    progress = _Progress(folder, len(prompts), len(have))  # its clock starts once the model is loaded
    with _partial_file(key).open("a", encoding="utf-8") as out:

        def keep(j: int, text: str, n: int, error: str | None = None) -> None:
            row = {"index": todo[j], "prediction": text, "n_tokens": n, **({"error": error} if error else {})}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()  # on disk before the next answer: a crash now loses nothing received
            have[todo[j]] = row

        if todo:
            answer([prompts[i] for i in todo], progress, keep)
    return [have[i] for i in range(len(prompts))], progress


def _run_generate(folder: Path, cfg: dict, candidate: Candidate, params: GenParams) -> None:
    version = _version(cfg.get("version_id"))
    split = cfg.get("split", "test")
    examples = _split(version, split)
    prompts = _prompts(candidate, examples, _train_for(candidate, version.id), split)
    key = cache_key(candidate, version, split, params)
    rows, progress = _ask_missing(folder, key, candidate, params, prompts, split)
    (folder / rundir.PREDICTIONS).write_text(_jsonl(rows), encoding="utf-8")
    seconds = round(time.perf_counter() - progress.start, 2)
    rundir.report_progress(folder, len(rows), len(rows), "scoring the answers")
    scores = score([prompt_and_reference(e)[1] for e in examples], [r["prediction"] for r in rows])
    rundir.write_json(folder / rundir.SCORES, scores)
    info = {"seconds": seconds, "tokens_per_s": round(progress.tokens_per_s, 1), "run_id": folder.name}
    save_outputs(candidate, version, split, params, rows, info, scores)
    _partial_file(key).unlink(missing_ok=True)  # the cache holds them now
    print(f"done: {len(rows)} answers, {progress.tokens_per_s:.1f} tokens/s", flush=True)


def _run_reply(folder: Path, cfg: dict, candidate: Candidate, params: GenParams) -> None:
    messages = cfg.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise BadConfig("messages must be a list of {role, content} objects")
    prompt = candidates.prompt_for(candidate, messages, _train_for(candidate, cfg.get("version_id")))
    answer = _answerer(candidate, params)
    start = time.perf_counter()
    [(text, n)] = answer([prompt], None)
    reply = {"text": text, "n_tokens": n, "seconds": round(time.perf_counter() - start, 2)}
    rundir.write_json(folder / rundir.REPLY, reply)
    rundir.report_progress(folder, 1, 1, "done")


def _read_config(folder: Path) -> tuple[dict, Candidate, GenParams]:
    try:
        cfg = (rundir.read_spec(folder) or {}).get("config") or {}
        candidate = Candidate.from_dict(cfg.get("candidate") or {})
        params = GenParams(**(cfg.get("params") or {}))
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        raise BadConfig(f"{folder / rundir.SPEC}: {exc}") from None
    if param_problems(params):
        raise BadConfig("; ".join(param_problems(params)))
    return cfg, candidate, params


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        return fail(2, "usage", "python -m core.eval.generate RUN_DIR")
    folder = Path(args[0])
    try:
        cfg, candidate, params = _read_config(folder)
        run = _run_reply if cfg.get("mode") == "reply" else _run_generate
        run(folder, cfg, candidate, params)
    except BadConfig as exc:
        return fail(EXIT_BAD_CONFIG, "bad config", str(exc))
    except BadData as exc:
        return fail(EXIT_BAD_DATA, "bad data", str(exc))
    except RemoteError as exc:
        return fail(1, "error", str(exc))
    except rundir.Stopped:
        print("stopped on request: the answers received so far are kept for the next try", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
