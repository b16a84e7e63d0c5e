"""The custody's spendable outputs: read from the node (``scantxoutset``), each proven before it is used.

An output is used only when its funding transaction is proven in a final block: the node's
``gettxoutproof`` (a partial merkle tree) must lead to the merkle root of the header the light client
verified at that height, the transaction's bytes (``getrawtransaction``) must hash to the proven id, and
the output in those bytes must pay the custody's script the amount the node claimed. Anything else is a
node that lies (or a chain that moved): VerificationError, before anything is signed. ``gettxout`` with
the mempool tells which outputs an unconfirmed transaction already spends (they are left out)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from embit.transaction import Transaction

from relayer.errors import RpcAnswerError, VerificationError
from relayer_litecoin.block import stripped
from relayer_litecoin.header import sha256d
from relayer_litecoin.partial_merkle import PartialTreeError, parse
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.spv import HeaderChain

COIN = 100_000_000


@dataclass(frozen=True, order=True)
class Outpoint:
    """An output: its transaction's id (display order) and index."""

    txid: bytes
    vout: int

    def __str__(self) -> str:
        return f"{self.txid.hex()}:{self.vout}"

    @classmethod
    def parse(cls, text: str) -> Outpoint:
        """``TXID:N``. Raises ValueError."""
        txid, _, vout = text.partition(":")
        point = cls(bytes.fromhex(txid), int(vout))
        if len(point.txid) != 32 or point.vout < 0:
            raise ValueError(f"{text!r} is not TXID:N")
        return point


@dataclass(frozen=True)
class ProvenUtxo:
    """A custody output proven in the final block at ``height``: its ``value`` (litoshis) read from the
    funding transaction's own bytes (``tx``, without witness)."""

    outpoint: Outpoint
    value: int
    height: int
    tx: bytes


def litoshis(amount: Any) -> int:
    """An RPC amount (LTC, a JSON number) in litoshis. Raises RpcAnswerError for something else."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise RpcAnswerError(f"litecoind answered an amount that is no number: {amount!r}")
    value = Decimal(str(amount)) * COIN
    if value != value.to_integral_value() or value < 0:
        raise RpcAnswerError(f"litecoind answered an amount that is no whole number of litoshis: {amount!r}")
    return int(value)


async def prove(rpc: LitecoinRpc, chain: HeaderChain, script: bytes, point: Outpoint, height: int,
                claimed: int | None = None) -> ProvenUtxo:
    """Output ``point`` proven to pay ``script`` in the final block at ``height`` (``claimed``: the value
    the node said, which must be the proven one). Raises VerificationError (a proof, transaction or value
    that does not hold: a lying node), RpcError, RpcUnanswered, RpcAnswerError. Cancelled: no effect."""
    header = chain.at(height)
    where = {"chain": chain.source.name, "block": height, "utxo": str(point)}
    proof_hex, tx_hex = await rpc.batch([("gettxoutproof", [[point.txid.hex()], header.hash.hex()]),
                                         ("getrawtransaction", [point.txid.hex(), False, header.hash.hex()])])
    try:
        proof = parse(bytes.fromhex(proof_hex))
        tx = Transaction.parse(bytes.fromhex(tx_hex))
    except (PartialTreeError, TypeError, ValueError) as exc:
        raise VerificationError(f"the node's proof or transaction does not parse: {exc}", **where) from exc
    except Exception as exc:  # embit raises its own types for malformed transactions
        raise VerificationError(f"the node's transaction does not parse: {type(exc).__name__}", **where) from exc
    if proof.header != header.encoded[:80]:
        raise VerificationError("the node's proof is of another block than the verified one", **where)
    if proof.root[::-1] != header.commitment:
        raise VerificationError("the node's merkle branch does not lead to the verified merkle root", **where)
    if point.txid[::-1] not in proof.matches:
        raise VerificationError("the node's proof does not prove this transaction", **where)
    raw = stripped(tx)
    if sha256d(raw)[::-1] != point.txid:
        raise VerificationError("the node's transaction is not the proven one (its bytes hash to another id)",
                                **where)
    if point.vout >= len(tx.vout) or bytes(tx.vout[point.vout].script_pubkey.data) != script:
        raise VerificationError("the proven output does not pay the custody", **where)
    value = int(tx.vout[point.vout].value)
    if claimed is not None and claimed != value:
        raise VerificationError("the node claimed another value than the proven output's", claimed=claimed,
                                proven=value, **where)
    return ProvenUtxo(point, value, height, raw)


async def custody_utxos(rpc: LitecoinRpc, chain: HeaderChain, script: bytes) -> list[ProvenUtxo]:
    """The custody's outputs that are final, unspent (in the chain and the node's mempool) and proven
    (``prove``), in the node's order; syncs ``chain`` first. Raises like ``prove``. Cancelled: no effect."""
    await chain.sync()
    scan = await rpc.call("scantxoutset", "start", [f"raw({script.hex()})"])
    if not isinstance(scan, dict) or not isinstance(scan.get("unspents"), list):
        raise RpcAnswerError("scantxoutset answered no unspent outputs", chain=chain.source.name)
    found = []
    for item in scan["unspents"]:
        try:
            point, height = Outpoint(bytes.fromhex(item["txid"]), int(item["vout"])), int(item["height"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RpcAnswerError(f"scantxoutset answered a malformed output: {exc}", chain=chain.source.name) from exc
        if height > chain.final or height < chain.first:
            continue  # not final yet (or older than the verified chain): not spendable by a release
        if await rpc.call("gettxout", point.txid.hex(), point.vout, True) is None:
            continue  # spent by a transaction in the mempool
        found.append(await prove(rpc, chain, script, point, height, litoshis(item.get("amount"))))
    return found



async def locate(rpc: LitecoinRpc, chain: HeaderChain, script: bytes, point: Outpoint) -> ProvenUtxo:
    """Output ``point``, unspent in the chain (a transaction of the mempool may spend it: the release being
    replaced), found through ``gettxout`` and proven (``prove``). Raises InputGone (spent in the chain
    or unknown to the node), and like ``prove``. Cancelled: no effect."""
    info = await rpc.call("gettxout", point.txid.hex(), point.vout, False)
    if info is None:
        raise InputGone(f"output {point} is spent in the chain or unknown to the node", chain=chain.source.name)
    try:
        best = await rpc.call("getblockheader", info["bestblock"], True)
        height = int(best["height"]) - int(info["confirmations"]) + 1
    except (KeyError, TypeError, ValueError) as exc:
        raise RpcAnswerError(f"gettxout answered a malformed output: {exc}", chain=chain.source.name) from exc
    return await prove(rpc, chain, script, point, height, litoshis(info.get("value")))


class InputGone(VerificationError):
    """A custody output a spend was built on is no longer unspent in the chain."""


__all__ = ["COIN", "InputGone", "Outpoint", "ProvenUtxo", "custody_utxos", "litoshis", "locate", "prove"]
