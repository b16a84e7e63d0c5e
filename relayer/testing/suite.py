"""The reusable conformance suite: every check a chain family's plugins must pass.

A vendor subclasses :class:`ConformanceSuite` in a test module that has a ``relayer_family``
fixture (module or session scope) returning their :class:`relayer.testing.Family`. Each check runs
in its own ``trio.run`` against the family's devnet. A check whose role or hook the family does not
provide is skipped with a reason starting with :data:`NOT_RUN` (and listed by the plugin at the end of
the run): it is reported as not run, never as passed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
import trio

from relayer.contract import (
    Batch,
    BlockContents,
    CandidateHeader,
    ChainAdapter,
    ConfirmationStatus,
    Delivery,
    DeliveryStatus,
    Destination,
    FamilyConfig,
    KeyType,
    LightClient,
    LightClientUpdate,
    RouteRef,
    Signer,
    Source,
    UpdatePolicy,
    UpdateStatus,
    VerifiedHeader,
)
from relayer.errors import ConfigError, ContractRevert, ProofError, VerificationError
from relayer.testing.family import Connection, Family, Produced
from relayer.testing.host import MemoryHost
from relayer.types import Envelope

#: How a check that cannot run says so (the plugin lists these at the end of the run).
NOT_RUN = "relayer.testing: not run: "
MAX_ADVANCE = 200  # blocks the kit makes a chain produce while it waits for finality
UPDATE_TRIES = 40  # rounds of policy.follow/update before a batch's update counts as never coming
ROUND = 0.1  # s between those rounds (and between the rounds of a confirmation)
CANCEL_DELAYS = (0.0, 0.0005, 0.002, 0.01)  # s after which a Source call is cancelled

T = TypeVar("T")


@dataclass
class Found:
    """A produced message as the kit found it: the client that verified its block, the block, its
    checked contents and the message's envelopes."""

    light_client: LightClient
    header: VerifiedHeader
    contents: BlockContents
    messages: list[Envelope]


class Kit:
    """The family under test and the steps the checks share (what the core's follower and submitter
    would do, driven step by step)."""

    def __init__(self, family: Family) -> None:
        self.family = family

    # running --------------------------------------------------------------------------
    def run(self, check: Callable[[Kit], Awaitable[None]]) -> None:
        """Run ``check`` in a fresh trio run; the family's ``aclose`` afterwards. Raises what it raises."""
        async def main() -> None:
            try:
                await check(self)
            finally:
                with trio.CancelScope(shield=True):
                    await self.family.aclose()

        trio.run(main)

    def need(self, what: str, value: T | None) -> T:
        """``value``, or the check is reported as not run because the family provides no ``what``."""
        if value is None:
            pytest.skip(f"{NOT_RUN}the {self.family.name} family provides no {what}")
        return value

    @property
    def route(self) -> RouteRef:
        return self.family.route()

    def destinations(self) -> dict[int, str]:
        return {self.route.dst_chain_id: self.route.dst}

    # the follower's steps ----------------------------------------------------------------
    def light_client(self, start_block: int) -> LightClient:
        """A client for a first start whose first accepted header is ``start_block``."""
        route = self.route
        return self.family.light_client_factory().from_options(
            route.src, route.src_chain_id, self.family.confirmations, self.family.light_client_options(start_block))

    def restored(self, state: dict[str, Any], chain_id: int | None = None) -> LightClient:
        route = self.route
        return self.family.light_client_factory().from_trusted_state(
            route.src, route.src_chain_id if chain_id is None else chain_id, self.family.confirmations, state)

    async def head_at_least(self, source: Source, number: int) -> int:
        """The source's head once it is at least ``number`` (the family makes blocks)."""
        for _ in range(MAX_ADVANCE):
            head = await source.head_number()
            if head >= number:
                return head
            await self.family.advance(1)
        raise AssertionError(f"the source never reached block {number}")

    async def final(self, source: Source, client: LightClient, number: int) -> int:
        """The source's head once ``number`` is final by ``client``. Fails when it never is."""
        for _ in range(MAX_ADVANCE):
            head = await source.head_number()
            if client.final_number(head) >= number:
                return head
            await self.family.advance(1)
        raise AssertionError(f"block {number} never became final (final_number stays below it)")

    async def scan(self, source: Source, client: LightClient, first: int, last: int) -> list[VerifiedHeader]:
        """Read, check and accept headers ``first..last`` as the follower does."""
        candidates = await source.headers(first, last)
        assert [c.number for c in candidates] == list(range(first, last + 1)), "headers() out of order"
        verified = [client.check_header(c) for c in candidates]
        for c, v in zip(candidates, verified):
            assert v.number == c.number, "check_header changed the number"
            if c.claimed_hash is not None:
                assert v.hash == c.claimed_hash, "check_header returned another hash than the claimed one"
        client.set_changes(verified)
        client.accept(verified)
        assert client.head_number == last, "accept did not move the head to the range's last header"
        return verified

    async def find(self, source: Source, produced: Produced | None = None) -> Found:
        """Produce a message (unless given), wait until its block is final, verify that block and
        read its messages to the route's destination."""
        produced = produced or await self.family.produce_message()
        number = produced.block_number
        client = self.light_client(number)
        await self.final(source, client, number)
        (header,) = await self.scan(source, client, number, number)
        hints = await source.scan_hints(number, number, {number: header})
        assert number in hints.candidates, "scan_hints ruled out the block holding the message"
        contents = await source.block_contents(header)
        client.check_contents(header, contents)
        found = source.messages(header, contents, self.destinations())
        if produced.nonce is not None:
            found = [m for m in found if m.nonce == produced.nonce]
        assert found, f"no message to {self.route.dst} found in block {number}"
        return Found(client, header, contents, found)

    # the daemon's steps ---------------------------------------------------------------------
    def chain_adapter(self) -> Any:
        """The family's ChainAdapter class; the check is not run without one."""
        return self.need("ChainAdapter", self.family.chain_adapter())

    def connect(self, adapter: Any, connection: Connection) -> ChainAdapter:
        """``adapter.connect`` as the daemon calls it (synchronous: it makes no request)."""
        connected = adapter.connect(connection.name, connection.chain_id, connection.urls, connection.family)
        assert isinstance(connected, ChainAdapter), "connect() did not return a relayer.contract.ChainAdapter"
        assert (connected.name, connected.chain_id) == (connection.name, connection.chain_id), \
            "the connected adapter names another chain"
        return connected

    # the submitter's steps -----------------------------------------------------------------
    async def destination(self) -> Destination:
        """The family's Destination, after the ``recover`` the submitter calls once before its first
        round (a fresh operator journal learns where the account stands); not run without one."""
        destination = self.need("Destination", await self.family.open_destination())
        assert isinstance(destination, Destination), "open_destination() is not a relayer.contract.Destination"
        await destination.recover()
        return destination

    def host(self, destination: Destination | None) -> MemoryHost:
        return MemoryHost(self.family.signer(), destination)

    async def policy(self, host: MemoryHost) -> UpdatePolicy:
        return self.need("UpdatePolicy", await self.family.open_policy(self.route, host))

    async def update(self, policy: UpdatePolicy, host: MemoryHost, found: Found) -> LightClientUpdate:
        """What a delivery of ``found`` must carry, after the policy followed the source's set changes."""
        route, header = self.route, found.header
        host.record(route.src, header, bool(found.light_client.set_changes([header])))
        host.open.setdefault(route.name, set()).add(header.number)
        record = policy.attest(route, header)
        if record is not None:
            json.dumps(record)  # what the core stores and serves to peers must be JSON
            host.keep_attestation(record)
        for _ in range(UPDATE_TRIES):
            if await policy.follow(route, header.number) == UpdateStatus.DONE:
                update = await policy.update(route, header)
                if update is not None:
                    assert update.block_number == header.number, "the update is for another block"
                    return update
            await trio.sleep(ROUND)
        raise AssertionError(f"the {policy.name} policy never gave an update for block {header.number}")

    async def batch(self, source: Source, policy: UpdatePolicy, host: MemoryHost, found: Found) -> Batch:
        update = await self.update(policy, host, found)
        proofs = source.prove(found.header, found.contents, found.messages)
        assert [p.message_id for p in proofs] == [m.id for m in found.messages], "prove() out of order"
        return Batch(self.route, found.header, tuple(found.messages), tuple(proofs), update)

    async def confirm(self, destination: Destination, delivery: Delivery) -> None:
        """Wait (making destination blocks, a round every ROUND seconds as the submitter asks once a round:
        a destination may reuse its head read for a moment) until the delivery is final at the family's
        depth."""
        depth = self.family.destination_depth
        for _ in range(depth + MAX_ADVANCE // 10):
            confirmation = await destination.confirmation(delivery, depth)
            assert confirmation.status != ConfirmationStatus.GONE, "a delivery on a devnet without reorgs is gone"
            if confirmation.status == ConfirmationStatus.FINAL:
                if confirmation.result is not None:
                    assert set(delivery.message_ids) <= confirmation.result.delivered | set(
                        confirmation.result.failed), "the final block says otherwise of the delivery"
                return
            await self.family.advance_destination(1)
            await trio.sleep(ROUND)
        raise AssertionError("the delivery never became final")


def delivered_by(delivery: Delivery, message_ids: Sequence[str]) -> set[str]:
    """Of ``message_ids``, those ``delivery`` says it delivered."""
    if delivery.status != DeliveryStatus.MINED or delivery.result is None:
        return set()
    return {m for m in message_ids if m in delivery.result.delivered}


def tampered_header_of(family: Family, candidate: CandidateHeader) -> CandidateHeader:
    tampered = family.tamper_header(candidate)
    assert tampered.encoded != candidate.encoded, "tamper_header returned the header unchanged"
    return tampered


# --------------------------------------------------------------------------- the suite


class ConformanceSuite:
    """Subclass in a module that provides a ``relayer_family`` fixture; pytest collects every check."""

    # roles ------------------------------------------------------------------------------
    def test_roles_satisfy_the_contract(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            assert isinstance(source, Source), "open_source() is not a relayer.contract.Source"
            assert source.name == kit.route.src and source.chain_id == kit.route.src_chain_id
            assert isinstance(kit.light_client(await source.head_number()), LightClient)

        relayer_kit.run(check)

    def test_chain_adapter_connects_and_resolves_the_route(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            adapter, route = kit.chain_adapter(), kit.route
            src, dst = (kit.connect(adapter, kit.family.connection(c)) for c in (route.src, route.dst))
            try:
                source = src.source
                assert isinstance(source, Source), "the adapter's source is not a relayer.contract.Source"
                assert (source.name, source.chain_id) == (route.src, route.src_chain_id), "source names another chain"
                assert await src.remote_chain_id() == route.src_chain_id, "remote_chain_id of the source"
                assert await dst.remote_chain_id() == route.dst_chain_id, "remote_chain_id of the destination"
                light_client, policy = await dst.resolve_route(src, f"routes[{route.name}]")
                assert light_client == route.light_client, f"resolve_route named {light_client!r}"
                assert isinstance(policy, str) and policy, "resolve_route named no update policy"
                for delay in CANCEL_DELAYS:
                    with trio.move_on_after(delay):
                        await dst.resolve_route(src, f"routes[{route.name}]")
                    assert await dst.remote_chain_id() == route.dst_chain_id, "a cancelled call changed later reads"
                urls = kit.family.connection(route.dst).urls
                endpoints = dst.endpoints()
                assert len(endpoints) == len(urls), "endpoints() does not list every URL"
                for endpoint in endpoints:
                    assert {"url", "state", "requests", "errors"} <= set(endpoint), endpoint
                    assert isinstance(endpoint["url"], str) and "@" not in endpoint["url"], endpoint
            finally:
                with trio.CancelScope(shield=True):
                    await src.aclose()
                    await dst.aclose()

        relayer_kit.run(check)

    def test_an_untrusted_route_is_refused(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            adapter, route = kit.chain_adapter(), kit.route
            stranger = kit.need("untrusted_connection hook", kit.family.untrusted_connection())
            src, dst = kit.connect(adapter, stranger), kit.connect(adapter, kit.family.connection(route.dst))
            key = f"routes[{stranger.name}->{route.dst}]"
            try:
                with pytest.raises(ConfigError) as refused:
                    await dst.resolve_route(src, key)
                # where the operator would set the source up: the route, the source's own keys, or the
                # destination's entry for that source (a destination that lists the sources it takes)
                named = refused.value.key
                assert named == key or named.startswith(f"chains.{stranger.name}.") or (
                    named.startswith(f"chains.{route.dst}.") and stranger.name in named.split(".")), \
                    f"the refusal names {named}, neither the route, the source's keys nor the destination's " \
                    f"entry for {stranger.name}"
            finally:
                with trio.CancelScope(shield=True):
                    await src.aclose()
                    await dst.aclose()

        relayer_kit.run(check)

    def test_signer(self, relayer_kit: Kit) -> None:
        signer = relayer_kit.need("Signer", relayer_kit.family.signer())
        assert isinstance(signer, Signer), "signer() is not a relayer.contract.Signer"
        assert isinstance(signer.key_type, KeyType)
        assert isinstance(signer.address, str) and signer.address
        signature = signer.sign_digest(bytes(range(32)))
        assert isinstance(signature, bytes) and signature
        with pytest.raises(ValueError):
            signer.sign_digest(bytes(31))

    def test_family_config(self, relayer_kit: Kit) -> None:
        family = relayer_kit.family
        config: FamilyConfig = relayer_kit.need("FamilyConfig", family.family_config())
        table = relayer_kit.need("config_table", family.config_table())
        assert all(isinstance(k, str) for k in config.legacy_keys)
        path = f"chains.{relayer_kit.route.src}.{family.name}"
        config.parse_config(table, path)
        bad = family.bad_config_table()
        if bad is not None:
            with pytest.raises(ConfigError) as refused:
                config.parse_config(bad, path)
            assert refused.value.key.startswith(path + "."), f"{refused.value.key} is not under {path}"

    # headers, lies, finality -------------------------------------------------------------
    def test_headers_are_verified_linked_and_rebuilt(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            first = await source.head_number()
            await kit.head_at_least(source, first + 2)
            client = kit.light_client(first)
            assert client.head_number is None, "a client for a first start has an accepted head"
            verified = await kit.scan(source, client, first, first + 2)
            for parent, child in zip(verified, verified[1:]):
                assert child.parent_hash == parent.hash, "verified headers do not link"
            for v in verified:
                rebuilt = client.known_header(v.encoded, v.hash)
                assert rebuilt == v, "known_header did not rebuild the stored header"
            if client.proves_equivocation:
                (again,) = await source.headers(first + 2, first + 2)
                client.check_equivocation(verified[-1], again)  # the same header twice is no equivocation

        relayer_kit.run(check)

    def test_a_tampered_header_is_refused(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            head = await source.head_number()
            client = kit.light_client(head)
            (candidate,) = await source.headers(head, head)
            with pytest.raises(VerificationError):
                client.check_header(tampered_header_of(kit.family, candidate))
            client.check_header(candidate)  # the honest header still passes

        relayer_kit.run(check)

    def test_a_range_that_does_not_extend_the_head_is_refused(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            first = await source.head_number()
            await kit.head_at_least(source, first + 3)
            client = kit.light_client(first)
            await kit.scan(source, client, first, first)
            later = [client.check_header(c) for c in await source.headers(first + 1, first + 3)]
            with pytest.raises(VerificationError):
                client.accept([later[0], later[2]])  # a gap inside the range
            assert client.head_number == first, "part of a refused range was accepted"
            with pytest.raises(VerificationError):
                client.accept([later[1]])  # a gap after the head
            assert client.head_number == first
            client.accept(later)
            assert client.head_number == first + 3

        relayer_kit.run(check)

    def test_finality(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            head = await source.head_number()
            client = kit.light_client(head)
            assert isinstance(client.lookahead, int) and client.lookahead >= 0
            finals = [client.final_number(h) for h in range(head, head + 5)]
            assert all(f <= h for f, h in zip(finals, range(head, head + 5))), "a block above the head is final"
            assert finals == sorted(finals), "final_number goes down as the head goes up"
            await kit.final(source, client, head)  # the head of now becomes final as the chain grows

        relayer_kit.run(check)

    # messages and proofs ---------------------------------------------------------------------
    def test_messages_are_found_and_proven(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            found = await kit.find(source)
            route, header = kit.route, found.header
            for m in found.messages:
                assert (m.src_chain, m.dst_chain) == (route.src, route.dst)
                assert (m.block_number, m.block_hash) == (header.number, header.hash)
                assert isinstance(m.body, bytes) and isinstance(m.locator, bytes) and m.nonce >= 0
            assert len({m.id for m in found.messages}) == len(found.messages), "message ids repeat"
            proofs = source.prove(header, found.contents, found.messages)
            assert [(p.message_id, p.block_number) for p in proofs] == [(m.id, header.number) for m in found.messages]
            assert not source.messages(header, found.contents, {}), "a message to an unrouted chain was returned"

        relayer_kit.run(check)

    def test_a_proof_is_verified_off_chain(self, relayer_kit: Kit) -> None:
        """``Source.verify`` gives back each proven message (as a peer operator checks it before it
        co-signs), and refuses a tampered proof and a proof under another header."""
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            found = await kit.find(source)
            header = found.header
            proofs = source.prove(header, found.contents, found.messages)
            for m, p in zip(found.messages, proofs):
                got = source.verify(header, p, kit.destinations())
                assert (got.id, got.src_chain, got.dst_chain, got.nonce, got.block_number, got.block_hash, got.body,
                        got.acknowledges) == (m.id, m.src_chain, m.dst_chain, m.nonce, m.block_number,
                                              m.block_hash, m.body, m.acknowledges), "verify gave another message"
                tampered = kit.need("tamper_proof hook", kit.family.tamper_proof(p))
                with pytest.raises(ProofError):
                    source.verify(header, tampered, kit.destinations())
                other = replace(header, commitment=bytes(len(header.commitment)))
                with pytest.raises(ProofError):
                    source.verify(other, p, kit.destinations())
                with pytest.raises(ProofError):
                    source.verify(header, p, {})

        relayer_kit.run(check)

    def test_tampered_contents_are_refused(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            found = await kit.find(source)
            tampered = kit.need("tamper_contents hook", kit.family.tamper_contents(found.contents))
            with pytest.raises(VerificationError):
                found.light_client.check_contents(found.header, tampered)
            with pytest.raises((VerificationError, ProofError)):
                source.prove(found.header, tampered, found.messages)

        relayer_kit.run(check)

    # restart -------------------------------------------------------------------------------------
    def test_saved_state_is_restored_after_a_restart(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            first = await source.head_number()
            await kit.head_at_least(source, first + 1)
            client = kit.light_client(first)
            await kit.scan(source, client, first, first + 1)
            saved = json.loads(json.dumps(client.trusted_state()))  # what the store keeps
            restored = kit.restored(saved)
            assert restored.head_number == client.head_number
            assert json.loads(json.dumps(restored.trusted_state())) == saved
            await kit.head_at_least(source, first + 2)
            await kit.scan(source, restored, first + 2, first + 2)  # it continues where it stopped
            with pytest.raises(VerificationError):
                kit.restored(saved, chain_id=kit.route.src_chain_id + 1)  # the state of another chain

        relayer_kit.run(check)

    # cancellation ----------------------------------------------------------------------------------
    def test_cancelled_source_calls_leave_nothing_behind(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            source = await kit.family.open_source()
            head = await source.head_number()
            first = max(0, head - 2)
            client = kit.light_client(first)
            reference = await source.headers(first, head)
            verified = {c.number: client.check_header(c) for c in reference}
            contents = await source.block_contents(verified[head])
            for delay in CANCEL_DELAYS:
                calls: list[Callable[[], Awaitable[object]]] = [
                    source.head_number, lambda: source.headers(first, head),
                    lambda: source.scan_hints(first, head, verified), lambda: source.block_contents(verified[head])]
                for call in calls:
                    with trio.move_on_after(delay):
                        await call()
                again = await source.headers(first, head)
                assert [(c.number, c.claimed_hash, c.encoded) for c in again] == \
                    [(c.number, c.claimed_hash, c.encoded) for c in reference], "a cancelled call changed later reads"
                client.check_contents(verified[head], await source.block_contents(verified[head]))
            assert contents.block_hash == verified[head].hash

        relayer_kit.run(check)

    # delivery -----------------------------------------------------------------------------------------
    def test_delivery_and_idempotence(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            destination = await kit.destination()
            source = await kit.family.open_source()
            host = kit.host(destination)
            policy = await kit.policy(host)
            assert isinstance(policy, UpdatePolicy), "open_policy() is not a relayer.contract.UpdatePolicy"
            found = await kit.find(source)
            route, ids, nonces = kit.route, [m.id for m in found.messages], [m.nonce for m in found.messages]
            assert await destination.delivered(route, nonces) == frozenset(), "delivered before any delivery"
            batch = await kit.batch(source, policy, host, found)
            delivery = await destination.deliver(batch)
            assert delivered_by(delivery, ids) == set(ids), f"the delivery did not deliver the batch: {delivery}"
            assert await destination.delivered(route, nonces) == frozenset(nonces)
            await kit.confirm(destination, delivery)
            again = await policy.update(route, found.header)
            assert again is not None and not again.needed, "the destination's client needs the block again"
            try:
                repeated = await destination.deliver(replace(batch, update=again))
            except ContractRevert:
                pass  # refused before anything was sent: nothing delivered twice
            else:  # the same transaction reported again (the same ref) is the one delivery, not a second
                assert not delivered_by(repeated, ids) or repeated.ref == delivery.ref, \
                    f"a second delivery delivered the messages again: {repeated}"
            assert await destination.delivered(route, nonces) == frozenset(nonces)

        relayer_kit.run(check)

    def test_a_tampered_proof_is_not_delivered(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            destination = await kit.destination()
            source = await kit.family.open_source()
            host = kit.host(destination)
            policy = await kit.policy(host)
            found = await kit.find(source)
            batch = await kit.batch(source, policy, host, found)
            proofs = tuple(kit.need("tamper_proof hook", kit.family.tamper_proof(p)) for p in batch.proofs)
            assert proofs != batch.proofs, "tamper_proof returned the proofs unchanged"
            ids, nonces = [m.id for m in found.messages], [m.nonce for m in found.messages]
            try:
                lied = await destination.deliver(replace(batch, proofs=proofs))
            except (ContractRevert, ProofError, VerificationError):
                pass
            else:
                assert not delivered_by(lied, ids), f"a tampered proof delivered: {lied}"
            assert await destination.delivered(kit.route, nonces) == frozenset()
            honest = await destination.deliver(replace(batch, update=await kit.update(policy, host, found)))
            assert delivered_by(honest, ids) == set(ids), "the honest batch was not delivered after the lie"

        relayer_kit.run(check)

    def test_a_cancelled_delivery_is_settled_and_retryable(self, relayer_kit: Kit) -> None:
        async def check(kit: Kit) -> None:
            destination = await kit.destination()
            source = await kit.family.open_source()
            host = kit.host(destination)
            policy = await kit.policy(host)
            found = await kit.find(source)
            ids, nonces = [m.id for m in found.messages], [m.nonce for m in found.messages]
            batch = await kit.batch(source, policy, host, found)
            outcomes: list[Delivery] = []
            with trio.move_on_after(0):
                outcomes.append(await destination.deliver(batch))  # cancelled before its first await returns
            assert not outcomes, "deliver() did not yield to the scheduler before sending"
            with trio.move_on_after(kit.family.cancel_deliver_after) as scope:
                outcomes.append(await destination.deliver(batch))
            outcomes += await destination.recover()  # what a restart would settle
            done = await destination.delivered(kit.route, nonces)
            if done != frozenset(nonces):
                retry = await destination.deliver(replace(batch, update=await kit.update(policy, host, found)))
                outcomes.append(retry)
            assert await destination.delivered(kit.route, nonces) == frozenset(nonces), \
                "the message was not delivered after a cancelled attempt and a retry"
            for message_id in ids:  # by how many transactions (a ref names one; it may be reported again)
                times = len({d.ref for d in outcomes if message_id in delivered_by(d, ids)})
                assert times <= 1, f"{message_id} was delivered {times} times"
            if not scope.cancelled_caught:
                pytest.fail(f"deliver() finished within cancel_deliver_after={kit.family.cancel_deliver_after} s: "
                            "lower it so the check cancels a delivery in flight")

        relayer_kit.run(check)


__all__ = ["NOT_RUN", "ConformanceSuite", "Found", "Kit", "delivered_by"]
