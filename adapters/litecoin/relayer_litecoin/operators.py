"""The signing side of a Litecoin destination, shared within a process: this operator's
:class:`~relayer_litecoin.operator.ReleaseOperator` (its key, its own verified chain, its journal) and the
releases it found due, one per journal file (a module-level registry keyed by the journal's path). The
daemon opens one destination per chain for its API's co-signing and one per submitter; both must sign from
the one journal, so that the operator refuses a second set of inputs for a marker whoever asks.

And the remote operators as the submitter asks them (:class:`RemotePeers`): one ``CoSigners.ask`` gathers
every peer's PSBT at once for a transaction; the submitter's loop over peers then reads them from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from embit.psbt import PSBT

from relayer.contract import Batch, CoSigners
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.journal import Journal, JournalView
from relayer_litecoin.keys import LitecoinSigner
from relayer_litecoin.operator import ReleaseOperator
from relayer_litecoin.release import ReleaseError, ReleaseRequest
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.utxo import ProvenUtxo

log = structlog.get_logger("relayer_litecoin")


@dataclass
class Signing:
    """This operator's signing state for one journal file: the journal, the operator and the releases it
    verified (marker text -> request), which its ``authorize`` requires."""

    journal: Journal
    operator: ReleaseOperator
    due: dict[str, ReleaseRequest] = field(default_factory=dict)

    def approve(self, request: ReleaseRequest) -> None:
        """Record that this operator verified the burn ``request`` releases (its own check). Raises nothing."""
        self.due[str(request.marker)] = request


_SIGNING: dict[Path, Signing] = {}


def signing(adapter: Any, signer: LitecoinSigner, journal_path: Path, confirmations: int,
            start_block: int) -> Signing:
    """The signing state of the journal ``journal_path`` in this process, made on first use with the
    chain's adapter (its node, custody, network, fee policy). Raises JournalError (an unreadable journal)."""
    key = journal_path.resolve()
    found = _SIGNING.get(key)
    if found is not None:
        return found
    config = adapter.config
    journal = Journal(journal_path)
    client = LitecoinLightClient(adapter.name, adapter.chain_id, confirmations, config.network)
    chain = HeaderChain(adapter.source, client, start_block)
    due: dict[str, ReleaseRequest] = {}

    async def authorize(request: ReleaseRequest, inputs: list[ProvenUtxo]) -> None:
        if due.get(str(request.marker)) != request:
            raise ReleaseError("this operator has not verified a burn asking for this release",
                               marker=str(request.marker))

    operator = ReleaseOperator(signer, adapter.rpc, chain, config.custody, config.network, config.release,
                               JournalView(journal, "operator"), authorize)
    _SIGNING[key] = made = Signing(journal, operator, due)
    return made


class RemotePeers:
    """The other operators of ``batch``'s release as SigningPeers (``peers()``), all asked by one
    ``cosigners.ask`` per transaction (PSBT and fee rate), whose answers are kept for the next peer."""

    def __init__(self, cosigners: CoSigners, batch: Batch, count: int) -> None:
        self.cosigners, self.batch, self.count = cosigners, batch, count
        self.answers: dict[tuple[str, int], list[tuple[str, str]]] = {}

    def peers(self) -> list[RemotePeer]:
        return [RemotePeer(self, i) for i in range(self.count)]

    async def gather(self, request: ReleaseRequest, psbt: str, fee_rate: int) -> list[tuple[str, str]]:
        """(peer name, signed PSBT) of each peer that answered for this transaction. Raises nothing for a
        peer's failure (the core logs it). Cancelled: nothing kept."""
        key = (psbt, fee_rate)
        if key not in self.answers:
            asked = {"psbt": psbt, "fee_rate": fee_rate, "marker": str(request.marker),
                     "recipient": request.recipient, "amount": request.amount}
            answers = await self.cosigners.ask(self.batch, asked)
            self.answers[key] = [(name, a["psbt"]) for name, a in answers if isinstance(a.get("psbt"), str)]
            log.info("release.cosigned", marker=str(request.marker), peers=[n for n, _ in self.answers[key]])
        return self.answers[key]


class RemotePeer:
    """The ``index``-th answer of :class:`RemotePeers` (relayer_litecoin.operator.SigningPeer)."""

    def __init__(self, pool: RemotePeers, index: int) -> None:
        self.pool, self.index = pool, index
        self.public_key = b""  # known once it answered: the key of its signature

    async def sign(self, request: ReleaseRequest, psbt: str, fee_rate: int) -> str:
        """The signed PSBT of the peer answering ``index``-th. Raises ReleaseError when fewer answered."""
        answers = await self.pool.gather(request, psbt, fee_rate)
        if self.index >= len(answers):
            raise ReleaseError(f"{len(answers)} peer(s) co-signed", marker=str(request.marker))
        name, signed = answers[self.index]
        try:
            keys = list(PSBT.from_base64(signed).inputs[0].partial_sigs)
            self.public_key = bytes(keys[0].sec()) if keys else b""
        except Exception:  # noqa: BLE001 - embit raises many types; combine() ignores what does not verify
            log.warning("release.peer_psbt_unreadable", peer=name, marker=str(request.marker))
        return signed


__all__ = ["RemotePeer", "RemotePeers", "Signing", "signing"]
