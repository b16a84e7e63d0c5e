"""The EVM chain adapter: everything the core needs from an EVM JSON-RPC chain.

Reads go through one ``RpcClient`` (batched where it saves round trips); bridge events
are taken from the block's receipts, which the light client has checked against the
verified header, never from ``eth_getLogs`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from Crypto.Hash import keccak
from eth_utils import to_checksum_address

from adapters.evm.abi import Contract
from light_clients.evm.header import Header, header_from_rpc
from relayer.errors import ContractRevert, RpcAnswerError, RpcUnanswered
from relayer.rpc import MethodNotSupported, RpcClient, hex_int

KIND_BY_EVENT = {"Locked": "lock", "Burned": "burn"}


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


FEE_MODES = ("auto", "eip1559", "legacy")


@dataclass(frozen=True)
class FeeQuote:
    """EIP-1559 caps, or with ``legacy`` one gas price (``max_fee`` = ``priority_fee`` = gasPrice)."""

    max_fee: int
    priority_fee: int
    legacy: bool = False


class EvmAdapter:
    """JSON-RPC access to one EVM chain and its Bridge contract."""

    family = "evm"

    def __init__(self, name: str, chain_id: int, rpc: RpcClient, bridge: str) -> None:
        self.name = name
        self.chain_id = chain_id
        self.rpc = rpc
        self.bridge = to_checksum_address(bridge)
        self.bridge_abi = Contract.load("Bridge")
        self.lc_abi = Contract.load("CommitteeLightClient")
        self.qbft_abi = Contract.load("QbftLightClient")
        self.event_topics = {"0x" + self.bridge_abi.event_topic(n).hex(): n for n in KIND_BY_EVENT}
        self.legacy_fees: bool | None = None  # fees.mode auto: the chain's answer, probed once

    # source side ---------------------------------------------------------------
    async def head_number(self) -> int:
        """Latest block number. Raises RpcError, RpcAnswerError (every endpoint malformed)."""
        return int(await self.rpc.call("eth_blockNumber", check=lambda r: hex_int(r, "eth_blockNumber")))

    async def remote_chain_id(self) -> int:
        return int(await self.rpc.call("eth_chainId", check=lambda r: hex_int(r, "eth_chainId")))

    async def headers(self, first: int, last: int) -> list[tuple[Header, bytes]]:
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

    # destination side ------------------------------------------------------------
    async def call(self, contract: Contract, to: str, fn: str, *args: Any) -> Any:
        """eth_call at latest. Raises RpcError, ContractRevert."""
        data = "0x" + contract.encode_call(fn, *args).hex()
        result = await self.rpc.call("eth_call", {"to": to, "data": data}, "latest")
        return contract.decode_result(fn, bytes.fromhex(result[2:]))

    async def light_client_of(self, src_chain_id: int) -> str:
        return to_checksum_address(await self.call(self.bridge_abi, self.bridge, "lightClientOf", src_chain_id))

    async def remote_bridge(self, src_chain_id: int) -> str:
        return to_checksum_address(await self.call(self.bridge_abi, self.bridge, "remoteBridge", src_chain_id))

    async def light_client_policy(self, light_client: str) -> str:
        """``qbft``/``ibft2`` when the contract is a QbftLightClient, else ``committee``. Raises RpcError."""
        try:
            flavour = int(await self.call(self.qbft_abi, light_client, "flavour"))
        except ContractRevert:
            return "committee"
        return "ibft2" if flavour == 1 else "qbft"

    async def committee(self, light_client: str) -> tuple[int, list[str], int]:
        """(epoch, members ascending, threshold) of a CommitteeLightClient. Raises RpcError, ContractRevert."""
        epoch = int(await self.call(self.lc_abi, light_client, "epoch"))
        members = [to_checksum_address(m) for m in await self.call(self.lc_abi, light_client, "getMembers")]
        return epoch, members, int(await self.call(self.lc_abi, light_client, "threshold"))

    async def committee_epoch(self, light_client: str) -> int:
        return int(await self.call(self.lc_abi, light_client, "epoch"))

    async def accepted_root(self, light_client: str, number: int) -> bytes:
        """The receipts root the on-chain light client accepted at ``number`` (zero bytes if none)."""
        return bytes(await self.call(self.lc_abi, light_client, "receiptsRootOf", number))

    async def delivered_words(self, src_chain_id: int, words: list[int]) -> dict[int, int]:
        """Delivered-nonce bitmap words of the destination Bridge, in one JSON-RPC batch."""
        calls = [("eth_call", [{"to": self.bridge, "data": "0x" + self.bridge_abi.encode_call(
            "deliveredWord", src_chain_id, w).hex()}, "latest"]) for w in words]
        results = await self.rpc.batch(calls)
        return {w: int(r, 16) for w, r in zip(words, results)}

    async def pending_nonce(self, address: str) -> int:
        return hex_int(await self.rpc.call("eth_getTransactionCount", address, "pending"), "nonce")

    async def latest_nonce(self, address: str) -> int:
        return hex_int(await self.rpc.call("eth_getTransactionCount", address, "latest"), "nonce")

    async def balance(self, address: str) -> int:
        return hex_int(await self.rpc.call("eth_getBalance", address, "latest"), "balance")

    async def fee_quote(self, priority_fee_cap: int, max_fee_cap: int, mode: str = "auto") -> FeeQuote:
        """Fees for a new transaction. ``eip1559``: tip = min(node's suggestion, cap), max fee =
        2 x base fee + tip, capped. ``legacy``: gasPrice = min(eth_gasPrice, max fee cap).
        ``auto``: legacy when the latest block has no base fee (probed once, then remembered).
        Raises RpcError, RpcAnswerError."""
        if mode == "auto" and self.legacy_fees is None:
            block = await self.rpc.call("eth_getBlockByNumber", "latest", False)
            if not isinstance(block, dict):
                raise RpcAnswerError("latest block missing from eth_getBlockByNumber", chain=self.name)
            self.legacy_fees = block.get("baseFeePerGas") is None
        if mode == "legacy" or (mode == "auto" and self.legacy_fees):
            price = min(hex_int(await self.rpc.call("eth_gasPrice"), "eth_gasPrice"), max_fee_cap)
            return FeeQuote(max_fee=price, priority_fee=price, legacy=True)
        block, tip = await self.rpc.batch([("eth_getBlockByNumber", ["latest", False]),
                                           ("eth_maxPriorityFeePerGas", [])])
        base = hex_int(block.get("baseFeePerGas", "0x0"), "baseFeePerGas")
        priority = min(hex_int(tip, "eth_maxPriorityFeePerGas"), priority_fee_cap)
        return FeeQuote(max_fee=min(2 * base + priority, max_fee_cap), priority_fee=priority)

    async def estimate_gas(self, sender: str, to: str, data: bytes) -> int:
        """eth_estimateGas. Raises ContractRevert with the raw revert data, RpcError."""
        result = await self.rpc.call("eth_estimateGas", {"from": sender, "to": to, "data": "0x" + data.hex()})
        return hex_int(result, "eth_estimateGas")

    async def send_raw(self, raw: bytes) -> str:
        return str(await self.rpc.call("eth_sendRawTransaction", "0x" + raw.hex()))

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.rpc.call("eth_getTransactionReceipt", tx_hash)

    async def block_hash(self, number: int) -> str | None:
        """The hash of the canonical block ``number`` as the node reports it (None: no such block)."""
        block = await self.rpc.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"])


def _hash_bytes(value: Any, chain: str, number: int) -> bytes:
    if not isinstance(value, str) or len(value) != 66:
        raise RpcAnswerError("block hash missing or malformed", chain=chain, block=number)
    return bytes.fromhex(value[2:])
