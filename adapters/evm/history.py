"""The EVM family's ``relayer.chain_history`` hook: which blocks a chain has, read over JSON-RPC.

Used by operator commands outside the daemon (``relayer evidence resolve`` checks whether the
history this relayer accepted is still the chain's) through ``relayer.contract.ChainHistory``.
"""

from __future__ import annotations

from adapters.evm.sync_client import SyncEvm


class EvmHistory:
    """``ChainHistory`` of one EVM JSON-RPC endpoint (blocking)."""

    def __init__(self, url: str) -> None:
        self._evm = SyncEvm(url)

    def head_number(self) -> int:
        """``eth_blockNumber``; raises RpcError/RelayerError when the endpoint fails or answers nonsense."""
        return self._evm.block_number()

    def block_hash(self, number: int) -> str | None:
        """Lowercase 0x-hex hash of block ``number`` (None when the node has none); raises like ``head_number``."""
        block = self._evm.rpc("eth_getBlockByNumber", hex(number), False)
        return str(block["hash"]).lower() if block else None

    def close(self) -> None:
        self._evm.close()


def open_history(url: str) -> EvmHistory:
    """The ``relayer.chain_history`` entry point of family ``evm``."""
    return EvmHistory(url)


__all__ = ["EvmHistory", "open_history"]
