"""Clique (EIP-225, geth ``consensus/clique``) header rules that need no history.

extraData = 32-byte vanity ‖ (at epoch blocks: the ascending signer list, 20 bytes each)
‖ 65-byte seal ``r ‖ s ‖ v`` (v in {0, 1}). The seal signs keccak of the header RLP with
the seal cut off extraData. Votes ride in coinbase (the subject) and nonce (``0xff..ff``
add, ``0x00..00`` drop); an epoch block votes for nobody and lists the signers.
"""

from __future__ import annotations

from dataclasses import dataclass

from light_clients.bft.common import hex0x, recover_signer
from light_clients.evm.header import Header
from relayer.errors import VerificationError

EXTRA_VANITY = 32
EXTRA_SEAL = 65
ADDRESS_LENGTH = 20
NONCE_AUTH = b"\xff" * 8
NONCE_DROP = b"\x00" * 8
DIFF_IN_TURN = 2
DIFF_NO_TURN = 1
ZERO_ADDRESS = b"\x00" * 20
ZERO_HASH = b"\x00" * 32
EMPTY_UNCLES_HASH = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")


@dataclass(frozen=True)
class CliqueSeal:
    """What a Clique header says about its signing: the signer, the listed signers, the vote."""

    signer: bytes | None  # None: the seal is no valid signature
    listed: tuple[bytes, ...] | None  # the signer list of an epoch block, else None
    authorize: bool  # the nonce: True = vote to add coinbase, False = drop (or no vote)


def seal_hash(header: Header) -> bytes:
    """The hash a Clique seal signs: the header with the 65-byte seal cut off extraData."""
    return header.replace(extra_data=header.extra_data[:-EXTRA_SEAL]).hash


def is_epoch(number: int, epoch: int) -> bool:
    """Whether block ``number`` is an epoch (checkpoint) block."""
    return number % epoch == 0


def read_seal(header: Header, epoch: int) -> CliqueSeal:
    """Check the history-free rules of ``header`` and recover its signer.

    Raises VerificationError (naming the rule, as geth's errors do) on a short extraData,
    signers outside an epoch block or a ragged list, a nonzero mixHash, ommers, a difficulty
    other than 1 or 2, a nonce that is no vote, or an epoch block that votes.
    """
    check_fields(header, epoch)
    signer = recover_signer(seal_hash(header), header.extra_data[-EXTRA_SEAL:])
    listed = _listed(header) if is_epoch(header.number, epoch) else None
    return CliqueSeal(signer, listed, header.nonce == NONCE_AUTH)


def check_fields(header: Header, epoch: int) -> None:
    """Raises VerificationError unless ``header`` obeys Clique's history-free rules."""
    number, extra = header.number, header.extra_data
    checkpoint = is_epoch(number, epoch)
    if len(extra) < EXTRA_VANITY + EXTRA_SEAL:
        raise VerificationError("extraData is shorter than vanity and seal (97 bytes)", block=number)
    signers_bytes = len(extra) - EXTRA_VANITY - EXTRA_SEAL
    if not checkpoint and signers_bytes:
        raise VerificationError("extraData lists signers outside an epoch block", block=number)
    if checkpoint and signers_bytes % ADDRESS_LENGTH:
        raise VerificationError("epoch block signer list is not a whole number of addresses", block=number)
    if header.nonce not in (NONCE_AUTH, NONCE_DROP):
        raise VerificationError(f"nonce {hex0x(header.nonce)} is no vote (all 0x00 or all 0xff)", block=number)
    if checkpoint and (header.coinbase != ZERO_ADDRESS or header.nonce != NONCE_DROP):
        raise VerificationError("an epoch block carries no vote (zero coinbase and nonce)", block=number)
    if header.mix_hash != ZERO_HASH:
        raise VerificationError("mixHash is not zero", block=number)
    if header.uncles_hash != EMPTY_UNCLES_HASH:
        raise VerificationError("a Clique header has no ommers", block=number)
    if number > 0 and header.difficulty not in (DIFF_IN_TURN, DIFF_NO_TURN):
        raise VerificationError(f"difficulty {header.difficulty} is neither 1 nor 2", block=number)


def _listed(header: Header) -> tuple[bytes, ...]:
    body = header.extra_data[EXTRA_VANITY:-EXTRA_SEAL]
    return tuple(body[i : i + ADDRESS_LENGTH] for i in range(0, len(body), ADDRESS_LENGTH))


def listed_signers(header: Header) -> tuple[bytes, ...]:
    """The signer list in extraData (empty outside epoch blocks); raises VerificationError if too short."""
    if len(header.extra_data) < EXTRA_VANITY + EXTRA_SEAL:
        raise VerificationError("extraData is shorter than vanity and seal (97 bytes)", block=header.number)
    if (len(header.extra_data) - EXTRA_VANITY - EXTRA_SEAL) % ADDRESS_LENGTH:
        raise VerificationError("extraData signer list is not a whole number of addresses", block=header.number)
    return _listed(header)


__all__ = [
    "DIFF_IN_TURN",
    "DIFF_NO_TURN",
    "EXTRA_SEAL",
    "EXTRA_VANITY",
    "NONCE_AUTH",
    "NONCE_DROP",
    "CliqueSeal",
    "check_fields",
    "is_epoch",
    "listed_signers",
    "read_seal",
    "seal_hash",
]
