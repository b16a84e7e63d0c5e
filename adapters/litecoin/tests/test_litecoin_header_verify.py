"""``relayer header verify --kind litecoin`` on headers from a real litecoind regtest node (a file holding
what ``getblockheader``/``getblock`` answer, or fetched with ``--adapter litecoin --rpc``) and on Litecoin's
main-net genesis header: the recomputed hash, the scrypt proof of work, exit 0 / 1 / 2.

Proof of work is checked here with the standard library's scrypt, not the plugin's code. On regtest about
half of all headers meet the target (nBits 0x207fffff), so the altered headers below are chosen by that
independent check: a bit whose flip fails the proof of work, and one whose flip still meets it (then only
the claimed hash gives it away)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from relayer_litecoin.network import MAIN
from relayer_litecoin.testing import Devnet

REPO = Path(__file__).resolve().parents[3]
REGTEST_TARGET = 0x7FFFFF << 8 * (0x20 - 3)
# Litecoin's main-net genesis block (Litecoin Core chainparams.cpp), as `getblockheader HASH true` prints it
GENESIS: dict[str, Any] = {"hash": MAIN.genesis, "height": 0, "version": 1, "time": 1317972665, "bits": "1e0ffff0",
           "nonce": 2084524493, "merkleroot": "97ddfbbae6be97fd6cdf3e7ca13232a3afff2353e29badfab7f73011edd4ced9"}


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    net = Devnet()
    yield net
    net.stop()


def verify(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    """``relayer header verify --kind litecoin ARGS``: exit code, the verdict (None when nothing printed), stderr."""
    done = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "litecoin", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.stdout.count("\n") <= 1, "at most one line of JSON"
    return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr


def written(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def meets_target(raw: bytes, target: int) -> bool:
    return int.from_bytes(hashlib.scrypt(raw, salt=raw, n=1024, r=1, p=1, dklen=32), "little") <= target


def flipped(raw: bytes, byte: int, bit: int) -> bytes:
    out = bytearray(raw)
    out[byte] ^= 1 << bit
    return bytes(out)


def nonce_flips(raw: bytes) -> tuple[int, int]:
    """(a nonce bit whose flip fails regtest's target, one whose flip still meets it)."""
    failing = [b for b in range(32) if not meets_target(flipped(raw, 76 + b // 8, b % 8), REGTEST_TARGET)]
    meeting = [b for b in range(32) if b not in failing]
    assert failing and meeting, "32 flips all on one side of the target: 2**-31 odds"
    return failing[0], meeting[0]


def test_node_headers_are_valid_with_the_recomputed_hash(devnet: Devnet, tmp_path: Path) -> None:
    block_hash = devnet.call("getblockhash", 50)
    for name, answer in (("header.json", devnet.call("getblockheader", block_hash, True)),
                         ("block.json", devnet.call("getblock", block_hash)),
                         ("rpc-response.json", {"result": devnet.call("getblockheader", block_hash, True),
                                                "error": None, "id": 1}),
                         ("hex.json", {"hex": devnet.call("getblockheader", block_hash, False)})):
        code, out, err = verify("--header", written(tmp_path, name, answer))
        assert code == 0, (name, out, err)
        assert out is not None and out["valid"] is True and "reason" not in out
        assert out["hash"] == block_hash and out["networks"] == ["regtest"] and out["bits"] == "0x207fffff"
        assert out["number"] == (None if name == "hex.json" else 50)


def test_rpc_fetches_the_header_by_height_and_latest(devnet: Devnet) -> None:
    code, out, err = verify("--adapter", "litecoin", "--rpc", devnet.node.url, "--block", "50")
    assert code == 0 and out is not None, err
    assert out["valid"] is True and out["number"] == 50 and out["hash"] == devnet.call("getblockhash", 50)
    code, out, err = verify("--adapter", "litecoin", "--rpc", devnet.node.url, "--block", "latest")
    assert code == 0 and out is not None, err
    assert out["hash"] == devnet.call("getbestblockhash") and out["number"] == devnet.call("getblockcount")
    code, out, err = verify("--rpc", devnet.node.url, "--block", "50")  # the adapter named like --kind
    assert code == 0 and out is not None and out["number"] == 50, err


def test_a_flipped_nonce_bit_is_invalid_with_the_reason(devnet: Devnet, tmp_path: Path) -> None:
    block_hash = devnet.call("getblockhash", 60)
    raw = bytes.fromhex(devnet.call("getblockheader", block_hash, False))
    answer = devnet.call("getblockheader", block_hash, True)
    failing, meeting = nonce_flips(raw)
    code, out, _ = verify("--header", written(tmp_path, "a.json", answer | {"nonce": answer["nonce"] ^ 1 << failing}))
    assert code == 1 and out is not None and out["valid"] is False
    assert out["hash"] != block_hash and "is above the target of nBits 0x207fffff" in out["reason"]
    assert f"not to the claimed {block_hash}" in out["reason"]
    # meets the target after the flip: the hash the node gave it is what the header no longer has
    code, out, _ = verify("--header", written(tmp_path, "b.json", answer | {"nonce": answer["nonce"] ^ 1 << meeting}))
    assert code == 1 and out is not None and out["valid"] is False
    assert out["reason"] == f"the header hashes to {out['hash']}, not to the claimed {block_hash}"


def test_a_flipped_merkle_root_bit_is_invalid_with_the_reason(devnet: Devnet, tmp_path: Path) -> None:
    raw = bytes.fromhex(devnet.call("getblockheader", devnet.call("getblockhash", 70), False))
    bit = next(b for b in range(256) if not meets_target(flipped(raw, 36 + b // 8, b % 8), REGTEST_TARGET))
    altered = flipped(raw, 36 + bit // 8, bit % 8)
    code, out, _ = verify("--header", written(tmp_path, "m.json", {"hex": altered.hex()}))
    assert code == 1 and out is not None and out["valid"] is False
    assert out["hash"] == hashlib.sha256(hashlib.sha256(altered).digest()).digest()[::-1].hex()
    assert out["reason"].startswith("scrypt hash ") and "is above the target of nBits 0x207fffff" in out["reason"]


def test_hex_and_fields_that_disagree_are_invalid(devnet: Devnet, tmp_path: Path) -> None:
    block_hash = devnet.call("getblockhash", 40)
    answer = devnet.call("getblockheader", block_hash, True)
    raw = bytes.fromhex(devnet.call("getblockheader", block_hash, False))
    altered = flipped(raw, 36, 0)  # the merkle root's first byte on the wire
    code, out, _ = verify("--header", written(tmp_path, "x.json", answer | {"hex": altered.hex()}))
    assert code == 1 and out is not None and "merkle_root differ" in out["reason"]


@pytest.mark.parametrize(("document", "words"), [
    ({"number": "0x1", "hash": "0x" + "ab" * 32, "parentHash": "0x" + "00" * 32}, "it has no version, merkleroot"),
    ({"hex": "00" * 79}, "hex is not a Litecoin header's 80 bytes"),
    ({"version": 1, "merkleroot": "zz", "time": 1, "bits": "207fffff", "nonce": 1}, "merkleroot is not a block hash"),
    (["not", "an", "object"], "holds no block object"),
])
def test_a_file_that_is_no_header_exits_2_with_one_line(tmp_path: Path, document: Any, words: str) -> None:
    code, out, err = verify("--header", written(tmp_path, "no.json", document))
    assert code == 2 and out is None
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_validators_are_a_usage_error(devnet: Devnet, tmp_path: Path) -> None:
    answer = devnet.call("getblockheader", devnet.call("getblockhash", 10), True)
    code, out, err = verify("--header", written(tmp_path, "h.json", answer), "--validators", "0x" + "11" * 20)
    assert code == 2 and out is None and err.count("\n") == 1
    assert "Litecoin is proof of work, a header has no validators" in err


def test_rpc_usage_errors_exit_2(devnet: Devnet) -> None:
    code, out, err = verify("--adapter", "litecoin", "--rpc", devnet.node.url, "--block", "finalized")
    assert code == 2 and out is None and "Litecoin has no such block" in err
    code, out, err = verify("--adapter", "litecoin", "--rpc", devnet.node.url, "--block", "100000")
    assert code == 2 and out is None and "knows no block 100000" in err
    password = urlsplit(devnet.node.url).password
    assert password and password not in err and "@" not in err, "the node's credentials were shown"


def test_main_net_genesis_header(tmp_path: Path) -> None:
    """Litecoin's main-net genesis header (its fields are Litecoin Core's constants): valid on every network,
    its hash the one the light client's network table holds; one nonce bit off and the scrypt hash misses
    main-net's target."""
    code, out, err = verify("--header", written(tmp_path, "genesis.json", GENESIS))
    assert code == 0 and out is not None, err
    assert out["hash"] == MAIN.genesis and out["networks"] == ["main", "test", "regtest"] and out["number"] == 0
    code, out, _ = verify("--header", written(tmp_path, "nonce.json", GENESIS | {"nonce": GENESIS["nonce"] ^ 1}))
    assert code == 1 and out is not None and "is above the target of nBits 0x1e0ffff0" in out["reason"]


def test_main_net_headers_of_the_shared_vectors() -> None:
    """Every ``litecoin/*.json`` of ``$RELAYER_VECTORS`` holding a main-net header object (getblockheader
    HASH true, with its ``hash``) is valid with that hash; skipped while the vectors hold none."""
    named = os.environ.get("RELAYER_VECTORS")
    root = Path(named) if named else REPO.parent / "shared" / "vectors"
    files = sorted((root / "litecoin").glob("*.json")) if (root / "litecoin").is_dir() else []
    if not files:
        pytest.skip(f"no Litecoin main-net header in the shared vectors ({root / 'litecoin'} holds no *.json; "
                    "the vectors README lists none)")
    for path in files:
        code, out, err = verify("--header", str(path))
        claimed = json.loads(path.read_text()).get("hash")
        assert code == 0 and out is not None and out["hash"] == claimed and "main" in out["networks"], (path, err)
