"""A ChainMaker block as the node's SDK / explorer serves it (``BlockInfo`` JSON, bytes in base64).

Taken: a ``BlockInfo`` object (``{"block": {...}, ...}``), a ``Block`` object (``header``, ``dag``,
``txs``, ``additional_data``), or a bare ``BlockHeader`` (then there is no quorum certificate and
no transaction data). Parsing checks shapes only; :mod:`block`, :mod:`qc` and :mod:`txroot` check
what the values mean.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from relayer.errors import RpcAnswerError
from relayer_chainmaker import messages
from relayer_chainmaker.proto import Msg, ProtoError, from_json

#: The key of ``additional_data.extra_data`` holding the TBFT quorum certificate (spelt as ChainMaker does).
TBFT_KEY = "TBFTAddtionalDataKey"


@dataclass(frozen=True)
class ChainMakerBlock:
    """A parsed block: its header's values, its transactions (None: not served), its DAG (None: not
    served) and its TBFT quorum certificate's bytes (None: not served)."""

    header: Msg
    txs: tuple[Msg, ...] | None = field(default=None, compare=False)
    dag: Msg | None = field(default=None, compare=False)
    qc: bytes | None = field(default=None, compare=False)

    @property
    def number(self) -> int:
        height: int = self.header["block_height"]
        return height


def parse_block(document: object, source: str) -> ChainMakerBlock:
    """The block in ``document``. Raises RpcAnswerError naming ``source`` and the key path of what is
    not a ChainMaker block."""
    if isinstance(document, Mapping) and isinstance(document.get("block"), Mapping):
        document = document["block"]
    if not isinstance(document, Mapping):
        raise RpcAnswerError(f"{source} holds no ChainMaker block object")
    try:
        if "header" not in document:
            return ChainMakerBlock(from_json(messages.BLOCK_HEADER, document, "header"))
        unknown = sorted(set(document) - {"header", "dag", "txs", "additional_data"})
        if unknown:
            raise ProtoError(f"block.{unknown[0]} is not a field of a Block")
        header = from_json(messages.BLOCK_HEADER, document["header"], "block.header")
        txs = _txs(document.get("txs"))
        dag = None if document.get("dag") is None else from_json(messages.DAG, document["dag"], "block.dag")
        return ChainMakerBlock(header, txs, dag, _qc(document.get("additional_data")))
    except ProtoError as exc:
        raise RpcAnswerError(f"{source}: {exc}") from exc


def _txs(value: object) -> tuple[Msg, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProtoError("block.txs is not a list")
    return tuple(from_json(messages.TRANSACTION, tx, f"block.txs[{i}]") for i, tx in enumerate(value))


def _qc(additional: object) -> bytes | None:
    if additional is None:
        return None
    extra = additional.get("extra_data") if isinstance(additional, Mapping) else None
    if not isinstance(extra, Mapping):
        raise ProtoError("block.additional_data.extra_data is not an object")
    value = extra.get(TBFT_KEY)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtoError(f"block.additional_data.extra_data.{TBFT_KEY} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtoError(f"block.additional_data.extra_data.{TBFT_KEY} is not base64") from exc


__all__ = ["TBFT_KEY", "ChainMakerBlock", "parse_block"]
