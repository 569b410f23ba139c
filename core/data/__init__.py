"""Chat datasets: import, validate, clean, deduplicate, split, version and export.

The internal form everywhere is OpenAI's chat form: a conversation is
`{"messages": [{"role": ..., "content": ...}, ...]}`; a dataset is a list of them.
CLI: `python -m core.data validate FILE` and `python -m core.data dedup FILE`.
Test: `pytest tests/unit/test_data_io.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"


class DataError(Exception):
    """The file cannot be read at all; the message names the file and, where known, the line."""


@dataclass
class Finding:
    """One problem found in a dataset.

    line: 1-based line of the source file (or row number for tables), None for the whole file.
    row: 0-based index of the example in the loaded dataset, None when it concerns no example.
    """

    kind: str
    message: str
    severity: str = ERROR
    line: int | None = None
    row: int | None = None
    hint: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)
