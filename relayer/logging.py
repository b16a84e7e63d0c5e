"""Structured logging: JSON lines for journald, a readable console on a TTY.

``configure_logging`` sets up structlog once at start-up and routes the stdlib loggers
(httpx, hypercorn, trio) through the same processors at WARNING and above. Each JSON line
is one object with ``event``, ``level``, ``timestamp`` (ISO 8601, UTC), ``logger`` and
the bound fields. Tasks bind ``chain``, ``route``, ``message_id`` at their top with
``structlog.contextvars.bind_contextvars`` (trio gives every task its own context copy).
Fields whose names look secret are replaced by ``[redacted]``; ``set_level`` changes the
level of every logger at run time.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = ["LEVELS", "REDACTED", "configure_logging", "get_logger", "redact", "set_level"]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
REDACTED = "[redacted]"
STDLIB_MIN_LEVEL = logging.WARNING  # httpx, hypercorn, trio: never chattier than this

_METHOD_LEVELS = {**LEVELS, "warn": logging.WARNING, "exception": logging.ERROR, "fatal": logging.CRITICAL}


class _State:
    """What ``configure_logging`` installed, so that it can be changed or replaced."""

    level: int = logging.INFO
    handler: logging.Handler | None = None


_STATE = _State()


def configure_logging(level: str = "info", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Send every log line to ``stream`` (default stdout), JSON unless ``stream`` is a TTY.

    ``json`` forces JSON (True) or the console format (False). Calling it again replaces
    the previous set-up. Raises ValueError for an unknown ``level``.
    """
    stream = sys.stdout if stream is None else stream
    as_json = not _isatty(stream) if json is None else json
    renderer = _json_renderer() if as_json else structlog.dev.ConsoleRenderer(colors=_isatty(stream))
    finish: list[Processor] = [structlog.processors.format_exc_info, _lead_keys_first] if as_json else []
    structlog.configure(
        processors=[_drop_below_level, *_shared_processors(), *finish, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=_LoggerFactory(stream),
        context_class=dict,
        cache_logger_on_first_use=False,  # so set_level, reconfiguration and capture_logs reach every logger
    )
    _install_stdlib_handler(stream, [*finish, renderer])
    set_level(level)


def set_level(level: str) -> None:
    """Log only events at ``level`` or above from now on; raises ValueError for an unknown level."""
    number = LEVELS.get(level.lower()) if isinstance(level, str) else None
    if number is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    _STATE.level = number
    logging.getLogger().setLevel(max(number, STDLIB_MIN_LEVEL))


def get_logger(name: str | None = None, **fields: Any) -> FilteringBoundLogger:
    """A logger whose lines carry ``logger=name`` and ``fields``; raises nothing."""
    logger = structlog.get_logger(name) if name else structlog.get_logger()
    return cast(FilteringBoundLogger, logger.bind(**fields) if fields else logger)


# ---------------------------------------------------------------- output


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's WriteLogger (one write per line, under a lock) with a logger name."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self.stream, str(args[0]) if args else None)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _json_renderer() -> Processor:
    return structlog.processors.JSONRenderer(serializer=jsonlib.dumps, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _install_stdlib_handler(stream: TextIO, processors: list[Processor]) -> None:
    """Route stdlib logging (root logger) through the shared processors into ``stream``."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *processors],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _STATE.handler is not None:
        root.removeHandler(_STATE.handler)
    root.addHandler(handler)
    _STATE.handler = handler


# ---------------------------------------------------------------- processors


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.StackInfoRenderer(),
        redact,
    ]


def _drop_below_level(_logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    if _METHOD_LEVELS.get(method_name, logging.INFO) < _STATE.level:
        raise structlog.DropEvent
    return event_dict


_LEAD_KEYS = ("timestamp", "level", "event", "logger")


def _lead_keys_first(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """Put the keys every line has first, so JSON lines read well in journalctl."""
    lead = {key: event_dict.pop(key) for key in _LEAD_KEYS if key in event_dict}
    return {**lead, **event_dict}


def _add_logger_name(logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


# Field names whose values are secret; names ending like a public reference to a
# secret (key_file, key_id, ...) only lose values that look like a private key.
_SECRET_NAME = re.compile(r"key|secret|password|passphrase|private|mnemonic|token_secret", re.IGNORECASE)
_PUBLIC_NAME = re.compile(r"(_file|_path|_dir|_address|_id|_index|_count)$", re.IGNORECASE)
_PRIVATE_HEX = re.compile(r"(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def redact(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: hide the values of secret-looking fields (nested ones too)."""
    for name, value in event_dict.items():
        if name not in ("event", "_record"):
            event_dict[name] = _redact_value(str(name), value)
    return event_dict


def _redact_value(name: str, value: Any) -> Any:
    secret_name = _SECRET_NAME.search(name) is not None
    if secret_name and not _PUBLIC_NAME.search(name):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(name, item) for item in value]
    return _scrub(value) if secret_name else value


def _scrub(value: Any) -> Any:
    """``value`` with anything shaped like a private key (32 bytes, 64 hex digits) hidden."""
    if isinstance(value, str):
        return _PRIVATE_HEX.sub(REDACTED, value)
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return REDACTED
    return value
