"""The one idiom for config dataclasses: each field declared with its help text, read back strictly.

`option(default, help)` declares a field (a list, dict or set default is copied per instance);
`help_of(cls)` maps field names to their help (the pages' tooltips); `strict_from_dict(cls, data,
what)` builds the dataclass and refuses unknown keys, naming them, so a typo in a YAML or JSON file
is an error rather than a silently ignored setting. TRL's `SFTConfig` declares its fields the same way.
Test: `pytest tests/unit/test_config.py`.
"""

from __future__ import annotations

import copy
from dataclasses import field, fields
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with help text; mutable defaults get a fresh copy per instance."""
    meta = {"help": help, **metadata}
    if isinstance(default, list | dict | set):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def help_of(cls: type) -> dict[str, str]:
    """Field name -> help text ("" for a field declared without help)."""
    return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def strict_from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """`cls(**data)`, or a ValueError naming every unknown key: "unknown {what}: a, b"."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(map(str, unknown))}")
    return cls(**data)
