"""The record (one conversation, with provenance in `meta`) and the reject (one bad row, with where and why).

    Record("alpaca-00042", [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}], {"source": "alpaca"})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    id: str
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)
    # where the row was read: (file, line, 1-based row index in the file); not part of the record's JSON
    origin: tuple[str, int, int] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "messages": self.messages, "meta": self.meta}

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """Messages up to (not including) the final assistant turn."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[:-1]
        return self.messages

    @property
    def response(self) -> str | None:
        """The final assistant turn's text, if the record ends with one."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return None


@dataclass
class Reject:
    """A row that did not become a record. `to_json()` is the one reject shape of every stage:
    {id, file, line, stage, reason, field, row}; `str()` is `file:line: field: problem`."""

    file: str
    line: int
    reason: str
    field: str | None = None
    row: Any = None
    id: str | None = None  # the row's own id, when it has a usable one
    stage: str = "read"

    def to_json(self) -> dict[str, Any]:
        rid = self.id if self.id is not None else _own_id(self.row)
        return {"id": rid, "file": self.file, "line": self.line, "stage": self.stage, "reason": self.reason,
                "field": self.field, "row": self.row}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


def _own_id(row: Any) -> str | None:
    if isinstance(row, dict):
        v = row.get("id", row.get("idx"))
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
            return str(v)
    return None


class RowError(ValueError):
    """A problem with one row; carries the offending field name."""

    def __init__(self, field_name: str | None, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason
