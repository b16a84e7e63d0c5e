"""Evidence bundles of EVM message-layer messages (``relayer.bundles`` entry point ``evm``).

``export`` reads, through the chains' RPC, what the operator's store does not keep: the source
block's receipts (to prove the receipt holding the message's ``MessageSent``), how the destination's
light client of the source (``MessageLayer.remoteOf``) accepted the block, and the destination
transaction whose receipt holds ``MessageProcessed(id, outcome, result)`` (the last one: a failed
message retried later is bundled with its final outcome) with the block header it is in and its
own receipt proof. Two acceptance policies, told apart by asking the light client:

- ``committee`` (``CommitteeLightClient``): epoch, members, threshold, the EIP-712 domain, and M of
  the members' signatures of the header (this operator's own from its store, the others' from their
  attestation APIs, ``committee.members[].api``);
- ``qbft`` (``QbftLightClient``, flavour ``qbft`` or ``ibft2``): the committed seals are in the
  header's extraData; the bundle names the validator set the header lists, which ``export`` checks
  against the client's epoch holding that block.

``verify`` is ``adapters.evm.bundle_check``, with no network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
import httpx
import rlp
from eth_utils import keccak, to_checksum_address

from adapters.evm import bundle_check as check
from adapters.evm.committee import committee_domain_separator, contract_signer, header_digest
from adapters.evm.messaging import (
    KIND_ACK,
    MESSAGE_PROCESSED_TOPIC,
    MESSAGE_SENT_TOPIC,
    address_word,
    decode_ack_body,
    decode_envelope,
)
from adapters.evm.proof import build_receipt_proof, verify_receipt_proof
from adapters.evm.sync_client import SyncEvm
from light_clients.bft import rules
from light_clients.bft.codec import decode_extra
from light_clients.evm.header import Header, decode_header, header_from_rpc
from relayer.errors import ContractRevert, FatalError, RelayerError

hexs = check.hexs
FLAVOURS = {0: "qbft", 1: "ibft2"}

#: (epoch) -> attestation records ({"signature": "0x..."} at least) of the block, from anywhere.
Attestations = Callable[[int], Sequence[dict[str, Any]]]


@dataclass(frozen=True)
class Delivery:
    """Which message to bundle and where: the route's chain ids and layers, the message's id, block
    and locator, and (a hint) the destination transaction the operator recorded."""

    src_id: int
    dst_id: int
    src_layer: str
    dst_layer: str
    message_id: str
    block_number: int
    block_hash: str
    locator: bytes
    delivered_tx: str | None = None


class EvmBundles:
    """The EVM family's ``relayer.contract.BundleFamily``."""

    def export(self, config: Any, message: Any, header: Any, attestations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """See ``relayer.contract.BundleFamily.export``. Raises FatalError (not yet processed, fewer
        than M signatures available, a light client that did not accept the block), RpcError."""
        src, dst = config.chains[message.src_chain], config.chains[message.dst_chain]
        delivery = Delivery(src.chain_id, dst.chain_id, src.family.message_layer, dst.family.message_layer,
                            message.id, message.block_number, message.block_hash, message.locator,
                            message.delivered_tx)
        encoded = bytes.fromhex(header.encoded[2:]) if header is not None and header.encoded else b""

        def records(epoch: int) -> list[dict[str, Any]]:
            own = [a for a in attestations if a.get("epoch") == epoch]
            return own + _peer_records(config, src.chain_id, dst.chain_id, message.block_number, epoch)

        with SyncEvm(src.rpc[0]) as source, SyncEvm(dst.rpc[0]) as destination:
            return build(source, destination, delivery, records, encoded)

    def verify(self, bundle: dict[str, Any], members: Sequence[str] | None, threshold: int | None,
               validators: Sequence[str] | None = None) -> list[str]:
        """See ``relayer.contract.BundleFamily.verify``."""
        header, held = check.source_header(bundle)
        lines = [held, check.acceptance(bundle, header, members, threshold, validators)]
        receipt = check.proven_receipt(bundle["receipt"], header.receipts_root, "receipt")
        lines.append(f"receipt {bundle['receipt']['tx_index']}: proven under receiptsRoot {hexs(header.receipts_root)}")
        envelope, held = check.message_sent(receipt, bundle)
        lines += [held, check.processed(bundle, envelope)]
        return lines


def build(source: SyncEvm, destination: SyncEvm, d: Delivery, attestations: Attestations,
          encoded: bytes = b"") -> dict[str, Any]:
    """The family part of the bundle of ``d`` (``encoded``: the verified source header as the operator
    stored it, read from the source when empty). Raises FatalError, RpcError."""
    processed = _processed(destination, d)
    if not encoded:
        encoded = header_from_rpc(source.rpc("eth_getBlockByNumber", hex(d.block_number), False)).rlp
    header = decode_header(encoded)
    _, tx_index, log_index = eth_abi.decode(["bytes32", "uint256", "uint256"], d.locator)
    proof = build_receipt_proof(source.rpc("eth_getBlockReceipts", hex(d.block_number)), tx_index)
    verify_receipt_proof(header.receipts_root, proof)
    light_client = _light_client(destination, d)
    if destination.call(light_client, "CommitteeLightClient", "receiptsRootOf", d.block_number) != header.receipts_root:
        raise FatalError(f"the light client {light_client} on chain {d.dst_id} has not accepted block "
                         f"{d.block_number} of chain {d.src_id} with this receipts root", block=d.block_number)
    policy = _policy(destination, light_client)
    if policy is None:
        part = _committee(destination, d, light_client, header, attestations)
    else:
        part = _sealed(destination, d, light_client, header, policy)
    return {
        "source_layer": to_checksum_address(d.src_layer), "destination_layer": to_checksum_address(d.dst_layer),
        "header": {"number": d.block_number, "hash": d.block_hash, "encoded": hexs(encoded)},
        "acceptance": part,
        "receipt": {"tx_index": tx_index, "log_index": log_index, "encoded": hexs(proof.value),
                    "proof": [hexs(n) for n in proof.nodes]},
        **processed,
    }


def _light_client(destination: SyncEvm, d: Delivery) -> str:
    remote = destination.call(d.dst_layer, "MessageLayer", "remoteOf", d.src_id)
    layer, light_client = bytes(remote[0]), str(remote[1])
    if layer != address_word(d.src_layer):
        raise FatalError(f"the destination layer {d.dst_layer} does not name {d.src_layer} as the layer of chain "
                         f"{d.src_id}", remote=hexs(layer))
    return to_checksum_address(light_client)


def _policy(destination: SyncEvm, light_client: str) -> str | None:
    """The flavour of a QbftLightClient (``qbft``/``ibft2``), None for a CommitteeLightClient. Raises
    FatalError for a client that is neither."""
    try:
        destination.call(light_client, "CommitteeLightClient", "epoch")
        return None
    except ContractRevert:
        pass
    try:
        return FLAVOURS[int(destination.call(light_client, "QbftLightClient", "flavour"))]
    except (ContractRevert, KeyError) as exc:
        raise FatalError(f"the light client {light_client} is neither a committee nor a QBFT client: only those "
                         f"routes are bundled", light_client=light_client) from exc


def _committee(destination: SyncEvm, d: Delivery, light_client: str, header: Header,
               attestations: Attestations) -> dict[str, Any]:
    epoch = int(destination.call(light_client, "CommitteeLightClient", "epoch"))
    members = [to_checksum_address(a) for a in destination.call(light_client, "CommitteeLightClient", "getMembers")]
    threshold = int(destination.call(light_client, "CommitteeLightClient", "threshold"))
    digest = header_digest(committee_domain_separator(d.dst_id, light_client), d.src_id, d.block_number,
                           bytes.fromhex(d.block_hash[2:]), header.receipts_root, epoch)
    signatures = _signatures(attestations(epoch), digest, members)
    if len(signatures) < threshold:
        raise FatalError(f"only {len(signatures)} of the {threshold} committee signatures of the header are "
                         f"available (this operator's store and its peers' APIs)", block=d.block_number, epoch=epoch)
    chosen = sorted(signatures.items(), key=lambda kv: int(kv[0], 16))[:threshold]
    return {"policy": "committee", "light_client": light_client, "domain_chain_id": d.dst_id, "epoch": epoch,
            "members": members, "threshold": threshold,
            "signatures": [{"signer": s, "signature": hexs(sig)} for s, sig in chosen]}


def _sealed(destination: SyncEvm, d: Delivery, light_client: str, header: Header, flavour: str) -> dict[str, Any]:
    """The QBFT acceptance part: the validator set the header lists, which must be the one the client
    holds for the epoch of that block (compared by the keccak of its RLP list, as the client keeps it)."""
    extra = decode_extra(check.CODECS[flavour], header.extra_data)
    listed = keccak(rlp.encode(list(extra.validators)))
    count = int(destination.call(light_client, "QbftLightClient", "epochCount"))
    epochs = [destination.call(light_client, "QbftLightClient", "epochAt", i) for i in range(count)]
    held = [bytes(h) for start, h in epochs if int(start) <= d.block_number]
    if not held or held[-1] != listed:
        raise FatalError(f"the validator set block {d.block_number} lists is not the one the light client "
                         f"{light_client} holds for it", block=d.block_number)
    validators = [to_checksum_address(v) for v in extra.validators]
    return {"policy": "qbft", "flavour": flavour, "light_client": light_client, "validators": validators,
            "quorum": rules.quorum(len(validators)), "seals": len(extra.seals)}


def _processed(destination: SyncEvm, d: Delivery) -> dict[str, Any]:
    """``destination_receipt`` and ``outcome``: the transaction whose receipt holds the last
    ``MessageProcessed`` of the message on the destination layer. Raises FatalError "not yet delivered"."""
    since = "0x0"
    if d.delivered_tx:
        hinted = destination.rpc("eth_getTransactionReceipt", d.delivered_tx)
        since = hinted["blockNumber"] if hinted else since
    query = {"address": to_checksum_address(d.dst_layer), "fromBlock": since, "toBlock": "latest",
             "topics": [hexs(MESSAGE_PROCESSED_TOPIC), d.message_id]}
    logs = destination.rpc("eth_getLogs", query)
    if not logs:
        raise FatalError(f"message {d.message_id} is not yet delivered (no MessageProcessed on chain {d.dst_id})")
    last = max(logs, key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))
    receipt = destination.rpc("eth_getTransactionReceipt", last["transactionHash"])
    block = receipt["blockNumber"]
    header = header_from_rpc(destination.rpc("eth_getBlockByNumber", block, False))
    tx_index = int(receipt["transactionIndex"], 16)
    proof = build_receipt_proof(destination.rpc("eth_getBlockReceipts", block), tx_index)
    verify_receipt_proof(header.receipts_root, proof)
    first = int(receipt["logs"][0]["logIndex"], 16)  # logIndex counts in the block; the bundle's in the receipt
    index = int(last["logIndex"], 16) - first
    outcome, result = eth_abi.decode(["uint8", "bytes"], bytes.fromhex(last["data"][2:]))
    ack_index, ack = _acknowledgement(receipt, d, first)
    return {
        "destination_receipt": {"transactionHash": receipt["transactionHash"], "blockNumber": int(block, 16),
                                "blockHash": receipt["blockHash"], "tx_index": tx_index, "header": hexs(header.rlp),
                                "encoded": hexs(proof.value), "proof": [hexs(n) for n in proof.nodes],
                                "processed_log_index": index, "ack_log_index": ack_index},
        "outcome": {"status": check.OUTCOMES.get(int(outcome), str(outcome)), "result": hexs(result),
                    "tx": receipt["transactionHash"], "acknowledgement": ack},
    }


def _acknowledgement(receipt: dict[str, Any], d: Delivery, first: int) -> tuple[int | None, dict[str, Any] | None]:
    """(log index in the receipt, {id}) of the destination layer's acknowledgement of the message in
    ``receipt``, or (None, None)."""
    for log in receipt.get("logs") or []:
        topics = [str(t).lower() for t in log.get("topics") or []]
        if str(log.get("address", "")).lower() != d.dst_layer.lower() or topics[:1] != [hexs(MESSAGE_SENT_TOPIC)]:
            continue
        (raw,) = eth_abi.decode(["bytes"], bytes.fromhex(log["data"][2:]))
        try:
            envelope = decode_envelope(raw)
            acked = decode_ack_body(envelope.body)[0] if envelope.kind == KIND_ACK else b""
        except RelayerError:
            continue
        if hexs(acked) == d.message_id.lower():
            return int(log["logIndex"], 16) - first, {"id": topics[1]}
    return None, None


def _peer_records(config: Any, src_id: int, dst_id: int, number: int, epoch: int) -> list[dict[str, Any]]:
    """The attestation records the other committee members serve (unreachable ones skipped)."""
    found = []
    for member in config.committee.members:
        try:
            reply = httpx.get(f"{member.api.rstrip('/')}/v1/attestations/{src_id}/{dst_id}/{number}",
                              params={"epoch": epoch}, timeout=3.0)
            record = reply.json() if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def _signatures(records: Sequence[dict[str, Any]], digest: bytes, members: Sequence[str]) -> dict[str, bytes]:
    """Member address -> its signature of ``digest`` among ``records`` (in the contract's form)."""
    trusted = {m.lower(): m for m in members}
    found: dict[str, bytes] = {}
    for record in records:
        try:
            signature = bytes.fromhex(str(record["signature"])[2:])
        except (KeyError, ValueError):
            continue
        signer = contract_signer(digest, signature)
        if signer is not None and signer.lower() in trusted:
            found[trusted[signer.lower()]] = signature
    return found


BUNDLES = EvmBundles()

__all__ = ["BUNDLES", "Attestations", "Delivery", "EvmBundles", "build"]
