"""Typed TOML tables with dotted key-path errors: the core's configuration helpers, for plugins too.

A chain family's plugin validates its own ``[chains.NAME.FAMILY]`` table with these (see
``adapters/evm/config.py``), so its problems read exactly like the core's:
``chains.beta.evm.fees.max_fee_gwei: must be greater than 0 and at most 1000000000.0, got -1``.
Like ``relayer.contract`` and ``relayer.errors`` this module is part of what plugins may import;
it imports only the standard library and ``relayer.errors`` and knows no chain family.

A parser builds a :class:`Report`, reads values through :class:`Table` (unknown keys are reported
with a suggestion, required ones with an example), and calls ``report.raise_if_any()``, which raises
:class:`ConfigProblems` (a ConfigError carrying every problem) so ``relayer config check`` lists
them all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TypeVar
from urllib.parse import urlsplit

from relayer.errors import ConfigError

__all__ = [
    "BARE_KEY", "Check", "ConfigProblems", "ConfigWarning", "Invalid", "Report", "Table", "boolean_value", "integer_in",
    "join", "kind_of", "name_value", "number_in", "one_of", "string_value", "suggest", "url_value",
]


class ConfigProblems(ConfigError):
    """Several configuration problems at once (``errors``, in the order found); reads as the first."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.key, first.message, file=first.file)


class Invalid(Exception):
    """A value is wrong; str() says what and what to do."""


T = TypeVar("T")
Check = Callable[[Any], T]
_MISSING: Any = object()


@dataclass(frozen=True)
class ConfigWarning:
    """Something the configuration should change although it still works (a key in its old place);
    reads like a ConfigError: ``FILE: KEY: MESSAGE``."""

    key: str
    message: str
    file: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        return f"{prefix}{self.key}: {self.message}"


class Report:
    """The problems (and warnings) found in one file (``file``: its path, None in a plugin's parser,
    which does not know it), in the order found."""

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigWarning] = []

    def warn(self, key: str, message: str) -> None:
        """Record a warning under the full key path ``key``; raises nothing."""
        self.warnings.append(ConfigWarning(key, message, self.file))

    def add(self, key: str, message: str) -> None:
        """Record a problem under the full key path ``key``; raises nothing."""
        self.errors.append(ConfigError(key, message, file=self.file))

    def extend(self, errors: Iterable[ConfigError]) -> None:
        """Record problems found elsewhere (a plugin's parser) as problems of this file; raises nothing."""
        for error in errors:
            self.add(error.key, error.message)

    def raise_if_any(self) -> None:
        """Raises ConfigProblems carrying every problem recorded, if there is one."""
        if self.errors:
            raise ConfigProblems(self.errors)

    def check(self, key: str, value: Any, check: Check[T]) -> T | None:
        """``check(value)``, or None after recording its problem under ``key``."""
        try:
            return check(value)
        except Invalid as exc:
            self.add(key, str(exc))
            return None

    def unique(self, key: str, value: object, seen: dict[Any, str], what: str) -> None:
        """Record ``key`` as a duplicate if ``value`` was seen before under another key."""
        if value in seen:
            self.add(key, f"duplicate {what}: {seen[value]} already uses it; each must be unique")
        else:
            seen[value] = key


class Table:
    """One TOML table with a declared set of keys; unknown keys are reported on creation."""

    def __init__(self, data: Mapping[Any, Any], path: str, report: Report, keys: Iterable[str]):
        self.data, self.path, self.report = data, path, report
        self.keys = tuple(keys)
        for name in data:
            if name not in self.keys:
                report.add(join(path, name), _unknown_key(name, self.keys))

    @classmethod
    def at(cls, report: Report, path: str, value: Any, keys: Iterable[str]) -> Table | None:
        """The table ``value`` found at ``path``, or None after reporting it is no table."""
        if isinstance(value, Mapping):
            return cls(value, path, report, keys)
        report.add(path, f"expected a table, got {kind_of(value)}")
        return None

    def key(self, name: str) -> str:
        """The full key path of ``name`` in this table; raises nothing."""
        return join(self.path, name)

    def missing(self, name: str, example: str) -> None:
        """Report the required key ``name`` as missing, with ``example`` of what to add; raises nothing."""
        self.report.add(self.key(name), f"required key is missing; add e.g. `{example}`")

    def get(self, name: str, check: Check[T], default: Any = _MISSING, *, example: str = "") -> T | None:
        """The checked value of ``name`` (defaults are checked too), or None after reporting."""
        if name not in self.data and default is _MISSING:
            self.missing(name, example or f"{name} = ...")
            return None
        return self.report.check(self.key(name), self.data.get(name, default), check)

    def mapping(self, name: str, *, example: str = "") -> Mapping[Any, Any] | None:
        """A free-form sub-table; ``{}`` when absent and ``example`` is empty (optional)."""
        if name not in self.data:
            if example:
                self.report.add(self.key(name), f"required table is missing; add {example}")
                return None
            return {}
        value = self.data[name]
        if not isinstance(value, Mapping):
            self.report.add(self.key(name), f"expected a table, got {kind_of(value)}")
            return None
        return value

    def table(self, name: str, keys: Iterable[str], *, example: str = "") -> Table | None:
        """A sub-table with declared keys; empty when absent and ``example`` is empty."""
        value = self.mapping(name, example=example)
        return None if value is None else Table(value, self.key(name), self.report, keys)

    def array(self, name: str, *, example: str) -> list[tuple[str, Any]] | None:
        """``(key path, item)`` of each element of a required non-empty array."""
        if name not in self.data:
            self.report.add(self.key(name), f"required and missing; add {example}")
            return None
        value = self.data[name]
        if not isinstance(value, list):
            self.report.add(self.key(name), f"expected an array, got {kind_of(value)}; write {example}")
            return None
        if not value:
            self.report.add(self.key(name), f"must not be empty; add {example}")
            return None
        return [(f"{self.key(name)}[{i}]", item) for i, item in enumerate(value)]


BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def join(prefix: str, name: object) -> str:
    """The key path of ``name`` inside ``prefix`` (quoted when it is no bare TOML key); raises nothing."""
    text = str(name)
    part = text if BARE_KEY.fullmatch(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{prefix}.{part}" if prefix else part


def suggest(name: object, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options``, or ``""``; raises nothing."""
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_key(name: object, known: tuple[str, ...]) -> str:
    hint = suggest(name, known)
    return f"unknown key{hint}" if hint else f"unknown key; remove it (allowed here: {', '.join(known)})"


# ---------------------------------------------------------------- value checks


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
    (list, "an array"), (dict, "a table"), (datetime, "a date-time"), (date, "a date"), (time, "a time"),
)


def kind_of(value: object) -> str:
    """What ``value`` is, in TOML words (``an integer``, ``a table``); raises nothing."""
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def string_value(value: Any) -> str:
    """A non-blank string; raises Invalid."""
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {kind_of(value)}")
    if not value.strip():
        raise Invalid("must not be empty")
    return value


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def name_value(value: Any) -> str:
    """A name (1-64 letters, digits, '.', '-', '_', starting with a letter or digit); raises Invalid."""
    text = string_value(value)
    if not _NAME.fullmatch(text):
        raise Invalid(f"{text!r} is not a valid name: use up to 64 letters, digits, '.', '-' or '_'")
    return text


def integer_in(minimum: int, maximum: int) -> Check[int]:
    """A check for a TOML integer (no float, no boolean) within ``minimum..maximum``; it raises Invalid."""
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer() and minimum <= value <= maximum:
            raise Invalid(f"expected an integer, got a float; write {int(value)}, not {value}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected an integer, got {kind_of(value)}")
        if not minimum <= value <= maximum:
            raise Invalid(f"must be between {minimum} and {maximum}, got {_short(value)}")
        return value

    return check


def number_in(minimum: float, maximum: float, *, allow_minimum: bool = False) -> Check[float]:
    """A check for a finite number above (or at, ``allow_minimum``) ``minimum`` and at most ``maximum``;
    it raises Invalid."""
    low = "at least" if allow_minimum else "greater than"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"expected a number, got {kind_of(value)}")
        too_low = value < minimum or (value == minimum and not allow_minimum)
        if value != value or too_low or value > maximum:  # NaN compares unequal to itself
            raise Invalid(f"must be {low} {minimum} and at most {maximum}, got {_short(value)}")
        return float(value)

    return check


def _short(value: int | float) -> str:
    """``value`` for a message; huge integers are not spelt out."""
    return "a huge number" if isinstance(value, int) and abs(value) >= 10**30 else str(value)


def one_of(options: tuple[str, ...]) -> Check[str]:
    """A check for one of ``options`` (any letter case, returned lower case); it raises Invalid."""
    def check(value: Any) -> str:
        text = string_value(value).lower()
        if text not in options:
            raise Invalid(f"expected one of {', '.join(options)}, got {value!r}{suggest(text, options)}")
        return text

    return check


def url_value(value: Any) -> str:
    """An http(s) URL; raises Invalid. The value is not echoed since RPC URLs often embed API keys."""
    text = string_value(value).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("not a valid URL; write it like http://127.0.0.1:8545") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid(f"expected an http:// or https:// URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise Invalid("the URL has no host; write it like http://127.0.0.1:8545")
    return text


def boolean_value(value: Any) -> bool:
    """``true`` or ``false``; raises Invalid."""
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {value!r}")
    return value
