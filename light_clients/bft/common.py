"""Pieces every PoA/BFT light client shares: verdicts, option parsing, seal recovery.

``Verdict`` is what ``verify(header)`` answers (the operator tool prints it);
``parse_options`` turns a ``[chains.X.light_client_options]`` table into typed values
with ConfigErrors naming the key; ``recover_signer`` recovers the address of a 65-byte
``r || s || v`` secp256k1 seal (v in {0, 1}, as Besu and geth store them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError

from relayer.errors import ConfigError, VerificationError

Address = bytes  # 20 bytes
SEAL_LENGTH = 65


def hex0x(value: bytes) -> str:
    """``0x``-prefixed lowercase hex."""
    return "0x" + value.hex()


@dataclass(frozen=True)
class Verdict:
    """The answer of ``verify(header)``: never an exception, always a reason when invalid.

    ``signers`` are the recovered seal signers in seal order (None for a seal that is no
    valid signature), ``validators`` the set the header was judged against, ``quorum`` the
    number of distinct validator seals that set requires, ``hash`` the recomputed block hash
    (None when the header could not even be decoded).
    """

    valid: bool
    signers: tuple[Address | None, ...]
    validators: tuple[Address, ...]
    quorum: int
    reason: str | None = None
    hash: bytes | None = None
    number: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: hex strings for hashes and addresses; ``reason`` only when invalid."""
        out: dict[str, Any] = {
            "number": self.number,
            "hash": hex0x(self.hash) if self.hash is not None else None,
            "valid": self.valid,
            "signers": [hex0x(s) if s is not None else None for s in self.signers],
            "validators": [hex0x(v) for v in self.validators],
            "quorum": self.quorum,
        }
        if not self.valid:
            out["reason"] = self.reason
        return out


class CheckpointMismatchError(VerificationError):
    """The chain does not match the configured trusted checkpoint (``key`` names the option)."""

    def __init__(self, message: str, *, key: str, **fields: object) -> None:
        super().__init__(message, key=key, **fields)
        self.key = key


# --------------------------------------------------------------------------- seals


@lru_cache(maxsize=8192)
def recover_signer(message_hash: bytes, seal: bytes) -> Address | None:
    """Address whose key made the 65-byte ``r || s || v`` seal over ``message_hash``.

    v must be 0 or 1 (Besu and geth never store 27/28 in headers). Returns None when the
    seal is no valid signature (wrong length, v, r or s out of range, no point); never raises.
    """
    if len(seal) != SEAL_LENGTH or seal[64] not in (0, 1):
        return None
    try:
        public_key = keys.Signature(signature_bytes=seal).recover_public_key_from_msg_hash(message_hash)
    except (BadSignature, ValidationError, ValueError):
        return None
    return public_key.to_canonical_address()


def sign_hash(private_key: bytes, message_hash: bytes) -> bytes:
    """A 65-byte ``r || s || v`` (v in {0, 1}) seal of ``message_hash`` (tests and devnets)."""
    return keys.PrivateKey(private_key).sign_msg_hash(message_hash).to_bytes()


def address_of(private_key: bytes) -> Address:
    """The 20-byte address of a secp256k1 private key."""
    return keys.PrivateKey(private_key).public_key.to_canonical_address()


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    """The ``light_client_options`` shared by the qbft, ibft2 and clique light clients."""

    validators: tuple[Address, ...] | None = None
    checkpoint_number: int | None = None
    checkpoint_hash: bytes | None = None
    epoch: int = 30000
    period: int | None = None


KNOWN_OPTIONS = frozenset({"validators", "checkpoint_number", "checkpoint_hash", "epoch", "period"})


def option_key(chain_name: str, name: str) -> str:
    """Dotted config path of one light-client option."""
    return f"chains.{chain_name}.light_client_options.{name}"


def parse_options(chain_name: str, options: Mapping[str, Any], known: Iterable[str] = KNOWN_OPTIONS) -> Options:
    """Typed options; raises ConfigError naming the key of an unknown or malformed option.

    ``validators``: addresses as 0x-hex strings (or 20-byte values), no duplicates, sorted
    here; ``checkpoint_number`` and ``checkpoint_hash`` come together; ``epoch`` > 0.
    """
    allowed = frozenset(known)
    for name in options:
        if name not in allowed:
            raise ConfigError(option_key(chain_name, name), f"unknown option (known: {', '.join(sorted(allowed))})")
    number, hash_ = options.get("checkpoint_number"), options.get("checkpoint_hash")
    if (number is None) != (hash_ is None):
        missing = "checkpoint_hash" if hash_ is None else "checkpoint_number"
        raise ConfigError(option_key(chain_name, missing), "checkpoint_number and checkpoint_hash go together")
    return Options(
        validators=_validators(chain_name, options.get("validators")),
        checkpoint_number=None if number is None else _count(chain_name, "checkpoint_number", number, 0),
        checkpoint_hash=None if hash_ is None else _bytes(chain_name, "checkpoint_hash", hash_, 32),
        epoch=_count(chain_name, "epoch", options.get("epoch", 30000), 1),
        period=None if options.get("period") is None else _count(chain_name, "period", options["period"], 0),
    )


def _validators(chain_name: str, value: object) -> tuple[Address, ...] | None:
    if value is None:
        return None
    key = option_key(chain_name, "validators")
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(key, "must be a non-empty list of 0x-hex addresses")
    addresses = [_bytes(chain_name, "validators", item, 20) for item in value]
    if len(set(addresses)) != len(addresses):
        raise ConfigError(key, "lists an address twice")
    return tuple(sorted(addresses))


def _count(chain_name: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(option_key(chain_name, name), f"must be an integer >= {minimum}, not {value!r}")
    return value


def _bytes(chain_name: str, name: str, value: object, size: int) -> bytes:
    if isinstance(value, bytes) and len(value) == size:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text[:2] in ("0x", "0X") and len(text) == 2 + 2 * size:
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                pass
    raise ConfigError(option_key(chain_name, name), f"{value!r} is not {size} bytes of 0x-hex")


def parse_address_list(values: object, what: str) -> tuple[Address, ...]:
    """Addresses of a persisted trusted state; raises VerificationError when malformed."""
    if not isinstance(values, (list, tuple)):
        raise VerificationError(f"malformed trusted state: {what} is not a list")
    return tuple(parse_hex(item, what, 20) for item in values)


def parse_hex(value: object, what: str, size: int | None = None) -> bytes:
    """Bytes given as bytes or 0x-hex (``size`` bytes if given); raises VerificationError otherwise."""
    data: bytes | None = value if isinstance(value, bytes) else None
    if isinstance(value, str) and value[:2] == "0x":
        try:
            data = bytes.fromhex(value[2:])
        except ValueError:
            data = None
    if data is None or (size is not None and len(data) != size):
        raise VerificationError(f"malformed trusted state: {what} is not {size or 'some'} bytes of 0x-hex", value=value)
    return data


__all__ = [
    "CheckpointMismatchError",
    "KNOWN_OPTIONS",
    "Options",
    "Verdict",
    "address_of",
    "hex0x",
    "option_key",
    "parse_address_list",
    "parse_hex",
    "parse_options",
    "recover_signer",
    "sign_hash",
]
