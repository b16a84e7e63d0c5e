"""relayer.logging: JSON lines, redaction, run-time level changes, stdlib routing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from relayer import logging as relayer_logging
from relayer.logging import REDACTED, configure_logging, get_logger, set_level

PRIVATE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
TX_HASH = "0x" + "ab" * 32


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo configure_logging: structlog defaults, no handler of ours, root level as before."""
    root = logging.getLogger()
    level = root.level
    yield
    if relayer_logging._STATE.handler is not None:
        root.removeHandler(relayer_logging._STATE.handler)
        relayer_logging._STATE.handler = None
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("info", json=True, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n") or not text
    return [json.loads(line) for line in text.splitlines()]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_json_object_per_line(out: io.StringIO) -> None:
    log = get_logger("relayer.test")
    log.info("lock.observed", chain="alpha", nonce=7, amount=10**30)
    log.warning("rpc.slow", data=b"\x01\x02", multi="line\none")
    records = lines(out)
    assert [r["event"] for r in records] == ["lock.observed", "rpc.slow"]
    first = records[0]
    assert first["level"] == "info" and first["logger"] == "relayer.test"
    assert (first["chain"], first["nonce"], first["amount"]) == ("alpha", 7, 10**30)
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    assert records[1]["data"] == "0x0102" and records[1]["multi"] == "line\none"


def test_contextvars_are_merged(out: io.StringIO) -> None:
    log = get_logger("relayer.test")
    with structlog.contextvars.bound_contextvars(chain="beta", route="alpha->beta", message_id="0x01"):
        log.info("proof.built")
    log.info("after")
    inside, after = lines(out)
    assert (inside["chain"], inside["route"], inside["message_id"]) == ("beta", "alpha->beta", "0x01")
    assert "chain" not in after


def test_exceptions_are_one_line(out: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger().exception("submit.failed")
    (record,) = lines(out)
    assert record["level"] == "error" and "RuntimeError: boom" in record["exception"]


def test_stdlib_loggers_go_through_the_same_processors(out: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1:8545")  # below WARNING: dropped
    with structlog.contextvars.bound_contextvars(chain="alpha"):
        logging.getLogger("hypercorn.error").warning("slow %s", "client", extra={})
    (record,) = lines(out)
    assert record["event"] == "slow client" and record["level"] == "warning"
    assert record["logger"] == "hypercorn.error" and record["chain"] == "alpha"
    assert record["timestamp"].endswith("Z")


def test_redaction(out: io.StringIO) -> None:
    get_logger().info(
        "operator.loaded",
        private_key=PRIVATE_KEY,
        password="hunter2",
        mnemonic="test test test",
        token_secret="s3cr3t",
        api_key="abc",
        settings={"db_password": "pw", "level": "info", "nested": {"secret": [1, 2]}},
        key_file="/etc/relayer/operator-1.key",
        signing_key_id=f"loaded {PRIVATE_KEY[2:]} by mistake",
        tx_hash=TX_HASH,
        token="0x" + "11" * 20,
    )
    (record,) = lines(out)
    for name in ("private_key", "password", "mnemonic", "token_secret", "api_key"):
        assert record[name] == REDACTED, name
    assert record["settings"] == {"db_password": REDACTED, "level": "info", "nested": {"secret": REDACTED}}
    assert record["key_file"] == "/etc/relayer/operator-1.key"
    assert record["signing_key_id"] == f"loaded {REDACTED} by mistake"
    assert record["tx_hash"] == TX_HASH and record["token"] == "0x" + "11" * 20
    assert PRIVATE_KEY[2:] not in out.getvalue()


def test_redaction_of_stdlib_and_bound_fields(out: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(password="pw")
    get_logger(secret="s").info("bound")
    logging.getLogger("trio").warning("x")
    assert all(r["password"] == REDACTED for r in lines(out))
    assert lines(out)[0]["secret"] == REDACTED


def test_level_changes_at_run_time(out: io.StringIO) -> None:
    log = get_logger("relayer.test").bind(chain="alpha")  # bound before the change: must follow it
    log.debug("hidden.1")
    set_level("debug")
    log.debug("shown.1")
    set_level("ERROR")
    log.warning("hidden.2")
    logging.getLogger("httpx").warning("hidden.3")
    log.error("shown.2")
    set_level("info")
    log.info("shown.3")
    assert [r["event"] for r in lines(out)] == ["shown.1", "shown.2", "shown.3"]


def test_stdlib_never_below_warning(out: io.StringIO) -> None:
    set_level("debug")
    logging.getLogger("httpx").info("chatty")
    logging.getLogger("httpx").debug("chattier")
    assert lines(out) == []


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose"):
        set_level("verbose")
    with pytest.raises(ValueError):
        configure_logging("loud", stream=io.StringIO())


def test_console_on_a_tty_json_otherwise() -> None:
    tty = FakeTty()
    configure_logging(stream=tty)
    get_logger("relayer.test").info("pretty.line", chain="alpha", password="hunter2")
    text = tty.getvalue()
    assert "pretty.line" in text and "chain" in text and REDACTED in text and "hunter2" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])

    plain = io.StringIO()
    configure_logging(stream=plain)
    get_logger().info("json.line")
    assert lines(plain)[0]["event"] == "json.line"

    forced = FakeTty()
    configure_logging(json=True, stream=forced)
    get_logger().info("forced")
    assert lines(forced)[0]["event"] == "forced"


def test_reconfiguring_replaces_the_stdlib_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=True, stream=first)
    configure_logging(json=True, stream=second)
    logging.getLogger("trio").warning("once")
    assert first.getvalue() == ""
    assert [r["event"] for r in lines(second)] == ["once"]


def test_capture_logs_still_works(out: io.StringIO) -> None:
    log = get_logger("relayer.test")
    with structlog.testing.capture_logs() as captured:
        log.info("message.confirmed", message_id="0x01")
    assert captured == [{"event": "message.confirmed", "message_id": "0x01", "log_level": "info"}]
