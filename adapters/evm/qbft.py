"""Building and sealing Besu QBFT / IBFT 2.0 headers, for tests, the benchmark and the devnet.

Anvil cannot seal BFT blocks, so a header taken from anvil (``header_from_rpc``) gets a
BFT ``extraData`` here: its validator list, an optional vote, the round and the committed
seals of validator keys the caller holds. Every other field keeps anvil's real value, so the
receipts root still matches anvil's receipts and a receipt proof against it verifies.

There is one BFT extra-data codec, ``light_clients.bft.codec`` (``QBFT``, ``IBFT2``), and one
set of hash rules, ``light_clients.bft.rules`` (the commit form every seal signs, the block
form Besu's block hash is taken over): the light clients verify with them, and this module
seals with the same code, so a header sealed here is by construction one the light clients
read. What this module adds is the sealing side with hex keys and checksummed addresses
(``flavour`` ``"qbft"`` or ``"ibft2"``) as tests, the bench and the devnet proxy hold them.
``QbftLightClient.sol`` implements the same rules on chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eth_keys import keys
from eth_utils import to_checksum_address

from light_clients.bft import rules
from light_clients.bft.codec import IBFT2, QBFT, BftExtra, ExtraCodec, Vote, decode_extra, encode_extra
from light_clients.bft.common import recover_signer, sign_hash
from light_clients.evm.header import Header
from relayer.errors import VerificationError

CODECS: dict[str, ExtraCodec] = {"qbft": QBFT, "ibft2": IBFT2}
FLAVOURS = tuple(CODECS)
FLAVOUR_ID = {"qbft": 0, "ibft2": 1}  # the QbftLightClient constructor argument
VANITY = bytes(32)

quorum = rules.quorum  # committed seals a header of an n-validator set needs: ceil(2n/3) (Besu)


def codec(flavour: str) -> ExtraCodec:
    """The extra-data codec of ``flavour``; raises ValueError for another name."""
    try:
        return CODECS[flavour]
    except KeyError:
        raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}") from None


def vote_for(recipient: str | bytes, add: bool) -> Vote:
    """A vote to add (``add=True``) or drop ``recipient`` (an address, hex or 20 bytes).

    Raises VerificationError for bytes that are not 20 long, ValueError for text that is no address.
    """
    return Vote(_address(recipient), add)


def extra_of(header: Header, flavour: str = "qbft") -> BftExtra:
    """The decoded extraData of ``header``; raises VerificationError when it is not ``flavour``'s."""
    return decode_extra(codec(flavour), header.extra_data)


# ---------------------------------------------------------------------- hashes


def committed_seal_hash(header: Header, flavour: str = "qbft") -> bytes:
    """The digest validators seal: the header with extraData in its committed-seal form."""
    return rules.commit_hash(codec(flavour), header, extra_of(header, flavour))


def qbft_block_hash(header: Header, flavour: str = "qbft") -> bytes:
    """Besu's block hash (what the child's parentHash names and what the light client stores)."""
    return rules.block_hash(codec(flavour), header, extra_of(header, flavour))


# ---------------------------------------------------------------------- seals


def sign_seal(key_hex: str, digest: bytes) -> bytes:
    """A committed seal: 65 bytes ``r‖s‖v`` with ``v`` in {0, 1}. Raises VerificationError for a
    digest or a key that is not 32 bytes."""
    if len(digest) != 32:
        raise VerificationError("a digest is 32 bytes", length=len(digest))
    return sign_hash(_key_bytes(key_hex), bytes(digest))


def recover_seal(digest: bytes, seal: bytes) -> str:
    """Checksummed signer of a committed seal. Raises VerificationError on a malformed seal."""
    signer = recover_signer(bytes(digest), bytes(seal))
    if signer is None:
        raise VerificationError("committed seal does not recover")
    return str(to_checksum_address(signer))


def seal_signers(header: Header, flavour: str = "qbft") -> list[str]:
    """Signers of the header's committed seals, in seal order; raises VerificationError."""
    digest = committed_seal_hash(header, flavour)
    return [recover_seal(digest, s) for s in extra_of(header, flavour).seals]


def address_of(key_hex: str) -> str:
    """Checksummed address of a private key."""
    return str(keys.PrivateKey(_key_bytes(key_hex)).public_key.to_checksum_address())


def sealed_header(header: Header, validators: Sequence[str], round: int = 0, flavour: str = "qbft",
                  vote: Vote | None = None, *, listed: Iterable[str] | None = None,
                  vanity: bytes = VANITY) -> Header:
    """``header`` with only its extraData replaced: ``listed`` validator addresses (default: the
    addresses of the ``validators`` keys), sorted ascending as Besu lists them, ``vote``, ``round``
    and one committed seal per key in ``validators``, in the given order. Raises ValueError for an
    unknown flavour or a key or address that is not hex, VerificationError for one of the wrong length."""
    bft = codec(flavour)
    if listed is None:
        listed = [address_of(k) for k in validators]
    ordered = tuple(sorted((_address(a) for a in listed), key=lambda b: int.from_bytes(b, "big")))
    unsealed = BftExtra(vanity, ordered, vote, round, ())
    digest = rules.commit_hash(bft, header, unsealed)
    seals = tuple(sign_seal(k, digest) for k in validators)
    return header.replace(extra_data=encode_extra(bft, BftExtra(vanity, ordered, vote, round, seals)))


def seal_header(header: Header, validators: Sequence[str], round: int = 0, flavour: str = "qbft",
                vote: Vote | None = None, *, listed: Iterable[str] | None = None,
                vanity: bytes = VANITY) -> bytes:
    """RLP of ``sealed_header(...)``: what ``QbftLightClient.updateHeader`` / ``submitUpdate`` take."""
    return sealed_header(header, validators, round, flavour, vote, listed=listed, vanity=vanity).rlp


def with_seals(header: Header, seals: Iterable[bytes], flavour: str = "qbft") -> Header:
    """``header`` with its committed seals replaced (the rest of extraData unchanged)."""
    bft = codec(flavour)
    extra = decode_extra(bft, header.extra_data)
    new = BftExtra(extra.vanity, extra.validators, extra.vote, extra.round, tuple(seals))
    return header.replace(extra_data=encode_extra(bft, new))


# ---------------------------------------------------------------------- helpers


def _address(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 20:
            raise VerificationError("an address is 20 bytes", length=len(value))
        return value
    return bytes.fromhex(to_checksum_address(value)[2:])


def _key_bytes(key_hex: str) -> bytes:
    text = key_hex[2:] if key_hex.startswith("0x") else key_hex
    key = bytes.fromhex(text)
    if len(key) != 32:
        raise VerificationError("a private key is 32 bytes", length=len(key))
    return key


__all__ = [
    "CODECS",
    "FLAVOURS",
    "FLAVOUR_ID",
    "VANITY",
    "BftExtra",
    "Vote",
    "address_of",
    "codec",
    "committed_seal_hash",
    "extra_of",
    "qbft_block_hash",
    "quorum",
    "recover_seal",
    "seal_header",
    "seal_signers",
    "sealed_header",
    "sign_seal",
    "vote_for",
    "with_seals",
]
