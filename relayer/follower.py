"""Follow one source chain: verify headers, find messages in verified blocks, persist final
messages with their attestations, all from a persisted cursor.

Chain-neutral: the chain is read through its ``Source`` and judged by its ``LightClient``
(``relayer.contract``). Per scan step: the range's headers are read and each one verified
(hash by the chain's rule, seals) and linked to the accepted head; the source names the blocks
that may hold messages; each such block's contents are checked by the light client against the
header's commitment before the source reads the messages out of them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import structlog
import trio

from relayer.contract import LightClient, SetChange, Source, VerifiedHeader
from relayer.errors import BrokenLinkError, MisbehaviourError, VerificationError
from relayer.faults import fault_point
from relayer.metrics import Metrics
from relayer.routes import ChainRuntime
from relayer.store import EvidenceKind, Message, Store, StoredHeader
from relayer.store_async import offload

log = structlog.get_logger("relayer.follower")

HEADER_BATCH = 100


class ReceiptCache:
    """Recently checked block contents (``BlockContents.data``; EVM: the receipts) by (chain, block),
    so a delivery need not fetch them again."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.capacity = capacity

    def put(self, chain: str, number: int, data: Any) -> None:
        self._items[(chain, number)] = data
        self._items.move_to_end((chain, number))
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, chain: str, number: int) -> Any | None:
        return self._items.get((chain, number))


class ChainFollower:
    """The watcher of one source chain (one task)."""

    def __init__(self, runtime: ChainRuntime, light_client: LightClient, store: Store,
                 cache: ReceiptCache, *, start_block: int, poll_interval: float,
                 progress: dict[str, Any], metrics: Metrics, source: Source | None = None) -> None:
        self.rt = runtime
        self.source: Source = source if source is not None else runtime.source
        self.metrics = metrics
        self.lc = light_client
        self.store = store
        self.cache = cache
        self.start_block = start_block
        self.poll_interval = poll_interval
        self.progress = progress

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Scan forever. Raises VerificationError (the chain lied or reorged past finality),
        RpcError for the supervisor to retry; cancellation leaves the persisted cursor consistent."""
        structlog.contextvars.bind_contextvars(chain=self.rt.name)
        cursor = await offload(self.store, self.store.cursor, self.rt.name)
        cursor = self.start_block if cursor is None else cursor
        task_status.started()
        while True:
            head = await self.source.head_number()
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
        """Verify and persist blocks ``first..last``. Raises VerificationError, RpcError."""
        verified, changes = await self._verified_headers(first, last)
        by_number = {v.number: v for v in verified}
        hints = await self.source.scan_hints(first, last, by_number)
        messages, attestations, keep = [], [], {last}
        for number in sorted(hints.candidates):
            found = await self._block_messages(by_number[number])
            if found:
                keep.add(number)
                messages += found
                attestations += self._attest(by_number[number], found)
        numbers = [c.number for c in changes]
        keep |= {n for c in numbers for n in (c - 1, c) if n in by_number}  # a BFT destination needs both
        stored = [_stored(self.rt.name, by_number[n]) for n in sorted(keep)]
        if messages:
            fault_point("after-observe")
        new = await offload(self.store, self.store.record_scan, self.rt.name, last + 1, stored, messages,
                            attestations, light_client_state=self.lc.trusted_state(),
                            validator_changes=tuple(numbers), now=time.time())
        for change in changes:
            log.info("validators.changed", chain=self.rt.name, block=change.number, validators=change.members)
        if attestations:
            fault_point("after-attest")
        for m in new:
            log.info("message.final", message_id=m.id, route=f"{m.src_chain}->{m.dst_chain}",
                     kind=m.labels.get("kind"), nonce=m.nonce, block=m.block_number, tx=m.labels.get("tx"),
                     amount=m.labels.get("amount"))

    async def _verified_headers(self, first: int, last: int) -> tuple[list[VerifiedHeader], list[SetChange]]:
        """Headers first..last, each checked by the light client and linked to the accepted head, and
        the ones among them whose trusted set changes. Raises VerificationError (BrokenLinkError for a
        header that does not link; MisbehaviourError for a conflicting sealed header, also one found
        by re-reading the parent of a header that does not link: the evidence is stored before it
        propagates)."""
        # finality by confirmations: the last header is taken only once its child links to it
        # (a block the RPC swapped at the tip is refused before it is accepted or attested)
        child = self.lc.lookahead
        candidates = await self.source.headers(first, last + child)
        verified: list[VerifiedHeader] = []
        accepted = self.lc.head_number
        try:
            for candidate in candidates:
                verified.append(self.lc.check_header(candidate))
            if child:
                below = verified.pop()
                if below.parent_hash != verified[-1].hash:
                    raise BrokenLinkError("broken parent link (reorg or lying RPC)", chain=self.rt.name,
                                          block=below.number, parent_hash="0x" + below.parent_hash.hex(),
                                          accepted_hash="0x" + verified[-1].hash.hex())
            head = self.lc.head_number
            changes = self.lc.set_changes(verified)
            self.lc.accept([v for v in verified if head is None or v.number > head])
        except VerificationError as exc:
            equivocation = await self._equivocation(verified, exc)
            self._keep_evidence(equivocation or exc, accepted)
            if equivocation is not None:
                raise equivocation from exc
            raise
        return verified, changes

    async def _equivocation(self, verified: list[VerifiedHeader], exc: VerificationError) -> MisbehaviourError | None:
        """After a header that does not link to its predecessor, ask the source for the predecessor
        again: a second validly sealed header at that height is equivocation (returns the light
        client's MisbehaviourError carrying both); anything else None. Raises RpcError."""
        number = exc.fields.get("block")
        if not self.lc.proves_equivocation or isinstance(exc, MisbehaviourError) or not isinstance(number, int):
            return None
        child = next((v for v in verified if v.number == number), None)
        known = next((v for v in verified if v.number == number - 1), None) or self._stored(number - 1)
        if child is None or known is None or child.parent_hash == known.hash:
            return None
        (again,) = await self.source.headers(number - 1, number - 1)
        if again.encoded == known.encoded:
            return None
        head = self.lc.head_number
        try:  # this range's headers before the conflict passed already: accept them so the set there is known
            self.lc.accept([v for v in verified if (head is None or v.number > head) and v.number < number - 1])
            self.lc.check_equivocation(known, again)
        except MisbehaviourError as found:
            return found
        except VerificationError:
            return None
        return None

    def _stored(self, number: int) -> VerifiedHeader | None:
        stored = self.store.header(self.rt.name, number)
        if stored is None:
            return None
        return self.lc.known_header(bytes.fromhex(stored.encoded[2:]), bytes.fromhex(stored.hash[2:]))

    def _keep_evidence(self, exc: VerificationError, accepted: int | None = None) -> None:
        """Store why this chain is halted: conflicting sealed headers, or a final header replaced
        (a header that does not link to the *accepted* head; a break between headers not yet
        accepted is an RPC that contradicts itself: halted without evidence, a restart retries)."""
        block = exc.fields.get("block", getattr(exc, "number", -1))
        number = block if isinstance(block, int) and block else -1
        if isinstance(exc, MisbehaviourError):
            self.store.add_evidence(self.rt.name, number, EvidenceKind.CONFLICTING_SEALED_HEADERS, exc.evidence_json(),
                                    time.time())
            self.metrics.misbehaviour.labels(self.rt.name).set(1)
            log.error("misbehaviour.detected", chain=self.rt.name, block=number, alarm=True,
                      action="relaying from this chain is halted; inform the consortium, keep the evidence; once "
                             "the chain's operators resolved it: relayer evidence resolve ID --reason TEXT")
        elif isinstance(exc, BrokenLinkError) and (accepted is None or number == accepted + 1):
            self.store.add_evidence(self.rt.name, number, EvidenceKind.REORG_BELOW_FINALITY, dict(exc.fields),
                                    time.time())
            log.error("reorg.below_finality", chain=self.rt.name, block=number, alarm=True,
                      accepted_hash=exc.fields.get("accepted_hash"), parent_hash=exc.fields.get("parent_hash"),
                      action="a block this relayer took as final was replaced: relaying from this chain is "
                             "halted; investigate, raise chains.NAME.confirmations, then relayer evidence resolve ID "
                             "--reason TEXT rewinds to the chain's current history")

    async def _block_messages(self, verified: VerifiedHeader) -> list[Message]:
        """The messages of one candidate block, its contents checked against the header's commitment
        first. Raises VerificationError, RpcError, RpcAnswerError."""
        contents = await self.source.block_contents(verified)
        self.lc.check_contents(verified, contents)
        self.cache.put(self.rt.name, verified.number, contents.data)
        destinations = {chain_id: route.dst for chain_id, route in self.rt.outgoing.items()}
        now = time.time()
        return [Message.from_envelope(envelope, final_at=now)
                for envelope in self.source.messages(verified, contents, destinations)]

    def _attest(self, verified: VerifiedHeader, messages: list[Message]) -> list[dict[str, Any]]:
        """This operator's attestations of this header for each destination whose update policy wants
        one (a committee light client does; one that checks the chain's own seals does not)."""
        out = []
        for dst in sorted({m.dst_chain for m in messages}):
            route = next(r for r in self.rt.outgoing.values() if r.dst == dst)
            record = route.policy.attest(route.ref, verified)
            if record is not None:
                out.append(record)
        return out


def _stored(chain: str, verified: VerifiedHeader) -> StoredHeader:
    return StoredHeader(chain=chain, number=verified.number, hash="0x" + verified.hash.hex(),
                        parent_hash="0x" + verified.parent_hash.hex(),
                        commitment="0x" + verified.commitment.hex(), timestamp=verified.timestamp,
                        encoded="0x" + verified.encoded.hex())


__all__ = ["HEADER_BATCH", "ChainFollower", "ReceiptCache"]
