"""A burn to release: the message an application on a source chain sends to the Litecoin custody, read and
checked before an operator signs anything for it.

The message (``Envelope.body`` of a message from an EVM chain) is the message layer's envelope,
``abi.encode(Envelope)`` (MESSAGING.md): ``(uint8 version, uint8 kind, uint64 nonce, uint64 sourceChain,
bytes32 sourceLayer, bytes32 sender, uint64 destinationChain, bytes32 destinationLayer, bytes32 recipient,
uint64 gasLimit, uint64 expiry, uint8 ackMode, bytes body)``, decoded with eth-abi and required to be the
canonical encoding. Its ``body``, burn version 1, is ``0x01 || amount in litoshis (8
bytes, big-endian) || the Litecoin address's ASCII bytes (1..90)``.

A burn is released when (:func:`authorize`): the envelope is a version 1 message (not an acknowledgement)
from the route's source chain and layer, with the id its (source chain, source layer, nonce) give; its
sender is the application configured for the source (``[chains.NAME.litecoin.burns]``); its destination
chain is this chain and its destination layer and recipient the custody's witness program; its body is a
version 1 burn of a positive amount to an address of this chain's network. The release it asks for is
``ReleaseRequest(Marker(RELEASE, message id, source chain id), address, amount)`` (a version 2 marker: the
release names the chain its acknowledgement goes back to)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import eth_abi

from relayer.errors import ContractRevert
from relayer.types import Envelope
from relayer_litecoin.address import AddressError, script_of
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.network import Network
from relayer_litecoin.release import ReleaseRequest
from relayer_litecoin.source import deposit_id

ENVELOPE_VERSION = 1
KIND_MESSAGE = 0
BURN_VERSION = 1
MAX_ADDRESS = 90
#: the ABI type of ``messaging/Envelope.sol``'s struct, and its fields in order
ENVELOPE_TYPE = "(uint8,uint8,uint64,uint64,bytes32,bytes32,uint64,bytes32,bytes32,uint64,uint64,uint8,bytes)"
FIELDS = ("version", "kind", "nonce", "source_chain", "source_layer", "sender", "destination_chain",
          "destination_layer", "recipient", "gas_limit", "expiry", "ack_mode", "body")


@dataclass(frozen=True)
class LayerEnvelope:
    """A message layer's envelope, fields as in ``messaging/Envelope.sol`` (integers, 32-byte words)."""

    version: int
    kind: int
    nonce: int
    source_chain: int
    source_layer: bytes
    sender: bytes
    destination_chain: int
    destination_layer: bytes
    recipient: bytes
    gas_limit: int
    expiry: int
    ack_mode: int
    body: bytes

    def encode(self) -> bytes:
        """abi.encode(Envelope), byte for byte what the layer emits."""
        return bytes(eth_abi.encode([ENVELOPE_TYPE], [tuple(getattr(self, name) for name in FIELDS)]))


def decode_envelope(data: bytes) -> LayerEnvelope:
    """The envelope in ``data`` (its canonical ABI encoding only). Raises ValueError naming what is wrong."""
    try:
        (fields,) = eth_abi.decode([ENVELOPE_TYPE], bytes(data))
    except Exception as exc:  # eth-abi raises several unrelated types for malformed data
        raise ValueError(f"not an encoded envelope: {type(exc).__name__}") from exc
    envelope = LayerEnvelope(**dict(zip(FIELDS, fields)))
    if envelope.encode() != data:
        raise ValueError("not the canonical encoding of an envelope")
    return envelope


def decode_burn(body: bytes, net: Network) -> tuple[int, str]:
    """(amount in litoshis, address) of a version 1 burn body to an address of ``net``. Raises ValueError
    naming what is wrong."""
    if len(body) < 10 or body[0] != BURN_VERSION:
        raise ValueError("not a version 1 burn body")
    (amount,) = struct.unpack(">Q", body[1:9])
    raw = body[9:]
    if amount == 0:
        raise ValueError("a burn of 0 litoshis")
    if len(raw) > MAX_ADDRESS or not raw.isascii():
        raise ValueError("the burn's address is not 1..90 ASCII characters")
    address = raw.decode("ascii")
    try:
        script_of(address, net)
    except AddressError as exc:
        raise ValueError(str(exc)) from exc
    return amount, address


def authorize(message: Envelope, *, src_chain_id: int, source_layer: bytes, application: bytes, chain_id: int,
              custody_program: bytes, net: Network) -> ReleaseRequest:
    """The release ``message`` (a message of the route from chain ``src_chain_id``, whose layer is
    ``source_layer``) asks for, when it is a burn to release (see the module's docstring). Pure. Raises
    ContractRevert with the reason when it is not one."""
    def refuse(reason: str) -> ContractRevert:
        return ContractRevert(f"not a burn to release: {reason}", message_id=message.id)

    try:
        e = decode_envelope(message.body)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if e.version != ENVELOPE_VERSION or e.kind != KIND_MESSAGE:
        raise refuse(f"envelope version {e.version} kind {e.kind} is not a version 1 message")
    if e.source_chain != src_chain_id or e.source_layer != source_layer.rjust(32, b"\0"):
        raise refuse("the envelope is not from the route's source chain and layer")
    if e.nonce != message.nonce or deposit_id(e.source_chain, e.source_layer, e.nonce) != message.id:
        raise refuse("the envelope's nonce and id are not the message's")
    if e.destination_chain != chain_id:
        raise refuse(f"destination chain {e.destination_chain} is not this chain's {chain_id}")
    if e.destination_layer != custody_program or e.recipient != custody_program:
        raise refuse("the destination layer or recipient is not the custody")
    if e.sender != application:
        raise ContractRevert("not a burn to release: the sender is not the configured application",
                             message_id=message.id, sender="0x" + e.sender.hex(), application="0x" + application.hex())
    try:
        amount, address = decode_burn(e.body, net)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    return ReleaseRequest(Marker(Kind.RELEASE, bytes.fromhex(message.id[2:]), src_chain_id), address, amount)


__all__ = ["LayerEnvelope", "authorize", "decode_burn", "decode_envelope"]
