"""Litecoin addresses of one network to output scripts and back (bech32 segwit v0/v1 ``ltc1``/``tltc1``/
``rltc1``, base58 P2PKH and P2SH with Litecoin's prefixes), refusing another network's address."""

from __future__ import annotations

from embit import base58, bech32

from relayer_litecoin.network import Network


class AddressError(ValueError):
    """An address that is not one of the network's (``str()`` says why)."""


def script_of(address: str, net: Network) -> bytes:
    """The output script paying ``address`` on ``net``. Raises AddressError for a malformed address or one of
    another network."""
    hrp = net.embit["bech32"]
    if address.lower().startswith(hrp + "1"):
        version, program = bech32.decode(hrp, address)
        if version is None or program is None or version not in (0, 1) or len(program) not in (20, 32) \
                or (version == 1 and len(program) != 32):
            raise AddressError(f"{address!r} is not a valid {net.name} bech32 address")
        return bytes([0x50 + version if version else 0, len(program)]) + bytes(program)
    try:
        data = base58.decode_check(address)
    except Exception as exc:  # embit raises ValueError or its own types for a bad checksum
        raise AddressError(f"{address!r} is not a {net.name} Litecoin address") from exc
    if len(data) == 21 and data[:1] == net.embit["p2pkh"]:
        return b"\x76\xa9\x14" + bytes(data[1:]) + b"\x88\xac"
    if len(data) == 21 and data[:1] == net.embit["p2sh"]:
        return b"\xa9\x14" + bytes(data[1:]) + b"\x87"
    raise AddressError(f"{address!r} is not a {net.name} Litecoin address (another network's prefix)")


__all__ = ["AddressError", "script_of"]
