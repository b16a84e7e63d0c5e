"""A small durable record per custody spend (one JSON file): what an operator signed, what a submitter
built and combined. Every write replaces the file atomically (a temporary file written, flushed to disk,
renamed over it) before the caller goes on, so a process killed at any point leaves the last complete
record. It holds transactions, outpoints and figures, never a key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol


class JournalError(ValueError):
    """A journal file that cannot be read (``str()`` names the file and why)."""


class Journal:
    """Records by key (a marker's text) in the JSON file ``path`` (created on the first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text() if self.path.exists() else "{}"
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise JournalError(f"{self.path}: cannot read the release journal: {exc}") from exc
        if not isinstance(data, dict):
            raise JournalError(f"{self.path}: a release journal is a JSON object")
        self._records: dict[str, dict[str, Any]] = data

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the record of ``key``; None when there is none."""
        record = self._records.get(key)
        return None if record is None else json.loads(json.dumps(record))

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Write the record of ``key`` durably. Raises OSError when the file cannot be written (the record
        then is not kept)."""
        records = dict(self._records, **{key: record})
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(records, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._records = records

    def keys(self) -> list[str]:
        return sorted(self._records)


class Records(Protocol):
    """What the release library keeps its records in: a :class:`Journal` or a :class:`JournalView` of one."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, record: dict[str, Any]) -> None: ...


class JournalView:
    """The records of one party (``prefix``: e.g. the operator's, the submitter's) in a journal file shared
    with others: each key is written as ``PREFIX/key``. The journal must be the one instance of its file in
    the process (every write replaces the whole file)."""

    def __init__(self, journal: Journal, prefix: str) -> None:
        self.journal, self.prefix = journal, prefix

    def get(self, key: str) -> dict[str, Any] | None:
        return self.journal.get(f"{self.prefix}/{key}")

    def put(self, key: str, record: dict[str, Any]) -> None:
        """As Journal.put. Raises OSError."""
        self.journal.put(f"{self.prefix}/{key}", record)

    def keys(self) -> list[str]:
        return [k[len(self.prefix) + 1:] for k in self.journal.keys() if k.startswith(self.prefix + "/")]


__all__ = ["Journal", "JournalError", "JournalView", "Records"]
