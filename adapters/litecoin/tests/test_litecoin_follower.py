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
from relayer.errors import BrokenLinkError
from relayer.follower import ChainFollower, ReceiptCache
from relayer.metrics import Metrics
from relayer.routes import ChainRuntime, Route
from relayer.store import Store
from relayer_litecoin.adapter import LitecoinAdapter, LitecoinConfig
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.network import REGTEST
from relayer_litecoin.testing import ALPHA, CUSTODY, Devnet

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
    finally:
        store.close()
        await adapter.aclose()
