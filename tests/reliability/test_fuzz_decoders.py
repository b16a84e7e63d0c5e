"""Property tests: every decoder of untrusted input raises only its documented error type.

The decoders are fed random bytes, random RLP structures, random JSON-ish values and
mutations of valid encodings (generated here, so valid inputs also round-trip):

    decode_header (RLP)               VerificationError
    header_from_rpc / _fixture        RpcAnswerError
    encode_receipt / receipts_root    RpcAnswerError
    verify_receipt_proof              ProofError (and a mutated valid proof never verifies)
    BFT extraData (both codecs)       VerificationError
    parse_config / check_data         ConfigError (check_data raises nothing)
    Contract.decode_revert            never raises

Anything else escaping (KeyError, RecursionError, ...) would crash a supervised service
instead of halting it with a clear message.
"""

from __future__ import annotations

import copy
import json
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rlp.sedes import big_endian_int

from adapters.evm.abi import ERROR_STRING_SELECTOR, PANIC_SELECTOR, Contract, decode_revert
from adapters.evm.proof import ReceiptProof, build_receipt_proof, verify_receipt_proof, walk_proof
from light_clients.bft import codec as bft
from light_clients.evm.header import (
    FIXTURE_NAMES,
    LAYOUTS,
    RPC_NAMES,
    Header,
    decode_header,
    header_from_fixture,
    header_from_rpc,
)
from light_clients.evm.receipts import encode_receipt, receipts_root
from relayer.config import Config, check_data, parse_config
from relayer.errors import ConfigError, ProofError, RpcAnswerError, VerificationError

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------- value strategies

HEX_SIZES = st.sampled_from([0, 1, 7, 8, 19, 20, 21, 31, 32, 33, 65, 255, 256, 257])


def hex_data(sizes: st.SearchStrategy[int] = HEX_SIZES) -> st.SearchStrategy[str]:
    return sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(lambda b: "0x" + b.hex())


# strings an RPC might plausibly (or maliciously) answer
ODD_STRINGS = st.one_of(
    hex_data(),
    st.integers(min_value=-(2**300), max_value=2**300).map(hex),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0x", "0X", "0x0", "0x00", "0xg", "0x-1", "-0x1", " 0x1", "0x1 ", "1e3", "١٢", "0x٣",
                     "0b101", "NaN", "Infinity", "0x" + "f" * 5000, "9" * 5000, "\x00", "0x\x00"]),
    st.text(max_size=12),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**260), max_value=2**260),
                         st.floats(allow_nan=True, allow_infinity=True), ODD_STRINGS)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=8)

RLP_ITEMS = st.recursive(st.binary(max_size=70), lambda inner: st.lists(inner, max_size=18), max_leaves=40)


def nested_rlp(depth: int) -> bytes:
    """``depth`` lists nested in each other: a few KiB of perfectly valid RLP."""
    encoded = b"\xc0"
    for _ in range(depth):
        encoded = rlp.codec.length_prefix(len(encoded), 0xC0) + encoded
    return encoded


def mutate(data: bytes, draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    """A random corruption of ``data``: flipped, replaced, inserted or deleted bytes, or a cut."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "extend"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "set" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and out:
            del out[at]
        elif kind == "truncate":
            del out[at:]
        else:
            out += draw(st.binary(min_size=1, max_size=40))
    return bytes(out)


# ---------------------------------------------------------------------- headers

SIZES = {"parent_hash": 32, "uncles_hash": 32, "coinbase": 20, "state_root": 32, "transactions_root": 32,
         "receipts_root": 32, "logs_bloom": 256, "mix_hash": 32, "nonce": 8, "withdrawals_root": 32,
         "parent_beacon_block_root": 32, "requests_hash": 32}


@st.composite
def headers(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Header:
    _, layout = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))]
    values: dict[str, Any] = {}
    for name, _ in layout:
        if name in SIZES:
            values[name] = draw(st.binary(min_size=SIZES[name], max_size=SIZES[name]))
        elif name == "extra_data":
            values[name] = draw(st.binary(max_size=97))
        else:
            values[name] = draw(st.one_of(st.integers(0, 2**64), st.integers(0, 2**256)))
    return Header(**values)


def as_json(header: Header, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"hash": "0x" + header.hash.hex()}
    for name, _ in header.layout:
        value = getattr(header, name)
        out[names[name]] = hex(value) if isinstance(value, int) else "0x" + value.hex()
    return out


@FAST
@given(headers())
def test_valid_headers_round_trip(header: Header) -> None:
    assert decode_header(header.rlp) == header
    assert header_from_rpc(as_json(header, RPC_NAMES)) == header
    assert header_from_fixture(as_json(header, FIXTURE_NAMES)) == header


def list_in_an_int_field(data: bytes) -> bool:
    """Whether ``data`` is a header-sized RLP list with a list where a number belongs (known bug below)."""
    try:
        items = rlp.decode(data, strict=True)
    except rlp.exceptions.RLPException:
        return False
    if not isinstance(items, list) or len(items) not in LAYOUTS:
        return False
    layout = LAYOUTS[len(items)][1]
    return any(sedes is big_endian_int and isinstance(item, list) for (_, sedes), item in zip(layout, items))


def test_a_list_in_a_number_field_is_a_verification_error() -> None:
    header = Header(b"\x01" * 32, b"\x02" * 32, b"\x03" * 20, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32,
                    b"\x00" * 256, 0, 1, 30_000_000, 0, 1_700_000_000, b"", b"\x07" * 32, b"\x00" * 8)
    items = rlp.decode(header.rlp)
    items[7] = [b""]  # difficulty
    assert list_in_an_int_field(rlp.encode(items))
    with pytest.raises(VerificationError):
        decode_header(rlp.encode(items))


@FAST
@given(st.one_of(st.binary(max_size=600), RLP_ITEMS.map(rlp.encode),
                 st.lists(st.binary(max_size=300), min_size=14, max_size=22).map(rlp.encode)))
def test_decode_header_random_input(data: bytes) -> None:
    assume(not list_in_an_int_field(data))
    try:
        header = decode_header(data)
    except VerificationError:
        return
    assert header.rlp == data  # only canonical encodings are accepted


@FAST
@given(headers(), st.data())
def test_decode_header_mutated(header: Header, data: st.DataObject) -> None:
    corrupted = mutate(header.rlp, data.draw)
    assume(not list_in_an_int_field(corrupted))
    try:
        decoded = decode_header(corrupted)
    except VerificationError:
        return
    assert decoded.rlp == corrupted and decoded.hash == keccak(corrupted)


@FAST
@given(st.one_of(JSON_VALUES, st.dictionaries(st.sampled_from(sorted(RPC_NAMES.values()) + ["hash", "x"]),
                                              JSON_VALUES, max_size=24)))
def test_header_from_rpc_random_objects(block: Any) -> None:
    for read in (header_from_rpc, header_from_fixture):
        try:
            read(block)
        except RpcAnswerError:
            pass


@FAST
@given(headers(), st.data())
def test_header_from_rpc_mutated(header: Header, data: st.DataObject) -> None:
    block = as_json(header, RPC_NAMES)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(block) + sorted(RPC_NAMES.values())))
        if data.draw(st.booleans()):
            block[key] = data.draw(JSON_VALUES)
        else:
            block.pop(key, None)
    try:
        parsed = header_from_rpc(block)
    except RpcAnswerError:
        return
    assert isinstance(parsed, Header)


# ---------------------------------------------------------------------- receipts and proofs

@st.composite
def rpc_logs(draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, Any]:
    return {"address": draw(hex_data(st.just(20))),
            "topics": draw(st.lists(hex_data(st.just(32)), max_size=4)),
            "data": draw(hex_data(st.sampled_from([0, 32, 64, 96, 100])))}


@st.composite
def rpc_receipts(draw: Callable[[st.SearchStrategy[Any]], Any], index: int = 0) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "transactionIndex": hex(index), "blockNumber": "0x10",
        "type": hex(draw(st.sampled_from([0, 1, 2, 3, 4]))),
        "cumulativeGasUsed": hex(draw(st.integers(0, 2**64))),
        "logsBloom": draw(hex_data(st.just(256))),
        "logs": draw(st.lists(rpc_logs(), max_size=3)),
    }
    if draw(st.integers(0, 9)) == 0:
        receipt["root"] = draw(hex_data(st.just(32)))  # pre-Byzantium
    else:
        receipt["status"] = draw(st.sampled_from(["0x0", "0x1"]))
    return receipt


@st.composite
def receipt_lists(draw: Callable[[st.SearchStrategy[Any]], Any]) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 40))
    template = draw(rpc_receipts())
    # most receipts of a block look alike; a few random ones make the trie shapes vary
    return [draw(rpc_receipts(i)) if draw(st.integers(0, 4)) == 0 else {**template, "transactionIndex": hex(i)}
            for i in range(count)]


@FAST
@given(st.one_of(JSON_VALUES, st.dictionaries(
    st.sampled_from(["type", "status", "root", "cumulativeGasUsed", "logsBloom", "logs", "transactionIndex",
                     "blockNumber"]), st.one_of(JSON_VALUES, st.lists(st.dictionaries(
                         st.sampled_from(["address", "topics", "data"]), JSON_VALUES), max_size=2)),
    max_size=8)))
def test_receipt_encoding_random_objects(receipt: Any) -> None:
    try:
        encode_receipt(receipt)
    except RpcAnswerError:
        pass
    assume(isinstance(receipt, dict))  # a non-object in a receipt list: see the known bug below
    try:
        receipts_root([receipt, receipt])
    except RpcAnswerError:
        pass


@FAST
@given(rpc_receipts(), st.data())
def test_receipt_encoding_mutated(receipt: dict[str, Any], data: st.DataObject) -> None:
    encoded = encode_receipt(receipt)
    assert encoded[0] >= 0xC0 or encoded[0] == int(receipt["type"], 16)
    key = data.draw(st.sampled_from(sorted(receipt)))
    if key == "logs" and receipt["logs"] and data.draw(st.booleans()):
        log = receipt["logs"][0]
        log[data.draw(st.sampled_from(["address", "topics", "data"]))] = data.draw(JSON_VALUES)
    else:
        receipt[key] = data.draw(JSON_VALUES)
    try:
        encode_receipt(receipt)
        receipts_root([receipt])
    except RpcAnswerError:
        pass


@pytest.mark.parametrize("receipt", [None, "0x00"])
def test_a_non_object_in_a_receipt_list_is_an_answer_error(receipt: Any) -> None:
    with pytest.raises(RpcAnswerError):
        receipts_root([receipt])


@SLOW
@given(receipt_lists(), st.data())
def test_valid_proofs_verify_and_every_mutation_fails(receipts: list[dict[str, Any]], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(receipts) - 1))
    root = receipts_root(receipts)
    proof = build_receipt_proof(receipts, index)
    assert verify_receipt_proof(root, proof) == encode_receipt(receipts[index])

    kind = data.draw(st.sampled_from(["node", "drop", "extra", "swap", "key", "index", "value", "root"]))
    nodes = list(proof.nodes)
    key, tx_index, value = proof.key, proof.tx_index, proof.value
    if kind == "node":
        at = data.draw(st.integers(0, len(nodes) - 1))
        nodes[at] = mutate(nodes[at], data.draw)
    elif kind == "drop":
        del nodes[data.draw(st.integers(0, len(nodes) - 1))]
    elif kind == "extra":
        nodes.insert(data.draw(st.integers(0, len(nodes))), data.draw(st.sampled_from(nodes + [b"\xc0", b"\x80"])))
    elif kind == "swap":
        assume(len(set(nodes)) > 1)
        i, j = data.draw(st.permutations(range(len(nodes))))[:2]
        assume(nodes[i] != nodes[j])
        nodes[i], nodes[j] = nodes[j], nodes[i]
    elif kind == "key":
        key = mutate(key, data.draw)
    elif kind == "index":
        tx_index = data.draw(st.integers(0, 2**64).filter(lambda i: i != proof.tx_index))
        key = data.draw(st.sampled_from([key, rlp.encode(tx_index)]))
    elif kind == "value":
        value = mutate(value, data.draw)
    else:
        root = data.draw(st.binary(min_size=32, max_size=32).filter(lambda r: r != root))
    forged = ReceiptProof(key=key, nodes=tuple(nodes), value=value, tx_index=tx_index)
    assume(forged != proof)
    with pytest.raises(ProofError):
        verify_receipt_proof(root, forged)


@st.composite
def node_like(draw: Callable[[st.SearchStrategy[Any]], Any]) -> list[Any]:
    """A random trie-node-shaped RLP structure: a branch (17 items) or a leaf/extension (2)."""
    item = st.one_of(st.binary(max_size=40), st.binary(min_size=32, max_size=32), st.just(b""),
                     st.lists(st.binary(max_size=8), max_size=3))
    if draw(st.booleans()):
        return draw(st.lists(item, min_size=17, max_size=17))
    path = draw(st.one_of(st.binary(min_size=1, max_size=5), st.builds(
        lambda flag, rest: bytes([flag]) + rest, st.sampled_from([0x00, 0x10, 0x20, 0x30, 0x11, 0x3F]),
        st.binary(max_size=3))))
    return [path, draw(item)]


@SLOW
@given(st.lists(st.one_of(node_like().map(rlp.encode), st.binary(max_size=80), RLP_ITEMS.map(rlp.encode)),
                min_size=1, max_size=5),
       st.integers(0, 300), st.binary(max_size=6), st.binary(max_size=200), st.booleans())
def test_random_proofs_raise_only_proof_errors(nodes: list[bytes], tx_index: int, key: bytes, value: bytes,
                                               chain: bool) -> None:
    # with ``chain`` the first node hashes to the root, so the walker gets to decode it
    root = keccak(nodes[0]) if chain else keccak(b"somewhere else")
    for proof in (ReceiptProof(key, tuple(nodes), value, tx_index),
                  ReceiptProof(rlp.encode(tx_index), tuple(nodes), value, tx_index)):
        try:
            verify_receipt_proof(root, proof)
        except ProofError:
            pass
        try:
            walk_proof(root, proof.key, proof.nodes)
        except ProofError:
            pass


# ---------------------------------------------------------------------- BFT extraData (RLP of a header field)

@FAST
@given(st.one_of(st.binary(max_size=300), RLP_ITEMS.map(rlp.encode)))
def test_bft_extra_data_random_input(data: bytes) -> None:
    for decode in (lambda d: bft.decode_extra(bft.QBFT, d), lambda d: bft.decode_extra(bft.IBFT2, d)):
        try:
            decode(data)
        except VerificationError:
            pass


@FAST
@given(st.sampled_from([bft.QBFT, bft.IBFT2]), st.binary(min_size=32, max_size=32),
       st.lists(st.binary(min_size=20, max_size=20), max_size=5),
       st.one_of(st.none(), st.builds(bft.Vote, st.binary(min_size=20, max_size=20), st.booleans())),
       st.integers(0, 2**31 - 1), st.lists(st.binary(min_size=65, max_size=65), max_size=4), st.data())
def test_bft_extra_data_round_trip_and_mutations(codec: bft.ExtraCodec, vanity: bytes, validators: list[bytes],
                                                 vote: bft.Vote | None, round_: int, seals: list[bytes],
                                                 data: st.DataObject) -> None:
    extra = bft.BftExtra(vanity, tuple(validators), vote, round_, tuple(seals))
    encoded = bft.encode_extra(codec, extra)
    assert bft.decode_extra(codec, encoded) == extra
    try:
        bft.decode_extra(codec, mutate(encoded, data.draw))
    except VerificationError:
        pass


# ---------------------------------------------------------------------- deep RLP nesting

DEEP_CASES: dict[str, Callable[[bytes], Any]] = {
    "decode_header": decode_header,
    "bft.decode_extra": lambda deep: bft.decode_extra(bft.QBFT, deep),
    "verify_receipt_proof": lambda deep: verify_receipt_proof(keccak(deep), ReceiptProof(b"\x80", (deep,), b"x", 0)),
}
DEEP_EXPECTED = {"decode_header": VerificationError, "bft.decode_extra": VerificationError,
                 "verify_receipt_proof": ProofError}


@pytest.mark.parametrize("case", list(DEEP_CASES))
def test_deeply_nested_rlp_is_refused_with_the_documented_error(case: str) -> None:
    # Python's default limit (1000): a decoder must not depend on the process's limit. (py_ecc, imported
    # with eth_account, raises it to 100000: there the same happens at ~120000 levels, ~460 KiB.)
    deep = nested_rlp(1100)  # 3 KiB
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    escaped = False
    try:
        DEEP_CASES[case](deep)
    except DEEP_EXPECTED[case]:
        return
    except RecursionError:
        escaped = True  # re-raised below, outside the handler: pytest renders 1000-frame tracebacks slowly
    finally:
        sys.setrecursionlimit(limit)
    if escaped:
        raise RecursionError(f"{case} let a RecursionError escape")
    pytest.fail(f"{case} accepted {len(deep)} bytes of nested lists")


# ---------------------------------------------------------------------- revert data

SELECTORS = sorted({sel for name in ("MessageLayer", "EvmReceiptVerifier", "CommitteeLightClient", "QbftLightClient",
                                     "TokenRouter", "WrappedToken")
                    for sel in Contract.load(name).errors} | {ERROR_STRING_SELECTOR, PANIC_SELECTOR})


@FAST
@given(st.one_of(st.binary(max_size=200),
                 st.tuples(st.sampled_from(SELECTORS), st.binary(max_size=200)).map(lambda t: t[0] + t[1]),
                 st.tuples(st.sampled_from(SELECTORS), st.lists(st.integers(0, 2**256 - 1), max_size=6))
                 .map(lambda t: t[0] + b"".join(v.to_bytes(32, "big") for v in t[1]))))
def test_decode_revert_never_raises(data: bytes) -> None:
    reason = Contract.load("MessageLayer").decode_revert(data)
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("data", ["0xzz", "0x123"])
def test_decode_revert_of_non_hex_text_never_raises(data: str) -> None:
    assert decode_revert(data)


# ---------------------------------------------------------------------- configuration

TOML_SCALARS = st.one_of(
    st.text(max_size=16), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.datetimes(), st.dates(), st.times(),
    st.sampled_from(["evm", "alpha", "beta", "http://127.0.0.1:1", "https://x", "0x" + "ab" * 20, "127.0.0.1:0",
                     "${HOME}", "${NOT_SET_ANYWHERE}", "${", "~", "~nobody/x", "\x00", ".", "/", "keys"]))
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)


@pytest.fixture(scope="module")
def config_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("fuzz-config")
    account = Account.create()
    (folder / "keys").mkdir()
    keystore = Account.encrypt(account.key, "fuzz", kdf="pbkdf2", iterations=16)
    for name, text in (("operator-1.json", json.dumps(keystore)), ("operator-1.password", "fuzz")):
        (folder / "keys" / name).write_text(text)
        (folder / "keys" / name).chmod(0o600)
    data = tomllib.loads(EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, account.address))
    path = folder / "operator.toml"
    assert isinstance(parse_config(data, path), Config) and check_data(data, path) == []
    return data, path


def only_config_errors(document: Any, path: Path) -> None:
    problems = check_data(document, path)
    assert isinstance(problems, list) and all(isinstance(p, ConfigError) for p in problems)
    try:
        parse_config(document, path)
    except ConfigError as exc:
        assert problems, "parse_config refused what check_data accepted"
        assert str(exc).startswith(f"{path}: ")
    else:
        assert not problems


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        found += _paths(value, (*prefix, key))
    return found


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_config_random_and_mutated_documents(config_base: tuple[dict[str, Any], Path], data: st.DataObject) -> None:
    base, path = config_base
    if data.draw(st.integers(0, 3)) == 0:
        document: Any = data.draw(st.one_of(TOML_VALUES, st.dictionaries(
            st.sampled_from(["operator", "logging", "committee", "chains", "routes", "extra"]), TOML_VALUES)))
    else:
        document = copy.deepcopy(base)
        for _ in range(data.draw(st.integers(1, 3))):
            where = data.draw(st.sampled_from(_paths(document) or [("operator",)]))
            parent = document
            for step in where[:-1]:
                parent = parent[step]
            action = data.draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "delete" and isinstance(parent, dict):
                parent.pop(where[-1], None)
            elif action == "add" and isinstance(parent, dict):
                parent[data.draw(st.text(max_size=10))] = data.draw(TOML_VALUES)
            elif isinstance(parent, (dict, list)):
                parent[where[-1]] = data.draw(TOML_VALUES)
    only_config_errors(document, path)


def test_awkward_numbers_are_answer_errors() -> None:
    """Values that break naive parsers: 5000-digit quantities (int() refuses them), NaN, floats."""
    header = Header(b"\x01" * 32, b"\x02" * 32, b"\x03" * 20, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32,
                    b"\x00" * 256, 0, 1, 30_000_000, 0, 1_700_000_000, b"", b"\x07" * 32, b"\x00" * 8, 7)
    block = as_json(header, RPC_NAMES)
    assert header_from_rpc(block) == header
    for bad in ("9" * 5000, float("nan"), 1.5, -1, True, [1], {"x": 1}, "0x", "", None):
        with pytest.raises(RpcAnswerError):
            header_from_rpc({**block, "number": bad})
