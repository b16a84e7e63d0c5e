"""``relayer header verify --kind fisco-bcos`` through the real CLI (a subprocess): the header of
block 60 as the node returns it verifies with its four sealers; an altered signature or two of four
signatures removed make it invalid with a reason (exit 1); bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fisco_vectors import LEGACY_FILE, header_of, load


def verify(tmp_path: Path, header: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    path = tmp_path / "H.json"
    path.write_text(json.dumps(header))
    done = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "fisco-bcos",
                           "--header", str(path), *extra], capture_output=True, text=True, timeout=120)
    verdict = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, verdict, done.stderr


@pytest.fixture
def block60(fisco_dir: Path) -> dict[str, Any]:
    return header_of(load(fisco_dir, "bcos3_secp_block60_proofs.json"))


def sealers(header: dict[str, Any]) -> str:
    return ",".join(header["sealerList"])


def test_block60_is_valid_with_four_signers(tmp_path: Path, block60: dict[str, Any]) -> None:
    status, verdict, _ = verify(tmp_path, block60, "--validators", sealers(block60))
    assert status == 0
    assert verdict is not None and verdict["valid"] is True and "reason" not in verdict
    assert verdict["kind"] == "fisco-bcos" and verdict["number"] == 60 and verdict["hash"] == block60["hash"]
    assert sorted(verdict["signers"]) == sorted(block60["sealerList"]) and len(verdict["signers"]) == 4
    assert verdict["quorum"] == 3 and verdict["crypto"] == "secp256k1"


def test_a_whole_rpc_response_is_read_too(tmp_path: Path, block60: dict[str, Any]) -> None:
    response = {"jsonrpc": "2.0", "id": 1, "result": block60}
    status, verdict, _ = verify(tmp_path, response, "--validators", sealers(block60))
    assert status == 0 and verdict is not None and verdict["valid"] is True


def test_one_altered_signature_is_invalid(tmp_path: Path, block60: dict[str, Any]) -> None:
    signature = bytearray.fromhex(block60["signatureList"][2]["signature"][2:])
    signature[10] ^= 0x01
    block60["signatureList"][2]["signature"] = "0x" + signature.hex()
    status, verdict, _ = verify(tmp_path, block60, "--validators", sealers(block60))
    assert status == 1
    assert verdict is not None and verdict["valid"] is False
    assert verdict["reason"].startswith("signatureList[2] (sealer 2): invalid signature")
    assert len(verdict["signers"]) == 3


def test_two_of_four_signatures_removed_is_below_quorum(tmp_path: Path, block60: dict[str, Any]) -> None:
    block60["signatureList"] = block60["signatureList"][:2]
    status, verdict, _ = verify(tmp_path, block60, "--validators", sealers(block60))
    assert status == 1
    assert verdict is not None and verdict["valid"] is False
    assert verdict["reason"] == "signed weight 2 is below the quorum 3 of total weight 4"
    assert len(verdict["signers"]) == 2


def test_another_sealer_set_is_invalid(tmp_path: Path, block60: dict[str, Any]) -> None:
    others = block60["sealerList"][:3] + ["0x" + "11" * 64]
    status, verdict, _ = verify(tmp_path, block60, "--validators", ",".join(others))
    assert status == 1 and verdict is not None and verdict["valid"] is False
    assert "not the trusted sealer set" in verdict["reason"]


def test_without_validators_the_blocks_own_list_is_judged(tmp_path: Path, block60: dict[str, Any]) -> None:
    status, verdict, _ = verify(tmp_path, block60)
    assert status == 0 and verdict is not None and verdict["valid"] is True


def test_legacy_rc_header_is_invalid_with_its_reason(tmp_path: Path, fisco_dir: Path) -> None:
    header = load(fisco_dir, LEGACY_FILE)["header"]
    status, verdict, _ = verify(tmp_path, header, "--validators", sealers(header))
    assert status == 1 and verdict is not None and verdict["valid"] is False
    assert "3.0.0-rc legacy rule" in verdict["reason"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda h: h.pop("sealerList"), "sealerList must be a list"),
    (lambda h: h.__setitem__("txsRoot", "0x12"), "txsRoot must be 32 bytes"),
])
def test_not_a_header_exits_2(tmp_path: Path, block60: dict[str, Any], change: Any, message: str) -> None:
    change(block60)
    status, verdict, stderr = verify(tmp_path, block60)
    assert status == 2 and verdict is None
    assert message in stderr and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_validator_exits_2(tmp_path: Path, block60: dict[str, Any]) -> None:
    status, verdict, stderr = verify(tmp_path, block60, "--validators", "0x1234")
    assert status == 2 and verdict is None
    assert "--validators: '0x1234' is not a node id of 64 bytes" in stderr


def test_a_generated_sm_chain_header_through_the_cli(tmp_path: Path) -> None:
    from relayer_fisco_bcos.hashing import Crypto
    from relayer_fisco_bcos.testing import Sealer, as_rpc, child, genesis

    nodes = [Sealer.generate(Crypto.SM) for _ in range(4)]
    block = as_rpc(child(genesis(nodes, crypto=Crypto.SM), nodes, nodes[:3], crypto=Crypto.SM))
    ids = ",".join("0x" + n.node_id.hex() for n in nodes)
    status, verdict, _ = verify(tmp_path, block, "--validators", ids)
    assert status == 0 and verdict is not None and verdict["valid"] is True
    assert verdict["crypto"] == "sm" and len(verdict["signers"]) == 3
    signature = bytearray.fromhex(block["signatureList"][0]["signature"][2:])
    signature[5] ^= 0x01
    block["signatureList"][0]["signature"] = "0x" + signature.hex()
    status, verdict, _ = verify(tmp_path, block, "--validators", ids)
    assert status == 1 and verdict is not None and verdict["valid"] is False
    assert verdict["reason"] == ("signatureList[0] (sealer 0): invalid signature: the SM2 signature does not "
                                 "verify against the sealer's node id")


def test_a_block_whose_transactions_do_not_rebuild_txs_root(tmp_path: Path, fisco_dir: Path) -> None:
    block = header_of(load(fisco_dir, "bcos3_secp_block9_51tx.json"))
    status, verdict, _ = verify(tmp_path, block, "--validators", sealers(block))
    assert status == 0 and verdict is not None and verdict["valid"] is True and len(verdict["signers"]) == 2
    block["transactions"] = block["transactions"][::-1]
    status, verdict, _ = verify(tmp_path, block, "--validators", sealers(block))
    assert status == 1 and verdict is not None and verdict["reason"] == "its 51 transactions do not rebuild txsRoot"
