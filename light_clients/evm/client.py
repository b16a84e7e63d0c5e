"""Off-chain light client for EVM chains with finality by confirmations.

A pure verifier (no I/O). The daemon drives it:

1. fetch headers with ``eth_getBlockByNumber`` and parse them with ``header_from_rpc``;
2. ``verify_header(header, rpc_hash)``: the hash is recomputed from the fields;
3. ``accept_range(headers)``: each header must link to the previous accepted one
   (or to the trusted checkpoint); a broken link is a reorg or a lie;
4. a block is final once ``number <= final_number(head)``; only then are its receipts
   fetched and checked with ``receipts.check_receipts(header, receipts)``.

The trusted state (``number``, ``hash`` of the latest accepted header) is persisted by the
store through ``trusted_state()`` / ``from_trusted_state()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from light_clients.evm.header import Header
from light_clients.evm.role import EvmHeaderRole
from light_clients.finality import ConfirmationsFinality
from relayer.errors import BrokenLinkError, ConfigError, VerificationError

KIND = "evm"


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class EvmLightClient(EvmHeaderRole, ConfirmationsFinality):
    """Follows one EVM chain from a trusted checkpoint; final = ``confirmations`` blocks deep."""

    kind = KIND

    def __init__(self, chain_name: str, chain_id: int, confirmations: int, trusted: Header | None = None) -> None:
        """Raises ConfigError when ``confirmations`` is negative."""
        if confirmations < 0:
            raise ConfigError(f"chains.{chain_name}.confirmations", "must be >= 0")
        self.chain_name = chain_name
        self.chain_id = chain_id
        self.confirmations = confirmations
        self._head: tuple[int, bytes] | None = (trusted.number, trusted.hash) if trusted else None

    @classmethod
    def from_options(
        cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]
    ) -> EvmLightClient:
        """A client for a first start: it takes no options (the first header it accepts becomes the
        checkpoint). Raises ConfigError when ``confirmations`` is negative."""
        return cls(chain_name, chain_id, confirmations)

    # ----------------------------------------------------------------- verification

    def verify_header(self, header: Header, claimed_hash: bytes | None = None) -> bytes:
        """The recomputed hash of ``header``; raises VerificationError if it differs from ``claimed_hash``."""
        computed = header.hash
        if claimed_hash is not None and claimed_hash != computed:
            raise VerificationError(
                "header hash mismatch: the RPC's hash is not the hash of its fields",
                chain=self.chain_name,
                block=header.number,
                claimed=_hex(claimed_hash),
                computed=_hex(computed),
            )
        return computed

    def accept_range(self, headers: Sequence[Header]) -> None:
        """Accept consecutive headers that extend the latest accepted one.

        Without a trusted head the first header becomes the checkpoint. Raises
        VerificationError on a gap or a broken parent link (a reorg or a lie; both hashes
        are named); nothing of the range is accepted then.
        """
        head = self._head
        for header in headers:
            if head is not None:
                self._check_link(head, header)
            head = (header.number, header.hash)
        self._head = head

    def _check_link(self, head: tuple[int, bytes], header: Header) -> None:
        number, hash_ = head
        if header.number != number + 1:
            raise VerificationError(
                "header does not follow the accepted head", chain=self.chain_name, block=header.number, head=number
            )
        if header.parent_hash != hash_:
            raise BrokenLinkError(
                "broken parent link (reorg or lying RPC)",
                chain=self.chain_name,
                block=header.number,
                parent_hash=_hex(header.parent_hash),
                accepted_hash=_hex(hash_),
            )

    # ----------------------------------------------------------------- state

    @property
    def head_number(self) -> int | None:
        """Number of the latest accepted header, None before the first."""
        return self._head[0] if self._head else None

    @property
    def head_hash(self) -> bytes | None:
        """Hash of the latest accepted header, None before the first."""
        return self._head[1] if self._head else None

    def trusted_state(self) -> dict[str, Any]:
        """A small JSON-able dict for the store: ``{"number", "hash"}`` (both None before the first header)."""
        number, hash_ = self._head if self._head else (None, None)
        return {"kind": KIND, "chain_id": self.chain_id, "number": number, "hash": _hex(hash_) if hash_ else None}

    @classmethod
    def from_trusted_state(
        cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]
    ) -> EvmLightClient:
        """Restore a client persisted by ``trusted_state`` (``hash`` as 0x-hex or bytes).

        Raises VerificationError on a malformed state or one of another chain.
        """
        client = cls(chain_name, chain_id, confirmations)
        client._head = _parse_state(state, chain_name, chain_id)
        return client

    @classmethod
    def rewound_state(cls, state: Mapping[str, Any], number: int, hash: bytes) -> dict[str, Any]:
        """``state`` taken back to the accepted header ``number`` with ``hash`` (the state is a plain
        checkpoint, so this client can be rewound: relayer.contract.RewindableLightClientFactory).
        Raises VerificationError for a malformed state or one of another kind."""
        _parse_state(state, "the rewound chain", state.get("chain_id", 0))
        return {**state, "number": number, "hash": _hex(hash)}


def _parse_state(state: Mapping[str, Any], chain_name: str, chain_id: int) -> tuple[int, bytes] | None:
    if state.get("chain_id", chain_id) != chain_id or state.get("kind", KIND) != KIND:
        raise VerificationError("trusted state belongs to another chain", chain=chain_name)
    number, hash_ = state.get("number"), _hash_bytes(state.get("hash"))
    if number is None and state.get("hash") is None:
        return None
    if not isinstance(number, int) or isinstance(number, bool) or number < 0 or len(hash_) != 32:
        raise VerificationError("malformed trusted state", chain=chain_name, state=dict(state))
    return number, hash_


def _hash_bytes(value: object) -> bytes:
    """A hash given as bytes or 0x-hex; b"" when it is neither."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return b""
    return b""


__all__ = ["KIND", "EvmLightClient"]
