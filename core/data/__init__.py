"""Chat datasets: import, validate, clean, deduplicate, split, version and export.

The internal form everywhere is OpenAI's chat form: a conversation is
`{"messages": [{"role": ..., "content": ...}, ...]}`; a dataset is a list of them.
CLI: `python -m core.data validate FILE`, `python -m core.data dedup FILE` and `python -m core.data import FILE`.
Test: `pytest tests/unit/test_data_io.py`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"
PER_KIND = 200  # findings of one kind kept whole (line, snippet); past it a file's junk costs a counter, not a list


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


def total_of(findings: list[Finding]) -> int:
    """How many findings a list stands for: a closing "and N more lines like this" counts N."""
    return sum(f.extra.get("more", 1) for f in findings)


class Findings:
    """Collects findings, keeping the first `per_kind` of each kind and counting the rest (None keeps all).

    `items()` is the kept findings plus, for each kind past the cap, one closing finding "and N more lines
    like this" at the first line left out, with extra["more"] = N.
    """

    def __init__(self, per_kind: int | None = PER_KIND) -> None:
        self.per_kind = per_kind
        self.kept: list[Finding] = []
        self.counts: Counter[str] = Counter()
        self._first_left: dict[str, Finding] = {}
        self._carried: list[Finding] = []

    def add(self, finding: Finding) -> None:
        if more := finding.extra.get("more"):  # a closing finding capped upstream: carry it, count its lines
            self.counts[finding.kind] += more
            self._carried.append(finding)
            return
        n = self.counts[finding.kind] = self.counts[finding.kind] + 1
        if self.per_kind is None or n <= self.per_kind:
            self.kept.append(finding)
        elif finding.kind not in self._first_left:
            self._first_left[finding.kind] = finding

    def count(self, kind: str, line: int | None) -> None:
        """One more finding of a kind already past the cap (see full), without building it."""
        self.counts[kind] += 1
        if kind not in self._first_left:
            self._first_left[kind] = Finding(kind, "", line=line)

    def extend(self, findings) -> None:
        for finding in findings:
            self.add(finding)

    def full(self, kind: str) -> bool:
        """Whether a finding of this kind would only be counted (a caller can skip building its message)."""
        return self.per_kind is not None and self.counts[kind] >= self.per_kind

    def items(self) -> list[Finding]:
        out = [*self.kept, *self._carried]
        for kind, first in self._first_left.items():
            more = self.counts[kind] - self.per_kind - sum(f.extra["more"] for f in self._carried if f.kind == kind)
            message = f"and {more:,} more lines like this"
            out.append(Finding(kind, message, first.severity, first.line, first.row, first.hint, {"more": more}))
        return out
