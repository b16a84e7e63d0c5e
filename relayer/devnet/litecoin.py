"""``relayer devnet up --with litecoin``: a Litecoin regtest chain named ``litecoin`` beside alpha and beta.

What it adds to the devnet folder::

    DIR/litecoin/                      litecoind's data directory (regtest, wallets ``relayer`` and ``user``)
    DIR/keys/operator-N.litecoin.json  operator N's Litecoin key (relayer_litecoin keystore, mode 0600,
                                       the operator's password file opens it)

and to deployment.json: ``nodes.litecoin`` (litecoind's pid) and ``chains.litecoin`` (``family``
``litecoin``, its RPC URL with credentials, the consortium's chain id for it, the custody's threshold,
keys, witness program and address, the funded user's wallet and address, the start height and its hash)
and, on alpha, ``litecoin``: its CommitteeHashLightClient of Litecoin, the LitecoinDepositVerifier and the
WrappedLitecoin application, registered as the layer's remote for the Litecoin chain. The operators
follow ``litecoin`` with the SPV light client and relay ``litecoin -> alpha`` (deposits) and
``alpha -> litecoin`` (WrappedLitecoin's burns, released from the custody: each operator's config names its
Litecoin keystore, the password file that opens it, its release journal in DIR/state/operator-N and the
application on alpha; ``chains.litecoin.release`` in deployment.json keeps the fee policy they use).
``relayer devnet down`` stops litecoind by its pid like every other node.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.evm.sync_client import SyncEvm
from relayer.devnet.deploy import Report, sorted_members
from relayer.errors import DevnetError
from relayer_litecoin import regtest
from relayer_litecoin.custody import Custody
from relayer_litecoin.keys import LitecoinSigner, write_keystore
from relayer_litecoin.network import REGTEST

NAME = "litecoin"
DESTINATION = "alpha"  # the EVM chain wrapped LTC lives on
CHAIN_ID = 7001  # the consortium's id of the Litecoin chain (Litecoin has none)
CONFIRMATIONS = 3  # blocks on top of a deposit's before the operators relay it
GAS_LIMIT = 200_000  # for WrappedLitecoin.handleMessage
MATURITY = 101  # regtest coinbase outputs spendable after 100 confirmations
USER_WALLET = "user"
KEYSTORE_N = 2**10  # devnet only (operators start fast); relayer_litecoin.keys uses 2**15
# the operators' release fee policy (relayer_litecoin.policy.ReleasePolicy's defaults, written out so that
# `relayer transfer --to litecoin` can state the cap) and the depth of a custody output before it is spent
RELEASE = {"fee_rate": 10, "max_fee_rate": 100, "confirmations": CONFIRMATIONS}


def key_path(root: Path, index: int) -> Path:
    return root / "keys" / f"operator-{index}.litecoin.json"


def password_path(root: Path, index: int) -> Path:
    """The password file that opens operator ``index``'s Litecoin keystore (the operator's own)."""
    return root / "keys" / f"operator-{index}.password"


def journal_path(root: Path, index: int) -> Path:
    return root / "state" / f"operator-{index}" / "litecoin-releases.json"


def start(root: Path, deployment: dict[str, Any], report: Report) -> regtest.RegtestNode:
    """Start litecoind in DIR/litecoin (recorded at once in ``deployment["nodes"]`` so ``down`` finds it),
    with a funded user wallet. Raises DevnetError (no litecoind, it did not start)."""
    node = regtest.start(root / NAME)
    deployment["nodes"][NAME] = {"node": "litecoind", "hardfork": None, "pid": node.process.pid,
                                 "port": node.rpc_port}
    node.call("createwallet", USER_WALLET)
    address = node.call("getnewaddress", wallet=USER_WALLET)
    node.call("generatetoaddress", MATURITY, address, wallet=USER_WALLET)
    balance = Decimal(str(node.call("getbalance", wallet=USER_WALLET)))
    report(f"[{NAME}] litecoind regtest at 127.0.0.1:{node.rpc_port} (pid {node.process.pid}), "
           f"user {address} holds {balance} LTC")
    deployment["chains"][NAME] = {"name": NAME, "family": "litecoin", "chain_id": CHAIN_ID, "rpc": node.url,
                                  "network": "regtest", "confirmations": CONFIRMATIONS,
                                  "user": {"wallet": USER_WALLET, "address": address}}
    return node


def public_keys(secrets: list[bytes]) -> list[bytes]:
    return [LitecoinSigner(s, REGTEST).public_key for s in secrets]


def write_keys(root: Path, secrets: list[bytes]) -> None:
    """Operator N's Litecoin key (``secrets[N-1]``) in DIR/keys/operator-N.litecoin.json under the password
    of DIR/keys/operator-N.password (written before). Raises OSError, KeystoreError."""
    for index, secret in enumerate(secrets, 1):
        password = password_path(root, index).read_text().strip().encode()
        path = key_path(root, index)
        path.unlink(missing_ok=True)
        write_keystore(path, secret, password, n=KEYSTORE_N)


def custody(public_keys: list[bytes], threshold: int) -> Custody:
    return Custody.of(threshold, public_keys)


def deploy(evm: SyncEvm, deployer: str, chain: dict[str, Any], layer: str, operators: list[str], threshold: int,
           report: Report) -> dict[str, str]:
    """On ``chain`` (alpha): the committee's CommitteeHashLightClient of Litecoin (it keeps the block hash
    the verifier reads), WrappedLitecoin and the LitecoinDepositVerifier, and the layer's remote for
    Litecoin (custody program, client, verifier).
    Raises ContractRevert, RpcError."""
    program = bytes.fromhex(chain["custody"]["program"])
    light_client = evm.deploy(deployer, "CommitteeHashLightClient", CHAIN_ID, sorted_members(operators), threshold)
    wrapped = evm.deploy(deployer, "WrappedLitecoin", layer, CHAIN_ID, program)
    verifier = evm.deploy(deployer, "LitecoinDepositVerifier", layer, wrapped, GAS_LIMIT)
    evm.transact(deployer, layer, "MessageLayer", "setRemote", CHAIN_ID, program, light_client, verifier)
    report(f"[{DESTINATION}] Litecoin: CommitteeHashLightClient at {light_client}, LitecoinDepositVerifier at "
           f"{verifier}, WrappedLitecoin (WLTC, 8 decimals) at {wrapped}; the layer's remote for chain {CHAIN_ID}")
    if bytes(evm.call(layer, "MessageLayer", "remoteOf", CHAIN_ID)[0]) != program:
        raise DevnetError(f"alpha's message layer did not register the Litecoin remote {program.hex()}")
    return {"light_client": light_client, "verifier": verifier, "wrapped": wrapped}


def describe_custody(chain: dict[str, Any], keys: list[bytes], threshold: int) -> None:
    """Record the custody of ``keys`` (M = ``threshold``) and the start height in ``chain``."""
    c = custody(keys, threshold)
    chain["custody"] = {"threshold": threshold, "keys": [k.hex() for k in keys],
                        "program": c.script_pubkey[2:].hex(), "address": c.address(REGTEST)}


def start_at(node: regtest.RegtestNode, chain: dict[str, Any]) -> None:
    """The height the operators start following at and its hash (their light client's checkpoint)."""
    height = int(node.call("getblockcount"))
    chain["start_block"] = height
    chain["checkpoint"] = node.call("getblockhash", height)
    chain["release"] = dict(RELEASE)


def operator_tables(chain: dict[str, Any], poll_interval: float, root: Path | None = None, index: int = 1,
                    wrapped: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The operator configuration's tables of the Litecoin chain: (header, values). With ``root`` (the devnet
    folder, absolute) and ``wrapped`` (WrappedLitecoin on alpha) also operator ``index``'s release tables
    (Litecoin as the destination of ``alpha -> litecoin``)."""
    tables = [
        (f"[chains.{NAME}]", {"chain_id": chain["chain_id"], "adapter": "litecoin", "light_client": "litecoin",
                              "rpc": [chain["rpc"]], "confirmations": chain["confirmations"],
                              "poll_interval": poll_interval, "start_block": chain["start_block"]}),
        (f"[chains.{NAME}.light_client_options]", {"network": "regtest", "checkpoint": chain["checkpoint"]}),
        (f"[chains.{NAME}.litecoin]", {"network": "regtest"}),
        (f"[chains.{NAME}.litecoin.custody]", {"threshold": chain["custody"]["threshold"],
                                               "keys": chain["custody"]["keys"]}),
    ]
    if root is None or wrapped is None:
        return tables
    release = chain.get("release", RELEASE)
    return tables + [
        (f"[chains.{NAME}.litecoin.release]", {
            "keystore": str(key_path(root, index)), "password_file": str(password_path(root, index)),
            "journal": str(journal_path(root, index)), "start_block": chain["start_block"],
            **{k: release[k] for k in ("confirmations", "fee_rate", "max_fee_rate")}}),
        (f"[chains.{NAME}.litecoin.burns]", {DESTINATION: wrapped}),
    ]


__all__ = ["CHAIN_ID", "CONFIRMATIONS", "DESTINATION", "NAME", "RELEASE", "custody", "deploy", "describe_custody",
           "journal_path", "key_path", "operator_tables", "password_path", "public_keys", "start",
           "start_at", "write_keys"]
