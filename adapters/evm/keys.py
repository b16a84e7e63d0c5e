"""Operator keys: Ethereum V3 keystores (through eth-account), their passwords, file modes.

The operator's signing key lives in an encrypted V3 keystore (``relayer keys new``); its
password comes from a password file (``operator.password_file``) or, when none is
configured, from the environment variable ``RELAYER_KEYSTORE_PASSWORD``; never from the
configuration file itself. For development a plain hex key file (64 hex digits) is still
accepted. Under systemd both files come from ``$CREDENTIALS_DIRECTORY`` (LoadCredential=).

Rules:

- key and password files must be regular files not accessible by group or others
  (``mode & 0o077 == 0``); files under ``$CREDENTIALS_DIRECTORY``, whose mode systemd
  manages, must only not be accessible by others (``mode & 0o007 == 0``);
- no message, exception (or its context) and log line ever holds a key or a password:
  this module logs nothing at all.

Errors of ``load_account`` are ConfigError with key path ``operator.key_file`` or
``operator.password_file``; the CLI helpers (``new_keystore``, ``import_key``,
``list_keystores``, ``show_address``) raise UsageError.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from adapters.evm.committee import KeySigner
from adapters.evm.config import address
from relayer.errors import ConfigError, UsageError
from relayer.types import Address

__all__ = [
    "CREDENTIALS_ENV",
    "KEY_FILE_KEY",
    "PASSWORD_ENV",
    "PASSWORD_FILE_KEY",
    "KeyProblem",
    "check_key",
    "import_key",
    "list_keystores",
    "load_account",
    "new_keystore",
    "parse_private_key",
    "read_keystore_address",
    "show_address",
    "write_keystore",
    "write_private_file",
]

PASSWORD_ENV = "RELAYER_KEYSTORE_PASSWORD"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
KEY_FILE_KEY = "operator.key_file"
PASSWORD_FILE_KEY = "operator.password_file"

MAX_FILE_BYTES = 64 * 1024  # a keystore is < 1 KiB; refuse to read anything huge
# Key-derivation costs above these are refused before decrypting (a hostile or corrupted
# keystore must not pin the CPU or exhaust memory); geth's "standard" scrypt is n = 2**18.
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 16
MAX_SCRYPT_P = 16
MAX_PBKDF2_ITERATIONS = 10_000_000

Kdf = Literal["scrypt", "pbkdf2"]


class KeyProblem(Exception):
    """One problem with a key or password file: ``key`` is its config key path, str() the message."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


# ---------------------------------------------------------------- the daemon's side


def parse_address(value: Any) -> str:
    """A committee member's address in the configuration (an operator's key address): 0x and 40 hex
    digits, EIP-55 checked when mixed case, returned checksummed. Raises config_schema.Invalid."""
    return address(value)


def signer(account: LocalAccount) -> KeySigner:
    """The operator's loaded key as the contract's ``Signer`` (what the update policies sign with)."""
    return KeySigner(account.key.hex())


def load_account(
    key_file: Path,
    password_file: Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    file: str | None = None,
) -> LocalAccount:
    """The account of ``key_file``: a V3 keystore (decrypted) or, for development, a hex key file.

    The keystore's password is read from ``password_file`` when given, else from the
    environment variable ``RELAYER_KEYSTORE_PASSWORD`` in ``env``. Raises ConfigError (key
    ``operator.key_file`` or ``operator.password_file``, ``file`` = the config file) for a
    missing, unreadable or group/other-accessible file, an invalid key or keystore, a
    missing or wrong password, or a keystore whose ``address`` field is not its key's. No
    message holds the key or the password.
    """
    problems, account = _examine(Path(key_file), None if password_file is None else Path(password_file),
                                 env, decrypt=True)
    if problems or not isinstance(account, LocalAccount):
        first = problems[0] if problems else KeyProblem(KEY_FILE_KEY, f"cannot load key file {key_file}")
        raise ConfigError(first.key, first.message, file=file)
    return account


def check_key(
    key_file: Path,
    password_file: Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    decrypt: bool = True,
) -> tuple[list[KeyProblem], Address | None]:
    """Every problem of a key file and its password file, and the key's address if known.

    The address is the decrypted key's when ``decrypt`` and a password is available, else
    the keystore's ``address`` field (None when it has none), or the hex key's. A missing
    password is no problem here (only ``load_account`` needs it). Raises nothing.
    """
    problems, found = _examine(Path(key_file), None if password_file is None else Path(password_file),
                               env, decrypt=decrypt, need_password=False)
    if isinstance(found, LocalAccount):
        return problems, Address(found.address)
    return problems, found


# ---------------------------------------------------------------- examining the files


@dataclass(frozen=True)
class _Keystore:
    """A parsed V3 keystore (still encrypted) and its ``address`` field, checksummed."""

    data: dict[str, Any]
    address: Address | None


def _examine(
    key_file: Path, password_file: Path | None, env: Mapping[str, str], *,
    decrypt: bool, need_password: bool = True,
) -> tuple[list[KeyProblem], LocalAccount | Address | None]:
    """Problems (mode first, like the order a reader fixes them) and the account or address."""
    problems: list[KeyProblem] = []
    password: tuple[str, str] | None = None
    if password_file is not None:
        try:
            password = _read_password_file(password_file, env, PASSWORD_FILE_KEY)
        except KeyProblem as exc:
            problems.append(exc)
    try:
        content = _read_private(key_file, env, KEY_FILE_KEY, "key file", problems)
    except KeyProblem as exc:
        return [exc, *problems], None
    if not content.lstrip().startswith(b"{"):
        account = _hex_account(content)
        if account is None:
            problems.append(KeyProblem(KEY_FILE_KEY, (
                f"key file {key_file} is neither a V3 keystore (JSON, see `relayer keys new`) nor a valid "
                "secp256k1 private key (64 hex digits, optionally 0x-prefixed, on one line)")))
        return _mode_first(problems), account
    try:
        keystore = _parse_keystore(key_file, content, KEY_FILE_KEY)
    except KeyProblem as exc:
        return _mode_first([exc, *problems]), None
    if password is None and password_file is None:
        password = _env_password(env)
    if not decrypt:
        return _mode_first(problems), keystore.address
    if password is None:
        if password_file is None and need_password:
            problems.append(KeyProblem(PASSWORD_FILE_KEY, (
                f"keystore {key_file} is encrypted and no password is configured; set operator.password_file "
                f"(under systemd: \"${{{CREDENTIALS_ENV}}}/keystore-password\") or the environment variable "
                f"{PASSWORD_ENV}")))
        return _mode_first(problems), None if need_password else keystore.address
    try:
        account = _decrypt(key_file, keystore, *password)
    except KeyProblem as exc:
        problems.append(exc)
        return _mode_first(problems), None
    return _mode_first(problems), account


def _mode_first(problems: list[KeyProblem]) -> list[KeyProblem]:
    """Key-file problems before password-file ones (stable otherwise)."""
    return sorted(problems, key=lambda p: p.key != KEY_FILE_KEY)


def _read_private(path: Path, env: Mapping[str, str], key: str, what: str,
                  problems: list[KeyProblem]) -> bytes:
    """The bytes of a secret file; a too-open mode is appended to ``problems`` (still read)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyProblem(key, f"{what} {path} does not exist; create it or fix the path") from None
    except (OSError, ValueError) as exc:
        raise KeyProblem(key, f"cannot access {what} {path}: {_os_reason(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyProblem(key, f"{what} {path} is not a regular file")
    mode_problem = _mode_problem(path, st.st_mode, env, what)
    if mode_problem:
        problems.append(KeyProblem(key, mode_problem))
    if st.st_size > MAX_FILE_BYTES:
        raise KeyProblem(key, f"{what} {path} is too large ({st.st_size} bytes) to be a key or password file")
    try:
        return path.read_bytes()
    except PermissionError:
        reason = "permission denied; it must belong to the relayer's user"
    except OSError as exc:
        reason = _os_reason(exc)
    raise KeyProblem(key, f"cannot read {what} {path}: {reason}")


def _mode_problem(path: Path, mode: int, env: Mapping[str, str], what: str) -> str | None:
    bits = stat.S_IMODE(mode)
    if _under_credentials(path, env):
        if bits & 0o007:
            return (f"{what} {path} is accessible by others (mode {bits:04o}) although it is a systemd "
                    f"credential; make the source file of its LoadCredential= private (`chmod 600 FILE`)")
        return None
    if bits & 0o077:
        return f"{what} {path} is accessible by group/others (mode {bits:04o}); run `chmod 600 {path}`"
    return None


def _under_credentials(path: Path, env: Mapping[str, str]) -> bool:
    folder = env.get(CREDENTIALS_ENV)
    if not folder:
        return False
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


_HEX_KEY = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")


def parse_private_key(text: str | bytes) -> LocalAccount | None:
    """The account of a hex private key (64 digits, optional 0x, surrounding blanks), or None.

    Never raises and never chains an exception (its context could hold the key).
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    match = _HEX_KEY.fullmatch(text.strip())
    return None if match is None else _account(match[1])


def _hex_account(content: bytes) -> LocalAccount | None:
    return parse_private_key(content)


def _account(hex_key: str) -> LocalAccount | None:
    try:
        account: LocalAccount = Account.from_key(bytes.fromhex(hex_key))
        return account
    except Exception:  # noqa: BLE001 - any failure means "no valid key"; never chain it (it may hold the key)
        return None


# ---------------------------------------------------------------- keystores


def _parse_keystore(path: Path, content: bytes, key: str) -> _Keystore:
    """The parsed keystore; raises KeyProblem if ``content`` is no V3 keystore."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise KeyProblem(key, f"keystore {path} is not valid JSON; it must be a V3 keystore (`relayer keys new`)")
    crypto = data.get("crypto", data.get("Crypto"))
    if data.get("version") != 3 or not isinstance(crypto, dict):
        raise KeyProblem(key, f"keystore {path} is not a version 3 keystore (needs \"version\": 3 and \"crypto\")")
    limit = _kdf_limit(crypto)
    if limit:
        raise KeyProblem(key, f"keystore {path}: {limit}")
    address = None
    if "address" in data:
        address = _address_field(data["address"])
        if address is None:
            raise KeyProblem(key, f"keystore {path} has an invalid \"address\" field (expected 40 hex digits)")
    return _Keystore(data, address)


def _kdf_limit(crypto: dict[str, Any]) -> str | None:
    """Why the keystore's KDF parameters are refused (unknown or too expensive), or None."""
    kdf, params = crypto.get("kdf"), crypto.get("kdfparams")
    if not isinstance(params, dict):
        return "\"crypto.kdfparams\" is missing"
    try:
        if kdf == "scrypt":
            n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
            if not (n <= MAX_SCRYPT_N and r <= MAX_SCRYPT_R and p <= MAX_SCRYPT_P):
                return f"scrypt parameters too expensive (n={n}, r={r}, p={p}; at most n={MAX_SCRYPT_N})"
        elif kdf == "pbkdf2":
            c = int(params["c"])
            if c > MAX_PBKDF2_ITERATIONS:
                return f"pbkdf2 iteration count too high ({c}; at most {MAX_PBKDF2_ITERATIONS})"
        else:
            return f"unsupported key derivation function {str(kdf)[:20]!r} (use scrypt or pbkdf2)"
    except (KeyError, TypeError, ValueError):
        return f"malformed {kdf} parameters in \"crypto.kdfparams\""
    return None


_ADDRESS = re.compile(r"(?:0x)?([0-9a-fA-F]{40})")


def _address_field(value: Any) -> Address | None:
    match = _ADDRESS.fullmatch(value.strip()) if isinstance(value, str) else None
    return None if match is None else Address(to_checksum_address("0x" + match[1]))


def _decrypt(path: Path, keystore: _Keystore, password: str, source: str) -> LocalAccount:
    """The decrypted account; raises KeyProblem naming the password's source, never the password."""
    key_bytes, reason = _try_decrypt(keystore.data, password)
    if key_bytes is None:
        if reason == "wrong password":
            raise KeyProblem(PASSWORD_FILE_KEY, f"cannot decrypt keystore {path}: wrong password (from {source})")
        raise KeyProblem(KEY_FILE_KEY, f"cannot decrypt keystore {path}: {reason}")
    account = _account(key_bytes.hex())
    if account is None:
        raise KeyProblem(KEY_FILE_KEY, f"keystore {path} does not hold a valid secp256k1 private key")
    if keystore.address is not None and str(keystore.address) != str(account.address):
        raise KeyProblem(KEY_FILE_KEY, (
            f"keystore {path} says its address is {keystore.address} but its key's address is "
            f"{account.address}; the file is corrupted or was tampered with"))
    return account


def _try_decrypt(data: dict[str, Any], password: str) -> tuple[bytes | None, str]:
    """``(key, "")`` or ``(None, reason)``; the reason never holds secrets."""
    try:
        return bytes(Account.decrypt(data, password)), ""
    except ValueError as exc:
        text = str(exc)
    except Exception as exc:  # noqa: BLE001 - malformed fields raise KeyError, TypeError, ...
        text = type(exc).__name__
    if "MAC mismatch" in text:
        return None, "wrong password"
    return None, f"malformed keystore ({text[:120]})"


def read_keystore_address(path: Path) -> Address:
    """The ``address`` field of the keystore at ``path`` (no password needed); raises UsageError."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is too large to be a keystore")
        content = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {_os_reason(exc)}") from None
    if not content.lstrip().startswith(b"{"):
        raise UsageError(f"{path} is not a V3 keystore (JSON); a plain key file has no public address field")
    try:
        keystore = _parse_keystore(path, content, KEY_FILE_KEY)
    except KeyProblem as exc:
        raise UsageError(exc.message) from None
    if keystore.address is None:
        raise UsageError(f"keystore {path} has no \"address\" field; its address is only known once decrypted")
    return keystore.address


# ---------------------------------------------------------------- passwords


def _read_password_file(path: Path, env: Mapping[str, str], key: str) -> tuple[str, str]:
    """``(password, "password file PATH")``; trailing newlines are dropped. Raises KeyProblem."""
    problems: list[KeyProblem] = []
    content = _read_private(path, env, key, "password file", problems)
    if problems:
        raise problems[0]
    try:
        password = content.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise KeyProblem(key, f"password file {path} is not UTF-8 text") from None
    if not password:
        raise KeyProblem(key, f"password file {path} is empty; write the keystore's password into it")
    return password, f"password file {path}"


def _env_password(env: Mapping[str, str]) -> tuple[str, str] | None:
    value = env.get(PASSWORD_ENV)
    return (value, f"environment variable {PASSWORD_ENV}") if value else None


def _password_for_writing(password: str | None, password_file: Path | None,
                          env: Mapping[str, str]) -> str:
    """The password for a new keystore: explicit, from ``password_file``, else from the environment."""
    if password is None and password_file is not None:
        try:
            password = _read_password_file(Path(password_file), env, "--password-file")[0]
        except KeyProblem as exc:
            raise UsageError(exc.message) from None
    if password is None:
        found = _env_password(env)
        password = None if found is None else found[0]
    if password is None:
        raise UsageError(f"no password: pass --password-file FILE (mode 0600) or set {PASSWORD_ENV}")
    if not password:
        raise UsageError("the password must not be empty")
    return password


# ---------------------------------------------------------------- writing


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (a temporary file, then a link).

    Creates missing parent folders with mode 0700. Raises UsageError when ``path`` exists
    and ``overwrite`` is false, or it cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create folder {path.parent}: {_os_reason(exc)}") from None
    if not overwrite and (path.exists() or path.is_symlink()):
        raise UsageError(f"{path} already exists; refusing to overwrite it (choose another path)")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise UsageError(f"cannot write in {path.parent}: {_os_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        _publish(Path(tmp), path, overwrite)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never replaces an existing file
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to overwrite it (choose another path)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {_os_reason(exc)}") from None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_keystore(path: Path, account: LocalAccount, password: str, *, kdf: Kdf | None = None,
                   iterations: int | None = None, overwrite: bool = False) -> Address:
    """Encrypt ``account``'s key with ``password`` into a V3 keystore at ``path`` (mode 0600).

    ``kdf``/``iterations`` default to eth-account's strong scrypt; the devnet passes a cheap
    pbkdf2. Returns the address. Raises UsageError (see ``write_private_file``).
    """
    keystore = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    write_private_file(Path(path), (json.dumps(keystore, indent=2) + "\n").encode(), overwrite=overwrite)
    return Address(account.address)


# ---------------------------------------------------------------- the CLI's side


def new_keystore(path: Path, password_file: Path | None = None, *, env: Mapping[str, str] = os.environ,
                 password: str | None = None, kdf: Kdf | None = None,
                 iterations: int | None = None) -> Address:
    """Create a fresh key in a new keystore at ``path`` (mode 0600, never overwritten); its address.

    The password is ``password``, else read from ``password_file``, else the environment
    variable ``RELAYER_KEYSTORE_PASSWORD``. Raises UsageError.
    """
    secret = _password_for_writing(password, password_file, env)
    _refuse_existing(Path(path))
    return write_keystore(Path(path), Account.create(), secret, kdf=kdf, iterations=iterations)


def import_key(path: Path, key_hex: str, password_file: Path | None = None, *,
               env: Mapping[str, str] = os.environ, password: str | None = None,
               kdf: Kdf | None = None, iterations: int | None = None) -> Address:
    """Encrypt the hex private key ``key_hex`` into a new keystore at ``path``; its address.

    Password as for ``new_keystore``. Raises UsageError (the key is never in the message).
    """
    account = parse_private_key(key_hex)
    if account is None:
        raise UsageError("not a valid secp256k1 private key: expected 64 hex digits, optionally 0x-prefixed")
    secret = _password_for_writing(password, password_file, env)
    _refuse_existing(Path(path))
    return write_keystore(Path(path), account, secret, kdf=kdf, iterations=iterations)


def _refuse_existing(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists; refusing to overwrite it (choose another path)")


def list_keystores(folder: Path) -> list[tuple[Path, Address | None]]:
    """``(path, address field or None)`` of each V3 keystore directly in ``folder``, sorted by name.

    Other files are skipped; nothing is decrypted. Raises UsageError when ``folder`` is no
    readable folder.
    """
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        raise UsageError(f"{folder} does not exist") from None
    except NotADirectoryError:
        raise UsageError(f"{folder} is not a folder") from None
    except OSError as exc:
        raise UsageError(f"cannot list {folder}: {_os_reason(exc)}") from None
    found = []
    for entry in entries:
        keystore = _keystore_or_none(entry)
        if keystore is not None:
            found.append((entry, keystore.address))
    return found


def _keystore_or_none(path: Path) -> _Keystore | None:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as handle:
            if not handle.read(64).lstrip().startswith(b"{"):
                return None
            handle.seek(0)
            content = handle.read()
    except OSError:
        return None
    try:
        return _parse_keystore(path, content, KEY_FILE_KEY)
    except KeyProblem:
        return None


def show_address(path: Path) -> Address:
    """The address recorded in the keystore at ``path``; no password needed. Raises UsageError."""
    return read_keystore_address(Path(path))
