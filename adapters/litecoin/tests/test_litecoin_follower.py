"""The core's own follower (relayer.follower.ChainFollower, unchanged) runs the Litecoin family against a
real litecoind regtest node: it stores a final deposit as a message with the light client's state, a
client restored from that state goes on, and a reorg deeper than finality halts the chain with evidence.
(The test imports the core's follower, store and metrics; the plugin itself imports none of them.)"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from relayer.contract import RouteRef, VerifiedHeader
from relayer.errors import BrokenLinkError, VerificationError
from relayer.follower import ChainFollower, ReceiptCache
from relayer.metrics import Metrics
from relayer.plugins import HISTORY_GROUP, load
from relayer.routes import ChainRuntime, Route
from relayer.store import Store
from relayer_litecoin.adapter import LitecoinAdapter, LitecoinConfig
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.network import REGTEST
from relayer_litecoin.testing import ALPHA, CUSTODY, Devnet, LyingTransport

CHAIN_ID = 7001
CONFIRMATIONS = 2


class NoAttestation:
    """A policy whose destination checks no attestation (the follower only asks it to attest)."""

    name = "none"

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        return None


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    net = Devnet()
    yield net
    net.stop()


def follower(devnet: Devnet, adapter: LitecoinAdapter, store: Store, lc: LitecoinLightClient,
             start: int) -> ChainFollower:
    route = Route("ltc", "alpha", CHAIN_ID, ALPHA, "none", 10, policy=NoAttestation())  # type: ignore[arg-type]
    runtime = ChainRuntime("ltc", CHAIN_ID, adapter, {ALPHA: route}, [])
    return ChainFollower(runtime, lc, store, ReceiptCache(), start_block=start, poll_interval=0.05, progress={},
                         metrics=Metrics())


async def test_the_cores_follower_records_deposits_restarts_and_halts_on_a_deep_reorg(devnet: Devnet,
                                                                                      tmp_path: Path) -> None:
    adapter = LitecoinAdapter.connect("ltc", CHAIN_ID, (devnet.node.url,), LitecoinConfig(REGTEST, CUSTODY))
    store = Store(tmp_path / "state.db")
    try:
        start = int(devnet.node.call("getblockcount"))
        txid = devnet.deposit(Decimal("3"))
        devnet.mine(1 + CONFIRMATIONS)
        height = devnet.height_of(txid)
        lc = LitecoinLightClient.from_options("ltc", CHAIN_ID, CONFIRMATIONS, {"network": "regtest"})
        await follower(devnet, adapter, store, lc, start).scan(start, height)
        (message,) = store.messages(route=("ltc", "alpha"))
        assert (message.block_number, message.labels["tx"], message.labels["amount"]) == (height, txid, "300000000")
        saved = store.light_client_state("ltc")
        assert saved is not None and saved["tip"]["height"] == height

        # a restart: the client comes back from the stored state and the follower goes on
        restored = LitecoinLightClient.from_trusted_state("ltc", CHAIN_ID, CONFIRMATIONS, saved)
        devnet.mine(2)
        again = follower(devnet, adapter, store, restored, start)
        await again.scan(height + 1, height + 2)
        assert restored.head_number == height + 2 and len(store.messages(route=("ltc", "alpha"))) == 1

        # a reorg deeper than finality: the accepted head is replaced; the chain halts with evidence
        devnet.node.call("invalidateblock", devnet.node.call("getblockhash", height + 2))
        for _ in range(4):
            devnet.mine_empty()
        with pytest.raises(BrokenLinkError):
            await again.scan(height + 3, height + 3)
        (evidence,) = store.evidence()
        assert evidence["kind"] == "reorg-below-finality" and evidence["number"] == height + 3
        assert restored.head_number == height + 2

        # what relayer evidence resolve asks the chain (the family's relayer.chain_history hook)
        history = load(HISTORY_GROUP, "litecoin", key="chains.ltc.adapter")(devnet.node.url)
        try:
            stored = store.header("ltc", height + 2)
            assert stored is not None
            assert history.block_hash(height) == "0x" + devnet.node.call("getblockhash", height)
            assert history.block_hash(height + 2) != stored.hash, "the replaced block is still the chain's"
            assert history.block_hash(history.head_number() + 1) is None
        finally:
            history.close()
    finally:
        store.close()
        await adapter.aclose()


async def test_an_orphaned_deposit_is_never_recorded_and_a_lying_node_records_nothing(devnet: Devnet,
                                                                                     tmp_path: Path) -> None:
    adapter = LitecoinAdapter.connect("ltc", CHAIN_ID, (devnet.node.url,), LitecoinConfig(REGTEST, CUSTODY))
    store = Store(tmp_path / "state.db")
    try:
        start = int(devnet.node.call("getblockcount"))
        lc = LitecoinLightClient.from_options("ltc", CHAIN_ID, CONFIRMATIONS, {"network": "regtest"})
        watcher = follower(devnet, adapter, store, lc, start)
        txid = devnet.deposit(Decimal("1"))
        (orphan,) = devnet.mine(1)  # the deposit's block, not final (2 confirmations needed)
        head = int(devnet.node.call("getblockcount"))
        assert lc.final_number(head) < devnet.height_of(txid)
        devnet.node.call("invalidateblock", orphan)  # orphaned before it was final
        for _ in range(1 + CONFIRMATIONS):
            devnet.mine_empty()
        head = int(devnet.node.call("getblockcount"))
        await watcher.scan(start, lc.final_number(head))
        assert store.messages(route=("ltc", "alpha")) == [], "an orphaned deposit was recorded"

        # a node that alters a transaction of a block it serves: refused, nothing recorded
        devnet.node.call("reconsiderblock", orphan)  # it has less work: the chain stays as it is
        devnet.mine(1 + CONFIRMATIONS)  # the deposit, back in the mempool, is mined again and becomes final
        height = devnet.height_of(txid)

        def altered(method: str, params: list[Any], result: Any) -> Any:
            return result.replace(CUSTODY.script_pubkey.hex(), "0020" + "11" * 32) if method == "getblock" else result

        lying = LitecoinAdapter.connect("ltc", CHAIN_ID, (devnet.node.url,), LitecoinConfig(REGTEST, CUSTODY),
                                        transport=LyingTransport(altered))
        try:
            cursor, accepted = store.cursor("ltc"), lc.head_number
            assert accepted is not None
            with pytest.raises(VerificationError):
                await follower(devnet, lying, store, lc, start).scan(accepted + 1, height)
            assert store.cursor("ltc") == cursor and store.messages(route=("ltc", "alpha")) == []
        finally:
            await lying.aclose()
        # the refused scan stored nothing: a client restored from the stored state (as at the next start)
        # scans the honest node and records the deposit
        saved = store.light_client_state("ltc")
        assert saved is not None
        restored = LitecoinLightClient.from_trusted_state("ltc", CHAIN_ID, CONFIRMATIONS, saved)
        assert restored.head_number is not None
        await follower(devnet, adapter, store, restored, start).scan(restored.head_number + 1, height)
        (message,) = store.messages(route=("ltc", "alpha"))
        assert message.labels["tx"] == txid and message.block_number == height
    finally:
        store.close()
        await adapter.aclose()
