"""Same standard of refusal as for FISCO BCOS: every one-byte alteration of a recorded block's
fields, signatures or quorum certificate is refused with a reason."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relayer.errors import RpcAnswerError
from relayer_chainmaker import messages
from relayer_chainmaker.blockinfo import TBFT_KEY, ChainMakerBlock, parse_block
from relayer_chainmaker.certs import TrustRoots
from relayer_chainmaker.hashing import hasher
from relayer_chainmaker.node_id import parse_node_id
from relayer_chainmaker.proto import Msg, decode, encode
from relayer_chainmaker.verify import Trust, Verdict, judge

BYTES_FIELDS = ("block_hash", "pre_block_hash", "tx_root", "dag_hash", "rw_set_root", "signature")
#: cryptography warns about certificates whose altered name attributes break their length rules
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning")

INT_FIELDS = ("block_version", "block_height", "pre_conf_height", "tx_count", "block_timestamp", "block_type")


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)  # thousands of verdicts, each warning about wx-org3/4
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture(scope="module")
def trust(nodes: tuple[str, ...], roots_path: Path) -> Trust:
    roots = TrustRoots.parse(roots_path.read_text(), roots_path.name)
    return Trust(frozenset(parse_node_id(n) for n in nodes), roots, hasher("SHA256"))


def _refused(block: ChainMakerBlock | dict[str, Any], trust: Trust) -> str:
    """The reason ``block`` is refused (an unparsable block counts: it is refused before judging)."""
    try:
        parsed = block if isinstance(block, ChainMakerBlock) else parse_block(block, "altered")
    except RpcAnswerError as exc:
        return exc.message
    verdict: Verdict = judge(parsed, trust)
    assert not verdict.valid, "an altered block was taken as valid"
    assert verdict.reason
    return verdict.reason


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_the_unaltered_blocks_are_valid(vector_blocks: dict[int, dict[str, Any]], trust: Trust) -> None:
    for block in vector_blocks.values():
        assert judge(parse_block(block, "vector"), trust).valid


# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize("number", [2, 3, 30])
def test_every_byte_of_every_header_field_altered_is_refused(
    number: int, vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[number], "vector")
    header = block.header
    cases: list[tuple[str, Msg]] = []
    for name in BYTES_FIELDS:
        cases += [(f"{name}[{i}]", header | {name: _flip(header[name], i)}) for i in range(len(header[name]))]
    cases += [(name, header | {name: header[name] + 1}) for name in INT_FIELDS]
    cases.append(("chain_id", header | {"chain_id": "chain2"}))
    cases.append(("consensus_args", header | {"consensus_args": b"\x00"}))
    proposer = header["proposer"]
    cases.append(("proposer.org_id", header | {"proposer": proposer | {"org_id": "wx-org1.chainmaker.org"}}))
    cases.append(("proposer.member_type", header | {"proposer": proposer | {"member_type": 1}}))
    info = proposer["member_info"]
    cases += [(f"proposer.member_info[{i}]", header | {"proposer": proposer | {"member_info": _flip(info, i)}})
              for i in range(len(info))]
    reasons = {what: _refused(dataclasses.replace(block, header=altered), trust) for what, altered in cases}
    assert "block_hash is not the hash of the header" in reasons["block_version"]
    assert "block_hash is not the hash of the header" in reasons["proposer.member_info[100]"]
    assert len(reasons) == len(cases) > 1000


@pytest.mark.parametrize("number", [2, 3, 30])
def test_every_byte_of_the_proposer_signature_altered_is_refused(
    number: int, vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    """With the block hash left as it is, only the proposer's signature check can catch it."""
    block = parse_block(vector_blocks[number], "vector")
    signature = block.header["signature"]
    for i in range(len(signature)):
        altered = dataclasses.replace(block, header=block.header | {"signature": _flip(signature, i)})
        assert _refused(altered, trust) == "proposer: the signature does not verify"


# --------------------------------------------------------------------------- the quorum certificate


@pytest.mark.parametrize(("number", "stride"), [(30, 1), (2, 7), (3, 7)])
def test_every_byte_of_the_quorum_certificate_altered_is_refused(
    number: int, stride: int, vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    """Block 30: each of its ~7000 bytes; blocks 2 and 3: every seventh (the same structure)."""
    block = parse_block(vector_blocks[number], "vector")
    assert block.qc is not None
    reasons = {_refused(dataclasses.replace(block, qc=_flip(block.qc, i)), trust)
               for i in range(0, len(block.qc), stride)}
    assert any("signature does not verify" in r for r in reasons)
    assert any("does not decode" in r for r in reasons)


def _vote_set(block: ChainMakerBlock) -> Msg:
    assert block.qc is not None
    return decode(messages.VOTE_SET, block.qc, "qc")


def _with_votes(block: ChainMakerBlock, vote_set: Msg) -> ChainMakerBlock:
    return dataclasses.replace(block, qc=encode(messages.VOTE_SET, vote_set))


def test_every_byte_of_each_vote_signature_altered_is_refused(
    vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[30], "vector")
    vote_set = _vote_set(block)
    assert judge(_with_votes(block, vote_set), trust).valid  # re-encoding the set changes nothing
    for n, entry in enumerate(vote_set["votes"]):
        signature = entry["value"]["endorsement"]["signature"]
        for i in range(len(signature)):
            altered = copy.deepcopy(vote_set)
            altered["votes"][n]["value"]["endorsement"]["signature"] = _flip(signature, i)
            assert _refused(_with_votes(block, altered), trust) == \
                f"vote of {entry['key']}: the signature does not verify"


def _without(vote_set: Msg, voters: set[str]) -> Msg:
    """The set without the votes of ``voters``, its sums and grouping kept consistent (as a forger would)."""
    out = copy.deepcopy(vote_set)
    out["votes"] = [e for e in out["votes"] if e["key"] not in voters]
    out["sum"] = len(out["votes"])
    for group in out["votes_by_block"]:
        group["value"]["votes"] = [e for e in group["value"]["votes"] if e["key"] not in voters]
        group["value"]["sum"] = len(group["value"]["votes"])
    out["votes_by_block"] = [group for group in out["votes_by_block"] if group["value"]["votes"]]
    return out


@pytest.mark.parametrize("removed", [1, 2, 3])
def test_votes_removed_below_quorum_are_refused(
    removed: int, vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[30], "vector")
    vote_set = _vote_set(block)
    voters = {e["key"] for e in vote_set["votes"][:removed]}
    assert _refused(_with_votes(block, _without(vote_set, voters)), trust) == \
        f"{3 - removed} valid PRECOMMIT votes for the block, quorum is 3 of 4"


def test_a_vote_removed_only_from_the_grouping_or_the_sum_is_refused(
    vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[30], "vector")
    vote_set = _vote_set(block)
    grouped = copy.deepcopy(vote_set)
    grouped["votes_by_block"][0]["value"]["votes"].pop()
    assert "votes_by_block does not add up" in _refused(_with_votes(block, grouped), trust)
    summed = copy.deepcopy(vote_set) | {"sum": 4}
    assert "sum 4 is not its 3 votes" in _refused(_with_votes(block, summed), trust)


def test_a_vote_listed_under_another_voter_is_refused(vector_blocks: dict[int, dict[str, Any]], trust: Trust) -> None:
    block = parse_block(vector_blocks[30], "vector")
    vote_set = _vote_set(block)
    vote_set["votes"][0]["key"] = "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7"  # the node that did not vote
    assert "the vote names voter" in _refused(_with_votes(block, vote_set), trust)


def test_a_vote_copied_under_a_second_voter_is_refused(vector_blocks: dict[int, dict[str, Any]],
                                                      trust: Trust) -> None:
    """One certificate key may not count for two nodes, even when the voter field is re-signed."""
    block = parse_block(vector_blocks[30], "vector")
    vote_set = _vote_set(block)
    copied = copy.deepcopy(vote_set["votes"][0])
    copied["key"] = copied["value"]["voter"] = "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7"
    vote_set["votes"].append(copied)
    vote_set["sum"] = 4
    vote_set["votes_by_block"][0]["value"]["votes"].append(copy.deepcopy(copied))
    vote_set["votes_by_block"][0]["value"]["sum"] = 4
    # the voter field is signed, so the copied vote's signature fails first
    assert "signature does not verify" in _refused(_with_votes(block, vote_set), trust)


def test_a_voter_outside_the_configured_nodes_is_refused(vector_blocks: dict[int, dict[str, Any]],
                                                        nodes: tuple[str, ...], trust: Trust) -> None:
    block = parse_block(vector_blocks[30], "vector")
    three = frozenset(parse_node_id(n) for n in nodes if n != "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8")
    reason = _refused(block, dataclasses.replace(trust, nodes=three))
    assert reason == "vote of QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8: not a configured consensus node"


def test_more_configured_nodes_raise_the_quorum(vector_blocks: dict[int, dict[str, Any]], nodes: tuple[str, ...],
                                               trust: Trust) -> None:
    block = parse_block(vector_blocks[30], "vector")
    more = set(trust.nodes) | {b"\x12\x20" + bytes([i]) * 32 for i in range(3)}  # n = 7: quorum 5
    assert _refused(block, dataclasses.replace(trust, nodes=frozenset(more))) == \
        "3 valid PRECOMMIT votes for the block, quorum is 5 of 7"


def test_a_block_without_its_quorum_certificate_is_refused(vector_blocks: dict[int, dict[str, Any]],
                                                          trust: Trust) -> None:
    block = parse_block(vector_blocks[30], "vector")
    assert "carries no TBFT quorum certificate" in _refused(dataclasses.replace(block, qc=None), trust)
    bare = parse_block(vector_blocks[30]["header"], "a bare header")
    assert bare.qc is None and "carries no TBFT quorum certificate" in _refused(bare, trust)


# --------------------------------------------------------------------------- certificates


def _foreign_ca(org: str) -> str:
    """A CA certificate for ``org`` that did not issue the recorded certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_not_issued_by_its_orgs_configured_ca_is_refused(
    vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[2], "vector")  # proposed by wx-org2
    roots = TrustRoots.parse(_foreign_ca("wx-org2.chainmaker.org"), "foreign")
    assert _refused(block, dataclasses.replace(trust, roots=roots)) == \
        "proposer: the certificate was not issued by the configured CA of wx-org2.chainmaker.org"


def test_a_certificate_outside_its_validity_at_the_block_time_is_refused(
    vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = parse_block(vector_blocks[30], "vector")
    header = block.header | {"block_timestamp": 4_102_444_800}  # 2100: and the hash must then be redone
    header["block_hash"] = trust.digest(encode(messages.BLOCK_HEADER, header | {"block_hash": b"", "signature": b""}))
    reason = _refused(dataclasses.replace(block, header=header), trust)
    assert reason.startswith("proposer: the certificate is not valid at the block's time 2100-01-01")


# --------------------------------------------------------------------------- transactions and DAG


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    else:
        yield path, value


def _altered_leaf(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = None
    if raw and base64.b64encode(raw).decode() == value:
        return base64.b64encode(_flip(raw, len(raw) // 2)).decode()
    return value[:-1] + ("0" if value[-1:] != "0" else "1")


@pytest.mark.parametrize("number", [2, 30])
def test_every_transaction_field_altered_is_refused_but_gas_used(
    number: int, vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    """gas_used is the one exception: from block version 2300 on ChainMaker hashes a transaction with
    it set to 0 (chainmaker-go CalcTxHashWithVersion), so no block commits it and nothing can check it."""
    original = vector_blocks[number]
    leaves = list(_leaves(original["txs"]))
    assert len(leaves) > 30
    for path, value in leaves:
        block = copy.deepcopy(original)
        target = block["txs"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = _altered_leaf(value)
        if path[-1] == "gas_used":
            assert judge(parse_block(block, "altered"), trust).valid
            continue
        assert "tx_root is not the root of the block's transactions" in _refused(block, trust), path


def test_a_transaction_removed_or_added_is_refused(vector_blocks: dict[int, dict[str, Any]], trust: Trust) -> None:
    block = copy.deepcopy(vector_blocks[30])
    block["txs"].append(copy.deepcopy(block["txs"][0]))
    assert _refused(block, trust) == "the block has 2 transactions, its header counts 1"
    block["txs"] = []
    assert _refused(block, trust) == "the block has 0 transactions, its header counts 1"


def test_an_altered_dag_is_refused(vector_blocks: dict[int, dict[str, Any]], trust: Trust) -> None:
    block = copy.deepcopy(vector_blocks[30])
    block["dag"]["vertexes"][0]["neighbors"] = [0]
    assert _refused(block, trust) == "dag_hash is not the hash of the block's DAG"
    block["dag"]["vertexes"].append({})
    assert _refused(block, trust) == "dag_hash is not the hash of the block's DAG"


def test_a_quorum_certificate_moved_to_another_block_is_refused(
    vector_blocks: dict[int, dict[str, Any]], trust: Trust
) -> None:
    block = copy.deepcopy(vector_blocks[30])
    block["additional_data"]["extra_data"][TBFT_KEY] = vector_blocks[2]["additional_data"]["extra_data"][TBFT_KEY]
    assert _refused(block, trust) == "the quorum certificate is for height 2, not 30"
