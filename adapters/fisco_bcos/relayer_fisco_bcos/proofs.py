"""Proofs that a transaction or receipt is in a verified FISCO BCOS 3.x block: its hash recomputed
from the object (``contents``) and its binary Merkle proof (``merkle``) walked to the header's
``txsRoot`` / ``receiptsRoot``. What the node claims (``hash``) is compared, never trusted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relayer.errors import ProofError
from relayer_fisco_bcos.contents import ContentsFormatError, receipt_hash, transaction_hash
from relayer_fisco_bcos.hashing import Hasher
from relayer_fisco_bcos.merkle import MerkleProofError, merkle_root, verify_proof


def verify_receipt(receipt: Mapping[str, Any], receipts_root: bytes, hasher: Hasher) -> bytes:
    """The receipt's hash, once its ``txReceiptProof`` (or ``receiptProof``) leads to ``receipts_root``.
    Raises ProofError saying what failed."""
    return _verify("receipt", receipt, ("txReceiptProof", "receiptProof"), receipts_root, hasher)


def verify_transaction(transaction: Mapping[str, Any], txs_root: bytes, hasher: Hasher) -> bytes:
    """The transaction's hash, once its ``txProof`` (or ``transactionProof``) leads to ``txs_root``.
    Raises ProofError saying what failed."""
    return _verify("transaction", transaction, ("txProof", "transactionProof"), txs_root, hasher)


def transactions_problem(block: Mapping[str, Any], txs_root: bytes, hasher: Hasher) -> str | None:
    """Why the ``transactions`` of a ``getBlockByNumber`` result (hashes, or objects whose hashes are
    recomputed) do not rebuild ``txs_root``; None when they do or the result carries none (a header
    only). Raises nothing."""
    items = block.get("transactions")
    if not items:
        return None
    if not isinstance(items, list):
        return "transactions is not a list"
    leaves = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            try:
                leaves.append(transaction_hash(item, hasher))
            except ContentsFormatError as exc:
                return f"transactions[{index}]: {exc}"
            continue
        try:
            leaf = bytes.fromhex(str(item).removeprefix("0x"))
        except ValueError:
            leaf = b""
        if len(leaf) != 32:
            return f"transactions[{index}] is not a 32-byte hash"
        leaves.append(leaf)
    if merkle_root(leaves, hasher) != txs_root:
        return f"its {len(leaves)} transactions do not rebuild txsRoot"
    return None


def _verify(what: str, item: Mapping[str, Any], proof_keys: Sequence[str], root: bytes, hasher: Hasher) -> bytes:
    try:
        leaf = receipt_hash(item, hasher) if what == "receipt" else transaction_hash(item, hasher)
    except ContentsFormatError as exc:
        raise ProofError(f"{what}: {exc}") from exc
    claimed = item.get("hash")
    if isinstance(claimed, str) and claimed.lower().removeprefix("0x") != leaf.hex():
        raise ProofError(f"{what}: its recomputed hash 0x{leaf.hex()} is not the claimed {claimed}")
    proof = next((item[key] for key in proof_keys if isinstance(item.get(key), list)), None)
    if proof is None:
        raise ProofError(f"{what}: no proof ({' or '.join(proof_keys)}); ask the node with the proof flag set")
    try:
        verify_proof(leaf, proof, root, hasher)
    except MerkleProofError as exc:
        raise ProofError(f"{what} proof: {exc}") from exc
    return leaf


__all__ = ["transactions_problem", "verify_receipt", "verify_transaction"]
