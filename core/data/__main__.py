"""Command-line twin of the Data page.

python -m core.data validate FILE [--model MODEL] [--json]   exit 0 clean, 1 errors, 2 unreadable (chat or preference)
python -m core.data dedup FILE [--threshold 0.95] [--json]   exact and near-duplicate clusters
python -m core.data import FILE [--format auto|chat|sharegpt|...] [--map ROLE=COLUMN ...] [--out OUT.jsonl] [--json]
    normalised to OpenAI chat (or DPO) JSONL; exit 0 every record read, 1 some left out, 2 nothing read
Also `python -m core data ...`. Test: `pytest tests/unit/test_data_cli.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli import Command, dispatch, fail


def _validate(args) -> int:
    from core.data import io, validate

    try:
        report = validate.validate_file(args.file, model=args.model)
    except io.DataError as e:
        return fail(2, "error", str(e))
    out = validate.report_json(report)
    if args.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        print(f"Examples: {out['examples']}")
        for label, items in (("errors", out["errors"]), ("warnings", out["warnings"])):
            print(f"{out[label[:-1] + '_count']} {label}")
            for f in items[:50]:
                where = f"line {f['line']}" if f["line"] else "file"
                print(f"  {where}: [{f['kind']}] {f['message']}")
        for key, value in out["stats"].items():
            print(f"  {key}: {value}")
    return 1 if out["errors"] else 0


def _dedup(args) -> int:
    from core.data import dedup, io

    if not 0 < args.threshold <= 1:
        return fail(2, "error", f"--threshold must be in (0, 1], got {args.threshold}")
    try:
        found = dedup.find_in_file(args.file, threshold=args.threshold)
    except io.DataError as e:
        return fail(2, "error", str(e))
    if args.json:
        print(json.dumps(found))
    else:
        for kind in ("exact", "near"):
            print(f"{kind}: {len(found[kind])} clusters")
            for cluster in found[kind]:
                print("  lines " + ", ".join(map(str, cluster)))
    return 0


def _import(args) -> int:
    from core.data import io

    mapping = {}
    for pair in args.map:
        role, sep, column = pair.partition("=")
        if not sep or not role or not column:
            return fail(2, "error", f"--map takes ROLE=COLUMN (such as user=question), got {pair!r}")
        mapping[role.strip()] = column
    try:
        loaded = io.load(args.file, fmt=None if args.format == "auto" else args.format, mapping=mapping or None)
    except io.DataError as e:
        return fail(2, "error", str(e))
    if problem := io.nothing_read(loaded, Path(args.file).name):
        return fail(2, "error", problem)
    out = io.summary(loaded)
    if args.out:
        io.to_jsonl(loaded.examples, args.out)
    if args.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        print(
            f"{out['examples']} {out['kind']} examples ({out['format']} layout)"
            + (f" -> {args.out}" if args.out else "")
        )
        for note in out["notes"]:
            print(f"  note: {note}")
        print(f"{len(out['left_out'])} left out")
        for item in out["left_out"][:50]:
            print(f"  line {item['line']}: {item['reason']}")
    return 1 if out["left_out"] else 0


def _import_arguments(p) -> None:
    from core.data.layouts import LAYOUTS

    p.add_argument("file")
    p.add_argument("--format", default="auto", choices=("auto", *LAYOUTS), help="the layout; auto detects it")
    p.add_argument("--map", action="append", default=[], metavar="ROLE=COLUMN", help="a table column for a role")
    p.add_argument("--out", help="write the examples here as JSON Lines (OpenAI's chat or DPO records)")
    p.add_argument("--json", action="store_true")


def _validate_arguments(p) -> None:
    p.add_argument("file")
    p.add_argument("--model", default="gpt-4o-mini-2024-07-18")
    p.add_argument("--json", action="store_true")


def _dedup_arguments(p) -> None:
    p.add_argument("file")
    p.add_argument("--threshold", type=float, default=0.95)
    p.add_argument("--json", action="store_true")


COMMANDS = {
    "validate": Command("format checks, token limits and statistics", _validate, _validate_arguments),
    "dedup": Command("exact and near-duplicate clusters (1-based lines)", _dedup, _dedup_arguments),
    "import": Command(
        "read any supported layout, say what was left out, write OpenAI JSONL", _import, _import_arguments
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m core.data", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
