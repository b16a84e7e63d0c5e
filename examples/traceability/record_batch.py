"""Record a production batch in a TraceabilityRegistry and mirror it to the registry of another chain.

    python examples/traceability/record_batch.py --rpc URL --registry ADDRESS --key-file FILE \\
        --batch ID --product NAME [--mirror-to CHAIN_ID] DOCUMENT...

The batch id is keccak256 of ``--batch``; the product is ``--product`` (at most 32 bytes); the
documents' digest is keccak256 over the keccak256 of each DOCUMENT file, in the order given. Prints
one JSON object: batch id, digest, the record and mirror transactions and the message id. A relayer
carries the message; on the destination ``originOf(batchId)`` then names where it came from.
Exit 2 for bad arguments or files, 1 when the chain refuses or cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import is_address, keccak

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.errors import RelayerError

REGISTRY = "TraceabilityRegistry"


def batch_id(text: str) -> bytes:
    """The 32-byte id of batch ``text``: keccak256 of its UTF-8 bytes."""
    return keccak(text=text)


def product_word(name: str) -> bytes:
    """``name`` as a right-padded bytes32. Raises ValueError when longer than 32 bytes."""
    raw = name.encode()
    if len(raw) > 32:
        raise ValueError(f"--product {name!r} is {len(raw)} bytes, at most 32")
    return raw.ljust(32, b"\x00")


def documents_digest(documents: Sequence[bytes]) -> bytes:
    """keccak256 over the keccak256 of each document, in order."""
    return keccak(b"".join(keccak(d) for d in documents))


def record_batch(evm: SyncEvm, registry: str, key: str, batch: bytes, product: bytes, digest: bytes,
                 mirror_to: int | None = None) -> dict[str, Any]:
    """Record the batch (and mirror it to ``mirror_to``); what happened, for printing.
    Raises ContractRevert when the registry refuses, RpcError when the node cannot be reached."""
    recorded = evm.transact(key, registry, REGISTRY, "record", batch, product, digest)
    out: dict[str, Any] = {"batch_id": "0x" + batch.hex(), "documents_digest": "0x" + digest.hex(),
                           "record_tx": recorded["transactionHash"]}
    if mirror_to is not None:
        mirrored = evm.transact(key, registry, REGISTRY, "mirror", batch, mirror_to)
        (sent,) = Contract.load(REGISTRY).logs_of(mirrored, registry, "MirrorSent")
        out.update(mirror_tx=mirrored["transactionHash"], mirror_chain=mirror_to,
                   message_id="0x" + bytes(sent["messageId"]).hex())
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Record a batch in a TraceabilityRegistry and mirror it.")
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the producer's chain")
    p.add_argument("--registry", required=True, help="address of the TraceabilityRegistry there")
    p.add_argument("--key-file", required=True, type=Path, help="file holding the producer's hex private key")
    p.add_argument("--batch", required=True, help="batch identifier (its keccak256 is the id)")
    p.add_argument("--product", required=True, help="product name or code, at most 32 bytes")
    p.add_argument("--mirror-to", type=int, help="chain id whose registry receives a mirror")
    p.add_argument("documents", nargs="+", type=Path, help="the batch's documents (certificates, test reports)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not is_address(args.registry):
            raise ValueError(f"--registry {args.registry!r} is not an address")
        key = args.key_file.read_text().strip()
        Account.from_key(key)  # ValueError when it is not a private key
        docs = [path.read_bytes() for path in args.documents]
        product = product_word(args.product)
    except (OSError, ValueError) as exc:
        print(f"record_batch: {exc}", file=sys.stderr)
        return 2
    try:
        with SyncEvm(args.rpc) as evm:
            out = record_batch(evm, args.registry, key, batch_id(args.batch), product, documents_digest(docs),
                               args.mirror_to)
    except RelayerError as exc:
        print(f"record_batch: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
