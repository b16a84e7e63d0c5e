"""Header hashes recomputed from fields: execution-apis, ethereumjs, helios, ethereum/tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from vector_io import execution_apis_dirs, io_result, raw_headers

from light_clients.evm.header import (
    LAYOUTS,
    Header,
    decode_header,
    header_from_fixture,
    header_from_rpc,
)
from relayer.errors import RpcAnswerError, VerificationError

ETHEREUMJS = Path("ethereumjs/packages/block/test/testdata")
HELIOS = Path("helios")
BLOCKCHAIN_TESTS = Path("ethereum-tests/BlockchainTests")

# Field count of each block of the current execution-apis chain (README fork table).
CURRENT_SCHEDULE = [(0, 26, 15), (27, 38, 16), (39, 41, 17), (42, 44, 20), (45, 54, 21)]


def _hash(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _json(vectors: Path, path: Path | str) -> Any:
    return json.loads((vectors / path).read_text())


def _rpc_blocks(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every non-null block answer under eth_getBlockByNumber / eth_getBlockByHash."""
    blocks = []
    for method in ("eth_getBlockByNumber", "eth_getBlockByHash"):
        for path in sorted((folder / method).glob("*.io")):
            if (result := io_result(path)) is not None:
                blocks.append((f"{folder.parent.name}/{method}/{path.name}", result))
    return blocks


def _assert_rpc_hash(name: str, block: dict[str, Any]) -> Header:
    header = header_from_rpc(block)
    assert "0x" + header.hash.hex() == block["hash"], name
    assert decode_header(header.rlp) == header, name
    return header


# --------------------------------------------------------------------------- execution-apis


def test_execution_apis_block_fixtures(vectors: Path) -> None:
    checked = 0
    for folder in execution_apis_dirs(vectors):
        for name, block in _rpc_blocks(folder):
            _assert_rpc_hash(name, block)
            checked += 1
    assert checked >= 25


def test_fixture_forks_follow_the_schedule(vectors: Path) -> None:
    forks = {
        "get-genesis.io": "frontier",
        "get-block-london-fork.io": "london",
        "get-block-merge-fork.io": "london",
        "get-block-shanghai-fork.io": "shanghai",
        "get-block-cancun-fork.io": "cancun",
        "get-block-prague-fork.io": "prague",
        "get-latest.io": "prague",
    }
    folder = vectors / "execution-apis/tests/eth_getBlockByNumber"
    for file, fork in forks.items():
        assert header_from_rpc(io_result(folder / file)).fork == fork, file


@pytest.mark.parametrize("snapshot", [0, 1, 2], ids=["current", "history-9772380", "history-d08382a"])
def test_chain_rlp_headers_link_and_match_fixtures(vectors: Path, snapshot: int) -> None:
    folder = execution_apis_dirs(vectors)[snapshot]
    known = {int(b["number"], 16): _hash(b["hash"]) for _, b in _rpc_blocks(folder)}
    parent = known[0]  # genesis, from get-genesis.io
    for number, encoded in enumerate(raw_headers(folder / "chain.rlp"), start=1):
        header = decode_header(encoded)
        assert header.rlp == encoded and header.number == number
        assert header.parent_hash == parent, f"block {number} does not link"
        assert known.get(number, header.hash) == header.hash, f"block {number}"
        parent = header.hash
    assert number == {0: 54, 1: 45, 2: 20}[snapshot]
    assert len(known) >= 4


def test_current_chain_layouts_follow_forkenv(vectors: Path) -> None:
    folder = execution_apis_dirs(vectors)[0]
    for number, encoded in enumerate(raw_headers(folder / "chain.rlp"), start=1):
        expected = next(n for first, last, n in CURRENT_SCHEDULE if first <= number <= last)
        assert len(decode_header(encoded).layout) == expected, f"block {number}"


def test_head_forkchoice_and_raw_header_agree_with_chain_rlp(vectors: Path) -> None:
    folder = execution_apis_dirs(vectors)[0]
    headers = [decode_header(h) for h in raw_headers(folder / "chain.rlp")]
    head = json.loads((folder / "headfcu.json").read_text())["params"][0]["headBlockHash"]
    assert headers[-1].hash == _hash(head)
    raw = _hash(io_result(folder / "debug_getRawHeader/get-block-n.io"))
    assert raw == headers[2].rlp  # block 3


def test_nonempty_requests_hash(vectors: Path) -> None:
    path = execution_apis_dirs(vectors)[2] / "eth_getBlockByNumber/get-block-eip7685-requests.io"
    header = _assert_rpc_hash(path.name, io_result(path))
    assert header.requests_hash is not None and header.requests_hash.hex().startswith("57cac3e5")


# --------------------------------------------------------------------------- ethereumjs, helios


def test_ethereumjs_rpc_blocks(vectors: Path) -> None:
    files = [p for p in sorted((vectors / ETHEREUMJS).glob("*.json")) if not p.name.startswith("blocks_")]
    assert len(files) == 13
    forks = {}
    for path in files:
        forks[path.name] = _assert_rpc_hash(path.name, json.loads(path.read_text())).fork
    assert forks["infura-goerli-block-10536893.json"] == "cancun"
    assert forks["testdata-from-rpc-with-withdrawals.json"] == "shanghai"
    assert forks["alchemy14151203.json"] == "london"


def test_decimal_difficulty_is_parsed_as_decimal(vectors: Path) -> None:
    decimal = _json(vectors, ETHEREUMJS / "testdata-from-rpc-difficulty-as-integer.json")
    hexed = _json(vectors, ETHEREUMJS / "testdata-from-rpc.json")
    assert header_from_rpc(decimal) == header_from_rpc(hexed)
    assert header_from_rpc(decimal).difficulty == int(decimal["difficulty"])


@pytest.mark.parametrize(("file", "first_hash"),
                         [("blocks_mainnet.json", "88e96d45"), ("blocks_goerli.json", "8f5bab21")])
def test_ethereumjs_block_lists_link(vectors: Path, file: str, first_hash: str) -> None:
    headers = [header_from_fixture(block["header"]) for block in _json(vectors, ETHEREUMJS / file)]
    assert headers[0].number == 1 and headers[0].hash.hex().startswith(first_hash)
    for parent, child in zip(headers, headers[1:]):
        assert child.parent_hash == parent.hash


def test_helios_mainnet_headers(vectors: Path) -> None:
    cancun = _assert_rpc_hash("block.json", _json(vectors, HELIOS / "tests/testdata/rpc/block.json"))
    assert (cancun.number, cancun.fork) == (21_925_176, "cancun")
    bpo2 = _assert_rpc_hash("bpo2", _json(vectors, HELIOS / "derived/mainnet-26050794-bpo2-header.json"))
    assert (bpo2.number, bpo2.fork) == (26_050_794, "prague")


# --------------------------------------------------------------------------- ethereum/tests


def _blockchain_tests(vectors: Path) -> list[tuple[str, dict[str, Any]]]:
    tests = []
    for path in sorted((vectors / BLOCKCHAIN_TESTS).rglob("*.json")):
        tests += list(json.loads(path.read_text()).items())
    return tests


def _block_headers(test: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(blockHeader JSON, block rlp) of each block, incl. the invalid ones' rlp_decoded."""
    pairs = [(test["genesisBlockHeader"], test["genesisRLP"])]
    for block in test["blocks"]:
        header = block.get("blockHeader") or block["rlp_decoded"]["blockHeader"]
        pairs.append((header, block["rlp"]))
    return pairs


def test_blockchain_tests_headers(vectors: Path) -> None:
    tests = _blockchain_tests(vectors)
    assert len(tests) == 3
    checked = 0
    for name, test in tests:
        parent = None
        for fixture, block_rlp in _block_headers(test):
            header = header_from_fixture(fixture)
            assert header.hash == _hash(fixture["hash"]), name
            assert decode_header(rlp.encode(rlp.decode(_hash(block_rlp))[0])) == header, name
            assert parent is None or header.parent_hash == parent, name
            parent, checked = header.hash, checked + 1
    assert checked == 8


# --------------------------------------------------------------------------- tampering and malformed input


@pytest.fixture(scope="module")
def prague_block(vectors: Path) -> dict[str, Any]:
    return io_result(vectors / "execution-apis/tests/eth_getBlockByNumber/get-block-prague-fork.io")  # type: ignore[no-any-return]


def _altered(value: int | bytes) -> int | bytes:
    return value + 1 if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:] if value else b"\x01"


def test_any_altered_field_changes_the_hash(prague_block: dict[str, Any]) -> None:
    header = header_from_rpc(prague_block)
    assert len(header.layout) == 21
    hashes = {header.hash}
    for name, _ in header.layout:
        hashes.add(header.replace(**{name: _altered(getattr(header, name))}).hash)
    assert len(hashes) == 22


def test_rpc_hash_is_ignored_not_trusted(prague_block: dict[str, Any]) -> None:
    lying = prague_block | {"hash": "0x" + "11" * 32}
    assert "0x" + header_from_rpc(lying).hash.hex() == prague_block["hash"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stateRoot": "0x1234"}, "stateRoot"),
        ({"gasUsed": "0xzz"}, "gasUsed"),
        ({"gasUsed": "-1"}, "gasUsed"),
        ({"extraData": "abcd"}, "extraData"),
        ({"nonce": "0x00"}, "nonce"),
        ({"miner": None}, "miner"),
        ({"withdrawalsRoot": None}, "withdrawalsRoot"),
    ],
)
def test_malformed_rpc_headers_name_field_and_block(prague_block: dict[str, Any], change: dict, field: str) -> None:
    with pytest.raises(RpcAnswerError) as caught:
        header_from_rpc(prague_block | change)
    message = str(caught.value)
    assert "block=45" in message
    assert field in message


def test_truncated_optional_fields_pick_the_older_layout(prague_block: dict[str, Any]) -> None:
    cancun = {k: v for k, v in prague_block.items() if k != "requestsHash"}
    assert header_from_rpc(cancun).fork == "cancun"
    with pytest.raises(RpcAnswerError):
        header_from_rpc({k: v for k, v in cancun.items() if k != "excessBlobGas"})  # 18 fields: no fork


def test_decode_rejects_wrong_field_counts_and_non_canonical_ints(prague_block: dict[str, Any]) -> None:
    items = rlp.decode(header_from_rpc(prague_block).rlp)
    for count in (14, 18, 22):
        with pytest.raises(VerificationError):
            decode_header(rlp.encode((items * 2)[:count]))
    with pytest.raises(VerificationError):
        decode_header(rlp.encode(items[:8] + [b"\x00" + items[8]] + items[9:]))  # leading zero in number
    with pytest.raises(VerificationError):
        decode_header(header_from_rpc(prague_block).rlp + b"\x00")  # trailing bytes


def test_header_construction_validates_fields() -> None:
    with pytest.raises(VerificationError):
        Header(*([b"\x00" * 32] * 7), 0, 1, 0, 0, 0, b"", b"\x00" * 32, b"\x00" * 8)  # bloom is 32 bytes
    assert sorted(LAYOUTS) == [15, 16, 17, 20, 21]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_decode_header_raises_only_verification_errors(data: bytes) -> None:
    try:
        decode_header(data)
    except VerificationError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=260), st.lists(st.binary(max_size=4), max_size=2)),
                min_size=14, max_size=22))
def test_decode_header_on_random_lists_raises_only_verification_errors(items: list[Any]) -> None:
    try:
        header = decode_header(rlp.encode(items))
    except VerificationError:
        return
    assert header.rlp == rlp.encode(items)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_decode_header_on_mutated_real_headers(prague_block: dict[str, Any], data: st.DataObject) -> None:
    encoded = bytearray(header_from_rpc(prague_block).rlp)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        encoded[at] = data.draw(st.integers(0, 255))
    try:
        header = decode_header(bytes(encoded))
    except VerificationError:
        return
    assert header.rlp == bytes(encoded)
