"""Operator configuration: one TOML file per relayer, validated with dotted key paths.

``load_config`` raises the first problem as a ConfigError; ``check_config`` returns every
problem at once (``relayer config check``). Each error names its key path
(``chains.alpha.rpc[0]``, ``routes[1].to``), what is wrong and what to do. Relative paths
in the file are relative to the file's folder; ``${NAME}`` in ``operator.key_file``,
``operator.password_file`` and ``operator.state_dir`` is replaced by the environment
variable NAME (systemd's ``${CREDENTIALS_DIRECTORY}``, ``${STATE_DIRECTORY}``). The key
(a V3 keystore: the ``relayer.signers`` plugin, see adapters.evm.keys) is read only to derive
its address; neither it nor its password ever appears in an error message.

The core validates the keys every chain has (``COMMON_CHAIN_KEYS``); the options only a chain's
family understands live in ``[chains.NAME.ADAPTER]`` (``[chains.beta.evm]``), which the family's
adapter validates (``parse_config``, relayer.contract.FamilyConfig) with the same key-path errors,
using the helpers of relayer.config_schema. A key an older release took directly under
``[chains.NAME]`` (the family's ``legacy_keys``) is still read from there, with a warning saying
where it moved (``Config.deprecations``). See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from relayer.config_schema import (
    BARE_KEY,
    Check,
    ConfigWarning,
    Invalid,
    Report,
    Table,
    boolean_value,
    integer_in,
    join,
    kind_of,
    name_value,
    number_in,
    one_of,
    string_value,
    suggest,
    url_value,
)
from relayer.errors import ConfigError
from relayer.plugins import ADAPTER_GROUP, LIGHT_CLIENT_GROUP, installed, load, operator_keys
from relayer.types import Address, BlockNumber, ChainId

if TYPE_CHECKING:  # the key family's account type; importing eth_account costs ~0.7 s per command
    from eth_account.signers.local import LocalAccount

__all__ = [
    "ChainConfig",
    "CommitteeConfig",
    "Config",
    "LoggingConfig",
    "MemberConfig",
    "OperatorConfig",
    "RouteConfig",
    "check_config",
    "check_data",
    "load_config",
    "load_operator_key",
    "log_deprecations",
    "parse_config",
]

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_API_LISTEN = "127.0.0.1:7100"
FILE_KEY = "(file)"  # key path of problems with the file as a whole
MAX_MEMBERS = 255  # the on-chain light client stores the threshold as uint8

log = structlog.get_logger("relayer.config")


# ---------------------------------------------------------------- the typed result


@dataclass(frozen=True)
class ChainConfig:
    """One chain of the consortium, as this operator reaches it."""

    name: str
    chain_id: ChainId
    adapter: str
    light_client: str
    rpc: tuple[str, ...]
    confirmations: int
    poll_interval: float
    start_block: BlockNumber
    light_client_options: dict[str, Any] = field(default_factory=dict, hash=False)
    #: The family's own options (``[chains.NAME.ADAPTER]``) as the adapter's ``parse_config`` returned
    #: them (EVM: adapters.evm.config.EvmChainConfig); the core never reads them.
    family: Any = None


@dataclass(frozen=True)
class MemberConfig:
    """One committee member: its signing address and the base URL of its API."""

    name: str
    address: Address
    api: str


@dataclass(frozen=True)
class CommitteeConfig:
    """The M-of-N attestation committee this operator belongs to."""

    threshold: int
    grace_period: float
    members: tuple[MemberConfig, ...]
    epoch: int | None = None  # when set, the on-chain light clients must be at this epoch


@dataclass(frozen=True)
class RouteConfig:
    """Messages from ``source`` are delivered to ``destination`` in batches."""

    source: str
    destination: str
    batch_size: int = 128
    max_attempts: int = 8  # delivery attempts of one message before it is ``failed``
    retry_base: float = 2.0  # seconds before the second attempt; doubled each time, at most 300 s


@dataclass(frozen=True)
class OperatorConfig:
    """This operator: its name, key (and the key's password file), state folder and API address."""

    name: str
    key_file: Path
    state_dir: Path
    api_host: str
    api_port: int
    password_file: Path | None = None
    submit: bool = True  # False: follow and attest only, never send a transaction


@dataclass(frozen=True)
class StoreConfig:
    """Where the state lives: ``url`` a PostgreSQL database (``postgresql://...``, shared by the processes
    of one operator) or None for the SQLite file ``relayer.db`` in ``operator.state_dir``; ``pool_size``:
    connections per process; ``lease_ttl``: seconds a process holds a unit of exclusive work (a destination's
    submitter, a source's follower) without renewing it before another process may take it over."""

    url: str | None = None
    pool_size: int = 4
    lease_ttl: float = 15.0


@dataclass(frozen=True)
class LoggingConfig:
    """Log level (one of ``LOG_LEVELS``)."""

    level: str = "info"


@dataclass(frozen=True)
class Config:
    """A validated operator configuration; ``path`` is the absolute file it came from."""

    path: Path
    operator: OperatorConfig
    logging: LoggingConfig
    committee: CommitteeConfig
    chains: dict[str, ChainConfig] = field(hash=False)
    routes: tuple[RouteConfig, ...]
    #: Keys read from the place an older release wrote them (see log_deprecations).
    deprecations: tuple[ConfigWarning, ...] = ()
    store: StoreConfig = StoreConfig()

    def store_location(self) -> Path | str:
        """What relayer.store.Store opens: ``store.url``, else ``operator.state_dir``/relayer.db."""
        return self.store.url or self.operator.state_dir / "relayer.db"

    def chain(self, name: str) -> ChainConfig:
        """The chain named ``name``; raises ConfigError (key ``chains.NAME``) if none is configured."""
        try:
            return self.chains[name]
        except KeyError:
            known = ", ".join(self.chains) or "none"
            message = f"no such chain; configured chains: {known}{suggest(name, self.chains)}"
            raise ConfigError(join("chains", name), message, file=str(self.path)) from None

    def routes_from(self, name: str) -> tuple[RouteConfig, ...]:
        """Routes whose source is chain ``name`` (possibly none); raises nothing."""
        return tuple(r for r in self.routes if r.source == name)

    def routes_to(self, name: str) -> tuple[RouteConfig, ...]:
        """Routes whose destination is chain ``name`` (possibly none); raises nothing."""
        return tuple(r for r in self.routes if r.destination == name)

    def member(self, address: str) -> MemberConfig | None:
        """The committee member with ``address`` (any letter case), or None; raises nothing."""
        wanted = address.lower()
        return next((m for m in self.committee.members if m.address.lower() == wanted), None)


# ---------------------------------------------------------------- public entry points


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the operator TOML at ``path``.

    Raises ConfigError for the first problem (missing file, TOML syntax with line and
    column, or any invalid value). A keystore is not decrypted here (its ``address`` field
    is checked); ``load_operator_key`` decrypts it.
    """
    config, errors = _load(Path(path), str(path), decrypt=False)
    if errors or config is None:
        raise errors[0]
    return config


def check_config(path: str | os.PathLike[str], *, warnings: list[ConfigWarning] | None = None) -> list[ConfigError]:
    """Every problem of the operator TOML at ``path`` (empty when valid); raises nothing.

    When the keystore's password is available (``operator.password_file`` or the environment
    variable RELAYER_KEYSTORE_PASSWORD) the keystore is decrypted and its key's address
    checked; otherwise its ``address`` field is. What should change although it still works
    (a key in the place an older release read it) is appended to ``warnings`` when given.
    """
    return _load(Path(path), str(path), decrypt=True, warnings=warnings)[1]


def parse_config(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Config:
    """Validate an already parsed TOML document as if read from ``path``.

    Raises ConfigError for the first problem. The keystore is not decrypted (see load_config).
    """
    config, errors = _analyse(data, Path(path), str(path), decrypt=False)
    if errors or config is None:
        raise errors[0]
    return config


def check_data(data: Mapping[str, Any], path: str | os.PathLike[str], *,
               warnings: list[ConfigWarning] | None = None) -> list[ConfigError]:
    """Every problem of an already parsed TOML document as if read from ``path`` (warnings appended
    to ``warnings`` when given, as by check_config); raises nothing."""
    return _analyse(data, Path(path), str(path), decrypt=True, warnings=warnings)[1]


def log_deprecations(config: Config) -> None:
    """Log each key of ``config`` found in its old place (``config.key_moved``, a warning saying where
    it belongs now); called once logging is configured. Raises nothing."""
    for warning in config.deprecations:
        log.warning("config.key_moved", key=warning.key, file=warning.file, action=warning.message)


def load_operator_key(config: Config) -> LocalAccount:
    """The operator's signing account from ``operator.key_file`` (see the key store's ``load_account``).

    The keystore is decrypted with the password from ``operator.password_file`` or, when
    none is configured, the environment variable RELAYER_KEYSTORE_PASSWORD. Raises
    ConfigError (key ``operator.key_file`` or ``operator.password_file``) if a file is
    missing, accessible by group/others, unreadable, holds no valid key or keystore, the
    password is missing or wrong, or the key's address is no committee member. Neither the
    key nor the password ever appears in the message.
    """
    file = str(config.path)
    account: LocalAccount = operator_keys().load_account(config.operator.key_file, config.operator.password_file,
                                                         file=file)
    if config.member(account.address) is None:
        raise ConfigError("operator.key_file", _not_member(Address(account.address)), file=file)
    return account


# ---------------------------------------------------------------- reading the file


def _load(path: Path, file: str, *, decrypt: bool,
          warnings: list[ConfigWarning] | None = None) -> tuple[Config | None, list[ConfigError]]:
    try:
        data = _read_toml(path, file)
    except ConfigError as exc:
        return None, [exc]
    return _analyse(data, path, file, decrypt=decrypt, warnings=warnings)


def _read_toml(path: Path, file: str) -> dict[str, Any]:
    """The parsed document; raises ConfigError (key ``(file)`` or ``line L, column C``)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        message = "no such file; pass the path of an operator config (see configs/example-operator.toml)"
        raise ConfigError(FILE_KEY, message, file=file) from None
    except IsADirectoryError:
        raise ConfigError(FILE_KEY, "is a folder; pass the path of the TOML file", file=file) from None
    except PermissionError:
        message = "permission denied; make it readable by the user running the relayer"
        raise ConfigError(FILE_KEY, message, file=file) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (undecodable byte at offset {exc.start}); save the file as UTF-8"
        raise ConfigError(FILE_KEY, message, file=file) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(FILE_KEY, f"cannot read: {_os_reason(exc)}", file=file) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, file) from None


_TOML_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def _syntax_error(exc: tomllib.TOMLDecodeError, file: str) -> ConfigError:
    reason = str(exc)
    match = _TOML_POSITION.search(reason)
    if match is None:
        return ConfigError(FILE_KEY, f"invalid TOML: {reason}", file=file)
    where = f"line {match[1]}, column {match[2]}" if match[1] else "end of file"
    message = f"invalid TOML: {reason[: match.start()]}; fix the syntax there"
    return ConfigError(where, message, file=file)


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


# ---------------------------------------------------------------- value checks (generic ones: config_schema)


def _address_check() -> Check[Address]:
    """A check of operators' addresses by the key family's plugin (``relayer.signers``), loaded at the
    first address and kept for the next ones. The check raises Invalid (ConfigError: no such plugin)."""
    loaded: list[Any] = []

    def check(value: Any) -> Address:
        if not loaded:
            loaded.append(operator_keys())
        return Address(loaded[0].parse_address(value))

    return check


def _listen(value: Any) -> tuple[str, int]:
    text = string_value(value)
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    valid_port = port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535
    if not host or not valid_port:
        raise Invalid(f"expected host:port such as {DEFAULT_API_LISTEN}, got {text!r}")
    return host, int(port)


_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYSTEMD_VARIABLES = {
    "CREDENTIALS_DIRECTORY": "LoadCredential=",
    "STATE_DIRECTORY": "StateDirectory=",
    "CONFIGURATION_DIRECTORY": "ConfigurationDirectory=",
    "RUNTIME_DIRECTORY": "RuntimeDirectory=",
    "CACHE_DIRECTORY": "CacheDirectory=",
    "LOGS_DIRECTORY": "LogsDirectory=",
}


def _expand(text: str) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment variable NAME (``$NAME`` stays)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if not _ENV_NAME.fullmatch(name):
            raise Invalid(f"${{{name}}} is not a variable reference; write ${{NAME}} (letters, digits, '_')")
        found = os.environ.get(name)
        if not found:
            setting = _SYSTEMD_VARIABLES.get(name)
            hint = (f"; systemd sets it for units with {setting}, elsewhere export it or write the path"
                    if setting else "; export it or write the path")
            raise Invalid(f"environment variable {name} (in ${{{name}}}) is not set{hint}")
        return found

    return _ENV_REFERENCE.sub(value, text)


def _path(base: Path) -> Check[Path]:
    def check(value: Any) -> Path:
        text = _expand(string_value(value))
        if "\x00" in text:
            raise Invalid("a path cannot contain a NUL character")
        try:
            path = Path(text).expanduser()
        except RuntimeError:
            raise Invalid(f"cannot expand {text!r}: unknown home folder") from None
        return path if path.is_absolute() else base / path

    return check


def _folder(base: Path) -> Check[Path]:
    as_path = _path(base)

    def check(value: Any) -> Path:
        path = as_path(value)
        try:
            exists_as_other = path.exists() and not path.is_dir()
        except (OSError, ValueError) as exc:
            raise Invalid(f"cannot access {path}: {_os_reason(exc)}") from None
        if exists_as_other:
            raise Invalid(f"{path} exists and is not a folder; point it at a folder (it is created if missing)")
        return path

    return check


def _plugin(group: str, what: str) -> Check[str]:
    names = installed(group)

    def check(value: Any) -> str:
        name = string_value(value)
        if name not in names:
            listed = ", ".join(names) or "none"
            raise Invalid(
                f"{what} {name!r} is not installed (installed {what}s: {listed}){suggest(name, names)}; "
                f"install the package that provides it under entry point group {group}"
            )
        return name

    return check


# ---------------------------------------------------------------- the key file


def _not_member(address: Address) -> str:
    return (
        f"the key's address {address} is not a committee member; "
        "use this operator's own key or add its address to committee.members"
    )


# ---------------------------------------------------------------- sections


_ROOT_KEYS = ("operator", "logging", "committee", "chains", "routes", "store")
_STORE_KEYS = ("url", "pool_size", "lease_ttl")
_OPERATOR_KEYS = ("name", "key_file", "password_file", "state_dir", "api_listen", "submit")
_COMMITTEE_KEYS = ("threshold", "grace_period", "members", "epoch")
_MEMBER_KEYS = ("name", "address", "api")
#: The keys every chain has, whatever its family; the family's own live in [chains.NAME.ADAPTER].
COMMON_CHAIN_KEYS = (
    "chain_id", "adapter", "light_client", "rpc", "confirmations", "poll_interval", "start_block",
    "light_client_options",
)
_ROUTE_KEYS = ("from", "to", "batch_size", "max_attempts", "retry_base")
_UINT64 = 2**64 - 1


@dataclass
class _Operator:
    """The operator section plus what the key file told us (its address, if valid)."""

    config: OperatorConfig | None
    address: Address | None


def _analyse(data: Any, path: Path, file: str, *, decrypt: bool,
             warnings: list[ConfigWarning] | None = None) -> tuple[Config | None, list[ConfigError]]:
    report = Report(file)
    try:
        return _analyse_into(report, data, path, decrypt=decrypt)
    finally:
        if warnings is not None:
            warnings.extend(report.warnings)


def _analyse_into(report: Report, data: Any, path: Path, *, decrypt: bool) -> tuple[Config | None, list[ConfigError]]:
    if not isinstance(data, Mapping):
        report.add(FILE_KEY, f"expected a TOML document, got {kind_of(data)}")
        return None, report.errors
    path = path.absolute()
    root = Table(data, "", report, _ROOT_KEYS)
    operator = _operator(root.table("operator", _OPERATOR_KEYS, example="an [operator] table"), path.parent,
                         decrypt=decrypt)
    logging = _logging(root.table("logging", ("level",)))
    store = _store(root.table("store", _STORE_KEYS))
    committee = _committee(root.table("committee", _COMMITTEE_KEYS, example="a [committee] table"))
    chains = _chains(root)
    routes = _routes(root, _chain_names(data))
    _check_identity(report, operator, committee)
    config = operator.config
    if (report.errors or config is None or logging is None or committee is None or chains is None or routes is None
            or store is None):
        return None, report.errors
    return Config(path, config, logging, committee, chains, routes, tuple(report.warnings), store=store), []


def _operator(t: Table | None, base: Path, *, decrypt: bool) -> _Operator:
    if t is None:
        return _Operator(None, None)
    name = t.get("name", name_value, example='name = "operator-1"')
    key_file = t.get("key_file", _path(base), example='key_file = "keys/operator-1.json"')
    password_file = t.get("password_file", _path(base)) if "password_file" in t.data else None
    password_ok = "password_file" not in t.data or password_file is not None
    state_dir = t.get("state_dir", _folder(base), example='state_dir = "state/operator-1"')
    listen = t.get("api_listen", _listen, DEFAULT_API_LISTEN)
    submit = t.get("submit", boolean_value, True)
    address = None
    if key_file is not None:
        address = _key_address(t, key_file, password_file, decrypt=decrypt and password_ok)
    if name is None or key_file is None or not password_ok or state_dir is None or listen is None or submit is None:
        return _Operator(None, address)
    return _Operator(OperatorConfig(name, key_file, state_dir, *listen, password_file=password_file, submit=submit),
                     address)


def _key_address(t: Table, key_file: Path, password_file: Path | None, *, decrypt: bool) -> Address | None:
    """The key's address (decrypted when ``decrypt`` and a password is available); reports problems."""
    try:
        found: tuple[list[Any], Address | None] = operator_keys().check_key(key_file, password_file, decrypt=decrypt)
        problems, address = found
    except ConfigError as exc:  # no key store of the operator's family is installed
        t.report.add(exc.key, exc.message)
        return None
    for problem in problems:
        t.report.add(problem.key, problem.message)
    return address


def _store(t: Table | None) -> StoreConfig | None:
    if t is None:
        return None
    url = t.get("url", _database_url) if "url" in t.data else None
    pool_size = t.get("pool_size", integer_in(1, 64), 4)
    lease_ttl = t.get("lease_ttl", number_in(2, 3600), 15.0)
    if ("url" in t.data and url is None) or pool_size is None or lease_ttl is None:
        return None
    return StoreConfig(url, pool_size, float(lease_ttl))


def _database_url(value: Any) -> str:
    """A PostgreSQL connection URL (not echoed: it may hold a password); raises Invalid."""
    from relayer.store_postgres import describe, is_postgresql  # psycopg: only for configurations that name it

    text = _expand(string_value(value)).strip()
    if not is_postgresql(text):
        raise Invalid("expected a postgresql:// URL such as postgresql://relayer@db.example:5432/relayer "
                      "(leave store.url out for the SQLite file in operator.state_dir)")
    try:
        describe(text)
    except ValueError as exc:
        raise Invalid(f"not a valid PostgreSQL URL: {exc}") from None
    return text


def _logging(t: Table | None) -> LoggingConfig | None:
    level = None if t is None else t.get("level", one_of(LOG_LEVELS), "info")
    return None if level is None else LoggingConfig(level)


def _committee(t: Table | None) -> CommitteeConfig | None:
    if t is None:
        return None
    members = _members(t)
    threshold = t.get("threshold", integer_in(1, MAX_MEMBERS), example="threshold = 2")
    grace = t.get("grace_period", number_in(0, 86_400), 8.0)
    epoch = t.get("epoch", integer_in(0, _UINT64)) if "epoch" in t.data else None
    if members is not None and threshold is not None:
        threshold = _check_threshold(t, threshold, len(members))
    if members is None or None in members or threshold is None or grace is None:
        return None
    if "epoch" in t.data and epoch is None:
        return None
    return CommitteeConfig(threshold, grace, tuple(m for m in members if m is not None), epoch)


def _check_threshold(t: Table, threshold: int, count: int) -> int | None:
    least = count // 2 + 1
    if least <= threshold <= count:
        return threshold
    t.report.add(
        t.key("threshold"),
        f"must be more than half of the {count} committee members and at most {count} "
        f"(between {least} and {count}), got {threshold}",
    )
    return None


def _members(t: Table) -> list[MemberConfig | None] | None:
    entries = t.array("members", example="a [[committee.members]] table per member")
    if entries is None:
        return None
    if len(entries) > MAX_MEMBERS:
        t.report.add(t.key("members"), f"at most {MAX_MEMBERS} members are supported, got {len(entries)}")
    names: dict[Any, str] = {}
    addresses: dict[Any, str] = {}
    address = _address_check()
    return [_member(Table.at(t.report, key, raw, _MEMBER_KEYS), names, addresses, address) for key, raw in entries]


def _member(t: Table | None, names: dict[Any, str], addresses: dict[Any, str],
            address_check: Check[Address]) -> MemberConfig | None:
    if t is None:
        return None
    name = t.get("name", name_value, example='name = "operator-1"')
    address = t.get("address", address_check, example='address = "0x..."')
    api = t.get("api", url_value, example='api = "http://127.0.0.1:7101"')
    if name is not None:
        t.report.unique(t.key("name"), name, names, "member name")
    if address is not None:
        t.report.unique(t.key("address"), address, addresses, "member address")
    if name is None or address is None or api is None:
        return None
    return MemberConfig(name, address, api.rstrip("/"))


def _check_identity(report: Report, operator: _Operator, committee: CommitteeConfig | None) -> None:
    """operator.name must be a member, and the key's address must be that member's."""
    if committee is None:
        return
    named = None if operator.config is None else _member_named(report, operator.config.name, committee)
    owner = next((m for m in committee.members if m.address == operator.address), None)
    if operator.address is not None and owner is None:
        report.add("operator.key_file", _not_member(operator.address))
    elif owner is not None and named is not None and owner is not named:
        report.add(
            "operator.key_file",
            f"the key's address {owner.address} belongs to committee member {owner.name!r}, not to "
            f"{named.name!r} (operator.name); use {named.name}'s key or fix operator.name",
        )


def _member_named(report: Report, name: str, committee: CommitteeConfig) -> MemberConfig | None:
    by_name = {m.name: m for m in committee.members}
    if name not in by_name:
        report.add(
            "operator.name",
            f"no committee member is named {name!r} (members: {', '.join(by_name)}){suggest(name, by_name)}; "
            "use this operator's name in committee.members",
        )
    return by_name.get(name)


def _chains(root: Table) -> dict[str, ChainConfig] | None:
    raw = root.mapping("chains", example="a [chains.NAME] table per chain")
    if raw is None:
        return None
    if not raw:
        root.report.add("chains", "no chains configured; add a [chains.NAME] table per chain")
        return None
    checks = (_plugin(ADAPTER_GROUP, "adapter"), _plugin(LIGHT_CLIENT_GROUP, "light client"))
    chain_ids: dict[Any, str] = {}
    families: dict[str, _Family | None] = {}
    chains = {name: _chain_at(root.report, name, value, checks, chain_ids, families) for name, value in raw.items()}
    return None if None in chains.values() else {k: v for k, v in chains.items() if v is not None}


def _chain_names(data: Mapping[str, Any]) -> set[str] | None:
    """Names of the [chains.NAME] tables, valid or not; None when there are none to refer to."""
    chains = data.get("chains")
    if not isinstance(chains, Mapping) or not chains:
        return None
    return {str(name) for name in chains}


def _chain_at(
    report: Report, name: Any, value: Any, checks: tuple[Check[str], Check[str]], chain_ids: dict[Any, str],
    families: dict[str, _Family | None],
) -> ChainConfig | None:
    key = join("chains", name)
    if not BARE_KEY.fullmatch(str(name)):
        report.add(key, "a chain name may only use letters, digits, '-' and '_'; rename the table")
        return None
    if not isinstance(value, Mapping):
        report.add(key, f"expected a table, got {kind_of(value)}")
        return None
    adapter = report.check(join(key, "adapter"), value.get("adapter", "evm"), checks[0])
    family = None if adapter is None else _family(report, key, adapter, families)
    if family is None:  # the family is unknown: its keys cannot be told from unknown ones
        keys = (*COMMON_CHAIN_KEYS, *(k for k in value if k not in COMMON_CHAIN_KEYS))
    else:
        keys = (*COMMON_CHAIN_KEYS, adapter, *sorted(family.legacy_keys))
    t = Table(value, key, report, keys)
    return _chain(str(name), t, adapter, family, checks[1], chain_ids)


def _chain(
    name: str, t: Table, adapter: str | None, family: _Family | None, light_client: Check[str],
    chain_ids: dict[Any, str],
) -> ChainConfig | None:
    chain_id = t.get("chain_id", integer_in(1, _UINT64), example="chain_id = 31337")
    if chain_id is not None:
        t.report.unique(t.key("chain_id"), chain_id, chain_ids, "chain id")
    fields: dict[str, Any] = {
        "light_client": t.get("light_client", light_client, "evm"),
        "rpc": _rpc(t),
        "confirmations": t.get("confirmations", integer_in(0, 10_000), 12),
        "poll_interval": t.get("poll_interval", number_in(0, 3_600), 2.0),
        "start_block": t.get("start_block", integer_in(0, _UINT64), 0),
        "light_client_options": t.mapping("light_client_options"),
    }
    options = None if adapter is None or family is None else family.parse(t, adapter)
    if chain_id is None or adapter is None or options is None or None in fields.values():
        return None
    fields["light_client_options"] = dict(fields["light_client_options"])
    return ChainConfig(name=name, chain_id=ChainId(chain_id), adapter=adapter, family=options.value, **fields)


@dataclass(frozen=True)
class _Parsed:
    value: Any  # what the family's parser returned (possibly None)


@dataclass(frozen=True)
class _Family:
    """How a chain family's adapter reads its table ``[chains.NAME.ADAPTER]`` (relayer.contract.FamilyConfig)."""

    parser: Callable[[Mapping[str, Any], str], Any] | None  # None: the table is passed through as it is
    legacy_keys: frozenset[str]

    def parse(self, t: Table, adapter: str) -> _Parsed | None:
        """The family's options of the chain in ``t``, or None after reporting its problems.

        Keys an older release took directly under [chains.NAME] (``legacy_keys``) are read from there
        when the family's table lacks them, with a warning saying where each moved; problems in such
        a value are reported at the key path where it is written."""
        table = t.mapping(adapter)
        if table is None:
            return None
        path = t.key(adapter)
        table, moved = self._merge_legacy(t, adapter, dict(table))
        if moved is None:
            return None
        if self.parser is None:
            return _Parsed(table)
        try:
            return _Parsed(self.parser(table, path))
        except ConfigError as exc:
            errors = getattr(exc, "errors", None) or [exc]
            for error in errors:
                t.report.add(_written_at(error.key, moved), error.message)
            return None

    def _merge_legacy(self, t: Table, adapter: str,
                      table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        """``table`` with the legacy keys of ``t`` added, and {new key path: old key path} of each; None
        instead of the latter after reporting a key set in both places."""
        moved: dict[str, str] = {}  # new key path -> old key path of each value read from the old place
        clash = False
        for name in sorted(self.legacy_keys & set(t.data)):
            old, new = t.key(name), join(t.key(adapter), name)
            if name in table:
                t.report.add(old, f"moved to {new}, which is set too; remove this one")
                clash = True
                continue
            table[name] = t.data[name]
            moved[new] = old
            t.report.warn(old, _moved_hint(t.path, adapter, name, t.data[name]))
        return table, None if clash else moved


def _moved_hint(chain: str, adapter: str, name: str, value: Any) -> str:
    new = join(join(chain, adapter), name)
    if isinstance(value, Mapping):
        how = f"rename the table [{join(chain, name)}] to [{new}]"
    else:
        how = f"move the line `{name} = ...` into a [{join(chain, adapter)}] table"
    return f"moved to {new}; still read from here for now: {how}"


def _written_at(key: str, moved: Mapping[str, str]) -> str:
    """``key`` (a family's key path) as written in the file: a value read from its old place is named there."""
    for new, old in moved.items():
        if key == new or key.startswith((new + ".", new + "[")):
            return old + key[len(new):]
    return key


def _family(report: Report, chain_key: str, adapter: str, families: dict[str, _Family | None]) -> _Family | None:
    """The family of an installed adapter (loaded once per analysis), or None after reporting why not."""
    if adapter not in families:
        try:
            cls = load(ADAPTER_GROUP, adapter, key=join(chain_key, "adapter"))
        except ConfigError as exc:
            report.add(exc.key, exc.message)
            families[adapter] = None
        else:
            families[adapter] = _Family(getattr(cls, "parse_config", None),
                                        frozenset(getattr(cls, "legacy_keys", ())))
    return families[adapter]


def _rpc(t: Table) -> tuple[str, ...] | None:
    if "rpc" not in t.data:
        t.missing("rpc", 'rpc = ["http://127.0.0.1:8545"]')
        return None
    value = t.data["rpc"]
    if isinstance(value, str):
        url = t.report.check(t.key("rpc"), value, url_value)
        return None if url is None else (url,)
    if not isinstance(value, list) or not value:
        t.report.add(t.key("rpc"), f"expected one or more URLs, got {kind_of(value) if value else 'an empty array'}")
        return None
    urls = [t.report.check(f"{t.key('rpc')}[{i}]", item, url_value) for i, item in enumerate(value)]
    return None if None in urls else tuple(u for u in urls if u is not None)


def _routes(root: Table, chains: set[str] | None) -> tuple[RouteConfig, ...] | None:
    entries = root.array("routes", example='a [[routes]] table with from = "alpha" and to = "beta"')
    if entries is None:
        return None
    seen: dict[Any, str] = {}
    routes = [_route(Table.at(root.report, key, raw, _ROUTE_KEYS), chains, seen) for key, raw in entries]
    return None if None in routes else tuple(r for r in routes if r is not None)


def _route(t: Table | None, chains: set[str] | None, seen: dict[Any, str]) -> RouteConfig | None:
    if t is None:
        return None
    check = string_value if chains is None else _chain_name(chains)
    source = t.get("from", check, example='from = "alpha"')
    destination = t.get("to", check, example='to = "beta"')
    batch_size = t.get("batch_size", integer_in(1, 10_000), RouteConfig.batch_size)
    max_attempts = t.get("max_attempts", integer_in(1, 1000), RouteConfig.max_attempts)
    retry_base = t.get("retry_base", number_in(0.1, 3600), RouteConfig.retry_base)
    if source is not None and source == destination:
        t.report.add(t.key("to"), f"a route cannot end on the chain it starts from ({source!r}); name another chain")
        return None
    if source is not None and destination is not None:
        t.report.unique(t.path, (source, destination), seen, f"route {source} -> {destination}")
    if source is None or destination is None or batch_size is None or max_attempts is None or retry_base is None:
        return None
    return RouteConfig(source, destination, batch_size, max_attempts, retry_base)


def _chain_name(chains: set[str]) -> Check[str]:
    def check(value: Any) -> str:
        name = string_value(value)
        if name not in chains:
            known = ", ".join(sorted(chains))
            raise Invalid(f"unknown chain {name!r} (configured chains: {known}){suggest(name, chains)}")
        return name

    return check
