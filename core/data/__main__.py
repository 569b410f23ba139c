"""Command-line twin of the Data page.

python -m core.data validate FILE [--model MODEL] [--json]   exit 0 clean, 1 errors, 2 unreadable (chat or preference)
python -m core.data dedup FILE [--threshold 0.95] [--json]   exact and near-duplicate clusters
Also `python -m core data ...`. Test: `pytest tests/unit/test_data_cli.py`.
"""

from __future__ import annotations

import json
import sys

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
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m core.data", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
