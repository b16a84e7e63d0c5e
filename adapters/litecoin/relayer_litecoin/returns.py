"""Returning a refused deposit: a payment to the custody that carries no valid deposit payload is not
relayed (``deposit.refused``, which names its transaction and block); its coins stay in custody until the
operators return them to an address one of them names (the payer's, agreed off-chain). A return is a
custody spend like a release (:mod:`release`): its marker is of kind ``return`` with the deposit's txid as
id, so it is made once only; its inputs are all the deposit's custody outputs; the address gets their sum
less the fee.

The deposit is proven (each custody output against the header the light client verified at its block)
and read with the source's own rules (:func:`relayer_litecoin.deposits.scan`): a valid deposit is refused
here, because it is relayed (minted on the destination) and cannot also be returned."""

from __future__ import annotations

from embit.transaction import Transaction

from relayer.errors import VerificationError
from relayer_litecoin.custody import Custody
from relayer_litecoin.deposits import scan
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.network import Network
from relayer_litecoin.operator import Authorize
from relayer_litecoin.release import Release, ReleaseError, ReleaseRequest, build
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.utxo import Outpoint, ProvenUtxo, prove


def refused_outputs(tx: Transaction, custody: Custody) -> list[int]:
    """The custody outputs of ``tx`` when it is a refused deposit. Raises ReleaseError when it is a valid
    deposit or pays the custody nothing."""
    deposits, refused = scan((tx,), custody.script_pubkey)
    if deposits:
        raise ReleaseError("the transaction is a valid deposit: it is relayed, not returned", tx=tx.txid().hex())
    if not refused:
        raise ReleaseError("the transaction pays nothing to the custody", tx=tx.txid().hex())
    return [i for i, out in enumerate(tx.vout) if bytes(out.script_pubkey.data) == custody.script_pubkey]


async def refused_deposit(rpc: LitecoinRpc, chain: HeaderChain, custody: Custody, txid: bytes,
                          height: int) -> list[ProvenUtxo]:
    """The proven custody outputs of the refused deposit ``txid`` (display order) in the final block at
    ``height``, every one unspent in the chain. Raises ReleaseError (a valid deposit, an output spent already),
    VerificationError (a lying node, a block not final), RpcError. Cancelled: no effect."""
    await chain.sync()
    header = chain.at(height)
    raw = await rpc.call("getrawtransaction", txid.hex(), False, header.hash.hex())
    try:
        tx = Transaction.parse(bytes.fromhex(raw))
    except Exception as exc:  # embit raises its own types for malformed bytes
        raise VerificationError("the node's transaction does not parse", tx=txid.hex()) from exc
    utxos = []
    for vout in refused_outputs(tx, custody):
        if await rpc.call("gettxout", txid.hex(), vout, False) is None:
            raise ReleaseError("a custody output of the deposit is spent already (returned?)", tx=txid.hex(),
                               vout=vout)
        utxos.append(await prove(rpc, chain, custody.script_pubkey, Outpoint(txid, vout), height))
    return utxos


def return_request(txid: bytes, utxos: list[ProvenUtxo], address: str) -> ReleaseRequest:
    """The request returning all of ``utxos`` (a refused deposit's) to ``address``."""
    return ReleaseRequest(Marker(Kind.RETURN, txid), address, sum(u.value for u in utxos))


def build_return(utxos: list[ProvenUtxo], address: str, custody: Custody, net: Network, fee_rate: int) -> Release:
    """The return of the refused deposit whose outputs are ``utxos`` (unsigned; ``Release.psbt`` gives the
    PSBT the operators sign). Raises ReleaseError, AddressError."""
    return build(return_request(utxos[0].outpoint.txid, utxos, address), utxos, custody, net, fee_rate)


def authorize_return(custody: Custody) -> Authorize:
    """An operator's check of a return request: the inputs are every custody output of one refused deposit
    (proven), whose txid the marker names, and the amount is their sum. Raises ReleaseError otherwise."""
    async def check(request: ReleaseRequest, inputs: list[ProvenUtxo]) -> None:
        marker = str(request.marker)
        if request.marker.kind is not Kind.RETURN or not inputs:
            raise ReleaseError("not a return of a deposit", marker=marker)
        tx = Transaction.parse(inputs[0].tx)
        wanted = {Outpoint(request.marker.id, i) for i in refused_outputs(tx, custody)}
        if bytes(tx.txid()) != request.marker.id or {u.outpoint for u in inputs} != wanted:
            raise ReleaseError("a return spends every custody output of its deposit and nothing else", marker=marker)
        if sum(u.value for u in inputs) != request.amount:
            raise ReleaseError("the return's amount is not the refused deposit's", marker=marker)
    return check


__all__ = ["authorize_return", "build_return", "refused_deposit", "refused_outputs", "return_request"]
