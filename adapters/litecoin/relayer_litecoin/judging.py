"""``relayer header verify --kind litecoin``: one Litecoin header judged on its own.

The core's command reads the arguments and the JSON file and prints; this module reads the block object
and judges it. A header is read from what litecoind answers: the object of ``getblockheader HASH true``
or ``getblock HASH`` (its ``version``, ``previousblockhash``, ``merkleroot``, ``time``, ``bits``, ``nonce``;
``hash`` and ``height`` when present), or an object whose ``hex`` holds the 80 bytes of
``getblockheader HASH false`` (what ``LitecoinAdapter.fetch_block`` returns, with the hash it asked the
node for). Its id is recomputed (sha256d of the 80 bytes) and compared with the ``hash`` the object claims,
and its scrypt proof of work with the target in its nBits; ``networks`` names the networks whose pow
limit admits that target (main and test: 2**236 - 1; regtest: 2**255 - 1). Nothing the node says
(``hash``, ``chainwork``, ``difficulty``, ``confirmations``) is believed.

What a lone header cannot show: that it belongs to the best chain, or that its nBits is the one the
difficulty rules require at its height (that needs its ancestors: the light client checks it while
following). Proof of work has no validators: ``--validators`` is a usage error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayer.errors import RpcAnswerError, UsageError
from relayer_litecoin.header import HEADER_SIZE, Header, bits_to_target
from relayer_litecoin.network import NETWORKS

#: The header fields of litecoind's verbose ``getblockheader`` / ``getblock`` objects, as this reads them.
FIELDS = ("version", "previousblockhash", "merkleroot", "time", "bits", "nonce")
NO_VALIDATORS = ("--validators: Litecoin is proof of work, a header has no validators (its scrypt hash is "
                 "checked against the target in its nBits): leave --validators out")
WHAT = ("a Litecoin header object (getblockheader HASH true, getblock HASH, or {\"hex\": the 80 bytes of "
        "getblockheader HASH false})")


def _hash(value: Any, key: str) -> bytes:
    """A 32-byte hash as the RPC prints it (64 hex digits, display order). Raises RpcAnswerError."""
    if isinstance(value, str) and len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise RpcAnswerError(f"{key} is not a block hash (64 hex digits): {value!r}")


def _uint32(value: Any, key: str, *, signed: bool = False) -> int:
    low, high = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << 32) - 1)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise RpcAnswerError(f"{key} is not a {'signed ' if signed else ''}32-bit integer: {value!r}")


def _bits(value: Any) -> int:
    """nBits as the RPC prints it (8 hex digits, e.g. ``"207fffff"``). Raises RpcAnswerError."""
    if isinstance(value, str) and len(value.removeprefix("0x")) == 8:
        try:
            return int(value.removeprefix("0x"), 16)
        except ValueError:
            pass
    raise RpcAnswerError(f"bits is not a compact target (8 hex digits): {value!r}")


def _from_fields(block: Mapping[str, Any]) -> Header:
    missing = [key for key in FIELDS if key not in block and key != "previousblockhash"]
    if missing:
        raise RpcAnswerError(f"not {WHAT}: it has no {', '.join(missing)}")
    # the genesis header's object has no previousblockhash: its 32 bytes are zero
    prev = block.get("previousblockhash")
    return Header(_uint32(block["version"], "version", signed=True),
                  bytes(32) if prev is None else _hash(prev, "previousblockhash"),
                  _hash(block["merkleroot"], "merkleroot"), _uint32(block["time"], "time"), _bits(block["bits"]),
                  _uint32(block["nonce"], "nonce"))


def _from_hex(value: Any) -> Header:
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) == HEADER_SIZE:
            return Header.parse(raw)
    raise RpcAnswerError(f"hex is not a Litecoin header's 80 bytes (160 hex digits): {str(value)[:40]!r}")


def read(block: Mapping[str, Any]) -> tuple[Header, list[str]]:
    """The header of a block object and what in the object contradicts it (``hex`` and the fields both
    given and differing). Raises RpcAnswerError when ``block`` is not a Litecoin header object."""
    if "hex" in block:
        header = _from_hex(block["hex"])
        if not any(key in block for key in FIELDS):
            return header, []
        fields = _from_fields(block)
        if fields == header:
            return header, []
        differ = [name for name in ("version", "prev_hash", "merkle_root", "time", "bits", "nonce")
                  if getattr(fields, name) != getattr(header, name)]
        return header, [f"the object's fields are not its hex header's ({', '.join(differ)} differ)"]
    return _from_fields(block), []


def _height(block: Mapping[str, Any]) -> int | None:
    height = block.get("height")
    if height is None:
        return None
    if isinstance(height, int) and not isinstance(height, bool) and height >= 0:
        return height
    raise RpcAnswerError(f"height is not a block height: {height!r}")


def judge(block: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict on ``block`` as JSON: ``number`` (the object's ``height``, not checkable from a header;
    null when absent), ``hash`` (recomputed, display order), ``valid``, ``bits``, ``target``, ``pow_hash``
    (the scrypt hash, display order), ``networks`` (whose pow limit admits the target) and ``reason``
    when invalid (every check that failed, joined by "; "). Raises RpcAnswerError when ``block`` is not a
    Litecoin header object (an invalid header is a verdict, not an error)."""
    header, reasons = read(block)
    claimed = None if block.get("hash") is None else _hash(block["hash"], "hash")
    number = _height(block)
    pow_hash = header.pow_hash
    verdict: dict[str, Any] = {"number": number, "hash": header.hash.hex(), "bits": f"{header.bits:#010x}",
                               "pow_hash": f"{pow_hash:064x}"}
    try:
        target = bits_to_target(header.bits)
    except ValueError as exc:
        target = 0
        reasons.insert(0, f"nBits {header.bits:#010x} encodes no target: {exc}")
    else:
        if target == 0:
            reasons.insert(0, f"nBits {header.bits:#010x} encodes a zero target")
        elif pow_hash > target:
            reasons.insert(0, f"scrypt hash {pow_hash:064x} is above the target of nBits {header.bits:#010x}")
    networks = [net.name for net in NETWORKS.values() if 0 < target <= net.pow_limit]
    if target and not networks:
        reasons.append(f"the target of nBits {header.bits:#010x} is above every Litecoin network's pow limit")
    if claimed is not None and claimed != header.hash:
        reasons.append(f"the header hashes to {header.hash.hex()}, not to the claimed {claimed.hex()}")
    verdict |= {"target": f"{target:064x}", "networks": networks, "valid": not reasons}
    if reasons:
        verdict["reason"] = "; ".join(reasons)
    return verdict


class HeaderJudge:
    """What ``relayer header verify`` asks of a light client class (``relayer.header_verify.JUDGING``)."""

    @classmethod
    def parse_validator(cls, text: str) -> bytes:
        """Never returns: proof of work has no validators. Raises UsageError (exit 2, one line)."""
        raise UsageError(NO_VALIDATORS)

    @classmethod
    def judge_block(cls, block: Mapping[str, Any], validators: tuple[bytes, ...] | None, epoch: int) -> dict[str, Any]:
        """The verdict of :func:`judge` on ``block``; ``epoch`` has no meaning for proof of work and is
        ignored. Raises UsageError when ``validators`` are given, RpcAnswerError when ``block`` is not a
        Litecoin header object."""
        if validators is not None:
            raise UsageError(NO_VALIDATORS)
        return judge(block)


__all__ = ["FIELDS", "HeaderJudge", "judge", "read"]
