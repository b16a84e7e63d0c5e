"""The EVM family's ``Source`` (``relayer.contract``): heads, headers, and the message layer's
envelopes in verified blocks, with their receipt proofs.

Per scan range the follower asks for the headers (one JSON-RPC batch), then which blocks may
hold ``MessageSent`` events of the chain's MessageLayer (one ``eth_getLogs``, plus every block whose
logsBloom admits them: a block ``eth_getLogs`` hid is read anyway), then each such block's receipts
(``eth_getBlockReceipts``), which the light client checks against the header's receiptsRoot and
logsBloom before the envelopes are decoded from them.

A message's ``body`` is the envelope exactly as ``MessageSent(bytes32 indexed id, bytes envelope)``
carries it (``abi.encode(Envelope)``, read back by ``adapters.evm.messaging.decode_envelope``); its
``id`` is ``keccak256(abi.encode(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce))``, checked
equal to the event's indexed id; its ``locator`` is ``abi.encode(bytes32 txHash, uint256 txIndex,
uint256 logIndex)`` (the log's index within its receipt, ``decode_locator`` reads it back). A proof
(``Proof.data``) is what ``EvmReceiptVerifier`` takes: ``abi.encode(uint256 blockNumber, bytes key,
bytes[] nodes, uint256 logIndex)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
import structlog
from Crypto.Hash import keccak
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address

from adapters.evm.display import app_labels
from adapters.evm.messaging import (
    KIND_ACK,
    KIND_MESSAGE,
    MESSAGE_SENT_TOPIC,
    address_word,
    decode_ack_body,
    decode_envelope,
    decode_evm_proof,
    encode_evm_proof,
)
from adapters.evm.messaging import Envelope as LayerEnvelope
from adapters.evm.messaging import message_id as layer_message_id
from adapters.evm.proof import build_receipt_proofs, receipt_logs, verify_receipt_proof, walk_proof
from adapters.evm.rpc import MethodNotSupported, RpcClient, hex_int
from light_clients.evm.header import Header, header_from_rpc
from light_clients.evm.receipts import bloom_of, receipts_root
from relayer.contract import BlockContents, CandidateHeader, Proof, ScanHints, VerifiedHeader
from relayer.errors import ProofError, RpcAnswerError, RpcUnanswered, VerificationError
from relayer.types import Envelope, MessageId

log = structlog.get_logger("adapters.evm.source")

KIND_LABELS = {KIND_MESSAGE: "message", KIND_ACK: "ack"}
LOCATOR_TYPES = ["bytes32", "uint256", "uint256"]
MESSAGE_SENT = "0x" + MESSAGE_SENT_TOPIC.hex()


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def message_id(src_chain_id: int, src_layer: str, nonce: int) -> str:
    """The id of envelope ``nonce`` of the MessageLayer at ``src_layer`` on chain ``src_chain_id``:
    keccak256(abi.encode(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce)), 0x-hex."""
    return "0x" + layer_message_id(src_chain_id, address_word(src_layer), nonce).hex()


@dataclass(frozen=True)
class SentEvent:
    """A ``MessageSent`` log of the layer found in a verified receipt."""

    envelope: LayerEnvelope
    raw: bytes  # the envelope bytes exactly as the event carries them
    event_id: bytes  # the event's indexed id (topic 1)
    tx_hash: str
    tx_index: int
    log_index: int  # index of the log within its receipt

    @property
    def kind(self) -> str:
        return KIND_LABELS.get(self.envelope.kind, str(self.envelope.kind))


def encode_locator(tx_hash: str, tx_index: int, log_index: int) -> bytes:
    return abi_encode(LOCATOR_TYPES, [bytes.fromhex(tx_hash[2:]), tx_index, log_index])


def decode_locator(locator: bytes) -> tuple[str, int, int]:
    """(transaction hash 0x-hex, transaction index, log index within the receipt)."""
    tx_hash, tx_index, log_index = abi_decode(LOCATOR_TYPES, locator)
    return "0x" + bytes(tx_hash).hex(), int(tx_index), int(log_index)


class EvmSource:
    """One EVM chain and its MessageLayer contract, read as the origin of messages."""

    def __init__(self, name: str, chain_id: int, rpc: RpcClient, message_layer: str) -> None:
        self.name = name
        self.chain_id = chain_id
        self.rpc = rpc
        self.message_layer = to_checksum_address(message_layer)
        self.layer_word = address_word(self.message_layer)
        self._layer_bytes = bytes.fromhex(self.message_layer[2:])
        self._reported: frozenset[int] = frozenset()  # blocks eth_getLogs named in the last scan range

    # the contract -------------------------------------------------------------------
    async def head_number(self) -> int:
        """Latest block number. Raises RpcError, RpcAnswerError (every endpoint malformed)."""
        return int(await self.rpc.call("eth_blockNumber", check=lambda r: hex_int(r, "eth_blockNumber")))

    async def headers(self, first: int, last: int) -> list[CandidateHeader]:
        """Headers ``first..last`` with the hash the RPC claims. Raises RpcError, RpcAnswerError."""
        return [CandidateHeader(h.number, claimed, h.rlp, h) for h, claimed in await self.header_pairs(first, last)]

    async def scan_hints(self, first: int, last: int, headers: Mapping[int, VerifiedHeader]) -> ScanHints:
        """Blocks eth_getLogs names for the layer's MessageSent events, and every block whose
        logsBloom admits them. Raises VerificationError when eth_getLogs names a block that is not the verified one;
        RpcError, RpcAnswerError."""
        reported = await self.layer_log_blocks(first, last)
        for number, block_hash in reported.items():
            known = headers.get(number)
            if known is None or block_hash is None or bytes.fromhex(block_hash[2:]) != known.hash:
                raise VerificationError("eth_getLogs names a block that is not the verified one",
                                        chain=self.name, block=number)
        in_bloom = {n for n, v in headers.items() if self.bloom_may_hold_events(v.native.logs_bloom)}
        self._reported = frozenset(reported)
        return ScanHints(candidates=frozenset(reported) | frozenset(in_bloom), reported=frozenset(reported))

    async def block_contents(self, header: VerifiedHeader) -> BlockContents:
        """The block's receipts (unchecked). Raises RpcError, RpcAnswerError."""
        return BlockContents(header.number, header.hash, await self.block_receipts(header.number))

    def messages(self, header: VerifiedHeader, contents: BlockContents,
                 destinations: Mapping[int, str]) -> list[Envelope]:
        """The layer's MessageSent envelopes (messages and acknowledgements) of checked receipts, to
        the routed destinations by the envelope's destinationChain (others are logged
        ``event.unroutable`` and left out); events in a block eth_getLogs did not name in the last
        ``scan_hints`` raise the ``logs.hidden`` alarm. Raises RpcAnswerError naming chain and block
        when an event does not decode or its indexed id is not the envelope's."""
        out = []
        events = self.layer_events(contents.data, header.number)
        if events and header.number not in self._reported:
            log.error("logs.hidden", chain=self.name, block=header.number, events=len(events), alarm=True,
                      action="eth_getLogs of this RPC hid MessageSent events that the verified receipts hold; "
                             "the messages are relayed anyway, but check or replace the endpoint")
        for event in events:
            e = event.envelope
            dst = destinations.get(e.destination_chain)
            if e.source_chain != self.chain_id or bytes(e.source_layer) != self.layer_word or dst is None:
                log.warning("event.unroutable", chain=self.name, nonce=e.nonce, kind=event.kind,
                            dst_chain_id=e.destination_chain, block=header.number, tx=event.tx_hash)
                continue
            out.append(self._envelope(header, event, dst))
        return out

    def prove(self, header: VerifiedHeader, contents: BlockContents, messages: Sequence[Envelope]) -> list[Proof]:
        """Receipt proofs of the messages' receipts under the header's receiptsRoot, each walked as
        the on-chain verifier does, encoded as ``EvmReceiptVerifier`` takes them. Raises
        VerificationError (the receipts are not the block's), ProofError, RpcAnswerError."""
        if receipts_root(contents.data) != header.commitment:
            raise VerificationError("receipts no longer match the verified header", chain=self.name,
                                    block=header.number)
        located = [(m, decode_locator(m.locator)) for m in messages]
        built = build_receipt_proofs(contents.data, {tx_index for _, (_, tx_index, _) in located})
        out = []
        for m, (_, tx_index, log_index) in located:
            proof = built[tx_index]
            verify_receipt_proof(header.commitment, proof)
            out.append(Proof(m.id, header.number, encode_evm_proof(header.number, proof.key, proof.nodes, log_index)))
        return out

    def verify(self, header: VerifiedHeader, proof: Proof, destinations: Mapping[int, str]) -> Envelope:
        """The envelope an ``EvmReceiptVerifier`` proof shows under ``header`` (relayer.contract.Source.verify),
        walked as the on-chain verifier walks it: the receipt at the proof's key under the header's
        receiptsRoot, its log at the proof's index a MessageSent of this chain's layer, routed to one of
        ``destinations``. The locator's transaction hash is zero (a receipt does not carry it). Pure.
        Raises ProofError naming what does not hold."""
        number, key, nodes, log_index = decode_evm_proof(proof.data)
        if number != header.number:
            raise ProofError(f"the proof is of block {number}, not {header.number}", chain=self.name)
        receipt = walk_proof(header.commitment, key, nodes)
        try:
            tx_index = rlp.decode(key, sedes=rlp.sedes.big_endian_int)
            logs = receipt_logs(receipt)
        except (rlp.exceptions.RLPException, ValueError) as exc:
            raise ProofError(f"the proven receipt does not decode: {exc}", chain=self.name,
                             block=number) from exc
        if not 0 <= log_index < len(logs):
            raise ProofError(f"the receipt has no log {log_index}", chain=self.name, block=number)
        try:
            event = self._decode_event({"transactionHash": "0x" + "00" * 32, "transactionIndex": hex(tx_index)},
                                       log_index, logs[log_index], number)
        except RpcAnswerError as exc:
            raise ProofError(str(exc), chain=self.name, block=number) from exc
        if event is None:
            raise ProofError(f"log {log_index} is no MessageSent of {self.message_layer}", chain=self.name,
                             block=number)
        e = event.envelope
        dst = destinations.get(e.destination_chain)
        if e.source_chain != self.chain_id or bytes(e.source_layer) != self.layer_word or dst is None:
            raise ProofError("the message is not this chain's layer's to a routed chain", chain=self.name,
                             block=number, dst_chain_id=e.destination_chain)
        return self._envelope(header, event, dst)

    # JSON-RPC reads (also used by EvmAdapter) ------------------------------------------
    async def header_pairs(self, first: int, last: int) -> list[tuple[Header, bytes]]:
        """Headers ``first..last`` with the hash the RPC claims for each. An endpoint answering a null
        block (it lags) or a malformed one rests and the next is asked. Raises RpcError, RpcAnswerError."""
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, last + 1)]

        def parse(blocks: list[Any]) -> list[tuple[Header, bytes]]:
            out = []
            for number, block in zip(range(first, last + 1), blocks):
                if block is None:
                    raise RpcUnanswered("the endpoint has no block (it lags)", chain=self.name, block=number)
                if not isinstance(block, dict):
                    raise RpcAnswerError("eth_getBlockByNumber answer is not a block", chain=self.name, block=number)
                header = header_from_rpc(block)
                if header.number != number:
                    raise RpcAnswerError(f"eth_getBlockByNumber answered block {header.number}", chain=self.name,
                                         block=number)
                out.append((header, _hash_bytes(block.get("hash"), self.name, number)))
            return out

        result: list[tuple[Header, bytes]] = await self.rpc.batch(calls, check=parse)
        return result

    async def layer_log_blocks(self, first: int, last: int) -> dict[int, str]:
        """Blocks in ``first..last`` holding MessageSent events of the layer per eth_getLogs: number ->
        block hash. Raises RpcError, RpcAnswerError."""
        def parse(logs: Any) -> dict[int, str]:
            if not isinstance(logs, list) or not all(isinstance(lg, dict) for lg in logs):
                raise RpcAnswerError("eth_getLogs answer is not a list of logs", chain=self.name)
            return {hex_int(lg.get("blockNumber"), "log.blockNumber"): lg.get("blockHash") for lg in logs}

        result: dict[int, str] = await self.rpc.call("eth_getLogs", {
            "fromBlock": hex(first), "toBlock": hex(last), "address": self.message_layer,
            "topics": [[MESSAGE_SENT]]}, check=parse)
        return result

    async def block_receipts(self, number: int) -> list[dict[str, Any]]:
        """All receipts of a block: eth_getBlockReceipts, or where no endpoint serves it (Hardhat,
        older nodes; learnt once per endpoint) eth_getTransactionReceipt of each of the block's
        transactions in one JSON-RPC batch. The caller checks them against the verified header. An
        endpoint answering null (it lags) or no list of receipts rests and the next is asked.
        Raises RpcError, RpcAnswerError."""
        def parse(receipts: Any) -> list[dict[str, Any]]:
            if receipts is None:
                raise RpcUnanswered("the endpoint has no receipts for the block (it lags)", chain=self.name,
                                    block=number)
            if not isinstance(receipts, list) or not all(isinstance(r, dict) for r in receipts):
                raise RpcAnswerError("block receipts answer is not a list of receipts", chain=self.name,
                                     block=number)
            return receipts

        if self.rpc.supports("eth_getBlockReceipts"):
            try:
                result: list[dict[str, Any]] = await self.rpc.call("eth_getBlockReceipts", hex(number), check=parse)
                return result
            except MethodNotSupported:
                pass
        return parse(await self._receipts_by_transaction(number))

    async def _receipts_by_transaction(self, number: int) -> list[Any]:
        block = await self.rpc.call("eth_getBlockByNumber", hex(number), False)
        if not isinstance(block, dict) or not isinstance(block.get("transactions"), list):
            raise RpcAnswerError("block missing from eth_getBlockByNumber", chain=self.name, block=number)
        return await self.rpc.batch([("eth_getTransactionReceipt", [tx]) for tx in block["transactions"]])

    # decoding -------------------------------------------------------------------------
    def bloom_may_hold_events(self, bloom: bytes) -> bool:
        """True when a header's logsBloom admits a MessageSent log of our layer (a bloom never
        misses a log that is there, so a block it rules out needs no receipts)."""
        return _bloom_contains(bloom, self._layer_bytes) and _bloom_contains(bloom, MESSAGE_SENT_TOPIC)

    def layer_events(self, receipts: list[dict[str, Any]], block: int | None = None) -> list[SentEvent]:
        """MessageSent events of this chain's layer in (already verified) receipts, in order. Raises
        RpcAnswerError naming the chain and ``block`` when one does not decode or its indexed id is not
        the id of the envelope it carries."""
        events = []
        for receipt in receipts:
            for index, lg in enumerate(receipt.get("logs") or []):
                event = self._decode_event(receipt, index, lg, block)
                if event is not None:
                    events.append(event)
        return events

    def _decode_event(self, receipt: dict[str, Any], index: int, lg: dict[str, Any],
                      block: int | None) -> SentEvent | None:
        topics = lg.get("topics") or []
        if not topics or str(lg.get("address", "")).lower() != self.message_layer.lower():
            return None
        if str(topics[0]).lower() != MESSAGE_SENT:
            return None
        tx = receipt.get("transactionHash")
        try:
            if len(topics) != 2:
                raise ValueError(f"{len(topics)} topics")
            (raw,) = abi_decode(["bytes"], bytes.fromhex(str(lg.get("data", "0x"))[2:]))
            envelope = decode_envelope(raw)
            event_id = bytes.fromhex(str(topics[1])[2:])
        except (DecodingError, ProofError, ValueError, TypeError) as exc:
            raise RpcAnswerError(f"undecodable MessageSent log: {exc}", chain=self.name, block=block, tx=tx) from exc
        if event_id != envelope.id:
            raise RpcAnswerError("MessageSent's indexed id is not the id of the envelope it carries",
                                 chain=self.name, block=block, tx=tx, event_id="0x" + event_id.hex(),
                                 envelope_id="0x" + envelope.id.hex())
        return SentEvent(envelope=envelope, raw=bytes(raw), event_id=event_id, tx_hash=str(tx),
                         tx_index=hex_int(receipt.get("transactionIndex"), "transactionIndex"), log_index=index)

    def _envelope(self, header: VerifiedHeader, event: SentEvent, dst: str) -> Envelope:
        e = event.envelope
        acknowledges = None
        if e.kind == KIND_ACK:
            try:
                original, _, _ = decode_ack_body(e.body)
            except ProofError as exc:
                raise RpcAnswerError(f"undecodable acknowledgement: {exc}", chain=self.name, block=header.number,
                                     tx=event.tx_hash) from exc
            acknowledges = MessageId("0x" + original.hex())
        labels = {"kind": event.kind, "tx": event.tx_hash}
        if e.kind == KIND_MESSAGE:
            labels.update(app_labels(e.body))
        return Envelope(id=MessageId("0x" + event.event_id.hex()), src_chain=self.name, dst_chain=dst,
                        nonce=e.nonce, block_number=header.number, block_hash=header.hash, body=event.raw,
                        locator=encode_locator(event.tx_hash, event.tx_index, event.log_index),
                        labels=labels, acknowledges=acknowledges)


def _bloom_contains(bloom: bytes, item: bytes) -> bool:
    probe = bloom_of([item])
    return all((a & b) == b for a, b in zip(bloom, probe))


def _hash_bytes(value: Any, chain: str, number: int) -> bytes:
    if not isinstance(value, str) or len(value) != 66:
        raise RpcAnswerError("block hash missing or malformed", chain=chain, block=number)
    return bytes.fromhex(value[2:])


__all__ = ["KIND_LABELS", "EvmSource", "SentEvent", "decode_locator", "encode_locator", "keccak256", "message_id"]
