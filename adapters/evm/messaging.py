"""Message-layer envelopes (``adapters/evm/contracts/messaging``): encoding, decoding, ids, proofs.

An envelope travels as ``MessageSent(bytes32 indexed id, bytes envelope)`` with
``envelope = abi.encode(Envelope)`` (a tuple, so the encoding starts with its offset 0x20);
the id is ``keccak256(abi.encode(sourceChain, sourceLayer, nonce))``. Addresses are
left-padded to 32 bytes. The EVM proof a ``EvmReceiptVerifier`` checks is
``abi.encode(uint256 blockNumber, bytes key, bytes[] nodes, uint256 logIndex)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from relayer.errors import ProofError

VERSION = 1
KIND_MESSAGE, KIND_ACK = 0, 1
ACK_NONE, ACK_ON_FAILURE, ACK_ALWAYS = 0, 1, 2
OUTCOME_NONE, OUTCOME_DELIVERED, OUTCOME_FAILED, OUTCOME_EXPIRED = 0, 1, 2, 3
MESSAGE_SENT_TOPIC = keccak(text="MessageSent(bytes32,bytes)")
MESSAGE_PROCESSED_TOPIC = keccak(text="MessageProcessed(bytes32,uint8,bytes)")
ENVELOPE_TYPE = "(uint8,uint8,uint64,uint64,bytes32,bytes32,uint64,bytes32,bytes32,uint64,uint64,uint8,bytes)"
PROOF_TYPES = ["uint256", "bytes", "bytes[]", "uint256"]


@dataclass(frozen=True)
class Envelope:
    """One message envelope, fields as in ``messaging/Envelope.sol``."""

    nonce: int
    source_chain: int
    source_layer: bytes
    sender: bytes
    destination_chain: int
    destination_layer: bytes
    recipient: bytes
    gas_limit: int
    expiry: int = 0
    ack_mode: int = ACK_NONE
    body: bytes = b""
    kind: int = KIND_MESSAGE
    version: int = VERSION

    @property
    def id(self) -> bytes:
        """The message id: keccak256(abi.encode(sourceChain, sourceLayer, nonce))."""
        return message_id(self.source_chain, self.source_layer, self.nonce)

    def encode(self) -> bytes:
        """abi.encode(Envelope), byte for byte what the contract emits."""
        return eth_abi.encode([ENVELOPE_TYPE], [(
            self.version, self.kind, self.nonce, self.source_chain, self.source_layer, self.sender,
            self.destination_chain, self.destination_layer, self.recipient, self.gas_limit, self.expiry,
            self.ack_mode, self.body)])


def decode_envelope(data: bytes) -> Envelope:
    """The envelope in ``data`` (abi.encode(Envelope)). Raises ProofError when it does not decode."""
    try:
        (fields,) = eth_abi.decode([ENVELOPE_TYPE], bytes(data))
    except (DecodingError, ValueError, TypeError) as exc:
        raise ProofError(f"not an envelope: {exc}") from exc
    (version, kind, nonce, source_chain, source_layer, sender, destination_chain, destination_layer,
     recipient, gas_limit, expiry, ack_mode, body) = fields
    return Envelope(nonce=nonce, source_chain=source_chain, source_layer=source_layer, sender=sender,
                    destination_chain=destination_chain, destination_layer=destination_layer,
                    recipient=recipient, gas_limit=gas_limit, expiry=expiry, ack_mode=ack_mode,
                    body=body, kind=kind, version=version)


def decode_ack_body(body: bytes) -> tuple[bytes, int, bytes]:
    """(original id, outcome, result) of an acknowledgement's body. Raises ProofError."""
    try:
        acked, outcome, result = eth_abi.decode(["bytes32", "uint8", "bytes"], bytes(body))
    except (DecodingError, ValueError, TypeError) as exc:
        raise ProofError(f"not an acknowledgement body: {exc}") from exc
    return bytes(acked), int(outcome), bytes(result)


def message_id(source_chain: int, source_layer: bytes, nonce: int) -> bytes:
    """keccak256(abi.encode(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce))."""
    return keccak(eth_abi.encode(["uint64", "bytes32", "uint64"], [source_chain, bytes(source_layer), nonce]))


def address_word(address: str) -> bytes:
    """An EVM address left-padded to 32 bytes, as envelopes carry it."""
    return bytes(12) + bytes.fromhex(to_checksum_address(address)[2:])


def word_address(word: bytes) -> str:
    """The checksummed EVM address in a left-padded word. Raises ProofError when the top 12 bytes are set."""
    if len(word) != 32 or any(word[:12]):
        raise ProofError("not an address word", word=bytes(word).hex())
    return to_checksum_address(bytes(word[12:]))


def message_sent_logs(receipt: dict[str, Any], layer: str) -> list[tuple[int, Envelope]]:
    """(log index within the receipt, envelope) of each MessageSent ``layer`` emitted in an RPC receipt."""
    out = []
    for index, log in enumerate(receipt.get("logs") or []):
        topics = log.get("topics") or []
        if str(log.get("address", "")).lower() != layer.lower() or not topics:
            continue
        if bytes.fromhex(str(topics[0])[2:]) != MESSAGE_SENT_TOPIC:
            continue
        (raw,) = eth_abi.decode(["bytes"], bytes.fromhex(str(log["data"])[2:]))
        out.append((index, decode_envelope(raw)))
    return out


def decode_evm_proof(data: bytes) -> tuple[int, bytes, list[bytes], int]:
    """(block number, key, nodes, logIndex) of an EVM source's ``Proof.data`` (what ``EvmReceiptVerifier``
    takes). Raises ProofError when it does not decode."""
    try:
        number, key, nodes, log_index = eth_abi.decode(PROOF_TYPES, data)
    except Exception as exc:  # eth_abi raises several unrelated types for malformed data
        raise ProofError(f"undecodable receipt proof: {exc}") from exc
    return int(number), bytes(key), [bytes(n) for n in nodes], int(log_index)


def encode_evm_proof(block_number: int, key: bytes, nodes: Sequence[bytes], log_index: int) -> bytes:
    """The proof ``EvmReceiptVerifier`` checks: abi.encode(uint256, bytes, bytes[], uint256)."""
    return eth_abi.encode(PROOF_TYPES, [block_number, bytes(key), [bytes(n) for n in nodes], log_index])
