"""Every recorded ChainMaker 2.3.2 vector verifies, and what each shows is what the README says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from relayer_chainmaker.certs import TrustRoots
from relayer_chainmaker.client import ChainMakerLightClient
from relayer_chainmaker.node_id import parse_node_id

#: Who proposed and who voted in each recorded block (the votes' voters; the fourth node abstained).
EXPECTED = {
    2: ("wx-org2.chainmaker.org", {"QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX",
                                   "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7",
                                   "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8"}),
    3: ("wx-org4.chainmaker.org", {"QmUjC29VEBtRcD2jQv8kZLmJnqNeEjwjSJKe17zKuysUsJ",
                                   "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7",
                                   "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8"}),
    30: ("wx-org3.chainmaker.org", {"QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX",
                                    "QmUjC29VEBtRcD2jQv8kZLmJnqNeEjwjSJKe17zKuysUsJ",
                                    "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8"}),
}
CONFIGURED = ("wx-org1.chainmaker.org", "wx-org2.chainmaker.org")


def _judge(block: dict[str, Any], nodes: tuple[str, ...], roots: bytes | None) -> dict[str, Any]:
    validators = tuple(sorted(parse_node_id(n) for n in nodes))
    return ChainMakerLightClient.judge_block(block, validators, 0, trust_roots=roots)


def test_every_file_of_the_folder_is_covered(cm_vectors: Path) -> None:
    names = sorted(p.name for p in cm_vectors.iterdir())
    assert names == sorted([f"cm232_block{n}{s}.json" for n, s in ((2, "_erc20"), (3, "_header_qc"), (30, ""))]
                           + ["cm232_chain1_partial_trust_roots.json"])


def test_the_trust_roots_file_holds_the_cas_of_two_orgs(roots_path: Path) -> None:
    roots = TrustRoots.parse(roots_path.read_text(), roots_path.name)
    assert sorted(roots.by_org) == list(CONFIGURED) and all(len(cas) == 1 for cas in roots.by_org.values())
    assert TrustRoots.parse("".join(roots.pems()), "pem bundle").by_org.keys() == roots.by_org.keys()


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_each_recorded_block_is_valid_with_its_signers(
    number: int, vector_blocks: dict[int, dict[str, Any]], nodes: tuple[str, ...], roots_path: Path,
) -> None:
    with structlog.testing.capture_logs() as logs:
        out = _judge(vector_blocks[number], nodes, roots_path.read_bytes())
    proposer, signers = EXPECTED[number]
    assert out["valid"] is True and "reason" not in out, out.get("reason")
    assert out["number"] == number and out["proposer"] == proposer and set(out["signers"]) == signers
    assert out["quorum"] == 3 and out["validators"] == sorted(nodes)
    # the CAs of wx-org1 and wx-org2 are configured: their certificates chained; the others are warned about
    warned = {org for org in ("wx-org1", "wx-org2", "wx-org3", "wx-org4") if any(org in w for w in out["warnings"])}
    involved = {proposer.split(".")[0]} | {_ORG_OF[s] for s in signers}
    assert warned == involved - {"wx-org1", "wx-org2"} and warned
    assert all("not chained to a trust root" in w for w in out["warnings"])
    lines = [e for e in logs if e["event"] == "chainmaker.ca_not_configured"]
    assert lines and all(e["block"] == number and e["log_level"] == "warning" for e in lines), logs
    assert out["unchecked"] == (["dag_hash", "tx_root", "rw_set_root"] if number == 3 else ["rw_set_root"])


#: The org of each node's signing certificate, as the recorded votes show it.
_ORG_OF = {
    "QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX": "wx-org2",
    "QmUjC29VEBtRcD2jQv8kZLmJnqNeEjwjSJKe17zKuysUsJ": "wx-org4",
    "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7": "wx-org1",
    "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8": "wx-org3",
}


def test_without_trust_roots_every_org_is_warned_about(vector_blocks: dict[int, dict[str, Any]],
                                                      nodes: tuple[str, ...]) -> None:
    out = _judge(vector_blocks[2], nodes, None)
    assert out["valid"] is True and len(out["warnings"]) == 4  # the proposer and three votes
    assert any("wx-org1.chainmaker.org" in w for w in out["warnings"])


def test_a_block_info_wrapper_and_a_vector_file_read_alike(cm_vectors: Path, nodes: tuple[str, ...]) -> None:
    document = json.loads((cm_vectors / "cm232_block30.json").read_text())
    assert _judge({"block": document["block"]}, nodes, None)["valid"] is True
