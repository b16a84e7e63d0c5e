"""Offline checks of an EVM message-layer evidence bundle (``relayer messages verify``).

Pure functions over the bundle's JSON, no network. Each returns the line that held or raises
VerificationError naming the part and the reason (``header: ...``, ``acceptance: ...``,
``receipt: ...``, ``destination: ...``). What they check, in order:

1. the source header's hash, recomputed from its RLP by the acceptance policy's rule (keccak of the
   RLP; for QBFT/IBFT 2.0 Besu's hash, which leaves out the seals), is the message's block hash;
2. its acceptance by the destination's light client: ``committee``: M signatures of the EIP-712
   ``Header`` digest by distinct members of the trust anchor; ``qbft``: the header lists exactly the
   anchor's validator set and a quorum (ceil(2n/3)) of distinct validators committed-sealed it;
3. the source receipt is proven under that header's receiptsRoot, and its log ``log_index`` is the
   source layer's ``MessageSent(id, envelope)`` with the bundled envelope, whose id, nonce, chains and
   layers are the message's;
4. the destination receipt is proven under the receiptsRoot of its block's header (which hashes to the
   receipt's block hash; a sealed BFT header must also carry a quorum of its own validators' seals),
   succeeded, and its log ``processed_log_index`` is the destination layer's ``MessageProcessed(id,
   outcome, result)`` as bundled; when ``ack_log_index`` is set, that log is the layer's kind-1
   ``MessageSent`` acknowledging the message with the same outcome and result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eth_abi
import rlp
from eth_utils import to_checksum_address

from adapters.evm.committee import committee_domain_separator, contract_signer, header_digest
from adapters.evm.messaging import (
    KIND_ACK,
    MESSAGE_PROCESSED_TOPIC,
    MESSAGE_SENT_TOPIC,
    Envelope,
    address_word,
    decode_ack_body,
    decode_envelope,
    message_id,
)
from adapters.evm.proof import ReceiptProof, verify_receipt_proof
from light_clients.bft import rules
from light_clients.bft.codec import IBFT2, QBFT, BftExtra, ExtraCodec, decode_extra
from light_clients.bft.common import recover_signer
from light_clients.evm.header import Header, decode_header
from light_clients.evm.receipts import receipt_key
from relayer.errors import ProofError, RelayerError, VerificationError

OUTCOMES = {1: "delivered", 2: "failed", 3: "expired"}
CODECS: dict[str, ExtraCodec] = {"qbft": QBFT, "ibft2": IBFT2}


def hexs(data: bytes) -> str:
    """0x-hex of ``data``."""
    return "0x" + bytes(data).hex()


def unhex(text: object, what: str) -> bytes:
    """The bytes of 0x-hex ``text``; raises VerificationError naming ``what``."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise VerificationError(f"malformed bundle: {what} is not 0x-hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError as exc:
        raise VerificationError(f"malformed bundle: {what} is not 0x-hex") from exc


def _header(encoded: bytes, where: str) -> Header:
    try:
        return decode_header(encoded)
    except RelayerError as exc:
        raise VerificationError(f"{where}: {exc.message}") from exc


def _bft_extra(codec: ExtraCodec, header: Header, where: str) -> BftExtra:
    try:
        return decode_extra(codec, header.extra_data)
    except RelayerError as exc:
        raise VerificationError(f"{where}: {exc.message}") from exc


# --------------------------------------------------------------------------- source header and acceptance


def source_header(bundle: dict[str, Any]) -> tuple[Header, str]:
    """The source header, after checking that it hashes (by the acceptance policy's rule) to the
    message's block hash and number; with the line that held."""
    message, acceptance = bundle["message"], bundle["acceptance"]
    header = _header(unhex(bundle["header"]["encoded"], "header.encoded"), "header")
    policy = acceptance.get("policy")
    if policy == "qbft":
        codec = _codec(acceptance)
        block_hash = rules.block_hash(codec, header, _bft_extra(codec, header, "header"))
        rule = f"Besu's {codec.name} block hash"
    else:
        block_hash, rule = header.hash, "keccak of its RLP"
    if hexs(block_hash) != str(message["block_hash"]).lower() or header.number != int(message["block_number"]):
        raise VerificationError(f"header: it hashes to {hexs(block_hash)} (block {header.number}, {rule}), not the "
                                f"message's block {message['block_hash']} ({message['block_number']})")
    return header, f"header: block {header.number} hashes to {hexs(block_hash)} ({rule})"


def _codec(acceptance: dict[str, Any]) -> ExtraCodec:
    flavour = acceptance.get("flavour")
    if flavour not in CODECS:
        raise VerificationError(f"acceptance: flavour {flavour!r} is neither qbft nor ibft2")
    return CODECS[str(flavour)]


def acceptance(bundle: dict[str, Any], header: Header, members: Sequence[str] | None, threshold: int | None,
               validators: Sequence[str] | None) -> str:
    """Check the evidence that the destination's light client accepted ``header`` against the trust
    anchor given (the bundle's own when None); the line that held."""
    part = bundle["acceptance"]
    policy = part.get("policy")
    if policy == "committee":
        if validators is not None:
            raise VerificationError("acceptance: the bundle's header is accepted by a committee: give --members "
                                    "and --threshold, not --validators")
        return _committee(part, bundle, header, members, threshold)
    if policy == "qbft":
        if members is not None:
            raise VerificationError("acceptance: the bundle's header is accepted by its validators' seals (qbft): "
                                    "give --validators, not --members")
        return _sealed(part, header, validators)
    raise VerificationError(f"acceptance: policy {policy!r} is not one this family checks")


def _committee(part: dict[str, Any], bundle: dict[str, Any], header: Header, members: Sequence[str] | None,
               threshold: int | None) -> str:
    src_id, dst_id = int(bundle["source"]["chain_id"]), int(bundle["destination"]["chain_id"])
    anchor = "command line" if members is not None else "bundle"
    trusted = {str(m).lower() for m in (members if members is not None else part["members"])}
    need = int(threshold if threshold is not None else part["threshold"])
    if need < 1:
        raise VerificationError(f"acceptance: threshold {need} of the {anchor} is below 1")
    if int(part["domain_chain_id"]) != dst_id:
        raise VerificationError("acceptance: the EIP-712 domain names another chain than the destination")
    domain = committee_domain_separator(dst_id, str(part["light_client"]))
    digest = header_digest(domain, src_id, header.number, _block_hash_of(bundle), header.receipts_root,
                           int(part["epoch"]))
    seen: set[str] = set()
    for i, entry in enumerate(part["signatures"]):
        signer = contract_signer(digest, unhex(entry["signature"], f"acceptance.signatures[{i}]"))
        _count(seen, trusted, None if signer is None else signer.lower(), f"signature {i}",
               f"committee of the {anchor}")
    if len(seen) < need:
        raise VerificationError(f"acceptance: {len(seen)} member signatures, the {anchor}'s threshold is {need}")
    return (f"acceptance: {len(seen)} of {len(trusted)} members signed (threshold {need}, trust anchor from the "
            f"{anchor}), epoch {part['epoch']}, light client {part['light_client']} on chain {dst_id}")


def _block_hash_of(bundle: dict[str, Any]) -> bytes:
    return unhex(bundle["message"]["block_hash"], "message.block_hash")


def _sealed(part: dict[str, Any], header: Header, validators: Sequence[str] | None) -> str:
    codec = _codec(part)
    extra = _bft_extra(codec, header, "acceptance")
    anchor = "command line" if validators is not None else "bundle"
    expected = sorted((str(v).lower() for v in (validators if validators is not None else part["validators"])),
                      key=lambda a: int(a, 16))
    listed = [hexs(v) for v in extra.validators]
    if listed != expected:
        raise VerificationError(f"acceptance: the header lists {len(listed)} validators that are not the "
                                f"{len(expected)} of the {anchor}'s set")
    seen: set[str] = set()
    digest = rules.commit_hash(codec, header, extra)
    for i, seal in enumerate(extra.seals):
        signer = recover_signer(digest, seal)
        _count(seen, set(expected), None if signer is None else hexs(signer), f"committed seal {i}",
               f"validator set of the {anchor}")
    need = rules.quorum(len(expected))
    if len(seen) < need:
        raise VerificationError(f"acceptance: {len(seen)} validators sealed the header, a quorum of "
                                f"{len(expected)} is {need}")
    return (f"acceptance: {len(seen)} of {len(expected)} validators committed-sealed the header (quorum {need}, "
            f"{codec.name}, trust anchor from the {anchor}), light client {part['light_client']}")


def _count(seen: set[str], trusted: set[str], signer: str | None, what: str, anchor: str) -> None:
    if signer is None:
        raise VerificationError(f"acceptance: {what} recovers to no signer")
    if signer not in trusted:
        raise VerificationError(f"acceptance: {what} is by {to_checksum_address(signer)}, not a member of the {anchor}")
    if signer in seen:
        raise VerificationError(f"acceptance: {what} repeats signer {to_checksum_address(signer)}")
    seen.add(signer)


# --------------------------------------------------------------------------- receipts and logs


def proven_receipt(part: dict[str, Any], root: bytes, where: str) -> bytes:
    """The receipt encoding of ``part`` (``tx_index``, ``encoded``, ``proof``), after walking its proof
    from ``root``."""
    tx_index = int(part["tx_index"])
    value = unhex(part["encoded"], f"{where}.encoded")
    proof = ReceiptProof(key=receipt_key(tx_index), value=value, tx_index=tx_index,
                         nodes=tuple(unhex(n, f"{where}.proof[]") for n in part["proof"]))
    try:
        verify_receipt_proof(root, proof)
    except ProofError as exc:
        raise VerificationError(f"{where}: receipt proof: {exc}") from exc
    return value


def receipt_fields(value: bytes, where: str) -> tuple[bytes, list[Any]]:
    """(status, logs) of a receipt's consensus encoding; raises VerificationError."""
    payload = value[1:] if value and value[0] < 0x80 else value  # typed receipt: type byte first
    try:
        fields = rlp.decode(payload)
        return bytes(fields[0]), list(fields[3])
    except (rlp.exceptions.RLPException, IndexError, ValueError, TypeError) as exc:
        raise VerificationError(f"{where}: the receipt does not decode") from exc


def _log(logs: list[Any], index: int, where: str) -> tuple[bytes, list[bytes], bytes]:
    try:
        address, topics, data = logs[index]
        return bytes(address), [bytes(t) for t in topics], bytes(data)
    except (IndexError, ValueError, TypeError) as exc:
        raise VerificationError(f"{where}: no log {index} in the receipt") from exc


def _abi(types: list[str], data: bytes, what: str) -> tuple[Any, ...]:
    try:
        return tuple(eth_abi.decode(types, data))
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several unrelated types for bad data
        raise VerificationError(f"{what} does not decode") from exc


def message_sent(value: bytes, bundle: dict[str, Any]) -> tuple[Envelope, str]:
    """The envelope of the source receipt's ``MessageSent`` at the bundled log index, after checking it
    against the message and the route; with the line that held."""
    message, receipt = bundle["message"], bundle["receipt"]
    src_id, dst_id = int(bundle["source"]["chain_id"]), int(bundle["destination"]["chain_id"])
    status, logs = receipt_fields(value, "receipt")
    if status != b"\x01":
        raise VerificationError("receipt: the sending transaction reverted")
    log_index = int(receipt["log_index"])
    _, tx_index, locator_log = _abi(["bytes32", "uint256", "uint256"], unhex(message["locator"], "message.locator"),
                                    "message.locator")
    if (tx_index, locator_log) != (int(receipt["tx_index"]), log_index):
        raise VerificationError(f"receipt: the message's locator names tx {tx_index} log {locator_log}, not the "
                                f"bundled receipt {receipt['tx_index']} log {log_index}")
    address, topics, data = _log(logs, log_index, "receipt")
    layer = str(bundle["source_layer"])
    if hexs(address) != layer.lower():
        raise VerificationError(f"receipt: log {log_index} is emitted by {to_checksum_address(address)}, not the "
                                f"source layer {layer}")
    mid = unhex(message["id"], "message.id")
    if topics[:2] != [MESSAGE_SENT_TOPIC, mid]:
        raise VerificationError(f"receipt: log {log_index} is no MessageSent of {message['id']}")
    (raw,) = _abi(["bytes"], data, "receipt: the MessageSent data")
    if hexs(raw) != str(message["body"]).lower():
        raise VerificationError("receipt: the MessageSent envelope is not the message's body")
    envelope = _envelope(raw, "receipt")
    route = (envelope.source_chain, envelope.source_layer, envelope.destination_chain, envelope.destination_layer)
    if route != (src_id, address_word(layer), dst_id, address_word(str(bundle["destination_layer"]))):
        raise VerificationError(f"receipt: the envelope goes from layer {_word(envelope.source_layer)} on chain "
                                f"{envelope.source_chain} to layer {_word(envelope.destination_layer)} on chain "
                                f"{envelope.destination_chain}, not between the bundled layers")
    if envelope.nonce != int(message["nonce"]) or message_id(src_id, address_word(layer), envelope.nonce) != mid:
        raise VerificationError(f"receipt: the envelope's nonce {envelope.nonce} gives another id than {message['id']}")
    kind = "acknowledgement" if envelope.kind == KIND_ACK else "message"
    return envelope, (f"message: log {log_index} of receipt {receipt['tx_index']} is the source layer's MessageSent of "
                      f"{kind} {message['id']} (nonce {envelope.nonce}), the envelope as bundled")


def _word(word: bytes) -> str:
    return to_checksum_address(word[12:]) if not any(word[:12]) else hexs(word)


def _envelope(raw: bytes, where: str) -> Envelope:
    try:
        return decode_envelope(raw)
    except ProofError as exc:
        raise VerificationError(f"{where}: the envelope does not decode") from exc


# --------------------------------------------------------------------------- destination


def destination_header(part: dict[str, Any]) -> tuple[Header, str]:
    """The destination block's header, after checking that it hashes to the receipt's block hash:
    keccak of its RLP, or Besu's hash of a sealed QBFT/IBFT 2.0 header whose own validators sealed it
    (a quorum). Nothing in the bundle anchors that hash or that set."""
    header = _header(unhex(part["header"], "destination_receipt.header"), "destination: header")
    want = str(part["blockHash"]).lower()
    if hexs(header.hash) == want:
        return header, f"block {header.number} ({want})"
    for codec in CODECS.values():
        try:
            extra = decode_extra(codec, header.extra_data)
        except RelayerError:
            continue
        if hexs(rules.block_hash(codec, header, extra)) == want:
            return header, _destination_seals(codec, header, extra, want)
    raise VerificationError(f"destination: the block header hashes to {hexs(header.hash)}, not {part['blockHash']}")


def _destination_seals(codec: ExtraCodec, header: Header, extra: BftExtra, want: str) -> str:
    listed = {hexs(v) for v in extra.validators}
    digest = rules.commit_hash(codec, header, extra)
    seen: set[str] = set()
    for i, seal in enumerate(extra.seals):
        signer = recover_signer(digest, seal)
        if signer is None or hexs(signer) not in listed or hexs(signer) in seen:
            raise VerificationError(f"destination: committed seal {i} of the block header is not by a distinct "
                                    f"validator it lists")
        seen.add(hexs(signer))
    if len(seen) < rules.quorum(len(listed)):
        raise VerificationError(f"destination: {len(seen)} of its {len(listed)} validators sealed the block header")
    return (f"block {header.number} ({want}, {codec.name}, sealed by {len(seen)} of the {len(listed)} validators "
            f"it lists)")


def processed(bundle: dict[str, Any], envelope: Envelope) -> str:
    """Check the destination receipt and its ``MessageProcessed`` (and acknowledgement) logs; the line
    that held, naming the outcome."""
    part, outcome = bundle["destination_receipt"], bundle["outcome"]
    header, block = destination_header(part)
    value = proven_receipt(part, header.receipts_root, "destination")
    status, logs = receipt_fields(value, "destination")
    if status != b"\x01":
        raise VerificationError(f"destination: the transaction {part['transactionHash']} reverted")
    layer = str(bundle["destination_layer"])
    index = int(part["processed_log_index"])
    address, topics, data = _log(logs, index, "destination")
    mid = unhex(bundle["message"]["id"], "message.id")
    if address != bytes.fromhex(layer[2:]) or topics[:2] != [MESSAGE_PROCESSED_TOPIC, mid]:
        raise VerificationError(f"destination: log {index} is no MessageProcessed of {bundle['message']['id']} by the "
                                f"destination layer {layer}")
    code, result = _abi(["uint8", "bytes"], data, "destination: the MessageProcessed data")
    name = OUTCOMES.get(int(code))
    if name is None or name != outcome["status"] or hexs(result) != str(outcome["result"]).lower():
        raise VerificationError(f"destination: MessageProcessed says outcome {code} result {hexs(result)}, not the "
                                f"bundled {outcome['status']} {outcome['result']}")
    line = (f"destination: receipt {part['tx_index']} of {block}, proven under its receiptsRoot, logs "
            f"MessageProcessed({bundle['message']['id']}, {name}) by the destination layer")
    if part.get("ack_log_index") is not None:
        line += _acknowledgement(logs, int(part["ack_log_index"]), bundle, envelope, int(code), result)
    elif outcome.get("acknowledgement"):
        raise VerificationError("destination: the bundle names an acknowledgement but no log of it")
    return line


def _acknowledgement(logs: list[Any], index: int, bundle: dict[str, Any], envelope: Envelope, code: int,
                     result: bytes) -> str:
    layer = str(bundle["destination_layer"])
    address, topics, data = _log(logs, index, "destination")
    if address != bytes.fromhex(layer[2:]) or topics[:1] != [MESSAGE_SENT_TOPIC]:
        raise VerificationError(f"destination: log {index} is no MessageSent of the destination layer {layer}")
    (raw,) = _abi(["bytes"], data, "destination: the acknowledgement's MessageSent data")
    ack = _envelope(raw, "destination: acknowledgement")
    try:
        acked, ack_outcome, ack_result = decode_ack_body(ack.body)
    except ProofError as exc:
        raise VerificationError("destination: the acknowledgement's body does not decode") from exc
    mid = unhex(bundle["message"]["id"], "message.id")
    checks: list[tuple[bool, str]] = [
        (ack.kind == KIND_ACK, "is not of kind 1"),
        (topics[1:2] == [ack.id], "is logged under another id than its own"),
        ((acked, ack_outcome, ack_result) == (mid, code, result), "acknowledges another message or outcome"),
        ((ack.destination_chain, ack.destination_layer, ack.recipient)
         == (envelope.source_chain, envelope.source_layer, envelope.sender), "is not addressed to the sender"),
    ]
    for held, reason in checks:
        if not held:
            raise VerificationError(f"destination: the acknowledgement in log {index} {reason}")
    expected = bundle["outcome"].get("acknowledgement") or {}
    if str(expected.get("id", "")).lower() != hexs(ack.id):
        raise VerificationError(f"destination: the acknowledgement in log {index} is {hexs(ack.id)}, not the "
                                f"bundled {expected.get('id')}")
    return f", and acknowledges it to the sender with MessageSent({hexs(ack.id)}) (nonce {ack.nonce})"


__all__ = ["CODECS", "OUTCOMES", "acceptance", "destination_header", "hexs", "message_sent", "processed",
           "proven_receipt", "receipt_fields", "source_header", "unhex"]
