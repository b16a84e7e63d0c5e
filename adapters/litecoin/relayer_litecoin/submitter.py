"""The designated submitter of custody spends: it looks for an existing spend of the marker (chain and
mempool), else builds the deterministic transaction, asks the operators for signatures until M verify,
combines them into the P2WSH multisig witness, writes the signed transaction to its journal and only then
broadcasts it; a release left unconfirmed is replaced by fee with the same inputs.

Exactly once, across crashes and restarts: ``prepare`` first searches the custody's history and the
mempool (:mod:`ledger`) and adopts a spend it finds; else it takes the signed transaction from its journal
(a crash between combining and broadcasting), else the inputs it recorded before asking for signatures (the
same transaction is rebuilt byte for byte), and only with none of these builds from the custody's outputs.
The operators' own journals refuse a second set of inputs for a marker, so two spends of one marker can
only conflict. A submitter that is not the designated one refuses unless it is told to take over."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog
from embit.ec import PublicKey, Signature
from embit.psbt import PSBT
from embit.script import Witness
from embit.transaction import Transaction

from relayer.errors import RelayerError, RpcError
from relayer_litecoin.custody import SIGHASH_ALL, Custody
from relayer_litecoin.journal import Records
from relayer_litecoin.ledger import CustodyLedger, Found
from relayer_litecoin.marker import Marker
from relayer_litecoin.network import Network
from relayer_litecoin.operator import SigningPeer
from relayer_litecoin.policy import ReleasePolicy, submitters
from relayer_litecoin.release import Release, ReleaseError, ReleaseRequest, build
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.utxo import Outpoint, ProvenUtxo, custody_utxos, locate

log = structlog.get_logger("relayer_litecoin")

#: litecoind's answers to sendrawtransaction that mean the transaction is already known
ALREADY_KNOWN = ("txn-already-in-mempool", "txn-already-known", "Transaction already in block chain")


@dataclass(frozen=True)
class Outcome:
    """Where a marker's spend stands: ``state`` is ``found`` (an existing spend adopted), ``signed`` (combined,
    not yet broadcast), ``broadcast`` or ``replaced``; ``txid``; ``height`` (None: unconfirmed); ``release``
    (the built transaction when this submitter built it)."""

    state: str
    txid: str
    raw: bytes
    height: int | None = None
    release: Release | None = None


def combine(release: Release, custody: Custody, signed: Sequence[str]) -> Transaction:
    """The signed transaction of ``release`` from operators' PSBTs: per input, the first ``threshold``
    signatures (by custody keys, in the script's key order) that verify against the input's digest.
    Raises ReleaseError when fewer verify."""
    tx = Transaction.parse(release.tx.serialize())
    for i, utxo in enumerate(release.inputs):
        digest = custody.sighash(release.tx, i, utxo.value)
        good: dict[bytes, bytes] = {}
        for text in signed:
            psbt = PSBT.from_base64(text)
            if psbt.tx.serialize() != release.tx.serialize():
                continue
            for pub, sig in psbt.inputs[i].partial_sigs.items():
                key = bytes(pub.sec())
                if key in custody.keys and sig[-1] == SIGHASH_ALL and _verifies(pub, sig[:-1], digest):
                    good[key] = sig[:-1]
        try:
            tx.vin[i].witness = Witness(custody.witness(good))
        except ValueError as exc:
            raise ReleaseError(f"input {i}: {exc}", marker=str(release.request.marker)) from exc
    return tx


def _verifies(pub: PublicKey, der: bytes, digest: bytes) -> bool:
    try:
        return bool(pub.verify(Signature.parse(der), digest))
    except Exception:  # noqa: BLE001 - embit raises its own types for malformed DER: not a signature
        return False


class ReleaseSubmitter:
    """One operator's submitter: ``me`` its public key, ``peers`` the operators it asks (itself included)."""

    def __init__(self, me: bytes, rpc: LitecoinRpc, chain: HeaderChain, custody: Custody, net: Network,
                 policy: ReleasePolicy, journal: Records, peers: Sequence[SigningPeer]) -> None:
        self.me, self.rpc, self.chain, self.custody, self.net = me, rpc, chain, custody, net
        self.policy, self.journal, self.peers = policy, journal, list(peers)
        self.ledger = CustodyLedger(rpc, chain, custody)

    async def release(self, request: ReleaseRequest, *, takeover: bool = False,
                      candidates: list[ProvenUtxo] | None = None) -> Outcome:
        """``prepare`` then ``broadcast``. Raises like them."""
        outcome = await self.prepare(request, takeover=takeover, candidates=candidates)
        if outcome.state == "found":
            return outcome
        return replace(await self.broadcast(request.marker), release=outcome.release)

    async def prepare(self, request: ReleaseRequest, *, takeover: bool = False,
                      candidates: list[ProvenUtxo] | None = None) -> Outcome:
        """An existing spend of the marker (``found``), or the signed transaction, written to the journal but
        not broadcast (``signed``). ``candidates``: the proven outputs to build from (a return: the refused
        deposit's, :func:`relayer_litecoin.returns.refused_deposit`); default all the custody's. Raises
        ReleaseError (not the designated submitter, fewer than M signatures, a request the custody cannot
        pay), VerificationError (a lying node), RpcError.
        Cancelled: what was written to the journal stays; a later call resumes from it."""
        marker = str(request.marker)
        if not takeover and submitters(self.custody, request.marker)[0] != self.me:
            raise ReleaseError("this operator is not the designated submitter", marker=marker)
        found = await self.ledger.find(request.marker)
        if found is not None:
            self._adopt(request, found)
            log.info("release.found", marker=marker, txid=found.txid, height=found.height)
            return Outcome("found", found.txid, found.raw, found.height)
        record = self.journal.get(marker)
        if record and record.get("request", _request_record(request)) != _request_record(request):
            raise ReleaseError("the journal holds another request for this marker", marker=marker,
                               recorded=json.dumps(record["request"], sort_keys=True))
        if record and record.get("txs"):
            last = record["txs"][-1]
            return Outcome("signed", last["txid"], bytes.fromhex(last["hex"]))
        if record and record.get("inputs"):
            inputs = [await locate(self.rpc, self.chain, self.custody.script_pubkey, Outpoint.parse(p))
                      for p in record["inputs"]]
            release = build(request, inputs, self.custody, self.net, int(record["fee_rate"]))
        else:
            if candidates is None:
                candidates = await custody_utxos(self.rpc, self.chain, self.custody.script_pubkey)
            release = build(request, candidates, self.custody, self.net, self.policy.fee_rate)
            self.journal.put(marker, {"request": _request_record(request), "fee_rate": release.fee_rate, "txs": [],
                                      "inputs": [str(p) for p in release.outpoints]})
        log.info("release.built", **release.summary())
        return await self._sign(release)

    async def _sign(self, release: Release) -> Outcome:
        marker = str(release.request.marker)
        psbt = str(release.psbt(self.custody).to_base64())
        signed: list[str] = []
        for peer in self.peers:
            if len(signed) >= self.custody.threshold:
                break
            try:
                signed.append(await peer.sign(release.request, psbt, release.fee_rate))
            except (RelayerError, OSError) as exc:  # a peer down or refusing: ask the next
                log.warning("release.signer_failed", marker=marker, txid=release.txid,
                            operator=peer.public_key.hex(), error=str(exc))
        tx = combine(release, self.custody, signed)
        raw = tx.serialize()
        record = self.journal.get(marker) or {"request": _request_record(release.request), "txs": []}
        record.update(inputs=[str(p) for p in release.outpoints], fee_rate=release.fee_rate)
        record["txs"] = [*record.get("txs", []), {"txid": release.txid, "hex": raw.hex(), "fee": release.fee,
                                                  "fee_rate": release.fee_rate, "vsize": _vsize(tx)}]
        self.journal.put(marker, record)
        log.info("release.combined", marker=marker, txid=release.txid, signatures=len(signed), fee=release.fee,
                 fee_rate=release.fee_rate, vsize=_vsize(tx))
        return Outcome("signed", release.txid, raw, release=release)

    async def broadcast(self, marker: Marker) -> Outcome:
        """Send the last signed transaction of ``marker`` from the journal (one already known to the node is
        fine). Raises ReleaseError (nothing signed for it), RpcError (the node refused it: e.g. its inputs
        spent by another transaction). Cancelled: the node may or may not have it; ``prepare`` finds out."""
        record = self.journal.get(str(marker))
        if not record or not record.get("txs"):
            raise ReleaseError("no signed transaction for this marker in the journal", marker=str(marker))
        last = record["txs"][-1]
        try:
            await self.rpc.call("sendrawtransaction", last["hex"])
        except RpcError as exc:
            if len(record["txs"]) > 1 and "txn-mempool-conflict" in str(exc):
                raise ReleaseError("the node refuses replacements by fee (Litecoin Core's default "
                                   "-mempoolreplacement=0); the earlier spend stays", marker=str(marker),
                                   txid=last["txid"]) from exc
            if not any(sign in str(exc) for sign in ALREADY_KNOWN):
                raise
        if "broadcast_at" not in last:
            last["broadcast_at"] = int(await self.rpc.call("getblockcount"))
            self.journal.put(str(marker), record)
        log.info("release.broadcast", marker=str(marker), txid=last["txid"], fee=last["fee"],
                 fee_rate=last["fee_rate"])
        return Outcome("broadcast" if len(record["txs"]) == 1 else "replaced", last["txid"], bytes.fromhex(last["hex"]))

    async def bump(self, request: ReleaseRequest, fee_rate: int | None = None) -> Outcome:
        """Replace the marker's unconfirmed spend by one paying ``fee_rate`` (default the policy's next rate)
        with the same inputs and change, and broadcast it; the recipient's output pays the difference. Returns
        the ``found`` outcome instead when the spend is already in a block. Raises ReleaseError (no spend to
        replace, the rate not above the last or above ``max_fee_rate``), like ``prepare``. Cancelled: as
        ``prepare``."""
        outcome = await self.prepare_bump(request, fee_rate)
        if outcome.state == "found":
            return outcome
        return replace(await self.broadcast(request.marker), release=outcome.release)

    async def prepare_bump(self, request: ReleaseRequest, fee_rate: int | None = None) -> Outcome:
        """``bump`` without the broadcast: the replacement signed and written to the journal (``signed``), or
        the ``found`` spend already in a block. Raises like ``bump``. Cancelled: as ``prepare``."""
        marker = str(request.marker)
        record = self.journal.get(marker)
        found = await self.ledger.find(request.marker)
        if found is not None and found.height is not None:
            return Outcome("found", found.txid, found.raw, found.height)
        if not record or not record.get("inputs") or not record.get("txs"):
            raise ReleaseError("no signed spend of this marker to replace", marker=marker)
        old = int(record["fee_rate"])
        rate = self.policy.next_rate(old) if fee_rate is None else fee_rate
        if rate is None or rate <= old or rate > self.policy.max_fee_rate:
            raise ReleaseError(f"fee rate {rate} cannot replace {old} (at most {self.policy.max_fee_rate})",
                               marker=marker)
        inputs = [await locate(self.rpc, self.chain, self.custody.script_pubkey, Outpoint.parse(p))
                  for p in record["inputs"]]
        release = build(request, inputs, self.custody, self.net, rate)
        outcome = await self._sign(release)
        log.info("release.replaced", marker=marker, txid=outcome.txid, replaces=record["txs"][-1]["txid"],
                 fee=release.fee, fee_rate=rate)
        return outcome

    async def pending(self, marker: Marker) -> int | None:
        """Blocks the marker's last broadcast spend has waited unconfirmed since it was broadcast (None: it is
        in a block, or none was broadcast). Raises RpcError, VerificationError."""
        record = self.journal.get(str(marker))
        if not record or not record.get("txs") or "broadcast_at" not in record["txs"][-1]:
            return None
        found = await self.ledger.find(marker)
        if found is not None and found.height is not None:
            return None
        return int(await self.rpc.call("getblockcount")) - int(record["txs"][-1]["broadcast_at"])

    def _adopt(self, request: ReleaseRequest, found: Found) -> None:
        record = self.journal.get(str(request.marker)) or {"request": _request_record(request), "txs": []}
        tx = Transaction.parse(found.raw)
        if found.txid not in [t["txid"] for t in record.get("txs", [])]:
            record.setdefault("inputs", [str(Outpoint(bytes(i.txid), i.vout)) for i in tx.vin])
            record["found"] = {"txid": found.txid, "height": found.height}
            self.journal.put(str(request.marker), record)


def _vsize(tx: Transaction) -> int:
    full = len(tx.serialize())
    bare = [type(v)(v.txid, v.vout, sequence=v.sequence) for v in tx.vin]
    base = len(Transaction(version=tx.version, vin=bare, vout=tx.vout, locktime=tx.locktime).serialize())
    return (3 * base + full + 3) // 4


def _request_record(request: ReleaseRequest) -> dict[str, object]:
    record: dict[str, object] = {"marker": str(request.marker), "recipient": request.recipient,
                                 "amount": request.amount}
    if request.marker.origin is not None:  # a version 2 release marker: rebuilt with it after a restart
        record["origin"] = request.marker.origin
    return record


__all__ = ["ALREADY_KNOWN", "Outcome", "ReleaseSubmitter", "combine"]
