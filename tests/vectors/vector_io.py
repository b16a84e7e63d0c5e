"""Readers for the public vector formats (execution-apis ``.io`` files, ``chain.rlp``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rlp
from rlp.codec import consume_item

EXECUTION_APIS = Path("execution-apis")
HISTORY_COMMITS = ("9772380880b3c91dbc39b58cdc4d62eb86c54e9e", "d08382ae5c808680e976fce4b73f4ba91647199b")


def execution_apis_dirs(vectors: Path) -> list[Path]:
    """The current ``tests/`` folder and the two history snapshots, each with its own chain.rlp."""
    root = vectors / EXECUTION_APIS
    return [root / "tests"] + [root / "history" / commit / "tests" for commit in HISTORY_COMMITS]


def io_result(path: Path) -> Any:
    """The ``result`` of the response line (``<< ``) of an execution-apis ``.io`` fixture."""
    for line in path.read_text().splitlines():
        if line.startswith("<< "):
            return json.loads(line[3:]).get("result")
    raise ValueError(f"{path} has no response line")


def raw_blocks(path: Path) -> Iterator[bytes]:
    """The RLP of each block of a ``chain.rlp`` (concatenated items, read one after another)."""
    data = path.read_bytes()
    position = 0
    while position < len(data):
        _, _, end = consume_item(data, position)
        yield data[position:end]
        position = end


def raw_headers(path: Path) -> Iterator[bytes]:
    """The header RLP (first element) of each block of a ``chain.rlp``."""
    for block in raw_blocks(path):
        yield rlp.encode(rlp.decode(block)[0])
