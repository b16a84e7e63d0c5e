"""An operator signing a custody spend: it trusts neither the submitter nor the submitter's node.

Before signing, the operator (1) checks the fee rate against its own policy, (2) proves every input on
its own node against its own verified headers (:mod:`utxo`), refusing an input a mempool transaction of
another marker spends, (3) asks its own ``authorize`` whether the
request is due (for a release: the burn verified with its own EVM light client and proof, which the
caller supplies; for a return: :func:`relayer_litecoin.returns.authorize_return`), (4) rebuilds the
transaction with the deterministic rules (:mod:`release`) and requires it byte for byte, and (5) writes
to its journal the inputs it signs for the marker, refusing another set of inputs for a marker already
signed (a replacement by fee spends the same inputs). Only then it signs each input (BIP 143,
SIGHASH_ALL) with its key and returns the PSBT with its signatures. The key never leaves the signer and
is never logged; log lines carry the operator's address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from embit.ec import PublicKey
from embit.psbt import PSBT
from embit.transaction import Transaction

from relayer_litecoin.custody import SIGHASH_ALL, Custody
from relayer_litecoin.journal import Records
from relayer_litecoin.keys import LitecoinSigner
from relayer_litecoin.ledger import CustodyLedger
from relayer_litecoin.network import Network
from relayer_litecoin.policy import ReleasePolicy
from relayer_litecoin.release import ReleaseError, ReleaseRequest, build
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.utxo import Outpoint, ProvenUtxo, locate

log = structlog.get_logger("relayer_litecoin")

#: an operator's own check that a request is due, given its proven inputs; raises ReleaseError when not
Authorize = Callable[[ReleaseRequest, list[ProvenUtxo]], Awaitable[None]]


class SigningPeer(Protocol):
    """An operator the submitter asks for signatures (in-process here; across the network in the daemon)."""

    public_key: bytes

    async def sign(self, request: ReleaseRequest, psbt: str, fee_rate: int) -> str:
        """The base64 PSBT with this operator's signature on every input. Raises ReleaseError (refused),
        VerificationError (a node that lies), RpcError (its node unreachable). Cancelled: nothing signed
        unless the journal was written."""
        ...


class ReleaseOperator:
    """One operator: its ``signer`` (key), its own node (``rpc``) and verified ``chain``, the ``custody``,
    the fee ``policy``, its ``journal`` of signed inputs and its ``authorize`` check of requests."""

    def __init__(self, signer: LitecoinSigner, rpc: LitecoinRpc, chain: HeaderChain, custody: Custody,
                 net: Network, policy: ReleasePolicy, journal: Records, authorize: Authorize) -> None:
        self.signer, self.rpc, self.chain, self.custody, self.net = signer, rpc, chain, custody, net
        self.policy, self.journal, self.authorize = policy, journal, authorize
        self.public_key = signer.public_key

    async def sign(self, request: ReleaseRequest, psbt: str, fee_rate: int) -> str:
        """See SigningPeer.sign. Raises ReleaseError, VerificationError, RpcError, RpcAnswerError."""
        marker = str(request.marker)
        if self.public_key not in self.custody.keys:
            raise ReleaseError("this operator's key is not a custody key", operator=self.signer.address)
        if not self.policy.fee_rate <= fee_rate <= self.policy.max_fee_rate:
            raise ReleaseError(f"fee rate {fee_rate} is outside this operator's {self.policy.fee_rate}.."
                               f"{self.policy.max_fee_rate} litoshis/vbyte", marker=marker)
        try:
            unsigned = PSBT.from_base64(psbt)
        except Exception as exc:  # embit raises many types for malformed PSBTs
            raise ReleaseError(f"the PSBT does not parse: {type(exc).__name__}", marker=marker) from exc
        points = [Outpoint(bytes(i.txid), int(i.vout)) for i in unsigned.inputs]
        await self.chain.sync()
        proven = [await locate(self.rpc, self.chain, self.custody.script_pubkey, p) for p in points]
        await self._not_spent_by_another(request, points)
        await self.authorize(request, proven)
        rebuilt = build(request, proven, self.custody, self.net, fee_rate)
        if rebuilt.tx.serialize() != unsigned.tx.serialize():
            raise ReleaseError("the PSBT is not the transaction the release rules build", marker=marker,
                               operator=self.signer.address)
        record = self.journal.get(marker)
        if record is not None and record["inputs"] != [str(p) for p in points]:
            raise ReleaseError("this operator already signed other inputs for this marker", marker=marker,
                               signed=",".join(record["inputs"]))
        self.journal.put(marker, {"inputs": [str(p) for p in points],
                                  "signed": sorted({*(record or {}).get("signed", []), rebuilt.txid})})
        signed = rebuilt.psbt(self.custody)
        for i, (inp, utxo) in enumerate(zip(signed.inputs, proven)):
            digest = self.custody.sighash(rebuilt.tx, i, utxo.value)
            signature = self.signer.sign_digest(digest) + bytes([SIGHASH_ALL])
            inp.partial_sigs[PublicKey.parse(self.public_key)] = signature
        log.info("release.signed", marker=marker, txid=rebuilt.txid, operator=self.signer.address, fee=rebuilt.fee,
                 fee_rate=fee_rate)
        return str(signed.to_base64())

    async def _not_spent_by_another(self, request: ReleaseRequest, points: list[Outpoint]) -> None:
        """An input a mempool transaction spends must be spent by this marker's own spend (the one a
        replacement replaces), never by another marker's: signing would evict another release. Raises
        ReleaseError."""
        spent = {p for p in points if await self.rpc.call("gettxout", p.txid.hex(), p.vout, True) is None}
        if not spent:
            return
        own = await CustodyLedger(self.rpc, self.chain, self.custody).in_mempool(request.marker)
        ours = set() if own is None else {Outpoint(bytes(i.txid), i.vout) for i in Transaction.parse(own.raw).vin}
        if not spent <= ours:
            raise ReleaseError("an input is spent in the mempool by another transaction than this marker's",
                               marker=str(request.marker), inputs=",".join(str(p) for p in sorted(spent - ours)))


__all__ = ["Authorize", "ReleaseOperator", "SigningPeer"]
