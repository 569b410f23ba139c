"""The workbench's one command line: `python -m core <area> <command> [arguments]`.

Each area routes to the module that already runs it, so `python -m core data validate FILE` is
`python -m core.data validate FILE`, with the same arguments, output and exit codes; the module
entry points stay (run folders and scripts name them). `python -m core --help` lists the areas,
`python -m core <area> --help` an area's commands, `python -m core <area> <command> --help` its
arguments. The convention (one `<kind>: <message>` line on stderr, exit 2 for unusable input or an
unknown name) is core/cli.py's. Test: `.venv/bin/pytest tests/unit/test_cli.py -q`.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from core.cli import Command, dispatch

PROG = "python -m core"


@dataclass(frozen=True)
class Area:
    help: str
    commands: str | dict[str, Command]  # "module:NAME" of the area's table, imported only when used

    def table(self) -> dict[str, Command]:
        if isinstance(self.commands, dict):
            return self.commands
        module, name = self.commands.split(":")
        return getattr(importlib.import_module(module), name)


def _own(target: str, *names: tuple[str, str]) -> dict[str, Command]:
    """Commands of a module whose main(argv) takes the command's name first, as argparse subcommands do."""
    return {name: Command(text, target=target, prefix=(name,)) for name, text in names}


AREAS: dict[str, Area | Command] = {
    "data": Area("check and deduplicate a chat dataset file", "core.data.__main__:COMMANDS"),
    "costs": Area(
        "what fine-tuning costs before a launch",
        _own(
            "core.costs:main",
            ("openai", "training tokens and dollars for a JSONL file"),
            ("memory", "GPU memory (and time with --tokens) for full / LoRA / QLoRA"),
        ),
    ),
    "train": Area("run a training spec; export a finished run", "core.train.__main__:COMMANDS"),
    "eval": Area("ROUGE-L of predictions; the generation job", "core.eval.__main__:COMMANDS"),
    "arena": Area("ratings and preference pairs from blind votes", "core.arena.__main__:COMMANDS"),
    "models": Area("the embedded model and model folders", "core.models:COMMANDS"),
    "server": Command("serve the local OpenAI-compatible API (--help for its options)", target="core.server.app:main"),
    "workspace": Command("what the workspace holds, as JSON", target="core.workspace:main"),
}


def _route(argv: list[str]) -> int:
    """`<area> [command ...]`: the area's own table routes the rest."""
    name, rest = argv[0], argv[1:]
    return dispatch(f"{PROG} {name}", AREAS[name].help, AREAS[name].table(), rest)


def _areas() -> dict[str, Command]:
    """Every area as a command of the top level, for the one listing and the one router."""
    return {
        name: area if isinstance(area, Command) else Command(area.help, target=_route, prefix=(name,))
        for name, area in AREAS.items()
    }


def main(argv: list[str] | None = None) -> int:
    return dispatch(PROG, __doc__, _areas(), argv, noun="area")


if __name__ == "__main__":
    sys.exit(main())
