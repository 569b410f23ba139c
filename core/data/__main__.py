"""Command-line twin of the Data page.

python -m core.data validate FILE [--model MODEL] [--json]   exit 0 clean, 1 errors, 2 unreadable
python -m core.data dedup FILE [--threshold 0.95] [--json]   exact and near-duplicate clusters
Test: `pytest tests/unit/test_data_cli.py`.
"""

from __future__ import annotations

import argparse
import json
import sys


def _validate(args) -> int:
    from core.data import io, validate

    try:
        report = validate.validate_file(args.file, model=args.model)
    except io.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = validate.report_json(report)
    if args.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        print(f"Examples: {out['examples']}")
        for label, items in (("errors", out["errors"]), ("warnings", out["warnings"])):
            print(f"{len(items)} {label}")
            for f in items[:50]:
                where = f"line {f['line']}" if f["line"] else "file"
                print(f"  {where}: [{f['kind']}] {f['message']}")
        for key, value in out["stats"].items():
            print(f"  {key}: {value}")
    return 1 if out["errors"] else 0


def _dedup(args) -> int:
    from core.data import dedup, io

    if not 0 < args.threshold <= 1:
        print(f"error: --threshold must be in (0, 1], got {args.threshold}", file=sys.stderr)
        return 2
    try:
        found = dedup.find_in_file(args.file, threshold=args.threshold)
    except io.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found))
    else:
        for kind in ("exact", "near"):
            print(f"{kind}: {len(found[kind])} clusters")
            for cluster in found[kind]:
                print("  lines " + ", ".join(map(str, cluster)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="format checks, token limits and statistics")
    v.add_argument("file")
    v.add_argument("--model", default="gpt-4o-mini-2024-07-18")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=_validate)
    d = sub.add_parser("dedup", help="exact and near-duplicate clusters (1-based lines)")
    d.add_argument("file")
    d.add_argument("--threshold", type=float, default=0.95)
    d.add_argument("--json", action="store_true")
    d.set_defaults(run=_dedup)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
