"""memchain: a minimal chain family, in memory, that plays every role of ``relayer.contract``.

A toy, but an honest one: its headers are hashed and sealed (secp256k1, by one sealer whose public
key the light client and the destination's on-chain client trust), a block commits to its messages
by a root of their hashes, a message is proven by that root, and the destination checks the seal of
every header it is given and every proof before it executes a message, once. What a real family does
over JSON-RPC and in contracts is done here by two ``Chain`` objects in the same process
(:class:`Devnet`); the chains mine a block whenever asked and the destination's transactions wait in
a pool until mined, so a delivery can be cancelled while it is in flight.

Modules of a real family would be split by role (source, light client, destination, policy, signer)
and registered as entry points (see ``pyproject.toml`` here and ``docs/adapters.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import coincurve
import trio
import trio.lowlevel

from relayer.config_schema import Invalid, Report, Table, string_value
from relayer.contract import (
    Batch,
    BatchResult,
    BlockContents,
    CandidateHeader,
    Confirmation,
    ConfirmationStatus,
    Delivery,
    DeliveryStatus,
    KeyType,
    LightClientUpdate,
    PolicyHost,
    Proof,
    RouteRef,
    ScanHints,
    SetChange,
    UpdateStatus,
    VerifiedHeader,
)
from relayer.errors import (
    BrokenLinkError,
    ConfigError,
    ContractRevert,
    ProofError,
    RpcUnanswered,
    VerificationError,
)
from relayer.types import Envelope, MessageId

FAMILY = "memchain"
MINE_DELAY = 0.05  # s a destination transaction waits in the pool before its block is mined


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- chain data


@dataclass(frozen=True)
class Message:
    """What the application put on the source chain: a nonce on its route, a destination, a body."""

    nonce: int
    dst_chain_id: int
    body: bytes

    def encoded(self) -> bytes:
        return canonical({"nonce": self.nonce, "dst": self.dst_chain_id, "body": self.body.hex()})

    @property
    def leaf(self) -> bytes:
        return sha256(self.encoded())


def commitment_of(leaves: Sequence[bytes]) -> bytes:
    """The root a block commits its messages to: sha256 of their hashes in order."""
    return sha256(b"".join(leaves))


@dataclass(frozen=True)
class Header:
    """A memchain header: ``hash`` is sha256 of the unsealed fields; ``seal`` signs the hash."""

    chain_id: int
    number: int
    parent_hash: bytes
    commitment: bytes
    timestamp: int
    seal: bytes = b""

    def unsealed(self) -> bytes:
        return canonical({"chain": self.chain_id, "number": self.number, "parent": self.parent_hash.hex(),
                          "commitment": self.commitment.hex(), "time": self.timestamp})

    @property
    def hash(self) -> bytes:
        return sha256(self.unsealed())

    def encoded(self) -> bytes:
        return canonical({"header": self.unsealed().decode(), "seal": self.seal.hex()})

    @classmethod
    def decode(cls, encoded: bytes) -> Header:
        """Raises VerificationError when ``encoded`` is not a memchain header."""
        try:
            outer = json.loads(encoded)
            f = json.loads(outer["header"])
            return cls(int(f["chain"]), int(f["number"]), bytes.fromhex(f["parent"]), bytes.fromhex(f["commitment"]),
                       int(f["time"]), bytes.fromhex(outer["seal"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError(f"not a memchain header: {exc}") from exc


def sealer_of(header: Header) -> str:
    """The compressed public key (hex) that sealed ``header``. Raises VerificationError."""
    try:
        return coincurve.PublicKey.from_signature_and_message(header.seal, header.hash, hasher=None).format().hex()
    except Exception as exc:  # coincurve raises ValueError or its own errors for a malformed seal
        raise VerificationError("malformed seal", block=header.number) from exc


class Chain:
    """One memchain: blocks (header, messages) sealed by ``sealer``, mined when asked."""

    def __init__(self, name: str, chain_id: int, sealer: coincurve.PrivateKey) -> None:
        self.name = name
        self.chain_id = chain_id
        self._sealer = sealer
        self.sealer_key = sealer.public_key.format().hex()
        self.blocks: list[tuple[Header, tuple[Message, ...]]] = []
        self.next_nonce: dict[int, int] = {}
        self.mine(())

    def mine(self, messages: Sequence[Message] = ()) -> Header:
        parent = self.blocks[-1][0].hash if self.blocks else b"\x00" * 32
        header = Header(self.chain_id, len(self.blocks), parent, commitment_of([m.leaf for m in messages]),
                        1_700_000_000 + len(self.blocks))
        header = Header(**{**header.__dict__, "seal": self._sealer.sign_recoverable(header.hash, hasher=None)})
        self.blocks.append((header, tuple(messages)))
        return header

    def send(self, dst_chain_id: int, body: bytes) -> tuple[int, int]:
        """Put a message in a new block: (block number, nonce)."""
        nonce = self.next_nonce.get(dst_chain_id, 0)
        self.next_nonce[dst_chain_id] = nonce + 1
        return self.mine([Message(nonce, dst_chain_id, body)]).number, nonce


def message_id(src_chain_id: int, nonce: int, dst_chain_id: int) -> MessageId:
    return MessageId("0x" + sha256(canonical({"src": src_chain_id, "dst": dst_chain_id, "nonce": nonce})).hex())


# --------------------------------------------------------------------------- Source


class MemSource:
    """``relayer.contract.Source`` of a memchain. Each call yields to trio once, as an RPC would."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.name = chain.name
        self.chain_id = chain.chain_id

    async def head_number(self) -> int:
        """Latest block number. Raises nothing; cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        return len(self.chain.blocks) - 1

    async def headers(self, first: int, last: int) -> list[CandidateHeader]:
        """Headers ``first..last`` as served. Raises RpcUnanswered for a block not mined yet (as a
        lagging node would). Cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        if last >= len(self.chain.blocks):
            raise RpcUnanswered("no such block yet", chain=self.name, block=last)
        return [CandidateHeader(h.number, h.hash, h.encoded(), h) for h, _ in self.chain.blocks[first:last + 1]]

    async def scan_hints(self, first: int, last: int, headers: Mapping[int, VerifiedHeader]) -> ScanHints:
        """Blocks whose commitment is not the empty one. Raises nothing; cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        empty = commitment_of([])
        candidates = frozenset(n for n, h in headers.items() if first <= n <= last and h.commitment != empty)
        return ScanHints(candidates=candidates, reported=candidates)

    async def block_contents(self, header: VerifiedHeader) -> BlockContents:
        """The block's messages as served (unchecked). Raises nothing; cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        return BlockContents(header.number, header.hash, list(self.chain.blocks[header.number][1]))

    def messages(self, header: VerifiedHeader, contents: BlockContents,
                 destinations: Mapping[int, str]) -> list[Envelope]:
        """Envelopes of the block's messages to routed chains. Raises nothing."""
        return [Envelope(message_id(self.chain_id, m.nonce, m.dst_chain_id), self.name, destinations[m.dst_chain_id],
                         m.nonce, header.number, header.hash, m.body, index.to_bytes(4, "big"))
                for index, m in enumerate(contents.data) if m.dst_chain_id in destinations]

    def prove(self, header: VerifiedHeader, contents: BlockContents, messages: Sequence[Envelope]) -> list[Proof]:
        """The block's leaves and the message's index, checked against the commitment. Raises
        VerificationError (the contents are not the block's)."""
        leaves = [m.leaf for m in contents.data]
        if commitment_of(leaves) != header.commitment:
            raise VerificationError("contents do not match the header", block=header.number)
        out = []
        for envelope in messages:
            index = int.from_bytes(envelope.locator, "big")
            data = canonical({"index": index, "leaves": [leaf.hex() for leaf in leaves],
                              "message": contents.data[index].encoded().decode()})
            out.append(Proof(envelope.id, header.number, data))
        return out


    def verify(self, header: VerifiedHeader, proof: Proof, destinations: Mapping[int, str]) -> Envelope:
        """The envelope ``proof`` shows under ``header``: its message is the leaf at its index of leaves
        whose commitment is the header's. Pure. Raises ProofError."""
        try:
            data = json.loads(proof.data)
            leaves = [bytes.fromhex(leaf) for leaf in data["leaves"]]
            index = int(data["index"])
            fields = json.loads(data["message"])
            message = Message(int(fields["nonce"]), int(fields["dst"]), bytes.fromhex(fields["body"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProofError(f"undecodable proof: {exc}") from exc
        if commitment_of(leaves) != header.commitment or not 0 <= index < len(leaves) or \
                leaves[index] != message.leaf or message.encoded().decode() != data["message"]:
            raise ProofError("the proof does not show its message under the header", block=header.number)
        if message.dst_chain_id not in destinations:
            raise ProofError("the message is for a chain not routed", dst_chain_id=message.dst_chain_id)
        return Envelope(message_id(self.chain_id, message.nonce, message.dst_chain_id), self.name,
                        destinations[message.dst_chain_id], message.nonce, header.number, header.hash,
                        message.body, index.to_bytes(4, "big"))


# --------------------------------------------------------------------------- LightClient


def _verified(header: Header) -> VerifiedHeader:
    return VerifiedHeader(header.number, header.hash, header.parent_hash, header.commitment, header.timestamp,
                          header.encoded(), header)


class MemLightClient:
    """``relayer.contract.LightClient`` (and its factory, as classmethods) of a memchain: the hash by
    the rule, the seal by the trusted sealer, links, finality by ``confirmations``."""

    proves_equivocation = False

    def __init__(self, chain_name: str, chain_id: int, confirmations: int, sealer: str,
                 head: tuple[int, bytes] | None = None) -> None:
        self.chain_name, self.chain_id, self.confirmations, self.sealer = chain_name, chain_id, confirmations, sealer
        self._head = head

    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int,
                     options: Mapping[str, Any]) -> MemLightClient:
        """Raises ConfigError naming ``chains.NAME.light_client_options.sealer``."""
        sealer = options.get("sealer")
        if not isinstance(sealer, str) or len(sealer) != 66:
            raise ConfigError(f"chains.{chain_name}.light_client_options.sealer", "must be a compressed public key")
        return cls(chain_name, chain_id, confirmations, sealer)

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int,
                           state: Mapping[str, Any]) -> MemLightClient:
        """Raises VerificationError (a malformed state, or one of another chain)."""
        if state.get("chain_id") != chain_id or not isinstance(state.get("sealer"), str):
            raise VerificationError("trusted state of another chain or malformed", chain=chain_name)
        number, hash_ = state.get("number"), state.get("hash")
        head = None if number is None else (int(number), bytes.fromhex(str(hash_)))
        return cls(chain_name, chain_id, confirmations, state["sealer"], head)

    @property
    def head_number(self) -> int | None:
        """The latest accepted header's number."""
        return None if self._head is None else self._head[0]

    @property
    def lookahead(self) -> int:
        """0: a sealed header needs no child to be taken."""
        return 0

    def final_number(self, head_number: int) -> int:
        """``confirmations`` below the head. Raises nothing."""
        return head_number - self.confirmations

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """Raises VerificationError (hash, chain or seal wrong)."""
        native = Header.decode(header.encoded)
        if header.claimed_hash is not None and native.hash != header.claimed_hash:
            raise VerificationError("hash mismatch", chain=self.chain_name, block=header.number)
        if native.chain_id != self.chain_id or native.number != header.number:
            raise VerificationError("header of another chain or height", chain=self.chain_name, block=header.number)
        if sealer_of(native) != self.sealer:
            raise VerificationError("not sealed by the trusted sealer", chain=self.chain_name, block=header.number)
        return _verified(native)

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """One sealer for ever: none. Raises nothing."""
        return []

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """Raises BrokenLinkError, VerificationError (a gap); nothing accepted then."""
        head = self._head
        for h in headers:
            if head is not None:
                if h.number != head[0] + 1:
                    raise VerificationError("gap", chain=self.chain_name, block=h.number, head=head[0])
                if h.parent_hash != head[1]:
                    raise BrokenLinkError("broken link", chain=self.chain_name, block=h.number)
            head = (h.number, h.hash)
        self._head = head

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """Raises VerificationError when the messages are not those the header commits to."""
        if commitment_of([m.leaf for m in contents.data]) != header.commitment:
            raise VerificationError("contents do not match the commitment", chain=self.chain_name,
                                    block=header.number)

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """Raises VerificationError when ``encoded`` does not decode."""
        return _verified(Header.decode(encoded))

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """Not judged (``proves_equivocation`` is False). Raises nothing."""

    def trusted_state(self) -> dict[str, Any]:
        """``{chain_id, sealer, number, hash}``. Raises nothing."""
        number, hash_ = self._head if self._head else (None, None)
        return {"chain_id": self.chain_id, "sealer": self.sealer, "number": number,
                "hash": None if hash_ is None else hash_.hex()}


# --------------------------------------------------------------------------- Destination


@dataclass
class OnChain:
    """What the destination chain keeps of one source: its client (sealer, accepted commitments) and
    what it delivered from it (nonces, executed bodies)."""

    sealer: str
    accepted: dict[int, bytes] = field(default_factory=dict)
    delivered: set[int] = field(default_factory=set)
    executed: list[bytes] = field(default_factory=list)


@dataclass
class Tx:
    ref: str
    batch: Batch
    receipt: Delivery | None = None


class DestinationChain:
    """The destination chain's state and its pool of transactions, mined in order."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.bridges: dict[int, OnChain] = {}
        self.pool: list[Tx] = []
        self.mined: dict[str, Tx] = {}

    def mine(self) -> None:
        pending, self.pool = self.pool, []
        number = self.chain.mine(()).number
        for tx in pending:
            tx.receipt = self._execute(tx, number)
            self.mined[tx.ref] = tx

    def _execute(self, tx: Tx, number: int) -> Delivery:
        batch = tx.batch
        ids = tuple(m.id for m in batch.messages)
        try:
            bridge = self._check(batch)
        except (VerificationError, ProofError) as exc:
            return Delivery(DeliveryStatus.REVERTED, tx.ref, ids, reason=str(exc), block_number=number)
        delivered, failed = set(), {}
        for m in batch.messages:
            if m.nonce in bridge.delivered:
                failed[m.id] = "already delivered"
                continue
            bridge.delivered.add(m.nonce)
            bridge.executed.append(m.body)
            delivered.add(m.id)
        return Delivery(DeliveryStatus.MINED, tx.ref, ids, BatchResult(frozenset(delivered), failed),
                        block_number=number, cost=1)

    def _check(self, batch: Batch) -> OnChain:
        """The on-chain checks of a batch. Raises VerificationError, ProofError."""
        bridge = self.bridges[batch.route.src_chain_id]
        if batch.update.needed:
            header = Header.decode(batch.update.data)
            if sealer_of(header) != bridge.sealer or header.chain_id != batch.route.src_chain_id:
                raise VerificationError("update not sealed by the trusted sealer")
            bridge.accepted.setdefault(header.number, header.commitment)
        commitment = bridge.accepted.get(batch.header.number)
        if commitment is None:
            raise VerificationError("unknown block")
        for message, proof in zip(batch.messages, batch.proofs):
            _verify_proof(commitment, message, proof)
        return bridge


def _verify_proof(commitment: bytes, message: Envelope, proof: Proof) -> None:
    """Raises ProofError unless ``proof`` shows ``message`` under ``commitment``."""
    try:
        data = json.loads(proof.data)
        leaves = [bytes.fromhex(leaf) for leaf in data["leaves"]]
        body = json.loads(data["message"])
        index = int(data["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ProofError(f"undecodable proof: {exc}") from exc
    leaf = sha256(data["message"].encode())
    if commitment_of(leaves) != commitment or leaves[index] != leaf or bytes.fromhex(body["body"]) != message.body \
            or body["nonce"] != message.nonce:
        raise ProofError("proof does not show the message under the commitment", message_id=message.id)


class MemDestination:
    """``relayer.contract.Destination`` of a memchain: transactions go to the pool, journaled first."""

    def __init__(self, chain: DestinationChain) -> None:
        self.chain = chain
        self.name = chain.chain.name
        self.chain_id = chain.chain.chain_id
        self.journal: dict[str, Tx] = {}  # the operator's own record of what it sent, kept by the core in a real family
        self._count = 0

    async def delivered(self, route: RouteRef, nonces: Sequence[int]) -> frozenset[int]:
        """Raises nothing; cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        done = self.chain.bridges[route.src_chain_id].delivered
        return frozenset(n for n in nonces if n in done)

    async def deliver(self, batch: Batch) -> Delivery:
        """Raises ContractRevert when the batch would fail as a whole (checked before sending, like an
        estimate); cancelled after it was sent: the transaction stays in the pool and ``recover``
        settles it."""
        await trio.lowlevel.checkpoint()  # the estimate's round trip
        bridge = self.chain.bridges[batch.route.src_chain_id]
        try:
            _dry_run(bridge, batch)
        except (VerificationError, ProofError) as exc:
            raise ContractRevert(str(exc)) from exc
        self._count += 1
        tx = Tx(f"{self.name}-tx-{self._count}", batch)
        self.journal[tx.ref] = tx
        self.chain.pool.append(tx)
        return await self._wait(tx)

    async def _wait(self, tx: Tx) -> Delivery:
        await trio.sleep(MINE_DELAY)
        if tx.receipt is None:
            self.chain.mine()
        assert tx.receipt is not None
        del self.journal[tx.ref]
        return tx.receipt

    async def send(self, to: str, data: bytes, gas: int) -> Delivery:
        """No policy of this family sends its own transactions. Raises ContractRevert."""
        raise ContractRevert("memchain policies send nothing of their own")

    async def cosign(self, route: RouteRef, header: VerifiedHeader, envelopes: Sequence[Envelope],
                     request: Mapping[str, Any]) -> dict[str, Any]:
        """A memchain's bridge checks proofs itself: no co-signature is needed. Raises ContractRevert."""
        raise ContractRevert("memchain deliveries take no co-signatures")

    async def confirmation(self, delivery: Delivery, depth: int) -> Confirmation:
        """Final ``depth`` blocks deep. Raises nothing; cancelled: no effect."""
        await trio.lowlevel.checkpoint()
        tx = self.chain.mined.get(delivery.ref or "")
        if tx is None or tx.receipt is None or tx.receipt.block_number is None:
            return Confirmation(ConfirmationStatus.GONE)
        head = len(self.chain.chain.blocks) - 1
        if head - tx.receipt.block_number < depth:
            return Confirmation(ConfirmationStatus.WAITING)
        return Confirmation(ConfirmationStatus.FINAL, tx.receipt.result)

    async def restore(self, delivery: Delivery) -> Delivery:
        """A memchain never reorgs: the delivery as it is. Raises nothing."""
        return delivery

    async def recover(self) -> list[Delivery]:
        """Wait for every journaled transaction to be mined. Raises nothing; cancelled: the rest stays
        journaled."""
        return [await self._wait(tx) for tx in list(self.journal.values())]


def _dry_run(bridge: OnChain, batch: Batch) -> None:
    """The checks the chain will make, without changing it. Raises VerificationError, ProofError."""
    commitment = bridge.accepted.get(batch.header.number)
    if batch.update.needed:
        header = Header.decode(batch.update.data)
        if sealer_of(header) != bridge.sealer:
            raise VerificationError("update not sealed by the trusted sealer")
        commitment = header.commitment
    if commitment is None:
        raise VerificationError("unknown block")
    for message, proof in zip(batch.messages, batch.proofs):
        _verify_proof(commitment, message, proof)


# --------------------------------------------------------------------------- UpdatePolicy, Signer, config


class SealedHeaderPolicy:
    """``relayer.contract.UpdatePolicy`` (and factory): the destination checks the sealer's seal itself,
    so the update is the sealed header; nobody attests."""

    name = "sealed"

    def __init__(self, destination: MemDestination) -> None:
        self.destination = destination

    @classmethod
    async def open(cls, route: RouteRef, destination: Any, host: PolicyHost) -> SealedHeaderPolicy:
        """Raises nothing."""
        return cls(destination)

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        """None: nobody attests. Raises nothing."""
        return None

    async def update(self, route: RouteRef, header: VerifiedHeader) -> LightClientUpdate | None:
        """Empty once the client holds the block's commitment; else the sealed header. Raises
        VerificationError when it holds another one."""
        await trio.lowlevel.checkpoint()
        accepted = self.destination.chain.bridges[route.src_chain_id].accepted.get(header.number)
        if accepted == header.commitment:
            return LightClientUpdate(self.name, header.number)
        if accepted is not None:
            raise VerificationError("the destination's client holds another commitment", block=header.number)
        return LightClientUpdate(self.name, header.number, header.encoded)

    async def follow(self, route: RouteRef, upto: int | None = None) -> UpdateStatus:
        """No set changes: DONE. Raises nothing."""
        return UpdateStatus.DONE

    async def watch(self, route: RouteRef) -> None:
        """Nothing to watch. Raises nothing."""


class MemSigner:
    """``relayer.contract.Signer``: a secp256k1 key; ``address`` is its compressed public key."""

    key_type = KeyType.SECP256K1

    def __init__(self, secret: bytes) -> None:
        self._key = coincurve.PrivateKey(secret)
        self.address = self._key.public_key.format().hex()

    def sign_digest(self, digest: bytes) -> bytes:
        """Recoverable r||s||recid. Raises ValueError for a digest of another size."""
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
        return self._key.sign_recoverable(digest, hasher=None)

    def __repr__(self) -> str:
        return f"MemSigner({self.address})"


def public_key(value: Any) -> str:
    """A compressed secp256k1 public key as 66 hex digits; raises Invalid."""
    text = string_value(value)
    try:
        return coincurve.PublicKey(bytes.fromhex(text)).format().hex()
    except ValueError as exc:
        raise Invalid("expected a compressed public key: 66 hex digits") from exc


class MemAdapter:
    """The ``relayer.adapters`` entry point: a memchain's connection as the daemon opens it
    (``relayer.contract.ChainAdapter``: ``connect`` over ``memchain://`` URLs that a :class:`Devnet`
    serves, in order of the list) and the ``FamilyConfig``: ``[chains.NAME.memchain]`` has one key,
    checked with the core's key-path helpers (``relayer.config_schema``)."""

    legacy_keys: Collection[str] = frozenset()

    def __init__(self, name: str, chain_id: int, urls: tuple[str, ...], family: Mapping[str, Any]) -> None:
        self.name = name
        self.chain_id = chain_id
        self.family = family
        self.health = {url: {"url": url, "state": "unknown", "requests": 0, "errors": 0} for url in urls}
        self.closed = False

    @staticmethod
    def parse_config(table: Mapping[str, Any], path: str) -> dict[str, Any]:
        """``{"sealer": hex}``. Raises ConfigProblems naming ``PATH.sealer`` (or an unknown key)."""
        report = Report()
        sealer = Table(table, path, report, ("sealer",)).get("sealer", public_key, example='sealer = "02..."')
        report.raise_if_any()
        return {"sealer": sealer}

    @classmethod
    def connect(cls, name: str, chain_id: int, urls: tuple[str, ...], family: Any, *,
                metrics: Any = None) -> MemAdapter:
        """The adapter of chain ``name`` with its parsed table ``family``. Makes no request."""
        return cls(name, chain_id, tuple(urls), family)

    @property
    def source_layer(self) -> bytes:
        """A memchain has no message layer: its chain id as a word (relayer.contract.ChainAdapter)."""
        return self.chain_id.to_bytes(32, "big")

    @property
    def source(self) -> MemSource:
        """The chain read as the origin of messages, at the first URL a devnet serves. Raises
        RpcUnanswered when none does (a real family's source would fail at its first read instead)."""
        for url in self.health:
            node = _SERVED.get(url)
            if node is not None:
                return MemSource(node.chain if isinstance(node, DestinationChain) else node)
        raise RpcUnanswered(f"no endpoint of {self.name} answers", chain=self.name)

    async def _node(self) -> Chain | DestinationChain:
        """The chain behind the first URL a devnet serves. Raises RpcUnanswered when none does."""
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise RpcUnanswered(f"the connection to {self.name} is closed", chain=self.name)
        for url, health in self.health.items():
            health["requests"] += 1
            node = _SERVED.get(url)
            if node is not None:
                health["state"] = "ok"
                return node
            health.update(state="down", errors=health["errors"] + 1)
        raise RpcUnanswered(f"no endpoint of {self.name} answers", chain=self.name)

    async def remote_chain_id(self) -> int:
        """The id of the chain the endpoints serve. Raises RpcUnanswered."""
        node = await self._node()
        return (node.chain if isinstance(node, DestinationChain) else node).chain_id

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        """This chain's client of ``source`` and its policy (``sealed``). Raises ConfigError naming ``key``
        when this chain keeps no client of the source, or ``chains.SOURCE.memchain.sealer`` when its
        client trusts another sealer; RpcUnanswered."""
        node = await self._node()
        bridge = node.bridges.get(source.chain_id) if isinstance(node, DestinationChain) else None
        if bridge is None:
            raise ConfigError(key, f"{self.name} keeps no client of {source.name} (chain {source.chain_id})")
        if bridge.sealer != source.family["sealer"]:
            raise ConfigError(f"chains.{source.name}.{FAMILY}.sealer", f"{self.name}'s client of {source.name} "
                              f"trusts the sealer {bridge.sealer}")
        return f"{self.name}-client-of-{source.name}", SealedHeaderPolicy.name

    def endpoints(self) -> list[dict[str, Any]]:
        """The health of each URL. Raises nothing."""
        return [dict(h) for h in self.health.values()]

    async def aclose(self) -> None:
        """Nothing stays open; later reads raise RpcUnanswered. Raises nothing."""
        self.closed = True


#: What the devnets serve, by URL: a real family's nodes answer JSON-RPC; a memchain is reached in-process.
_SERVED: dict[str, Chain | DestinationChain] = {}


# --------------------------------------------------------------------------- the devnet


class Devnet:
    """Two memchains, ``sun`` (id 71) -> ``moon`` (id 72), and the bridge on moon trusting sun's sealer;
    ``mars`` (id 73) is a chain moon keeps no client of. Each is served at ``url(name)`` until ``close``."""

    def __init__(self) -> None:
        self.sun = Chain("sun", 71, coincurve.PrivateKey(sha256(b"sun sealer")))
        self.moon = DestinationChain(Chain("moon", 72, coincurve.PrivateKey(sha256(b"moon sealer"))))
        self.mars = Chain("mars", 73, coincurve.PrivateKey(sha256(b"mars sealer")))
        self.moon.bridges[self.sun.chain_id] = OnChain(self.sun.sealer_key)
        for node in (self.sun, self.moon, self.mars):
            _SERVED[self.url(node.chain.name if isinstance(node, DestinationChain) else node.name)] = node

    def url(self, name: str) -> str:
        """Where chain ``name`` of this devnet is served."""
        return f"memchain://{id(self):x}/{name}"

    def close(self) -> None:
        """Stop serving the chains."""
        for name in ("sun", "moon", "mars"):
            _SERVED.pop(self.url(name), None)


__all__ = ["Chain", "Devnet", "MemAdapter", "MemDestination", "MemLightClient", "MemSigner", "MemSource",
           "SealedHeaderPolicy", "message_id"]
