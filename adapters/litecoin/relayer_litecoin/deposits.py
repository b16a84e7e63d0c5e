"""Deposits in a block: transactions paying the custody script with a relayer OP_RETURN payload.

A transaction is a deposit when one or more of its outputs pay the custody's script (their amounts add
up) and it has an OP_RETURN output whose data starts with the payload's magic. One with a custody output
and a malformed payload (or none) is not relayed: it is returned as :class:`Refused`, so the source can
log it (the coins stay in custody; the operators may return them, :mod:`relayer_litecoin.returns`). A
transaction that spends a custody output (the consortium's own: a release or a return, whose change goes
back to the custody) is neither."""

from __future__ import annotations

from dataclasses import dataclass

from embit.transaction import Transaction

from relayer_litecoin.payload import DepositPayload, PayloadError, decode, is_relayer_payload

OP_RETURN = 0x6A


@dataclass(frozen=True)
class Deposit:
    """A deposit: its transaction's position and id (display order), the custody outputs and their sum
    (litoshis), and where it goes."""

    tx_index: int
    txid: bytes
    outputs: tuple[int, ...]
    amount: int
    payload: DepositPayload


@dataclass(frozen=True)
class Refused:
    """A transaction paying the custody that is no valid deposit, and why."""

    tx_index: int
    txid: bytes
    amount: int
    reason: str


def op_return_data(script_pubkey: bytes) -> bytes | None:
    """The pushed bytes of an OP_RETURN output (one push, direct or OP_PUSHDATA1), None otherwise."""
    if not script_pubkey or script_pubkey[0] != OP_RETURN:
        return None
    rest = script_pubkey[1:]
    if rest and 1 <= rest[0] <= 75 and len(rest) == 1 + rest[0]:
        return rest[1:]
    if len(rest) >= 2 and rest[0] == 0x4C and len(rest) == 2 + rest[1]:
        return rest[2:]
    return None


def spends_custody(tx: Transaction, witness_script: bytes) -> bool:
    """Whether any input of ``tx`` spends a custody output: its witness ends with the custody's witness
    script (only M operators' signatures make such an input valid). Raises nothing."""
    return any(vin.witness.items and bytes(vin.witness.items[-1]) == witness_script for vin in tx.vin)


def scan(txs: tuple[Transaction, ...], custody_script: bytes,
         witness_script: bytes | None = None) -> tuple[list[Deposit], list[Refused]]:
    """The deposits and the refused custody payments among ``txs`` (block order); with ``witness_script``
    (the custody's), its own spends are left out. Raises nothing."""
    deposits, refused = [], []
    for index, tx in enumerate(txs):
        if witness_script is not None and spends_custody(tx, witness_script):
            continue
        outputs = tuple(i for i, out in enumerate(tx.vout) if bytes(out.script_pubkey.data) == custody_script)
        if not outputs:
            continue
        amount = sum(tx.vout[i].value for i in outputs)
        txid = bytes(tx.txid())
        datas = [d for out in tx.vout if (d := op_return_data(bytes(out.script_pubkey.data))) is not None]
        claimed = [d for d in datas if is_relayer_payload(d)]
        if len(claimed) != 1:
            reason = "no relayer OP_RETURN payload" if not claimed else "more than one relayer OP_RETURN payload"
            refused.append(Refused(index, txid, amount, reason))
            continue
        try:
            deposits.append(Deposit(index, txid, outputs, amount, decode(claimed[0])))
        except PayloadError as exc:
            refused.append(Refused(index, txid, amount, str(exc)))
    return deposits, refused


__all__ = ["Deposit", "Refused", "op_return_data", "scan", "spends_custody"]
