"""``relayer messages list|show`` read a message's opaque body and locator only through its family's
view (the ``relayer.message_views`` plugin named like the source chain's adapter, issue 9): the EVM
family shows the transfer and where its log is, as the store's old columns did; a body of another
shape is shown as hex. Run on the previous release's state database (migrated on first open)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from test_cli_config import good_config, relayer  # noqa: F401 - good_config is a fixture

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
