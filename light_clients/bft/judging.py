"""``relayer header verify`` for light clients that judge seals on their own (QBFT, IBFT 2.0,
Clique): a block object as ``eth_getBlockByNumber`` returns it, judged against a validator set.

The core's command only reads arguments and files and prints; what a block is, what a validator
address looks like and how seals are judged is the plugin's (``parse_validator``, ``judge_block``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from light_clients.bft.common import Verdict, hex0x
from light_clients.evm.header import Header, header_from_rpc, parse_data
from relayer.errors import RelayerError, RpcAnswerError, VerificationError

CHAIN_NAME = "header-verify"


class SealJudge:
    """Mixin for a client class with classmethods ``listed_validators``, ``hash_of``, ``signers_of``,
    a constructor taking ``validators`` and ``epoch`` options, and an instance ``verify``."""

    @classmethod
    def parse_validator(cls, text: str) -> bytes:
        """A validator address given on the command line. Raises ValueError saying what it is not."""
        try:
            return parse_data(text, "--validators", size=20)
        except RpcAnswerError as exc:
            raise ValueError("is not a 0x-hex address") from exc

    @classmethod
    def judge_block(cls, block: Mapping[str, Any], validators: tuple[bytes, ...] | None, epoch: int) -> dict[str, Any]:
        """The verdict on ``block`` as JSON (``number``, ``hash``, ``valid``, ``signers``, ``validators``,
        ``quorum``, ``reason``?); ``validators`` None: the block's own list. Raises RpcAnswerError when
        ``block`` is not a block object this family reads (nothing else: an invalid block is a verdict)."""
        header = header_from_rpc(block)
        claimed = None if block.get("hash") is None else parse_data(block["hash"], "hash", size=32)
        return cls._judge(header, claimed, validators, epoch).to_json()

    @classmethod
    def _judge(cls, header: Header, claimed: bytes | None, validators: tuple[bytes, ...] | None, epoch: int) -> Verdict:
        judge: Any = cls
        if validators is None:
            try:
                validators = judge.listed_validators(header, epoch=epoch)
            except VerificationError as exc:
                return cls._unjudged(header, (), exc.message, epoch)
        assert validators is not None
        try:
            client = judge(CHAIN_NAME, 0, 0, validators=[hex0x(v) for v in validators], epoch=epoch)
        except RelayerError as exc:  # e.g. an empty list read from the block
            return cls._unjudged(header, validators, exc.message, epoch)
        verdict: Verdict = client.verify(header, claimed)
        return verdict

    @classmethod
    def _unjudged(cls, header: Header, validators: tuple[bytes, ...], reason: str, epoch: int) -> Verdict:
        """An invalid verdict for a header no client could be set up for, with what is known of it."""
        judge: Any = cls
        try:
            hash_, signers = judge.hash_of(header), judge.signers_of(header, epoch=epoch)
        except VerificationError:
            hash_, signers = None, ()
        return Verdict(False, signers, validators, 0, reason, hash_, header.number)


__all__ = ["CHAIN_NAME", "SealJudge"]
