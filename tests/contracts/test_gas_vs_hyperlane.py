"""bench/gas_vs_hyperlane.py: Hyperlane's published contracts load from the pinned npm package
and verify real signatures on anvil (so the benchmark measures the real ISM path), and the
benchmark renders its table from a result document (ratios, shares of the block gas limit,
README rows). No gas figure is asserted here: the benchmark records them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from hyperlane_env import (
    FACTORY_FILES,
    HyperlaneArtifactError,
    HyperlaneDestination,
    deploy,
    hyperlane_destination,
    load,
    message,
    metadata,
    parse_factory,
    token_body,
    word,
)
from msg_env import DEPLOYER, fresh_address, make_keys

from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import start_anvil, stop_anvil
from relayer.errors import ContractRevert

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import gas_vs_hyperlane as bench  # noqa: E402

ORIGIN, DESTINATION = 1001, 1002
ROUTER = word(fresh_address("test-origin-router"))
TREE_HOOK = word(fresh_address("test-merkle-tree-hook"))


# ---------------------------------------------------------------------- the artifacts
def test_every_contract_loads_from_the_package_with_its_abi_and_bytecode() -> None:
    expected = {"Mailbox": "process", "StaticMessageIdMultisigIsmFactory": "deploy", "LightTestRecipient": "handle",
                "HypERC20": "enrollRemoteRouter", "TestPostDispatchHook": "postDispatch"}
    assert set(expected) == set(FACTORY_FILES)
    for name, function in expected.items():
        contract = load(name)
        assert function in contract.functions, name
        # creation code ending in solc's metadata: "solc" then the compiler version 0.8.33
        assert contract.bytecode.endswith(bytes.fromhex("64736f6c63430008210033")), name


def test_parse_factory_reads_typechain_layout_and_refuses_anything_else() -> None:
    text = ('const _abi = [\n    {\n        inputs: [],\n        name: "f",\n        type: "function",\n    },\n];\n'
            'const _bytecode = "0x6080";\n')
    assert parse_factory(text) == {"abi": [{"inputs": [], "name": "f", "type": "function"}], "bytecode": "0x6080"}
    with pytest.raises(HyperlaneArtifactError, match="x.js: no `const _abi"):
        parse_factory("export {}", "x.js")
    with pytest.raises(HyperlaneArtifactError, match="library linking"):
        parse_factory(text.replace("0x6080", "0x60__$abc$__"))


# ---------------------------------------------------------------------- on a node
@pytest.fixture(scope="module")
def destination() -> Iterator[HyperlaneDestination]:
    node = start_anvil(DESTINATION, block_time=None)
    try:
        evm = SyncEvm(node.url)
        hook = deploy(evm, DEPLOYER, "TestPostDispatchHook")
        factory = deploy(evm, DEPLOYER, "StaticMessageIdMultisigIsmFactory")
        yield hyperlane_destination(evm, DEPLOYER, DESTINATION, make_keys("committee", 3), 2, ORIGIN, ROUTER,
                                    factory, hook)
        evm.close()
    finally:
        stop_anvil(node)


def _process(dest: HyperlaneDestination, nonce: int, raw: bytes, signers: list[str]) -> dict[str, Any]:
    meta = metadata(raw, ORIGIN, TREE_HOOK, keccak(text=f"root-{nonce}"), nonce, signers)
    return dest.process(DEPLOYER, raw, meta)


def test_the_mailbox_delivers_with_the_threshold_of_validator_signatures(destination: HyperlaneDestination) -> None:
    raw = message(1, ORIGIN, word(fresh_address("test-sender")), DESTINATION, word(destination.recipient), b"hi")
    receipt = _process(destination, 1, raw, destination.validators[:2])
    assert int(receipt["status"], 16) == 1
    recipient = fresh_address("test-mint-recipient")
    mint = message(2, ORIGIN, ROUTER, DESTINATION, word(destination.token), token_body(recipient, 5 * 10**18))
    _process(destination, 2, mint, destination.validators[1:])
    balance = destination.evm.rpc("eth_call", {"to": destination.token, "data": "0x" + load("HypERC20").encode_call(
        "balanceOf", recipient).hex()}, "latest")
    assert int(balance, 16) == 5 * 10**18


def test_the_mailbox_refuses_too_few_foreign_or_misordered_signatures(destination: HyperlaneDestination) -> None:
    outsider = make_keys("not-a-validator", 1)
    validators = destination.validators
    cases = ((10, validators[:1], ""), (11, [validators[0], *outsider], "!threshold"),
             (12, [validators[1], validators[0]], "!threshold"))
    for nonce, signers, reason in cases:
        raw = message(nonce, ORIGIN, word(fresh_address("test-sender")), DESTINATION, word(destination.recipient), b"")
        with pytest.raises(ContractRevert) as info:
            _process(destination, nonce, raw, signers)
        assert reason in info.value.reason, (nonce, info.value.reason)


# ---------------------------------------------------------------------- rendering
def _document(hardfork: str = "Bpo1") -> dict[str, Any]:
    pairs = [{"threshold": t, "members": n, "work": work, "ours_gas": 150_000 + n, "ours_calldata_gas": 10_000,
              "hyperlane_gas": 75_000, "hyperlane_calldata_gas": 4_000}
             for t, n in bench.COMMITTEES for work, _ in bench.WORKS]
    blocks = [{"block_receipts": size, "batch": batch, "total_gas": 60_000 * batch, "calldata_gas": 20_000 * batch,
               "per_message_gas": 60_000, "per_message_calldata_gas": 20_000, "proof_bytes": 2_000}
              for size in bench.BLOCK_SIZES for batch in (1, *bench.BATCHES) if batch <= size]
    # a batch that paid exactly the EIP-7623 floor: 21000 + 2.5 x 2,800,000 calldata gas
    blocks[-1].update(total_gas=7_021_000, calldata_gas=2_800_000, per_message_gas=54_852)
    other = {key: {"gas": 200_000, "calldata_gas": 18_000} for key, _ in bench.OTHER_LABELS}
    return {"hyperlane_package": "@hyperlane-xyz/core 12.1.0", "hardfork": hardfork, "block_gas_limit": 30_000_000,
            "pairs": pairs, "ours_single_header_already_accepted": {"gas": 90_000, "calldata_gas": 8_000},
            "ours_blocks": blocks, "ours_other": other,
            "aims": {"single_with_update": "at or below Hyperlane", "per_message_batch_32_block_50": 40_000},
            "notes": "synthetic"}


def test_the_table_shows_each_pair_as_a_ratio_and_against_the_block_gas_limit() -> None:
    text = bench.markdown(_document())
    # 2/3 empty handler: 150,003 / 75,000 = 2.00; 150,003 of 30M = 0.50 %, 75,000 of 30M = 0.25 %
    assert ("| 2/3 | one message, empty handler | 150,003 | 10,000 | 75,000 | 4,000 | 2.00 | 0.50 % | 0.25 % |"
            in text)
    assert "| 7/10 | token mint to a fresh recipient | 150,010 |" in text
    # the 50-receipt block's batch of 32: 60,000 per message against the 40,000 aim = 1.50; 1,920,000 = 6.40 %;
    # its floor 21000 + 2.5 x 640,000 = 1,621,000, 50,656 per message
    assert "| 50 | 32 | 1,920,000 | 60,000 | 20,000 | 50,656 | 1.50 | 2,000 | 6.40 % |" in text
    assert "| 200 | 128 | 7,021,000 (the floor) | 54,852 |" in text and "| 50 | 128 |" not in text
    assert "This hardfork has EIP-7623" in text and "(the floor)" not in bench.markdown(_document("Cancun"))
    assert "ours **150,003** with the header update" in text and "Hyperlane **75,000**: ratio 2.00" in text


def test_the_readme_rows_are_the_two_headline_figures() -> None:
    rows = bench.summary(_document())
    assert [(measured, ratio) for _, measured, _, ratio in rows] == [("150,003", "2.00"), ("60,000", "1.50")]
    assert rows[1][2] == "40,000 (aim)" and rows[0][0].endswith("(Bpo1)")
    assert bench.summary({**_document("Cancun"), "readme_rows": False}) == []


def test_the_calldata_floor_is_eip_7623s_and_only_from_prague_on() -> None:
    # 3 zero bytes and 2 non-zero: 3*4 + 2*16 = 44 calldata gas; 3 + 2*4 = 11 tokens: floor 21000 + 110
    assert bench.calldata_gas(bytes([0, 0, 0, 1, 255])) == 44
    assert bench.floor_gas(44) == 21_110
    assert bench.floor_applies({"hardfork": "Bpo1"}) and bench.floor_applies({"hardfork": "Prague"})
    assert not bench.floor_applies({"hardfork": "Cancun"}) and not bench.floor_applies({"hardfork": "berlin"})
