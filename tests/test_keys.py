"""relayer.keys and `relayer keys ...`: V3 keystores, passwords, file modes, no secret in any message."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from adapters.evm import keys
from relayer.config import check_config, load_config, load_operator_key
from relayer.errors import ConfigError, UsageError

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ACCOUNT = Account.from_key(bytes.fromhex(KEY_HEX))
PASSWORD = "Tr0ub4dor&3-keystore-password"
CHEAP = {"kdf": "pbkdf2", "iterations": 1024}  # tests only; `relayer keys new` uses scrypt
NO_PASSWORD_ENV: dict[str, str] = {}


def private(path: Path, content: str | bytes, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    return path


def keystore_json(password: str = PASSWORD, **changes: object) -> str:
    data = Account.encrypt(ACCOUNT.key, password, kdf="pbkdf2", iterations=1024)
    data.update(changes)
    return json.dumps(data)


@pytest.fixture
def ks(tmp_path: Path) -> Path:
    return private(tmp_path / "keys" / "operator-1.json", keystore_json())


@pytest.fixture
def pw(tmp_path: Path) -> Path:
    return private(tmp_path / "keys" / "operator-1.password", PASSWORD + "\n")


def texts(error: BaseException) -> str:
    """Everything an error could show: str, repr, fields, the formatted traceback with context."""
    fields = repr(getattr(error, "fields", ""))
    return "\n".join([str(error), repr(error), fields, "".join(traceback.format_exception(error))])


def assert_no_secret(text: str) -> None:
    assert KEY_HEX not in text.lower() and PASSWORD not in text, text


def config_error(call: Callable[[], object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        call()
    assert_no_secret(texts(caught.value))
    return caught.value


# ---------------------------------------------------------------- load_account


def test_keystore_round_trip(tmp_path: Path, pw: Path) -> None:
    path = tmp_path / "new" / "ks.json"
    address = keys.new_keystore(path, pw, env=NO_PASSWORD_ENV, **CHEAP)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert keys.show_address(path) == address
    assert keys.load_account(path, pw, env=NO_PASSWORD_ENV).address == address
    imported = keys.import_key(tmp_path / "imp.json", "0x" + KEY_HEX.upper() + "\n", pw, env=NO_PASSWORD_ENV,
                               **CHEAP)  # type: ignore[arg-type]
    assert imported == ACCOUNT.address
    loaded = keys.load_account(tmp_path / "imp.json", pw, env=NO_PASSWORD_ENV)
    assert loaded.key.hex().removeprefix("0x") == KEY_HEX
    assert KEY_HEX not in (tmp_path / "imp.json").read_text().lower()


def test_new_keystore_uses_scrypt_and_never_overwrites(tmp_path: Path, pw: Path) -> None:
    path = tmp_path / "ks.json"
    keys.new_keystore(path, pw, env=NO_PASSWORD_ENV)
    assert json.loads(path.read_text())["crypto"]["kdf"] == "scrypt"
    before = path.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        keys.new_keystore(path, pw, env=NO_PASSWORD_ENV, **CHEAP)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="already exists"):
        keys.import_key(path, KEY_HEX, pw, env=NO_PASSWORD_ENV, **CHEAP)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_open_keystore_is_refused_with_a_chmod_hint(ks: Path, pw: Path, mode: int) -> None:
    ks.chmod(mode)
    error = config_error(lambda: keys.load_account(ks, pw, env=NO_PASSWORD_ENV))
    assert error.key == "operator.key_file"
    assert f"chmod 600 {ks}" in error.message and f"mode {mode:04o}" in error.message


def test_open_password_file_is_refused(ks: Path, pw: Path) -> None:
    pw.chmod(0o644)
    error = config_error(lambda: keys.load_account(ks, pw, env=NO_PASSWORD_ENV))
    assert error.key == "operator.password_file" and f"chmod 600 {pw}" in error.message


def test_wrong_password_names_its_source_not_the_password(ks: Path, tmp_path: Path) -> None:
    wrong = "wrong-" + PASSWORD
    bad = private(tmp_path / "wrong.password", wrong)
    error = config_error(lambda: keys.load_account(ks, bad, env=NO_PASSWORD_ENV, file="/etc/relayer/x.toml"))
    assert error.key == "operator.password_file" and error.file == "/etc/relayer/x.toml"
    assert error.message == f"cannot decrypt keystore {ks}: wrong password (from password file {bad})"
    assert wrong not in texts(error)
    error = config_error(lambda: keys.load_account(ks, None, env={keys.PASSWORD_ENV: wrong}))
    assert error.message == (f"cannot decrypt keystore {ks}: wrong password "
                             f"(from environment variable {keys.PASSWORD_ENV})")
    assert wrong not in texts(error)


def test_password_from_the_environment(ks: Path, pw: Path) -> None:
    assert keys.load_account(ks, None, env={keys.PASSWORD_ENV: PASSWORD}).address == ACCOUNT.address
    # a configured password file wins over the environment
    assert keys.load_account(ks, pw, env={keys.PASSWORD_ENV: "other"}).address == ACCOUNT.address
    error = config_error(lambda: keys.load_account(ks, None, env=NO_PASSWORD_ENV))
    assert error.key == "operator.password_file"
    assert "operator.password_file" in error.message and keys.PASSWORD_ENV in error.message


@pytest.mark.parametrize(("content", "key", "words"), [
    ("", "operator.password_file", "is empty"),
    ("\n", "operator.password_file", "is empty"),
    (b"\xff\xfe", "operator.password_file", "not UTF-8"),
])
def test_bad_password_files(ks: Path, tmp_path: Path, content: str | bytes, key: str, words: str) -> None:
    bad = private(tmp_path / "bad.password", content)
    error = config_error(lambda: keys.load_account(ks, bad, env=NO_PASSWORD_ENV))
    assert error.key == key and words in error.message


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"version": 2, "crypto": {}}), "not a version 3 keystore"),
    (keystore_json(address="0x" + "12" * 20), "tampered"),
    (keystore_json(address="zz"), "invalid \"address\" field"),
])
def test_bad_keystores(ks: Path, pw: Path, content: str, words: str) -> None:
    private(ks, content)
    error = config_error(lambda: keys.load_account(ks, pw, env=NO_PASSWORD_ENV))
    assert error.key == "operator.key_file" and words in error.message


def test_too_expensive_kdf_is_refused_before_decrypting(ks: Path, pw: Path) -> None:
    data = json.loads(ks.read_text())
    data["crypto"]["kdfparams"]["c"] = 10**9
    private(ks, json.dumps(data))
    error = config_error(lambda: keys.load_account(ks, pw, env=NO_PASSWORD_ENV))
    assert "iteration count too high" in error.message


def test_plain_hex_key_is_still_accepted_for_development(tmp_path: Path) -> None:
    key = private(tmp_path / "dev.key", "0x" + KEY_HEX + "\n")
    assert keys.load_account(key, None, env=NO_PASSWORD_ENV).address == ACCOUNT.address
    private(key, "nonsense")
    error = config_error(lambda: keys.load_account(key, None, env=NO_PASSWORD_ENV))
    assert "valid secp256k1 private key" in error.message


def test_systemd_credentials_may_be_group_readable_but_not_world_readable(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    key = private(creds / "keystore", keystore_json(), 0o440)
    password = private(creds / "keystore-password", PASSWORD, 0o440)
    env = {keys.CREDENTIALS_ENV: str(creds)}
    assert keys.load_account(key, password, env=env).address == ACCOUNT.address
    with pytest.raises(ConfigError, match="chmod 600"):
        keys.load_account(key, password, env=NO_PASSWORD_ENV)  # not under $CREDENTIALS_DIRECTORY
    key.chmod(0o444)
    error = config_error(lambda: keys.load_account(key, password, env=env))
    assert error.key == "operator.key_file" and "accessible by others" in error.message


# ---------------------------------------------------------------- the configuration


def write_config(folder: Path, operator: str) -> Path:
    """The example with operator-1 = ACCOUNT and its [operator] keys replaced by ``operator``."""
    text = EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, ACCOUNT.address)
    start = text.index('key_file = "keys/operator-1.json"')
    end = text.index("api_listen")
    text = text[:start] + operator + "\n" + text[end:]
    path = folder / "operator.toml"
    path.write_text(text)
    return path


def test_credentials_directory_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds, state = tmp_path / "run" / "credentials", tmp_path / "var" / "relayer"
    private(creds / "keystore", keystore_json(), 0o400)
    private(creds / "keystore-password", PASSWORD, 0o400)
    path = write_config(tmp_path, 'key_file = "${CREDENTIALS_DIRECTORY}/keystore"\n'
                                  'password_file = "${CREDENTIALS_DIRECTORY}/keystore-password"\n'
                                  'state_dir = "${STATE_DIRECTORY}"')
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    config = load_config(path)
    assert config.operator.key_file == creds / "keystore"
    assert config.operator.password_file == creds / "keystore-password"
    assert config.operator.state_dir == state
    assert check_config(path) == []
    assert load_operator_key(config).address == ACCOUNT.address
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    errors = {e.key: e.message for e in check_config(path)}
    assert set(errors) == {"operator.key_file", "operator.password_file"}
    assert "CREDENTIALS_DIRECTORY" in errors["operator.key_file"] and "LoadCredential=" in errors["operator.key_file"]


def test_only_braced_names_are_expanded(tmp_path: Path, ks: Path, pw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYS", str(ks.parent))
    path = write_config(tmp_path, 'key_file = "${KEYS}/operator-1.json"\npassword_file = "$KEYS/x"\n'
                                  'state_dir = "${not a name}"')
    errors = {e.key: e.message for e in check_config(path)}
    assert "operator.key_file" not in errors
    assert "does not exist" in errors["operator.password_file"] and "$KEYS/x" in errors["operator.password_file"]
    assert "not a variable reference" in errors["operator.state_dir"]


def test_config_check_without_password_checks_the_address_field(tmp_path: Path, ks: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    path = write_config(tmp_path, 'key_file = "keys/operator-1.json"\nstate_dir = "state"')
    assert check_config(path) == []
    with pytest.raises(ConfigError, match="no password is configured"):
        load_operator_key(load_config(path))
    monkeypatch.setenv(keys.PASSWORD_ENV, PASSWORD)
    assert load_operator_key(load_config(path)).address == ACCOUNT.address
    private(ks, keystore_json(address="0x" + "12" * 20))  # a keystore of a stranger, as it claims
    monkeypatch.delenv(keys.PASSWORD_ENV)
    (error,) = check_config(path)
    assert error.key == "operator.key_file" and "is not a committee member" in error.message


def test_config_check_decrypts_when_it_can(tmp_path: Path, ks: Path, pw: Path) -> None:
    path = write_config(tmp_path, 'key_file = "keys/operator-1.json"\npassword_file = "keys/operator-1.password"\n'
                                  'state_dir = "state"')
    assert check_config(path) == []
    private(pw, "not the password")
    (error,) = check_config(path)
    assert error.key == "operator.password_file" and "wrong password" in error.message
    assert "not the password" not in str(error)
    load_config(path)  # does not decrypt: the daemon's load_operator_key does
    with pytest.raises(ConfigError, match="wrong password"):
        load_operator_key(load_config(path))


# ---------------------------------------------------------------- the command line


def relayer(*args: str | Path, stdin: str = "", env: dict[str, str] | None = None,
            cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != keys.PASSWORD_ENV}
    result = subprocess.run([sys.executable, "-m", "relayer", *map(str, args)], input=stdin, cwd=cwd,
                            capture_output=True, text=True, timeout=60, env={**base, **(env or {})})
    assert "Traceback" not in result.stderr, result.stderr
    assert_no_secret(result.stdout + result.stderr)
    return result


def test_cli_new_list_show_address(tmp_path: Path, pw: Path) -> None:
    path = tmp_path / "store" / "a.json"
    result = relayer("keys", "new", "--keystore", path, "--password-file", pw)
    assert result.returncode == 0, result.stderr
    address = result.stdout.strip()
    assert address.startswith("0x") and len(address) == 42 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_account(path, pw, env=NO_PASSWORD_ENV).address == address
    again = relayer("keys", "new", "--keystore", path, "--password-file", pw)
    assert again.returncode == 2 and "already exists" in again.stderr
    shown = relayer("keys", "show-address", path)
    assert shown.returncode == 0 and shown.stdout.strip() == address
    private(tmp_path / "store" / "notes.txt", "not a keystore")
    listed = relayer("keys", "list", path.parent)
    assert listed.returncode == 0 and listed.stdout.split() == [address, str(path)]
    assert relayer("keys", "list", tmp_path / "missing").returncode == 2
    bad = relayer("keys", "show-address", tmp_path / "store" / "notes.txt")
    assert bad.returncode == 2 and "not a V3 keystore" in bad.stderr


def test_cli_import_from_stdin_and_file_never_echoes(tmp_path: Path, pw: Path) -> None:
    result = relayer("keys", "import", "--keystore", tmp_path / "a.json", "--password-file", pw,
                     stdin="0x" + KEY_HEX + "\n")
    assert result.returncode == 0 and result.stdout.strip() == ACCOUNT.address
    hex_file = private(tmp_path / "old.key", KEY_HEX)
    result = relayer("keys", "import", "--keystore", tmp_path / "b.json", "--key-file", hex_file,
                     env={keys.PASSWORD_ENV: PASSWORD})
    assert result.returncode == 0 and result.stdout.strip() == ACCOUNT.address
    assert keys.load_account(tmp_path / "b.json", None, env={keys.PASSWORD_ENV: PASSWORD}).address == ACCOUNT.address
    bad = relayer("keys", "import", "--keystore", tmp_path / "c.json", "--password-file", pw,
                  stdin=KEY_HEX[:-1] + "g")
    assert bad.returncode == 2 and "not a valid secp256k1 private key" in bad.stderr
    assert not (tmp_path / "c.json").exists()


def test_cli_refuses_missing_or_open_passwords(tmp_path: Path, pw: Path) -> None:
    none = relayer("keys", "new", "--keystore", tmp_path / "a.json")
    assert none.returncode == 2 and "--password-file" in none.stderr and keys.PASSWORD_ENV in none.stderr
    pw.chmod(0o644)
    opened = relayer("keys", "new", "--keystore", tmp_path / "a.json", "--password-file", pw)
    assert opened.returncode == 2 and f"chmod 600 {pw}" in opened.stderr
    assert not (tmp_path / "a.json").exists()
    usage = relayer("keys", "new")
    assert usage.returncode == 2 and "--keystore" in usage.stderr


def test_run_refuses_a_0644_keystore_with_one_clear_line(tmp_path: Path, ks: Path, pw: Path) -> None:
    path = write_config(tmp_path, 'key_file = "keys/operator-1.json"\npassword_file = "keys/operator-1.password"\n'
                                  'state_dir = "state"')
    ks.chmod(0o644)
    result = relayer("run", "--config", path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"error: {path}: operator.key_file: key file {ks} is accessible by group/others "
                    f"(mode 0644); run `chmod 600 {ks}`")
