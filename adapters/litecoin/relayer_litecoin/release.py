"""A custody spend built deterministically: every operator builds the byte-identical unsigned transaction
from the same request and the same proven custody outputs, so M of them can sign it.

The rules (a pure function of the request, the candidate outputs and the fee rate):

* coin selection: the candidates sorted by value (largest first), then by outpoint; taken in that order
  until they cover the amount with no change or with change of at least ``MIN_OUTPUT``;
* inputs in that order, each with nSequence ``0xfffffffd`` (BIP 125: replaceable by fee); version 2,
  lock time 0;
* outputs in this order: the recipient gets the amount less the fee; the OP_RETURN carries the marker
  (:mod:`marker`: the message id of a release); the change (the inputs less the amount, when not zero)
  goes back to the custody. The custody therefore gives exactly the amount; the fee is the recipient's;
* the fee is ``fee_rate`` (litoshis per virtual byte) times the transaction's virtual size with M
  signatures of the largest low-s size (72 bytes with the sighash byte), so the real rate is at least the
  stated one. A replacement (RBF) uses the same inputs and change and a higher rate: only the
  recipient's output shrinks, and the two spend the same outputs, so at most one can confirm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embit import compact
from embit.psbt import PSBT
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from relayer.errors import FatalError
from relayer_litecoin.address import script_of
from relayer_litecoin.custody import Custody
from relayer_litecoin.marker import Marker
from relayer_litecoin.network import Network
from relayer_litecoin.utxo import Outpoint, ProvenUtxo

SEQUENCE_RBF = 0xFFFFFFFD
TX_VERSION = 2
MAX_SIGNATURE = 72  # DER with r of 33 bytes and a low s of 32 (71) and the sighash byte
#: no output below this (litoshis): far above litecoind's dust threshold for any script
MIN_OUTPUT = 10_000


class ReleaseError(FatalError):
    """A custody spend that cannot be built or signed as asked (``str()`` says why and for which marker)."""


@dataclass(frozen=True)
class ReleaseRequest:
    """Pay ``amount`` litoshis (less the fee) to ``recipient`` (an address of the network) for ``marker``."""

    marker: Marker
    recipient: str
    amount: int


@dataclass(frozen=True)
class Release:
    """A built custody spend: its request, fee rate and fee (litoshis), estimated virtual size (bytes), the
    proven inputs in order, the change and the unsigned transaction."""

    request: ReleaseRequest
    fee_rate: int
    fee: int
    vsize: int
    inputs: tuple[ProvenUtxo, ...]
    change: int
    tx: Transaction

    @property
    def txid(self) -> str:
        """The transaction's id (display order hex): signatures do not change it."""
        return str(self.tx.txid().hex())

    @property
    def outpoints(self) -> tuple[Outpoint, ...]:
        return tuple(u.outpoint for u in self.inputs)

    @property
    def paid(self) -> int:
        """What the recipient gets: the amount less the fee."""
        return self.request.amount - self.fee

    def psbt(self, custody: Custody) -> PSBT:
        """The unsigned PSBT: each input with its witness UTXO (value and custody script) and witness script."""
        psbt = PSBT(self.tx)
        for inp, utxo in zip(psbt.inputs, self.inputs):
            inp.witness_utxo = TransactionOutput(utxo.value, Script(custody.script_pubkey))
            inp.witness_script = Script(custody.witness_script)
        return psbt

    def summary(self) -> dict[str, Any]:
        """The figures of the release as log fields and JSON output (never a key)."""
        return {"marker": str(self.request.marker), "txid": self.txid, "recipient": self.request.recipient,
                "amount": self.request.amount, "fee": self.fee, "fee_rate": self.fee_rate, "vsize": self.vsize,
                "paid": self.paid, "change": self.change, "inputs": [str(p) for p in self.outpoints]}


def select(candidates: list[ProvenUtxo], amount: int) -> tuple[list[ProvenUtxo], int]:
    """The inputs (see the module's docstring) and the change. Raises ReleaseError when the candidates do not
    cover ``amount`` with a change of 0 or at least MIN_OUTPUT."""
    chosen, total = [], 0
    for utxo in sorted(candidates, key=lambda u: (-u.value, u.outpoint)):
        chosen.append(utxo)
        total += utxo.value
        if total == amount or total >= amount + MIN_OUTPUT:
            return chosen, total - amount
    raise ReleaseError(f"the custody's proven outputs ({total} litoshis in {len(chosen)}) cannot pay {amount} "
                       f"litoshis with a change of 0 or at least {MIN_OUTPUT}")


def vsize(custody: Custody, inputs: int, outputs: list[bytes]) -> int:
    """The virtual size of a custody spend with ``inputs`` inputs and outputs of these scripts, signed by
    ``custody.threshold`` signatures of MAX_SIGNATURE bytes."""
    ws = custody.witness_script
    base = 4 + len(compact.to_bytes(inputs)) + 41 * inputs + len(compact.to_bytes(len(outputs)))
    base += sum(8 + len(compact.to_bytes(len(s))) + len(s) for s in outputs) + 4
    items = custody.threshold + 2
    witness = len(compact.to_bytes(items)) + 1 + custody.threshold * (1 + MAX_SIGNATURE)
    witness += len(compact.to_bytes(len(ws))) + len(ws)
    weight = 4 * base + 2 + inputs * witness
    return (weight + 3) // 4


def build(request: ReleaseRequest, candidates: list[ProvenUtxo], custody: Custody, net: Network,
          fee_rate: int) -> Release:
    """The custody spend of ``request`` (see the module's docstring). Pure. Raises ReleaseError (an amount
    the fee leaves below MIN_OUTPUT, too few candidates, a fee rate below 1), AddressError (a recipient
    that is not an address of ``net``)."""
    if fee_rate < 1:
        raise ReleaseError(f"fee rate {fee_rate} litoshis/vbyte is below 1", marker=str(request.marker))
    recipient = script_of(request.recipient, net)
    inputs, change = select(candidates, request.amount)
    scripts = [recipient, request.marker.script()] + ([custody.script_pubkey] if change else [])
    size = vsize(custody, len(inputs), scripts)
    fee = fee_rate * size
    if request.amount - fee < MIN_OUTPUT:
        raise ReleaseError(f"amount {request.amount} litoshis less the fee of {fee} is below {MIN_OUTPUT}",
                           marker=str(request.marker))
    values = [request.amount - fee, 0] + ([change] if change else [])
    tx = Transaction(version=TX_VERSION, locktime=0,
                     vin=[TransactionInput(u.outpoint.txid, u.outpoint.vout, sequence=SEQUENCE_RBF) for u in inputs],
                     vout=[TransactionOutput(v, Script(s)) for v, s in zip(values, scripts)])
    return Release(request, fee_rate, fee, size, tuple(inputs), change, tx)


__all__ = ["MIN_OUTPUT", "SEQUENCE_RBF", "Release", "ReleaseError", "ReleaseRequest", "build", "select", "vsize"]
