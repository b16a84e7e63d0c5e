"""The EVM chain adapter: everything the core needs from an EVM JSON-RPC chain.

Reads go through one ``RpcClient`` (batched where it saves round trips). The source side
(``source``, an ``adapters.evm.source.EvmSource``: the contract's Source role) takes the message
layer's MessageSent events from the block's receipts, which the light client has checked against the verified
header, never from ``eth_getLogs`` alone; the methods of that side here delegate to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from adapters.evm.abi import Contract
from adapters.evm.config import LEGACY_KEYS, parse_evm_config
from adapters.evm.messaging import address_word, word_address
from adapters.evm.rpc import RpcClient, hex_int, redact_url
from adapters.evm.source import KIND_LABELS, EvmSource, SentEvent, keccak256, message_id
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.header import Header
from relayer.errors import ConfigError, ContractRevert, ProofError, RpcAnswerError

FEE_MODES = ("auto", "eip1559", "legacy")
OUTCOME_BATCH = 200  # outcomeOf calls per JSON-RPC batch (geth's default cap is 1000 calls)


@dataclass(frozen=True)
class FeeQuote:
    """EIP-1559 caps, or with ``legacy`` one gas price (``max_fee`` = ``priority_fee`` = gasPrice)."""

    max_fee: int
    priority_fee: int
    legacy: bool = False


@dataclass(frozen=True)
class Remote:
    """How a MessageLayer reaches another chain (``remoteOf``): that chain's layer (a 32-byte word),
    this chain's light client of it and the verifier of its proofs (zero when unknown)."""

    layer: bytes
    light_client: str
    verifier: str


class EvmAdapter:
    """JSON-RPC access to one EVM chain and its MessageLayer contract."""

    family = "evm"
    legacy_keys = LEGACY_KEYS  # relayer.contract.FamilyConfig: the [chains.NAME.evm] table
    parse_config = staticmethod(parse_evm_config)

    def __init__(self, name: str, chain_id: int, rpc: RpcClient, message_layer: str) -> None:
        self.name = name
        self.chain_id = chain_id
        self.rpc = rpc
        self.message_layer = to_checksum_address(message_layer)
        self.layer_abi = Contract.load("MessageLayer")
        self.lc_abi = Contract.load("CommitteeLightClient")
        self.qbft_abi = Contract.load("QbftLightClient")
        self.source = EvmSource(name, chain_id, rpc, self.message_layer)
        self.legacy_fees: bool | None = None  # fees.mode auto: the chain's answer, probed once

    @classmethod
    def connect(cls, name: str, chain_id: int, urls: tuple[str, ...], family: Any, *,
                metrics: Any = None) -> EvmAdapter:
        """The adapter of chain ``name`` as the daemon opens it: a JSON-RPC client over ``urls``
        (fail-over in order) and the message layer of the family's parsed ``[chains.NAME.evm]``
        table. Makes no request; close it with ``aclose``."""
        return cls(name, chain_id, RpcClient(name, urls, metrics=metrics), family.message_layer)

    async def aclose(self) -> None:
        """Close the JSON-RPC connections. Shielding from cancellation is the caller's choice."""
        await self.rpc.aclose()

    def endpoints(self) -> list[dict[str, Any]]:
        """The health of each RPC endpoint for ``relayer status`` (credentials in URLs redacted)."""
        return [{"url": redact_url(h.url), "state": h.state, "requests": h.requests, "errors": h.errors}
                for h in self.rpc.health.values()]

    @property
    def source_layer(self) -> bytes:
        """The message layer's address as a 32-byte word (relayer.contract.ChainAdapter). Raises nothing."""
        return address_word(self.message_layer)

    # source side (see EvmSource) ------------------------------------------------------
    @staticmethod
    def fetch_block(url: str, tag: str) -> dict[str, Any] | None:
        """``eth_getBlockByNumber(tag, false)`` at ``url`` for ``relayer header verify --rpc`` (None: the
        node knows no such block). Raises RpcError, RpcAnswerError."""
        with SyncEvm(url) as rpc:
            block: dict[str, Any] | None = rpc.rpc("eth_getBlockByNumber", tag, False)
        return block

    async def head_number(self) -> int:
        """Latest block number. Raises RpcError, RpcAnswerError (every endpoint malformed)."""
        return await self.source.head_number()

    async def remote_chain_id(self) -> int:
        return int(await self.rpc.call("eth_chainId", check=lambda r: hex_int(r, "eth_chainId")))

    async def headers(self, first: int, last: int) -> list[tuple[Header, bytes]]:
        """Headers ``first..last`` with the hash the RPC claims for each. Raises RpcError, RpcAnswerError."""
        return await self.source.header_pairs(first, last)

    async def layer_log_blocks(self, first: int, last: int) -> dict[int, str]:
        """Blocks in ``first..last`` holding MessageSent events per eth_getLogs: number -> block hash."""
        return await self.source.layer_log_blocks(first, last)

    async def block_receipts(self, number: int) -> list[dict[str, Any]]:
        """All receipts of a block (unchecked). Raises RpcError, RpcAnswerError."""
        return await self.source.block_receipts(number)

    def layer_events(self, receipts: list[dict[str, Any]]) -> list[SentEvent]:
        """MessageSent events of this chain's layer in (already verified) receipts. Raises RpcAnswerError."""
        return self.source.layer_events(receipts)

    # destination side ------------------------------------------------------------
    async def call(self, contract: Contract, to: str, fn: str, *args: Any) -> Any:
        """eth_call at latest. Raises RpcError, ContractRevert."""
        data = "0x" + contract.encode_call(fn, *args).hex()
        result = await self.rpc.call("eth_call", {"to": to, "data": data}, "latest")
        return contract.decode_result(fn, bytes.fromhex(result[2:]))

    async def remote_of(self, chain_id: int) -> Remote:
        """How this chain's layer reaches chain ``chain_id`` (``remoteOf``; all zero when unknown).
        Raises RpcError, ContractRevert."""
        layer, light_client, verifier = await self.call(self.layer_abi, self.message_layer, "remoteOf", chain_id)
        return Remote(bytes(layer), to_checksum_address(light_client), to_checksum_address(verifier))

    async def light_client_of(self, src_chain_id: int) -> str:
        """This chain's light client of chain ``src_chain_id`` per the layer (the zero address when
        unknown). Raises RpcError, ContractRevert."""
        return (await self.remote_of(src_chain_id)).light_client

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        """For the route from ``source`` (the source chain's adapter) to this chain: the address of
        the source's light client on this chain and the name of its update policy (an entry of
        ``relayer.update_policies``). Raises ConfigError naming ``key`` when this layer knows no
        remote for the source, or the source's ``chains.NAME.evm.message_layer`` when this layer
        trusts another layer there; RpcError while the chain does not answer (the daemon retries)."""
        remote = await self.remote_of(source.chain_id)
        if int(remote.light_client, 16) == 0 or int(remote.verifier, 16) == 0:
            raise ConfigError(key, f"the message layer on {self.name} ({self.message_layer}) has no remote "
                                   f"registered for {source.name} (chain id {source.chain_id}): setRemote is missing")
        if remote.layer != source.source_layer:
            try:
                trusted = word_address(remote.layer)
            except ProofError:
                trusted = "0x" + remote.layer.hex()
            if isinstance(source, EvmAdapter):
                raise ConfigError(f"chains.{source.name}.evm.message_layer",
                                  f"the message layer on {self.name} trusts {trusted} for {source.name}, "
                                  f"not {source.message_layer}")
            raise ConfigError(key, f"the message layer on {self.name} trusts 0x{remote.layer.hex()} as the layer "
                                   f"of {source.name}, not its 0x{source.source_layer.hex()}")
        return remote.light_client, await self.light_client_policy(remote.light_client)

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
        members: list[str] = [to_checksum_address(m) for m in await self.call(self.lc_abi, light_client, "getMembers")]
        return epoch, members, int(await self.call(self.lc_abi, light_client, "threshold"))

    async def committee_epoch(self, light_client: str) -> int:
        return int(await self.call(self.lc_abi, light_client, "epoch"))

    async def accepted_root(self, light_client: str, number: int) -> bytes:
        """The receipts root the on-chain light client accepted at ``number`` (zero bytes if none)."""
        return bytes(await self.call(self.lc_abi, light_client, "receiptsRootOf", number))

    async def outcomes_of(self, src_chain_id: int, src_layer: bytes, nonces: list[int]) -> dict[int, int]:
        """``outcomeOf`` of each nonce of the layer ``src_layer`` (a 32-byte word) of chain
        ``src_chain_id`` as this chain's layer recorded it (0 not processed, 1 delivered, 2 failed,
        3 expired), in JSON-RPC batches of at most OUTCOME_BATCH calls (nodes cap a batch's size; a
        backlog may hold thousands of messages). Raises RpcError, RpcAnswerError; cancelled: no effect."""
        def parse(results: list[Any]) -> list[int]:
            try:
                return [int(r, 16) for r in results]
            except (TypeError, ValueError) as exc:
                raise RpcAnswerError(f"outcomeOf answer is not a number: {exc}", chain=self.name) from exc

        out: dict[int, int] = {}
        for start in range(0, len(nonces), OUTCOME_BATCH):
            part = nonces[start:start + OUTCOME_BATCH]
            calls = [("eth_call", [{"to": self.message_layer, "data": "0x" + self.layer_abi.encode_call(
                "outcomeOf", src_chain_id, src_layer, n).hex()}, "latest"]) for n in part]
            out.update(zip(part, await self.rpc.batch(calls, check=parse)))
        return out

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
        receipt: dict[str, Any] | None = await self.rpc.call("eth_getTransactionReceipt", tx_hash)
        return receipt

    async def block_hash(self, number: int) -> str | None:
        """The hash of the canonical block ``number`` as the node reports it (None: no such block)."""
        block = await self.rpc.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"])


__all__ = ["FEE_MODES", "KIND_LABELS", "OUTCOME_BATCH", "EvmAdapter", "FeeQuote", "Remote", "SentEvent", "keccak256",
           "message_id"]
