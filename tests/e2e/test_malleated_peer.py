"""A committee member whose API serves its signatures in forms the contract refuses.

On a real devnet, the member with the lowest address (the one every collector would pick
first) is reached by the two others through a small HTTP proxy that malleates every signature
it serves: alternately high s (``n - s``, recovery bit flipped) and ``v`` = 0/1. The on-chain
``CommitteeLightClient`` refuses both forms (checked first against the contract itself);
the collectors normalise them on receipt, so every transfer in both directions is still
delivered and no delivery reverts."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import chain, events, now_iso, outcome_of, restart, wait_for
from eth_account import Account

from adapters.evm import committee as cm
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import transfer
from relayer.errors import ContractRevert

pytestmark = pytest.mark.slow


def high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (cm.SECP256K1_N - s).to_bytes(32, "big") + bytes([((signature[64] - 27) ^ 1) + 27])


def v01(signature: bytes) -> bytes:
    return signature[:64] + bytes([signature[64] - 27])


class MalleatingProxy:
    """Forwards GETs to ``upstream`` (an operator's API) and malleates the ``signature`` it serves."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.malleated: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                reply = httpx.get(proxy.upstream + self.path, timeout=5)
                body = reply.content
                if reply.status_code == 200 and "/v1/attestations/" in self.path:
                    record = reply.json()
                    signature = bytes.fromhex(record["signature"][2:])
                    form = (high_s, v01)[len(proxy.malleated) % 2]
                    record["signature"] = "0x" + form(signature).hex()
                    proxy.malleated.append(form.__name__)
                    body = json.dumps(record).encode()
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def use_member_api(root: Path, index: int, member: str, url: str) -> None:
    """Point ``committee.members[name = member].api`` of operator ``index``'s TOML at ``url``."""
    path = network.DevnetPaths.of(root).config(index)
    text = path.read_text()
    pattern = r'(name = "' + re.escape(member) + r'"\naddress = "[^"]+"\napi = )"[^"]+"'
    text, count = re.subn(pattern, lambda m: m.group(1) + json.dumps(url), text)
    assert count == 1, f"no member {member} in {path}"
    path.write_text(text)


@pytest.fixture(scope="module")
def malleated(devnet: Path) -> Iterator[tuple[Path, MalleatingProxy, int]]:
    operators = network.load_deployment(devnet)["operators"]
    lowest = min(range(len(operators)), key=lambda i: int(operators[i]["address"], 16)) + 1
    proxy = MalleatingProxy(operators[lowest - 1]["api"])
    others = [i for i in range(1, len(operators) + 1) if i != lowest]
    try:
        for index in others:
            use_member_api(devnet, index, f"operator-{lowest}", proxy.url)
        restart(devnet, others)
        yield devnet, proxy, lowest
    finally:
        proxy.close()


def test_the_contract_refuses_the_malleated_forms(malleated: tuple[Path, MalleatingProxy, int]) -> None:
    root, proxy, _ = malleated
    alpha, beta = chain(root, "alpha"), chain(root, "beta")
    keys = sorted((Account.create() for _ in range(2)), key=lambda k: int(k.address, 16))
    with SyncEvm(alpha["rpc"]) as a, SyncEvm(beta["rpc"]) as b:
        block = a.rpc("eth_getBlockByNumber", "latest", False)
        number, block_hash, root_hash = int(block["number"], 16), bytes.fromhex(block["hash"][2:]), \
            bytes.fromhex(block["receiptsRoot"][2:])
        digest = bytes(b.call(beta["light_client"], "CommitteeLightClient", "headerDigest", number, block_hash,
                              root_hash))
        # the contract checks the form of a signature before its signer's membership, so outsiders'
        # signatures show which forms it refuses (the first signer is the one malleated)
        good = [(k.address, cm.sign_digest(k.key.hex(), digest)) for k in keys]
        for form in (high_s, v01):
            packed = cm.pack_signatures([(good[0][0], form(good[0][1])), good[1]])
            with pytest.raises(ContractRevert, match="InvalidSignature"):
                b.call(beta["light_client"], "CommitteeLightClient", "updateHeader", number, block_hash, root_hash,
                       packed)
            assert cm.canonical_signature(form(good[0][1])) == good[0][1]
        with pytest.raises(ContractRevert, match="UnknownSigner"):  # the canonical form gets past the check
            b.call(beta["light_client"], "CommitteeLightClient", "updateHeader", number, block_hash, root_hash,
                   cm.pack_signatures(good))


def test_updates_succeed_while_a_peer_serves_malleated_signatures(
        malleated: tuple[Path, MalleatingProxy, int]) -> None:
    root, proxy, lowest = malleated
    since = now_iso()
    results = []
    for _ in range(3):  # separate blocks: the designated submitter changes from block to block
        results.append(transfer(root, "alpha", "beta", "native", "0.01", recipient=Account.create().address,
                                wait=False))
        results.append(transfer(root, "beta", "alpha", "native", "0.01", recipient=Account.create().address,
                                wait=False))

    def delivered() -> bool:  # executed on the destination layer (outcome delivered), not only processed
        return all(outcome_of(root, r.source, r.destination, r.nonce) == 1 for r in results)

    wait_for(delivered, 150, "every transfer to be delivered")
    assert {"high_s", "v01"} <= set(proxy.malleated), proxy.malleated
    normalized = events(root, "attestation.normalized", since)
    assert normalized and all(e["operator"] != f"operator-{lowest}" for e in normalized), normalized
    assert {e["reason"] for e in normalized} <= {"high s", "v = 0", "v = 1"}, normalized
    confirmed_by = {e["operator"] for e in events(root, "message.confirmed", since)}
    assert confirmed_by & {e["operator"] for e in normalized}, "no delivery by a member that normalised"
    refused = [e for e in events(root, "message.attempt_failed", since) if "Signature" in e["reason"]]
    assert not refused and not events(root, "tx.reverted", since), refused
