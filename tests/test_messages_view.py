"""``relayer messages list|show`` read a message's opaque body and locator only through its family's
view (the ``relayer.message_views`` plugin named like the source chain's adapter, issue 9): the EVM
family shows a message-layer envelope's fields (and a first-party application's payload), a message
of the old Bridge as the transfer it was, and where its log is, as the store's old columns did; a
body of another shape is shown as hex. Run on the previous release's state database (migrated on
first open)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import to_checksum_address
from test_cli_config import good_config, relayer  # noqa: F401 - good_config is a fixture

from adapters.evm.display import describe
from adapters.evm.messaging import Envelope as LayerEnvelope
from adapters.evm.messaging import address_word
from relayer import plugins
from relayer.store import Message, Store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "state-de69b14.sql"


def state_db(config: Path) -> Path:
    """The release's database where the example config keeps operator-1's state."""
    path = config.parent / "state" / "operator-1" / "relayer.db"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(str(path))
    db.executescript(FIXTURE.read_text())
    db.close()
    return path


def release_row(message_id: str) -> dict[str, Any]:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.executescript(FIXTURE.read_text())
    try:
        return dict(db.execute("SELECT * FROM messages WHERE id=?", (message_id,)).fetchone())
    finally:
        db.close()


def as_json(*args: str | Path) -> Any:
    out = relayer(*args, "--json")
    assert out.returncode == 0, out
    return json.loads(out.stdout)


def test_messages_are_shown_in_their_familys_words(good_config: Path) -> None:  # noqa: F811
    db = state_db(good_config)
    listed = as_json("messages", "list", "--config", good_config)["messages"]
    assert len(listed) == 11
    for m in listed:  # the keys of the store's old columns, now from the family's view
        row = release_row(m["id"])
        for key in ("kind", "tx_hash", "tx_index", "log_index", "token", "sender", "recipient", "amount"):
            assert m[key] == row[key], (key, m, row)
        assert m["cost"] == row["gas_used"] and "gas_used" not in m
    store = Store(db)
    try:
        shown = next(m for m in listed if (h := store.header(m["src_chain"], m["block_number"])) is not None
                     and h.hash == m["block_hash"])
        header = store.header(shown["src_chain"], shown["block_number"])
        assert header is not None
    finally:
        store.close()
    life = as_json("messages", "show", shown["id"], "--config", good_config)
    row = release_row(shown["id"])
    assert (life["source"]["tx_hash"], life["source"]["tx_index"], life["source"]["log_index"]) == \
        (row["tx_hash"], row["tx_index"], row["log_index"])
    assert life["source"]["where"] == f"tx {row['tx_hash']} receipt {row['tx_index']} log {row['log_index']}"
    assert life["what"] == f"{row['kind']} {row['amount']} of {row['token']} from {row['sender']} to {row['recipient']}"
    assert life["proof"] == {"header_verified": True, "commitment": header.commitment,
                             "attestations": life["proof"]["attestations"]}
    text = relayer("messages", "show", shown["id"], "--config", good_config)
    assert text.returncode == 0, text
    assert f"  what         {life['what']}" in text.stdout.splitlines()
    assert f"tx {row['tx_hash']} receipt {row['tx_index']} log {row['log_index']} block" in text.stdout
    assert f"under commitment {header.commitment} (header verified" in text.stdout


def test_a_body_of_another_shape_is_shown_as_hex(good_config: Path) -> None:  # noqa: F811
    db = state_db(good_config)
    store = Store(db)
    try:
        store.record_scan("alpha", 9_999, [], [Message(id="0x" + "0f" * 32, src_chain="alpha", dst_chain="beta",
                                                      nonce=900, block_number=9_998, block_hash="0x" + "0e" * 32,
                                                      body=b"\x01call", locator=b"\x02here", final_at=1.0)], [])
    finally:
        store.close()
    life = as_json("messages", "show", "0x" + "0f" * 32, "--config", good_config)
    assert life["body"] == "0x0163616c6c" and life["source"]["locator"] == "0x0268657265"
    assert life["what"] == "body 0x0163616c6c" and life["source"]["where"] == "locator 0x0268657265"
    assert life["proof"]["commitment"] is None and not life["proof"]["header_verified"]


def test_the_evm_family_registers_its_view() -> None:
    assert "evm" in plugins.installed(plugins.MESSAGE_VIEW_GROUP)


# ---------------------------------------------------------------- message-layer envelopes (issue 10)

ROUTER_A, ROUTER_B = "0x" + "a1" * 20, "0x" + "b2" * 20
LAYER_A, LAYER_B = "0x" + "1a" * 20, "0x" + "2b" * 20
TOKEN, USER = "0x" + "70" * 20, "0x" + "0e" * 20
LOCATOR = eth_abi.encode(["bytes32", "uint256", "uint256"], [b"\x07" * 32, 3, 1])


def envelope(body: bytes, *, kind: int = 0, ack_mode: int = 1) -> LayerEnvelope:
    return LayerEnvelope(nonce=12, source_chain=1001, source_layer=address_word(LAYER_A),
                         sender=address_word(ROUTER_A), destination_chain=1002,
                         destination_layer=address_word(LAYER_B), recipient=address_word(ROUTER_B),
                         gas_limit=150_000, expiry=1_900_000_000, ack_mode=ack_mode, body=body, kind=kind)


def test_an_envelope_is_shown_with_its_fields_and_its_transfer() -> None:
    transfer = eth_abi.encode(["bool", "address", "address", "uint256"], [False, TOKEN, USER, 5 * 10**18])
    view = describe(envelope(transfer).encode(), LOCATOR)
    assert view is not None
    assert dict(view.body) == {
        "kind": "message", "version": 1, "nonce": 12, "source_chain": 1001,
        "source_layer": to_checksum_address(LAYER_A), "sender": to_checksum_address(ROUTER_A),
        "destination_chain": 1002, "destination_layer": to_checksum_address(LAYER_B),
        "recipient": to_checksum_address(ROUTER_B), "gas_limit": 150_000, "expiry": 1_900_000_000,
        "ack_mode": "on-failure", "payload": "0x" + transfer.hex(),
        "app": "token-router", "transfer": "lock", "token": to_checksum_address(TOKEN),
        "amount": str(5 * 10**18), "to": to_checksum_address(USER)}
    assert view.what == (f"message 12 from {to_checksum_address(ROUTER_A)} on 1001 to {to_checksum_address(ROUTER_B)}"
                         f" on 1002: lock {5 * 10**18} of {to_checksum_address(TOKEN)} to {to_checksum_address(USER)}"
                         " (gas 150000, expiry 1900000000, ack on-failure)")
    assert dict(view.locator) == {"tx_hash": "0x" + "07" * 32, "tx_index": 3, "log_index": 1}
    assert view.where == f"tx 0x{'07' * 32} receipt 3 log 1"


def test_a_traceability_record_an_ack_and_an_unknown_payload() -> None:
    record = eth_abi.encode(["bytes32", "bytes32", "bytes32", "address"], [b"\x0b" * 32, b"P" * 32, b"\xd1" * 32, USER])
    view = describe(envelope(record, ack_mode=2).encode(), LOCATOR)
    assert view is not None and view.body["app"] == "traceability"
    assert (view.body["batch_id"], view.body["product"], view.body["digest"], view.body["producer"]) == (
        "0x" + "0b" * 32, "0x" + "50" * 32, "0x" + "d1" * 32, to_checksum_address(USER))
    original = "0x" + "ab" * 32
    ack_body = eth_abi.encode(["bytes32", "uint8", "bytes"], [bytes.fromhex(original[2:]), 2, b"\x12\x34"])
    ack = describe(envelope(ack_body, kind=1, ack_mode=0).encode(), LOCATOR)
    assert ack is not None and ack.body["kind"] == "ack" and ack.body["ack_mode"] == "none"
    assert (ack.body["acknowledged_id"], ack.body["acknowledged_outcome"], ack.body["ack_result"]) == (
        original, "failed", "0x1234")
    assert ack.what.endswith(f": message {original} failed (result 0x1234)")
    unknown = describe(envelope(b"\x01\x02\x03").encode(), LOCATOR)
    assert unknown is not None and "app" not in unknown.body and unknown.body["payload"] == "0x010203"
    assert unknown.what.endswith(", payload of 3 bytes (gas 150000, expiry 1900000000, ack on-failure)")
    odd_ack = describe(envelope(b"\x05", kind=1).encode(), LOCATOR)  # an ack body of no known shape
    assert odd_ack is not None and "acknowledged_id" not in odd_ack.body


def test_bytes_of_no_known_shape_are_no_view() -> None:
    good = envelope(b"\x01").encode()
    for body in (b"", good[:-32], good + b"\x00" * 32, b"\x00" * 31 + b"\x40" + good[32:], b"\xff" * 512):
        assert describe(body, LOCATOR) is None, body.hex()
    assert describe(good, LOCATOR[:-1]) is None


def test_messages_show_reads_an_envelope(good_config: Path) -> None:  # noqa: F811
    db = state_db(good_config)
    transfer = eth_abi.encode(["bool", "address", "address", "uint256"], [True, TOKEN, USER, 7])
    body = envelope(transfer).encode()
    mid = "0x" + "5e" * 32
    store = Store(db)
    try:
        store.record_scan("alpha", 9_999, [], [Message(id=mid, src_chain="alpha", dst_chain="beta", nonce=12,
                                                      block_number=9_998, block_hash="0x" + "0e" * 32, body=body,
                                                      locator=LOCATOR, final_at=1.0)], [])
    finally:
        store.close()
    life = as_json("messages", "show", mid, "--config", good_config)
    assert (life["kind"], life["app"], life["transfer"], life["amount"], life["to"]) == (
        "message", "token-router", "burn", "7", to_checksum_address(USER))
    assert life["source"]["where"] == f"tx 0x{'07' * 32} receipt 3 log 1"
    assert life["what"].endswith(f": burn 7 of {to_checksum_address(TOKEN)} to {to_checksum_address(USER)} "
                                 "(gas 150000, expiry 1900000000, ack on-failure)")
