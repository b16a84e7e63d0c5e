"""The state database reads and writes the same on both backends: a SQLite file and a PostgreSQL
database on a real server (tests/pg_server.py), through one set of SQL (relayer.store_dialect)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from relayer.store import SCHEMA_VERSION, JournalTx, Message, Rewind, Store, StoredHeader


def header(number: int, chain: str = "alpha") -> StoredHeader:
    return StoredHeader(chain, number, f"0x{number:064x}", f"0x{number - 1:064x}", "0x" + "ee" * 32, 1000 + number,
                        "0x" + "f0" * 8)


def message(block: int, i: int, *, final_at: float = 1.5) -> Message:
    return Message(id=f"0x{block:08x}{i:056x}", src_chain="alpha", dst_chain="beta", nonce=block * 100 + i,
                   block_number=block, block_hash="0x" + "ab" * 32, body=b"\x00\x01body" + bytes([i]),
                   locator=b"\xffloc", labels={"kind": "lock", "amount": str(i)}, final_at=final_at)


def test_scans_messages_and_the_journal_round_trip(store_location: str | Path) -> None:
    store = Store(store_location)
    try:
        attestation = {"src_chain_id": 1, "dst_chain_id": 2, "number": 5, "epoch": 0, "signature": b"\x01\x02"}
        new = store.record_scan("alpha", 6, [header(4), header(5)], [message(5, 0), message(5, 1)], [attestation],
                                light_client_state={"trusted": b"\xaa"}, validator_changes=(5,), now=7.25)
        assert [m.id for m in new] == [message(5, 0).id, message(5, 1).id]
        again = store.record_scan("alpha", 6, [header(5)], [message(5, 0)], [attestation])
        assert again == []  # already kept: nothing new, nothing doubled
        assert store.cursor("alpha") == 6 and store.cursors() == {"alpha": 6}
        assert store.latest_header("alpha") == header(5)
        assert [h.number for h in store.headers_below("alpha", 6)] == [5, 4]
        assert store.validator_changes("alpha") == [(5, 7.25)]
        assert store.light_client_state("alpha") == {"trusted": "0xaa"}
        assert store.attestation(1, 2, 5, 0) == {**attestation, "signature": "0x0102"}
        kept = store.message(message(5, 1).id)
        assert kept == message(5, 1) and kept is not None and kept.body == b"\x00\x01body\x01"
        assert kept.labels == {"kind": "lock", "amount": "1"}
        assert [m.nonce for m in store.open_messages("beta", now=math.inf)] == [500, 501]
        assert store.counts() == {("alpha", "beta"): {"final": 2}}
        assert store.oldest_open("alpha", "beta") == 1.5

        tx = JournalTx("0x" + "01" * 32, "beta", 7, "0xraw", "signed", (message(5, 0).id,), 10.5)
        store.journal_signed(tx, now=11.0)
        bump = JournalTx("0x" + "02" * 32, "beta", 7, "0xraw2", "signed", (message(5, 0).id,), 12.5)
        store.journal_replacement(bump)
        store.set_tx_state(tx.hash, "replaced")
        store.set_tx_state(bump.hash, "mined", cost=21_000 * 10**9)
        assert store.open_txs("beta") == [] and store.txs_at_nonce("beta", 7) == [
            JournalTx(tx.hash, "beta", 7, "0xraw", "replaced", tx.message_ids, 10.5),
            JournalTx(bump.hash, "beta", 7, "0xraw2", "mined", tx.message_ids, 12.5)]
        assert store.max_nonce("beta") == 7 and store.spent("beta") == 21_000 * 10**9
        assert [t["hash"] for t in store.message_txs(message(5, 0).id)] == [tx.hash, bump.hash]
        submitted = store.message(message(5, 0).id)
        assert submitted is not None and submitted.state == "submitted" and submitted.delivered_tx == bump.hash

        store.retry_later(message(5, 1).id, "reverted", 99.0, failed=True, now=20.0)
        assert [m.id for m in store.set_aside()] == [message(5, 1).id]
        assert store.retry_failed([message(5, 1).id], by="tester", now=21.0) == [message(5, 1).id]
        assert [h["outcome"] for h in store.message_history(message(5, 1).id)] == ["failed", "retry-requested"]
        store.set_state([message(5, 0).id], "confirmed", cost=5, now=22.0)
        assert store.messages(state="confirmed", route=("alpha", "beta"))[0].cost == 5
    finally:
        store.close()


def test_evidence_and_a_rewind(store_location: str | Path) -> None:
    store = Store(store_location)
    try:
        store.record_scan("alpha", 8, [header(n) for n in range(4, 8)], [message(7, 0)], [])
        store.add_evidence("alpha", 7, "reorg-below-finality", {"seen": b"\x01"}, now=3.0)
        [row] = store.evidence()
        assert row["chain"] == "alpha" and row["detail"] == {"seen": "0x01"} and row["resolution"] is None
        rewind = Rewind("alpha", 1, header(5), {"trusted": 5})
        detail = store.resolve_evidence(row["id"], by="tester", reason="replaced", detail={}, now=4.0, rewind=rewind)
        assert [m["id"] for m in detail["set_aside"]] == [message(7, 0).id]
        assert store.evidence() == [] and store.cursor("alpha") == 6
        assert store.latest_header("alpha") == header(5) and store.message(message(7, 0).id) is None
        resolved = store.evidence_item(row["id"])
        assert resolved is not None and resolved["resolution"]["resolved_by"] == "tester"
    finally:
        store.close()


def test_a_second_process_opens_the_same_database(store_location: str | Path) -> None:
    first = Store(store_location)
    second = Store(store_location)  # nothing to migrate: the schema is at SCHEMA_VERSION already
    try:
        first.record_scan("alpha", 2, [header(1)], [message(1, 0)], [])
        assert second.cursor("alpha") == 2 and second.message(message(1, 0).id) == message(1, 0)
        assert SCHEMA_VERSION >= 3
    finally:
        first.close()
        second.close()


def test_a_postgresql_restart_fails_the_calls_meanwhile_and_the_pool_reconnects_after() -> None:
    """StoreUnavailable (the daemon's services wait and start again) while the server is away."""
    from pg_server import remove_pg_server, start_pg_server

    from relayer.errors import StoreUnavailable

    server = start_pg_server()  # its own server: the session's keeps running for the other tests
    try:
        store = Store(server.create_database())
        try:
            store.record_scan("alpha", 2, [header(1)], [message(1, 0)], [])
            server.stop()
            with pytest.raises(StoreUnavailable, match="state database read failed") as failed:
                store.cursor("alpha")
            assert failed.value.fields["path"].startswith("postgresql://relayer@127.0.0.1:")
            server.start()
            assert store.cursor("alpha") == 2  # a new connection replaced the broken one
            store.record_scan("alpha", 3, [header(2)], [], [])
            assert store.cursor("alpha") == 3
        finally:
            store.close()
    finally:
        remove_pg_server(server)


async def test_postgresql_calls_from_trio_run_in_worker_threads_sqlite_ones_in_place(
        store_location: str | Path) -> None:
    import threading

    import trio

    from relayer.store_async import offload

    store = Store(store_location, pool_size=2)
    threads: list[int] = []
    ticks = 0

    def call(n: int) -> int:
        threads.append(threading.get_ident())
        return len(store.cursors()) + n

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            results = [await offload(store, call, n) for n in range(20)]
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    assert results == list(range(20))
    main = threading.get_ident()
    if store.backend == "sqlite":
        assert set(threads) == {main}
    else:
        assert main not in threads and ticks >= 20  # the loop kept running while the calls waited on the server


def test_outcomes_and_acknowledgement_state(store_location: str | Path) -> None:
    """What the destination did with a message is kept, and its acknowledgement state follows the
    acknowledgement message itself: none -> awaiting -> relaying -> delivered."""
    store = Store(store_location)
    try:
        sent, plain = message(5, 0), message(5, 1)
        store.record_scan("alpha", 6, [header(5)], [sent, plain], [])
        assert store.ack_state(store.message(sent.id)) is None  # nothing known yet
        store.set_state([sent.id, plain.id], "included", delivered_tx="0x" + "0d" * 32, now=8.0)
        store.set_outcomes({sent.id: ("failed", "0x08c379a0", True), plain.id: ("delivered", "0x", False)}, now=8.0)
        failed, done = store.message(sent.id), store.message(plain.id)
        assert (failed.outcome, failed.outcome_result, failed.ack_sent) == ("failed", "0x08c379a0", 1)
        assert store.ack_state(failed) == "awaiting" and store.ack_state(done) == "none"
        assert [m.id for m in store.not_executed()] == [sent.id]
        assert store.outcome_counts() == {("alpha", "beta"): {"failed": 1, "delivered": 1}}
        ack = Message(id="0x" + "ac" * 32, src_chain="beta", dst_chain="alpha", nonce=1, block_number=9,
                      block_hash="0x" + "cd" * 32, body=b"ack", locator=b"loc", final_at=9.0, acknowledges=sent.id)
        assert store.record_scan("beta", 10, [header(9, "beta")], [ack], []) == [ack]
        assert store.ack_state(store.message(sent.id)) == "relaying"
        assert store.message(ack.id).envelope().acknowledges == sent.id
        store.set_state([ack.id], "confirmed", now=10.0)
        assert store.ack_state(store.message(sent.id)) == "delivered"
        assert store.ack_state(store.message(ack.id)) == "none"  # an acknowledgement is never acknowledged
    finally:
        store.close()
