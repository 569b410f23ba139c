"""The command-line convention every entry point shares: a table of subcommands and one error line.

An area's commands are a dict of name -> `Command` (a one-line help, and either its arguments and
run function, or the `module:function` of a main that parses its own). `dispatch` routes the first
argument to one of them: `python -m core <area> <command>` (core/__main__.py) and each area's own
entry point (`python -m core.data ...`) go through it. A problem is one line on stderr,
`<kind>: <message>`, and an exit code: `fail(2, "error", ...)` for input that cannot be used,
`fail(2, "usage", ...)` for an unknown command; workers add 65 (bad data) and 78 (bad config).
Test: `.venv/bin/pytest tests/unit/test_cli.py -q`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

EXIT_USAGE = 2  # argparse's own code for arguments it cannot parse


def fail(code: int, kind: str, message: str) -> int:
    """Print `kind: message` on stderr (one line, no traceback) and return the exit code."""
    print(f"{kind}: {message}", file=sys.stderr, flush=True)
    return code


@dataclass(frozen=True)
class Command:
    """One subcommand: `arguments` fills its parser and `run` does it, or `target` parses its own."""

    help: str
    run: Callable[[argparse.Namespace], int] | None = None
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    # A main(argv) -> int that parses its own arguments, or its "module:function" (imported when run).
    target: str | Callable[[list[str]], int] = ""
    prefix: tuple[str, ...] = ()  # put before the arguments given to target (its own subcommand)

    def __call__(self, prog: str, argv: list[str]) -> int:
        if self.target:
            main = self.target
            if isinstance(main, str):
                module, function = main.split(":")
                main = getattr(importlib.import_module(module), function)
            return main([*self.prefix, *argv])
        parser = argparse.ArgumentParser(prog=prog, description=self.help)
        if self.arguments:
            self.arguments(parser)
        return self.run(parser.parse_args(argv))


def listing(prog: str, doc: str, commands: dict[str, Command], noun: str = "command") -> str:
    """Usage, the first line of doc, and each command with its one line."""
    width = max(map(len, commands))
    rows = [f"  {name:<{width}}  {command.help}" for name, command in commands.items()]
    head = doc.strip().splitlines()[0] if doc.strip() else ""
    usage = f"usage: {prog} <{noun}> ..." if noun != "command" else f"usage: {prog} <command> [arguments]"
    return "\n".join([usage, "", head, "", f"{noun}s:", *rows, ""])


def dispatch(
    prog: str, doc: str, commands: dict[str, Command], argv: list[str] | None = None, noun: str = "command"
) -> int:
    """Run the command argv names; --help lists them (exit 0), nothing or an unknown name is exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(listing(prog, doc, commands, noun))
        return 0
    if not argv:
        print(listing(prog, doc, commands, noun), file=sys.stderr)
        return EXIT_USAGE
    name, rest = argv[0], argv[1:]
    if name not in commands:
        return fail(EXIT_USAGE, "usage", f"{prog} has no {noun} {name!r}; choose from {', '.join(commands)}")
    return commands[name](f"{prog} {name}", rest)
