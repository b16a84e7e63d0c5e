"""Evidence bundles of EVM message-layer messages (``relayer.bundles`` entry point ``evm``).

``export`` reads, through the chains' RPC, what the operator's store does not keep: the block's
receipts (to build the Merkle-Patricia proof of the message's receipt), the committee the
destination's ``CommitteeLightClient`` trusts (epoch, members, threshold, its address in the EIP-712
domain) with M of its members' signatures of the header (this operator's own from its store, the
others' from their attestation APIs, ``committee.members[].api``), and the destination transaction's
receipt with the destination MessageLayer's ``MessageProcessed`` log. ``verify`` checks them again with no network:

1. the header's hash recomputed from its RLP encoding equals the message's block hash;
2. every signature recovers, over the EIP-712 ``Header`` digest of that hash and its receiptsRoot, to a
   distinct member of the trust anchor, and there are at least ``threshold`` of them;
3. the receipt proof walks from that receiptsRoot to the receipt;
4. the receipt holds, at the locator's log index, the source MessageLayer's ``MessageSent`` log whose
   envelope is the message's body, whose indexed id is the message id and the id of that envelope
   (source chain, source layer, nonce), and whose envelope goes to the destination chain;
5. the destination receipt, proven under the receiptsRoot of its block's header (whose hash is the
   receipt's block hash; nothing in the bundle anchors that hash, an auditor compares it with the
   destination chain), succeeded and holds the destination MessageLayer's ``MessageProcessed`` log
   naming that message id (its outcome: delivered, failed or expired).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eth_abi
import httpx
import rlp
from eth_utils import to_checksum_address

from adapters.evm.committee import committee_domain_separator, contract_signer, header_digest
from adapters.evm.messaging import (
    MESSAGE_PROCESSED_TOPIC,
    MESSAGE_SENT_TOPIC,
    OUTCOME_DELIVERED,
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    address_word,
    decode_envelope,
)
from adapters.evm.proof import ReceiptProof, build_receipt_proof, verify_receipt_proof
from adapters.evm.source import decode_locator, message_id
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.header import decode_header, header_from_rpc
from light_clients.evm.receipts import receipt_key
from relayer.errors import ContractRevert, FatalError, ProofError, VerificationError

OUTCOME_NAMES = {OUTCOME_DELIVERED: "delivered", OUTCOME_FAILED: "failed", OUTCOME_EXPIRED: "expired"}


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _bytes(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise VerificationError(f"malformed bundle: {what} is not 0x-hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError as exc:
        raise VerificationError(f"malformed bundle: {what} is not 0x-hex") from exc


# --------------------------------------------------------------------------- export


class EvmBundles:
    """The EVM family's ``relayer.contract.BundleFamily``."""

    def export(self, config: Any, message: Any, header: Any, attestations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """See ``relayer.contract.BundleFamily.export``. Raises FatalError (not yet delivered, fewer
        than M signatures available, receipts disagreeing with the header), RpcError."""
        src, dst = config.chains[message.src_chain], config.chains[message.dst_chain]
        src_layer, dst_layer = src.family.message_layer, dst.family.message_layer
        _, tx_index, log_index = decode_locator(message.locator)
        with SyncEvm(src.rpc[0]) as source, SyncEvm(dst.rpc[0]) as destination:
            delivered = _delivery(destination, dst_layer, message)
            encoded = bytes.fromhex(header.encoded[2:]) if header is not None and header.encoded else b""
            if not encoded:
                encoded = header_from_rpc(source.rpc("eth_getBlockByNumber", hex(message.block_number), False)).rlp
            decoded = decode_header(encoded)
            if _hex(decoded.hash) != message.block_hash.lower():
                raise FatalError("the source header is not the block the message was found in",
                                 block=message.block_number)
            receipts = source.rpc("eth_getBlockReceipts", hex(message.block_number))
            proof = build_receipt_proof(receipts, tx_index)
            verify_receipt_proof(decoded.receipts_root, proof)
            light_client = to_checksum_address(destination.call(dst_layer, "MessageLayer", "remoteOf",
                                                                src.chain_id)[1])
            try:
                epoch = int(destination.call(light_client, "CommitteeLightClient", "epoch"))
                members = [to_checksum_address(a) for a in destination.call(light_client, "CommitteeLightClient",
                                                                             "getMembers")]
                threshold = int(destination.call(light_client, "CommitteeLightClient", "threshold"))
            except ContractRevert as exc:
                raise FatalError(f"the light client of {message.src_chain} on {message.dst_chain} is no committee "
                                 f"client: only committee routes are bundled so far",
                                 light_client=light_client) from exc
        digest = header_digest(committee_domain_separator(dst.chain_id, light_client), src.chain_id,
                               message.block_number, decoded.hash, decoded.receipts_root, epoch)
        records = [a for a in attestations if a.get("epoch") == epoch]
        records += _peer_records(config, src.chain_id, dst.chain_id, message.block_number, epoch)
        signatures = _signatures(records, digest, members)
        if len(signatures) < threshold:
            raise FatalError(f"only {len(signatures)} of the {threshold} committee signatures of the header are "
                             f"available (this operator's store and its peers' APIs)", block=message.block_number,
                             epoch=epoch)
        chosen = sorted(signatures.items(), key=lambda kv: int(kv[0], 16))[:threshold]
        return {
            "source_layer": src_layer, "destination_layer": dst_layer,
            "header": {"number": message.block_number, "hash": message.block_hash, "encoded": _hex(encoded)},
            "acceptance": {"policy": "committee", "light_client": light_client, "domain_chain_id": dst.chain_id,
                           "epoch": epoch, "members": members, "threshold": threshold,
                           "signatures": [{"signer": s, "signature": _hex(sig)} for s, sig in chosen]},
            "receipt": {"tx_index": tx_index, "log_index": log_index, "encoded": _hex(proof.value),
                        "proof": [_hex(n) for n in proof.nodes]},
            "destination_receipt": delivered,
            "outcome": {"status": delivered["outcome"], "from": "MessageLayer.MessageProcessed",
                        "tx": delivered["transactionHash"]},
        }

    def verify(self, bundle: dict[str, Any], members: Sequence[str] | None,
               threshold: int | None) -> list[str]:
        """See ``relayer.contract.BundleFamily.verify``."""
        held: list[str] = []
        message, acceptance = bundle["message"], bundle["acceptance"]
        src_id, dst_id = int(bundle["source"]["chain_id"]), int(bundle["destination"]["chain_id"])
        encoded = _bytes(bundle["header"]["encoded"], "header.encoded")
        header = decode_header(encoded)
        if _hex(header.hash) != str(message["block_hash"]).lower() or header.number != int(message["block_number"]):
            raise VerificationError(f"header: its encoding hashes to {_hex(header.hash)} (block {header.number}), "
                                    f"not the message's block {message['block_hash']} ({message['block_number']})")
        held.append(f"header: block {header.number} hashes to {_hex(header.hash)}")
        held.append(self._acceptance(acceptance, src_id, dst_id, header.number, header.hash, header.receipts_root,
                                     members, threshold))
        receipt = bundle["receipt"]
        tx_index = int(receipt["tx_index"])
        value = _bytes(receipt["encoded"], "receipt.encoded")
        proof = ReceiptProof(key=receipt_key(tx_index), nodes=tuple(_bytes(n, "receipt.proof[]")
                                                                    for n in receipt["proof"]),
                             value=value, tx_index=tx_index)
        try:
            verify_receipt_proof(header.receipts_root, proof)
        except ProofError as exc:
            raise VerificationError(f"receipt proof: {exc}") from exc
        held.append(f"receipt {tx_index}: proven under receiptsRoot {_hex(header.receipts_root)}")
        held.append(_message_log(value, int(receipt["log_index"]), bundle, src_id, dst_id))
        held.append(_delivered(bundle, str(message["id"]).lower()))
        return held

    @staticmethod
    def _acceptance(acceptance: dict[str, Any], src_id: int, dst_id: int, number: int, block_hash: bytes,
                    receipts_root: bytes, members: Sequence[str] | None, threshold: int | None) -> str:
        if acceptance.get("policy") != "committee":
            raise VerificationError(f"acceptance: policy {acceptance.get('policy')!r} is not one this family checks")
        anchor = "command line" if members is not None else "bundle"
        trusted = {str(m).lower() for m in (members if members is not None else acceptance["members"])}
        need = int(threshold if threshold is not None else acceptance["threshold"])
        if need < 1:
            raise VerificationError(f"acceptance: threshold {need} of the {anchor} is below 1")
        if int(acceptance["domain_chain_id"]) != dst_id:
            raise VerificationError("acceptance: the EIP-712 domain names another chain than the destination")
        domain = committee_domain_separator(dst_id, str(acceptance["light_client"]))
        digest = header_digest(domain, src_id, number, block_hash, receipts_root, int(acceptance["epoch"]))
        seen: set[str] = set()
        for i, entry in enumerate(acceptance["signatures"]):
            signer = contract_signer(digest, _bytes(entry["signature"], f"acceptance.signatures[{i}]"))
            if signer is None:
                raise VerificationError(f"acceptance: signature {i} recovers to no signer")
            if signer.lower() not in trusted:
                raise VerificationError(f"acceptance: signature {i} is by {signer}, not a member of the "
                                        f"committee of the {anchor}")
            if signer.lower() in seen:
                raise VerificationError(f"acceptance: signature {i} repeats signer {signer}")
            seen.add(signer.lower())
        if len(seen) < need:
            raise VerificationError(f"acceptance: {len(seen)} member signatures, the {anchor}'s threshold is {need}")
        return (f"acceptance: {len(seen)} of {len(trusted)} members signed (threshold {need}, trust anchor from the "
                f"{anchor}), epoch {acceptance['epoch']}, light client {acceptance['light_client']} on chain {dst_id}")


def _message_log(value: bytes, log_index: int, bundle: dict[str, Any], src_id: int, dst_id: int) -> str:
    message = bundle["message"]
    _, logs = _receipt_fields(value, "receipt")
    try:
        address, topics, data = logs[log_index]
    except (IndexError, ValueError, TypeError) as exc:
        raise VerificationError(f"receipt: no log {log_index} in it") from exc
    src_layer = str(bundle["source_layer"])
    if _hex(address) != src_layer.lower():
        raise VerificationError(f"receipt: log {log_index} is emitted by {to_checksum_address(address)}, "
                                f"not the source message layer {src_layer}")
    if len(topics) != 2 or bytes(topics[0]) != MESSAGE_SENT_TOPIC:
        raise VerificationError(f"receipt: log {log_index} is no MessageSent event")
    try:
        (raw,) = eth_abi.decode(["bytes"], bytes(data))
        envelope = decode_envelope(raw)
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several unrelated types for bad data
        raise VerificationError(f"receipt: log {log_index} does not decode") from exc
    if envelope.source_chain != src_id or envelope.destination_chain != dst_id:
        raise VerificationError(f"receipt: the log is a message from chain {envelope.source_chain} to "
                                f"{envelope.destination_chain}, not {src_id}->{dst_id}")
    if bytes(envelope.source_layer) != address_word(src_layer):
        raise VerificationError("receipt: the envelope names another source layer than the one that emitted it")
    if _hex(raw) != str(message["body"]).lower():
        raise VerificationError("receipt: the log's envelope is not the message's body")
    mid = str(message["id"]).lower()
    if (envelope.nonce != int(message["nonce"]) or message_id(src_id, src_layer, envelope.nonce) != mid
            or _hex(topics[1]) != mid):
        raise VerificationError(f"receipt: the log's nonce {envelope.nonce} gives another message id than {mid}")
    kind = "acknowledgement" if envelope.kind else "message"
    return f"message: log {log_index} is the MessageSent of {kind} nonce {envelope.nonce}, id {mid}, body as bundled"


def _delivered(bundle: dict[str, Any], mid: str) -> str:
    """The destination receipt, proven under its block's receiptsRoot, succeeded and logs
    ``MessageProcessed(mid, outcome, result)`` by the destination layer."""
    d = bundle["destination_receipt"]
    header = decode_header(_bytes(d["header"], "destination_receipt.header"))
    if _hex(header.hash) != str(d["blockHash"]).lower():
        raise VerificationError(f"destination: the block header hashes to {_hex(header.hash)}, not {d['blockHash']}")
    tx_index = int(d["tx_index"])
    value = _bytes(d["encoded"], "destination_receipt.encoded")
    proof = ReceiptProof(key=receipt_key(tx_index), value=value, tx_index=tx_index,
                         nodes=tuple(_bytes(n, "destination_receipt.proof[]") for n in d["proof"]))
    try:
        verify_receipt_proof(header.receipts_root, proof)
    except ProofError as exc:
        raise VerificationError(f"destination: receipt proof: {exc}") from exc
    status, logs = _receipt_fields(value, "destination")
    if status != b"\x01":
        raise VerificationError(f"destination: the delivering transaction {d['transactionHash']} reverted")
    layer = bytes.fromhex(str(bundle["destination_layer"])[2:].lower())
    for address, topics, data in logs:
        if bytes(address) == layer and [bytes(t) for t in topics[:2]] == [MESSAGE_PROCESSED_TOPIC,
                                                                          _bytes(mid, "message.id")]:
            outcome = _outcome(bytes(data))
            return (f"destination: receipt {tx_index} of block {header.number} ({_hex(header.hash)}), proven under its "
                    f"receiptsRoot, logs MessageProcessed({mid}, {outcome}) by the destination message layer")
    raise VerificationError(f"destination: tx {d['transactionHash']} has no MessageProcessed log of {mid} "
                            f"by the destination message layer")


def _outcome(data: bytes) -> str:
    """The outcome name of a MessageProcessed log's data; raises VerificationError."""
    try:
        code, _ = eth_abi.decode(["uint8", "bytes"], data)
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several unrelated types for bad data
        raise VerificationError("destination: the MessageProcessed log does not decode") from exc
    return OUTCOME_NAMES.get(int(code), f"outcome {int(code)}")


def _receipt_fields(value: bytes, where: str) -> tuple[bytes, list[Any]]:
    """(status, logs) of a receipt's consensus encoding; raises VerificationError."""
    payload = value[1:] if value and value[0] < 0x80 else value  # typed receipt: type byte first
    try:
        fields = rlp.decode(payload)
        return bytes(fields[0]), list(fields[3])
    except (rlp.exceptions.RLPException, IndexError, ValueError, TypeError) as exc:
        raise VerificationError(f"{where}: the receipt does not decode") from exc


def _delivery(destination: SyncEvm, layer: str, message: Any) -> dict[str, Any]:
    """The receipt of the destination transaction that logged ``MessageProcessed(message id)``, with its
    block header, the receipt's proof and the outcome. Raises FatalError "not yet delivered"."""
    tx = message.delivered_tx
    receipt = destination.rpc("eth_getTransactionReceipt", tx) if tx else None
    processed = _processed_log(receipt, layer, message.id) if receipt else None
    if processed is None:
        logs = destination.rpc("eth_getLogs", {"address": layer, "fromBlock": "0x0", "toBlock": "latest",
                                               "topics": [_hex(MESSAGE_PROCESSED_TOPIC), message.id]})
        if not logs:
            raise FatalError(f"message {message.id} is not yet delivered (no MessageProcessed log on "
                             f"{message.dst_chain})")
        processed = logs[0]
        receipt = destination.rpc("eth_getTransactionReceipt", processed["transactionHash"])
    if not receipt:
        raise FatalError(f"the delivery of message {message.id} has no receipt on {message.dst_chain} (a reorg?)")
    block = receipt["blockNumber"]
    header = header_from_rpc(destination.rpc("eth_getBlockByNumber", block, False))
    tx_index = int(receipt["transactionIndex"], 16)
    proof = build_receipt_proof(destination.rpc("eth_getBlockReceipts", block), tx_index)
    verify_receipt_proof(header.receipts_root, proof)
    return {"transactionHash": receipt["transactionHash"], "blockNumber": int(block, 16),
            "blockHash": receipt["blockHash"], "tx_index": tx_index, "header": _hex(header.rlp),
            "encoded": _hex(proof.value), "proof": [_hex(n) for n in proof.nodes],
            "outcome": _outcome(bytes.fromhex(str(processed.get("data", "0x"))[2:]))}


def _processed_log(receipt: dict[str, Any], layer: str, mid: str) -> dict[str, Any] | None:
    for lg in receipt.get("logs") or []:
        if (str(lg.get("address", "")).lower() == layer.lower()
                and [str(t).lower() for t in lg.get("topics") or []][:2] == [_hex(MESSAGE_PROCESSED_TOPIC),
                                                                              mid.lower()]):
            return dict(lg)
    return None


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

__all__ = ["BUNDLES", "EvmBundles"]
