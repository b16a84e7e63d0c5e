"""The local two-chain devnet: anvil ``alpha`` and ``beta``, the contracts, three operators.

Everything lives in one folder::

    DIR/deployment.json        chains, contracts, users, operators, process ids
    DIR/operator-N.toml        operator configuration (paths relative to the file)
    DIR/keys/operator-N.json   operator committee keys: V3 keystores (mode 0600)
    DIR/keys/operator-N.password  their passwords, random per devnet (mode 0600)
    DIR/state/operator-N/      operator state
    DIR/logs/{alpha,beta,operator-N}.log
    DIR/<chain>.hardhat.config.js  the Hardhat config of a chain run with ``--node <chain>=hardhat``

With ``--store postgresql`` (``--fleet K``: K processes per operator sharing its store)::

    DIR/postgres/data          the PostgreSQL cluster (owned by the ``postgres`` user when run as root)
    DIR/logs/postgres.log      its log
    DIR/operator-N-P.toml      process P (2..K) of operator N: operator-N.toml with another API port
    DIR/logs/operator-N-P.log  its log

Each chain runs on anvil unless ``nodes`` names another node (``relayer.devnet.nodes``: the
Hardhat node, which serves no ``eth_getBlockReceipts``), at the node's latest hardfork unless
``hardforks`` names one (``--hardfork alpha=berlin``: a chain without a base fee, where the
operators' ``fees.mode = "auto"`` finds legacy transactions).

With ``--policy qbft`` each chain also gets four QBFT validators and a sealing JSON-RPC proxy
(``relayer.devnet.proxy``) in front of its anvil: the proxy serves anvil's blocks as a Besu
QBFT chain sealed by those validators, each chain's message layer trusts a ``QbftLightClient`` of the
counterpart, and the operators follow the chains through the proxies with the ``qbft`` light
client (no committee signatures are collected for these routes)::

    DIR/keys/<chain>-validators.json   the validators' private keys (mode 0600)
    DIR/logs/proxy-<chain>.log         the proxy's log (JSON lines)

Processes are started detached (own session) and stopped by their recorded pids, so the
devnet outlives the command that started it and ``down`` works from any shell.
deployment.json holds the operators' addresses, never their keys; the keystores use a
cheap pbkdf2 (devnet only: operators start fast) where ``relayer keys new`` uses scrypt.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from eth_account import Account

from adapters.evm.keys import write_keystore, write_private_file
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, free_port
from relayer.devnet.deploy import (
    Report,
    deploy_pair,
    deploy_qbft_light_client,
    fund_native,
    send_value,
    stderr_report,
)
from relayer.devnet.nodes import ChainNode, check_hardfork, check_kind, set_mining, start_node
from relayer.devnet.postgres import PgServer, PgUnavailable, PgUnreachable, init_server, server_alive, stop_server
from relayer.devnet.processes import process_alive, terminate
from relayer.devnet.proxy import PROXY_MARKER, ProxyHandle, start_proxy
from relayer.errors import DevnetError, UsageError

CHAIN_IDS = {"alpha": 1001, "beta": 1002}
BLOCK_TIME = 1.0
OPERATORS = 3
THRESHOLD = 2
GRACE_PERIOD = 6.0
CONFIRMATIONS = 2
POLL_INTERVAL = 0.5
OPERATOR_FUNDING = 100 * 10**18
HEALTH_TIMEOUT = 60.0
DEPLOYER_KEY = ANVIL_KEYS[0]
USER_KEYS = ANVIL_KEYS[1:4]
POLICIES = ("committee", "qbft")
STORES = ("sqlite", "postgresql")
LEASE_TTL = 5.0  # fleet mode: a dead process's leases move within 5 s (at once for a reaped same-host pid)
QBFT_VALIDATORS = 4
OPERATOR_MARKER = "relayer"
# Devnet keystores only: pbkdf2 with few iterations decrypts in milliseconds. Never use
# this for real keys (`relayer keys new` uses eth-account's default scrypt).
DEVNET_KDF: Literal["pbkdf2"] = "pbkdf2"
DEVNET_KDF_ITERATIONS = 2**14


@dataclass(frozen=True)
class DevnetPaths:
    """Where each file of a devnet folder lives."""

    root: Path

    @classmethod
    def of(cls, root: Path | str) -> DevnetPaths:
        return cls(Path(root).resolve())

    @property
    def deployment(self) -> Path:
        return self.root / "deployment.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def config(self, index: int) -> Path:
        return self.root / f"operator-{index}.toml"

    def key(self, index: int) -> Path:
        """Operator ``index``'s V3 keystore."""
        return self.keys / f"operator-{index}.json"

    def password(self, index: int) -> Path:
        """The password file of operator ``index``'s keystore."""
        return self.keys / f"operator-{index}.password"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def postgres(self) -> Path:
        """The PostgreSQL cluster of a ``--store postgresql`` devnet (data/ inside)."""
        return self.root / "postgres"

    def fleet_config(self, index: int, process: int) -> Path:
        """The configuration of process ``process`` (2..K) of operator ``index`` (process 1 uses ``config``)."""
        return self.root / f"operator-{index}-{process}.toml"

    def validator_keys(self, chain: str) -> Path:
        """The QBFT validator keys of ``chain`` (policy qbft)."""
        return self.keys / f"{chain}-validators.json"


# --------------------------------------------------------------------------- deployment.json

def load_deployment(root: Path | str) -> dict[str, Any]:
    """The devnet's ``deployment.json``.

    Raises DevnetError when the folder holds no devnet.
    """
    path = DevnetPaths.of(root).deployment
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(f"no devnet in {path.parent} (deployment.json is missing)") from None
    except json.JSONDecodeError as exc:
        raise DevnetError(f"{path} is not valid JSON: {exc}") from exc
    return data


def save_deployment(root: Path | str, deployment: dict[str, Any]) -> None:
    """Write ``deployment.json`` atomically."""
    path = DevnetPaths.of(root).deployment
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(deployment, indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- processes

def running_pids(deployment: dict[str, Any]) -> dict[str, int]:
    """``{process name: pid}`` of the devnet's processes that are still running."""
    found = {}
    for name, node in deployment.get("nodes", {}).items():
        if process_alive(node.get("pid"), node["node"]):
            found[f"{node['node']} {name}"] = node["pid"]
    for op in deployment.get("operators", []):
        if process_alive(op.get("pid"), OPERATOR_MARKER):
            found[op["name"]] = op["pid"]
        for extra in op.get("fleet", []):
            if process_alive(extra.get("pid"), OPERATOR_MARKER):
                found[extra["name"]] = extra["pid"]
    postgres = deployment.get("postgres")
    if postgres and server_alive(postgres.get("pid")):
        found["postgres"] = postgres["pid"]
    for name, proxy in deployment.get("proxies", {}).items():
        if process_alive(proxy.get("pid"), PROXY_MARKER):
            found[f"proxy {name}"] = proxy["pid"]
    return found


# --------------------------------------------------------------------------- operators

def _operator(deployment: dict[str, Any], index: int) -> dict[str, Any]:
    operators = deployment.get("operators", [])
    if not 1 <= index <= len(operators):
        raise UsageError(f"operator index {index} out of range 1..{len(operators)}")
    op: dict[str, Any] = operators[index - 1]
    return op


def start_operator(deployment_dir: Path | str, index: int, env: dict[str, str] | None = None) -> int:
    """Start operator ``index`` (1-based: ``operator-1`` is 1) detached; returns its pid.

    ``env`` adds environment variables (tests arm fault points with ``RELAYER_FAULT``).

    Output goes (appended) to ``DIR/logs/operator-N.log``; the pid is recorded in
    deployment.json. Does not wait for health (see ``wait_healthy``). Raises DevnetError when
    the devnet is missing or the operator already runs, UsageError for a bad index.
    """
    paths = DevnetPaths.of(deployment_dir)
    deployment = load_deployment(paths.root)
    op = _operator(deployment, index)
    if process_alive(op.get("pid"), OPERATOR_MARKER):
        raise DevnetError(f"{op['name']} already runs", pid=op["pid"])
    pid = _spawn_operator(paths, Path(op["config"]), paths.log(op["name"]), env or {})
    op["pid"] = pid
    save_deployment(paths.root, deployment)
    return pid


def _spawn_operator(paths: DevnetPaths, config: Path, log_path: Path, extra: dict[str, str] | None = None) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "relayer", "run", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=paths.root, env=env, start_new_session=True,
        )
    return process.pid


def stop_operator(dir: Path | str, index: int, sig: int = signal.SIGTERM,
                  timeout: float = 15.0) -> bool:
    """Stop operator ``index`` (1-based) with ``sig`` (SIGKILL after ``timeout`` s); True if it ran.

    ``sig=signal.SIGKILL`` simulates a crash. Raises DevnetError when the devnet is missing,
    UsageError for a bad index.
    """
    deployment = load_deployment(dir)
    op = _operator(deployment, index)
    return terminate(op.get("pid"), OPERATOR_MARKER, sig=sig, timeout=timeout)


def health_ok(api: str) -> bool:
    """True when ``GET {api}/health`` answers 200."""
    try:
        return httpx.get(f"{api}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(deployment_dir: Path | str, indices: Sequence[int] | None = None, *,
                 timeout: float = HEALTH_TIMEOUT, report: Report = stderr_report) -> None:
    """Wait until every listed operator (default: all) answers ``/health`` with 200.

    Raises DevnetError, including the last 20 lines of the operator's log, when one exits or
    is not healthy within ``timeout`` seconds.
    """
    paths = DevnetPaths.of(deployment_dir)
    deployment = load_deployment(paths.root)
    ops = deployment["operators"]
    pending: dict[Any, dict[str, Any]] = {}
    for i in indices or range(1, len(ops) + 1):
        pending[i] = ops[i - 1]
        pending.update({(i, extra["name"]): extra for extra in ops[i - 1].get("fleet", [])})
    report(f"waiting for {', '.join(op['name'] for op in pending.values())} to become healthy ...")
    started, deadline = time.monotonic(), time.monotonic() + timeout
    while pending:
        for i, op in list(pending.items()):
            if health_ok(op["api"]):
                report(f"{op['name']} healthy at {op['api']} ({time.monotonic() - started:.1f} s)")
                del pending[i]
            elif not process_alive(op.get("pid"), OPERATOR_MARKER):
                _fail_operator(paths, op, "exited before becoming healthy")
            elif time.monotonic() > deadline:
                _fail_operator(paths, op, f"not healthy after {timeout:.0f} s")
        if pending:
            time.sleep(0.2)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _fail_operator(paths: DevnetPaths, op: dict[str, Any], why: str) -> None:
    log_path = paths.log(op["name"])
    tail = log_tail(log_path) or "(log is empty)"
    raise DevnetError(f"{op['name']} {why}; last lines of {log_path}:\n{tail}")


# --------------------------------------------------------------------------- up / down

def up(root: Path | str, *, policy: str = "committee", report: Report = stderr_report,
       health_timeout: float = HEALTH_TIMEOUT, nodes: dict[str, str] | None = None,
       hardforks: dict[str, str] | None = None, operators: int = OPERATORS, threshold: int = THRESHOLD,
       fleet: int = 1, store: str = "sqlite", with_litecoin: bool = False) -> dict[str, Any]:
    """Start chains alpha/beta, deploy, configure and start ``operators`` operators (committee
    ``threshold``); returns deployment.json. ``with_litecoin``: also a Litecoin regtest chain named
    ``litecoin``, its custody and the wrapped-LTC contracts on alpha (``relayer.devnet.litecoin``).

    With ``store="postgresql"`` a PostgreSQL server runs for the devnet (a cluster in DIR/postgres,
    ``relayer.devnet.postgres``), each operator's store is its own database there, and each operator
    runs ``fleet`` processes sharing it (``operator-N.toml`` and ``operator-N-P.toml``, logs
    ``operator-N.log`` and ``operator-N-P.log``). ``nodes`` maps a chain to its node (``anvil``, the
    default, or ``hardhat``), ``hardforks`` a chain to its hardfork (``nodes.HARDFORKS``; default
    the node's own). Tears down whatever it
    started when a step fails. Raises UsageError for an unknown policy, chain, node or hardfork,
    DevnetError when a devnet already runs in ``root`` or a step fails.
    """
    if policy not in POLICIES:
        raise UsageError(f"verification policy {policy!r} is not supported by the devnet "
                         f"(supported: {', '.join(POLICIES)})")
    kinds = _node_kinds(nodes or {})
    forks = _hardforks(hardforks or {})
    if policy == "qbft" and any(forks.values()):
        # the sealing proxy refuses a berlin anvil's blocks (no known fork layout)
        raise UsageError("--hardfork: policy qbft runs at the nodes' default hardfork only")
    if policy == "qbft" and set(kinds.values()) != {"anvil"}:
        raise UsageError("--node: the QBFT sealing proxy (policy qbft) runs in front of anvil only")
    if with_litecoin and (policy != "committee" or fleet != 1):
        raise UsageError("--with litecoin: runs with policy committee and one process per operator only")
    check_topology(operators, threshold, fleet, store)
    paths = DevnetPaths.of(root)
    _refuse_running(paths)
    _clean(paths)
    try:
        return _up(paths, report, health_timeout, policy, kinds, forks,
                   _Topology(operators, threshold, fleet, store), with_litecoin)
    except BaseException:
        report("devnet up failed; stopping what was started")
        down(paths.root, report=report)
        raise


@dataclass(frozen=True)
class _Topology:
    operators: int
    threshold: int
    fleet: int
    store: str


def check_topology(operators: int, threshold: int, fleet: int, store: str) -> None:
    """Raises UsageError naming the option that is out of range or does not fit the others."""
    if store not in STORES:
        raise UsageError(f"--store {store!r}: expected one of {', '.join(STORES)}")
    if not 1 <= operators <= 16:
        raise UsageError(f"--operators {operators}: expected 1..16")
    if not 1 <= threshold <= operators:
        raise UsageError(f"--threshold {threshold}: expected 1..{operators} (the number of operators)")
    if not 1 <= fleet <= 8:
        raise UsageError(f"--fleet {fleet}: expected 1..8")
    if fleet > 1 and store != "postgresql":
        raise UsageError(f"--fleet {fleet} needs --store postgresql (processes of one operator share its store; "
                         "SQLite is one process's)")


def _node_kinds(nodes: dict[str, str]) -> dict[str, str]:
    """The node kind of every chain; raises UsageError naming the bad ``--node`` option."""
    return {name: check_kind("anvil" if kind is None else kind, f"--node {name}")
            for name, kind in _per_chain(nodes, "--node").items()}


def _hardforks(hardforks: dict[str, str]) -> dict[str, str | None]:
    """The hardfork of every chain (None: the node's default); raises UsageError naming the bad
    ``--hardfork`` option."""
    return {name: None if fork is None else check_hardfork(fork, f"--hardfork {name}")
            for name, fork in _per_chain(hardforks, "--hardfork").items()}


def _per_chain(values: dict[str, str], option: str) -> dict[str, str | None]:
    """``values`` (``option CHAIN=VALUE`` given) for every devnet chain, None where none was given;
    raises UsageError naming ``option`` for a chain the devnet does not have."""
    for name in values:
        if name not in CHAIN_IDS:
            raise UsageError(f"{option} {name}=...: unknown chain {name!r} (chains: {', '.join(CHAIN_IDS)})")
    return {name: values.get(name) for name in CHAIN_IDS}


def _refuse_running(paths: DevnetPaths) -> None:
    if not paths.deployment.exists():
        return
    alive = running_pids(load_deployment(paths.root))
    if alive:
        listing = ", ".join(f"{name} (pid {pid})" for name, pid in alive.items())
        raise DevnetError(f"a devnet already runs in {paths.root}: {listing}; "
                          f"stop it first with `relayer devnet down --dir {paths.root}`")


def _remove_outside_cluster(paths: DevnetPaths) -> bool:
    """Remove a PostgreSQL cluster that had to be made outside DIR (see _init_cluster) and its
    DIR/postgres link; True when there was one. Raises nothing for a missing cluster."""
    if not paths.postgres.is_symlink():
        return False
    shutil.rmtree(paths.postgres.resolve(), ignore_errors=True)
    paths.postgres.unlink()
    return True


def _clean(paths: DevnetPaths) -> None:
    """Remove the generated files of a stopped devnet (never anything else)."""
    _remove_outside_cluster(paths)
    for folder in (paths.keys, paths.state, paths.logs, paths.postgres):
        shutil.rmtree(folder, ignore_errors=True)
    for file in [paths.deployment, *paths.root.glob("operator-*.toml"), *paths.root.glob("*.hardhat.config.js")]:
        file.unlink(missing_ok=True)


def _up(paths: DevnetPaths, report: Report, health_timeout: float, policy: str,
        kinds: dict[str, str], forks: dict[str, str | None], topology: _Topology,
        with_litecoin: bool = False) -> dict[str, Any]:
    for folder in (paths.root, paths.logs, paths.state):
        folder.mkdir(parents=True, exist_ok=True)
    deployment: dict[str, Any] = {"policy": policy, "chains": {}, "users": [], "operators": [],
                                  "threshold": topology.threshold, "nodes": {}, "fleet": topology.fleet,
                                  "store": topology.store}
    store_urls = _start_postgres(paths, deployment, topology.operators, report) \
        if topology.store == "postgresql" else {}
    nodes = _start_chains(paths, deployment, report, kinds, forks)
    ltc_node = None
    if with_litecoin:
        from relayer.devnet import litecoin

        ltc_node = litecoin.start(paths.root, deployment, report)
        save_deployment(paths.root, deployment)  # recorded at once so `down` finds it
    qbft = _QbftChains.start(paths, nodes, deployment, report) if policy == "qbft" else None
    evms = {name: SyncEvm(node.url) for name, node in nodes.items()}
    operators = [Account.create() for _ in range(topology.operators)]
    users = [Account.from_key(key) for key in USER_KEYS]
    try:
        _deploy(evms, nodes, [op.address for op in operators], [u.address for u in users], deployment, report,
                light_client=qbft, threshold=topology.threshold)
    finally:
        for evm in evms.values():
            evm.close()
    if qbft is not None:
        qbft.describe(deployment)
    ltc_secrets = _litecoin_custody(deployment, ltc_node, nodes, [op.address for op in operators],
                                    topology.threshold, report) if ltc_node is not None else []
    deployment["users"] = [{"address": u.address, "key": key} for u, key in zip(users, USER_KEYS)]
    _write_operators(paths, operators, deployment, store_urls, topology.fleet)
    if ltc_secrets:
        from relayer.devnet import litecoin

        litecoin.write_keys(paths.root, ltc_secrets)
    save_deployment(paths.root, deployment)
    for index in range(1, topology.operators + 1):
        pid = start_operator(paths.root, index)
        report(f"started operator-{index} (pid {pid}), log {paths.log(f'operator-{index}')}")
        for extra in start_fleet(paths.root, index):
            report(f"started {extra['name']} (pid {extra['pid']}), log {paths.log(extra['name'])}")
    wait_healthy(paths.root, timeout=health_timeout, report=report)
    return load_deployment(paths.root)


def _start_postgres(paths: DevnetPaths, deployment: dict[str, Any], operators: int,
                    report: Report) -> dict[int, str]:
    """Start the devnet's PostgreSQL server and make a database per operator; returns their URLs.

    Raises DevnetError when the server cannot be made (what to install or fix)."""
    try:
        server = _init_cluster(paths, report)
        server.start()
    except PgUnavailable as exc:
        raise DevnetError(f"--store postgresql: {exc}") from None
    deployment["postgres"] = {"pid": server.pid, "port": server.port, "dir": str(paths.postgres),
                              "url": server.url(), "databases": {}}
    save_deployment(paths.root, deployment)  # recorded at once so `down` finds it
    urls = {index: server.create_database(name=f"operator_{index}") for index in range(1, operators + 1)}
    deployment["postgres"]["databases"] = {f"operator-{i}": url for i, url in urls.items()}
    save_deployment(paths.root, deployment)
    report(f"[store] PostgreSQL {server.bin.parent.name} at 127.0.0.1:{server.port} (pid {server.pid}), "
           f"cluster {paths.postgres}, log {paths.log('postgres')}")
    return urls


def _init_cluster(paths: DevnetPaths, report: Report) -> PgServer:
    """initdb in DIR/postgres; when root and the ``postgres`` user cannot reach DIR (e.g. under
    /root), in a new folder under the temporary directory that DIR/postgres links to."""
    try:
        return init_server(paths.postgres, log_path=paths.log("postgres"))
    except PgUnreachable:
        shutil.rmtree(paths.postgres, ignore_errors=True)
        target = Path(tempfile.mkdtemp(prefix="relayer-devnet-pg-"))
        paths.postgres.symlink_to(target, target_is_directory=True)
        report(f"[store] the postgres user cannot reach {paths.root}: the cluster lives in {target} "
               f"({paths.postgres} links to it)")
        return init_server(target, log_path=paths.log("postgres"))


def start_fleet(deployment_dir: Path | str, index: int) -> list[dict[str, Any]]:
    """Start the fleet processes 2..K of operator ``index`` that do not run; returns their records.

    Their pids are recorded in deployment.json (``operators[i].fleet``). Raises DevnetError when
    the devnet is missing, UsageError for a bad index."""
    paths = DevnetPaths.of(deployment_dir)
    deployment = load_deployment(paths.root)
    op = _operator(deployment, index)
    started = []
    for extra in op.get("fleet", []):
        if not process_alive(extra.get("pid"), OPERATOR_MARKER):
            extra["pid"] = _spawn_operator(paths, Path(extra["config"]), paths.log(extra["name"]))
            started.append(extra)
    save_deployment(paths.root, deployment)
    return started


def _litecoin_custody(deployment: dict[str, Any], node: Any, nodes: dict[str, ChainNode], operators: list[str],
                      threshold: int, report: Report) -> list[bytes]:
    """The operators' Litecoin secrets (written to their keystores later), their M-of-N custody, the
    wrapped-LTC contracts on alpha and the height the operators start at, in ``deployment``."""
    from relayer.devnet import litecoin

    chains = deployment["chains"]
    chain = chains.pop(litecoin.NAME)
    chains[litecoin.NAME] = chain  # after alpha and beta
    secrets_ = [os.urandom(32) for _ in operators]
    litecoin.describe_custody(chain, litecoin.public_keys(secrets_), threshold)
    alpha = chains[litecoin.DESTINATION]
    with SyncEvm(nodes[litecoin.DESTINATION].url) as evm:
        alpha[litecoin.NAME] = litecoin.deploy(evm, DEPLOYER_KEY, chain, alpha["message_layer"], operators,
                                               threshold, report)
    report(f"[{litecoin.NAME}] custody {chain['custody']['address']} ({threshold} of {len(operators)} operator keys)")
    litecoin.start_at(node, chain)
    return secrets_


def _start_chains(paths: DevnetPaths, deployment: dict[str, Any], report: Report,
                  kinds: dict[str, str], forks: dict[str, str | None]) -> dict[str, ChainNode]:
    nodes = {}
    for name, chain_id in CHAIN_IDS.items():
        node = nodes[name] = start_node(kinds[name], chain_id, block_time=BLOCK_TIME, log_path=paths.log(name),
                                        config_dir=paths.root, hardfork=forks[name])
        deployment["nodes"][name] = node.record()
        save_deployment(paths.root, deployment)  # recorded at once so `down` finds it
        fork = f", hardfork {node.hardfork}" if node.hardfork else ""
        report(f"[{name}] {node.kind} chain {chain_id} at {node.url} (pid {node.pid}), "
               f"{BLOCK_TIME:g} s blocks{fork}")
    return nodes


def _deploy(evms: dict[str, SyncEvm], nodes: dict[str, ChainNode], operators: list[str], users: list[str],
            deployment: dict[str, Any], report: Report, light_client: _QbftChains | None = None,
            threshold: int = THRESHOLD) -> None:
    """Deploy with automine (fast), then switch back to interval mining."""
    for name, evm in evms.items():
        set_mining(evm, nodes[name].kind, None)
    try:
        # one throw-away transaction on beta: the deployer's nonces then differ between the
        # chains, so no contract has the same address on both (a chain mix-up cannot hide)
        send_value(evms["beta"], DEPLOYER_KEY, Account.from_key(DEPLOYER_KEY).address, 0)
        chains = deploy_pair(evms["alpha"], evms["beta"], operators, threshold, DEPLOYER_KEY,
                             users=users, report=report, light_client=light_client)
        for name, evm in evms.items():
            fund_native(evm, DEPLOYER_KEY, operators, OPERATOR_FUNDING, chain=name, report=report)
    finally:
        for name, evm in evms.items():
            set_mining(evm, nodes[name].kind, BLOCK_TIME)
    for name, evm in evms.items():
        start_block = int(evm.rpc("eth_blockNumber"), 16)
        deployment["chains"][name] = {**chains[name], "block_time": BLOCK_TIME, "start_block": start_block,
                                      "node": nodes[name].kind, "hardfork": nodes[name].hardfork}


def _write_operators(paths: DevnetPaths, accounts: list[Any], deployment: dict[str, Any],
                     store_urls: dict[int, str] | None = None, fleet: int = 1) -> None:
    """Keys and configurations of the operators; with ``store_urls`` each gets ``[store] url`` and
    ``fleet - 1`` more configurations that differ only in their API port."""
    paths.keys.mkdir(mode=0o700, exist_ok=True)
    ports = _distinct_ports(len(accounts) * fleet)
    members = [{"name": f"operator-{i}", "address": acct.address,
                "api": f"http://127.0.0.1:{port}"} for i, (acct, port) in enumerate(zip(accounts, ports), 1)]
    extras: dict[int, list[dict[str, Any]]] = {}
    for index, (acct, port) in enumerate(zip(accounts, ports), 1):
        _write_key(paths, index, acct)
        (paths.state / f"operator-{index}").mkdir(parents=True, exist_ok=True)
        url = (store_urls or {}).get(index)
        paths.config(index).write_text(
            operator_toml(index, port, members, deployment["chains"], deployment["threshold"], store_url=url,
                          root=paths.root))
        extras[index] = []
        for process in range(2, fleet + 1):
            extra_port = ports[len(accounts) * (process - 1) + index - 1]
            config = paths.fleet_config(index, process)
            config.write_text(operator_toml(index, extra_port, members, deployment["chains"],
                                            deployment["threshold"], store_url=url, root=paths.root))
            extras[index].append({"name": f"operator-{index}-{process}", "api": f"http://127.0.0.1:{extra_port}",
                                  "config": str(config), "pid": None})
    deployment["operators"] = [{**m, "config": str(paths.config(i)), "pid": None, "fleet": extras[i]}
                               for i, m in enumerate(members, 1)]


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _write_key(paths: DevnetPaths, index: int, account: Any) -> None:
    """Operator ``index``'s keystore and its random password file, both mode 0600."""
    password = secrets.token_urlsafe(24)
    write_private_file(paths.password(index), (password + "\n").encode(), overwrite=True)
    write_keystore(paths.key(index), account, password, kdf=DEVNET_KDF,
                   iterations=DEVNET_KDF_ITERATIONS, overwrite=True)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(header: str, values: dict[str, Any]) -> list[str]:
    return [header, *(f"{k} = {_toml_value(v)}" for k, v in values.items()), ""]


REPLACE_AFTER = 6.0  # devnet blocks come every second: a delivery not mined in 6 s is stuck


def operator_toml(index: int, port: int, members: list[dict[str, str]],
                  chains: dict[str, dict[str, Any]], threshold: int, store_url: str | None = None,
                  root: Path | None = None) -> str:
    """The TOML configuration of operator ``index`` (paths relative to the file; a Litecoin chain's release
    paths absolute under ``root``, the devnet folder, when given)."""
    name = f"operator-{index}"
    lines = ["# devnet operator configuration, written by `relayer devnet up`", ""]
    lines += _toml_table("[operator]", {"name": name, "key_file": f"keys/{name}.json",
                                        "password_file": f"keys/{name}.password",
                                        "state_dir": f"state/{name}",
                                        "api_listen": f"127.0.0.1:{port}"})
    lines += _toml_table("[logging]", {"level": "info"})
    if store_url is not None:  # fleet mode: the operator's processes share this database
        lines += _toml_table("[store]", {"url": store_url, "lease_ttl": LEASE_TTL})
    lines += _toml_table("[committee]", {"threshold": threshold, "grace_period": GRACE_PERIOD})
    for member in members:
        lines += _toml_table("[[committee.members]]", member)
    for chain in chains.values():
        if chain.get("family") == "litecoin":
            from relayer.devnet import litecoin

            wrapped = chains.get(litecoin.DESTINATION, {}).get(litecoin.NAME, {}).get("wrapped")
            for header, values in litecoin.operator_tables(chain, POLL_INTERVAL, root, index, wrapped):
                lines += _toml_table(header, values)
            continue
        qbft = chain.get("qbft")  # policy qbft: the QBFT light client from the checkpoint
        lines += _toml_table(f"[chains.{chain['name']}]", {
            "chain_id": chain["chain_id"], "adapter": "evm", "light_client": "qbft" if qbft else "evm",
            "rpc": [chain["rpc"]], "confirmations": 0 if qbft else CONFIRMATIONS,
            "poll_interval": POLL_INTERVAL, "start_block": chain["start_block"]})
        if qbft:
            lines += _toml_table(f"[chains.{chain['name']}.light_client_options]", {
                "validators": qbft["validators"], "checkpoint_number": qbft["checkpoint_number"],
                "checkpoint_hash": qbft["checkpoint_hash"]})
        lines += _toml_table(f"[chains.{chain['name']}.evm]",  # the EVM family's keys
                             {"message_layer": chain["message_layer"]})
        lines += _toml_table(f"[chains.{chain['name']}.evm.fees]", {"replace_after": REPLACE_AFTER})
    names = [name for name, chain in chains.items() if chain.get("family", "evm") == "evm"]
    for source in names:
        for destination in names:
            if source != destination:
                lines += _toml_table("[[routes]]", {"from": source, "to": destination})
    for name, chain in chains.items():
        if chain.get("family") == "litecoin":  # deposits to alpha; with the release tables, alpha's burns back
            from relayer.devnet import litecoin

            lines += _toml_table("[[routes]]", {"from": name, "to": "alpha"})
            if root is not None and "wrapped" in chains.get("alpha", {}).get(name, {}):
                lines += _toml_table("[[routes]]", {"from": "alpha", "to": name, "batch_size": 1})
    return "\n".join(lines).rstrip("\n") + "\n"


def down(root: Path | str, *, report: Report = stderr_report) -> bool:
    """Stop the operators (every fleet process), then the chain nodes, then the PostgreSQL server,
    by their recorded pids (SIGTERM, SIGINT for postgres, then SIGKILL). A cluster that had to be
    made outside DIR (DIR unreachable for the postgres user) is removed; one inside DIR is kept.

    Idempotent: returns False when nothing was running. Never raises for a missing devnet.
    """
    paths = DevnetPaths.of(root)
    try:
        deployment = load_deployment(paths.root)
    except DevnetError:
        return False
    stopped = False
    for op in deployment.get("operators", []):
        for process in [op, *op.get("fleet", [])]:
            if terminate(process.get("pid"), OPERATOR_MARKER, timeout=GRACE_PERIOD + 10):
                report(f"stopped {process['name']} (pid {process['pid']})")
                stopped = True
    for name, proxy in deployment.get("proxies", {}).items():
        if terminate(proxy.get("pid"), PROXY_MARKER, timeout=5.0):
            report(f"stopped proxy {name} (pid {proxy['pid']})")
            stopped = True
    for name, node in deployment.get("nodes", {}).items():
        if terminate(node.get("pid"), node["node"], timeout=5.0):
            report(f"stopped {node['node']} {name} (pid {node['pid']})")
            stopped = True
    postgres = deployment.get("postgres")
    if postgres and stop_server(postgres.get("pid")):
        report(f"stopped postgres (pid {postgres['pid']})")
        stopped = True
    if _remove_outside_cluster(paths):
        report(f"removed the PostgreSQL cluster outside {paths.root}")
    return stopped


# --------------------------------------------------------------------------- policy qbft

class _QbftChains:
    """Policy ``qbft``: validator keys and a sealing proxy per chain, and the light-client factory
    ``deploy_pair`` calls to deploy each chain's ``QbftLightClient`` of its counterpart."""

    def __init__(self, proxies: dict[str, ProxyHandle], validators: dict[str, list[str]],
                 report: Report) -> None:
        self.proxies = proxies
        self.validators = validators
        self.report = report
        self.checkpoints: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, paths: DevnetPaths, nodes: dict[str, ChainNode], deployment: dict[str, Any],
              report: Report) -> _QbftChains:
        """Write ``QBFT_VALIDATORS`` validator keys per chain and start a sealing proxy before each anvil."""
        deployment["proxies"] = {}
        proxies, validators = {}, {}
        for name, node in nodes.items():
            accounts = sorted((Account.create() for _ in range(QBFT_VALIDATORS)), key=lambda a: int(a.address, 16))
            validators[name] = [a.address for a in accounts]
            document = {"chain": name, "chain_id": CHAIN_IDS[name],
                        "validators": [{"address": a.address, "key": "0x" + bytes(a.key).hex()} for a in accounts]}
            write_private_file(paths.validator_keys(name), (json.dumps(document, indent=2) + "\n").encode(),
                               overwrite=True)
            proxy = start_proxy(node.url, seal_keys=paths.validator_keys(name), log_path=paths.log(f"proxy-{name}"),
                                detach=True)
            proxies[name] = proxy
            deployment["proxies"][name] = {"pid": proxy.pid, "url": proxy.url, "admin_url": proxy.admin_url,
                                           "upstream": node.url, "validators": validators[name]}
            save_deployment(paths.root, deployment)  # recorded at once so `down` finds it
            report(f"[{name}] QBFT sealing proxy at {proxy.url} (pid {proxy.pid}, admin {proxy.admin_url}), "
                   f"{QBFT_VALIDATORS} validators, keys in {paths.validator_keys(name)}")
        return cls(proxies, validators, report)

    def __call__(self, target: SyncEvm, key: str, source: str, source_chain_id: int) -> str:
        """Deploy the QbftLightClient of ``source`` on ``target``, checkpointed at ``source``'s head
        as its proxy shows it (the sealed hash)."""
        with SyncEvm(self.proxies[source].url) as sealed:
            head = sealed.rpc("eth_getBlockByNumber", "latest", False)
        number, block_hash = int(head["number"], 16), str(head["hash"])
        address = deploy_qbft_light_client(target, key, source_chain_id, number, self.validators[source])
        self.checkpoints[source] = {"validators": self.validators[source], "checkpoint_number": number,
                                    "checkpoint_hash": block_hash}
        here = next(name for name in self.proxies if name != source)
        self.report(f"[{here}] QbftLightClient of {source} ({source_chain_id}) at {address}, checkpoint "
                    f"block {number} {block_hash}, {len(self.validators[source])} validators")
        return address

    def describe(self, deployment: dict[str, Any]) -> None:
        """Point the chains of ``deployment`` at their proxies and checkpoints."""
        for name, chain in deployment["chains"].items():
            checkpoint = self.checkpoints[name]
            chain.update(policy="qbft", anvil_rpc=chain["rpc"], rpc=self.proxies[name].url, qbft=checkpoint,
                         start_block=checkpoint["checkpoint_number"])
