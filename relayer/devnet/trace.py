"""One traceability record on the devnet: a batch recorded on one chain's ``TraceabilityRegistry``,
mirrored through the message layer to the other chain's, and its provable origin read back there.

The origin comes from the destination registry (``originOf``): the source chain, the source
registry, the producer, the source block and the index of the mirror transaction in it, which the
destination layer took from the receipt proof it verified; the source transaction is looked up by
that block and index. The mirror asks for an acknowledgement, so the source registry learns that
the destination accepted it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eth_utils import keccak

from adapters.evm.messaging import address_word, word_address
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.deploy import Report, same_address, stderr_report
from relayer.devnet.transfer import POLL_INTERVAL, sent_envelope

REGISTRY = "TraceabilityRegistry"
ZERO_ADDRESS = "0x" + "00" * 20
MIRROR_STATES = ("none", "sent", "accepted", "refused", "expired")
ACCEPTED = MIRROR_STATES.index("accepted")


def trace_batch(deployment: dict[str, Any], timeout: float, *, source: str = "alpha", destination: str = "beta",
                user_index: int = 0, report: Report = stderr_report) -> list[str]:
    """Record a fresh batch on ``source`` as devnet user ``user_index``, mirror it to ``destination``,
    wait until the destination registry holds it and the source registry has the acknowledgement,
    and report its origin as the destination shows it. Returns the problems found (empty: passed):
    the batch not arriving or not acknowledged within ``timeout`` seconds, or an origin that is not
    the mirror transaction.

    Raises ContractRevert when recording or mirroring reverts, RpcError when a node cannot be reached.
    """
    chains = deployment["chains"]
    src, dst = chains[source], chains[destination]
    user = deployment["users"][user_index]
    batch = keccak(text=f"devnet batch {time.time_ns()}")
    product, documents = keccak(text="green coffee, lot 42"), keccak(text="certificate of origin; bill of lading")
    with SyncEvm(src["rpc"]) as src_evm, SyncEvm(dst["rpc"]) as dst_evm:
        recorded = src_evm.transact(user["key"], src["traceability"], REGISTRY, "record", batch, product, documents)
        mirrored = src_evm.transact(user["key"], src["traceability"], REGISTRY, "mirror", batch, dst["chain_id"])
        envelope = sent_envelope(mirrored, src["message_layer"])
        message = "0x" + envelope.id.hex()
        report(f"traceability: batch 0x{batch.hex()} recorded on {source} by {user['address']} "
               f"(tx {recorded['transactionHash']}), mirrored to {destination} (tx {mirrored['transactionHash']}, "
               f"message {message})")
        deadline = time.monotonic() + timeout
        while _producer(dst_evm, dst, batch) == ZERO_ADDRESS:
            if time.monotonic() > deadline:
                return [f"batch 0x{batch.hex()} did not arrive in {destination}'s registry within {timeout:g} s "
                        f"(message {message})"]
            time.sleep(POLL_INTERVAL)
        origin = dst_evm.call(dst["traceability"], REGISTRY, "originOf", batch)
        chain_id, registry, producer, block, tx_index, origin_id = origin
        source_tx = src_evm.rpc("eth_getTransactionByBlockNumberAndIndex", hex(block), hex(tx_index))
        source_hash = str(source_tx["hash"]) if source_tx else "(none)"
        named = next((c["name"] for c in chains.values() if c["chain_id"] == chain_id), "unknown chain")
        report(f"  {destination}'s registry holds it; its provable origin: chain {named} ({chain_id}), registry "
               f"{word_address(bytes(registry))}, producer {producer}, block {block}, transaction #{tx_index} "
               f"= {source_hash}, message {'0x' + bytes(origin_id).hex()}")
        problems = _origin_problems(src, user["address"], mirrored, message, origin, source_hash)
        while (state := _mirror_state(src_evm, src, batch, dst["chain_id"])) != ACCEPTED:
            if time.monotonic() > deadline:
                return [*problems, f"the acknowledgement of the mirror did not reach {source} within {timeout:g} s "
                                   f"(mirror state: {MIRROR_STATES[state]})"]
            time.sleep(POLL_INTERVAL)
        report(f"  acknowledged on {source}: {destination} accepted the mirror")
        return problems


def _producer(evm: SyncEvm, chain: dict[str, Any], batch: bytes) -> str:
    return str(evm.call(chain["traceability"], REGISTRY, "originOf", batch)[2])


def _mirror_state(evm: SyncEvm, chain: dict[str, Any], batch: bytes, destination_id: int) -> int:
    return int(evm.call(chain["traceability"], REGISTRY, "mirrorState", batch, destination_id))


def _origin_problems(src: dict[str, Any], producer: str, mirrored: dict[str, Any], message: str,
                     origin: Sequence[Any], source_hash: str) -> list[str]:
    """What in the origin the destination shows differs from the mirror that was sent."""
    chain_id, registry, origin_producer, block, _, origin_id = origin
    want = {"source chain": (chain_id, src["chain_id"]),
            "source registry": (bytes(registry), address_word(src["traceability"])),
            "producer": (same_address(str(origin_producer), producer), True),
            "source block": (block, int(mirrored["blockNumber"], 16)),
            "source transaction": (source_hash.lower(), str(mirrored["transactionHash"]).lower()),
            "message id": ("0x" + bytes(origin_id).hex(), message)}
    return [f"the origin's {what} is {found!r}, expected {expected!r}"
            for what, (found, expected) in want.items() if found != expected]
