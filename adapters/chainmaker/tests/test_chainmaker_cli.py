"""``relayer header verify --kind chainmaker`` through the real CLI in a subprocess (exit 0 / 1 / 2)."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relayer_chainmaker import messages
from relayer_chainmaker.blockinfo import TBFT_KEY
from relayer_chainmaker.proto import decode, encode

REPO = Path(__file__).resolve().parents[3]


def _verify(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "chainmaker", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert done.stdout == "" and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        return 2, None, done.stderr
    assert done.stdout.count("\n") == 1, "one JSON object on one line"
    return done.returncode, json.loads(done.stdout), done.stderr


def _write(path: Path, block: dict[str, Any]) -> Path:
    path.write_text(json.dumps(block))
    return path


def _with_vote_set(block: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(block)
    extra = out["additional_data"]["extra_data"]
    vote_set = decode(messages.VOTE_SET, base64.b64decode(extra[TBFT_KEY]), "qc")
    change(vote_set)
    extra[TBFT_KEY] = base64.b64encode(encode(messages.VOTE_SET, vote_set)).decode()
    return out


@pytest.fixture
def block30(tmp_path: Path, vector_blocks: dict[int, dict[str, Any]]) -> Path:
    return _write(tmp_path / "B.json", vector_blocks[30])


def test_block_30_is_valid_with_its_signers(block30: Path, nodes: tuple[str, ...], roots_path: Path) -> None:
    code, out, err = _verify("--header", str(block30), "--validators", ",".join(nodes),
                             "--trust-roots", str(roots_path))
    assert code == 0 and out is not None and out["valid"] is True and "reason" not in out
    assert out["kind"] == "chainmaker" and out["number"] == 30 and out["quorum"] == 3
    assert out["signers"] == ["QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX",
                              "QmUjC29VEBtRcD2jQv8kZLmJnqNeEjwjSJKe17zKuysUsJ",
                              "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8"]
    assert out["hash"] == base64.b64decode("Ag42/wT1z9OBZ956lzM+GMMsz6eWnY7Xe1Td5/SPCl4=").hex()
    # wx-org3 (proposer, one vote) and wx-org4 (one vote) have no CA in the file: said in the verdict and the log
    assert len(out["warnings"]) == 3 and all("wx-org3" in w or "wx-org4" in w for w in out["warnings"])
    assert "chainmaker.ca_not_configured" in err


def test_without_trust_roots_every_certificate_is_warned_about(block30: Path, nodes: tuple[str, ...]) -> None:
    code, out, _ = _verify("--header", str(block30), "--validators", ",".join(reversed(nodes)))
    assert code == 0 and out is not None and out["valid"] is True and len(out["warnings"]) == 4


def test_one_vote_signature_altered_is_invalid(tmp_path: Path, vector_blocks: dict[int, dict[str, Any]],
                                               nodes: tuple[str, ...], roots_path: Path) -> None:
    def alter(vote_set: dict[str, Any]) -> None:
        endorsement = vote_set["votes"][1]["value"]["endorsement"]
        signature = endorsement["signature"]
        endorsement["signature"] = signature[:20] + bytes([signature[20] ^ 0x01]) + signature[21:]
    path = _write(tmp_path / "B.json", _with_vote_set(vector_blocks[30], alter))
    code, out, _ = _verify("--header", str(path), "--validators", ",".join(nodes), "--trust-roots", str(roots_path))
    assert code == 1 and out is not None and out["valid"] is False
    assert out["reason"] == "vote of QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX: the signature does not verify"


def test_two_votes_removed_is_below_quorum(tmp_path: Path, vector_blocks: dict[int, dict[str, Any]],
                                          nodes: tuple[str, ...]) -> None:
    def remove(vote_set: dict[str, Any]) -> None:
        gone = {entry["key"] for entry in vote_set["votes"][:2]}
        vote_set["votes"] = vote_set["votes"][2:]
        vote_set["sum"] = 1
        group = vote_set["votes_by_block"][0]["value"]
        group["votes"] = [entry for entry in group["votes"] if entry["key"] not in gone]
        group["sum"] = 1
    path = _write(tmp_path / "B.json", _with_vote_set(vector_blocks[30], remove))
    code, out, _ = _verify("--header", str(path), "--validators", ",".join(nodes))
    assert code == 1 and out is not None and out["valid"] is False and out["signers"] == []
    assert out["reason"] == "1 valid PRECOMMIT votes for the block, quorum is 3 of 4"


def test_an_altered_header_field_is_invalid(tmp_path: Path, vector_blocks: dict[int, dict[str, Any]],
                                            nodes: tuple[str, ...]) -> None:
    block = copy.deepcopy(vector_blocks[30])
    block["header"]["block_timestamp"] += 1
    code, out, _ = _verify("--header", str(_write(tmp_path / "B.json", block)), "--validators", ",".join(nodes))
    assert code == 1 and out is not None and out["reason"].startswith("block_hash is not the hash of the header")


@pytest.mark.parametrize(("args", "words"), [
    ((), "a ChainMaker block does not list its consensus nodes: give them with --validators"),
    (("--validators", "0x1234"), "--validators: '0x1234' is not a base58 peer id"),
    (("--validators", "QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX", "--trust-roots", "/nonexistent/roots.pem"),
     "cannot read /nonexistent/roots.pem"),
])
def test_bad_input_exits_2_with_one_line(block30: Path, args: tuple[str, ...], words: str) -> None:
    code, _, err = _verify("--header", str(block30), *args)
    assert code == 2 and words in err


def test_trust_roots_that_are_not_certificates_exit_2(block30: Path, tmp_path: Path, nodes: tuple[str, ...]) -> None:
    roots = tmp_path / "roots.json"
    roots.write_text(json.dumps({"trust_roots": [{"org_ca_pem": "not a certificate"}]}))
    code, _, err = _verify("--header", str(block30), "--validators", ",".join(nodes), "--trust-roots", str(roots))
    assert code == 2 and "--trust-roots: trust roots: certificate 0 is not a PEM X.509 certificate" in err


def test_a_file_that_is_not_a_chainmaker_block_exits_2(tmp_path: Path, nodes: tuple[str, ...]) -> None:
    path = _write(tmp_path / "B.json", {"header": {"block_height": "thirty"}})
    code, _, err = _verify("--header", str(path), "--validators", ",".join(nodes))
    assert code == 2 and "block.header.block_height is not an integer" in err


def test_the_hash_type_named_by_the_trust_roots_is_used(block30: Path, tmp_path: Path, roots_path: Path,
                                                       nodes: tuple[str, ...]) -> None:
    """The recorded file names SHA256 (the chain's); naming SM3 instead makes the block's hash wrong."""
    roots = json.loads(roots_path.read_text())
    code, out, _ = _verify("--header", str(block30), "--validators", ",".join(nodes), "--trust-roots", str(roots_path))
    assert code == 0 and out is not None and out["hash_type"] == "SHA256"
    for entry in roots["trust_roots"]:
        entry["hash_type"] = "SM3"
    sm3 = tmp_path / "sm3.json"
    sm3.write_text(json.dumps(roots))
    code, out, _ = _verify("--header", str(block30), "--validators", ",".join(nodes), "--trust-roots", str(sm3))
    assert code == 1 and out is not None and out["hash_type"] == "SM3"
    assert out["reason"].startswith("block_hash is not the hash of the header")
    roots["trust_roots"][0]["hash_type"] = "SHA256"
    sm3.write_text(json.dumps(roots))
    code, _, err = _verify("--header", str(block30), "--validators", ",".join(nodes), "--trust-roots", str(sm3))
    assert code == 2 and "the trust roots name two hash types (SHA256, SM3)" in err
