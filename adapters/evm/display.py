"""How ``relayer messages`` shows a message of the EVM family (``relayer.message_views`` entry point
``evm``): its body and locator, in the encodings ``adapters.evm.source`` writes, read back as the
message-layer envelope (kind, nonce, sender, recipient, gas limit, expiry, acknowledgement mode, the
payload; for an acknowledgement the id it acknowledges and that message's outcome) and the log it was
found at (transaction hash and index, log index). A payload of the first-party applications
(``contracts/apps``) is decoded too, best effort by its shape: a ``TokenRouter`` transfer (token,
amount, recipient) or a ``TraceabilityRegistry`` record (batch id, product, digest, producer).
Messages of the old ``Bridge`` (issue 10 replaced it; a state database may still hold them) are shown
as the transfer they were.

Decoded by hand rather than with eth_abi, and importing nothing of the adapter, so that a command
reading the state database stays quick::

    body    = abi.encode(Envelope)  (messaging/Envelope.sol: version, kind, nonce, sourceChain,
              sourceLayer, sender, destinationChain, destinationLayer, recipient, gasLimit, expiry,
              ackMode, bytes body)
    ack     = abi.encode(bytes32 originalId, uint8 outcome, bytes result)   (body of a kind-1 envelope)
    locator = abi.encode(bytes32 txHash, uint256 txIndex, uint256 logIndex)
    Bridge  = abi.encode(string kind, address token, address sender, address recipient, uint256 amount)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from Crypto.Hash import keccak

from relayer.contract import MessageView

WORD = 32
HEAD = 13  # head words of the Envelope tuple
KINDS = {0: "message", 1: "ack"}
ACK_MODES = {0: "none", 1: "on-failure", 2: "always"}
OUTCOMES = {0: "none", 1: "delivered", 2: "failed", 3: "expired"}
Fields = tuple[tuple[str, Any], ...]


def describe(body: bytes, locator: bytes) -> MessageView | None:
    """The view of an EVM message (addresses EIP-55 checksummed, hashes and payloads 0x-hex, amounts as
    decimal strings), or None for a body or locator of any other shape. Raises nothing."""
    decoded = _decode(bytes(body), bytes(locator))
    if decoded is None:
        return None
    what, where, line = decoded
    loc = dict(where)
    return MessageView(body=dict(what), locator=loc, what=line,
                       where=f"tx {loc['tx_hash']} receipt {loc['tx_index']} log {loc['log_index']}")


@lru_cache(maxsize=4096)
def _decode(body: bytes, locator: bytes) -> tuple[Fields, Fields, str] | None:
    if len(locator) != 3 * WORD:
        return None
    where = (("tx_hash", "0x" + locator[:WORD].hex()), ("tx_index", _int(locator, WORD)),
             ("log_index", _int(locator, 2 * WORD)))
    decoded = _envelope(body) or _bridge_transfer(body)
    return None if decoded is None else (decoded[0], where, decoded[1])


# --------------------------------------------------------------------------- envelopes


def _envelope(data: bytes) -> tuple[Fields, str] | None:
    """The fields of an envelope and its one-line description, or None when ``data`` is none."""
    if len(data) < (2 + HEAD) * WORD or len(data) % WORD or _int(data, 0) != WORD:
        return None
    t = data[WORD:]
    if _int(t, 12 * WORD) != HEAD * WORD:
        return None
    length = _int(t, HEAD * WORD)
    if len(t) != (HEAD + 1) * WORD + length + (-length % WORD):
        return None
    version, kind, nonce, src_chain = (_int(t, i * WORD) for i in range(4))
    dst_chain, gas_limit, expiry, ack_mode = (_int(t, i * WORD) for i in (6, 9, 10, 11))
    if version > 255 or kind > 255 or ack_mode > 255 or max(nonce, src_chain, dst_chain, gas_limit, expiry) >= 2**64:
        return None
    payload = t[(HEAD + 1) * WORD:(HEAD + 1) * WORD + length]
    src_layer, sender, dst_layer, recipient = (_party(t[i * WORD:(i + 1) * WORD]) for i in (4, 5, 7, 8))
    fields: list[tuple[str, Any]] = [
        ("kind", KINDS.get(kind, f"kind {kind}")), ("version", version), ("nonce", nonce),
        ("source_chain", src_chain), ("source_layer", src_layer), ("sender", sender),
        ("destination_chain", dst_chain), ("destination_layer", dst_layer), ("recipient", recipient),
        ("gas_limit", gas_limit), ("expiry", expiry), ("ack_mode", ACK_MODES.get(ack_mode, str(ack_mode))),
        ("payload", "0x" + payload.hex())]
    terms = f"gas {gas_limit}, expiry {expiry or 'none'}, ack {ACK_MODES.get(ack_mode, ack_mode)}"
    if kind == 1:
        ack = _ack(payload)
        if ack is not None:
            fields += ack[0]
            return tuple(fields), f"ack {nonce} from {sender} on {src_chain} to {recipient} on {dst_chain}: {ack[1]}"
    app = _app(payload) if kind == 0 else None
    if app is not None:
        fields += app[0]
    what = f"{fields[0][1]} {nonce} from {sender} on {src_chain} to {recipient} on {dst_chain}"
    what += f": {app[1]}" if app is not None else f", payload of {length} bytes"
    return tuple(fields), f"{what} ({terms})"


def _ack(payload: bytes) -> tuple[Fields, str] | None:
    """abi.encode(bytes32 originalId, uint8 outcome, bytes result), or None."""
    if len(payload) < 4 * WORD or len(payload) % WORD or _int(payload, 2 * WORD) != 3 * WORD:
        return None
    outcome, length = _int(payload, WORD), _int(payload, 3 * WORD)
    if outcome > 255 or len(payload) != 4 * WORD + length + (-length % WORD):
        return None
    original = "0x" + payload[:WORD].hex()
    result = "0x" + payload[4 * WORD:4 * WORD + length].hex()
    name = OUTCOMES.get(outcome, f"outcome {outcome}")
    fields = (("acknowledged_id", original), ("acknowledged_outcome", name), ("ack_result", result))
    return fields, f"message {original} {name}" + (f" (result {result})" if length else "")


def _app(payload: bytes) -> tuple[Fields, str] | None:
    """A TokenRouter transfer ``abi.encode(bool burned, address token, address recipient, uint256
    amount)`` or a TraceabilityRegistry record ``abi.encode(bytes32 batchId, bytes32 product, bytes32
    documentsDigest, address producer)``, told apart by shape; None for anything else."""
    if len(payload) != 4 * WORD:
        return None
    words = [payload[i * WORD:(i + 1) * WORD] for i in range(4)]
    if _int(payload, 0) in (0, 1) and _is_address(words[1]) and _is_address(words[2]):
        transfer = "burn" if _int(payload, 0) else "lock"
        token, to, amount = _checksum(words[1][12:]), _checksum(words[2][12:]), str(_int(payload, 3 * WORD))
        return ((("app", "token-router"), ("transfer", transfer), ("token", token), ("amount", amount), ("to", to)),
                f"{transfer} {amount} of {token} to {to}")
    if any(words[0]) and _is_address(words[3]):
        batch, product, digest = ("0x" + w.hex() for w in words[:3])
        producer = _checksum(words[3][12:])
        return ((("app", "traceability"), ("batch_id", batch), ("product", product), ("digest", digest),
                 ("producer", producer)), f"traceability record of batch {batch} by {producer}")
    return None


def app_labels(payload: bytes) -> dict[str, str]:
    """A few words of a first-party application's payload for logs (``app`` and, of a transfer, its
    ``amount``); empty for any other payload. Raises nothing."""
    app = _app(bytes(payload))
    if app is None:
        return {}
    fields = dict(app[0])
    return {k: str(fields[k]) for k in ("app", "amount", "batch_id") if k in fields}


def _party(word: bytes) -> str:
    """A left-padded address, checksummed; any other 32-byte word as 0x-hex (a non-EVM party)."""
    return _checksum(word[12:]) if _is_address(word) else "0x" + word.hex()


def _is_address(word: bytes) -> bool:
    return len(word) == WORD and not any(word[:12])


# --------------------------------------------------------------------------- the old Bridge


def _bridge_transfer(body: bytes) -> tuple[Fields, str] | None:
    if len(body) < 7 * WORD or len(body) % WORD:
        return None
    offset, length = _int(body, 0), _int(body, 5 * WORD)
    if offset != 5 * WORD or len(body) != 6 * WORD + length + (-length % WORD):
        return None
    try:
        kind = body[6 * WORD:6 * WORD + length].decode()
    except UnicodeDecodeError:
        return None
    if any(body[i * WORD:i * WORD + 12] != b"\x00" * 12 for i in (1, 2, 3)):
        return None
    token, sender, recipient = (_checksum(body[i * WORD + 12:(i + 1) * WORD]) for i in (1, 2, 3))
    amount = str(_int(body, 4 * WORD))
    what = (("kind", kind), ("token", token), ("sender", sender), ("recipient", recipient), ("amount", amount))
    return what, f"{kind} {amount} of {token} from {sender} to {recipient}"


def _int(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + WORD], "big")


@lru_cache(maxsize=4096)  # tokens and users recur
def _checksum(raw: bytes) -> str:
    """EIP-55: each hex letter upper case where the keccak of the lower-case hex has a nibble >= 8."""
    hex_ = raw.hex()
    digest = keccak.new(digest_bits=256, data=hex_.encode()).hexdigest()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(hex_, digest))


__all__ = ["app_labels", "describe"]
