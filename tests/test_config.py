"""relayer.config: the example loads; every kind of problem names its key path."""

from __future__ import annotations

import copy
import json
import math
import tomllib
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.evm.config import EvmChainConfig, FeeConfig
from relayer.config import (
    ChainConfig,
    RouteConfig,
    check_config,
    check_data,
    load_config,
    load_operator_key,
    parse_config,
)
from relayer.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# A fixed, throwaway key so that a leak is easy to search for in every message.
KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ACCOUNT = Account.from_key(bytes.fromhex(KEY_HEX))
PASSWORD = "correct horse battery staple"
# Cheap key derivation: tests decrypt many times. Real keystores use scrypt (relayer keys new).
KEYSTORE = Account.encrypt(ACCOUNT.key, PASSWORD, kdf="pbkdf2", iterations=1024)


def write_key(path: Path, text: str = "0x" + KEY_HEX + "\n", mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def write_keystore(folder: Path) -> None:
    """ACCOUNT's keystore and its password file where the example expects them, mode 0600."""
    write_key(folder / "keys" / "operator-1.json", json.dumps(KEYSTORE))
    write_key(folder / "keys" / "operator-1.password", PASSWORD + "\n")


@pytest.fixture
def operator_dir(tmp_path: Path) -> Path:
    """A folder holding the example (operator-1 = ACCOUNT), its keystore and password file, mode 0600."""
    write_keystore(tmp_path)
    text = EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, ACCOUNT.address)
    (tmp_path / "operator.toml").write_text(text)
    return tmp_path


@pytest.fixture
def config_path(operator_dir: Path) -> Path:
    return operator_dir / "operator.toml"


@pytest.fixture
def example(config_path: Path) -> dict[str, Any]:
    """The example document, parsed, to be changed by a test and checked with check_data."""
    return tomllib.loads(config_path.read_text())


def problems(data: dict[str, Any], config_path: Path) -> dict[str, str]:
    """{key path: message} of every problem of ``data`` read as if from ``config_path``."""
    errors = check_data(data, config_path)
    assert all(isinstance(e, ConfigError) and e.file == str(config_path) for e in errors)
    return {e.key: e.message for e in errors}


# ---------------------------------------------------------------- valid files


def test_example_is_valid_except_for_its_missing_key_files() -> None:
    errors = check_config(EXAMPLE)
    assert [e.key for e in errors] == ["operator.key_file", "operator.password_file"]
    assert all("does not exist" in e.message for e in errors)


def test_example_loads_into_typed_config(config_path: Path, operator_dir: Path) -> None:
    config = load_config(config_path)
    assert config.path == config_path
    assert config.operator.name == "operator-1"
    assert config.operator.key_file == operator_dir / "keys" / "operator-1.json"
    assert config.operator.password_file == operator_dir / "keys" / "operator-1.password"
    assert config.operator.state_dir == operator_dir / "state" / "operator-1"
    assert (config.operator.api_host, config.operator.api_port) == ("127.0.0.1", 7101)
    assert config.logging.level == "info"
    assert (config.committee.threshold, config.committee.grace_period) == (2, 8.0)
    assert [m.name for m in config.committee.members] == ["operator-1", "operator-2", "operator-3"]
    assert config.chain("beta") == ChainConfig(
        name="beta", chain_id=31338, adapter="evm", light_client="evm",
        rpc=("http://127.0.0.1:8546", "http://127.0.0.1:8556"), confirmations=2, poll_interval=0.5,
        start_block=0, light_client_options={},
        family=EvmChainConfig("0x5FbDB2315678afecb367f032d93F642f64180aa3", FeeConfig(200.0, 1.0, 1.3)),
    )
    assert config.deprecations == ()
    assert config.routes == (RouteConfig("alpha", "beta", 128), RouteConfig("beta", "alpha", 128))


def test_helpers(config_path: Path) -> None:
    config = load_config(config_path)
    assert config.routes_from("alpha") == (RouteConfig("alpha", "beta", 128),)
    assert config.routes_to("alpha") == (RouteConfig("beta", "alpha", 128),)
    assert config.routes_from("gamma") == ()
    assert config.member(ACCOUNT.address.lower()) == config.committee.members[0]
    assert config.member("0x" + "11" * 20) is None
    with pytest.raises(ConfigError) as caught:
        config.chain("alhpa")
    assert caught.value.key == "chains.alhpa" and "'alpha'" in caught.value.message


def test_defaults_and_lenient_forms(example: dict[str, Any], config_path: Path) -> None:
    alpha = example["chains"]["alpha"]
    for key in ("adapter", "light_client", "confirmations", "poll_interval", "start_block",
                "light_client_options"):
        del alpha[key]
    del alpha["evm"]["fees"]
    alpha["rpc"] = "https://rpc.example.org/v1"  # a single endpoint as a plain string
    alpha["evm"]["message_layer"] = alpha["evm"]["message_layer"].lower()  # all-lowercase skips the checksum
    del example["logging"], example["operator"]["api_listen"], example["committee"]["grace_period"]
    del example["routes"][0]["batch_size"]
    config = parse_config(example, config_path)
    chain = config.chain("alpha")
    assert (chain.adapter, chain.light_client, chain.confirmations) == ("evm", "evm", 12)
    assert (chain.poll_interval, chain.start_block) == (2.0, 0)
    assert chain.family.fees == FeeConfig() and chain.light_client_options == {}
    assert chain.rpc == ("https://rpc.example.org/v1",)
    assert chain.family.message_layer == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert (config.operator.api_host, config.operator.api_port) == ("127.0.0.1", 7100)
    assert config.logging.level == "info" and config.committee.grace_period == 8.0
    assert config.routes[0].batch_size == 128


def test_light_client_options_are_passed_through(example: dict[str, Any], config_path: Path) -> None:
    example["chains"]["alpha"]["light_client_options"] = {"validators": ["0x" + "11" * 20], "epoch": 30000}
    config = parse_config(example, config_path)
    assert config.chain("alpha").light_client_options == {"validators": ["0x" + "11" * 20], "epoch": 30000}


# ---------------------------------------------------------------- one problem, one key path


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change of ``data`` at a dotted path with [i] indexes (value _DELETE removes the key)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = _parts(path)
        node: Any = data
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.split("."):
        name, *indexes = piece.split("[")
        parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indexes)
    return parts


_DELETE = object()
MEMBER_2 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("rpc scheme", _set("chains.alpha.rpc[0]", "ftp://127.0.0.1:8545"), "chains.alpha.rpc[0]", "http"),
    ("rpc no host", _set("chains.alpha.rpc[0]", "http://"), "chains.alpha.rpc[0]", "no host"),
    ("rpc empty", _set("chains.alpha.rpc", []), "chains.alpha.rpc", "URLs"),
    ("rpc not string", _set("chains.beta.rpc[1]", 8545), "chains.beta.rpc[1]", "string"),
    ("route unknown chain", _set("routes[1].to", "gamma"), "routes[1].to", "unknown chain 'gamma'"),
    ("route from itself", _set("routes[0].to", "alpha"), "routes[0].to", "cannot end on the chain"),
    ("route missing from", _set("routes[0].from", _DELETE), "routes[0].from", "missing"),
    ("route batch 0", _set("routes[0].batch_size", 0), "routes[0].batch_size", "between 1"),
    ("no routes", _set("routes", []), "routes", "must not be empty"),
    ("duplicate member address", _set("committee.members[2].address", MEMBER_2),
     "committee.members[2].address", "duplicate"),
    ("duplicate member name", _set("committee.members[2].name", "operator-2"),
     "committee.members[2].name", "duplicate"),
    ("bad checksum", _set("committee.members[1].address", MEMBER_2.replace("C8", "c8")),
     "committee.members[1].address", "checksum"),
    ("short address", _set("committee.members[1].address", "0x1234"), "committee.members[1].address", "40 hex"),
    ("member api", _set("committee.members[0].api", "127.0.0.1:7101"), "committee.members[0].api", "http"),
    ("threshold not majority", _set("committee.threshold", 1), "committee.threshold", "more than half"),
    ("threshold too big", _set("committee.threshold", 4), "committee.threshold", "at most 3"),
    ("threshold string", _set("committee.threshold", "2"), "committee.threshold", "expected an integer"),
    ("threshold float", _set("committee.threshold", 2.0), "committee.threshold", "write 2"),
    ("grace negative", _set("committee.grace_period", -1), "committee.grace_period", "greater than 0"),
    ("no members", _set("committee.members", []), "committee.members", "must not be empty"),
    ("duplicate chain id", _set("chains.beta.chain_id", 31337), "chains.beta.chain_id", "chains.alpha.chain_id"),
    ("chain id zero", _set("chains.alpha.chain_id", 0), "chains.alpha.chain_id", "between 1"),
    ("chain id bool", _set("chains.alpha.chain_id", True), "chains.alpha.chain_id", "boolean"),
    ("chain id missing", _set("chains.alpha.chain_id", _DELETE), "chains.alpha.chain_id", "missing"),
    ("confirmations negative", _set("chains.alpha.confirmations", -1), "chains.alpha.confirmations", "between 0"),
    ("poll nan", _set("chains.alpha.poll_interval", math.nan), "chains.alpha.poll_interval", "greater than 0"),
    ("poll inf", _set("chains.alpha.poll_interval", math.inf), "chains.alpha.poll_interval", "at most"),
    # removed: the follower reads message-layer logs one scan step (100 blocks) per eth_getLogs, so it set nothing
    ("submit not a boolean", _set("operator.submit", "no"), "operator.submit", "expected true or false"),
    ("removed log_page_size", _set("chains.beta.log_page_size", 2000), "chains.beta.log_page_size", "unknown key"),
    ("layer zero", _set("chains.alpha.evm.message_layer", "0x" + "0" * 40), "chains.alpha.evm.message_layer",
     "zero address"),
    ("layer missing", _set("chains.alpha.evm.message_layer", _DELETE), "chains.alpha.evm.message_layer", "missing"),
    ("layer checksum", _set("chains.beta.evm.message_layer", "0x5fbDB2315678afecb367f032d93F642f64180aa3"),
     "chains.beta.evm.message_layer", "checksum"),
    ("evm not a table", _set("chains.beta.evm", "x"), "chains.beta.evm", "expected a table"),
    ("evm unknown key", _set("chains.beta.evm.message_layr", "0x"), "chains.beta.evm.message_layr",
     "did you mean 'message_layer'"),
    ("max fee negative", _set("chains.beta.evm.fees.max_fee_gwei", -1), "chains.beta.evm.fees.max_fee_gwei",
     "greater than 0"),
    ("fees unknown key", _set("chains.beta.evm.fees.max_gwei", 1), "chains.beta.evm.fees.max_gwei", "unknown key"),
    ("adapter not installed", _set("chains.alpha.adapter", "evmx"), "chains.alpha.adapter", "installed adapters: evm"),
    ("light client not installed", _set("chains.beta.light_client", "sync-committee"), "chains.beta.light_client",
     "not installed"),
    ("fees priority above max", _set("chains.alpha.evm.fees.priority_fee_gwei", 600.0),
     "chains.alpha.evm.fees.priority_fee_gwei", "max_fee_gwei"),
    ("gas multiplier", _set("chains.alpha.evm.fees.gas_multiplier", 0.5), "chains.alpha.evm.fees.gas_multiplier",
     "at least 1"),
    ("fee mode", _set("chains.alpha.evm.fees.mode", "legacyy"), "chains.alpha.evm.fees.mode",
     "auto, eip1559, legacy"),
    ("options not a table", _set("chains.alpha.light_client_options", "x"), "chains.alpha.light_client_options",
     "table"),
    ("chain name", _set("chains.al pha", {}), 'chains."al pha"', "letters, digits"),
    ("chain not a table", _set("chains.beta", 3), "chains.beta", "expected a table"),
    ("no chains", _set("chains", {}), "chains", "no chains"),
    ("unknown chain key", _set("chains.alpha.confirmation", 3), "chains.alpha.confirmation",
     "did you mean 'confirmations'"),
    ("unknown top key", _set("chain", {}), "chain", "did you mean 'chains'"),
    ("unknown key no match", _set("operator.zzz", 1), "operator.zzz", "allowed here: name"),
    ("operator name", _set("operator.name", "operator-9"), "operator.name", "no committee member"),
    ("operator missing", _set("operator", _DELETE), "operator", "missing"),
    ("api listen", _set("operator.api_listen", "localhost"), "operator.api_listen", "host:port"),
    ("api port", _set("operator.api_listen", "127.0.0.1:70000"), "operator.api_listen", "host:port"),
    ("log level", _set("logging.level", "verbose"), "logging.level", "debug, info, warning, error"),
    ("key file missing", _set("operator.key_file", "keys/nope.key"), "operator.key_file", "does not exist"),
]


@pytest.mark.parametrize(("change", "key", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_names_its_key(
    example: dict[str, Any], config_path: Path, change: Callable[[dict[str, Any]], None], key: str, words: str
) -> None:
    change(example)
    found = problems(example, config_path)
    assert key in found, found
    assert words in found[key]
    with pytest.raises(ConfigError) as caught:
        parse_config(example, config_path)
    assert str(caught.value).startswith(f"{config_path}: ")


def test_check_collects_every_problem_at_once(example: dict[str, Any], config_path: Path) -> None:
    example["chains"]["alpha"]["rpc"] = ["http://ok:1", "ws://bad:2"]
    example["routes"][1]["to"] = "gamma"
    example["committee"]["members"][2]["address"] = "not an address"
    example["chains"]["beta"]["confirmatons"] = 1
    example["chains"]["beta"]["evm"]["message_layer"] = "0x" + "0" * 40
    example["chains"]["beta"]["evm"]["fees"]["mode"] = "fast"
    (config_path.parent / "bad.toml").write_text(_dump(example))
    errors = check_config(config_path.parent / "bad.toml")
    assert sorted(e.key for e in errors) == [
        "chains.alpha.rpc[1]", "chains.beta.confirmatons", "chains.beta.evm.fees.mode", "chains.beta.evm.message_layer",
        "committee.members[2].address", "routes[1].to",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(config_path.parent / "bad.toml")
    assert str(caught.value) == str(errors[0])


def test_problem_message_format(example: dict[str, Any], config_path: Path) -> None:
    example["routes"][1]["to"] = "alhpa"
    (error,) = check_data(example, config_path)
    assert str(error) == (
        f"{config_path}: routes[1].to: unknown chain 'alhpa' (configured chains: alpha, beta); did you mean 'alpha'?"
    )


# ---------------------------------------------------------------- the file itself


def test_missing_file(tmp_path: Path) -> None:
    (error,) = check_config(tmp_path / "nope.toml")
    assert error.key == "(file)" and "no such file" in error.message
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    (error,) = check_config(tmp_path)
    assert "folder" in error.message


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[operator]\nname = "x"\nkey_file = \n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "line 3, column 12"
    assert str(caught.value).startswith(f"{path}: line 3, column 12: invalid TOML: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[operator]\nname = "op\xe9"\n')
    (error,) = check_config(path)
    assert "UTF-8" in error.message


# ---------------------------------------------------------------- the key file


def test_load_operator_key(config_path: Path) -> None:
    account = load_operator_key(load_config(config_path))
    assert account.address == ACCOUNT.address


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_open_to_others_is_refused(config_path: Path, operator_dir: Path, mode: int) -> None:
    key = operator_dir / "keys" / "operator-1.json"
    key.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        load_config(config_path)
    assert caught.value.key == "operator.key_file"
    assert f"chmod 600 {key}" in caught.value.message
    assert f"{mode:04o}" in caught.value.message


def test_load_operator_key_checks_the_mode_again(config_path: Path, operator_dir: Path) -> None:
    config = load_config(config_path)
    (operator_dir / "keys" / "operator-1.json").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_operator_key(config)


def test_key_of_another_member(example: dict[str, Any], config_path: Path) -> None:
    example["operator"]["name"] = "operator-2"
    found = problems(example, config_path)
    assert "belongs to committee member 'operator-1'" in found["operator.key_file"]


KEY_CONTENTS = {
    "garbage": "not a key\n",
    "short": "0x" + KEY_HEX[:-2] + "\n",
    "trailing junk": "0x" + KEY_HEX + "zz\n",
    "two lines": "0x" + KEY_HEX + "\n0x" + KEY_HEX + "\n",
    "zero": "0x" + "0" * 64,
    "above curve order": "f" * 64,
    "binary": "\udcff",
}


@pytest.mark.parametrize("content", list(KEY_CONTENTS.values()), ids=list(KEY_CONTENTS))
def test_invalid_key_content(config_path: Path, operator_dir: Path, content: str) -> None:
    key = operator_dir / "keys" / "operator-1.json"
    key.write_bytes(content.encode("utf-8", "surrogateescape"))
    (error,) = check_config(config_path)
    assert error.key == "operator.key_file" and "valid secp256k1 private key" in error.message


def test_key_without_prefix_and_with_whitespace(config_path: Path, operator_dir: Path) -> None:
    write_key(operator_dir / "keys" / "operator-1.json", f"  {KEY_HEX.upper()}\r\n")
    assert load_operator_key(load_config(config_path)).address == ACCOUNT.address


def test_key_not_a_member(example: dict[str, Any], config_path: Path) -> None:
    example["committee"]["members"][0]["address"] = "0x" + "12" * 20
    found = problems(example, config_path)
    assert "is not a committee member" in found["operator.key_file"]
    assert ACCOUNT.address in found["operator.key_file"]


LEAKY_KEY_FILES = [
    ("0x" + KEY_HEX + "\n", 0o644),
    ("0x" + KEY_HEX + "zz\n", 0o600),
    ("0x" + KEY_HEX[:-1] + "g\n", 0o600),
    ("key = 0x" + KEY_HEX + "\n", 0o640),
    (KEY_HEX + KEY_HEX, 0o600),
]


def _texts(error: ConfigError) -> list[str]:
    return [str(error), repr(error), repr(error.fields), "".join(traceback.format_exception(error))]


def test_key_never_appears_in_errors(config_path: Path, operator_dir: Path) -> None:
    good = load_config(config_path)
    stranger = replace(good, committee=replace(good.committee, members=good.committee.members[1:]))
    key = operator_dir / "keys" / "operator-1.json"
    errors: list[ConfigError] = []
    for content, mode in LEAKY_KEY_FILES:
        write_key(key, content, mode)
        errors += check_config(config_path)
        for call in (lambda: load_config(config_path), lambda: load_operator_key(good)):
            with pytest.raises(ConfigError) as caught:
                call()
            errors.append(caught.value)
    write_key(key, "0x" + KEY_HEX)
    with pytest.raises(ConfigError, match="not a committee member") as caught:
        load_operator_key(stranger)
    errors.append(caught.value)
    assert len(errors) >= 16
    for error in errors:
        assert all(KEY_HEX not in text.lower() for text in _texts(error)), error


# ---------------------------------------------------------------- robustness


def _toml_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.datetimes(),
        st.dates(),
        st.times(),
        st.sampled_from(["evm", "alpha", "beta", "http://x:1", "0x" + "ab" * 20, "127.0.0.1:0", "~nobody/x", "\x00"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=10,
    )


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    write_keystore(folder)
    data = tomllib.loads(EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, ACCOUNT.address))
    return data, folder / "operator.toml"


def _assert_only_config_errors(data: Any, path: Path) -> None:
    errors = check_data(data, path)
    assert all(isinstance(e, ConfigError) and e.key and str(e).startswith(f"{path}: ") for e in errors)
    try:
        parse_config(data, path)
    except ConfigError:
        assert errors
    else:
        assert not errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_documents_only_ever_raise_config_error(
    fuzz_base: tuple[dict[str, Any], Path], data: st.DataObject
) -> None:
    base, path = fuzz_base
    document = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(document)
        if not paths:
            break
        *parents, last = data.draw(st.sampled_from(paths))
        node: Any = document
        for part in parents:
            node = node[part]
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[last]
        else:
            node[last] = data.draw(_toml_values())
    _assert_only_config_errors(document, path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(st.sampled_from(["operator", "logging", "committee", "chains", "routes", "x"]),
                                _toml_values(), max_size=6))
def test_random_documents_only_ever_raise_config_error(
    fuzz_base: tuple[dict[str, Any], Path], document: dict[str, Any]
) -> None:
    _assert_only_config_errors(document, fuzz_base[1])


# ---------------------------------------------------------------- helpers


def _dump(data: dict[str, Any]) -> str:
    """A small TOML writer, enough for the example's shapes (tables, arrays of tables, scalars)."""
    lines: list[str] = []
    _dump_table(data, "", lines)
    return "\n".join(lines) + "\n"


def _dump_table(table: dict[str, Any], name: str, lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    lines += [f"{k} = {_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        full = f"{name}.{key}" if name else key
        if isinstance(value, dict):
            lines.append(f"[{full}]")
            _dump_table(value, full, lines)
        elif _is_table_array(value):
            for item in value:
                lines.append(f"[[{full}]]")
                _dump_table(item, full, lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def test_committee_epoch_is_optional_and_checked(example: dict[str, Any], config_path: Path) -> None:
    assert parse_config(example, config_path).committee.epoch is None  # not checked against the chain
    example["committee"]["epoch"] = 3
    assert parse_config(example, config_path).committee.epoch == 3
    for bad in (-1, "one", 1.5, 2**64):
        example["committee"]["epoch"] = bad
        assert "committee.epoch" in problems(example, config_path), bad


def test_an_operator_can_attest_without_submitting(example: dict[str, Any], config_path: Path) -> None:
    assert parse_config(example, config_path).operator.submit is True
    example["operator"]["submit"] = False
    assert parse_config(example, config_path).operator.submit is False


# ---------------------------------------------------------------- the family's table and the old layout


def _old_layout(example: dict[str, Any]) -> dict[str, Any]:
    """``example`` as releases before the family tables wrote it (what `relayer devnet up` wrote): the
    EVM table ``fees`` directly under [chains.NAME] (``message_layer`` stays in [chains.NAME.evm]:
    it never was anywhere else)."""
    old = copy.deepcopy(example)
    for chain in old["chains"].values():
        chain["fees"] = chain["evm"].pop("fees")
    return old


def test_a_family_table_is_validated_by_its_adapter_with_full_key_paths(example: dict[str, Any],
                                                                       config_path: Path) -> None:
    del example["chains"]["beta"]["evm"]
    example["chains"]["alpha"]["evm"]["fees"] = {"max_fee_gwei": "500", "mode": "eip1559", "replace": 1}
    assert problems(example, config_path) == {
        "chains.beta.evm.message_layer": 'required key is missing; add e.g. `message_layer = "0x..."`',
        "chains.alpha.evm.fees.max_fee_gwei": "expected a number, got a string",
        "chains.alpha.evm.fees.replace": "unknown key; did you mean 'replace_after'?",
    }


RENAMED = ("renamed to message_layer (the relayer now delivers through the message layer); write "
           '`message_layer = "0x..."` with the address of the chain\'s MessageLayer contract')


def test_bridge_is_refused_as_renamed_to_message_layer(example: dict[str, Any], config_path: Path) -> None:
    """The key of the old Bridge contract is one error naming it and its new name, in the family table
    (in place of message_layer, or beside it) and in its pre-table place under [chains.NAME]."""
    alpha, beta = example["chains"]["alpha"], example["chains"]["beta"]
    alpha["evm"]["bridge"] = alpha["evm"].pop("message_layer")
    beta["evm"]["bridge"] = beta["evm"]["message_layer"]
    assert problems(example, config_path) == {"chains.alpha.evm.bridge": RENAMED, "chains.beta.evm.bridge": RENAMED}
    del alpha["evm"]["bridge"], beta["evm"]["bridge"]
    beta["bridge"] = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert problems(example, config_path) == {"chains.alpha.evm.message_layer":
                                              'required key is missing; add e.g. `message_layer = "0x..."`',
                                              "chains.beta.bridge": RENAMED}


def test_the_old_layout_still_loads_and_says_where_each_key_moved(example: dict[str, Any],
                                                                 config_path: Path) -> None:
    old = _old_layout(example)
    warnings: list[Any] = []
    assert check_data(old, config_path, warnings=warnings) == []
    assert [str(w) for w in warnings] == [
        f"{config_path}: chains.alpha.fees: moved to chains.alpha.evm.fees; still read from here for now: "
        "rename the table [chains.alpha.fees] to [chains.alpha.evm.fees]",
        f"{config_path}: chains.beta.fees: moved to chains.beta.evm.fees; still read from here for now: "
        "rename the table [chains.beta.fees] to [chains.beta.evm.fees]",
    ]
    config, new = parse_config(old, config_path), parse_config(example, config_path)
    assert config.chains == new.chains  # read the same as the new layout
    assert tuple(warnings) == config.deprecations


def test_a_problem_in_the_old_place_is_named_where_it_is_written(example: dict[str, Any], config_path: Path) -> None:
    old = _old_layout(example)
    old["chains"]["alpha"]["fees"]["mode"] = "legacyy"
    old["chains"]["beta"]["fees"]["max_fee_gwei"] = "x"
    assert problems(old, config_path) == {
        "chains.alpha.fees.mode": "expected one of auto, eip1559, legacy, got 'legacyy'; did you mean 'legacy'?",
        "chains.beta.fees.max_fee_gwei": "expected a number, got a string",
    }


def test_a_key_in_both_places_is_refused(example: dict[str, Any], config_path: Path) -> None:
    example["chains"]["beta"]["fees"] = {"max_fee_gwei": 100.0}
    assert problems(example, config_path) == {
        "chains.beta.fees": "moved to chains.beta.evm.fees, which is set too; remove this one",
    }


def test_keys_in_their_old_place_are_logged_at_start(example: dict[str, Any], config_path: Path) -> None:
    from structlog.testing import capture_logs

    from relayer.config import log_deprecations

    config = parse_config(_old_layout(example), config_path)
    with capture_logs() as logs:
        log_deprecations(config)
    assert [(e["event"], e["log_level"], e["key"]) for e in logs] == [
        ("config.key_moved", "warning", key)
        for key in ("chains.alpha.fees", "chains.beta.fees")
    ]
    assert logs[0]["action"].startswith("moved to chains.alpha.evm.fees;") and logs[1]["file"] == str(config_path)
    with capture_logs() as logs:
        log_deprecations(parse_config(example, config_path))
    assert logs == []
