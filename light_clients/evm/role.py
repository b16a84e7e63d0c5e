"""The ``relayer.contract.LightClient`` role for light clients of chains with EVM headers
(plain EVM, QBFT, IBFT 2.0, Clique), on top of each client's own API
(``verify_header``/``accept_range``/``check_misbehaviour``, which their tests and
``relayer header verify`` use directly).

A source of the EVM family hands the light client ``CandidateHeader``s whose ``native`` is a
``light_clients.evm.header.Header`` and ``BlockContents`` whose ``data`` is the block's list of
JSON-RPC receipts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from light_clients.evm.header import Header, decode_header
from light_clients.evm.receipts import check_receipts
from relayer.contract import BlockContents, CandidateHeader, SetChange, VerifiedHeader


def verified(header: Header, block_hash: bytes) -> VerifiedHeader:
    """The neutral view of a header whose hash (by the chain's rule) is ``block_hash``."""
    return VerifiedHeader(number=header.number, hash=block_hash, parent_hash=header.parent_hash,
                          commitment=header.receipts_root, timestamp=header.timestamp, encoded=header.rlp,
                          native=header)


class EvmHeaderRole:
    """Mixin: the contract's LightClient methods for a client with ``confirmations``,
    ``verify_header(header, claimed) -> hash`` and ``accept_range(headers)`` (and, for chains
    with seals, ``check_misbehaviour(a, b)``)."""

    confirmations: int

    @property
    def lookahead(self) -> int:
        """1 with finality by confirmations (a header is taken once its child links to it), else 0."""
        return 1 if self.confirmations > 0 else 0

    @property
    def proves_equivocation(self) -> bool:
        """True for clients that judge seals (they have ``check_misbehaviour``)."""
        return callable(getattr(self, "check_misbehaviour", None))

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """``verify_header`` of the native header against the claimed hash. Raises VerificationError
        (MisbehaviourError for a validly sealed conflicting header)."""
        native: Header = header.native
        client: Any = self
        return verified(native, client.verify_header(native, header.claimed_hash))

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """Chains without an on-chain validator set to follow: none."""
        return []

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """``accept_range`` of the native headers. Raises BrokenLinkError, VerificationError."""
        client: Any = self
        client.accept_range([h.native if h.native is not None else decode_header(h.encoded) for h in headers])

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """The block's receipts against its receiptsRoot and logsBloom. Raises VerificationError,
        RpcAnswerError (a malformed receipt)."""
        native: Header = header.native if header.native is not None else decode_header(header.encoded)
        check_receipts(native, contents.data)

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """A stored header rebuilt from its RLP. Raises VerificationError when it does not decode."""
        return verified(decode_header(encoded), hash)

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """``check_misbehaviour(known, other)`` where the client judges seals; else returns."""
        check: Any = getattr(self, "check_misbehaviour", None)
        if check is not None:
            native: Header = known.native if known.native is not None else decode_header(known.encoded)
            check(native, other.native)


__all__ = ["EvmHeaderRole", "verified"]
