"""What a chain vendor hands the conformance kit: one :class:`Family` object for their devnet.

The kit calls ``start()`` once per test module and ``stop()`` after it; every check then runs in
its own ``trio.run``, in which it opens the roles it needs (``open_source``, ``open_destination``,
``open_policy``) and, at its end, ``aclose()`` releases what that run opened. A role the family does
not provide (yet) is None: the checks needing it are reported as not run, never as passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relayer.contract import (
    BlockContents,
    CandidateHeader,
    Destination,
    FamilyConfig,
    LightClientFactory,
    PolicyHost,
    Proof,
    RouteRef,
    Signer,
    Source,
    UpdatePolicy,
)


@dataclass(frozen=True)
class Connection:
    """How the daemon connects to one chain (``ChainAdapter.connect``): its name and id, its
    ``chains.NAME.rpc`` URLs and its family options as the adapter's ``parse_config`` returned them."""

    name: str
    chain_id: int
    urls: tuple[str, ...]
    family: Any = None


@dataclass(frozen=True)
class Produced:
    """A message the family made on its source chain: the block it is in (as the chain's own
    receipt of it says) and, where known, its nonce on the route."""

    block_number: int
    nonce: int | None = None


class Family:
    """Base class of a family under test. Override what your family has; the methods that raise
    NotImplementedError are required, the ones returning None are optional roles and hooks."""

    #: a name for reports
    name: str = "family"
    #: the source chain's ``confirmations`` (what its light client is built with)
    confirmations: int = 0
    #: how deep a delivery must be on the destination to be final (``Destination.confirmation``)
    destination_depth: int = 0
    #: how long after its start a ``deliver`` call is cancelled in the cancellation check (s)
    cancel_deliver_after: float = 0.05

    # lifecycle (synchronous, once per test module) ---------------------------------------
    def start(self) -> None:
        """Start the devnet (nodes, contracts). Raises whatever stops the run."""

    def stop(self) -> None:
        """Stop everything ``start`` started. Raises nothing."""

    async def aclose(self) -> None:
        """Release what the ``open_*`` calls of one check's trio run opened. Raises nothing."""

    # what the chains are -------------------------------------------------------------------
    def route(self) -> RouteRef:
        """The route the kit relays on (source -> destination). Raises nothing."""
        raise NotImplementedError

    # roles -------------------------------------------------------------------------------------
    async def open_source(self) -> Source:
        """The source chain's Source, opened in the current trio run."""
        raise NotImplementedError

    def light_client_factory(self) -> LightClientFactory:
        """What the family's ``relayer.light_clients`` entry point names."""
        raise NotImplementedError

    def light_client_options(self, start_block: int) -> Mapping[str, Any]:
        """``light_client_options`` for a client whose first accepted header is ``start_block``."""
        return {}

    async def open_destination(self) -> Destination | None:
        """The destination chain's Destination (operator account funded), or None if not provided."""
        return None

    async def open_policy(self, route: RouteRef, host: PolicyHost) -> UpdatePolicy | None:
        """The route's UpdatePolicy through the family's ``UpdatePolicyFactory.open``, or None."""
        return None

    def signer(self) -> Signer | None:
        """The operator's Signer on the destination (also lent to policies as ``host.signer``), or None."""
        return None

    def chain_adapter(self) -> Any | None:
        """The ``relayer.adapters`` entry point's ChainAdapter class (``connect``...), or None if not provided."""
        return None

    def connection(self, chain: str) -> Connection:
        """How to connect to chain ``chain`` (the route's source or destination); needed with
        ``chain_adapter``."""
        raise NotImplementedError

    def untrusted_connection(self) -> Connection | None:
        """A chain the route's destination is not set up to take messages from (its ``resolve_route``
        must refuse it with a ConfigError), or None when the hook is not provided."""
        return None

    def family_config(self) -> FamilyConfig | None:
        """The adapter entry point's FamilyConfig (``legacy_keys``, ``parse_config``), or None."""
        return None

    def config_table(self) -> Mapping[str, Any] | None:
        """A valid ``[chains.NAME.ADAPTER]`` table for ``parse_config``; None: the check is not run."""
        return None

    def bad_config_table(self) -> Mapping[str, Any] | None:
        """A table ``parse_config`` must refuse with a ConfigError naming a key under its path."""
        return None

    # making things happen on the devnet --------------------------------------------------
    async def produce_message(self) -> Produced:
        """Send one message on the source chain for the route's destination; return once it is in a
        block of the source."""
        raise NotImplementedError

    async def advance(self, blocks: int) -> None:
        """Make the source chain produce ``blocks`` more blocks (so the kit can reach finality)."""
        raise NotImplementedError

    async def advance_destination(self, blocks: int) -> None:
        """Make the destination chain produce ``blocks`` more blocks (a delivery's confirmation)."""
        raise NotImplementedError

    # lies ---------------------------------------------------------------------------------------
    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        """The same header with one field changed but the hash claimed for the original: what a lying
        RPC serves. ``LightClient.check_header`` must refuse it."""
        raise NotImplementedError

    def tamper_contents(self, contents: BlockContents) -> BlockContents | None:
        """The block's contents with one message or receipt changed (``LightClient.check_contents``
        must refuse them), or None when the hook is not provided."""
        return None

    def tamper_proof(self, proof: Proof) -> Proof | None:
        """A proof with one byte of what it proves changed (the destination must not deliver by it),
        or None when the hook is not provided."""
        return None


__all__ = ["Connection", "Family", "Produced"]
