"""The light client of entry point ``chainmaker`` (relayer.contract.LightClient) on the recorded blocks,
and on blocks signed here with keys of this test's own (for what no recorded data shows)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime
import hashlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relayer.contract import BlockContents, CandidateHeader, LightClient
from relayer.errors import BrokenLinkError, ConfigError, MisbehaviourError, ProofError, VerificationError
from relayer_chainmaker import messages
from relayer_chainmaker.block import block_hash
from relayer_chainmaker.blockinfo import parse_block
from relayer_chainmaker.client import ChainMakerLightClient
from relayer_chainmaker.events import contract_events, tx_proof, verify_tx_proof
from relayer_chainmaker.node_id import format_node_id
from relayer_chainmaker.proto import Msg, encode
from relayer_chainmaker.txroot import merkle_root, tx_hash


@pytest.fixture
def client(nodes: tuple[str, ...], roots_path: Path) -> ChainMakerLightClient:
    return ChainMakerLightClient.from_options("cm", 1, 0, {"consensus_nodes": list(nodes),
                                                          "trust_roots": roots_path.read_text()})


def _candidate(block: dict[str, Any], claimed: bytes | None = None) -> CandidateHeader:
    return CandidateHeader(block["header"]["block_height"], claimed, b"", block)


def test_it_is_a_light_client_loaded_through_its_entry_point(client: ChainMakerLightClient) -> None:
    (point,) = [p for p in entry_points(group="relayer.light_clients") if p.name == "chainmaker"]
    assert point.load() is ChainMakerLightClient and isinstance(client, LightClient)
    assert client.lookahead == 0 and client.final_number(41) == 41 and client.set_changes([]) == []


def test_the_hash_type_follows_the_trust_roots_unless_they_disagree(nodes: tuple[str, ...], roots_path: Path) -> None:
    client = ChainMakerLightClient.from_options("cm", 1, 0, {"consensus_nodes": list(nodes),
                                                            "trust_roots": roots_path.read_text()})
    assert client.trust.hash_type == "SHA256"
    with pytest.raises(ConfigError, match="is SM3, but the trust roots name SHA256") as caught:
        ChainMakerLightClient.from_options("cm", 1, 0, {"consensus_nodes": list(nodes), "hash_type": "SM3",
                                                        "trust_roots": roots_path.read_text()})
    assert caught.value.key == "chains.cm.light_client_options.hash_type"
    assert ChainMakerLightClient.from_options("cm", 1, 0, {"consensus_nodes": list(nodes),
                                                           "hash_type": "sm3"}).trust.hash_type == "SM3"


@pytest.mark.parametrize(("options", "key", "words"), [
    ({"consensus_nodes": ["Qm1"], "extra": 1}, "extra", "unknown option"),
    ({}, "consensus_nodes", "give the consensus nodes' ids"),
    ({"consensus_nodes": ["0xabc"]}, "consensus_nodes", "is not a base58 peer id"),
    ({"consensus_nodes": ["QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX"] * 2}, "consensus_nodes", "twice"),
    ({"consensus_nodes": ["QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX"], "hash_type": "MD5"}, "hash_type",
     "not one of SHA256, SHA3_256, SM3"),
    ({"consensus_nodes": ["QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX"], "trust_roots": "junk"}, "trust_roots",
     "holds no CA certificate"),
])
def test_bad_options_name_their_key(options: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        ChainMakerLightClient.from_options("cm", 1, 0, options)
    assert caught.value.key == f"chains.cm.light_client_options.{key}"


def test_blocks_2_and_3_are_checked_and_accepted_by_their_link(
    client: ChainMakerLightClient, vector_blocks: dict[int, dict[str, Any]]
) -> None:
    two, three = (client.check_header(_candidate(vector_blocks[n])) for n in (2, 3))
    assert three.parent_hash == two.hash and two.commitment == base64.b64decode(vector_blocks[2]["header"]["tx_root"])
    client.accept([two, three])
    assert client.head_number == 3
    thirty = client.check_header(_candidate(vector_blocks[30]))
    with pytest.raises(VerificationError, match="block 30 does not follow 3"):
        client.accept([thirty])
    with pytest.raises(BrokenLinkError, match="pre_block_hash is not the accepted block's hash"):
        client.accept([dataclasses.replace(thirty, number=4)])
    assert client.head_number == 3


def test_accept_is_all_or_nothing(client: ChainMakerLightClient, vector_blocks: dict[int, dict[str, Any]]) -> None:
    two, three = (client.check_header(_candidate(vector_blocks[n])) for n in (2, 3))
    with pytest.raises(BrokenLinkError):
        client.accept([two, dataclasses.replace(three, parent_hash=b"\0" * 32)])
    assert client.head_number is None


def test_a_claimed_hash_that_is_not_the_blocks_is_refused(client: ChainMakerLightClient,
                                                         vector_blocks: dict[int, dict[str, Any]]) -> None:
    with pytest.raises(VerificationError, match="claimed hash"):
        client.check_header(_candidate(vector_blocks[30], b"\x01" * 32))
    with pytest.raises(VerificationError, match="quorum certificate"):
        client.check_header(_candidate({"header": vector_blocks[30]["header"]}))
    with pytest.raises(VerificationError, match="block.header is not an object"):
        client.check_header(CandidateHeader(1, None, b"", {"header": "x"}))


def test_trusted_state_round_trip_and_known_headers(client: ChainMakerLightClient,
                                                   vector_blocks: dict[int, dict[str, Any]]) -> None:
    two = client.check_header(_candidate(vector_blocks[2]))
    client.accept([two])
    state = client.trusted_state()
    assert state["number"] == 2 and state["hash"] == two.hash.hex() and len(state["trust_roots"]) == 2
    again = ChainMakerLightClient.from_trusted_state("cm", 1, 0, state)
    assert again.trusted_state() == state
    known = again.known_header(two.encoded, two.hash)
    assert (known.number, known.hash, known.parent_hash, known.commitment, known.timestamp) == \
        (two.number, two.hash, two.parent_hash, two.commitment, two.timestamp)
    again.accept([again.check_header(_candidate(vector_blocks[3]))])  # follows on from the restored head
    with pytest.raises(VerificationError, match="not the block of that hash"):
        again.known_header(two.encoded, b"\0" * 32)
    with pytest.raises(VerificationError, match="another chain"):
        ChainMakerLightClient.from_trusted_state("cm", 2, 0, state)
    with pytest.raises(VerificationError, match="malformed trusted state"):
        ChainMakerLightClient.from_trusted_state("cm", 1, 0, state | {"hash": "zz"})


def test_contents_are_checked_against_tx_root(client: ChainMakerLightClient,
                                              vector_blocks: dict[int, dict[str, Any]]) -> None:
    thirty = client.check_header(_candidate(vector_blocks[30]))
    client.check_contents(thirty, BlockContents(30, thirty.hash, vector_blocks[30]))
    altered = copy.deepcopy(vector_blocks[30])
    altered["txs"][0]["payload"]["method"] = "INVOKE_CONTRACT"
    with pytest.raises(VerificationError, match="tx_root is not the root"):
        client.check_contents(thirty, BlockContents(30, thirty.hash, altered))
    with pytest.raises(VerificationError, match="not the transactions of this block"):
        client.check_contents(thirty, BlockContents(30, thirty.hash, {"header": vector_blocks[30]["header"]}))


def test_merkle_root_pads_to_a_power_of_two_by_repeating_the_left_node() -> None:
    def h(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    assert merkle_root([], h) == b"" and merkle_root([a], h) == a
    assert merkle_root([a, b], h) == h(a + b)
    assert merkle_root([a, b, c], h) == h(h(a + b) + h(c + c))
    five = [a, b, c, a, b]
    assert merkle_root(five, h) == h(h(h(a + b) + h(c + a)) + h(h(b + b) + h(b + b)))


# --------------------------------------------------------------------------- blocks signed here


@dataclasses.dataclass
class Node:
    key: ec.EllipticCurvePrivateKey
    member: Msg
    node_id: str


def _node(i: int) -> Node:
    key = ec.generate_private_key(ec.SECP256R1())
    org = f"test-org{i}"
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "consensus"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"consensus{i}.sign.{org}")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(i + 1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=36500))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    node_id = format_node_id(b"\x12\x20" + hashlib.sha256(b"tls key %d" % i).digest())
    return Node(key, {"org_id": org, "member_type": 0, "member_info": pem}, node_id)


def _sign(node: Node, data: bytes) -> bytes:
    return node.key.sign(data, ec.ECDSA(hashes.SHA256()))


def _block(nodes: list[Node], height: int, parent: bytes, salt: bytes, voters: int) -> dict[str, Any]:
    """A block signed by ``nodes[0]`` with PRECOMMIT votes of the first ``voters`` nodes, as BlockInfo JSON."""
    header: Msg = {"block_version": 2030200, "block_type": 0, "chain_id": "chain9", "block_height": height,
                   "block_hash": b"", "pre_block_hash": parent, "pre_conf_height": 0, "tx_count": 0, "tx_root": b"",
                   "dag_hash": salt, "rw_set_root": b"", "block_timestamp": 1_700_000_000 + height,
                   "consensus_args": b"", "proposer": nodes[0].member, "signature": b""}
    header["block_hash"] = block_hash(header, lambda d: hashlib.sha256(d).digest())
    header["signature"] = _sign(nodes[0], header["block_hash"])
    entries = []
    for node in nodes[:voters]:
        vote: Msg = {"type": 1, "voter": node.node_id, "height": height, "round": 0, "hash": header["block_hash"],
                     "endorsement": None}
        vote["endorsement"] = {"signer": node.member, "signature": _sign(node, encode(messages.VOTE, vote))}
        entries.append({"key": node.node_id, "value": vote})
    vote_set = {"type": 1, "height": height, "round": 0, "sum": len(entries), "maj23": header["block_hash"],
                "votes": entries, "votes_by_block": [{"key": base64.b64encode(header["block_hash"]).decode(),
                                                      "value": {"votes": entries, "sum": len(entries)}}]}
    as_json = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in header.items()}
    as_json["proposer"] = {"org_id": nodes[0].member["org_id"],
                           "member_info": base64.b64encode(nodes[0].member["member_info"]).decode()}
    qc = base64.b64encode(encode(messages.VOTE_SET, vote_set)).decode()
    return {"header": as_json, "additional_data": {"extra_data": {"TBFTAddtionalDataKey": qc}}}


@pytest.fixture(scope="module")
def signed_chain() -> list[Node]:
    return [_node(i) for i in range(4)]


def test_two_certified_blocks_at_one_height_are_misbehaviour(signed_chain: list[Node]) -> None:
    client = ChainMakerLightClient.from_options("t", 9, 0, {"consensus_nodes": [n.node_id for n in signed_chain]})
    first, other = _block(signed_chain, 5, b"\1" * 32, b"a", 3), _block(signed_chain, 5, b"\1" * 32, b"b", 3)
    known = client.check_header(_candidate(first))
    client.check_equivocation(known, _candidate(first))  # the same block: nothing
    client.check_equivocation(known, _candidate(_block(signed_chain, 5, b"\1" * 32, b"c", 2)))  # no quorum: nothing
    with pytest.raises(MisbehaviourError) as caught:
        client.check_equivocation(known, _candidate(other))
    evidence = caught.value.evidence_json()
    assert caught.value.number == 5 and evidence["known"] == {"hash": known.hash.hex(), "encoded": known.encoded.hex()}


def test_signed_blocks_follow_quorum_and_link_rules(signed_chain: list[Node]) -> None:
    client = ChainMakerLightClient.from_options("t", 9, 0, {"consensus_nodes": [n.node_id for n in signed_chain]})
    one = client.check_header(_candidate(_block(signed_chain, 1, b"\0" * 32, b"", 3)))
    two = client.check_header(_candidate(_block(signed_chain, 2, one.hash, b"", 4)))
    client.accept([one, two])
    with pytest.raises(VerificationError, match="2 valid PRECOMMIT votes for the block, quorum is 3 of 4"):
        client.check_header(_candidate(_block(signed_chain, 3, two.hash, b"", 2)))
    five = ChainMakerLightClient.from_options("t", 9, 0, {"consensus_nodes": [n.node_id for n in signed_chain]
                                                          + [_node(9).node_id]})
    with pytest.raises(VerificationError, match="quorum is 4 of 5"):
        five.check_header(_candidate(_block(signed_chain, 1, b"\0" * 32, b"", 3)))


# --------------------------------------------------------------------------- events and transaction proofs


def test_the_recorded_erc20_transfer_events_are_read(vector_blocks: dict[int, dict[str, Any]]) -> None:
    for number, name in ((2, "EVM_ERC202"), (30, "EVM_ERC20_1")):
        block = parse_block(vector_blocks[number], "vector")
        (event,) = contract_events(block)
        assert (event.block_height, event.tx_index, event.contract_name) == (number, 0, name)
        assert event.contract_version == "1.0"
        assert event.topic == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # Transfer
        assert event.tx_id == vector_blocks[number]["txs"][0]["payload"]["tx_id"] and len(event.event_data) == 3
    with pytest.raises(VerificationError, match="without its transactions"):
        contract_events(parse_block(vector_blocks[3], "vector"))


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_a_recorded_transaction_is_proven_under_tx_root(vector_blocks: dict[int, dict[str, Any]]) -> None:
    block = parse_block(vector_blocks[30], "vector")
    leaf = tx_hash(block.txs[0], block.header["block_version"], _sha) if block.txs else b""
    assert tx_proof(block, 0, _sha) == []  # one transaction: tx_root is its hash
    verify_tx_proof(leaf, 0, 1, [], block.header["tx_root"], _sha)
    with pytest.raises(ProofError, match="not under the block's tx_root"):
        verify_tx_proof(_sha(b"other"), 0, 1, [], block.header["tx_root"], _sha)
    with pytest.raises(ProofError, match="has no transaction 1"):
        tx_proof(block, 1, _sha)


@pytest.mark.parametrize("count", [2, 3, 5, 6, 8])
def test_transaction_proofs_of_larger_blocks_walk_to_the_root(vector_blocks: dict[int, dict[str, Any]],
                                                             count: int) -> None:
    """Blocks of several transactions (copies of a recorded one with other ids): every index proves,
    and a proof moved to a position past tx_count (the duplicated last node) is refused."""
    txs = []
    for i in range(count):
        tx = copy.deepcopy(vector_blocks[30]["txs"][0])
        tx["payload"]["tx_id"] = f"{i:064x}"
        txs.append(tx)
    parsed = parse_block({"header": vector_blocks[30]["header"], "txs": txs}, "generated")
    assert parsed.txs is not None
    leaves = [tx_hash(tx, 2030200, _sha) for tx in parsed.txs]
    root = merkle_root(leaves, _sha)
    block = dataclasses.replace(parsed, header=parsed.header | {"tx_root": root, "tx_count": count})
    for index, leaf in enumerate(leaves):
        verify_tx_proof(leaf, index, count, tx_proof(block, index, _sha), root, _sha)
    if count % 2:  # the last leaf pairs with itself: only itself may stand there, and not one place later
        last = tx_proof(block, count - 1, _sha)
        with pytest.raises(ProofError, match="duplicate nodes do not fit"):
            verify_tx_proof(leaves[-1], count - 1, count, [leaves[0]] + last[1:], root, _sha)
        with pytest.raises(ProofError):
            verify_tx_proof(leaves[-1], count, count, last, root, _sha)
    with pytest.raises(ProofError):
        verify_tx_proof(leaves[0], 0, count, tx_proof(block, 1, _sha), root, _sha)


def test_trust_roots_come_from_a_file_too(nodes: tuple[str, ...], roots_path: Path, tmp_path: Path) -> None:
    options: dict[str, Any] = {"consensus_nodes": list(nodes), "trust_roots_file": str(roots_path)}
    assert len(ChainMakerLightClient.from_options("cm", 1, 0, options).trust.roots.by_org) == 2
    for more, key, words in (({"trust_roots": "x"}, "trust_roots_file", "not both"),
                             ({"trust_roots_file": str(tmp_path / "none.pem")}, "trust_roots_file", "cannot read"),
                             ({"trust_roots_file": str(tmp_path)}, "trust_roots_file", "cannot read")):
        with pytest.raises(ConfigError, match=words) as caught:
            ChainMakerLightClient.from_options("cm", 1, 0, options | more)
        assert caught.value.key == f"chains.cm.light_client_options.{key}"
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match="holds no CA certificate") as caught:
        ChainMakerLightClient.from_options("cm", 1, 0, options | {"trust_roots_file": str(tmp_path / "junk.pem")})
    assert caught.value.key == "chains.cm.light_client_options.trust_roots_file"
