"""Calldata for the EVM-side FISCO BCOS contracts: receipt proofs for ``FiscoBcosReceiptVerifier`` and
sealed headers for ``FiscoBcosSealCheck`` (``adapters/evm/contracts/verifiers/``).

Input is the node's 3.x JSON as ``getTransactionReceipt(hash, true)`` and ``getBlockByNumber`` return
it (receipt with ``txReceiptProof``, header with ``signatureList``). Everything here is pure: it
builds bytes and mirrors the contracts' hashes (keccak256 chains only), so a caller can check a proof
before paying for a transaction.

    receipt proof = abi.encode(Receipt, bytes32[] merkleProof)
    message proof = abi.encode(Receipt, bytes32[] merkleProof, uint256 logIndex)
    header update = abi.encode(Header, Seal[])

Malformed input raises ``ProofError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import eth_abi
from eth_hash.auto import keccak

from relayer.errors import ProofError, VerificationError

LOG = "(bytes,bytes32[],bytes)"
RECEIPT = f"(int32,bytes,bytes,int32,bytes,bytes,{LOG}[],uint64)"
PARENT = "(int64,bytes32)"
HEADER = f"(int32,{PARENT}[],bytes32,bytes32,bytes32,int64,bytes,int64,int64,bytes[],bytes,int64[])"
SEAL = "(uint256,bytes)"
MESSAGE_SENT = keccak(b"MessageSent(bytes32,bytes)")
WIDTH = 2  # FISCO BCOS 3.x commits receipts and transactions with a binary Merkle tree


# ---------------------------------------------------------------------- field readers
def _field(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise ProofError(f"{what} has no {key!r}", field=key)
    return obj[key]


def _hex(value: Any, key: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{key} is not a hex string", field=key)
    try:
        out = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise ProofError(f"{key} is not valid hex", field=key) from None
    if size is not None and len(out) != size:
        raise ProofError(f"{key} is {len(out)} bytes, not {size}", field=key)
    return out


def _int(value: Any, key: str) -> int:
    try:
        return int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ProofError(f"{key} is not an integer", field=key) from None


def _ascii(value: Any, key: str) -> bytes:
    if isinstance(value, int):
        return str(value).encode()
    if not isinstance(value, str):
        raise ProofError(f"{key} is not a string", field=key)
    return value.encode()


def _address_string(value: Any, key: str) -> bytes:
    """An address as the node stores it in a receipt: lowercase hex without 0x ("" for none)."""
    if not isinstance(value, str):
        raise ProofError(f"{key} is not a string", field=key)
    return value.removeprefix("0x").lower().encode()


# ---------------------------------------------------------------------- receipts
def receipt_tuple(receipt: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``Receipt`` struct of the verifier for a 3.x receipt JSON. Raises ProofError."""
    what = "receipt"
    version = _int(_field(receipt, "version", what), "version")
    logs = []
    for i, log in enumerate(_field(receipt, "logEntries", what)):
        topics = [_hex(t, f"logEntries[{i}].topics", 32) for t in _field(log, "topics", f"log {i}")]
        logs.append((_address_string(_field(log, "address", f"log {i}"), f"logEntries[{i}].address"),
                     topics, _hex(_field(log, "data", f"log {i}"), f"logEntries[{i}].data")))
    price = _ascii(receipt.get("effectiveGasPrice", ""), "effectiveGasPrice") if version >= 1 else b""
    return (version,
            _ascii(_field(receipt, "gasUsed", what), "gasUsed"),
            _address_string(receipt.get("contractAddress", ""), "contractAddress"),
            _int(_field(receipt, "status", what), "status"),
            _hex(_field(receipt, "output", what), "output"),
            price, logs,
            _int(_field(receipt, "blockNumber", what), "blockNumber"))


def receipt_preimage(fields: tuple[Any, ...]) -> bytes:
    """The bytes the 3.x receipt hash covers, for a ``receipt_tuple``."""
    version, gas, contract, status, output, price, logs, number = fields
    out = bytes(version.to_bytes(4, "big", signed=True) + gas + contract)
    out += status.to_bytes(4, "big", signed=True) + output
    if version >= 1:
        out += price
    for address, topics, data in logs:
        out += address + b"".join(topics) + data
    return bytes(out + number.to_bytes(8, "big"))


def receipt_hash(receipt: Mapping[str, Any]) -> bytes:
    """The 3.x (keccak256) hash of a receipt JSON: the Merkle leaf the verifier recomputes."""
    return bytes(keccak(receipt_preimage(receipt_tuple(receipt))))


def second_readings(receipt: Mapping[str, Any], source_layers: Iterable[str]) -> list[tuple[str, int]]:
    """Where the receipt's hash preimage could be read back as a MessageSent log of a source layer
    that the receipt does not carry: (layer, byte offset) of every occurrence of
    ``hex(layer) ‖ topic0(MessageSent)`` that is not the start of one of its real MessageSent logs.

    The 3.x receipt hash has no field lengths, so output or log bytes a source-chain account chose
    can hash like a separate log; ``FiscoBcosReceiptVerifier.verifyMessage`` reads a log that begins
    with exactly this pattern (40 lowercase hex characters, then the topic) and takes its data length
    from the data itself. A block none of whose receipts has a second reading cannot prove a message
    it did not send: a committee member checks this before attesting a FISCO BCOS header for an EVM
    destination (``check_no_second_reading``)."""
    fields = receipt_tuple(receipt)
    preimage = receipt_preimage(fields)
    version, gas, contract, _, output, price, logs, _ = fields
    starts: dict[bytes, set[int]] = {}
    offset = 4 + len(gas) + len(contract) + 4 + len(output) + (len(price) if version >= 1 else 0)
    for address, topics, data in logs:
        if topics and topics[0] == MESSAGE_SENT:
            starts.setdefault(address, set()).add(offset)
        offset += len(address) + 32 * len(topics) + len(data)
    found = []
    for layer in source_layers:
        text = layer.removeprefix("0x").lower().encode()
        pattern = text + MESSAGE_SENT
        at = preimage.find(pattern)
        while at >= 0:
            if at not in starts.get(text, set()):
                found.append((layer, at))
            at = preimage.find(pattern, at + 1)
    return found


def check_no_second_reading(receipts: Iterable[Mapping[str, Any]], source_layers: Sequence[str]) -> None:
    """Raise VerificationError (naming the block, transaction and offset) when a receipt of the block
    has a second reading as a MessageSent of one of ``source_layers`` (see ``second_readings``)."""
    for receipt in receipts:
        for layer, at in second_readings(receipt, source_layers):
            raise VerificationError("receipt bytes read back as a MessageSent the receipt does not carry",
                                    block=receipt.get("blockNumber"), tx=receipt.get("transactionHash"),
                                    layer=layer, offset=at)


def merkle_proof(receipt: Mapping[str, Any]) -> list[bytes]:
    """The receipt's ``txReceiptProof`` as 32-byte words. Raises ProofError."""
    proof = receipt.get("txReceiptProof") or receipt.get("receiptProof")
    if not isinstance(proof, list) or not proof:
        raise ProofError("receipt has no txReceiptProof", field="txReceiptProof")
    return [_hex(item, f"txReceiptProof[{i}]", 32) for i, item in enumerate(proof)]


def encode_receipt_proof(receipt: Mapping[str, Any], proof: Sequence[bytes] | None = None) -> bytes:
    """``verifyReceipt`` / ``verifyReceiptLog`` proof; ``proof`` defaults to the receipt's own."""
    words = list(proof) if proof is not None else merkle_proof(receipt)
    return eth_abi.encode([RECEIPT, "bytes32[]"], [receipt_tuple(receipt), words])


def encode_message_proof(receipt: Mapping[str, Any], log_index: int, proof: Sequence[bytes] | None = None) -> bytes:
    """``verifyMessage`` proof of log ``log_index`` (a MessageSent of the source layer)."""
    words = list(proof) if proof is not None else merkle_proof(receipt)
    return eth_abi.encode([RECEIPT, "bytes32[]", "uint256"], [receipt_tuple(receipt), words, log_index])


# ---------------------------------------------------------------------- binary Merkle (3.x)
def _count_word(count: int) -> bytes:
    return count.to_bytes(4, "big") + bytes(28)


def merkle_root_and_proof(leaves: Sequence[bytes], index: int) -> tuple[bytes, list[bytes]]:
    """(root, proof of ``leaves[index]``) as a 3.x node builds them (bcos-crypto Merkle.h, width 2,
    keccak256). Raises ProofError for an empty list or an index out of range."""
    if not leaves or not 0 <= index < len(leaves):
        raise ProofError("no leaf at that index", index=index, leaves=len(leaves))
    if len(leaves) == 1:
        return bytes(leaves[0]), [bytes(leaves[0])]
    level = [bytes(leaf) for leaf in leaves]
    proof: list[bytes] = []
    while len(level) > 1:
        start = index - index % WIDTH
        group = level[start:start + WIDTH]
        proof += [_count_word(len(group)), *group]
        level = [keccak(b"".join(level[i:i + WIDTH])) for i in range(0, len(level), WIDTH)]
        index //= WIDTH
    return level[0], proof


def walk_proof(leaf: bytes, proof: Sequence[bytes]) -> tuple[bytes, int]:
    """(root, derived position) of ``leaf`` under ``proof``, as the contract computes them; raises
    ProofError where the contract reverts on the proof's shape."""
    if len(proof) == 1:
        if proof[0] != leaf:
            raise ProofError("single-leaf proof does not name the leaf")
        return leaf, 0
    node, index, i, level = leaf, 0, 0, 0
    while i < len(proof):
        word = int.from_bytes(proof[i], "big")
        count = word >> 224
        if word & ((1 << 224) - 1) or count not in (1, 2) or i + count >= len(proof):
            raise ProofError("malformed count word", at=i)
        group = list(proof[i + 1:i + 1 + count])
        if node not in group:
            raise ProofError("node not in its sibling group", level=level)
        index |= group.index(node) << level
        node = keccak(b"".join(group))
        i += 1 + count
        level += 1
    return node, index


# ---------------------------------------------------------------------- headers (direct seal check)
def header_tuple(header: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``Header`` struct of ``FiscoBcosSealCheck`` for a 3.x header JSON. Raises ProofError."""
    what = "header"
    parents = [(_int(_field(p, "blockNumber", "parentInfo"), "parentInfo.blockNumber"),
                _hex(_field(p, "blockHash", "parentInfo"), "parentInfo.blockHash", 32))
               for p in _field(header, "parentInfo", what)]
    return (_int(_field(header, "version", what), "version"), parents,
            _hex(_field(header, "txsRoot", what), "txsRoot", 32),
            _hex(_field(header, "receiptsRoot", what), "receiptsRoot", 32),
            _hex(_field(header, "stateRoot", what), "stateRoot", 32),
            _int(_field(header, "number", what), "number"),
            _ascii(_field(header, "gasUsed", what), "gasUsed"),
            _int(_field(header, "timestamp", what), "timestamp"),
            _int(_field(header, "sealer", what), "sealer"),
            [_hex(n, f"sealerList[{i}]", 64) for i, n in enumerate(_field(header, "sealerList", what))],
            _hex(header.get("extraData", "0x"), "extraData"),
            [_int(w, "consensusWeights") for w in _field(header, "consensusWeights", what)])


def header_hash(header: Mapping[str, Any]) -> bytes:
    """The 3.x (keccak256) block hash of a header JSON, as the contract recomputes it."""
    (version, parents, txs, receipts, state, number, gas, timestamp, sealer, sealers, extra,
     weights) = header_tuple(header)
    out = version.to_bytes(4, "big", signed=True)
    out += b"".join(n.to_bytes(8, "big", signed=True) + h for n, h in parents)
    out += txs + receipts + state + number.to_bytes(8, "big", signed=True) + gas
    out += timestamp.to_bytes(8, "big", signed=True) + sealer.to_bytes(8, "big", signed=True)
    out += b"".join(sealers) + extra + b"".join(w.to_bytes(8, "big", signed=True) for w in weights)
    return keccak(out)


def seals(header: Mapping[str, Any]) -> list[tuple[int, bytes]]:
    """The header's ``signatureList`` as ``Seal`` structs (sealerIndex, 65-byte r‖s‖v)."""
    return [(_int(_field(s, "sealerIndex", "signatureList"), "sealerIndex"),
             _hex(_field(s, "signature", "signatureList"), "signatureList.signature", 65))
            for s in _field(header, "signatureList", "header")]


def encode_header_update(header: Mapping[str, Any], chosen: Sequence[tuple[int, bytes]] | None = None) -> bytes:
    """``FiscoBcosSealCheck.submitUpdate`` payload; ``chosen`` seals default to all of the header's."""
    return eth_abi.encode([HEADER, f"{SEAL}[]"], [header_tuple(header), list(chosen) if chosen is not None
                                                   else seals(header)])
