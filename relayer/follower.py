"""Follow one source chain: verify headers, find bridge events in verified receipts,
persist final messages with their attestations, all from a persisted cursor.

Per scan step (one JSON-RPC batch of headers, one eth_getLogs, one eth_getBlockReceipts
per block that holds bridge events): every header hash is recomputed and linked to its
parent, every receipts list is checked against the header's receiptsRoot and logsBloom,
and a block whose bloom mentions the bridge is read even if eth_getLogs hid it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import structlog
import trio

from adapters.evm.adapter import BridgeEvent, message_id
from light_clients.bft.client import BftLightClient
from light_clients.evm.client import EvmLightClient
from light_clients.evm.header import Header, decode_header
from light_clients.evm.receipts import bloom_of, check_receipts
from relayer.attester import Attester
from relayer.errors import VerificationError
from relayer.faults import fault_point
from relayer.metrics import Metrics
from relayer.routes import ChainRuntime
from relayer.store import Message, Store, StoredHeader

log = structlog.get_logger("relayer.follower")

HEADER_BATCH = 100


@dataclass(frozen=True)
class VerifiedHeader:
    """A header and its block hash as the chain's light client computes it (for BFT chains
    Besu's hash, which excludes the seals; for plain EVM chains keccak of the RLP)."""

    header: Header
    hash: bytes


class ReceiptCache:
    """Recently verified receipts by (chain, block), so the prover need not fetch them again."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: OrderedDict[tuple[str, int], list[dict[str, Any]]] = OrderedDict()
        self.capacity = capacity

    def put(self, chain: str, number: int, receipts: list[dict[str, Any]]) -> None:
        self._items[(chain, number)] = receipts
        self._items.move_to_end((chain, number))
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, chain: str, number: int) -> list[dict[str, Any]] | None:
        return self._items.get((chain, number))


class ChainFollower:
    """The watcher of one source chain (one task)."""

    def __init__(self, runtime: ChainRuntime, light_client: EvmLightClient, store: Store,
                 attester: Attester, cache: ReceiptCache, *, start_block: int, poll_interval: float,
                 progress: dict[str, Any], metrics: Metrics) -> None:
        self.rt = runtime
        self.metrics = metrics
        self.lc = light_client
        self.store = store
        self.attester = attester
        self.cache = cache
        self.start_block = start_block
        self.poll_interval = poll_interval
        self.progress = progress
        self.bridge_bytes = bytes.fromhex(runtime.adapter.bridge[2:])
        self.event_topics = [bytes.fromhex(t[2:]) for t in runtime.adapter.event_topics]
        self.reported_by_logs: set[int] = set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Scan forever. Raises VerificationError (the chain lied or reorged past finality),
        RpcError for the supervisor to retry; cancellation leaves the persisted cursor consistent."""
        structlog.contextvars.bind_contextvars(chain=self.rt.name)
        cursor = self.store.cursor(self.rt.name)
        cursor = self.start_block if cursor is None else cursor
        task_status.started()
        while True:
            head = await self.rt.adapter.head_number()
            final = self.lc.final_number(head)
            self._observe(head, final, cursor)
            if final < cursor:
                await trio.sleep(self.poll_interval)
                continue
            last = min(final, cursor + HEADER_BATCH - 1)
            await self.scan(cursor, last)
            cursor = last + 1
            self.metrics.lc_height.labels(self.rt.name).set(last)
            if final - last > HEADER_BATCH:
                log.info("scan.progress", chain=self.rt.name, block=last, final=final, behind=final - last)

    def _observe(self, head: int, final: int, cursor: int) -> None:
        self.progress.update(head=head, final=final, cursor=cursor, last_progress=time.time())
        self.metrics.chain_head.labels(self.rt.name).set(head)
        self.metrics.chain_final.labels(self.rt.name).set(final)
        if self.lc.head_number is not None:
            self.metrics.lc_height.labels(self.rt.name).set(self.lc.head_number)

    async def scan(self, first: int, last: int) -> None:
        """Verify and persist blocks ``first..last``."""
        before = self._set_at_head(first)
        verified = await self._verified_headers(first, last)
        by_number = {v.header.number: v for v in verified}
        changes = self._validator_changes(verified, before)
        candidates = await self._candidate_blocks(first, last, by_number)
        messages, attestations, keep = [], [], {last}
        for number in sorted(candidates):
            found = await self._block_messages(by_number[number])
            if found:
                keep.add(number)
                messages += found
                attestations += self._attest(by_number[number], found)
        keep |= {n for c in changes for n in (c - 1, c) if n in by_number}  # a BFT destination needs both
        stored = [_stored(self.rt.name, by_number[n]) for n in sorted(keep)]
        if messages:
            fault_point("after-observe")
        new = self.store.record_scan(self.rt.name, last + 1, stored, messages, attestations,
                                     light_client_state=self.lc.trusted_state(),
                                     validator_changes=tuple(changes), now=time.time())
        for number in changes:
            log.info("validators.changed", chain=self.rt.name, block=number,
                     validators=len(self.lc.listed_validators(by_number[number].header)))
        if attestations:
            fault_point("after-attest")
        for m in new:
            log.info("message.final", message_id=m.id, route=f"{m.src_chain}->{m.dst_chain}", kind=m.kind,
                     nonce=m.nonce, block=m.block_number, tx=m.tx_hash, amount=str(m.amount))

    def _set_at_head(self, first: int) -> tuple[bytes, ...] | None:
        """The validator set of block ``first - 1`` when the BFT light client's head is that block."""
        if isinstance(self.lc, BftLightClient) and self.lc.head_number == first - 1:
            return self.lc.validators
        return None

    def _validator_changes(self, verified: list[VerifiedHeader], before: tuple[bytes, ...] | None) -> list[int]:
        """Numbers of the verified BFT headers that list another validator set than their parent
        (an on-chain BFT light client must be given each, after its parent, to follow the chain)."""
        if not isinstance(self.lc, BftLightClient):
            return []
        changes, previous = [], before
        for v in verified:
            listed = self.lc.listed_validators(v.header)
            if previous is not None and listed != previous:
                changes.append(v.header.number)
            previous = listed
        return changes

    async def _verified_headers(self, first: int, last: int) -> list[VerifiedHeader]:
        """Headers first..last, each hash recomputed by the chain's rule and its seals checked,
        linked to the accepted head. Raises VerificationError (MisbehaviourError for a conflicting
        sealed header, also one found by re-reading the parent of a header that does not link:
        the evidence is stored before it propagates)."""
        # finality by confirmations: the last header is taken only once its child links to it
        # (a block the RPC swapped at the tip is refused before it is accepted or attested)
        child = 1 if getattr(self.lc, "confirmations", 0) > 0 else 0
        pairs = await self.rt.adapter.headers(first, last + child)
        verified: list[VerifiedHeader] = []
        accepted = self.lc.head_number
        try:
            for h, claimed in pairs:
                verified.append(VerifiedHeader(h, self.lc.verify_header(h, claimed)))
            if child:
                below = verified.pop()
                if below.header.parent_hash != verified[-1].hash:
                    raise VerificationError("broken parent link (reorg or lying RPC)", chain=self.rt.name,
                                            block=below.header.number,
                                            parent_hash="0x" + below.header.parent_hash.hex(),
                                            accepted_hash="0x" + verified[-1].hash.hex())
            head = self.lc.head_number
            self.lc.accept_range([v.header for v in verified if head is None or v.header.number > head])
        except VerificationError as exc:
            equivocation = await self._equivocation(verified, exc)
            self._keep_evidence(equivocation or exc, accepted)
            if equivocation is not None:
                raise equivocation from exc
            raise
        return verified

    async def _equivocation(self, verified: list[VerifiedHeader], exc: VerificationError) -> VerificationError | None:
        """After a header that does not link to its predecessor, ask the RPC for the predecessor
        again: a second validly sealed header at that height is equivocation (returns the light
        client's MisbehaviourError carrying both); anything else None. Raises RpcError."""
        number, check = exc.fields.get("block"), getattr(self.lc, "check_misbehaviour", None)
        if check is None or getattr(exc, "evidence", None) is not None or not isinstance(number, int):
            return None
        child = next((v for v in verified if v.header.number == number), None)
        known = next((v for v in verified if v.header.number == number - 1), None) or self._stored(number - 1)
        if child is None or known is None or child.header.parent_hash == known.hash:
            return None
        (again, _), = await self.rt.adapter.headers(number - 1, number - 1)
        if again.rlp == known.header.rlp:
            return None
        head = self.lc.head_number
        try:  # this range's headers before the conflict passed already: accept them so the set there is known
            self.lc.accept_range([v.header for v in verified
                                  if (head is None or v.header.number > head) and v.header.number < number - 1])
            check(known.header, again)
        except VerificationError as found:
            return found if getattr(found, "evidence", None) is not None else None
        return None

    def _stored(self, number: int) -> VerifiedHeader | None:
        stored = self.store.header(self.rt.name, number)
        if stored is None:
            return None
        return VerifiedHeader(decode_header(bytes.fromhex(stored.rlp[2:])), bytes.fromhex(stored.hash[2:]))

    def _keep_evidence(self, exc: VerificationError, accepted: int | None = None) -> None:
        """Store why this chain is halted: conflicting sealed headers, or a final header replaced
        (a header that does not link to the *accepted* head; a break between headers not yet
        accepted is an RPC that contradicts itself: halted without evidence, a restart retries)."""
        evidence = getattr(exc, "evidence", None)
        number = int(exc.fields.get("block", getattr(evidence, "number", -1)) or -1)
        if evidence is not None:
            detail = evidence.to_json() if hasattr(evidence, "to_json") else {"error": str(exc)}
            self.store.add_evidence(self.rt.name, number, "conflicting-sealed-headers", detail, time.time())
            self.metrics.misbehaviour.labels(self.rt.name).set(1)
            log.error("misbehaviour.detected", chain=self.rt.name, block=number, alarm=True,
                      action="relaying from this chain is halted; inform the consortium, keep the evidence; once "
                             "the chain's operators resolved it: relayer evidence resolve ID --reason TEXT")
        elif "parent link" in exc.message and (accepted is None or number == accepted + 1):
            self.store.add_evidence(self.rt.name, number, "reorg-below-finality", dict(exc.fields), time.time())
            log.error("reorg.below_finality", chain=self.rt.name, block=number, alarm=True,
                      accepted_hash=exc.fields.get("accepted_hash"), parent_hash=exc.fields.get("parent_hash"),
                      action="a block this relayer took as final was replaced: relaying from this chain is "
                             "halted; investigate, raise chains.NAME.confirmations, then relayer evidence resolve ID "
                             "--reason TEXT rewinds to the chain's current history")

    async def _candidate_blocks(self, first: int, last: int, by_number: dict[int, VerifiedHeader]) -> set[int]:
        reported = await self.rt.adapter.bridge_log_blocks(first, last)
        for number, block_hash in reported.items():
            known = by_number.get(number)
            if known is None or block_hash is None or bytes.fromhex(block_hash[2:]) != known.hash:
                raise VerificationError("eth_getLogs names a block that is not the verified one",
                                        chain=self.rt.name, block=number)
        in_bloom = {n for n, v in by_number.items() if self._bloom_may_hold_events(v.header.logs_bloom)}
        self.reported_by_logs = set(reported)
        return set(reported) | in_bloom

    def _bloom_may_hold_events(self, bloom: bytes) -> bool:
        """True when the header's logsBloom admits a Locked/Burned log of our bridge (a bloom
        never misses a log that is there, so a block it rules out needs no receipts)."""
        return _bloom_contains(bloom, self.bridge_bytes) and any(
            _bloom_contains(bloom, topic) for topic in self.event_topics)

    async def _block_messages(self, verified: VerifiedHeader) -> list[Message]:
        header = verified.header
        receipts = await self.rt.adapter.block_receipts(header.number)
        check_receipts(header, receipts)
        self.cache.put(self.rt.name, header.number, receipts)
        now = time.time()
        out = []
        events = self.rt.adapter.bridge_events(receipts)
        if events and header.number not in self.reported_by_logs:
            log.error("logs.hidden", chain=self.rt.name, block=header.number, events=len(events), alarm=True,
                      action="eth_getLogs of this RPC hid bridge events that the verified receipts hold; "
                             "the events are relayed anyway, but check or replace the endpoint")
        for event in events:
            message = self._message(verified, event, now)
            if message is not None:
                out.append(message)
        return out

    def _message(self, verified: VerifiedHeader, event: BridgeEvent, now: float) -> Message | None:
        header = verified.header
        route = self.rt.outgoing.get(event.dst_chain_id)
        if event.src_chain_id != self.rt.chain_id or route is None:
            log.warning("event.unroutable", chain=self.rt.name, nonce=event.nonce,
                        dst_chain_id=event.dst_chain_id, block=header.number)
            return None
        return Message(id=message_id(self.rt.chain_id, self.rt.adapter.bridge, event.nonce),
                       src_chain=self.rt.name, dst_chain=route.dst, kind=event.kind, nonce=event.nonce,
                       block_number=header.number, block_hash="0x" + verified.hash.hex(),
                       tx_hash=event.tx_hash, tx_index=event.tx_index, log_index=event.log_index,
                       token=event.token, sender=event.sender, recipient=event.recipient,
                       amount=event.amount, final_at=now)

    def _attest(self, verified: VerifiedHeader, messages: list[Message]) -> list[dict[str, Any]]:
        """Committee signatures of this header for each destination that trusts the committee
        (destinations with a BFT light client check the chain's own seals instead)."""
        header = verified.header
        out = []
        for dst in sorted({m.dst_chain for m in messages}):
            route = next(r for r in self.rt.outgoing.values() if r.dst == dst)
            if route.policy != "committee":
                continue
            if route.committee is not None and not route.committee.has(self.attester.address):
                continue  # rotated out: the light client no longer counts this operator's signature
            out.append(self.attester.attest(route, header.number, verified.hash, header.receipts_root))
            log.info("attestation.signed", route=route.name, block=header.number, epoch=route.epoch)
        return out


def _stored(chain: str, verified: VerifiedHeader) -> StoredHeader:
    header = verified.header
    return StoredHeader(chain=chain, number=header.number, hash="0x" + verified.hash.hex(),
                        parent_hash="0x" + header.parent_hash.hex(),
                        receipts_root="0x" + header.receipts_root.hex(), timestamp=header.timestamp,
                        rlp="0x" + header.rlp.hex())


def _bloom_contains(bloom: bytes, item: bytes) -> bool:
    probe = bloom_of([item])
    return all((a & b) == b for a, b in zip(bloom, probe))
