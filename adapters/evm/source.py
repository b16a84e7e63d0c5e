"""The EVM family's ``Source`` (``relayer.contract``): heads, headers, and the bridge's
messages in verified blocks, with their receipt proofs.

Per scan range the follower asks for the headers (one JSON-RPC batch), then which blocks may
hold bridge events (one ``eth_getLogs``, plus every block whose logsBloom admits the bridge's
Locked/Burned logs: a block ``eth_getLogs`` hid is read anyway), then each such block's receipts
(``eth_getBlockReceipts``), which the light client checks against the header's receiptsRoot and
logsBloom before the messages are decoded from them.

A message's ``body`` is ``abi.encode(string kind, address token, address sender, address
recipient, uint256 amount)``; its ``locator`` is ``abi.encode(bytes32 txHash, uint256 txIndex,
uint256 logIndex)`` (the log's index within its receipt); ``decode_body``/``decode_locator``
read them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from Crypto.Hash import keccak
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from adapters.evm.abi import Contract
from adapters.evm.proof import build_receipt_proofs, verify_receipt_proof
from adapters.evm.rpc import MethodNotSupported, RpcClient, hex_int
from light_clients.evm.header import Header, header_from_rpc
from light_clients.evm.receipts import bloom_of, receipts_root
from relayer.contract import BlockContents, CandidateHeader, Proof, ScanHints, VerifiedHeader
from relayer.errors import RpcAnswerError, RpcUnanswered, VerificationError
from relayer.types import Envelope, MessageId

log = structlog.get_logger("adapters.evm.source")

KIND_BY_EVENT = {"Locked": "lock", "Burned": "burn"}
BODY_TYPES = ["string", "address", "address", "address", "uint256"]
LOCATOR_TYPES = ["bytes32", "uint256", "uint256"]


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def message_id(src_chain_id: int, src_bridge: str, nonce: int) -> str:
    """keccak256(abi.encodePacked(uint64 srcChainId, address srcBridge, uint64 nonce)), 0x-hex."""
    packed = src_chain_id.to_bytes(8, "big") + bytes.fromhex(src_bridge[2:]) + nonce.to_bytes(8, "big")
    return "0x" + keccak256(packed).hex()


@dataclass(frozen=True)
class BridgeEvent:
    """A Locked or Burned log found in a verified receipt."""

    kind: str
    nonce: int
    src_chain_id: int
    dst_chain_id: int
    token: str
    sender: str
    recipient: str
    amount: int
    tx_hash: str
    tx_index: int
    log_index: int  # index of the log within its receipt


def encode_body(event: BridgeEvent) -> bytes:
    return abi_encode(BODY_TYPES, [event.kind, event.token, event.sender, event.recipient, event.amount])


def decode_body(body: bytes) -> dict[str, Any]:
    """``{"kind", "token", "sender", "recipient", "amount"}`` of a message body (addresses checksummed)."""
    kind, token, sender, recipient, amount = abi_decode(BODY_TYPES, body)
    return {"kind": kind, "token": to_checksum_address(token), "sender": to_checksum_address(sender),
            "recipient": to_checksum_address(recipient), "amount": int(amount)}


def encode_locator(tx_hash: str, tx_index: int, log_index: int) -> bytes:
    return abi_encode(LOCATOR_TYPES, [bytes.fromhex(tx_hash[2:]), tx_index, log_index])


def decode_locator(locator: bytes) -> tuple[str, int, int]:
    """(transaction hash 0x-hex, transaction index, log index within the receipt)."""
    tx_hash, tx_index, log_index = abi_decode(LOCATOR_TYPES, locator)
    return "0x" + bytes(tx_hash).hex(), int(tx_index), int(log_index)


def proof_data(key: bytes, nodes: Sequence[bytes], log_index: int) -> bytes:
    """A message's proof as ``deliverBatch`` takes it besides the block number: (key, nodes, logIndex)."""
    return abi_encode(["bytes", "bytes[]", "uint256"], [key, list(nodes), log_index])


class EvmSource:
    """One EVM chain and its Bridge contract, read as the origin of messages."""

    def __init__(self, name: str, chain_id: int, rpc: RpcClient, bridge: str,
                 bridge_abi: Contract | None = None) -> None:
        self.name = name
        self.chain_id = chain_id
        self.rpc = rpc
        self.bridge = to_checksum_address(bridge)
        self.bridge_abi = bridge_abi or Contract.load("Bridge")
        self.event_topics = {"0x" + self.bridge_abi.event_topic(n).hex(): n for n in KIND_BY_EVENT}
        self._bridge_bytes = bytes.fromhex(self.bridge[2:])
        self._topic_bytes = [bytes.fromhex(t[2:]) for t in self.event_topics]
        self._reported: frozenset[int] = frozenset()  # blocks eth_getLogs named in the last scan range

    # the contract -------------------------------------------------------------------
    async def head_number(self) -> int:
        """Latest block number. Raises RpcError, RpcAnswerError (every endpoint malformed)."""
        return int(await self.rpc.call("eth_blockNumber", check=lambda r: hex_int(r, "eth_blockNumber")))

    async def headers(self, first: int, last: int) -> list[CandidateHeader]:
        """Headers ``first..last`` with the hash the RPC claims. Raises RpcError, RpcAnswerError."""
        return [CandidateHeader(h.number, claimed, h.rlp, h) for h, claimed in await self.header_pairs(first, last)]

    async def scan_hints(self, first: int, last: int, headers: Mapping[int, VerifiedHeader]) -> ScanHints:
        """Blocks eth_getLogs names for the bridge's events, and every block whose logsBloom admits
        them. Raises VerificationError when eth_getLogs names a block that is not the verified one;
        RpcError, RpcAnswerError."""
        reported = await self.bridge_log_blocks(first, last)
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
        """The Locked/Burned events of checked receipts, as envelopes to the routed destinations
        (others are logged ``event.unroutable`` and left out); events in a block eth_getLogs did not
        name in the last ``scan_hints`` raise the ``logs.hidden`` alarm. Raises RpcAnswerError."""
        out = []
        events = self.bridge_events(contents.data)
        if events and header.number not in self._reported:
            log.error("logs.hidden", chain=self.name, block=header.number, events=len(events), alarm=True,
                      action="eth_getLogs of this RPC hid bridge events that the verified receipts hold; "
                             "the events are relayed anyway, but check or replace the endpoint")
        for event in events:
            dst = destinations.get(event.dst_chain_id)
            if event.src_chain_id != self.chain_id or dst is None:
                log.warning("event.unroutable", chain=self.name, nonce=event.nonce,
                            dst_chain_id=event.dst_chain_id, block=header.number)
                continue
            out.append(self._envelope(header, event, dst))
        return out

    def prove(self, header: VerifiedHeader, contents: BlockContents, messages: Sequence[Envelope]) -> list[Proof]:
        """Receipt proofs of the messages' receipts under the header's receiptsRoot, each walked as
        the on-chain verifier does. Raises VerificationError (the receipts are not the block's),
        ProofError, RpcAnswerError."""
        if receipts_root(contents.data) != header.commitment:
            raise VerificationError("receipts no longer match the verified header", chain=self.name,
                                    block=header.number)
        located = [(m, decode_locator(m.locator)) for m in messages]
        built = build_receipt_proofs(contents.data, {tx_index for _, (_, tx_index, _) in located})
        out = []
        for m, (_, tx_index, log_index) in located:
            proof = built[tx_index]
            verify_receipt_proof(header.commitment, proof)
            out.append(Proof(m.id, header.number, proof_data(proof.key, proof.nodes, log_index)))
        return out

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

    async def bridge_log_blocks(self, first: int, last: int) -> dict[int, str]:
        """Blocks in ``first..last`` holding bridge events per eth_getLogs: number -> block hash."""
        def parse(logs: Any) -> dict[int, str]:
            if not isinstance(logs, list) or not all(isinstance(lg, dict) for lg in logs):
                raise RpcAnswerError("eth_getLogs answer is not a list of logs", chain=self.name)
            return {hex_int(lg.get("blockNumber"), "log.blockNumber"): lg.get("blockHash") for lg in logs}

        result: dict[int, str] = await self.rpc.call("eth_getLogs", {
            "fromBlock": hex(first), "toBlock": hex(last), "address": self.bridge,
            "topics": [list(self.event_topics)]}, check=parse)
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
        """True when a header's logsBloom admits a Locked/Burned log of our bridge (a bloom never
        misses a log that is there, so a block it rules out needs no receipts)."""
        return _bloom_contains(bloom, self._bridge_bytes) and any(
            _bloom_contains(bloom, topic) for topic in self._topic_bytes)

    def bridge_events(self, receipts: list[dict[str, Any]]) -> list[BridgeEvent]:
        """Locked/Burned events of this chain's Bridge in (already verified) receipts."""
        events = []
        for receipt in receipts:
            for index, lg in enumerate(receipt.get("logs") or []):
                event = self._decode_event(receipt, index, lg)
                if event is not None:
                    events.append(event)
        return events

    def _decode_event(self, receipt: dict[str, Any], index: int, lg: dict[str, Any]) -> BridgeEvent | None:
        topics = lg.get("topics") or []
        if not topics or str(lg.get("address", "")).lower() != self.bridge.lower():
            return None
        name = self.event_topics.get(str(topics[0]).lower())
        if name is None:
            return None
        decoded = self.bridge_abi.decode_log(lg)
        if decoded is None:
            raise RpcAnswerError("undecodable bridge log", chain=self.name, tx=receipt.get("transactionHash"))
        f = decoded[1]
        return BridgeEvent(kind=KIND_BY_EVENT[name], nonce=f["nonce"], src_chain_id=f["srcChainId"],
                           dst_chain_id=f["dstChainId"], token=to_checksum_address(f["token"]),
                           sender=to_checksum_address(f["sender"]),
                           recipient=to_checksum_address(f["recipient"]), amount=f["amount"],
                           tx_hash=receipt["transactionHash"],
                           tx_index=hex_int(receipt.get("transactionIndex"), "transactionIndex"),
                           log_index=index)

    def _envelope(self, header: VerifiedHeader, event: BridgeEvent, dst: str) -> Envelope:
        return Envelope(id=MessageId(message_id(self.chain_id, self.bridge, event.nonce)), src_chain=self.name,
                        dst_chain=dst, nonce=event.nonce, block_number=header.number, block_hash=header.hash,
                        body=encode_body(event), locator=encode_locator(event.tx_hash, event.tx_index,
                                                                        event.log_index),
                        labels={"kind": event.kind, "tx": event.tx_hash, "amount": str(event.amount)})


def _bloom_contains(bloom: bytes, item: bytes) -> bool:
    probe = bloom_of([item])
    return all((a & b) == b for a, b in zip(bloom, probe))


def _hash_bytes(value: Any, chain: str, number: int) -> bytes:
    if not isinstance(value, str) or len(value) != 66:
        raise RpcAnswerError("block hash missing or malformed", chain=chain, block=number)
    return bytes.fromhex(value[2:])


__all__ = ["BridgeEvent", "EvmSource", "KIND_BY_EVENT", "decode_body", "decode_locator", "encode_body",
           "encode_locator", "message_id", "proof_data"]
