"""``relayer devnet up|down``: the command-line face of ``relayer.devnet.network``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from relayer.devnet import network


def devnet_up(dir: Path, detach: bool, policy: str = "committee", nodes: dict[str, str] | None = None,
              *, hardforks: dict[str, str] | None = None, as_json: bool = False, operators: int = network.OPERATORS,
              threshold: int = network.THRESHOLD, fleet: int = 1, store: str = "sqlite",
              with_litecoin: bool = False) -> int:
    """Start the devnet in ``dir`` and print where everything is; returns the exit status (0).

    With ``detach`` return once every operator is healthy; otherwise stay in the foreground
    until SIGINT/SIGTERM and then stop everything. Raises UsageError for an unknown policy,
    DevnetError when a devnet already runs in ``dir`` or it cannot be started (whatever was
    started is stopped again). ``nodes`` maps a chain to its node (``hardhat``; default anvil),
    ``hardforks`` a chain to its hardfork (e.g. ``berlin``; default the node's latest);
    ``operators``/``threshold`` the committee, ``fleet`` processes per operator on ``store``
    (UsageError for a fleet on SQLite); ``with_litecoin`` adds the Litecoin regtest chain
    (``relayer.devnet.litecoin``).
    """
    network.check_topology(operators, threshold, fleet, store)
    stop = None if detach else _catch_stop_signals()
    deployment = network.up(dir, policy=policy, nodes=nodes, hardforks=hardforks, operators=operators,
                            threshold=threshold, fleet=fleet, store=store, with_litecoin=with_litecoin)
    paths = network.DevnetPaths.of(dir)
    print(json.dumps({"dir": str(paths.root), "deployment_file": str(paths.deployment), **deployment})
          if as_json else describe(paths, deployment, detach=detach), flush=True)
    if stop is None:
        return 0
    _wait_for(stop)
    print("stopping the devnet ...", file=sys.stderr, flush=True)
    network.down(dir)
    return 0


def devnet_down(dir: Path, *, as_json: bool = False) -> int:
    """Stop everything ``devnet up`` started in ``dir``; idempotent, always returns 0."""
    stopped = network.down(dir)
    if as_json:
        print(json.dumps({"dir": str(Path(dir).resolve()), "stopped": stopped}))
    elif not stopped:
        print(f"no devnet processes running in {Path(dir).resolve()}", file=sys.stderr)
    return 0


def describe(paths: network.DevnetPaths, deployment: dict[str, Any], *, detach: bool) -> str:
    """Human summary of a running devnet: RPCs, contracts, operators, files."""
    lines = [f"devnet is up in {paths.root}"]
    for name, chain in deployment["chains"].items():
        if chain.get("family") == "litecoin":
            custody = chain["custody"]
            lines.append(f"  {name:<6} litecoind regtest, chain {chain['chain_id']}  rpc {chain['rpc']}  "
                         f"confirmations {chain['confirmations']}")
            lines.append(f"         custody {custody['address']} ({custody['threshold']} of {len(custody['keys'])}"
                         f" operator keys, keys/operator-N.litecoin.json)  user {chain['user']['address']}")
            continue
        fork = f" ({chain['hardfork']})" if chain.get("hardfork") else ""
        lines.append(f"  {name:<6} {chain.get('node', 'anvil')}{fork} chain {chain['chain_id']}  rpc {chain['rpc']}  "
                     f"message layer {chain['message_layer']}  light client {chain['light_client']}")
        lines.append(f"         token router {chain['token_router']}  traceability {chain['traceability']}  "
                     f"verifier {chain['verifier']}")
        lines.append(f"         test token {chain['test_token']}  wrapped native "
                     f"{chain['wrapped_native']}  wrapped token {chain['wrapped_token']}")
        if "litecoin" in chain:
            ltc = chain["litecoin"]
            lines.append(f"         Litecoin: light client {ltc['light_client']}  verifier {ltc['verifier']}  "
                         f"wrapped LTC {ltc['wrapped']}")
    for op in deployment["operators"]:
        lines.append(f"  {op['name']}  {op['address']}  api {op['api']}  pid {op['pid']}  "
                     f"config {op['config']}")
        for extra in op.get("fleet", []):
            lines.append(f"  {extra['name']}  (fleet process of {op['name']})  api {extra['api']}  "
                         f"pid {extra['pid']}  config {extra['config']}")
    for index, user in enumerate(deployment["users"]):
        lines.append(f"  user {index}  {user['address']}")
    for name, proxy in deployment.get("proxies", {}).items():  # policy qbft
        lines.append(f"  {name:<6} QBFT sealing proxy {proxy['url']} in front of {proxy['upstream']}  "
                     f"validators {', '.join(proxy['validators'])}  keys {paths.validator_keys(name)}")
    lines.append(f"  policy:     {deployment.get('policy', 'committee')}")
    postgres = deployment.get("postgres")
    if postgres:
        databases = ", ".join(f"{name} {url}" for name, url in postgres["databases"].items())
        lines.append(f"  store:      PostgreSQL at 127.0.0.1:{postgres['port']} (pid {postgres['pid']}), "
                     f"cluster {postgres['dir']}, log {paths.log('postgres')}; databases: {databases}")
    else:
        lines.append(f"  store:      SQLite, {paths.state}/operator-N/")
    lines.append(f"  deployment: {paths.deployment}")
    lines.append(f"  logs:       {paths.logs}/ (alpha.log, beta.log, operator-N.log"
                 + (", proxy-<chain>.log)" if deployment.get("proxies") else ")"))
    if detach:
        lines.append(f"  stop with:  relayer devnet down --dir {paths.root}")
    else:
        lines.append("  press Ctrl-C to stop everything")
    return "\n".join(lines)


def _catch_stop_signals() -> threading.Event:
    """Install SIGINT/SIGTERM handlers before anything is printed, so no signal is missed."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_for(stop: threading.Event) -> None:
    while not stop.wait(1.0):
        pass
