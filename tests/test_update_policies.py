"""Update policies are plugins (issue 9 item 3): committee, qbft and ibft2 load through the
``relayer.update_policies`` entry points and play the contract's UpdatePolicy role; the core
decides nothing by a policy's name.

The policies run here against a fake destination (what ``EvmAdapter`` offers them) and a fake
``PolicyHost``; the devnet tests (tests/e2e) run them for real."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import eth_abi
import pytest

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from relayer import plugins
from relayer.contract import LightClientUpdate, RouteRef, UpdatePolicy, UpdateStatus, VerifiedHeader
from relayer.errors import ConfigError, ContractRevert, VerificationError

ROOT = Path(__file__).resolve().parents[1]
KEYS = sorted([f"0x{i:064x}" for i in (11, 12, 13)], key=lambda k: int(cm.signer_address(k), 16))
MEMBERS = [cm.signer_address(k) for k in KEYS]
LC = "0x" + "ab" * 20
ROUTE = RouteRef("alpha->beta", "alpha", "beta", 31337, 31338, LC)
ZERO = b"\x00" * 32


def header(number: int, commitment: bytes = b"\x22" * 32) -> VerifiedHeader:
    return VerifiedHeader(number=number, hash=bytes([number % 256]) * 32, parent_hash=b"\x01" * 32,
                          commitment=commitment, timestamp=1, encoded=b"rlp-%d" % number)


class Destination:
    """What the EVM policies read and call on the destination's adapter."""

    def __init__(self, committee: tuple[int, list[str], int] = (0, MEMBERS, 2)) -> None:
        self.committee_now = committee
        self.accepted: dict[int, bytes] = {}
        self.qbft_abi = Contract.load("QbftLightClient")
        self.refuse: str | None = None

    async def committee(self, light_client: str) -> tuple[int, list[str], int]:
        return self.committee_now

    async def accepted_root(self, light_client: str, number: int) -> bytes:
        return self.accepted.get(number, ZERO)

    async def estimate_gas(self, sender: str, to: str, data: bytes) -> int:
        if self.refuse is not None:
            raise ContractRevert(self.refuse)
        return 100_000


class Host:
    """A PolicyHost with the store, turn-taking and peers in memory."""

    def __init__(self, key: str = KEYS[0]) -> None:
        self.signer = cm.KeySigner(key)
        self.records: dict[tuple[int, int], dict[str, Any]] = {}
        self.peers: dict[str, dict[str, Any]] = {}
        self.headers = {n: header(n) for n in range(0, 20)}
        self.changes: list[tuple[int, float]] = []
        self.sent: list[tuple[str, bytes, int]] = []
        self.checked: list[tuple[int, tuple[str, ...], int]] = []
        self.due = 0.0

    def header(self, chain: str, number: int) -> VerifiedHeader | None:
        return self.headers.get(number)

    def set_changes(self, chain: str, after: int) -> list[tuple[int, float]]:
        return [c for c in self.changes if c[0] > after]

    def due_at(self, route: RouteRef, number: int, since: float) -> float:
        return since + self.due

    def open_blocks(self, route: RouteRef) -> list[int]:
        return [7]

    def own_attestation(self, route: RouteRef, number: int, epoch: int) -> dict[str, Any] | None:
        return self.records.get((number, epoch))

    def keep_attestation(self, record: dict[str, Any]) -> None:
        self.records[(record["number"], record["epoch"])] = record

    async def peer_attestations(self, route: RouteRef, number: int, epoch: int,
                                members: Any) -> list[tuple[str, dict[str, Any]]]:
        return [(name, r) for name, r in self.peers.items() if r["signer"].lower() in members]

    def check_committee(self, route: RouteRef, epoch: int, members: Any, threshold: int) -> None:
        self.checked.append((epoch, tuple(members), threshold))
        if threshold != 2:
            raise ConfigError("committee.threshold", f"is 2 but the light client requires {threshold}")

    async def send(self, route: RouteRef, to: str, data: bytes, gas: int) -> str | None:
        self.sent.append((to, data, gas))
        return "0x" + "cd" * 32


async def policy(name: str, destination: Destination, host: Host) -> Any:
    factory = plugins.load(plugins.UPDATE_POLICY_GROUP, name, key="test")
    return await factory.open(ROUTE, destination, host)


def test_first_party_policies_are_installed_in_their_group() -> None:
    assert {"committee", "qbft", "ibft2"} <= set(plugins.installed(plugins.UPDATE_POLICY_GROUP))
    assert plugins.UPDATE_POLICY_GROUP in plugins.plugin_table()


async def test_each_policy_plays_the_contract_role() -> None:
    for name in ("committee", "qbft", "ibft2"):
        made = await policy(name, Destination(), Host())
        assert isinstance(made, UpdatePolicy) and made.name == name


def peer_record(key: str, number: int, epoch: int = 0, mangle: Any = None) -> dict[str, Any]:
    made = cm.KeySigner(key)
    domain = cm.committee_domain_separator(ROUTE.dst_chain_id, LC)
    h = header(number)
    signature = made.sign_digest(cm.header_digest(domain, ROUTE.src_chain_id, number, h.hash, h.commitment, epoch))
    if mangle is not None:
        signature = mangle(signature)
    return {"number": number, "epoch": epoch, "signer": made.address, "signature": "0x" + signature.hex()}


async def test_committee_signs_collects_m_and_normalises_a_malleated_peer() -> None:
    host = Host()
    lc = await policy("committee", Destination(), host)
    assert host.checked == [(0, tuple(MEMBERS), 2)]
    record = lc.attest(ROUTE, header(7))
    assert record is not None and record["signer"] == MEMBERS[0] and record["epoch"] == 0
    host.keep_attestation(record)
    assert await lc.update(ROUTE, header(7)) is None  # one of two

    def high_s(sig: bytes) -> bytes:
        s = int.from_bytes(sig[32:64], "big")
        return sig[:32] + (cm.SECP256K1_N - s).to_bytes(32, "big") + bytes([((sig[64] - 27) ^ 1) + 27])

    host.peers = {"operator-2": peer_record(KEYS[1], 7, mangle=high_s),
                  "stranger": peer_record(f"0x{99:064x}", 7)}
    update = await lc.update(ROUTE, header(7))
    assert isinstance(update, LightClientUpdate) and update.needed and update.policy == "committee"
    number, block_hash, root, packed = eth_abi.decode(["uint256", "bytes32", "bytes32", "bytes"], update.data)
    assert (number, block_hash, root) == (7, header(7).hash, header(7).commitment) and len(packed) == 130
    canonical = bytes.fromhex(peer_record(KEYS[1], 7)["signature"][2:])
    assert packed[65:] == canonical  # ascending signers; the high-s form was rewritten


async def test_committee_update_is_empty_when_accepted_and_refuses_another_root() -> None:
    destination = Destination()
    lc = await policy("committee", destination, Host())
    destination.accepted[7] = header(7).commitment
    assert (await lc.update(ROUTE, header(7))).data == b""
    destination.accepted[7] = b"\x33" * 32
    with pytest.raises(VerificationError, match="another receipts root"):
        await lc.update(ROUTE, header(7))
    assert await lc.follow(ROUTE) == UpdateStatus.DONE


async def test_committee_open_refuses_a_configured_committee_the_light_client_does_not_trust() -> None:
    with pytest.raises(ConfigError, match="requires 3"):
        await policy("committee", Destination((0, MEMBERS, 3)), Host())


async def test_committee_rotation_resigns_open_headers_or_stops_signing() -> None:
    destination, host = Destination(), Host()
    lc = await policy("committee", destination, host)
    destination.committee_now = (1, MEMBERS, 2)
    lc.committee.epoch, lc.committee.members = 1, tuple(MEMBERS)
    lc._rotated(ROUTE)
    assert host.records[(7, 1)]["epoch"] == 1
    lc.committee.members = tuple(MEMBERS[1:])
    assert lc.attest(ROUTE, header(8)) is None  # rotated out


async def test_bft_sends_the_sealed_header_and_follows_validator_changes_in_order() -> None:
    for name in ("qbft", "ibft2"):
        destination, host = Destination(), Host()
        bft = await policy(name, destination, host)
        assert bft.attest(ROUTE, header(7)) is None
        update = await bft.update(ROUTE, header(7))
        assert update.data == b"rlp-7" and update.policy == name
        host.changes = [(5, time.time())]
        assert await bft.follow(ROUTE) == UpdateStatus.SENT  # the parent (the deciding vote) first
        assert host.sent[-1][0] == LC and b"rlp-4" in host.sent[-1][1]
        destination.accepted[4] = header(4).commitment
        assert await bft.follow(ROUTE, upto=7) == UpdateStatus.SENT
        assert b"rlp-5" in host.sent[-1][1]
        destination.accepted[5] = header(5).commitment
        assert await bft.follow(ROUTE) == UpdateStatus.DONE and len(host.sent) == 2


async def test_bft_waits_for_its_turn_and_after_a_refusal() -> None:
    destination, host = Destination(), Host()
    bft = await policy("qbft", destination, host)
    host.changes, host.due = [(5, time.time())], 60.0
    assert await bft.follow(ROUTE) == UpdateStatus.WAITING  # another operator's turn
    assert await bft.follow(ROUTE, upto=4) == UpdateStatus.DONE  # a batch below the change needs nothing
    host.due = 0.0
    destination.refuse = "UnexpectedValidatorSet()"
    assert await bft.follow(ROUTE) == UpdateStatus.WAITING and not host.sent
    destination.refuse = None
    assert await bft.follow(ROUTE) == UpdateStatus.WAITING  # refused lately: the follow-up round waits
    assert await bft.follow(ROUTE, upto=7) == UpdateStatus.SENT  # a batch of a later block does not


async def test_bft_skips_a_change_below_the_light_clients_checkpoint() -> None:
    destination, host = Destination(), Host()
    bft = await policy("qbft", destination, host)
    host.changes = [(5, time.time())]
    destination.refuse = "StaleHeader(4, 9)"
    assert await bft.follow(ROUTE) == UpdateStatus.DONE and not host.sent


def _policy_names_compared(source: str, names: set[str]) -> list[int]:
    """Lines of ``source`` comparing with a policy name: ``x == "qbft"``, ``x in ("qbft", ...)`` or
    ``x in BFT`` where a module-level ``BFT = (...)`` lists one."""
    tree = ast.parse(source)

    def named(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    listing = {t.id for node in tree.body
               if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Tuple, ast.List, ast.Set))
               and any(named(e) for e in node.value.elts)
               for t in node.targets if isinstance(t, ast.Name)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                parts = getattr(operand, "elts", [operand])
                if any(named(p) or (isinstance(p, ast.Name) and p.id in listing) for p in parts):
                    lines.append(node.lineno)
    return lines


def test_the_check_finds_name_comparisons() -> None:
    names = {"committee", "qbft"}
    assert _policy_names_compared('BFT = ("qbft", "x")\nif p in BFT: pass\nif p == "committee": pass\n'
                                  'if p in ("a", "qbft"): pass\nif p == "other": pass\n', names) == [2, 3, 4]


def test_the_core_compares_no_policy_names() -> None:
    names = set(plugins.installed(plugins.UPDATE_POLICY_GROUP))
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "relayer").glob("*.py"))
             for line in _policy_names_compared(path.read_text(), names)]
    assert not found, f"the core decides by a policy's name at {found}; ask the policy object instead"
