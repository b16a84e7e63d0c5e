"""The plugin contract: what a chain family implements so the core can relay its messages.

The core (follower, submitter, daemon, store) talks to a chain only through the roles below.
A family (first-party ``adapters/evm`` + ``light_clients/*`` or a vendor's package) implements
them and registers factories under the entry-point groups of ``relayer.plugins``. This module
imports only the standard library, ``relayer.errors`` and ``relayer.types``; nothing here is
specific to a chain family.

Roles:

* :class:`Source` -- heads and finality of a chain, its headers, the messages in verified blocks
  and the proofs that they are there.
* :class:`LightClient` -- off-chain verifier of one source chain: verifies and accepts headers,
  checks a block's contents against the commitment a message is proven against, saves and
  restores its trusted state, reports misbehaviour. Pure (no I/O), synchronous.
  Opened only through its :class:`LightClientFactory`; a factory whose state is a plain checkpoint
  declares :class:`RewindableLightClientFactory`.
* :class:`Destination` -- what is already delivered, delivering a batch with the light-client
  update it needs, the outcome of a delivery and its confirmation.
* :class:`UpdatePolicy` -- how the destination's on-chain client of a source is advanced
  (committee signatures, a BFT chain's own sealed headers, ...).
* :class:`Signer` -- an operator key of the type a chain uses.
* :class:`ChainAdapter` -- a chain's connection as the daemon opens it (check the chain, resolve the
  routes into it, endpoint health, close).
* :class:`FamilyConfig` -- the family's own options of a chain (``[chains.NAME.ADAPTER]``), validated by
  the family with the core's key-path errors (``relayer.config_schema``).
* :class:`ChainHistory` -- which blocks a chain has, for ``relayer evidence resolve``;
  :class:`MessageDescriber` -- a message's body and locator in the family's words (:class:`MessageView`),
  for ``relayer messages``. Both are read by operator commands, outside the daemon.
* :class:`PolicyHost` -- not a plugin role: what the core lends update policies (the store's
  headers and set changes, turn-taking, attestations of peers, sending through the operator's account).
* :class:`CoSigners`, :class:`TxJournal` -- not plugin roles: what the core lends a Destination (the
  other operators' co-signatures of a batch; the journal of signed transactions).

Values crossing the contract are the frozen dataclasses and enums of this module; chain data
the core need not understand travels as opaque ``bytes`` (a message's ``body`` and ``locator``,
a header's ``encoded`` form, a proof, an update) or as an opaque ``native`` object that only the
family that made it reads.

Errors (``relayer.errors``): ``RetryableError``/``RpcError`` -- the supervisor backs off and runs
the service again; ``VerificationError`` (``BrokenLinkError``, ``MisbehaviourError``) -- the chain
or its RPC lied: the chain's follower halts; ``ProofError``, ``ContractRevert``, ``RpcAnswerError``
-- as named there; ``ConfigError`` -- at start only, exit 2. The core decides by these types only,
never by an error's text.

Cancellation: every ``async`` method may be cancelled (trio) at any ``await``; the contract
requires that a cancelled call leaves nothing half-done that the core could misread: state the
core persists is written by the core, after the call returned.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from relayer.types import Envelope, MessageId

# --------------------------------------------------------------------------- enums


class MessageState(str, Enum):
    """Where a message stands in the core (the store's ``state`` column holds the value).

    final -> submitted -> included -> confirmed; or delivered-by-peer, or failed (retried by an
    operator). ``included``: delivered by a mined transaction not yet at the destination's
    finality depth; ``confirmed`` only at that depth.
    """

    FINAL = "final"
    SUBMITTED = "submitted"
    INCLUDED = "included"
    CONFIRMED = "confirmed"
    DELIVERED_BY_PEER = "delivered-by-peer"
    FAILED = "failed"

    @property
    def is_open(self) -> bool:
        """Whether the message still waits for a delivery of its own (final or submitted)."""
        return self in (MessageState.FINAL, MessageState.SUBMITTED)


class DeliveryStatus(str, Enum):
    """How one delivery attempt ended (``Delivery.status``)."""

    MINED = "mined"  # in a block; ``Delivery.result`` says which messages it delivered
    PENDING = "pending"  # sent, not yet mined (stopping, or left for recovery at the next start)
    NO_FUNDS = "no-funds"  # the operator cannot pay: nothing of ours will be mined; messages back in line
    NONCE_LOST = "nonce-lost"  # another transaction of this key took its place; messages back in line
    REFUSED = "refused"  # the chain will not take it (``reason`` has its words); messages failed
    REVERTED = "reverted"  # mined but reverted as a whole; messages back in line


class ConfirmationStatus(str, Enum):
    """Where a mined delivery stands against the destination's finality (``Confirmation.status``)."""

    FINAL = "final"  # at least the finality depth deep on the canonical chain
    WAITING = "waiting"  # not deep enough yet, or the node has not caught up with a reorg
    GONE = "gone"  # a reorg took it off the chain: the core restores it (``Destination.restore``)


class UpdateStatus(str, Enum):
    """What an update policy did to let the destination's client follow the source."""

    SENT = "sent"  # something was sent for it this round
    DONE = "done"  # nothing (more) is needed
    WAITING = "waiting"  # needed, but not now (another operator's turn, collecting, refused lately)


class OutcomeStatus(str, Enum):
    """What the destination did with a message it processed (``MessageOutcome.status``)."""

    DELIVERED = "delivered"  # executed: the recipient's handler ran and succeeded
    FAILED = "failed"  # the handler failed; the destination recorded it with its revert data
    EXPIRED = "expired"  # arrived after its expiry; refused and recorded by the destination


class KeyType(str, Enum):
    """The key type a chain signs with (``Signer.key_type``)."""

    SECP256K1 = "secp256k1"  # Ethereum, Besu, Quorum, FISCO BCOS (non-SM)
    SM2 = "sm2"  # FISCO BCOS / ChainMaker national-crypto mode
    ED25519 = "ed25519"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class CandidateHeader:
    """A header as a source read it, before any check: its number, the hash the source claims
    for it (None: none claimed), the header in the chain's own encoding as served (``encoded``:
    the follower compares two reads of one height by it) and the family's own header object
    (``native``), which only a light client of that family reads."""

    number: int
    claimed_hash: bytes | None
    encoded: bytes
    native: Any = field(compare=False, hash=False)


@dataclass(frozen=True)
class VerifiedHeader:
    """A header a light client verified: what the core keeps and reasons about.

    ``hash``: the block hash by the chain's own rule; ``commitment``: the root the messages of
    this block are proven against (EVM: receiptsRoot); ``encoded``: the header in the chain's own
    encoding (EVM: RLP), what the store keeps and what an update policy may carry to the
    destination; ``native``: the family's header object (not persisted).
    """

    number: int
    hash: bytes
    parent_hash: bytes
    commitment: bytes
    timestamp: int
    encoded: bytes
    native: Any = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class BlockContents:
    """What a source fetched of one verified block to find its messages (EVM: the receipts),
    opaque to the core, which keeps it briefly so a proof need not fetch it again."""

    number: int
    block_hash: bytes
    data: Any = field(compare=False, hash=False)


@dataclass(frozen=True)
class ScanHints:
    """What a source reports of a range besides its headers: blocks that may hold messages."""

    candidates: frozenset[int]  # blocks whose contents must be read
    reported: frozenset[int]  # of those, the blocks the node's own index (EVM: eth_getLogs) named


@dataclass(frozen=True)
class SetChange:
    """A verified header whose trusted set (validators, signers) differs from its parent's; an
    on-chain client of the chain must be given it, after its parent, to follow the chain."""

    number: int
    members: int  # size of the new set


@dataclass(frozen=True)
class Proof:
    """The proof that ``message_id`` is in block ``block_number`` under that header's commitment,
    in the form the destination's on-chain verifier takes (opaque to the core)."""

    message_id: MessageId
    block_number: int
    data: bytes


@dataclass(frozen=True)
class RouteRef:
    """The part of a route a plugin needs: both chains, their ids, and the address (on the
    destination) of the destination's client of the source, in the destination's notation."""

    name: str  # "src->dst"
    src: str
    dst: str
    src_chain_id: int
    dst_chain_id: int
    light_client: str


@dataclass(frozen=True)
class LightClientUpdate:
    """What a delivery carries so the destination's client accepts the block first (empty
    ``data``: the block is accepted already)."""

    policy: str
    block_number: int
    data: bytes = b""

    @property
    def needed(self) -> bool:
        return bool(self.data)


@dataclass(frozen=True)
class Batch:
    """Messages of one source block for one route, their proofs and the update they need."""

    route: RouteRef
    header: VerifiedHeader
    messages: tuple[Envelope, ...]
    proofs: tuple[Proof, ...]
    update: LightClientUpdate


@dataclass(frozen=True)
class MessageOutcome:
    """A processed message's outcome as the destination recorded it. ``result``: the handler's
    return or revert data (opaque; shown, never decided on); ``acknowledged``: the destination sent
    an acknowledgement of it back to the source (itself a message the core will carry)."""

    status: OutcomeStatus
    result: bytes = b""
    acknowledged: bool = False


@dataclass(frozen=True)
class BatchResult:
    """What a mined delivery did, per message: processed by it (``delivered``: the relayer's job is
    done, whatever the outcome, which ``outcomes`` gives where the destination reports one), or
    refused as a delivery with the decoded reason (``failed``: retried later). A message in neither
    was processed by someone else before it."""

    delivered: frozenset[MessageId]
    failed: Mapping[MessageId, str] = field(default_factory=dict, compare=False, hash=False)
    outcomes: Mapping[MessageId, MessageOutcome] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Delivery:
    """How one delivery attempt ended. ``ref`` names it on the destination (EVM: the transaction
    hash); None when nothing was sent. ``result`` is set when ``status`` is ``mined``."""

    status: DeliveryStatus
    ref: str | None = None
    message_ids: tuple[MessageId, ...] = ()
    result: BatchResult | None = None
    reason: str | None = None
    block_number: int | None = None
    cost: int = 0  # what it cost in the chain's unit (EVM: gas used)
    sequence: int | None = None  # its place in the operator account's order (EVM: nonce), for logs


@dataclass(frozen=True)
class Confirmation:
    """Where a mined delivery stands; ``result`` (re-read from the final block) when ``final``, and
    ``delivery``: the delivery as that final block has it (``mined`` with result, block and cost, or
    ``reverted`` when a reorg had it mined again and it reverted this time)."""

    status: ConfirmationStatus
    result: BatchResult | None = None
    delivery: Delivery | None = None


@dataclass(frozen=True)
class MessageView:
    """A message's opaque ``body`` and ``locator`` in its family's words, for operator commands
    (``relayer messages``): ``body``/``locator`` hold flat JSON-able fields (EVM: kind, token, sender,
    recipient, amount / tx_hash, tx_index, log_index), ``what`` and ``where`` one line each of what the
    message does and where its proof comes from. The core shows them and decides nothing by them."""

    body: Mapping[str, Any]
    locator: Mapping[str, Any]
    what: str
    where: str


# --------------------------------------------------------------------------- roles


@runtime_checkable
class Source(Protocol):
    """Read access to one chain as the origin of messages. Does no verification of its own
    beyond the shape of the node's answers; every header it returns is checked by the chain's
    :class:`LightClient` before the core uses it."""

    name: str
    chain_id: int

    async def head_number(self) -> int:
        """The chain's latest block number. Called by the follower every poll.

        Raises RpcError (retry), RpcAnswerError (every endpoint answered nonsense). Cancelled: no
        effect."""
        ...

    async def headers(self, first: int, last: int) -> list[CandidateHeader]:
        """Headers ``first..last`` in order, each with the hash the node claims. Called by the
        follower for every scan range (and again for one height when it looks for equivocation).

        Raises RpcError/RpcUnanswered (a lagging node: retry), RpcAnswerError. Cancelled: no effect."""
        ...

    async def scan_hints(self, first: int, last: int, headers: Mapping[int, VerifiedHeader]) -> ScanHints:
        """Which of the verified blocks ``first..last`` may hold messages (a block ruled out needs
        no contents read; a block the header itself admits must not be ruled out because the node's
        index omits it). Called by the follower after the range's headers were verified.

        Raises VerificationError when the node's index names a block that is not the verified one;
        RpcError, RpcAnswerError. Cancelled: no effect."""
        ...

    async def block_contents(self, header: VerifiedHeader) -> BlockContents:
        """What the source needs of this verified block to find and prove its messages, as the node
        serves it (unchecked: the light client checks it). Called by the follower for each
        candidate block and by a delivery whose contents are no longer cached.

        Raises RpcError/RpcUnanswered, RpcAnswerError. Cancelled: no effect."""
        ...

    def messages(self, header: VerifiedHeader, contents: BlockContents,
                 destinations: Mapping[int, str]) -> list[Envelope]:
        """The messages in a block whose contents the light client checked, for the destinations
        the core routes to (chain id -> chain name; a message to any other chain is left out and
        logged ``event.unroutable``). Called by the follower once per block holding messages.

        Raises RpcAnswerError when the contents hold something undecodable."""
        ...

    def prove(self, header: VerifiedHeader, contents: BlockContents, messages: Sequence[Envelope]) -> list[Proof]:
        """One proof per message (same order), each checked against ``header.commitment`` before
        it is returned. Called by a delivery of these messages.

        Raises ProofError (a proof cannot be built or does not verify), VerificationError (the
        contents no longer match the header)."""
        ...

    def verify(self, header: VerifiedHeader, proof: Proof, destinations: Mapping[int, str]) -> Envelope:
        """The message ``proof`` (as ``prove`` made it, possibly by another operator) shows under
        ``header``, a header this operator's own light client verified: the envelope ``messages``
        gives for it (``destinations`` as there). The off-chain check a destination without an
        on-chain verifier relies on; the core makes it before it lends an operator's co-signature
        (``Destination.cosign``). Pure: no request.

        Raises ProofError naming what does not hold (a proof of another block, a branch that does
        not lead to the header's commitment, no message where the proof points, a message to a chain
        not in ``destinations``)."""
        ...


@runtime_checkable
class LightClient(Protocol):
    """Off-chain verifier of one source chain, driven by that chain's follower only. Pure: no I/O,
    no awaits (so never cancelled half-way); nothing it accepted is persisted until the follower
    stores ``trusted_state()`` with the scan that made it.

    Its method names are distinct from the verifiers' own (``verify_header``, ``accept_range``...),
    which first-party light clients keep for their tests and tools."""

    @property
    def head_number(self) -> int | None:
        """Number of the latest accepted header; None before the first."""
        ...

    @property
    def lookahead(self) -> int:
        """Headers past a range's last one that the follower reads so the last is only taken once
        its child links to it (0 when sealed headers are final; 1 with finality by confirmations)."""
        ...

    def final_number(self, head_number: int) -> int:
        """The highest final block when the chain's head is ``head_number`` (negative: none yet).
        Called by the follower every poll. Raises nothing."""
        ...

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """Check one header on its own: its hash by the chain's rule (against the claimed one),
        its seals against the set in force. Called by the follower for every header it reads.

        Raises VerificationError (MisbehaviourError when it conflicts with a sealed header already
        seen at that height)."""
        ...

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """The headers of this verified range (about to be accepted) whose trusted set differs from
        their parent's; [] for chains without one. Called by the follower before ``accept``.

        Raises VerificationError."""
        ...

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """Accept consecutive verified headers extending the accepted head (the first one becomes the
        checkpoint when there is none). Nothing of the range is accepted when it raises.

        Raises BrokenLinkError (a header does not link: a reorg or a lie; ``fields['block']`` names
        it), VerificationError (a gap, a set change it cannot follow)."""
        ...

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """Check a block's contents against the commitment messages are proven against (EVM: the
        receipts trie root and the logs bloom). Called by the follower before it reads messages,
        and by a delivery that fetched the contents again.

        Raises VerificationError."""
        ...

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """A header this client verified before, rebuilt from the store (``encoded`` as in
        ``VerifiedHeader.encoded``) without checking it again. Raises VerificationError when
        ``encoded`` does not decode."""
        ...

    @property
    def proves_equivocation(self) -> bool:
        """Whether ``check_equivocation`` can find two validly sealed headers at one height (chains
        whose headers carry seals); only then does the follower read a height again to look."""
        ...

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """Called by the follower when a header does not link to ``known`` and the source now serves
        ``other`` at ``known``'s height: raises MisbehaviourError when both are validly sealed by
        the set in force (evidence of the validators' equivocation); returns otherwise. Raises
        VerificationError for a malformed header."""
        ...

    def trusted_state(self) -> dict[str, Any]:
        """A small JSON-able dict from which ``LightClientFactory.from_trusted_state`` rebuilds this
        client. Called by the follower at every scan it stores. Raises nothing."""
        ...


@runtime_checkable
class LightClientFactory(Protocol):
    """What a ``relayer.light_clients`` entry point names (a class, usually). The daemon opens a
    chain's light client only through these two methods."""

    def from_options(self, chain_name: str, chain_id: int, confirmations: int,
                     options: Mapping[str, Any]) -> LightClient:
        """A client for a first start, from the chain's ``light_client_options``. Called by the daemon.
        Raises ConfigError naming ``chains.NAME.light_client_options.KEY``."""
        ...

    def from_trusted_state(self, chain_name: str, chain_id: int, confirmations: int,
                           state: Mapping[str, Any]) -> LightClient:
        """The client as it was saved by ``trusted_state()``. Called by the daemon at every start.
        Raises VerificationError (a malformed state or one of another chain)."""
        ...


@runtime_checkable
class RewindableLightClientFactory(LightClientFactory, Protocol):
    """A capability a ``LightClientFactory`` declares by having ``rewound_state``: its trusted state is
    a plain checkpoint (one accepted header), so it can be taken back to an earlier header. Only for
    such a client does ``relayer evidence resolve`` rewind a chain whose history was replaced; for any
    other it tells the operator to restore a backup. The core decides by this capability, never by the
    client's name."""

    def rewound_state(self, state: Mapping[str, Any], number: int, hash: bytes) -> dict[str, Any]:
        """``state`` (as ``trusted_state()`` saved it) taken back to the earlier accepted header ``number``
        with ``hash``; what ``from_trusted_state`` then restores. Called by ``relayer evidence resolve``.
        Raises VerificationError for a malformed state or one of another chain."""
        ...


@runtime_checkable
class Destination(Protocol):
    """Write access to one chain as the target of messages. It owns the operator's account on that
    chain (sequence numbers, fees, the journal of what it signed); the core tells it what to deliver
    and records the outcome it returns."""

    name: str
    chain_id: int

    async def delivered(self, route: RouteRef, nonces: Sequence[int]) -> frozenset[int]:
        """Of ``nonces`` of ``route``, those the destination already executed (by anyone). Called by
        the submitter before every delivery round. Raises RpcError. Cancelled: no effect."""
        ...

    async def deliver(self, batch: Batch) -> Delivery:
        """Deliver ``batch`` (its update first, in the same transaction where the chain allows), and
        follow it until it is mined, refused or given up. Called by the submitter when the batch is
        due. The attempt is journaled before it is sent, so a crash or cancellation anywhere can
        delay a message, never deliver it twice (the destination refuses a nonce it executed).

        Raises ContractRevert when the destination refuses the batch before it is sent (the reason
        decoded; the messages are retried later), RpcError. Cancelled after it was journaled: the
        attempt is ``pending`` and settled by ``recover`` at the next start."""
        ...

    async def confirmation(self, delivery: Delivery, depth: int) -> Confirmation:
        """Where a mined delivery stands with finality ``depth`` blocks. Called by the submitter each
        round for every delivery it has ``included``. Raises RpcError. Cancelled: no effect."""
        ...

    async def restore(self, delivery: Delivery) -> Delivery:
        """Get a mined delivery that a reorg dropped included again (the same signed attempt), or say
        it cannot be (``nonce-lost``). Raises RpcError; cancelled: ``pending``, settled by ``recover``."""
        ...

    async def recover(self) -> list[Delivery]:
        """Settle every attempt journaled before a restart (rebroadcast, replace or give up), in order.
        Called once by the submitter before its first round. Raises RpcError; cancelled: what is not
        settled yet stays journaled for the next start."""
        ...

    async def send(self, to: str, data: bytes, gas: int) -> Delivery:
        """Send a transaction of an update policy's own (not a delivery: ``PolicyHost.send``) from the
        operator's account, journaled and followed like a delivery (``gas`` as the policy estimated
        it; the destination adds its margin). Raises RpcError; cancelled: as ``deliver``."""
        ...

    async def cosign(self, route: RouteRef, header: VerifiedHeader, envelopes: Sequence[Envelope],
                     request: Mapping[str, Any]) -> dict[str, Any]:
        """This operator's co-signature of a delivery of ``envelopes`` that another operator prepares
        (``request``: the family's own, e.g. the unsigned custody spend), for a chain whose delivery
        needs the operators' own signatures rather than an on-chain proof check (a custody on a chain
        without contracts). The core calls it from its API (``POST /v1/cosign/SRC/DST``) only after it
        checked each proof against ``header`` (this operator's own verified header) with the source's
        ``Source.verify`` and found each message recorded final by this operator's own follower.
        Returns what the asking operator needs (JSON-serialisable).

        Raises ContractRevert with the reason when this operator refuses (the request is not the one
        its own rules build, or the envelopes do not justify it); the EVM family refuses every request
        (its destination contract checks proofs itself). RpcError. Cancelled: nothing signed unless the
        family journaled it first."""
        ...


class CoSigners(Protocol):
    """What the core lends a Destination (the 7th argument of its ``relayer.destinations`` opener): the
    other operators' co-signatures of a batch (their ``Destination.cosign``, through their APIs)."""

    async def ask(self, batch: Batch, request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Ask every other operator of ``[committee]`` at once to co-sign ``request`` for ``batch``
        (its block, its messages' proofs); (peer name, answer) of each that signed. Raises nothing for
        a peer's failure or refusal (logged ``cosign.peer_failed`` with the peer's words); cancelled:
        the requests are aborted."""
        ...


class TxJournal(Protocol):
    """The core's journal of signed transactions as a Destination uses it (the store the opener gets
    satisfies it). The core's submitter settles and confirms deliveries by these records, so a family
    whose Destination signs transactions records each one here before it is sent."""

    def journal(self, hash: str, chain: str, sequence: int, raw: str, message_ids: Sequence[str]) -> None:
        """Record a signed transaction (``hash`` its reference, ``sequence`` its place in the
        operator's order, ``raw`` its bytes as hex) and mark its messages submitted, before it is sent.
        Raises LeaseLost (nothing written) when another process took over the chain's submitter."""
        ...

    def set_tx_state(self, tx_hash: str, state: str, *, cost: int | None = None,
                     error: str | None = None) -> None:
        """Record where a journaled transaction stands (``mined``, ``reverted``, ``dropped``...)."""
        ...

    def open_transactions(self, chain: str) -> list[tuple[str, int, str, tuple[str, ...]]]:
        """(hash, sequence, raw, message ids) of ``chain``'s transactions signed or sent and not yet
        settled, in order: what ``Destination.recover`` settles at a start."""
        ...


@runtime_checkable
class UpdatePolicy(Protocol):
    """How the destination's on-chain client of a source is advanced (``relayer.update_policies``
    entry points: committee, qbft, ibft2, ...). One instance per route, made by its
    :class:`UpdatePolicyFactory`; the core decides nothing by a policy's name (it only logs it)."""

    name: str

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        """Called by the follower for each verified header holding messages for ``route``: this
        operator's signed attestation to store and serve, or None when the policy needs none (the
        destination checks the chain's own seals) or this operator is not a member now. Raises nothing."""
        ...

    async def update(self, route: RouteRef, header: VerifiedHeader) -> LightClientUpdate | None:
        """What a delivery of this block's messages must carry: an empty update when the destination's
        client accepted the block already; None while it cannot be had yet (signatures still being
        collected). Called by the submitter for each due batch.

        Raises VerificationError (the destination's client holds another commitment for the block),
        RpcError. Cancelled: no effect (collected signatures are kept in the store)."""
        ...

    async def follow(self, route: RouteRef, upto: int | None = None) -> UpdateStatus:
        """Advance the destination's client through the source's recorded set changes (each changing
        header after its parent), at most one send per call; ``upto``: every change at or below that
        block now (a batch of that block needs them). Called by the submitter every round.

        Raises VerificationError (a recorded change's header is missing), RpcError. Cancelled: as
        ``Destination.deliver``."""
        ...

    async def watch(self, route: RouteRef) -> None:
        """Follow, for the daemon's life, what changes on the destination's client by itself (e.g. a
        committee rotation: the members whose attestations count, re-signing open headers). Started
        by the daemon beside the followers; a policy with nothing to watch returns at once.

        Raises StoreError only; RPC failures are logged and retried. Cancelled: between reads."""
        ...


class PolicyHost(Protocol):
    """What the core lends the update policies of one operator (the daemon builds it once)."""

    signer: Signer  # this operator's key, for policies whose updates carry the operators' signatures

    def header(self, chain: str, number: int) -> VerifiedHeader | None:
        """The verified header ``number`` of ``chain`` as the follower stored it (``native`` unset), or
        None. Raises StoreError."""
        ...

    def set_changes(self, chain: str, after: int) -> list[tuple[int, float]]:
        """The recorded set changes of ``chain`` above block ``after``, oldest first, as (block, wall
        time it was recorded). Raises StoreError."""
        ...

    def due_at(self, route: RouteRef, number: int, since: float) -> float:
        """When this operator's turn comes for work on source block ``number`` that became possible at
        ``since`` (the operator designated for the block at once, the others a grace period per rank
        later; the same turn-taking as for deliveries). Raises nothing."""
        ...

    def open_blocks(self, route: RouteRef) -> list[int]:
        """Source blocks of ``route`` with messages not delivered yet, ascending. Raises StoreError."""
        ...

    def own_attestation(self, route: RouteRef, number: int, epoch: int) -> dict[str, Any] | None:
        """This operator's stored attestation of block ``number`` for ``route`` at ``epoch``, or None.
        Raises StoreError."""
        ...

    def keep_attestation(self, record: dict[str, Any]) -> None:
        """Store (and so serve to peers) an attestation made outside a scan, e.g. re-signed for a new
        epoch. Raises StoreError."""
        ...

    async def peer_attestations(self, route: RouteRef, number: int, epoch: int,
                                members: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
        """Ask the configured peers whose address is in ``members`` (lower case) for their attestation
        of block ``number`` at ``epoch``, all at once: (peer name, record as served, unchecked) of each
        that answered. Raises nothing for a peer's failure; cancelled: the requests are aborted."""
        ...

    def check_committee(self, route: RouteRef, epoch: int, members: Sequence[str], threshold: int) -> None:
        """Called by a policy at start with the committee the destination's client trusts. Raises
        ConfigError naming the key (``committee.members``, ``committee.threshold``, ``committee.epoch``)
        when the configured committee is another one."""
        ...

    async def send(self, route: RouteRef, to: str, data: bytes, gas: int) -> str | None:
        """Send a transaction of the policy's own (not a delivery) from this operator's account on
        ``route``'s destination, journaled and followed like a delivery, and record its outcome: its
        reference (EVM: hash) when it was sent, None when not. Raises RpcError; cancelled: as
        ``Destination.deliver``."""
        ...


class UpdatePolicyFactory(Protocol):
    """What a ``relayer.update_policies`` entry point names (a class, usually)."""

    async def open(self, route: RouteRef, destination: Any, host: PolicyHost) -> UpdatePolicy:
        """The policy of ``route``, reading what it needs from the destination (its family's adapter,
        ``destination``), e.g. the committee its client trusts. Called by the daemon at start for each
        route whose destination names this policy.

        Raises ConfigError (the configuration disagrees with the destination), RpcError (retried)."""
        ...


@runtime_checkable
class Signer(Protocol):
    """An operator's key for one chain, of that chain's type. Never logs or returns the secret."""

    key_type: KeyType
    address: str  # in the chain's own notation

    def sign_digest(self, digest: bytes) -> bytes:
        """A signature over a 32-byte digest, in the chain's canonical form (secp256k1: r||s||v,
        low s). Called by update policies and destinations. Raises ValueError for a digest of
        another size."""
        ...


class FamilyConfig(Protocol):
    """What a ``relayer.adapters`` entry point (a family's adapter class, usually) offers for the
    configuration: the options of a chain that only its family understands live in the table
    ``[chains.NAME.ADAPTER]`` (``[chains.beta.evm]``), which the core does not read but hands to
    ``parse_config``; the core validates only the common keys of ``[chains.NAME]``."""

    #: Keys the family once took directly under ``[chains.NAME]`` and now reads from its own table;
    #: the core still accepts them there, with a warning saying where each moved (empty for a new family).
    legacy_keys: Collection[str]

    def parse_config(self, table: Mapping[str, Any], path: str) -> Any:
        """The family's typed options of one chain from its table (``{}`` when the file has none);
        ``path`` is the table's key path (``chains.beta.evm``). Called by the core whenever it loads or
        checks a configuration; the value returned travels, unread by the core, as the chain's
        ``family`` back to the family's plugins.

        Raises ConfigError naming the full key path (``chains.beta.evm.fees.max_fee_gwei``); one that
        carries ``errors`` (``relayer.config_schema.ConfigProblems``) reports every problem at once."""
        ...


@runtime_checkable
class ChainAdapter(Protocol):
    """A chain's connection as the daemon opens it: what a ``relayer.adapters`` entry point names
    (a family's adapter class, which also plays FamilyConfig). The daemon calls ``connect`` once per
    configured chain at start, checks the chain with ``remote_chain_id``, resolves each route into
    the chain with ``resolve_route``, reads ``endpoints`` for ``relayer status`` and calls ``aclose``
    when it stops; the family's Source, Destination and policies are opened from it."""

    name: str
    chain_id: int

    @property
    def source_layer(self) -> bytes:
        """The 32-byte word that names, on a destination's message layer, where this chain's messages
        come from (their envelopes' ``sourceLayer``: EVM the MessageLayer's address left-padded, Litecoin
        the custody's witness program). A destination family checks its own record of the source
        against it in ``resolve_route``. Raises nothing; makes no request."""
        ...

    @property
    def source(self) -> Source:
        """The chain read as the origin of messages: the follower of this chain reads heads, headers,
        block contents, messages and proofs through it. Opened with the adapter; raises nothing."""
        ...

    @classmethod
    def connect(cls, name: str, chain_id: int, urls: tuple[str, ...], family: Any, *,
                metrics: Any = None) -> ChainAdapter:
        """The adapter of chain ``name`` over the endpoints ``urls`` (tried in order), with the
        family's parsed options ``family`` (what ``parse_config`` returned). Makes no request and
        raises nothing for an unreachable chain (reads raise RpcError later)."""
        ...

    async def remote_chain_id(self) -> int:
        """The chain id the endpoints serve (compared with ``chains.NAME.chain_id``). Raises RpcError
        (retried at start) or RpcAnswerError. Cancelling it leaves nothing behind."""
        ...

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        """For the route from ``source`` (the source chain's adapter) into this chain: the reference of
        the source's on-chain light client here and the name of its update policy (an entry of
        ``relayer.update_policies``). Raises ConfigError naming ``key`` or the family key at fault
        when the chain is not set up for the route; RpcError while it does not answer (retried).
        Cancelling it leaves nothing behind."""
        ...

    def endpoints(self) -> list[dict[str, Any]]:
        """The health of each endpoint for ``relayer status`` (``url`` with credentials redacted,
        ``state``, ``requests``, ``errors``). Raises nothing."""
        ...

    async def aclose(self) -> None:
        """Close the connections. Raises nothing; when cancelled, connections may stay open until the
        process exits (the daemon shields it for a second)."""
        ...


class MessageDescriber(Protocol):
    """What a ``relayer.message_views`` entry point names, named like the family's adapter: a callable
    that shows a message of that family (found on a chain of that adapter) to an operator. Optional: a
    family without one has its messages shown as hex. Kept apart from the adapter so that a command
    reading the store loads no chain client."""

    def __call__(self, body: bytes, locator: bytes) -> MessageView | None:
        """The view of a message with this ``body`` and ``locator``; None when they are not of a shape
        this family writes. Pure; raises nothing."""
        ...


class BundleFamily(Protocol):
    """What a ``relayer.bundles`` entry point names, named like the family's adapter (of the chain a
    message comes from): how ``relayer messages export|verify`` make and check an evidence bundle, a
    JSON document with everything needed to check one delivery offline (``relayer.bundles`` writes
    the common part: format, version, family, route, chain ids, message)."""

    def export(self, config: Any, message: Any, header: Any, attestations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The family's part of the bundle of ``message`` (a ``relayer.store.Message`` of the
        operator's ``config``, its verified ``header`` as stored (``StoredHeader`` or None) and this
        operator's ``attestations`` of that block): the source header, the evidence of its
        acceptance, the receipt and its proof, the destination receipt with the outcome. Blocking
        (reads the chains' RPC). Raises FatalError naming what is missing (e.g. "not yet
        delivered"), RpcError."""
        ...

    def verify(self, bundle: dict[str, Any], members: Sequence[str] | None,
               threshold: int | None, validators: Sequence[str] | None = None) -> list[str]:
        """Check ``bundle`` with no network against the trust anchor: a committee ``members`` /
        ``threshold`` or a validator set ``validators`` (at most one of them given; the bundle's own
        when None); returns the checks that held, one line each. Raises VerificationError with the
        reason when one does not hold (a malformed part, or an anchor of the wrong kind, included)."""
        ...


class ChainHistory(Protocol):
    """Blocking read of which blocks a chain has, for operator commands run outside the daemon
    (``relayer evidence resolve`` asks whether the history the relayer accepted is still the
    chain's before it rewinds). A family registers a callable ``(rpc_url: str) -> ChainHistory``
    under the entry-point group ``relayer.chain_history``, named like its adapter; the command
    opens one per endpoint of ``chains.NAME.rpc`` until one answers, and closes it."""

    def head_number(self) -> int:
        """The chain's latest block number (also how the command tells whether the endpoint answers).
        Raises RelayerError (RpcError, RpcAnswerError) when the endpoint fails or answers nonsense."""
        ...

    def block_hash(self, number: int) -> str | None:
        """The lowercase 0x-hex hash of the chain's block ``number``, as the hashes the store keeps are
        written; None when the chain has no block there. Raises like ``head_number``."""
        ...

    def close(self) -> None:
        """Release the connection; never raises."""
        ...


__all__ = [
    "Batch", "BatchResult", "BlockContents", "BundleFamily", "CandidateHeader", "ChainAdapter", "ChainHistory",
    "CoSigners", "Confirmation", "ConfirmationStatus", "Delivery", "DeliveryStatus", "Destination", "Envelope",
    "FamilyConfig",
    "KeyType",
    "LightClient", "LightClientFactory", "LightClientUpdate", "MessageDescriber", "MessageOutcome", "MessageState",
    "MessageView", "OutcomeStatus",
    "PolicyHost", "Proof", "RewindableLightClientFactory", "RouteRef", "ScanHints", "SetChange", "Signer", "Source",
    "TxJournal", "UpdatePolicy", "UpdatePolicyFactory", "UpdateStatus", "VerifiedHeader",
]
