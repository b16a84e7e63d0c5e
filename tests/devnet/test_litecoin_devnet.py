"""``relayer devnet up --with litecoin``: a real litecoind regtest chain beside anvil alpha and beta, three
relayer processes following it with the SPV light client and relaying deposits to alpha's MessageLayer
(committee-signed Litecoin headers, LitecoinDepositVerifier, WrappedLitecoin). A 1 LTC deposit made with
``relayer transfer`` is minted on alpha exactly once; a deposit whose block is invalidated before it is
final (``invalidateblock``) is never relayed. Back: 0.5 wLTC burned with ``relayer transfer --to litecoin``
is released by the operators' daemons to a fresh address, which holds exactly 0.5 LTC less the stated fee,
in one transaction carrying the burn's release marker, the only one in the chain. Slow: real processes."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from adapters.evm.messaging import MESSAGE_PROCESSED_TOPIC
from adapters.evm.sync_client import SyncEvm
from relayer.config import check_config
from relayer.devnet import litecoin, network
from relayer.devnet.cli import devnet_down, devnet_up
from relayer.devnet.litecoin_burn import WATCH_WALLET
from relayer.devnet.litecoin_transfer import WalletRpc
from relayer_litecoin.keys import read_public_key
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.regtest import INSTALL_HINT
from relayer_litecoin.source import deposit_nonce

pytestmark = pytest.mark.slow

MINTED_TOPIC = "0x" + keccak(text="DepositMinted(bytes32,address,uint64)").hex()
RELEASE_CONFIRMED_TOPIC = "0x" + keccak(text="ReleaseConfirmed(bytes32,bytes32,uint64)").hex()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("litecoind") is None:
        pytest.skip(INSTALL_HINT)
    folder = tmp_path_factory.mktemp("devnet")
    try:
        assert devnet_up(folder, detach=True, with_litecoin=True) == 0
        yield folder
    finally:
        pid = json.loads((folder / "deployment.json").read_text())["nodes"].get("litecoin", {}).get("pid")
        assert devnet_down(folder) == 0
        assert not network.process_alive(pid, "litecoind"), "devnet down left litecoind running"


def _deployment(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "deployment.json").read_text())
    return data


def _logs(evm: SyncEvm, address: str, topics: list[str | None]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = evm.rpc("eth_getLogs", {"address": address, "topics": topics, "fromBlock": "0x0",
                                                          "toBlock": "latest"})
    return found


def test_deployment_json_describes_the_litecoin_chain(devnet: Path) -> None:
    d = _deployment(devnet)
    ltc, alpha = d["chains"]["litecoin"], d["chains"]["alpha"]
    assert ltc["family"] == "litecoin" and ltc["chain_id"] == litecoin.CHAIN_ID
    assert ltc["rpc"].startswith("http://relayer:") and "@127.0.0.1:" in ltc["rpc"]  # credentials included
    assert network.process_alive(d["nodes"]["litecoin"]["pid"], "litecoind")
    custody = ltc["custody"]
    assert custody["threshold"] == 2 and len(custody["keys"]) == 3 and custody["address"].startswith("rltc1")
    assert set(alpha["litecoin"]) == {"light_client", "verifier", "wrapped"}
    with SyncEvm(alpha["rpc"]) as evm:
        layer, client, verifier = evm.call(alpha["message_layer"], "MessageLayer", "remoteOf", litecoin.CHAIN_ID)
        assert (bytes(layer).hex(), client.lower(), verifier.lower()) == (
            custody["program"], alpha["litecoin"]["light_client"].lower(), alpha["litecoin"]["verifier"].lower())
        assert evm.call(alpha["litecoin"]["wrapped"], "WrappedLitecoin", "decimals") == 8
    user = WalletRpc(ltc["rpc"], ltc["user"]["wallet"])
    assert Decimal(str(user.call("getbalance"))) >= 50


def test_operator_keys_and_configs(devnet: Path) -> None:
    d = _deployment(devnet)
    custody = d["chains"]["litecoin"]["custody"]
    for index in (1, 2, 3):
        config = devnet / f"operator-{index}.toml"
        assert check_config(config) == []
        text = config.read_text()
        assert "[chains.litecoin.litecoin.custody]" in text and 'from = "litecoin"' in text
        doc = tomllib.loads(text)
        release = doc["chains"]["litecoin"]["litecoin"]["release"]
        assert release["keystore"] == str(litecoin.key_path(devnet.resolve(), index))
        assert release["password_file"] == str(devnet.resolve() / "keys" / f"operator-{index}.password")
        assert release["journal"] == str(devnet.resolve() / "state" / f"operator-{index}" / "litecoin-releases.json")
        assert all(Path(release[k]).is_absolute() for k in ("keystore", "password_file", "journal"))
        assert doc["chains"]["litecoin"]["litecoin"]["burns"] == {"alpha": d["chains"]["alpha"]["litecoin"]["wrapped"]}
        # the route of burns (the Litecoin family is a destination)
        routes = {(r["from"], r["to"]) for r in doc["routes"]}
        assert ("alpha", "litecoin") in routes
        key = litecoin.key_path(devnet, index)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert read_public_key(key).hex() in custody["keys"]
        assert "ciphertext" in key.read_text() and "secret" not in key.read_text()


def test_a_deposit_is_minted_once_on_alpha(devnet: Path) -> None:
    d = _deployment(devnet)
    alpha = d["chains"]["alpha"]
    wrapped = alpha["litecoin"]["wrapped"]
    recipient = d["users"][0]["address"]
    with SyncEvm(alpha["rpc"]) as evm:
        before = int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", recipient))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "relayer", "transfer", "--devnet", str(devnet), "--from", "litecoin",
                          "--to", "alpha", "--asset", "native", "--amount", "1", "--wait", "--json",
                          "--timeout", "180"], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    print(f"\n1 LTC deposit -> minted on alpha: {time.monotonic() - started:.1f} s wall clock "
          f"(deposit block, {litecoin.CONFIRMATIONS} confirmations mined at once, then the relayers); "
          f"alpha's deliverBatch {result['destination_gas']} gas")
    assert result["outcome"] == "delivered" and result["amount"] == "1" and result["amount_base_units"] == 10**8
    assert result["recipient"] == recipient and result["source"] == "litecoin" and result["destination"] == "alpha"
    assert result["wrapped_balance"] == before + 10**8
    time.sleep(5)  # time for a second delivery by another operator, were there one
    with SyncEvm(alpha["rpc"]) as evm:
        minted = _logs(evm, wrapped, [MINTED_TOPIC, "0x" + result["source_tx"]])
        processed = _logs(evm, alpha["message_layer"], ["0x" + MESSAGE_PROCESSED_TOPIC.hex(), result["message_id"]])
        assert len(minted) == 1 and len(processed) == 1
        assert int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", recipient)) == before + 10**8


def test_a_deposit_orphaned_before_finality_is_never_relayed(devnet: Path) -> None:
    d = _deployment(devnet)
    ltc, alpha = d["chains"]["litecoin"], d["chains"]["alpha"]
    wallet = WalletRpc(ltc["rpc"], ltc["user"]["wallet"])
    program = bytes.fromhex(ltc["custody"]["program"])
    recipient = d["users"][1]["address"]

    def pay(amount: str) -> str:
        payload = DepositPayload(alpha["chain_id"], bytes.fromhex(recipient[2:])).encode()
        raw = wallet.call("createrawtransaction", [], [{ltc["custody"]["address"]: amount}, {"data": payload.hex()}])
        funded = wallet.call("fundrawtransaction", raw, {"changePosition": 2})["hex"]
        return str(wallet.call("sendrawtransaction", wallet.call("signrawtransactionwithwallet", funded)["hex"]))

    def mine(txids: list[str]) -> tuple[str, int]:
        block_hash = wallet.call("generateblock", ltc["user"]["address"], txids)["hash"]
        block = wallet.call("getblock", block_hash)
        return block_hash, int(block["height"])

    orphan = pay("0.25")
    wallet.call("lockunspent", False, [{"txid": orphan, "vout": 2}])  # its change: no later payment spends it
    orphan_hash, height = mine([orphan])
    orphan_nonce = deposit_nonce(height, 1)
    time.sleep(3)  # the operators' followers see the block (0.5 s polls), not yet final
    wallet.call("invalidateblock", orphan_hash)
    assert wallet.call("getblockcount") == height - 1
    for _ in range(litecoin.CONFIRMATIONS + 2):  # a longer branch without the deposit (kept in the mempool)
        mine([])
    good = pay("0.5")
    _, good_height = mine([good])
    for _ in range(litecoin.CONFIRMATIONS):
        mine([])
    good_nonce = deposit_nonce(good_height, 1)
    with SyncEvm(alpha["rpc"]) as evm:
        deadline = time.monotonic() + 120
        while not evm.call(alpha["message_layer"], "MessageLayer", "outcomeOf", litecoin.CHAIN_ID, program,
                           good_nonce):
            assert time.monotonic() < deadline, "the deposit after the orphaned one was not relayed"
            time.sleep(0.5)
        assert evm.call(alpha["message_layer"], "MessageLayer", "outcomeOf", litecoin.CHAIN_ID, program,
                        orphan_nonce) == 0
        assert _logs(evm, alpha["litecoin"]["wrapped"], [MINTED_TOPIC, "0x" + orphan]) == []
        assert len(_logs(evm, alpha["litecoin"]["wrapped"], [MINTED_TOPIC, "0x" + good])) == 1
    assert orphan in wallet.call("getrawmempool")  # it never made it into the chain the operators follow


def _transfer(devnet: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", "transfer", "--devnet", str(devnet), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_a_burn_is_released_once_to_a_fresh_address(devnet: Path) -> None:
    d = _deployment(devnet)
    ltc, alpha = d["chains"]["litecoin"], d["chains"]["alpha"]
    wrapped, user = alpha["litecoin"]["wrapped"], d["users"][2]["address"]
    burn = ("--from", "alpha", "--to", "litecoin", "--asset", "wrapped-native", "--user", "2", "--json")
    deposited = _transfer(devnet, "--from", "litecoin", "--to", "alpha", "--asset", "native", "--amount", "1",
                          "--user", "2", "--wait", "--json", "--timeout", "180")
    assert deposited.returncode == 0, deposited.stderr
    with SyncEvm(alpha["rpc"]) as evm:
        assert int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", user)) == 10**8
    too_much = _transfer(devnet, *burn, "--amount", "1.5", "--wait")
    assert too_much.returncode == 2 and "holds 1 wLTC on alpha, needs 1.5" in too_much.stderr, too_much.stderr

    out = _transfer(devnet, *burn, "--amount", "0.5", "--wait", "--timeout", "180")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    print(f"\n0.5 wLTC burn -> released on litecoin: {r['latency_s']} s to a block, {r['final_latency_s']} s to "
          f"{litecoin.CONFIRMATIONS} confirmations ({r['mined_blocks']} blocks mined); burn {r['burn_gas']} gas, "
          f"fee {r['fee']} litoshis over {r['vsize']} vbytes")
    assert r["amount"] == 50_000_000 and r["amount_ltc"] == "0.5" and r["sender"] == user
    assert 0 < r["fee"] <= r["max_fee_rate"] * r["vsize"]
    assert r["paid"] == r["recipient_balance"] == 50_000_000 - r["fee"]
    assert r["confirmations"] >= litecoin.CONFIRMATIONS and r["mined_blocks"] >= litecoin.CONFIRMATIONS
    wallet = WalletRpc(ltc["rpc"], ltc["user"]["wallet"])
    assert wallet.call("getaddressinfo", r["recipient"])["ismine"]  # a fresh address of the user's wallet
    assert Decimal(str(wallet.call("getreceivedbyaddress", r["recipient"]))) * 10**8 == r["paid"]
    with SyncEvm(alpha["rpc"]) as evm:
        assert int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", user)) == 50_000_000

    # the release carries the burn's marker and spends the custody only; no operator releases it twice
    marker = Marker(Kind.RELEASE, bytes.fromhex(r["message_id"][2:]), alpha["chain_id"]).script().hex()
    block_hash = wallet.call("getblockhash", r["release_block"])
    release = wallet.call("getrawtransaction", r["release_txid"], True, block_hash)
    assert marker in [out["scriptPubKey"]["hex"] for out in release["vout"]]
    watch = WalletRpc(ltc["rpc"], WATCH_WALLET)
    for vin in release["vin"]:
        prev = watch.call("decoderawtransaction", watch.call("gettransaction", vin["txid"], True)["hex"])
        assert prev["vout"][vin["vout"]]["scriptPubKey"]["hex"] == "0020" + ltc["custody"]["program"]
    for _ in range(3):  # time and blocks for a second release by another operator, were there one
        wallet.call("generatetoaddress", 1, ltc["user"]["address"])
        time.sleep(2)
    tip = int(wallet.call("getblockcount"))
    carrying = [tx["txid"] for height in range(int(ltc["start_block"]), tip + 1)
                for tx in wallet.call("getblock", wallet.call("getblockhash", height), 2)["tx"]
                if marker in [out["scriptPubKey"]["hex"] for out in tx["vout"]]]
    assert carrying == [r["release_txid"]]
    assert not [txid for txid in wallet.call("getrawmempool")
                if marker in [o["scriptPubKey"]["hex"] for o in wallet.call("getrawtransaction", txid, True)["vout"]]]

    # the release is proven back to alpha as the burn's acknowledgement (LitecoinDepositVerifier's release
    # proof, delivered by the daemons on litecoin -> alpha): WrappedLitecoin records it, and the burn's message
    # in an operator's store has its acknowledgement delivered
    recorded, ack, deadline = None, None, time.monotonic() + 180
    with SyncEvm(alpha["rpc"]) as evm:
        while time.monotonic() < deadline:
            txid, paid = evm.call(wrapped, "WrappedLitecoin", "releaseOf", bytes.fromhex(r["message_id"][2:]))
            if int.from_bytes(txid, "big"):
                recorded = ("0x" + txid.hex(), int(paid))
                shown = subprocess.run([sys.executable, "-m", "relayer", "messages", "show", r["message_id"],
                                        "--config", str(devnet / "operator-1.toml"), "--json"],
                                       capture_output=True, text=True, timeout=60)
                assert shown.returncode == 0, shown.stderr
                ack = json.loads(shown.stdout).get("ack")
                if ack == "delivered":
                    break
            wallet.call("generatetoaddress", 1, ltc["user"]["address"])  # blocks on top of the release
            time.sleep(2)
    assert recorded == ("0x" + r["release_txid"], r["paid"])
    assert ack == "delivered"
    with SyncEvm(alpha["rpc"]) as evm:
        (confirmed,) = _logs(evm, wrapped, [RELEASE_CONFIRMED_TOPIC])
        processed = _logs(evm, alpha["message_layer"], ["0x" + MESSAGE_PROCESSED_TOPIC.hex()])
        receipt = evm.rpc("eth_getTransactionReceipt", confirmed["transactionHash"])
    assert confirmed["topics"][1] == r["message_id"]
    assert any(p["transactionHash"] == confirmed["transactionHash"] for p in processed)
    print(f"acknowledgement of the release delivered to alpha: {int(receipt['gasUsed'], 16)} gas")
