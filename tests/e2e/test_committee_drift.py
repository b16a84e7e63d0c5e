"""Committee drift at start, on a real devnet: a daemon whose ``[committee]`` differs from what
the on-chain ``CommitteeLightClient`` holds (threshold, members, epoch) refuses to start with one
line naming the key and the light client (exit 2, no traceback); after a rotation on-chain, the
unchanged configuration is refused the same way, while the running daemons follow the rotation
without a restart (an operator rotated out says so and stops signing for that route)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from devnet_helpers import chain, events, now_iso, outcome_of, wait_for
from eth_account import Account

from adapters.evm import committee as cm
from adapters.evm.keys import load_account
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.anvil import free_port
from relayer.devnet.transfer import transfer

pytestmark = pytest.mark.slow


def variant(root: Path, name: str, edit: object) -> Path:
    """A copy of operator-1's TOML (own state folder and API port) edited by ``edit(text) -> text``."""
    paths = network.DevnetPaths.of(root)
    text = paths.config(1).read_text()
    text = re.sub(r'^state_dir = .*$', f'state_dir = "state/{name}"', text, count=1, flags=re.M)
    text = re.sub(r'^api_listen = .*$', f'api_listen = "127.0.0.1:{free_port()}"', text, count=1, flags=re.M)
    path = root / f"{name}.toml"
    path.write_text(edit(text))  # type: ignore[operator]
    return path


def run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=90)


def refused(root: Path, config: Path, key: str) -> str:
    out = run(config)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr
    line = next(ln for ln in out.stderr.splitlines() if f"{key}:" in ln)
    assert str(config) in line and "the light client of " in line, line
    return line


def test_a_configured_committee_the_light_clients_do_not_hold_is_refused(devnet: Path) -> None:
    line = refused(devnet, variant(devnet, "threshold", lambda t: t.replace("threshold = 2", "threshold = 3")),
                   "committee.threshold")
    lc = chain(devnet, "beta")["light_client"]
    assert re.search(r"committee\.threshold: is 3 but the light client of alpha on beta \(" + lc + r"\) requires 2",
                     line), line
    line = refused(devnet, variant(devnet, "epoch", lambda t: t.replace("grace_period", "epoch = 1\ngrace_period")),
                   "committee.epoch")
    assert "is 1 but the light client of alpha on beta" in line and "is at epoch 0" in line, line
    stranger = Account.create().address
    operator_3 = network.load_deployment(devnet)["operators"][2]["address"]
    line = refused(devnet, variant(devnet, "members", lambda t: t.replace(operator_3, stranger)), "committee.members")
    assert operator_3 in line and stranger in line, line


def rotate(root: Path, src: str, dst: str, members: list[str], threshold: int) -> None:
    """Rotate the light client of ``src`` on ``dst`` to ``members``/``threshold``, signed by the
    current committee (the devnet operators' keys)."""
    d = chain(root, dst)
    accounts = [load_account(network.DevnetPaths.of(root).key(i), network.DevnetPaths.of(root).password(i))
                for i in (1, 2, 3)]
    members = sorted(members, key=lambda a: int(a, 16))
    with SyncEvm(d["rpc"]) as evm:
        epoch = int(evm.call(d["light_client"], "CommitteeLightClient", "epoch"))
        domain = bytes(evm.call(d["light_client"], "CommitteeLightClient", "domainSeparator"))
        digest = cm.rotation_digest(domain, epoch + 1, members, threshold)
        signatures = cm.pack_signatures([(a.address, cm.sign_digest(a.key.hex(), digest)) for a in accounts])
        evm.transact(network.DEPLOYER_KEY, d["light_client"], "CommitteeLightClient", "rotateCommittee", members,
                     threshold, signatures)
        assert int(evm.call(d["light_client"], "CommitteeLightClient", "epoch")) == epoch + 1


def test_a_rotation_on_chain_is_followed_without_a_restart(devnet: Path) -> None:
    """alpha->beta rotates to operators 1 and 2 (operator 3 out); the running daemons follow: 1 and 2
    sign for epoch 1, 3 says it was rotated out, and transfers alpha->beta (and back) still arrive."""
    operators = network.load_deployment(devnet)["operators"]
    since = now_iso()
    rotate(devnet, "alpha", "beta", [operators[0]["address"], operators[1]["address"]], 2)
    wait_for(lambda: {e["operator"] for e in events(devnet, "rotation.followed", since)}
             == {"operator-1", "operator-2"}, 30, "operators 1 and 2 to follow the rotation")
    out = wait_for(lambda: events(devnet, "rotation.rotated_out", since), 30, "operator 3 to say it is out")
    assert {e["operator"] for e in out} == {"operator-3"} and out[0]["route"] == "alpha->beta" and out[0]["epoch"] == 1
    results = [transfer(devnet, "alpha", "beta", "native", "0.01", recipient=Account.create().address)
               for _ in range(3)] + [transfer(devnet, "beta", "alpha", "native", "0.01",
                                              recipient=Account.create().address)]

    def delivered() -> bool:  # executed on the destination layer (outcome delivered), not only processed
        return all(outcome_of(devnet, r.source, r.destination, r.nonce) == 1 for r in results)

    wait_for(delivered, 120, "every transfer after the rotation")
    signed = [e for e in events(devnet, "attestation.signed", since) if e["route"] == "alpha->beta"]
    assert signed and all(e["epoch"] == 1 and e["operator"] != "operator-3" for e in signed), signed


def test_after_a_rotation_on_chain_the_old_configuration_is_refused(devnet: Path) -> None:
    operators = network.load_deployment(devnet)["operators"]
    line = refused(devnet, variant(devnet, "rotated", lambda t: t), "committee.members")
    assert "the light client of alpha on beta" in line and "at epoch 1" in line, line
    assert operators[2]["address"] in line and "does not trust" in line, line


def test_a_message_layer_the_destination_does_not_trust_is_refused(devnet: Path) -> None:
    """Route resolution is the adapter's (resolve_route): a configured source message layer that the
    destination's layer does not trust for that source (``remoteOf``) stops the start with the
    family's key."""
    real = chain(devnet, "alpha")["message_layer"]
    stranger = Account.create().address

    def edit(text: str) -> str:
        head, rest = text.split("[chains.alpha.evm]\n", 1)
        assert real in rest.split("\n[", 1)[0], "alpha's message_layer is not in its [chains.alpha.evm]"
        return head + "[chains.alpha.evm]\n" + rest.replace(real, stranger, 1)

    out = run(variant(devnet, "layer", edit))
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr
    line = next(ln for ln in out.stderr.splitlines() if "chains.alpha.evm.message_layer:" in ln)
    assert f"the message layer on beta trusts {real} for alpha, not {stranger}" in line, line
