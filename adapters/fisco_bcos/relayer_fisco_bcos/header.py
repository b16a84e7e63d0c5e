"""The FISCO BCOS 3.x block header: parsed from the JSON-RPC object and hashed by the chain's rule.

The hash (unchanged since v3.0.0; FISCO-BCOS ``bcos-tars-protocol/.../impl/TarsHashable.h``) is H
over ``be32(version)``, per parent ``be64(blockNumber) || blockHash``, ``txsRoot || receiptsRoot ||
stateRoot``, ``be64(number)``, ``gasUsed`` as decimal ASCII, ``be64(timestamp) || be64(sealer)``,
each ``sealerList`` node id (64 raw bytes), ``extraData``, each ``consensusWeights`` entry as
``be64``; H = keccak256 or SM3 by the chain's crypto. ``signatureList`` is not hashed.

``legacy_rc_hash`` is the 3.0.0-rc rule (a quirk of that release, see its docstring): a separate,
documented function, never used to accept a header of a 3.x chain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relayer_fisco_bcos.hashing import Hasher

NODE_ID_BYTES = 64


class HeaderFormatError(ValueError):
    """A header object that is not a FISCO BCOS 3.x header (the message names the key)."""


@dataclass(frozen=True)
class ParentInfo:
    number: int
    hash: bytes


@dataclass(frozen=True)
class SealerSignature:
    sealer_index: int
    signature: bytes


@dataclass(frozen=True)
class BlockHeader:
    """One header as the node serves it; ``claimed_hash`` is the node's ``hash`` (None when absent)."""

    version: int
    parents: tuple[ParentInfo, ...]
    txs_root: bytes
    receipts_root: bytes
    state_root: bytes
    number: int
    gas_used: str
    timestamp: int
    sealer: int
    sealer_list: tuple[bytes, ...]
    extra_data: bytes
    consensus_weights: tuple[int, ...]
    signatures: tuple[SealerSignature, ...] = ()
    claimed_hash: bytes | None = None

    @property
    def parent_hash(self) -> bytes:
        """The hash of the first parent (a 3.x chain has exactly one); 32 zero bytes for none."""
        return self.parents[0].hash if self.parents else bytes(32)

    @property
    def total_weight(self) -> int:
        return sum(self.consensus_weights)


# --------------------------------------------------------------------------- parsing


def parse_header(obj: Mapping[str, Any]) -> BlockHeader:
    """The header of a ``getBlockByNumber`` / ``getBlockHeaderByNumber`` result object (other keys,
    such as ``transactions``, are ignored). Raises HeaderFormatError naming the key at fault."""
    if not isinstance(obj, Mapping):
        raise HeaderFormatError("the header is not a JSON object")
    parents = tuple(ParentInfo(_int(p, "blockNumber", "parentInfo[].blockNumber"),
                               _bytes(p, "blockHash", 32, "parentInfo[].blockHash"))
                    for p in _list(obj, "parentInfo"))
    sealer_list = tuple(_hex(item, NODE_ID_BYTES, f"sealerList[{i}]")
                        for i, item in enumerate(_list(obj, "sealerList")))
    weights = tuple(_number(item, f"consensusWeights[{i}]") for i, item in enumerate(_list(obj, "consensusWeights")))
    if len(weights) != len(sealer_list):
        raise HeaderFormatError(f"consensusWeights has {len(weights)} entries for {len(sealer_list)} sealers")
    signatures = tuple(SealerSignature(_int(s, "sealerIndex", f"signatureList[{i}].sealerIndex"),
                                       _bytes(s, "signature", None, f"signatureList[{i}].signature"))
                       for i, s in enumerate(obj.get("signatureList") or ()))
    gas_used = obj.get("gasUsed")
    if not isinstance(gas_used, str) or not gas_used.isascii() or not gas_used.isdigit():
        raise HeaderFormatError(f"gasUsed must be a decimal string, not {gas_used!r}")
    claimed = obj.get("hash")
    return BlockHeader(
        version=_int(obj, "version"), parents=parents,
        txs_root=_bytes(obj, "txsRoot", 32), receipts_root=_bytes(obj, "receiptsRoot", 32),
        state_root=_bytes(obj, "stateRoot", 32), number=_int(obj, "number"), gas_used=gas_used,
        timestamp=_int(obj, "timestamp"), sealer=_int(obj, "sealer"), sealer_list=sealer_list,
        extra_data=_bytes(obj, "extraData", None), consensus_weights=weights, signatures=signatures,
        claimed_hash=None if claimed is None else _hex(claimed, 32, "hash"))


def header_json(header: BlockHeader) -> dict[str, Any]:
    """The header as the node's JSON object (``parse_header`` reads it back to an equal header)."""
    out: dict[str, Any] = {
        "version": header.version,
        "parentInfo": [{"blockNumber": p.number, "blockHash": "0x" + p.hash.hex()} for p in header.parents],
        "txsRoot": "0x" + header.txs_root.hex(), "receiptsRoot": "0x" + header.receipts_root.hex(),
        "stateRoot": "0x" + header.state_root.hex(), "number": header.number, "gasUsed": header.gas_used,
        "timestamp": header.timestamp, "sealer": header.sealer,
        "sealerList": ["0x" + node.hex() for node in header.sealer_list],
        "extraData": "0x" + header.extra_data.hex(), "consensusWeights": list(header.consensus_weights),
        "signatureList": [{"sealerIndex": s.sealer_index, "signature": "0x" + s.signature.hex()}
                          for s in header.signatures],
    }
    if header.claimed_hash is not None:
        out["hash"] = "0x" + header.claimed_hash.hex()
    return out


def encode_header(header: BlockHeader) -> bytes:
    """The stored form of a header (``VerifiedHeader.encoded``): its JSON object, keys sorted, compact."""
    return json.dumps(header_json(header), sort_keys=True, separators=(",", ":")).encode()


def decode_header(encoded: bytes) -> BlockHeader:
    """The header of ``encode_header``. Raises HeaderFormatError when it does not decode."""
    try:
        obj = json.loads(encoded)
    except ValueError as exc:
        raise HeaderFormatError(f"stored header is not JSON: {exc}") from exc
    return parse_header(obj)


# --------------------------------------------------------------------------- hashing


def hash_input(header: BlockHeader) -> bytes:
    """The bytes the 3.x header hash is taken over (see the module docstring)."""
    parts = [_be(header.version, 4, "version")]
    for parent in header.parents:
        parts += [_be(parent.number, 8, "parentInfo.blockNumber"), parent.hash]
    parts += [header.txs_root, header.receipts_root, header.state_root, _be(header.number, 8, "number"),
              header.gas_used.encode("ascii"), _be(header.timestamp, 8, "timestamp"), _be(header.sealer, 8, "sealer")]
    parts += list(header.sealer_list)
    parts.append(header.extra_data)
    parts += [_be(weight, 8, "consensusWeights") for weight in header.consensus_weights]
    return b"".join(parts)


def header_hash(header: BlockHeader, hasher: Hasher) -> bytes:
    """The block hash by the 3.x rule with the chain's hash function. Raises HeaderFormatError for
    an integer that does not fit its field."""
    return hasher(hash_input(header))


def legacy_rc_hash(header: BlockHeader, hasher: Hasher) -> bytes:
    """The block hash as FISCO BCOS 3.0.0-rc (header version 4, June 2022) computed it: the same
    fields in the same order, but every integer (version, parent numbers, number, timestamp,
    sealer, weights) written as 8 bytes holding the big-endian low 32 bits followed by 4 zero
    bytes. Only the vector ``bcos3rc_secp_block1_legacy_hash.json`` needs it; 3.x releases
    (>= 3.0.0) use ``header_hash``. Raises HeaderFormatError like ``header_hash``."""
    def quirk(value: int) -> bytes:
        return (value & 0xFFFFFFFF).to_bytes(4, "big") + bytes(4)

    parts = [quirk(header.version)]
    for parent in header.parents:
        parts += [quirk(parent.number), parent.hash]
    parts += [header.txs_root, header.receipts_root, header.state_root, quirk(header.number),
              header.gas_used.encode("ascii"), quirk(header.timestamp), quirk(header.sealer)]
    parts += list(header.sealer_list)
    parts.append(header.extra_data)
    parts += [quirk(weight) for weight in header.consensus_weights]
    return hasher(b"".join(parts))


# --------------------------------------------------------------------------- field readers


def _be(value: int, size: int, what: str) -> bytes:
    try:
        return value.to_bytes(size, "big")
    except OverflowError as exc:
        raise HeaderFormatError(f"{what} {value} does not fit {size} bytes") from exc


def _list(obj: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise HeaderFormatError(f"{key} must be a list, not {value!r}")
    return value


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise HeaderFormatError(f"{what} must be a number, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise HeaderFormatError(f"{what} must not be negative: {value}")
        return value
    if isinstance(value, str) and value[:2].lower() == "0x":
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise HeaderFormatError(f"{what} must be a number, not {value!r}")


def _int(obj: Any, key: str, what: str | None = None) -> int:
    if not isinstance(obj, Mapping) or key not in obj:
        raise HeaderFormatError(f"{what or key} is missing")
    return _number(obj[key], what or key)


def _hex(value: Any, size: int | None, what: str) -> bytes:
    if not isinstance(value, str):
        raise HeaderFormatError(f"{what} must be a hex string, not {value!r}")
    text = value[2:] if value[:2].lower() == "0x" else value
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise HeaderFormatError(f"{what} is not hex: {value!r}") from exc
    if size is not None and len(data) != size:
        raise HeaderFormatError(f"{what} must be {size} bytes, not {len(data)}")
    return data


def _bytes(obj: Any, key: str, size: int | None, what: str | None = None) -> bytes:
    if not isinstance(obj, Mapping) or key not in obj:
        raise HeaderFormatError(f"{what or key} is missing")
    return _hex(obj[key], size, what or key)


__all__ = [
    "NODE_ID_BYTES", "BlockHeader", "HeaderFormatError", "ParentInfo", "SealerSignature", "decode_header",
    "encode_header", "hash_input", "header_hash", "header_json", "legacy_rc_hash", "parse_header",
]
