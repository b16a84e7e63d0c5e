"""EvmLightClient: hash recomputation, parent links, finality, trusted state."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import rlp
from rlp.codec import consume_item

from light_clients.evm import client as client_module
from light_clients.evm.client import KIND, EvmLightClient
from light_clients.evm.header import Header, decode_header
from relayer.errors import ConfigError, VerificationError


def _chain_headers(path: Path) -> list[Header]:
    """Headers of blocks 1.. of a ``chain.rlp`` (concatenated block RLPs)."""
    data, position, headers = path.read_bytes(), 0, []
    while position < len(data):
        block, _, position = consume_item(data, position)
        headers.append(decode_header(rlp.encode(block[0])))
    return headers


@pytest.fixture(scope="module")
def chain(vectors: Path) -> list[Header]:
    headers = _chain_headers(vectors / "execution-apis/tests/chain.rlp")
    assert [h.number for h in headers] == list(range(1, 55))
    return headers


def _client(trusted: Header | None = None, confirmations: int = 12) -> EvmLightClient:
    return EvmLightClient("devchain", 3503995874084926, confirmations, trusted)


def test_accepts_the_whole_chain_from_a_checkpoint(chain: list[Header]) -> None:
    client = _client(trusted=chain[0])
    client.accept_range(chain[1:20])
    client.accept_range(chain[20:])
    assert (client.head_number, client.head_hash) == (54, chain[-1].hash)


def test_first_range_without_checkpoint_becomes_the_checkpoint(chain: list[Header]) -> None:
    client = _client()
    assert client.head_number is None
    client.accept_range(chain[10:15])
    assert client.head_hash == chain[14].hash


def test_broken_parent_link_names_both_hashes(chain: list[Header]) -> None:
    client = _client(trusted=chain[0])
    forged = chain[2].replace(parent_hash=b"\x11" * 32)
    with pytest.raises(VerificationError) as caught:
        client.accept_range([chain[1], forged, chain[3]])
    message = str(caught.value)
    assert "devchain" in message and "block=3" in message
    assert "0x" + "11" * 32 in message and chain[1].hash.hex() in message
    assert client.head_number == 1, "nothing of a broken range is accepted"


def test_reorged_header_with_same_parent_is_rejected_after_its_sibling(chain: list[Header]) -> None:
    client = _client(trusted=chain[0])
    client.accept_range(chain[1:3])
    sibling = chain[3].replace(extra_data=b"other fork")
    with pytest.raises(VerificationError, match="broken parent link"):
        client.accept_range([sibling, chain[4]])


@pytest.mark.parametrize("index", [3, 1, 0], ids=["gap", "repeat", "older"])
def test_gaps_and_repeats_are_rejected(chain: list[Header], index: int) -> None:
    client = _client(trusted=chain[1])  # block 2; only block 3 (chain[2]) may follow
    with pytest.raises(VerificationError, match="does not follow"):
        client.accept_range([chain[index]])


def test_verify_header_recomputes_the_hash(chain: list[Header]) -> None:
    client = _client()
    header = chain[44]
    assert client.verify_header(header, header.hash) == header.hash
    assert client.verify_header(header) == header.hash
    with pytest.raises(VerificationError) as caught:
        client.verify_header(header, chain[43].hash)
    assert "devchain" in str(caught.value) and "block=45" in str(caught.value)


def test_verify_header_catches_an_altered_field(chain: list[Header]) -> None:
    header = chain[30]
    with pytest.raises(VerificationError, match="hash mismatch"):
        _client().verify_header(header.replace(gas_used=header.gas_used + 1), header.hash)


def test_finality_by_confirmations() -> None:
    client = _client(confirmations=12)
    assert client.final_number(100) == 88
    assert client.is_final(88, 100) and not client.is_final(89, 100)
    assert client.final_number(5) < 0 and not client.is_final(0, 5)
    instant = _client(confirmations=0)
    assert instant.is_final(100, 100) and not instant.is_final(101, 100)
    with pytest.raises(ConfigError):
        _client(confirmations=-1)


def test_trusted_state_round_trip(chain: list[Header]) -> None:
    client = _client(trusted=chain[0])
    client.accept_range(chain[1:30])
    state = client.trusted_state()
    assert state["number"] == 30 and state["hash"] == "0x" + chain[29].hash.hex()
    restored = EvmLightClient.from_trusted_state("devchain", 3503995874084926, 12, state)
    restored.accept_range(chain[30:])
    assert restored.head_hash == chain[-1].hash


def test_trusted_state_accepts_hash_bytes(chain: list[Header]) -> None:
    state = {"number": 7, "hash": chain[6].hash}
    restored = EvmLightClient.from_trusted_state("devchain", 3503995874084926, 12, state)
    restored.accept_range(chain[7:9])
    assert restored.head_number == 9


def test_empty_trusted_state_round_trip() -> None:
    state = _client().trusted_state()
    assert EvmLightClient.from_trusted_state("devchain", 3503995874084926, 12, state).head_number is None


@pytest.mark.parametrize(
    "state",
    [
        {"number": 5, "hash": "0x1234"},
        {"number": -1, "hash": "0x" + "00" * 32},
        {"number": "5", "hash": "0x" + "00" * 32},
        {"number": 5, "hash": None},
        {"number": None, "hash": "0x" + "00" * 32},
        {"number": 5, "hash": b"short"},
        {"number": 5, "hash": "0x" + "zz" * 32},
        {"number": 5, "hash": "0x" + "00" * 32, "chain_id": 1},
    ],
)
def test_malformed_trusted_state_is_rejected(state: dict) -> None:
    with pytest.raises(VerificationError):
        EvmLightClient.from_trusted_state("devchain", 3503995874084926, 12, state)


def test_kind_and_entry_point() -> None:
    assert KIND == client_module.KIND == EvmLightClient.kind == "evm"
    (entry,) = [ep for ep in entry_points(group="relayer.light_clients") if ep.name == "evm"]
    assert entry.load() is EvmLightClient
